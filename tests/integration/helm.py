"""Helm for the integration tests: the chart, the values that keep its pods running on kwok, and helm itself
(built by devcluster like the control plane, `devcluster.build.binary("helm")`), run with its own home."""

from __future__ import annotations

import subprocess
from pathlib import Path

from devcluster import build
from tests.paths import REPO

CHART = REPO / "charts" / "taskops"
# kwok's fake pods "run" for 1 s and then succeed unless told to hang (devcluster/stages.yaml);
# a Deployment's pods must keep running. kwok nodes carry no taints, so no toleration is needed.
ON_KWOK = ("--set-string", "podAnnotations.kwok\\.taskops\\.dev/hang=true")


def helm(
    home: Path, *args: str, kubeconfig: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "PATH": "/usr/bin:/bin",
    }
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    out = subprocess.run(
        [str(build.binary("helm")), *args], capture_output=True, text=True, env=env, check=False, timeout=180
    )
    if check and out.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} exited {out.returncode}:\n{out.stderr}")
    return out
