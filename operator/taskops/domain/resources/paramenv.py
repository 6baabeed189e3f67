"""How a param becomes an environment variable: its name and its value as text.

Apart from params.py (which needs pydantic) so that the batch init container (`python -m taskops.batchinit`),
which starts once per input, imports only the standard library.
"""

from __future__ import annotations

import json
import re
from typing import Any

PARAM_PREFIX = "TASKOPS_PARAM_"


def env_name(name: str, prefix: str = PARAM_PREFIX) -> str:
    return prefix + re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


def env_value(value: Any) -> str:
    """Strings as they are; everything else as JSON (so `true`, `3`, `{"a": 1}` read back exactly)."""
    return value if isinstance(value, str) else json.dumps(value)
