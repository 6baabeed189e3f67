"""docs/cli.md's session: the block of commands tests/integration/test_cli.py runs as it stands."""

from __future__ import annotations

from tests.paths import REPO

CLI_MD = REPO / "docs" / "cli.md"
MARKER = "test_the_session_in_docs_cli_md_runs"


def docs_session() -> str:
    """The block of docs/cli.md that follows its `test_the_session_in_docs_cli_md_runs` marker."""
    text = CLI_MD.read_text()
    after = text[text.index(MARKER) :]
    return after[after.index("```sh\n") + len("```sh\n") : after.index("\n```", after.index("```sh\n"))]
