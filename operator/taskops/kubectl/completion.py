"""Shell completion: bash and zsh scripts that ask `kubectl-taskops __complete WORDS...` for candidates, and
`kubectl_complete-taskops`, which kubectl (1.26+) itself calls to complete `kubectl taskops <TAB>`.

The candidates come from one function (`candidates`): the commands, then Task and Run names read from the
cluster with the same kubeconfig, context and namespace flags as the command line being completed, a flag's
values, and the command's flag names for a word that begins with "-"."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import TextIO

from taskops.clients.errors import ApiError
from taskops.clients.resources import RUNS, TASKS
from taskops.domain.resources import apinames
from taskops.domain.resources.phases import Phase
from taskops.kubectl import output
from taskops.kubectl.session import CliError, Session

COMMANDS = (
    "run",
    "wait",
    "get",
    "describe",
    "logs",
    "cancel",
    "resume",
    "pause",
    "snooze",
    "versions",
    "trigger",
    "completion",
)
_CONNECTION = ("-n", "--namespace", "--context", "--kubeconfig")
# The commands' other flags that take a value (tests/unit/kubectl/test_completion.py checks them against the
# parser): their value is not a command word, and what it may be is below (a file, a duration: the shell's).
VALUED: tuple[str, ...] = ("-p", "--param", "--version", "--agent", "--priority", "--inputs", "--timeout")
VALUED += ("-o", "--output", "--task", "--phase", "--for", "--reason", "--id")
_VALUES: dict[str, tuple[str, ...]] = {
    "-o": output.FORMATS,
    "--output": output.FORMATS,
    "--phase": tuple(p.value for p in Phase),
    "--task": ("tasks",),
}
# Each command's long flags, offered for a word that begins with "-" (the same test checks them against the parser:
# building the parser here would load the commands, which a TAB must not wait for).
FLAGS: dict[str, tuple[str, ...]] = {
    "run": ("--param", "--version", "--agent", "--priority", "--inputs", "--wait", "--follow", "--timeout", "--output"),
    "wait": ("--follow", "--timeout", "--output"),
    "get": ("--task", "--phase", "--output"),
    "describe": (),
    "logs": ("--follow",),
    "cancel": ("--output",),
    "resume": ("--output",),
    "pause": ("--output",),
    "snooze": ("--for", "--reason", "--output"),
    "versions": ("--output",),
    "trigger": ("--param", "--id", "--output"),
    "completion": (),
}
_EVERYWHERE = ("--namespace", "--context", "--kubeconfig", "--help")
# What each command completes next, by the words it already has: "tasks"/"runs" are names from the cluster.
_NEXT: dict[str, dict[tuple[str, ...], tuple[str, ...]]] = {
    "run": {(): ("tasks",)},
    "versions": {(): ("tasks",)},
    "wait": {(): ("runs",)},
    "logs": {(): ("runs",)},
    "describe": {(): ("run",), ("run",): ("runs",)},
    "cancel": {(): ("task", "runs"), ("task",): ("tasks",), ("run",): ("runs",)},
    "resume": {(): ("task", "runs"), ("task",): ("tasks",), ("run",): ("runs",)},
    "pause": {(): ("task",), ("task",): ("tasks",)},
    "snooze": {(): ("task",), ("task",): ("tasks",)},
    "get": {(): ("runs", "tasks", "agents"), ("runs",): ("runs",), ("tasks",): ("tasks",)},
    "completion": {(): ("bash", "zsh")},
}


def _split(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """The connection flags (-n ns, --context=c, ...) and the other words, flags and their values dropped."""
    flags: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(words) - 1:  # the last word is the one being completed
        word = words[i]
        key, eq, value = word.partition("=")
        if key in _CONNECTION:
            name = "namespace" if key in ("-n", "--namespace") else key.lstrip("-")
            if eq:
                flags[name] = value
            elif i + 1 < len(words) - 1:
                flags[name] = words[i + 1]
                i += 1
        elif key in VALUED:
            i += 0 if eq else 1  # its value, when it is the next word
        elif not word.startswith("-"):
            rest.append(word)
        i += 1
    return flags, rest


async def _names(kind: str, flags: dict[str, str]) -> list[str]:
    s = Session.open(flags.get("kubeconfig"), flags.get("context"), flags.get("namespace"))
    async with s.client:
        if kind == "tasks":
            return [
                apinames.task_api_name(t["metadata"]["name"], t["metadata"].get("annotations"))
                for t in await s.client.list(TASKS, s.namespace)
            ]
        return [r["metadata"]["name"] for r in await s.client.list(RUNS, s.namespace)]


def _cluster_names(kind: str, flags: dict[str, str]) -> list[str]:
    """Names from the cluster, or none when it cannot tell within 5 s (completion never shows an error)."""
    with contextlib.suppress(CliError, ApiError, OSError, TimeoutError):
        return asyncio.run(asyncio.wait_for(_names(kind, flags), 5))
    return []


def candidates(words: list[str]) -> list[str]:
    """What may come next after `kubectl taskops WORDS` (the last word is the partial one being completed)."""
    current = words[-1] if words else ""
    flags, done = _split(words)
    found: list[str] = []
    if words[-2:-1] and words[-2] in _CONNECTION:
        return []  # a namespace, context or file name: the shell's own business
    if words[-2:-1] and words[-2] in VALUED:
        found = list(_VALUES.get(words[-2], ()))
        if found == ["tasks"]:
            found = _cluster_names("tasks", flags)
        return [c for c in found if c.startswith(current)]
    if current.startswith("-"):
        found = [*(FLAGS.get(done[0], ()) if done else ()), *_EVERYWHERE]
    elif not done:
        found = list(COMMANDS)
    else:
        for item in _NEXT.get(done[0], {}).get(tuple(done[1:]), ()):
            if item in ("tasks", "runs") and not (done[0] == "get" and not done[1:]):
                found += _cluster_names(item, flags)
            else:
                found.append(item)
    return [c for c in found if c.startswith(current)]


def complete(words: list[str], out: TextIO) -> int:
    """`kubectl-taskops __complete WORDS...`: one candidate a line (what the shell scripts read)."""
    for c in candidates(words):
        print(c, file=out)
    return 0


def kubectl_complete() -> int:
    """`kubectl_complete-taskops __complete WORDS...`: kubectl's plugin completion, in cobra's format (the
    candidates, then `:4`, "no file completion")."""
    words = sys.argv[2:] if sys.argv[1:2] == ["__complete"] else sys.argv[1:]
    for c in candidates(words):
        print(c)
    print(":4")
    return 0


_BASH = """# bash completion for kubectl-taskops (and `kubectl taskops` through kubectl_complete-taskops)
_kubectl_taskops() {
    local IFS=$'\\n'
    COMPREPLY=($(kubectl-taskops __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _kubectl_taskops kubectl-taskops
"""

# Sourced (`source <(kubectl taskops completion zsh)`, after compinit) it registers itself with compdef; saved as
# `_kubectl-taskops` in a directory of $fpath, compinit autoloads it and it completes at once (cobra's pattern).
# No candidate (a file argument like --inputs, --kubeconfig) falls back to file names, as bash's `-o default`.
_ZSH = """#compdef kubectl-taskops
# zsh completion for kubectl-taskops (and `kubectl taskops` through kubectl_complete-taskops)
_kubectl_taskops() {
    local -a names
    names=(${(f)"$(kubectl-taskops __complete "${(@)words[2,CURRENT]}" 2>/dev/null)"})
    if (( ${#names} )); then
        compadd -a names
    else
        _files
    fi
}
if [[ "${zsh_eval_context[-1]}" == loadautofunc ]]; then
    _kubectl_taskops "$@"
else
    compdef _kubectl_taskops kubectl-taskops
fi
"""


def script(shell: str) -> str:
    return _BASH if shell == "bash" else _ZSH
