"""Completion candidates that need no cluster: commands and the words each command takes next."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from taskops.kubectl import completion, main
from tests import completionshells
from tests.paths import REPO


def test_commands_complete_first() -> None:
    assert completion.candidates([""]) == list(completion.COMMANDS)
    assert completion.candidates(["re"]) == ["resume"]
    assert completion.candidates(["-n", "ns", "--context=c", "ca"]) == ["cancel"]


def test_fixed_words_come_next() -> None:
    assert completion.candidates(["get", ""]) == ["runs", "tasks", "agents"]
    assert completion.candidates(["pause", ""]) == ["task"]
    assert completion.candidates(["describe", "r"]) == ["run"]
    assert completion.candidates(["completion", "z"]) == ["zsh"]
    assert completion.candidates(["run", "hello", ""]) == []  # TASK given: nothing more to offer


def test_a_connection_flags_value_is_left_to_the_shell() -> None:
    assert completion.candidates(["--kubeconfig", ""]) == []


def test_the_connection_flags_are_read_from_the_line() -> None:
    flags, words = completion._split(["-n", "a", "--context=c", "--kubeconfig", "k", "cancel", "task", "x"])
    assert flags == {"namespace": "a", "context": "c", "kubeconfig": "k"} and words == ["cancel", "task"]


def test_the_scripts_call_the_plugin() -> None:
    assert "kubectl-taskops __complete" in completion.script("bash")
    assert "#compdef kubectl-taskops" in completion.script("zsh")


def test_a_flags_value_is_not_a_command_word() -> None:
    flags, words = completion._split(["run", "-p", "x=1", "--timeout=5m", "hello", "--wait", ""])
    assert (flags, words) == ({}, ["run", "hello"])
    assert completion.candidates(["get", "runs", "-o", "j"]) == ["json"]
    assert completion.candidates(["get", "runs", "--phase", "S"]) == ["SCHEDULED", "SUCCEEDED", "STOPPED"]
    assert completion.candidates(["run", "--inputs", ""]) == []  # a file: the shell's


def test_the_flags_that_take_a_value_are_the_parsers() -> None:
    valued = {
        option
        for sub in main._parser()._subparsers._group_actions[0].choices.values()  # type: ignore[union-attr]
        for action in sub._actions
        if action.nargs != 0 and action.option_strings
        for option in action.option_strings
    }
    assert valued - {"-n", "--namespace", "--context", "--kubeconfig"} == set(completion.VALUED)


def test_flag_names_are_the_parsers() -> None:
    commands = main._parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    long = {
        name: {o for action in sub._actions for o in action.option_strings if o.startswith("--")}
        for name, sub in commands.items()
    }
    everywhere = {"--namespace", "--context", "--kubeconfig", "--help"}
    assert {name: flags - everywhere for name, flags in long.items()} == {
        name: set(flags) for name, flags in completion.FLAGS.items()
    }
    assert all(everywhere <= flags for flags in long.values())


def test_a_word_that_begins_with_a_dash_completes_the_commands_flags() -> None:
    assert completion.candidates(["get", "runs", "--p"]) == ["--phase"]
    assert completion.candidates(["run", "nightly", "--w"]) == ["--wait"]
    assert completion.candidates(["logs", "r1", "-"]) == [
        "--follow",
        "--namespace",
        "--context",
        "--kubeconfig",
        "--help",
    ]
    assert completion.candidates(["--n"]) == ["--namespace"]  # before the command: the connection flags
    assert completion.candidates(["describe", "--c"]) == ["--context"]


@pytest.mark.parametrize("shell", ["bash"])  # zsh: tests/integration/test_cli.py (make shells installs it)
def test_the_script_completes_in_the_shell(shell: str, tmp_path: Path) -> None:
    env = completionshells.plugin_env(completionshells.plugin_bin(tmp_path))
    assert completionshells.offered(shell, env, "re") == ["resume"]
    assert completionshells.offered(shell, env, "get", "") == ["runs", "tasks", "agents"]
    assert completionshells.offered(shell, env, "get", "runs", "-o", "ya") == ["yaml"]
    assert completionshells.offered(shell, env, "get", "runs", "--ph") == ["--phase"]


def test_completing_does_not_load_the_commands() -> None:
    """A TAB costs a Python start: the commands' imports (the API's models, the domain) are left out of it."""
    code = (
        "import io, sys; from taskops.kubectl import main; out = io.StringIO(); main.main(['__complete', 're'], out);"
        "print(out.getvalue().strip(), 'taskops.kubectl.commands' in sys.modules, 'taskops.api.schemas' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "operator"), str(REPO)])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["resume", "False", "False"], done.stderr
