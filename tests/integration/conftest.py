"""The integration suite's fixtures (one control plane, operator and API per session) live in tests/conftest.py,
shared with tests/security."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration
