"""Run etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on loopback.

Every process is a child of the Python process that starts the cluster and
receives SIGKILL if that process dies (PR_SET_PDEATHSIG), so an interrupted
test run leaves no orphans behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from devcluster import build, pki, realnode, versions

_PR_SET_PDEATHSIG = 1
STAGES = Path(__file__).with_name("stages.yaml")
LOGS = Path(__file__).with_name("logs.yaml")
# Every fake pod "logs" these lines (kwok serves them as the kubelet would), in the CRI log format.
FAKE_LOG = "".join(
    f"2026-01-01T00:00:0{i}.000000000Z stdout F taskops fake pod: {word}\n"
    for i, word in enumerate(("started", "working", "done"))
)
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# One audit entry (metadata only, at ResponseComplete) per write request; reads and watches are not logged.
AUDIT_WRITES_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived", "ResponseStarted"],
    "rules": [
        {"level": "Metadata", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
        {"level": "None"},
    ],
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(name: str, args: list[str], logs: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a child process that logs to `logs/name.log` and dies with this process."""
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.log", "ab") as log:
        return subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 -- called before any thread starts, and only prctl
            env={**os.environ, **(env or {})},
        )


def stop_process(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Cluster:
    """A control plane rooted in `workdir` (PKI, etcd data, logs, kubeconfig)."""

    workdir: Path
    nodes: int = 2
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    apiserver_port: int = 0
    etcd_port: int = 0
    # Log every write (create/update/patch/delete) to `audit_log`, one JSON line each (the benchmarks count them).
    audit_writes: bool = False
    # Also run a real node (kubelet + containerd + runc, devcluster/realnode.py) beside the kwok nodes.
    real_node: bool = False
    node: realnode.RealNode | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    @property
    def audit_log(self) -> Path:
        return self.workdir / "audit.log"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        out = subprocess.run(
            [str(build.binary("kubectl")), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and out.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    # -- lifecycle -------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> None:
        build.ensure_built(quiet=True, real_node=self.real_node)
        self.workdir.mkdir(parents=True, exist_ok=True)
        pki.generate(self.workdir / "pki")
        self.etcd_port = free_port()
        self.apiserver_port = free_port()
        self._write_kubeconfig()
        deadline = time.monotonic() + timeout
        try:
            self._start_etcd()
            self._start_apiserver()
            self._wait_ready("/readyz", deadline)
            self._start_controllers()
            self._register_nodes()
            if self.real_node:
                self._start_real_node(deadline)
            self._wait_nodes_ready(deadline)
            self._wait_default_service_account("default", deadline)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.node is not None:
            self._stop_real_node()
        # Reverse start order: controllers first, etcd last.
        for name in reversed(list(self.procs)):
            stop_process(self.procs[name])
        self.procs.clear()

    def restart_apiserver(self) -> None:
        stop_process(self.procs.pop("kube-apiserver"))
        self._start_apiserver()
        self._wait_ready("/readyz", time.monotonic() + 60)

    def install_crds(self, path: Path, timeout: float = 60.0) -> None:
        """Apply the CRDs in `path` and wait until the API server serves them all."""
        self.kubectl("apply", "-f", str(path))
        names = self.kubectl("get", "-f", str(path), "-o", "name").split()
        deadline = time.monotonic() + timeout
        while True:
            # Right after the apply a CRD may have no status yet, and `kubectl wait` fails on that instead of waiting.
            out = subprocess.run(
                [str(build.binary("kubectl")), "--kubeconfig", str(self.kubeconfig), "wait",
                 "--for=condition=Established", "--timeout=10s", *names],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if out.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"CRDs not established: {out.stderr.strip()}")
            time.sleep(0.2)

    @contextlib.contextmanager
    def etcd_paused(self) -> Iterator[None]:
        """SIGSTOP etcd until the block ends: a storage stall (disk, GC pause) that no process can see coming."""
        etcd = self.procs["etcd"]
        os.kill(etcd.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(etcd.pid, signal.SIGCONT)

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"control-plane processes exited: {dead}; see {self.logs}")

    # -- components ------------------------------------------------------------

    def _start_etcd(self) -> None:
        peer = free_port()
        url = f"http://127.0.0.1:{self.etcd_port}"
        self.procs["etcd"] = spawn(
            "etcd",
            [
                str(build.binary("etcd")),
                "--name=default",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--listen-metrics-urls=",
                # A test cluster: losing the last writes on a power cut does not matter.
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            self.logs,
        )

    def _audit_args(self) -> list[str]:
        if not self.audit_writes:
            return []
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump(AUDIT_WRITES_POLICY))
        return [
            f"--audit-policy-file={policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
            "--audit-log-maxsize=0",
        ]

    def _start_apiserver(self) -> None:
        p = self.workdir / "pki"
        self.procs["kube-apiserver"] = spawn(
            "kube-apiserver",
            [
                str(build.binary("kube-apiserver")),
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.apiserver_port}",
                f"--tls-cert-file={p / 'apiserver.crt'}",
                f"--tls-private-key-file={p / 'apiserver.key'}",
                f"--client-ca-file={p / 'ca.crt'}",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                "--feature-gates=" + ",".join(f"{k}={str(v).lower()}" for k, v in versions.FEATURE_GATES.items()),
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                # Benchmarks push hundreds of writes per second through one client.
                "--max-requests-inflight=1000",
                "--max-mutating-requests-inflight=500",
                # Pod logs come from kwok's kubelet endpoint on 127.0.0.1, served with the apiserver's own cert.
                "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-certificate-authority={p / 'ca.crt'}",
                f"--kubelet-client-certificate={p / 'admin.crt'}",
                f"--kubelet-client-key={p / 'admin.key'}",
                "--v=1",
                *self._audit_args(),
            ],
            self.logs,
        )

    def _start_controllers(self) -> None:
        p = self.workdir / "pki"
        kc = str(self.kubeconfig)
        self.procs["kube-controller-manager"] = spawn(
            "kube-controller-manager",
            [
                str(build.binary("kube-controller-manager")),
                f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                f"--cert-dir={self.workdir / 'kcm-certs'}",
                f"--service-account-private-key-file={p / 'sa.key'}",
                f"--root-ca-file={p / 'ca.crt'}",
                f"--cluster-signing-cert-file={p / 'ca.crt'}",
                f"--cluster-signing-key-file={p / 'ca.key'}",
                "--controllers=*",
                "--leader-elect=false",
                "--use-service-account-credentials=false",
                # The defaults (20 QPS) would make the Job controller the bottleneck of every benchmark.
                "--kube-api-qps=500",
                "--kube-api-burst=1000",
                "--concurrent-job-syncs=20",
                "--concurrent-cron-job-syncs=20",
                "--concurrent-gc-syncs=40",
                "--v=1",
            ],
            self.logs,
        )
        self.procs["kube-scheduler"] = spawn(
            "kube-scheduler",
            [
                str(build.binary("kube-scheduler")),
                f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
                "--kube-api-qps=500",
                "--kube-api-burst=1000",
                "--v=1",
            ],
            self.logs,
        )
        log_file = self.workdir / "fake-pod.log"
        log_file.write_text(FAKE_LOG)
        logs_config = self.workdir / "kwok-logs.yaml"
        logs_config.write_text(LOGS.read_text().replace("{LOGS_FILE}", str(log_file)))
        kubelet_port = free_port()
        self.procs["kwok"] = spawn(
            "kwok",
            [
                str(build.binary("kwok")),
                f"--kubeconfig={kc}",
                f"--config={STAGES}",
                f"--config={logs_config}",
                f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
                f"--server-address=127.0.0.1:{kubelet_port}",
                f"--tls-cert-file={self.workdir / 'pki' / 'apiserver.crt'}",
                f"--tls-private-key-file={self.workdir / 'pki' / 'apiserver.key'}",
                "--cidr=10.244.0.0/16",
                "--node-ip=127.0.0.1",
                f"--node-port={kubelet_port}",
                # kwok renews each node's Lease, so the node lifecycle controller keeps the nodes Ready.
                "--node-lease-duration-seconds=40",
            ],
            self.logs,
        )

    def _start_real_node(self, deadline: float) -> None:
        self.node = realnode.RealNode(self.workdir / "realnode", self.workdir / "pki", self.server)
        self.node.write_config(free_port(), free_port())
        self.node.prepare_host()
        self.procs["svcproxy"] = spawn(
            "svcproxy",
            [sys.executable, "-m", "devcluster.svcproxy", self.server, str(self.workdir / "pki"), self.node.bridge],
            self.logs,
            env={"PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                os.environ.get("PYTHONPATH", "")])},
        )  # fmt: skip
        self._wait("the API server's Service address for pods", deadline, self._api_service_answers)
        self.procs["containerd"] = spawn("containerd", self.node.containerd_args(), self.logs)
        self.node.wait_containerd(deadline, self.check_alive)
        self.node.import_images()
        self.procs["kubelet"] = spawn("kubelet", self.node.kubelet_args(), self.logs)
        self._wait(f"node {realnode.NAME} registered", deadline, self._set_real_node_address)

    def _api_service_answers(self) -> bool:
        with socket.create_connection((realnode.API_SERVICE_IP, realnode.API_SERVICE_PORT), timeout=2):
            return True

    def _set_real_node_address(self) -> bool:
        """Give the real node its loopback address, which the kubelet itself refuses to report.

        The kubelet rejects a loopback --node-ip ("nodeIP can't be loopback address") and then reports
        no address at all, so the API server cannot reach it for logs ("no preferred addresses found").
        Its status updates patch only what its own setters changed, so an address set here stays."""
        out = subprocess.run(
            [str(build.binary("kubectl")), "--kubeconfig", str(self.kubeconfig), "patch", "node", realnode.NAME,
             "--subresource=status", "--type=merge", "-p", json.dumps({"status": {"addresses": realnode.ADDRESSES}})],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        return out.returncode == 0

    def _stop_real_node(self, timeout: float = 30.0) -> None:
        """Pods first (through the kubelet, which tears their sandboxes and networks down), then the
        kubelet, then containerd, then what they leave on the host (shims, mounts, bridge, cgroups)."""
        node = self.node
        assert node is not None
        kubelet = self.procs.pop("kubelet", None)
        containerd = self.procs.pop("containerd", None)
        proxy = self.procs.pop("svcproxy", None)
        try:
            if kubelet is not None and kubelet.poll() is None and containerd is not None:
                # No new pods may be bound to the node while its pods are being deleted.
                if "kube-scheduler" in self.procs:
                    stop_process(self.procs.pop("kube-scheduler"))
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    on_node = f"--field-selector=spec.nodeName={realnode.NAME}"
                    self.kubectl("delete", "pods", "--all-namespaces", on_node,
                                 "--force", "--grace-period=0", "--wait=false", check=False)  # fmt: skip
                    deadline = time.monotonic() + timeout
                    while time.monotonic() < deadline and node.ctr("tasks", "ls", "-q", timeout=10).split():
                        time.sleep(0.5)
            if kubelet is not None:
                stop_process(kubelet)
            if containerd is not None and containerd.poll() is None:
                node.drain_runtime()
                stop_process(containerd)
        finally:
            if proxy is not None:
                stop_process(proxy)
            node.cleanup_host()
            self.node = None

    def _register_nodes(self) -> None:
        docs = []
        for i in range(self.nodes):
            name = f"kwok-node-{i}"
            docs.append(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": name,
                        "annotations": {FAKE_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                        "labels": {
                            "kubernetes.io/hostname": name,
                            "kubernetes.io/os": "linux",
                            "kubernetes.io/arch": "amd64",
                            "type": "kwok",
                        },
                    },
                    "status": {
                        "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "2000"},
                        "capacity": {"cpu": "64", "memory": "256Gi", "pods": "2000"},
                    },
                }
            )
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))

    # -- readiness -------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        p = self.workdir / "pki"
        ctx = ssl.create_default_context(cafile=str(p / "ca.crt"))
        ctx.load_cert_chain(str(p / "admin.crt"), str(p / "admin.key"))
        return ctx

    def get(self, path: str) -> tuple[int, str]:
        req = urllib.request.Request(self.server + path)
        try:
            with urllib.request.urlopen(req, context=self._ssl_context(), timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def _wait(self, what: str, deadline: float, ok: object) -> None:
        last = ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if callable(ok) and ok():
                    return
            except (OSError, RuntimeError, ValueError) as e:
                last = str(e)
            time.sleep(0.2)
        raise TimeoutError(f"control plane: {what} not ready in time ({last}); logs in {self.logs}")

    def _wait_ready(self, path: str, deadline: float) -> None:
        self._wait(f"kube-apiserver {path}", deadline, lambda: self.get(path)[0] == 200)

    def _wait_nodes_ready(self, deadline: float) -> None:
        def ready() -> bool:
            nodes = json.loads(self.kubectl("get", "nodes", "-o", "json"))["items"]
            ok = [
                n
                for n in nodes
                if any(
                    c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", [])
                )
            ]
            return len(ok) >= self.nodes + (1 if self.real_node else 0)

        self._wait("nodes", deadline, ready)

    def _wait_default_service_account(self, namespace: str, deadline: float) -> None:
        self._wait(
            f"service account {namespace}/default",
            deadline,
            lambda: self.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/default")[0] == 200,
        )

    def wait_namespace_ready(self, namespace: str, timeout: float = 30.0) -> None:
        """Pods can be created in a new namespace only once its default ServiceAccount exists."""
        self._wait_default_service_account(namespace, time.monotonic() + timeout)

    # -- kubeconfig ------------------------------------------------------------

    def _write_kubeconfig(self) -> None:
        p = self.workdir / "pki"
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "taskops-dev", "cluster": {"server": self.server, "certificate-authority": str(p / "ca.crt")}}
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {"client-certificate": str(p / "admin.crt"), "client-key": str(p / "admin.key")},
                }
            ],
            "contexts": [{"name": "taskops-dev", "context": {"cluster": "taskops-dev", "user": "admin"}}],
            "current-context": "taskops-dev",
        }
        self.kubeconfig.write_text(yaml.safe_dump(cfg))


@contextlib.contextmanager
def running(workdir: Path, nodes: int = 2, real_node: bool = False) -> Iterator[Cluster]:
    cluster = Cluster(workdir=workdir, nodes=nodes, real_node=real_node)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
