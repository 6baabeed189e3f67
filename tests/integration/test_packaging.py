"""The Dockerfile's pip steps, run outside Docker (there is no engine here): build the wheels, install them into a
fresh environment without an index, and run the installed `taskops`.

The builder stage copies requirements/, pyproject.toml, README.md and operator/ into an empty directory,
fetches the locked dependencies' wheels against their hashes, and builds the taskops wheel with the locked
setuptools; the final stage installs the locked wheels (hashes again), then taskops without dependencies, and
runs `pip check`. This does the same from a copy of exactly the files the Dockerfile copies (so a file the
build needs but the Dockerfile forgets fails here too, and the build leaves no build/ or egg-info behind in
the work tree). The wheels come from the package index as configured for pip (about 30 s here); the build
tools go into a throwaway environment, not the test's own. Needs no cluster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from devcluster.cluster import free_port
from tests.dockerfile import parse, stages

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# Every runtime dependency in pyproject.toml, as its wheel's distribution name.
RUNTIME = {
    "kopf",
    "kubernetes",
    "pydantic",
    "croniter",
    "python_dateutil",
    "aiohttp",
    "prometheus_client",
    "pyyaml",
    "jsonschema",
    "orjson",
}


def run(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    proc = subprocess.run([str(a) for a in args], check=False, capture_output=True, text=True, env=env, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def build_context(dest: Path) -> Path:
    """The files the Dockerfile's builder stage copies from the context, copied the same way."""
    builder = stages(parse((REPO / "Dockerfile").read_text()))[0]
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    copies = builder.all("COPY")
    assert copies, "the builder stage copies nothing"
    for copy in copies:
        assert "from" not in copy.flags()
        *sources, target = copy.body().split()
        for source in sources:
            src, dst = REPO / source, dest / target
            if src.is_dir():  # like COPY: a directory's contents go into the target
                shutil.copytree(src, dst, ignore=ignore, dirs_exist_ok=True)
            elif target.endswith("/") or len(sources) > 1:
                dst.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst / src.name)
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
    return dest


