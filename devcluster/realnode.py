"""A real node beside the kwok nodes: kubelet, containerd and runc running real containers.

Everything it writes lives under `<cluster workdir>/realnode` (containerd's root, state and
socket, the kubelet's root dir and pod logs, the CNI config and IP allocations), so it never
meets a containerd or kubelet the machine may already run. Pods get their own network namespace
on a bridge whose only host addresses are their gateway and the Services' ClusterIPs (served by
devcluster/svcproxy.py; the `kubernetes` one forwards to the API server on loopback): they reach
each other and the Services, nothing else, and the host forwards nothing for them.
docs/realnode.md says why and what is left shared with the host.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from devcluster import build, images, pki, versions

NAME = "taskops-real-node"
# Pods that want the real node select it by this label and tolerate this taint; nothing else lands there.
LABEL = ("type", "real")
TAINT_KEY = "taskops.dev/real-node"
TOLERATION = {"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
ADDRESSES = [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": NAME}]
# A range no other network of the machine uses (kwok's fake pod IPs are 10.244.0.0/16). The host's end
# of the bridge is GATEWAY: the kubelet's probes reach the pods through it, and the pods reach the
# Services' ClusterIPs (put on the bridge by devcluster/svcproxy.py, which serves them) through it.
POD_SUBNET = "10.245.0.0/24"
GATEWAY = "10.245.0.1"
GATEWAY_PREFIX = 24
# The API server's --service-cluster-ip-range, and the `kubernetes` Service's ClusterIP in it.
SERVICE_RANGE = "10.96.0.0/16"
API_SERVICE_IP = "10.96.0.1"
API_SERVICE_PORT = 443
CNI_BIN_DIR = Path("/usr/lib/cni")  # Debian's containernetworking-plugins
CONTAINERD = "/usr/bin/containerd"
CTR = "/usr/bin/ctr"
RUNC = "/usr/sbin/runc"
NAMESPACE = "k8s.io"  # containerd's namespace for CRI
# The kubelet sets these at start (container_manager_linux.go); they are put back when the node stops.
KERNEL_TUNABLES = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
REQUIRED = (CONTAINERD, CTR, RUNC, str(CNI_BIN_DIR / "bridge"), str(CNI_BIN_DIR / "loopback"), str(images.BUSYBOX))


def missing_tools() -> list[str]:
    return [p for p in REQUIRED if not Path(p).exists()]


@dataclass
class RealNode:
    """One kubelet + containerd pair, started after the control plane and stopped before it."""

    root: Path  # <cluster workdir>/realnode
    pki: Path
    server: str
    kubelet_port: int = 0
    _tunables: dict[str, str] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """Short and unique per cluster: names the bridge (15 chars at most) and the cgroup root."""
        return hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:8]

    @property
    def bridge(self) -> str:
        return f"tko{self.tag}"

    @property
    def cgroup_root(self) -> str:
        return f"/taskops-{self.tag}"

    @property
    def socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def kubelet_dir(self) -> Path:
        return self.root / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    # -- configuration -----------------------------------------------------------

    def write_config(self, kubelet_port: int, healthz_port: int) -> None:
        if os.geteuid() != 0:
            raise RuntimeError("the real node needs root (containerd, runc, network namespaces, cgroups, mounts)")
        missing = missing_tools()
        if missing:
            raise RuntimeError(f"the real node needs {', '.join(missing)}: run `make realnode-deps` (Debian packages)")
        self.kubelet_port = kubelet_port
        for d in ("containerd/root", "containerd/state", "cni/net.d", "cni/ipam", "kubelet", "pod-logs"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        pki.node_certs(self.pki, NAME)
        self._write_containerd_config()
        self._write_cni_config()
        self._write_kubelet_config(healthz_port)

    def _write_containerd_config(self) -> None:
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        c = self.root / "containerd"
        toml = f"""version = 2
root = "{c / "root"}"
state = "{c / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{c / "opt"}"

[{cri}]
  # Nothing is pulled: this image is imported from the cache when the node starts.
  sandbox_image = "{images.pause_image().name}"
  # This machine kind refuses to lower oom_score_adj; without this runc fails every sandbox
  # with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        BinaryName = "{RUNC}"
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{self.root / "cni" / "net.d"}"
    max_conf_num = 1
