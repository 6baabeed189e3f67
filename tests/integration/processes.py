"""The operator as a real process: started, SIGKILLed and restarted by tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from devcluster.cluster import spawn, stop_process

# Where the tests' operators keep their Leases.
LEASE_NS = "taskops-system"


def healthy(port: int, path: str) -> bool:
    """Whether an operator's `/healthz` or `/readyz` (`path`) on `port` answers 200."""
    try:
        return requests.get(f"http://127.0.0.1:{port}/{path}", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def metric(port: int, name: str) -> float:
    """The sum of every series of the operator's metric `name` (a prefix) on `port`."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


class OperatorProcess:
    def __init__(self, kubeconfig: Path, logs: Path, name: str = "operator", args: tuple[str, ...] = ()) -> None:
        self.kubeconfig = kubeconfig
        self.args = args
        self.logs = logs
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_file(self) -> Path:
        return self.logs / f"{self.name}.log"

    def start(self, *args: str, env: dict[str, str] | None = None) -> None:
        assert self.proc is None or self.proc.poll() is not None, "operator already running"
        self.starts += 1
        self.proc = spawn(
            self.name,
            [sys.executable, "-m", "taskops.cli", "operator", "--kubeconfig", str(self.kubeconfig), *self.args, *args],
            self.logs,
            env={"PYTHONUNBUFFERED": "1", **(env or {})},
        )

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye — what a node failure or OOM kill looks like."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return self.proc.returncode
            time.sleep(0.1)
        raise AssertionError(f"operator did not exit within {timeout}s")

    def tail(self, lines: int = 60) -> str:
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