def clean_environ() -> dict[str, str]:
    """Without the Makefile's PYTHONPATH: through it the work tree's taskops would look installed already."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def pip_env() -> dict[str, str]:
    # Only the index: find-links configured on a developer's machine would offer files the lock never saw.
    env = {k: v for k, v in clean_environ().items() if k != "PIP_FIND_LINKS"}
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_PROGRESS_BAR": "off"}


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The builder stage: the locked wheels by hash, then taskops built with the locked setuptools."""
    root = tmp_path_factory.mktemp("packaging")
    context = build_context(root / "src")
    wheels, builder = root / "wheels", root / "builder"
    env = pip_env()
    started = time.monotonic()
    run(sys.executable, "-m", "venv", builder)  # the builder's Python, with the build tools of build.lock
    pip = (builder / "bin" / "python", "-m", "pip")
    run(*pip, "install", "--quiet", "--require-hashes", "--no-deps", "-r", context / "requirements/build.lock",
        env=env)  # fmt: skip
    run(*pip, "wheel", "--quiet", "--require-hashes", "--no-deps", "--only-binary=:all:", "--wheel-dir", wheels,
        "-r", context / "requirements/image.lock", env=env)  # fmt: skip
    run(*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", wheels, context, env=env)
    print(f"builder stage: {time.monotonic() - started:.1f} s")
    return wheels


@pytest.fixture(scope="module")
def venv(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment with only the wheels installed, as the final stage installs them."""
    target = tmp_path_factory.mktemp("venv") / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", target)
    env = pip_env()
    pip = (sys.executable, "-m", "pip", "--python", target / "bin" / "python")
    run(*pip, "install", "--quiet", "--no-index", "--find-links", wheelhouse, "--require-hashes", "--no-deps",
        "-r", REPO / "requirements/image.lock", env=env)  # fmt: skip
    run(*pip, "install", "--quiet", "--no-index", "--find-links", wheelhouse, "--no-deps", "taskops", env=env)
    run(*pip, "check", env=env)
    return target


def image_env(tmp: Path) -> dict[str, str]:
    """The image's environment: none of the work tree on the path, no home, nothing but TMPDIR to write."""
    keep = {"PATH", "LANG", "LC_ALL", "SYSTEMROOT"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", HOME="/nonexistent", TMPDIR=str(tmp))
    return env


def tree(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*")}


def test_the_wheelhouse_holds_taskops_and_every_runtime_dependency(wheelhouse: Path) -> None:
    names = {w.name.split("-")[0].lower() for w in wheelhouse.glob("*.whl")}
    assert "taskops" in names
    assert names >= RUNTIME, f"missing wheels: {sorted(RUNTIME - names)}"
    assert not list(wheelhouse.glob("*.tar.gz")), "an sdist in the wheelhouse: the final stage would need a compiler"


def test_the_taskops_wheel_holds_the_package_only(wheelhouse: Path) -> None:
    (wheel,) = wheelhouse.glob("taskops-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
        metadata = zf.read(f"{dist_info}/METADATA").decode()
    top = {n.split("/")[0] for n in names}
    assert top == {"taskops", dist_info}, top
    for forbidden in ("tests/", "bench/", "devcluster/", "crds/", "docs/", "examples/"):
        assert not [n for n in names if n.startswith(forbidden) or f"/{forbidden}" in n], forbidden
    assert "taskops/py.typed" in names
    assert "taskops/cli.py" in names and "taskops/api/app.py" in names and "taskops/operator/main.py" in names
    assert "[console_scripts]\n" in entry_points
    assert "taskops = taskops.cli:main" in entry_points
    # kubectl runs `kubectl-taskops` from PATH as `kubectl taskops` (docs/cli.md), and completes through the other.
    assert "kubectl-taskops = taskops.kubectl.main:main" in entry_points
    assert "kubectl_complete-taskops = taskops.kubectl.completion:kubectl_complete" in entry_points
    assert "License-Expression: Apache-2.0" in metadata


def test_the_installed_console_script_runs_from_the_fresh_environment(venv: Path, tmp_path: Path) -> None:
    env = image_env(tmp_path)
    before = tree(venv)
    taskops = venv / "bin" / "taskops"
    usage = run(taskops, "--help", env=env)
    assert all(command in usage for command in ("operator", "api", "crds")), usage
    assert "--webhook-secret" in run(taskops, "operator", "--help", env=env)
    assert "--default-namespace" in run(taskops, "api", "--help", env=env)
    plugin = run(venv / "bin" / "kubectl-taskops", "--help", env=env)
    assert "usage: kubectl taskops" in plugin and "exit codes" in plugin
    assert "--follow" in run(venv / "bin" / "kubectl-taskops", "run", "--help", env=env)
    assert "resume" in run(venv / "bin" / "kubectl_complete-taskops", "__complete", "res", env=env).split()
    # Any install prints the CRDs it was built with (`taskops crds | kubectl apply -f -`).
    assert run(taskops, "crds", env=env).count("kind: CustomResourceDefinition") == 3
    modules = "taskops.api.app, taskops.api.main, taskops.operator.main, taskops.crds"
    where = run(venv / "bin" / "python", "-c", f"import taskops, {modules}; print(taskops.__file__)", env=env)
    assert Path(where.strip()).is_relative_to(venv), f"imported from {where.strip()}, not the installed wheel"
    assert tree(venv) == before, "running taskops wrote into its installation: a read-only root filesystem breaks"


def test_the_installed_api_starts_and_answers_healthz(venv: Path, tmp_path: Path) -> None:
    """The installed wheel runs, not just imports: `taskops api` against an unreachable cluster still serves health."""
    api_port, cluster_port = free_port(), free_port()  # nothing listens on the "cluster" port
    kubeconfig = tmp_path / "kubeconfig"
    cluster = f"{{server: 'https://127.0.0.1:{cluster_port}', insecure-skip-tls-verify: true}}"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {cluster}}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    log = tmp_path / "api.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [venv / "bin" / "taskops", "api", "--host", "127.0.0.1", "--port", str(api_port),
             "--kubeconfig", kubeconfig],
            stdout=out, stderr=subprocess.STDOUT, env=image_env(tmp_path),
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"taskops api exited {proc.returncode}:\n{log.read_text()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/healthz", timeout=2) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, f"no /healthz within 30 s:\n{log.read_text()}"
                time.sleep(0.2)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
