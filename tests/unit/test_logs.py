"""The log formatters (logs.py): JSON lines with the context, never a token."""

from __future__ import annotations

import json
import logging

from taskops import logs


def test_json_lines_carry_the_context_and_never_a_token() -> None:
    record = logging.LogRecord(
        "taskops.x", logging.WARNING, __file__, 1, "sent Authorization: Bearer %s", ("abc.def.ghijklmnop",), None
    )
    token = logs.bind(run="r1", namespace="ns", trace_id="t1")
    try:
        line = json.loads(logs.JsonFormatter().format(record))
        text = logs.TextFormatter().format(record)
    finally:
        logs.CONTEXT.reset(token)
    assert (line["run"], line["namespace"], line["trace_id"], line["level"]) == ("r1", "ns", "t1", "WARNING")
    assert "abc.def" not in line["message"] and "[redacted]" in line["message"]
    assert "abc.def" not in text and "run=r1" in text
