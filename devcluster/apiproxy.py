"""`python -m devcluster.apiproxy LISTEN_HOST LISTEN_PORT TARGET_PORT`: a TCP forwarder to 127.0.0.1:TARGET_PORT.

The real node's pods reach the API server as in-cluster clients do, at the `kubernetes` Service's
address (10.96.0.1:443, which the kubelet puts in KUBERNETES_SERVICE_HOST/PORT). No kube-proxy
runs; instead that address is put on the pods' bridge and this process forwards it to the API
server on loopback. TLS passes through untouched (the API server's certificate names 10.96.0.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

CHUNK = 64 * 1024
MAX_CONNECTIONS = 512  # a bound, far above what a handful of operator and API pods open


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


async def serve(host: str, port: int, target: int) -> None:
    slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if slots.locked():
            client_w.close()
            return
        async with slots:
            try:
                upstream_r, upstream_w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", target), 10)
            except (OSError, TimeoutError):
                client_w.close()
                return
            await asyncio.gather(_pipe(client_r, upstream_w), _pipe(upstream_r, client_w))

    server = await asyncio.start_server(handle, host, port)
    async with server:
        await server.serve_forever()


def main() -> None:
    host, port, target = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    asyncio.run(serve(host, port, target))


if __name__ == "__main__":
    main()
