"""Lint the Helm chart with checkov: render it with the project's helm for each notable value set, run checkov on
the output, and fail on any finding charts/taskops/checkov-skips.yaml does not explain (or a skip that explains
nothing any more).

    python -m devcluster.chartlint --checkov .venv-tools/bin/checkov

checkov lints what Argo CD and Flux apply, so it reads `helm template` output (CRDs included), never the templates.
Each value set renders with its own release name and namespace: checkov's NetworkPolicy check joins every file it
reads, and one set's policies must not cover another set's pods.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from devcluster import build

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "charts" / "taskops"
SKIPS = CHART / "checkov-skips.yaml"
# The value sets whose output differs in kind (not only in numbers): each is linted.
VALUE_SETS: dict[str, list[str]] = {
    "defaults": ["--include-crds"],
    "networkpolicy": [
        "--set",
        "networkPolicy.enabled=true",
        "--set-json",
        'networkPolicy.apiFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"ingress"}}}]',
    ],
    "servicemonitor": ["--set", "metrics.serviceMonitor.enabled=true"],
    "namespaced": ["--set", "rbac.namespaced=true,watchNamespace=tasks"],
    "pinned": [
        "--set",
        "image.digest=sha256:" + "0" * 64 + ",webhook.existingSecret=webhook-key",
    ],
}
TIMEOUT = 300


def helm() -> Path:
    """The project's helm, built once like the control plane (no other component is needed here)."""
    if not build.HELM.is_built():
        if shutil.which("go") is None:
            sys.exit("chartlint: the Go toolchain is required to build helm (https://go.dev/dl)")
        print("chartlint: building helm (first run only)", flush=True)
        build.build_helm()
    return build.binary("helm")


def render(workdir: Path) -> None:
    env = {"HOME": str(workdir), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for name, args in VALUE_SETS.items():
        out = subprocess.run(
            [str(helm()), "template", name, str(CHART), "--namespace", name, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=TIMEOUT,
            check=False,
        )
        if out.returncode != 0:
            sys.exit(f"chartlint: helm template ({name}) failed:\n{out.stderr}")
        (workdir / f"{name}.yaml").write_text(out.stdout)


def findings(checkov: str, workdir: Path) -> list[tuple[str, str, str]]:
    """(check id, value set, resource) of every failed check."""
    cmd = [checkov, "--directory", str(workdir), "--framework", "kubernetes", "--output", "json", "--quiet"]
    # --skip-download: no call to Prisma Cloud (no network here, and nothing it adds matters to the result).
    out = subprocess.run([*cmd, "--skip-download"], capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if out.returncode not in (0, 1):
        sys.exit(f"chartlint: checkov exited {out.returncode}:\n{out.stderr[-4000:]}")
    report: Any = json.loads(out.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = []
    for part in reports:
        for check in part.get("results", {}).get("failed_checks", []):
            failed.append((check["check_id"], Path(check["file_path"]).stem, check["resource"]))
    return failed


def skips() -> list[dict[str, Any]]:
    doc = yaml.safe_load(SKIPS.read_text())
    listed: list[dict[str, Any]] = doc["skips"]
    for skip in listed:
        if not str(skip.get("reason") or "").strip():
            sys.exit(f"chartlint: {SKIPS.name}: {skip['check']} has no reason")
        unknown = set(skip.get("values") or ()) - set(VALUE_SETS)
        if unknown:
            sys.exit(f"chartlint: {SKIPS.name}: {skip['check']}: no value set {sorted(unknown)}")
    return listed


def judge(failed: list[tuple[str, str, str]], listed: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(findings no skip explains, skips that explain no finding), as lines to print."""
    used: set[int] = set()
    unexplained = []
    for check, values, resource in failed:
        match = [i for i, s in enumerate(listed) if s["check"] == check and values in (s.get("values") or VALUE_SETS)]
        if match:
            used.update(match)
        else:
            unexplained.append(f"  {check} in {values}: {resource}")
    stale = [f"  {s['check']} ({', '.join(s.get('values') or ['all'])})" for i, s in enumerate(listed) if i not in used]
    return unexplained, stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkov", required=True, help="the checkov executable (make lint installs it)")
    args = parser.parse_args()
    started = time.monotonic()
    listed = skips()
    with tempfile.TemporaryDirectory(prefix="chartlint-") as tmp:
        render(Path(tmp))
        failed = findings(args.checkov, Path(tmp))
    unexplained, stale = judge(failed, listed)
    if unexplained:
        print("chartlint: checkov findings not explained in charts/taskops/checkov-skips.yaml:", *unexplained, sep="\n")
    if stale:
        print("chartlint: skips that match no finding (remove them):", *stale, sep="\n")
    if unexplained or stale:
        return 1
    print(
        f"chartlint: checkov: {len(failed)} findings, all explained in {SKIPS.relative_to(REPO)} "
        f"({len(VALUE_SETS)} value sets, {time.monotonic() - started:.0f}s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
