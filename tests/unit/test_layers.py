"""Only clients/ talks to the Kubernetes API: ruff catches a request built anywhere else (docs/design.md, Layers).

import-linter sees which modules import which, but a request is built with aiohttp's client or with the
KubeClient's raw verbs, neither of which is a module of its own. pyproject.toml bans aiohttp's client
outside clients/ (ruff TID251) and makes the raw verbs private (`_request`, `_stream`; ruff SLF001). These
tests run ruff with the project's configuration on code placed (through stdin, so the tree is untouched)
in each package.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# `path:line:column: CODE message`, ruff's concise output.
FINDING = re.compile(r"^\S+:\d+:\d+: ([A-Z]+[0-9]+) ", re.MULTILINE)

RAW_LEASE_PUT = """\
from typing import Any

from taskops.clients.kube import KubeClient
from taskops.clients.resources import LEASES


async def renew(client: KubeClient, lease: dict[str, Any]) -> dict[str, Any]:
    return await client._request("PUT", LEASES.path("ns", "lease"), lease)
"""

AIOHTTP_SESSION = """\
import aiohttp


async def logs(url: str) -> bytes:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return await resp.read()
"""

AIOHTTP_IMPORTED = """\
from aiohttp import ClientSession, request

__all__ = ["ClientSession", "request"]
"""

SERVER_SIDE = """\
import aiohttp
from aiohttp import web


async def health(request: web.Request) -> web.Response:
    try:
        return web.Response(text="ok")
    except aiohttp.ClientError:
        return web.Response(status=503)
"""


PACKAGE = ROOT / "operator" / "taskops"
# Where code may not build a Kubernetes request: one new file in every package and beside every module of
# taskops but clients/ (read from the tree, so a package added later is covered without editing this test).
ELSEWHERE = sorted(
    f"operator/taskops/{entry.name}/new.py" if entry.is_dir() else f"operator/taskops/{entry.name}"
    for entry in PACKAGE.iterdir()
    if entry.name != "clients" and (entry.suffix == ".py" or (entry / "__init__.py").exists())
)


def ruff(code: str, path: str) -> set[str]:
    """The rule codes ruff reports for `code` as if it were the file `path` (relative to the project root)."""
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format=concise", "--stdin-filename", path],
        input=code,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return set(FINDING.findall(done.stdout))


def test_every_package_is_checked() -> None:
    assert {
        "operator/taskops/operator/new.py",
        "operator/taskops/kubectl/new.py",
        "operator/taskops/batchinit.py",
    } <= set(ELSEWHERE)


@pytest.mark.parametrize("where", [*ELSEWHERE, "operator/taskops/domain/execution/new.py"])
def test_a_raw_request_outside_clients_is_caught(where: str) -> None:
    assert "SLF001" in ruff(RAW_LEASE_PUT, where)


@pytest.mark.parametrize("where", [w for w in ELSEWHERE if not w.startswith("operator/taskops/client/")])
@pytest.mark.parametrize("code", [AIOHTTP_SESSION, AIOHTTP_IMPORTED], ids=["attribute", "imported"])
def test_aiohttp_client_outside_clients_is_caught(where: str, code: str) -> None:
    assert "TID251" in ruff(code, where)


@pytest.mark.parametrize("code", [RAW_LEASE_PUT, AIOHTTP_SESSION, AIOHTTP_IMPORTED])
def test_the_clients_package_may_build_requests(code: str) -> None:
    assert ruff(code, "operator/taskops/clients/leases.py") == set()


def test_serving_http_and_catching_client_errors_stay_allowed() -> None:
    assert ruff(SERVER_SIDE, "operator/taskops/operator/health.py") == set()


def test_the_rest_client_may_use_aiohttps_client_but_not_the_kube_clients_raw_verbs() -> None:
    """taskops.client talks to taskops' own API (import-linter keeps it from the Kubernetes client and the
    server from it): aiohttp's client is allowed there, the KubeClient's private verbs are not."""
    for code in (AIOHTTP_SESSION, AIOHTTP_IMPORTED):
        assert ruff(code, "operator/taskops/client/aio.py") == set()
    assert "SLF001" in ruff(RAW_LEASE_PUT, "operator/taskops/client/aio.py")


def test_no_test_module_imports_another() -> None:
    """Shared test code lives in helper modules (builders.py, fakes.py, integration/kube.py, ...), never in a test
    module: importing one runs its tests' module-level code twice and couples two files' fixtures."""
    imports = re.compile(r"^\s*(?:from\s+(tests(?:\.\w+)*)\s+import\s+([\w, ]+)|import\s+(tests(?:\.\w+)*))", re.M)
    found: list[str] = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for match in imports.finditer(path.read_text()):
            module = match.group(1) or match.group(3)
            names = [n.strip() for n in (match.group(2) or "").split(",")]
            if module.rsplit(".", 1)[-1].startswith("test_") or any(n.startswith("test_") for n in names):
                found.append(f"{path.relative_to(ROOT)}: {match.group(0).strip()}")
    assert found == []
