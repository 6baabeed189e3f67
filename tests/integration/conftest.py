"""The integration suite's fixtures (one control plane, operator and API per session) live in tests/conftest.py,
shared with tests/security."""

from __future__ import annotations

from pathlib import Path

import pytest

from devcluster import build

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def helm_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home for helm (its cache, config and data), per module; helm built first."""
    build.ensure_built(quiet=True)
    return tmp_path_factory.mktemp("helm-home")