"""
        (c / "config.toml").write_text(toml)

    def _write_cni_config(self) -> None:
        conf = {
            "cniVersion": "0.4.0",
            "name": "taskops-realnode",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    # devcluster gives the bridge its addresses itself (prepare_host); no masquerade,
                    # and the host forwards nothing that arrives on it.
                    "isGateway": False,
                    "ipMasq": False,
                    "hairpinMode": False,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_SUBNET, "gateway": GATEWAY}]],
                        # The only route a pod has besides its subnet: to the Services' ClusterIPs.
                        "routes": [{"dst": SERVICE_RANGE, "gw": GATEWAY}],
                        "dataDir": str(self.root / "cni" / "ipam"),
                    },
                }
            ],
        }
        (self.root / "cni" / "net.d" / "10-taskops.conflist").write_text(json.dumps(conf, indent=2))

    def _write_kubelet_config(self, healthz_port: int) -> None:
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": "127.0.0.1",
            "port": self.kubelet_port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": healthz_port,
            "tlsCertFile": str(self.pki / "kubelet.crt"),
            "tlsPrivateKeyFile": str(self.pki / "kubelet.key"),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.pki / "ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": self.cgroup_root,
            "failSwapOn": False,
            "failCgroupV1": False,
            "podLogsDir": str(self.pod_logs),
            # The kubelet must not add iptables chains to the host.
            "makeIPTablesUtilChains": False,
            # A shared development machine's disk is often fuller than the defaults allow; never evict
            # or garbage-collect images (the imported ones cannot be pulled back).
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "registerWithTaints": [{"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}],
            "nodeStatusReportFrequency": "10s",
            "syncFrequency": "10s",
            "serializeImagePulls": False,
            "resolvConf": "",
            "featureGates": dict(versions.FEATURE_GATES),
        }
        (self.kubelet_dir / "config.yaml").write_text(yaml.safe_dump(config))
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "taskops-dev",
                    "cluster": {"server": self.server, "certificate-authority": str(self.pki / "ca.crt")},
                }
            ],
            "users": [
                {
                    "name": NAME,
                    "user": {
                        "client-certificate": str(self.pki / "node.crt"),
                        "client-key": str(self.pki / "node.key"),
                    },
                }
            ],
            "contexts": [{"name": "node", "context": {"cluster": "taskops-dev", "user": NAME}}],
            "current-context": "node",
        }
        (self.kubelet_dir / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))

    # -- processes ---------------------------------------------------------------

    def containerd_args(self) -> list[str]:
        return [CONTAINERD, "--config", str(self.root / "containerd" / "config.toml")]

    def kubelet_args(self) -> list[str]:
        return [
            str(build.binary("kubelet")),
            f"--config={self.kubelet_dir / 'config.yaml'}",
            f"--kubeconfig={self.kubelet_dir / 'kubeconfig'}",
            f"--root-dir={self.kubelet_dir / 'root'}",
            f"--hostname-override={NAME}",
            # The address the API server reaches the kubelet on (logs, exec): loopback.
            "--node-ip=127.0.0.1",
            f"--node-labels={LABEL[0]}={LABEL[1]}",
            "--v=1",
        ]

    def ctr(self, *args: str, timeout: float = 60.0) -> str:
        out = subprocess.run(
            [CTR, "--address", str(self.socket), "--namespace", NAMESPACE, *args],
            capture_output=True, text=True, check=False, timeout=timeout,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def wait_containerd(self, deadline: float, alive: Callable[[], None]) -> None:
        last = ""
        while time.monotonic() < deadline:
            alive()
            try:
                self.ctr("version", timeout=5)
                return
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                last = str(e)
            time.sleep(0.2)
        raise TimeoutError(f"containerd did not answer on {self.socket}: {last}")

    def import_images(self) -> None:
        for image in (images.pause_image(), images.busybox_image()):
            self.import_archive(images.archive(image))

    def import_archive(self, archive: Path) -> None:
        """An OCI or docker archive into the node's image store (what a registry pull would give the kubelet)."""
        self.ctr("images", "import", str(archive), timeout=600)

    def prepare_host(self) -> None:
        """The pods' bridge, the kubelet's cgroup root (it must exist in every hierarchy), and a note of the
        sysctls the kubelet changes."""
        # Made here rather than by the bridge plugin (which reuses it): IPv6 off (not even a link-local
        # address), forwarding off for whatever arrives on it, IPv4 addresses: the pods' gateway, and
        # the Services' ClusterIPs that svcproxy adds. A pod reaches those and other pods only.
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, check=False)
        for cmd in (
            ["ip", "link", "add", self.bridge, "type", "bridge"],
            ["sysctl", "-q", "-w", f"net.ipv6.conf.{self.bridge}.disable_ipv6=1"],
            ["sysctl", "-q", "-w", f"net.ipv4.conf.{self.bridge}.forwarding=0"],
            ["ip", "addr", "add", f"{GATEWAY}/{GATEWAY_PREFIX}", "dev", self.bridge],
            ["ip", "link", "set", self.bridge, "up"],
        ):
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)}: {out.stderr.strip()} (is another real node running?)")
        self._tunables = {}
        for t in KERNEL_TUNABLES:
            with contextlib.suppress(OSError):
                self._tunables[t] = (Path("/proc/sys") / t).read_text().strip()
        for hierarchy in _cgroup_hierarchies():
            d = hierarchy / self.cgroup_root.lstrip("/")
            d.mkdir(exist_ok=True)
            if (hierarchy / "cpuset.cpus").exists():
                # A new v1 cpuset is empty, and an empty cpuset admits no task.
                for f in ("cpuset.cpus", "cpuset.mems"):
                    (d / f).write_text((hierarchy / f).read_text())

    # -- teardown ----------------------------------------------------------------

    def drain_runtime(self, timeout: float = 30.0) -> None:
        """Kill and delete whatever containers are left once the kubelet has stopped, before containerd stops.

        The cluster first deletes the node's pods through the API so that the kubelet tears their
        sandboxes (and network namespaces) down itself; this catches what it did not finish."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            for line in self.ctr("tasks", "ls", "-q", timeout=10).split():
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    self.ctr("tasks", "kill", "--signal", "SIGKILL", line, timeout=10)
            while time.monotonic() < deadline:
                left = self.ctr("tasks", "ls", "-q", timeout=10).split()
                for task in left:
                    with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                        self.ctr("tasks", "delete", "--force", task, timeout=10)
                if not left:
                    break
                time.sleep(0.5)

    def cleanup_host(self) -> None:
        """After containerd stopped: shims, mounts, the bridge, cgroups and sysctls this node left behind."""
        _kill_shims(self.socket)
        _unmount_under(self.root)
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, check=False)
        for hierarchy in _cgroup_hierarchies():
            _remove_cgroup_tree(hierarchy / self.cgroup_root.lstrip("/"))
        for t, value in self._tunables.items():
            with contextlib.suppress(OSError):
                (Path("/proc/sys") / t).write_text(value)


def _cgroup_hierarchies() -> list[Path]:
    base = Path("/sys/fs/cgroup")
    if (base / "cgroup.controllers").exists():
        return [base]  # cgroup v2: one tree
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.is_symlink() and (p / "cgroup.procs").exists())


def _remove_cgroup_tree(root: Path) -> None:
    if not root.is_dir():
        return
    for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            d.rmdir()
    with contextlib.suppress(OSError):
        root.rmdir()


def _kill_shims(socket: Path) -> None:
    """containerd-shim-runc-v2 daemonizes (it outlives containerd by design); end the ones of this node."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline and cmdline[0].endswith(b"containerd-shim-runc-v2") and str(socket).encode() in cmdline:
            with contextlib.suppress(OSError):
                subprocess.run(["kill", "-KILL", proc.name], capture_output=True, check=False)


def _unmount_under(root: Path) -> None:
    """Container root filesystems and pod volumes (tmpfs) are mounted under the node's dirs."""
    prefix = str(root.resolve()) + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix):
            points.append(point)
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)


def remove_tree(root: Path) -> None:
    _unmount_under(root)
    shutil.rmtree(root, ignore_errors=True)
