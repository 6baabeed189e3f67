"""Logging: plain text for people, JSON lines for machines, with the run, task and trace id of the work at hand.

Handlers set `CONTEXT` (a contextvar) around one reconcile or one request; every
line logged inside carries it. Bearer tokens are masked in any message as a
last line of defence: nothing should log one in the first place.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import uuid
from typing import Any

CONTEXT: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("taskops_log_context", default=None)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")


def new_trace_id() -> str:
    return uuid.uuid4().hex[:16]


def bind(**fields: str) -> contextvars.Token[dict[str, str] | None]:
    """Add fields (run, task, namespace, trace_id) to every line logged in this context."""
    return CONTEXT.set({**(CONTEXT.get() or {}), **fields})


def redact(text: str) -> str:
    return _BEARER.sub(r"\1[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            **(CONTEXT.get() or {}),
        }
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        context = CONTEXT.get()
        text = redact(super().format(record))
        if context:
            text += " [" + " ".join(f"{k}={v}" for k, v in context.items()) + "]"
        return text


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
