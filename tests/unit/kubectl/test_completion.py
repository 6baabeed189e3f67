"""Completion candidates that need no cluster: commands and the words each command takes next."""

from __future__ import annotations

from taskops.kubectl import completion


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
