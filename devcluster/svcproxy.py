"""`python -m devcluster.svcproxy SERVER PKI_DIR BRIDGE`: the real node's Services, without kube-proxy.

Every second it reads the cluster's Services and EndpointSlices; for each TCP port of a Service
with a ClusterIP it puts that ClusterIP on the pods' bridge (so it is an address of this host
that only the bridge's pods and the host itself reach) and listens there, forwarding each
connection to a ready endpoint (round robin). The `kubernetes` Service has no endpoints here (the
API server does not publish a loopback advertise address), so its port forwards to the API server
(SERVER) on 127.0.0.1: in-cluster clients reach it at 10.96.0.1:443 as on any cluster. The chart's
API Service works through its EndpointSlices. TLS and HTTP pass through untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import ssl
import sys
import urllib.request
from pathlib import Path
from typing import Any

CHUNK = 64 * 1024
MAX_CONNECTIONS = 512  # per listener; far above what a test or a handful of pods open
POLL_SECONDS = 1.0
Key = tuple[str, int]  # (ClusterIP, port)


def _get(server: str, ctx: ssl.SSLContext, path: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(server + path, context=ctx, timeout=10) as resp:
        return json.loads(resp.read())["items"]  # type: ignore[no-any-return]


def routes(
    services: list[dict[str, Any]], slices: list[dict[str, Any]], api_port: int
) -> dict[Key, list[tuple[str, int]]]:
    """(ClusterIP, port) -> ready (address, port) endpoints, from Services and their EndpointSlices."""
    by_service: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for s in slices:
        meta = s["metadata"]
        owner = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        if owner and s.get("addressType") == "IPv4":
            by_service.setdefault((meta["namespace"], owner), []).append(s)
    out: dict[Key, list[tuple[str, int]]] = {}
    for svc in services:
        meta, spec = svc["metadata"], svc["spec"]
        ip = spec.get("clusterIP")
        if not ip or ip == "None":
            continue
        for port in spec.get("ports") or []:
            if port.get("protocol", "TCP") != "TCP":
                continue
            targets = []
            for s in by_service.get((meta["namespace"], meta["name"]), []):
                numbers = [p["port"] for p in s.get("ports") or [] if p.get("name", "") == port.get("name", "")]
                if not numbers:
                    continue
                for ep in s.get("endpoints") or []:
                    if (ep.get("conditions") or {}).get("ready", True):
                        targets += [(addr, int(numbers[0])) for addr in ep.get("addresses") or []]
            if (meta["namespace"], meta["name"]) == ("default", "kubernetes"):
                targets = [("127.0.0.1", api_port)]
            out[(ip, int(port["port"]))] = sorted(targets)
    return out


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()


class Proxy:
    def __init__(self, server: str, pki: Path, bridge: str) -> None:
        self.server = server
        self.api_port = int(server.rsplit(":", 1)[1])
        self.bridge = bridge
        self.ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        self.table: dict[Key, list[tuple[str, int]]] = {}
        self.listeners: dict[Key, asyncio.Server] = {}
        self.addresses: set[str] = set()
        self.turn = itertools.count()

    async def handle(self, key: Key, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        targets = self.table.get(key) or []
        if not targets:
            client_w.close()
            return
        host, port = targets[next(self.turn) % len(targets)]
        try:
            upstream_r, upstream_w = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        except (OSError, TimeoutError):
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, upstream_w), _pipe(upstream_r, client_w))

    async def listen(self, key: Key) -> None:
        ip, port = key
        if ip not in self.addresses:
            proc = await asyncio.create_subprocess_exec(
                "ip", "addr", "replace", f"{ip}/32", "dev", self.bridge,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, err = await proc.communicate()
            if proc.returncode != 0:
                raise OSError(f"ip addr replace {ip}/32 dev {self.bridge}: {err.decode().strip()}")
            self.addresses.add(ip)
        slots = asyncio.Semaphore(MAX_CONNECTIONS)

        async def bounded(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            if slots.locked():
                w.close()
                return
            async with slots:
                await self.handle(key, r, w)

        self.listeners[key] = await asyncio.start_server(bounded, ip, port)

    async def sync(self) -> None:
        loop = asyncio.get_running_loop()
        services = await loop.run_in_executor(None, _get, self.server, self.ctx, "/api/v1/services")
        slices = await loop.run_in_executor(
            None, _get, self.server, self.ctx, "/apis/discovery.k8s.io/v1/endpointslices"
        )
        self.table = routes(services, slices, self.api_port)
        for key in set(self.listeners) - set(self.table):
            self.listeners.pop(key).close()
        for key in set(self.table) - set(self.listeners):
            try:
                await self.listen(key)
            except OSError as e:
                print(f"svcproxy: cannot serve {key[0]}:{key[1]}: {e}", flush=True)

    async def run(self) -> None:
        while True:
            try:
                await self.sync()
            except (OSError, ValueError, KeyError) as e:
                print(f"svcproxy: {e}", flush=True)
            await asyncio.sleep(POLL_SECONDS)


def main() -> None:
    server, pki, bridge = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    asyncio.run(Proxy(server, pki, bridge).run())


if __name__ == "__main__":
    main()
