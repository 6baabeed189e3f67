"""Where the tests find the repository and write their output (logs, short chaos counts)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUTPUT = Path(os.environ.get("TASKOPS_TEST_OUTPUT", REPO / "test-output"))
