"""The taskops image, built from the repository's own Dockerfile with no registry: buildah, --pull=never.

The Dockerfile's base is an ARG (python:3.11.14-slim-bookworm by default). Here it points at a
Debian bookworm root filesystem with python3 and pip made by mmdebstrap from the Debian mirror,
and pip finds every dependency in a local wheel directory (downloaded once with `pip download`,
the registry's own client) through a pip.conf mounted for the build only, so the build runs with
no network at all (`--network=none`). Everything is cached under the user's cache dir:

- `images/python-base-bookworm-<key>.tar`: the root filesystem (key: the recipe below);
- `images/wheels-<key>/`: the wheels of requirements/image.lock and build.lock, checked against
  their hashes (key: the two lock files);
- `buildah/`: buildah's own storage (never /var/lib/containers);
- `images/taskops-<key>.tar`: the image as a docker archive for `ctr images import` (key: the
  Dockerfile, the files it copies, the base and the wheels).
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from devcluster.images import images_dir

REPO = Path(__file__).resolve().parents[1]
NAME = "localhost/taskops/taskops:dev"
BASE_NAME = "localhost/taskops/python-base:bookworm"
MIRROR = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"
# What python:3.11-slim-bookworm gives the Dockerfile: `python`, pip allowed to install into the
# system (no EXTERNALLY-MANAGED marker), groupadd/useradd, CA certificates.
BASE_PACKAGES = ("python3", "python3-pip", "python-is-python3", "passwd", "ca-certificates")
BASE_RECIPE = "1"
# The build context files the Dockerfile copies (tests/unit/test_dockerfile.py checks they exist).
CONTEXT = ("Dockerfile", "pyproject.toml", "README.md", "operator", "requirements")
TOOLS = ("/usr/bin/buildah", "/usr/bin/mmdebstrap")


def _buildah(*args: str, log: Path | None = None) -> str:
    storage = images_dir().parent / "buildah"
    cmd = ["buildah", "--root", str(storage / "root"), "--runroot", str(storage / "run"),
           "--storage-driver", "overlay", *args]  # fmt: skip
    if log is None:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    with open(log, "ab") as out:
        subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=True)
    return ""


def _key(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()[:16]


def base_rootfs(log: Path) -> Path:
    key = _key(BASE_RECIPE.encode(), " ".join(BASE_PACKAGES).encode(), platform.machine().encode())
    path = images_dir() / f"python-base-bookworm-{key}.tar"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.tar")
    with open(log, "ab") as out:
        subprocess.run(
            ["mmdebstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
             "--aptopt=APT::Install-Recommends \"false\"",
             "--customize-hook=rm -f \"$1\"/usr/lib/python3*/EXTERNALLY-MANAGED",
             "bookworm", str(partial),
             f"deb {MIRROR} bookworm main", f"deb {MIRROR} bookworm-updates main",
             f"deb {SECURITY} bookworm-security main"],
            stdout=out, stderr=subprocess.STDOUT, check=True,
        )  # fmt: skip
    partial.rename(path)
    return path


LOCKS = (REPO / "requirements" / "image.lock", REPO / "requirements" / "build.lock")


def wheels(log: Path) -> Path:
    """The locked wheels, downloaded once for CPython 3.11 on this architecture and checked by hash."""
    arch = platform.machine()
    out_dir = images_dir() / f"wheels-{_key(*(lock.read_bytes() for lock in LOCKS), arch.encode())}"
    if out_dir.is_dir():
        return out_dir
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    platforms = [f"manylinux_2_{m}_{arch}" for m in (17, 28, 31, 34, 36)] + [f"manylinux2014_{arch}"]
    with open(log, "ab") as out:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--dest", str(partial), "--only-binary=:all:",
             "--require-hashes", "--no-deps",
             "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
             *(f"--platform={p}" for p in platforms), *(f"--requirement={lock}" for lock in LOCKS)],
            stdout=out, stderr=subprocess.STDOUT, check=True,
        )  # fmt: skip
    partial.rename(out_dir)
    return out_dir


def _context_digest() -> bytes:
    h = hashlib.sha256()
    for entry in CONTEXT:
        root = REPO / entry
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            if "__pycache__" in f.parts or f.suffix == ".pyc":
                continue
            h.update(str(f.relative_to(REPO)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.digest()


def build(log: Path) -> Path:
    """The docker archive of NAME, built (or taken from the cache) from the Dockerfile."""
    missing = [t for t in TOOLS if not Path(t).exists()]
    if missing:
        raise RuntimeError(f"building the taskops image needs {', '.join(missing)}: run `make realnode-deps`")
    log.parent.mkdir(parents=True, exist_ok=True)
    rootfs = base_rootfs(log)
    wheel_dir = wheels(log)
    key = _key(_context_digest(), rootfs.name.encode(), wheel_dir.name.encode())
    archive = images_dir() / f"taskops-{key}.tar"
    if archive.is_file():
        return archive
    base_ref = f"{BASE_NAME}-{rootfs.stem.rsplit('-', 1)[1]}"
    if not _buildah("images", "--quiet", "--filter", f"reference={base_ref}").strip():
        container = _buildah("from", "scratch").strip()
        try:
            _buildah("add", container, str(rootfs), "/")
            _buildah("config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                     "--env", "LANG=C.UTF-8", "--cmd", "python3", container)  # fmt: skip
            _buildah("commit", "--quiet", container, base_ref)
        finally:
            _buildah("rm", container)
    pip_conf = images_dir() / "pip-offline.conf"
    pip_conf.write_text("[global]\nno-index = true\nfind-links = /taskops-wheels\n")
    _buildah(
        "bud", "--pull=never", "--network=none", "--build-arg", f"BASE={base_ref}",
        "--volume", f"{wheel_dir}:/taskops-wheels:ro", "--volume", f"{pip_conf}:/etc/pip.conf:ro",
        "--tag", NAME, "--file", str(REPO / "Dockerfile"), str(REPO),
        log=log,
    )  # fmt: skip
    partial = archive.with_suffix(".partial.tar")
    partial.unlink(missing_ok=True)
    _buildah("push", "--quiet", NAME, f"docker-archive:{partial}:{NAME}")
    partial.rename(archive)
    # One archive and one image per checkout: the previous ones (hundreds of MB each) go.
    for old in images_dir().glob("taskops-*.tar"):
        if old != archive:
            old.unlink()
    _buildah("rmi", "--prune")
    return archive
