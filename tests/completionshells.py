"""`kubectl taskops completion bash|zsh` run in the real shells: the script is sourced as docs/cli.md says, and its
function is called with a command line, as the shell calls it on TAB; what it offers is returned.

zsh's completion builtins (compadd) exist only inside a completion widget, which needs a terminal; the script's
function is therefore called with `compadd` and `_files` defined as functions that print what they are given.
Everything else (compinit, compdef's registration, the words array, the plugin's answer) is zsh's own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO

ZSH_MISSING = "zsh is not installed: run `make shells`"

_BASH = """
source <(kubectl-taskops completion bash)
complete -p kubectl-taskops >/dev/null || exit 3
COMP_WORDS=(kubectl-taskops "$@"); COMP_CWORD=$#
_kubectl_taskops
[ ${#COMPREPLY[@]} -eq 0 ] || printf '%s\\n' "${COMPREPLY[@]}"
"""

_ZSH = """
autoload -Uz compinit && compinit -u -D
source <(kubectl-taskops completion zsh)
[[ ${_comps[kubectl-taskops]} == _kubectl_taskops ]] || exit 3
compadd() { [[ $1 == -a ]] && print -rl -- "${(@P)2}"; }
_files() { print -r -- "<files>"; }
words=(kubectl-taskops "$@"); CURRENT=$(( $# + 1 ))
_kubectl_taskops
"""


def plugin_bin(directory: Path) -> Path:
    """`kubectl-taskops` and `kubectl_complete-taskops` in `directory`, running this tree's plugin (as the wheel's
    entry points run the installed one)."""
    directory.mkdir(parents=True, exist_ok=True)
    for script, target in (
        ("kubectl-taskops", "-m taskops.kubectl.main"),
        ("kubectl_complete-taskops", "-c 'import sys; from taskops.kubectl.completion import kubectl_complete as c; "
         "sys.exit(c())'"),
    ):  # fmt: skip
        (directory / script).write_text(f'#!/bin/sh\nexec "{sys.executable}" {target} "$@"\n')
        (directory / script).chmod(0o755)
    return directory


def plugin_env(bin_dir: Path, kubeconfig: Path | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join([str(REPO / "operator"), str(REPO)]),
        "ZDOTDIR": str(bin_dir),  # no user's zsh startup files
    }
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return env


def offered(shell: str, env: dict[str, str], *words: str) -> list[str]:
    """What `shell` offers for `kubectl-taskops WORDS<TAB>` (the last word is the one being completed)."""
    binary = shutil.which(shell, path=env["PATH"])
    if binary is None:
        pytest.fail(ZSH_MISSING if shell == "zsh" else f"{shell} is not installed")
    script = _BASH if shell == "bash" else _ZSH
    proc = subprocess.run(
        [binary, "-c", script, shell, *words], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, f"{shell} exited {proc.returncode}: {proc.stderr}"
    return proc.stdout.splitlines()
