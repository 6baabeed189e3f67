"""Accepting a batch: 100,000 inputs in one REST request, next to writing the same bytes as raw ConfigMaps.

On a fresh control plane with the operator and the API as real processes:

1. reference: the chunks `taskops.domain.execution.batch.plan_chunks` makes of the inputs, created directly as
   ConfigMaps with the admin client (8 at a time, as the API writes them);
2. taskops: `POST /api/v1/actions/{task}/async` with `{"inputs": [...]}` — each input validated against the
   Task's params schema (4 params; `--no-params`: a Task without one, inputs passed as they are), chunked, the Run
   and its ConfigMaps written — timed until the answer, with the API's peak RSS (VmHWM) and the number
   of ConfigMaps the Run owns.

Only accepting is measured: the answer comes before the operator starts the Indexed Job.

    python -m bench.batch --inputs 100000 [--no-params]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import aiohttp

from bench.common import client, cluster_with_api, rss_mb, save
from taskops.clients.resources import CONFIGMAPS
from taskops.domain.execution import batch
from tests.integration.api import ApiProcess

NS = "bench-batch"
TASK = "batch"
# The params each input carries (`inputs` below), declared so that every element is validated as a run's params.
PARAMS = [
    {"name": "order", "type": "string", "required": True},
    {"name": "customer", "type": "string"},
    {"name": "amount", "type": "integer", "default": 0},
    {"name": "note", "type": "string", "default": ""},
]


def inputs(n: int) -> list[dict[str, Any]]:
    # About 100 bytes of JSON each, as the issue states.
    return [{"order": f"ORD-{i:08d}", "customer": f"C-{i % 9973:05d}", "amount": i % 1000, "note": "x" * 30}
            for i in range(n)]  # fmt: skip


async def raw_configmaps(kube: Any, texts: list[str]) -> float:
    limit = asyncio.Semaphore(8)
    maps = batch.chunk_config_maps("raw-reference", "00000000-0000-0000-0000-000000000000", NS, texts)
    for obj in maps:
        obj["metadata"].pop("ownerReferences", None)

    async def one(obj: dict[str, Any]) -> None:
        async with limit:
            await kube.create(CONFIGMAPS, NS, obj)

    started = time.perf_counter()
    await asyncio.gather(*(one(obj) for obj in maps))
    return time.perf_counter() - started


async def bench(cluster: Any, api_proc: ApiProcess, token: str, n: int, params: bool = True) -> dict[str, Any]:
    values = inputs(n)
    _, texts = batch.plan_chunks(values)
    async with client(cluster) as kube, aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {token}"}
        pod = {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}
        task: dict[str, Any] = {"name": TASK, "title": "batch bench", "description": "bench.batch",
                                "payload": {"spec": {"template": pod}}}  # fmt: skip
        if params:
            task["params"] = PARAMS
        async with session.post(f"{api_proc.url}/api/v1/tasks?namespace={NS}", json=task, headers=headers) as r:
            assert r.status == 201, await r.text()
        raw_s = await raw_configmaps(kube, texts)
        rss_before = rss_mb(api_proc.proc.pid)
        started = time.perf_counter()
        url = f"{api_proc.url}/api/v1/actions/{TASK}/async?namespace={NS}"
        async with session.post(url, json={"inputs": values}, headers=headers) as r:
            body = await r.json()
            assert r.status == 201, body
        accept_s = time.perf_counter() - started
        owned = await kube.list(CONFIGMAPS, NS, label_selector=f"taskops.dev/run={body['id']}")
        return {
            "inputs": n,
            "params_schema": params,
            "payload_mb": sum(len(t) for t in texts) / 1e6,
            "chunks": len(texts),
            "configmaps_owned": len(owned),
            "raw_configmaps_s": raw_s,
            "accept_s": accept_s,
            "ratio": accept_s / raw_s,
            "api_rss_before_mb": rss_before,
            "api_rss_peak_mb": rss_mb(api_proc.proc.pid, "VmHWM"),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--no-params", action="store_true", help="a Task without params: inputs are not validated")
    args = parser.parse_args()
    started = time.monotonic()
    with cluster_with_api(NS) as (cluster, api_proc, token):
        r = asyncio.run(bench(cluster, api_proc, token, args.inputs, not args.no_params))
    r["runtime_s"] = time.monotonic() - started
    checked = "each validated against 4 params" if r["params_schema"] else "no params schema"
    print(f"\n{r['inputs']} inputs ({checked}; {r['payload_mb']:.1f} MB as JSON lines) in {r['chunks']} chunks")
    print(f"raw ConfigMap writes of the same chunks: {r['raw_configmaps_s']:.2f} s")
    print(f"REST accept (validate, chunk, write Run + ConfigMaps): {r['accept_s']:.2f} s (target <= 5 s), "
          f"ratio {r['ratio']:.2f}")  # fmt: skip
    print(f"ConfigMaps owned by the Run: {r['configmaps_owned']} (target <= 100)")
    print(f"API RSS: {r['api_rss_before_mb']:.0f} MB before, peak {r['api_rss_peak_mb']:.0f} MB (target <= 300 MB)")
    print(f"saved {save('batch', r)} ({r['runtime_s']:.0f} s)")


if __name__ == "__main__":
    main()
