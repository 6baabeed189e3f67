"""Writing a batch Run's input chunks (docs/batch.md): what the REST API and `kubectl taskops run --inputs` share."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from taskops.clients.errors import AlreadyExists, ApiError
from taskops.clients.kube import KubeClient
from taskops.clients.resources import CONFIGMAPS, RUNS
from taskops.domain.execution import batch

# Chunk writes in flight at once: a 100,000-input run has up to 1,000 chunks.
PARALLEL = 8


async def write_chunks(client: KubeClient, run: dict[str, Any], chunks: list[str]) -> None:
    """Write a batch Run's input chunks, owned by it; on failure delete the Run (and so what was written) and
    raise the ApiError. Chunks that exist are kept, so a request that died half-way completes when replayed."""
    meta = run["metadata"]
    maps = batch.chunk_config_maps(meta["name"], meta["uid"], meta["namespace"], chunks)
    limit = asyncio.Semaphore(PARALLEL)

    async def write(obj: dict[str, Any]) -> None:
        async with limit:
            with contextlib.suppress(AlreadyExists):
                await client.create(CONFIGMAPS, meta["namespace"], obj)

    try:
        await asyncio.gather(*(write(obj) for obj in maps))
    except ApiError:
        with contextlib.suppress(ApiError):
            await client.delete(RUNS, meta["namespace"], meta["name"])
        raise
