"""Reading request bodies: a byte limit per route, and a bound on what parsing them may cost in memory.

A JSON body is far bigger once parsed than on the wire: `[{},{},...]` is 3 bytes
per empty dict of 64 bytes (and a list slot), so 16 MiB of it becomes ~385 MiB.
Before parsing, `parse_cost` bounds from above what the parse will allocate,
counting the bytes that open containers and separate values (each count is one
pass in C); the body is parsed only once that cost fits in the process's body
memory budget, which every body in flight shares until its request ends.
"""

from __future__ import annotations

from aiohttp import web

from taskops.api.limits import HOLDS, LIMITS, caller_of, on_finish
from taskops.api.problems import DOCS, Problem

# Upper bounds per byte of JSON syntax on what CPython 3.11 (64-bit) allocates, measured with tracemalloc
# over the worst shapes (tests/unit/api/test_limits.py checks each; docs/security.md §4 has the table):
# `{` a dict of up to 5 entries (184 bytes) and its slot, `[` a list with its first slots, `:` a key
# object and the dict's growth, `,` (and the first value) a float, int or short str object and its slot.
_PER_DICT = 192
_PER_LIST = 96
_PER_KEY = 96
_PER_VALUE = 64
_PER_VALUE_WIDE = 96  # a str holding a character beyond Latin-1 has a larger header
# The route whose body carries a batch's `inputs` (docs/batch.md): its own, larger byte limit.
BATCH_ROUTES = frozenset({"/api/v1/actions/{name}/{mode}"})
_READ_CHUNK = 64 * 1024
# The parse-cost bound of the request's body, once read.
BODY_COST = web.RequestKey("taskops_body_cost", int)


def parse_cost(raw: bytes) -> int:
    """An upper bound on the bytes held while `json.loads(raw.decode())` runs: the bytes, the text, every object."""
    ascii_only = raw.isascii()
    # The decoded text: 1 byte a character for ASCII; up to 4 (one astral character makes every one 4 bytes);
    # the parsed strings copy their part of it once more.
    text = len(raw) if ascii_only else 4 * len(raw)
    values = raw.count(b",") + 1
    return (
        len(raw)
        + 2 * text
        + _PER_DICT * raw.count(b"{")
        + _PER_LIST * raw.count(b"[")
        + _PER_KEY * raw.count(b":")
        + (_PER_VALUE if ascii_only else _PER_VALUE_WIDE) * values
    )


def byte_limit(request: web.Request) -> int:
    limits = request.app[LIMITS]
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else ""
    return int(limits.max_batch_body_bytes if route in BATCH_ROUTES else limits.max_body_bytes)


def too_large(detail: str) -> Problem:
    return Problem(413, "Content Too Large", detail, type_=DOCS + "too-large")


async def read(request: web.Request) -> bytes:
    """The body, at most the route's byte limit (413 beyond it, before reading more than the limit), its parse
    cost held in the body budget (the caller's share) until the request ends."""
    limit = byte_limit(request)
    if request.content_length is not None and request.content_length > limit:
        raise too_large(f"the body is {request.content_length} bytes; this route accepts at most {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_READ_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise too_large(f"the body exceeds {limit} bytes, the most this route accepts")
        chunks.append(chunk)
    raw = b"".join(chunks)
    del chunks
    cost = parse_cost(raw)
    budget = request.app[HOLDS].bodies
    if cost > budget.total:
        raise too_large(
            f"the body ({len(raw)} bytes) would take up to {cost // 2**20} MiB of memory once parsed, more than "
            f"the {budget.total // 2**20} MiB this API process allows (many tiny values cost the most: "
            "send fewer, larger ones)"
        )
    # One large body (a batch) at a time may exceed a caller's share; small ones add up to it. A request
    # that then waits may not hold more than the share (trigger_create.wait_options).
    on_finish(request, budget.take(caller_of(request), cost, alone_may_exceed_share=True))
    request[BODY_COST] = cost
    return raw
