"""docs/cli.md covers the command line as it is (issue 24, "Done when"): every command has an example in the
session tests/integration/test_cli.py runs, and every command and flag is documented."""

from __future__ import annotations

import argparse
import re
import shlex

from taskops.kubectl import main
from tests.clidocs import CLI_MD, docs_session


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = main._parser()._subparsers._group_actions[0]  # type: ignore[union-attr]
    assert isinstance(action, argparse._SubParsersAction)
    return dict(action.choices)


def session_commands() -> list[list[str]]:
    """Each `kubectl taskops …` of the session, as argv after `taskops` (a `$(…)` or `<(…)` unwrapped)."""
    found = []
    for line in docs_session().splitlines():
        for call in re.findall(r"kubectl taskops ([^)|]*)", line):
            found.append(shlex.split(call, comments=True))
    return found


def test_every_command_has_an_example_in_the_tested_session() -> None:
    used = {argv[0] for argv in session_commands()}
    assert sorted(set(subcommands()) - used) == []


def test_every_command_of_the_session_parses() -> None:
    for argv in session_commands():
        main._parser().parse_args(["some-run" if w.startswith("$") else w for w in argv])  # $RUN: a name


def test_every_command_and_flag_is_documented() -> None:
    text = CLI_MD.read_text()
    for name, parser in subcommands().items():
        assert f"`{name} " in text or f"`{name}`" in text, f"docs/cli.md: no `{name}` in the commands"
        for action in parser._actions:
            for option in action.option_strings:
                assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), f"docs/cli.md: {name} {option}"
