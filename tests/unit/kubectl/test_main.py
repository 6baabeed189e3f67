"""The command line itself: flags, durations, help on every command (no cluster needed)."""

from __future__ import annotations

import argparse
import shlex

import pytest

from taskops.kubectl import main

COMMANDS = ("run", "wait", "get", "describe", "logs", "cancel", "resume", "pause", "snooze", "versions", "trigger")


@pytest.mark.parametrize("command", [*COMMANDS, "completion"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main.main([command, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: kubectl taskops {command}")


def test_the_top_help_lists_the_commands_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main.main(["--help"])
    text = capsys.readouterr().out
    assert all(c in text for c in COMMANDS) and "exit codes" in text and "124      --timeout elapsed" in text


def test_connection_flags_go_before_or_after_the_command() -> None:
    before = main._parser().parse_args(["-n", "a", "--context", "c", "get", "runs"])
    after = main._parser().parse_args(["get", "runs", "-n", "b", "--kubeconfig", "k"])
    assert (before.namespace, before.context) == ("a", "c")
    assert (after.namespace, after.kubeconfig) == ("b", "k")


def test_durations_as_kubectl_takes_them() -> None:
    assert [main.duration(t) for t in ("90", "30s", "5m", "1h30m", "1.5h", "500ms", "2d")] == [
        90,
        30,
        300,
        5400,
        5400,
        0.5,
        172800,
    ]
    for bad in ("", "soon", "5 m", "m5"):
        with pytest.raises(argparse.ArgumentTypeError):
            main.duration(bad)


def test_priority_is_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.priority("-1000") == -1000
    with pytest.raises(SystemExit) as done:
        main.main(["run", "hello", "--priority", "1001"])
    assert done.value.code == 2 and "between -1000 and 1000" in capsys.readouterr().err


def test_a_kubeconfig_that_is_not_there_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["--kubeconfig", "/nonexistent/kubeconfig", "get", "runs"]) == 1
    assert capsys.readouterr().err.startswith("error: cannot use the kubeconfig")


def _example_argv(line: str) -> list[str]:
    """The arguments after `kubectl taskops` of one example line (`source <(kubectl taskops …)` included)."""
    line = line.strip()
    if line.startswith("source <("):
        line = line.removeprefix("source <(").rstrip(")")
    words = shlex.split(line, comments=True)
    assert words[:2] == ["kubectl", "taskops"], line
    return words[2:]


@pytest.mark.parametrize("command", [*COMMANDS, "completion"])
def test_every_commands_help_has_examples_that_parse(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main.main([command, "--help"])
    text = capsys.readouterr().out
    lines = text[text.index("\nexamples:\n") :].strip().splitlines()[1:]
    assert lines, f"{command} --help shows no example"
    for line in lines:
        argv = _example_argv(line)
        assert argv[0] == command, line
        main._parser().parse_args(argv)  # exits 2 (a failed test) on a flag or word the command does not take


def test_cancel_and_resume_take_a_run_or_a_task() -> None:
    parsed = [main._parser().parse_args(argv) for argv in (["cancel", "r1"], ["cancel", "run", "r1"])]
    assert [(a.kind, a.name) for a in parsed] == [("run", "r1"), ("run", "r1")]
    task = main._parser().parse_args(["resume", "task", "nightly"])
    assert (task.kind, task.name) == ("task", "nightly")
    with pytest.raises(SystemExit) as done:
        main._parser().parse_args(["cancel", "job", "x"])
    assert done.value.code == 2
