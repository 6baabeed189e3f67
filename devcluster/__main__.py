"""`python -m devcluster up|down|status|build`: the local cluster behind `make up` / `make down`.

`up` starts a supervisor in the background that runs the control plane, the
operator, and the example Task; `down` stops the supervisor, which stops
everything it started (its children die with it even if it is killed).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from devcluster import build, images, realnode, taskops_image
from devcluster.cluster import Cluster, free_port, spawn, stop_process

REPO = Path(__file__).resolve().parents[1]
STATE = REPO / ".devcluster"


def _pid() -> int | None:
    try:
        pid = int((STATE / "supervisor.pid").read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def serve(real_node: bool = False) -> int:
    """The supervisor: runs in the foreground until SIGTERM/SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    workdir = STATE / "cluster"
    shutil.rmtree(workdir, ignore_errors=True)
    cluster = Cluster(workdir=workdir, real_node=real_node)
    cluster.start()
    operator = api = None
    try:
        if cluster.node is not None:
            # A batch pod's init container runs the taskops image (docs/batch.md); nothing can be pulled here.
            cluster.node.import_archive(taskops_image.build(STATE / "image-build.log"))
        cluster.install_crds(REPO / "crds")
        # The admission policies (docs/security.md). They trust taskops-system's taskops-operator and taskops-api
        # service accounts; the processes here run as the cluster admin, whom RBAC allows everything anyway.
        cluster.kubectl("apply", "-f", str(REPO / "crds" / "policies"))
        # Completion webhooks are signed with this key (docs/webhooks.md).
        cluster.kubectl("create", "secret", "generic", "taskops-webhook", "-n", "default",
                        f"--from-literal=secret={secrets.token_hex(32)}")  # fmt: skip
        operator = spawn(
            "operator",
            [
                *(sys.executable, "-m", "taskops.cli", "operator", "--kubeconfig", str(cluster.kubeconfig)),
                "--webhook-secret=default/taskops-webhook",
                # Batch pods get their own input as params (docs/batch.md), as under the chart; the feature gate is
                # on in this cluster (devcluster/versions.py).
                f"--batch-init-image={taskops_image.NAME}",
                "--batch-env-files",
            ],
            cluster.logs,
            env={"PYTHONUNBUFFERED": "1"},
        )
        port = _api_port()
        api = spawn(
            "api",
            [sys.executable, "-m", "taskops.cli", "api", "--host", "127.0.0.1", "--port", str(port),
             "--kubeconfig", str(cluster.kubeconfig)],
            cluster.logs,
            env={"PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        cluster.kubectl("apply", "-f", str(REPO / "examples" / "api-caller.yaml"))
        token = cluster.kubectl("create", "token", "taskops-caller", "-n", "default", "--duration=24h").strip()
        (STATE / "token").write_text(token)
        (STATE / "api-url").write_text(f"http://127.0.0.1:{port}")
        cluster.kubectl("apply", "-f", str(REPO / "examples" / "hello-task.yaml"))
        cluster.kubectl("create", "-f", str(REPO / "examples" / "hello-run.yaml"))
        bindir = STATE / "bin"
        bindir.mkdir(exist_ok=True)
        link = bindir / "kubectl"
        link.unlink(missing_ok=True)
        link.symlink_to(build.binary("kubectl"))
        (STATE / "kubeconfig").write_text(cluster.kubeconfig.read_text())
        if cluster.node is not None:
            (STATE / "real-node").write_text(realnode.NAME)
        (STATE / "ready").write_text(cluster.server)
        while not stop.wait(1.0):
            cluster.check_alive()
            for name, proc in (("operator", operator), ("api", api)):
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; see {cluster.logs / (name + '.log')}", flush=True)
                    return 1
        return 0
    finally:
        for child in (api, operator):
            if child is not None:
                stop_process(child)
        cluster.stop()
        for name in ("ready", "supervisor.pid", "real-node"):
            (STATE / name).unlink(missing_ok=True)


def _api_port(preferred: int = 8080) -> int:
    """8080 when free (what the README's examples use), any free port otherwise."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def up(timeout: float, node: str = "kwok") -> int:
    if _pid():
        print("devcluster is already running; `make down` stops it.")
        _print_usage()
        return 0
    build.ensure_built(real_node=node == "real")
    STATE.mkdir(exist_ok=True)
    for stale in ("ready", "real-node"):
        (STATE / stale).unlink(missing_ok=True)
    with open(STATE / "supervisor.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devcluster", "serve", f"--node={node}"],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "operator")])},
        )
    (STATE / "supervisor.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (STATE / "ready").exists():
            _print_usage()
            return 0
        if proc.poll() is not None:
            print(f"devcluster failed to start; see {STATE / 'supervisor.log'}:", file=sys.stderr)
            print((STATE / "supervisor.log").read_text()[-3000:], file=sys.stderr)
            return 1
        time.sleep(0.3)
    print(f"devcluster did not become ready in {timeout:.0f}s; see {STATE / 'supervisor.log'}", file=sys.stderr)
    return 1


def down() -> int:
    pid = _pid()
    if pid is None:
        print("devcluster is not running.")
        return 0
    os.kill(pid, signal.SIGTERM)
    for _ in range(300):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print("devcluster stopped.")
            return 0
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    print("devcluster killed (it did not stop within 30s).")
    return 0


def _print_usage() -> None:
    rel = os.path.relpath(STATE)
    real = (STATE / "real-node").read_text().strip() if (STATE / "real-node").exists() else ""
    print(
        f"""
taskops is running on a local control plane (etcd, kube-apiserver, controller-manager,
scheduler, kwok fake nodes) with the operator, the REST API and the example Task `hello`.

Point kubectl at it:
    export PATH="$PWD/{rel}/bin:$PWD/.venv/bin:$PATH" KUBECONFIG="$PWD/{rel}/kubeconfig"
    kubectl get tasks,runs,jobs
    kubectl taskops run hello --wait              # another Run, waited for (docs/cli.md)

Call the REST API (as the service account in examples/api-caller.yaml):
    API=$(cat {rel}/api-url) TOKEN=$(cat {rel}/token)
    curl -s -H "Authorization: Bearer $TOKEN" "$API/api/v1/tasks/hello/run?wait=true" -X POST
    curl -s -H "Authorization: Bearer $TOKEN" "$API/api/v1/runs?sort=-created_at"
    $API/ui/ is the manual-runs page (sign in with $TOKEN, namespace default)
    $API/api/v1/openapi.json describes every operation (send the bearer header)

Logs: {rel}/cluster/logs/   Stop it all: make down
"""
    )
    if real:
        print(
            f"""A real node runs beside the kwok nodes (docs/realnode.md): {real}
    Pods reach it with nodeSelector {{type: real}} and a toleration of the taint taskops.dev/real-node;
    the only images it has are made here: {images.busybox_image().name} (and the pause image).
"""
        )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devcluster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up_p = sub.add_parser("up", help="start the cluster, the operator and the example in the background")
    up_p.add_argument("--timeout", type=float, default=180.0)
    sub.add_parser("down", help="stop everything `up` started")
    sub.add_parser("status", help="say whether it is running")
    build_p = sub.add_parser("build", help="build (or reuse) the control-plane binaries")
    sub.add_parser("image", help="build (or reuse) the taskops image from the Dockerfile (docs/realnode.md)")
    serve_p = sub.add_parser("serve", help="run the supervisor in the foreground (what `up` starts)")
    for p in (up_p, build_p, serve_p):
        p.add_argument(
            "--node",
            choices=("kwok", "real"),
            default="kwok",
            help="real: also run a real node (kubelet + containerd + runc, docs/realnode.md) beside the kwok nodes",
        )
    args = parser.parse_args()
    if args.command == "up":
        return up(args.timeout, args.node)
    if args.command == "down":
        return down()
    if args.command == "status":
        running = _pid() is not None and (STATE / "ready").exists()
        print("running" if running else "not running")
        return 0 if running else 1
    if args.command == "build":
        build.ensure_built(real_node=args.node == "real")
        return 0
    if args.command == "image":
        print(taskops_image.build(STATE / "image-build.log"))
        return 0
    return serve(real_node=args.node == "real")


if __name__ == "__main__":
    sys.exit(main())
