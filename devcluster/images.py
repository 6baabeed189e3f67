"""Container images for the real node, made here from busybox-static: nothing is ever pulled.

Each image is one layer (busybox and its applet links) written as an OCI image-layout tarball, the
format `ctr images import` reads. The tarballs are reproducible (fixed mtimes, sorted entries) and
cached under the user's cache dir, keyed by the busybox binary and this recipe, so a second start
only imports them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import platform
import re
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devcluster.build import cache_root

BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static (make e2e installs it)
# Bump when the recipe below changes, so cached tarballs are rebuilt.
RECIPE = "1"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"
# The pod sandbox's only job is to hold the pod's namespaces until it is stopped; PID 1 ignores
# signals it has no handler for, hence the trap.
PAUSE_COMMAND = ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]


@dataclass(frozen=True)
class Image:
    name: str  # the full reference pods use, e.g. localhost/taskops/busybox:1.35.0
    entrypoint: tuple[str, ...] | None
    cmd: tuple[str, ...] | None


def busybox_version() -> str:
    if not BUSYBOX.is_file():
        raise RuntimeError(f"{BUSYBOX} is missing: install Debian's busybox-static (`make e2e` does)")
    first = subprocess.run([str(BUSYBOX)], capture_output=True, text=True, check=False).stdout.splitlines()
    match = re.match(r"BusyBox v(\S+)", first[0] if first else "")
    if not match:
        raise RuntimeError(f"cannot read the version of {BUSYBOX}")
    return match.group(1)


def busybox_image() -> Image:
    return Image(f"localhost/taskops/busybox:{busybox_version()}", None, ("/bin/sh",))


def pause_image() -> Image:
    return Image(f"localhost/taskops/pause:{busybox_version()}", tuple(PAUSE_COMMAND), None)


def images_dir() -> Path:
    return cache_root().parent / "images"


def _tar_bytes(build: Callable[[tarfile.TarFile], None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        build(tar)
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, *, data: bytes | None = None, mode: int = 0o755,
         kind: bytes = tarfile.DIRTYPE, link: str = "") -> None:  # fmt: skip
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = 0
    info.linkname = link
    if data is not None:
        info.size = len(data)
    tar.addfile(info, io.BytesIO(data) if data is not None else None)


def _layer() -> bytes:
    binary = BUSYBOX.read_bytes()
    listed = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout.split()
    applets = sorted(a for a in set(listed) if re.fullmatch(r"[A-Za-z0-9_.\[-]+", a) and a != "busybox")

    def build(tar: tarfile.TarFile) -> None:
        for d, mode in (("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("root", 0o700)):
            _add(tar, d, mode=mode)
        _add(tar, "bin/busybox", data=binary, kind=tarfile.REGTYPE)
        for applet in applets:
            _add(tar, f"bin/{applet}", kind=tarfile.SYMTYPE, link="busybox", mode=0o777)
        _add(tar, "etc/passwd", data=_PASSWD.encode(), kind=tarfile.REGTYPE, mode=0o644)
        _add(tar, "etc/group", data=_GROUP.encode(), kind=tarfile.REGTYPE, mode=0o644)

    return _tar_bytes(build)


def _oci_archive(image: Image, layer: bytes) -> bytes:
    blobs: dict[str, bytes] = {}

    def blob(data: bytes) -> tuple[str, int]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return digest, len(data)

    compressed = gzip.compress(layer, mtime=0)
    layer_digest, layer_size = blob(compressed)
    arch = _ARCH.get(platform.machine(), platform.machine())
    config: dict[str, object] = {"Env": ["PATH=/bin"], "WorkingDir": "/"}
    if image.entrypoint:
        config["Entrypoint"] = list(image.entrypoint)
    if image.cmd:
        config["Cmd"] = list(image.cmd)
    config_digest, config_size = blob(
        json.dumps(
            {
                "architecture": arch,
                "os": "linux",
                "config": config,
                "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
                "history": [{"created_by": f"taskops devcluster/images.py recipe {RECIPE} from {BUSYBOX}"}],
            },
            sort_keys=True,
        ).encode()
    )
    manifest_digest, manifest_size = blob(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest,
                    "size": config_size,
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer_digest,
                        "size": layer_size,
                    }
                ],
            },
            sort_keys=True,
        ).encode()
    )
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest_size,
                "platform": {"architecture": arch, "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": image.name,
                    "org.opencontainers.image.ref.name": image.name.rsplit(":", 1)[1],
                },
            }
        ],
    }

    def build(tar: tarfile.TarFile) -> None:
        _add(tar, "oci-layout", data=b'{"imageLayoutVersion":"1.0.0"}', kind=tarfile.REGTYPE, mode=0o644)
        _add(tar, "index.json", data=json.dumps(index, sort_keys=True).encode(), kind=tarfile.REGTYPE, mode=0o644)
        _add(tar, "blobs")
        _add(tar, "blobs/sha256")
        for digest, data in sorted(blobs.items()):
            _add(tar, f"blobs/sha256/{digest.split(':')[1]}", data=data, kind=tarfile.REGTYPE, mode=0o644)

    return _tar_bytes(build)


def archive(image: Image) -> Path:
    """The OCI tarball of `image`, built once per busybox binary and recipe."""
    key = hashlib.sha256(BUSYBOX.read_bytes() + f"{RECIPE}{image}".encode()).hexdigest()[:16]
    repo, tag = image.name.rsplit(":", 1)
    path = images_dir() / f"{repo.rsplit('/', 1)[1]}-{tag}-{key}.tar"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(_oci_archive(image, _layer()))
        partial.rename(path)
    return path
