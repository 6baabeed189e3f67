"""Build the control-plane binaries from their Go modules, cached per version.

`k8s.io/kubernetes` and `go.etcd.io/etcd/server/v3` cannot be `go install`ed:
their go.mod files replace sibling modules with local paths. A small wrapper
module requires them and points each replaced module at its published
release instead. kwok and helm have no replace lines and install directly.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from devcluster import versions


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "taskops" / "controlplane"


@dataclass(frozen=True)
class Component:
    key: str  # cache key: name plus version
    binaries: tuple[str, ...]

    @property
    def bin_dir(self) -> Path:
        return cache_root() / self.key / "bin"

    def is_built(self) -> bool:
        return all((self.bin_dir / b).is_file() for b in self.binaries)


KUBERNETES = Component(
    f"kubernetes-{versions.KUBERNETES}",
    ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"),
)
ETCD = Component(f"etcd-{versions.ETCD}", ("etcd",))
KWOK = Component(f"kwok-{versions.KWOK}", ("kwok",))
HELM = Component(f"helm-{versions.HELM}", ("helm",))
# The real node's kubelet: its own component (same pinned module as KUBERNETES) so that a cache
# built before the real node existed stays valid and only the kubelet is built when first asked for.
KUBELET = Component(f"kubelet-{versions.KUBERNETES}", ("kubelet",))
COMPONENTS = (ETCD, KWOK, KUBERNETES, HELM)
# Built only when a real node is asked for (`ensure_built(real_node=True)`).
REAL_NODE_COMPONENTS = (KUBELET,)


def binary(name: str) -> Path:
    for c in (*COMPONENTS, *REAL_NODE_COMPONENTS):
        if name in c.binaries:
            return c.bin_dir / name
    raise KeyError(name)


def _go(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    full_env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    full_env.update(env or {})
    print(f"+ (cd {cwd} && go {' '.join(args)})", flush=True)
    subprocess.run(["go", *args], cwd=cwd, env=full_env, check=True)


def _wrapper(workdir: Path, require: str, version: str, replaces: dict[str, str], imports: list[str]) -> None:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    lines = ["module taskops.dev/controlplane", "", "go 1.24.0", "", f"require {require} {version}", ""]
    lines += [f"replace {mod} => {mod} {ver}" for mod, ver in sorted(replaces.items())]
    (workdir / "go.mod").write_text("\n".join(lines) + "\n")
    body = "\n".join(f'\t_ "{imp}"' for imp in imports)
    # The classic tools.go idiom: `go mod tidy` sees the imports, the build never compiles this file.
    (workdir / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{body}\n)\n")
    _go(["mod", "tidy"], workdir)


def _finish(component: Component, staging: Path) -> None:
    final = component.bin_dir
    if final.exists():
        shutil.rmtree(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(final)


def build_kubernetes() -> None:
    _build_kubernetes_component(KUBERNETES)


def build_kubelet() -> None:
    _build_kubernetes_component(KUBELET)


def _build_kubernetes_component(component: Component) -> None:
    """Build `component`'s commands from the pinned k8s.io/kubernetes module, in their own work dir."""
    v = versions.KUBERNETES
    major, minor, _ = v.split(".")
    workdir = cache_root() / "work" / component.key
    cmds = [f"k8s.io/kubernetes/cmd/{b}" for b in component.binaries]
    _wrapper(
        workdir,
        "k8s.io/kubernetes",
        f"v{v}",
        {f"k8s.io/{m}": f"v{versions.KUBERNETES_STAGING}" for m in versions.KUBERNETES_STAGING_MODULES},
        cmds,
    )
    build_date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    # Without these, /version reports v0.0.0 and version checks (Helm, kubectl) misbehave.
    stamp = {
        "gitVersion": f"v{v}",
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": build_date,
    }
    ldflags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        ldflags += [f"-X {pkg}.{k}={val}" for k, val in stamp.items()]
    staging = workdir / "bin"
    _go(["build", "-trimpath", "-ldflags", " ".join(ldflags), "-o", str(staging) + "/", *cmds], workdir)
    _finish(component, staging)


def build_etcd() -> None:
    workdir = cache_root() / "work" / ETCD.key
    v = f"v{versions.ETCD}"
    _wrapper(
        workdir,
        "go.etcd.io/etcd/server/v3",
        v,
        {f"go.etcd.io/etcd/{m}": v for m in versions.ETCD_REPLACED_MODULES},
        ["go.etcd.io/etcd/server/v3"],
    )
    staging = workdir / "bin"
    _go(["build", "-trimpath", "-ldflags", "-s -w", "-o", str(staging / "etcd"), "go.etcd.io/etcd/server/v3"], workdir)
    _finish(ETCD, staging)


def _install(component: Component, package: str, ldflags: list[str]) -> None:
    """`go install package@version` with GOBIN in a staging directory, then moved into the cache."""
    workdir = cache_root() / "work" / component.key
    staging = workdir / "bin"
    if workdir.exists():
        shutil.rmtree(workdir)
    staging.mkdir(parents=True)
    _go(
        ["install", "-trimpath", "-ldflags", " ".join(["-s", "-w", *ldflags]), package],
        workdir,
        {"GOBIN": str(staging), "GOFLAGS": ""},
    )
    _finish(component, staging)


def build_kwok() -> None:
    _install(KWOK, f"sigs.k8s.io/kwok/cmd/kwok@v{versions.KWOK}", [])


def build_helm() -> None:
    v = versions.HELM
    # What helm's own Makefile stamps: without it `helm version` says v3.19 without the patch, and
    # `helm lint` / `helm template` assume Kubernetes 1.20. Helm 3.19 links client-go 0.34, the
    # same minor as the dev cluster, so the cluster's version is the one its Makefile would stamp.
    k8s_major, k8s_minor, _ = versions.KUBERNETES.split(".")
    stamp = {
        "helm.sh/helm/v3/internal/version.version": f"v{v}",
        "helm.sh/helm/v3/internal/version.gitTreeState": "clean",
        "helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor": k8s_major,
        "helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor": k8s_minor,
        "helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor": k8s_major,
        "helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor": k8s_minor,
    }
    _install(HELM, f"helm.sh/helm/v3/cmd/helm@v{v}", [f"-X {k}={val}" for k, val in stamp.items()])


BUILDERS = {
    ETCD.key: build_etcd,
    KWOK.key: build_kwok,
    KUBERNETES.key: build_kubernetes,
    HELM.key: build_helm,
    KUBELET.key: build_kubelet,
}


def ensure_built(quiet: bool = False, real_node: bool = False) -> None:
    """Build whatever is missing from the cache; a second call returns at once."""
    if shutil.which("go") is None:
        sys.exit("devcluster: the Go toolchain is required to build the control plane (https://go.dev/dl)")
    for component in (*COMPONENTS, *(REAL_NODE_COMPONENTS if real_node else ())):
        if component.is_built():
            if not quiet:
                print(f"devcluster: {component.key} cached in {component.bin_dir}")
            continue
        print(f"devcluster: building {component.key} (first run only; this takes a while)", flush=True)
        started = time.monotonic()
        BUILDERS[component.key]()
        print(f"devcluster: built {component.key} in {time.monotonic() - started:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--node", choices=("kwok", "real"), default="kwok", help="also build the real node's kubelet")
    args = parser.parse_args()
    ensure_built(real_node=args.node == "real")


if __name__ == "__main__":
    main()
