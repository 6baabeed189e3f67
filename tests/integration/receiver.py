"""A webhook receiver on loopback: answers from a script per path, records every request it gets."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class Receiver:
    """`script[path]` lists the status codes to answer in turn (the last one repeats; default 200);
    `bodies[path]` is the body (and its headers) sent with them; a path in `hang` is read and never answered."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.requests: list[Received] = []
        self.script: dict[str, list[int]] = {}
        self.bodies: dict[str, tuple[dict[str, str], bytes]] = {}
        self.hang: set[str] = set()
        self.held = 0  # requests to a `hang` path held open right now
        self.host = host
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers), body, time.monotonic()))
                    codes = receiver.script.get(self.path, [200])
                    code = codes.pop(0) if len(codes) > 1 else codes[0]
                    headers, answer = receiver.bodies.get(self.path, ({}, b""))
                if self.path in receiver.hang:
                    with receiver._lock:
                        receiver.held += 1
                    try:
                        receiver._stopping.wait()
                    finally:
                        with receiver._lock:
                            receiver.held -= 1
                    return
                self.send_response(code)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = (_Server6 if ":" in host else ThreadingHTTPServer)((host, port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str | None = None) -> str:
        """The URL of `path`, with the receiver's own address or `host` (another spelling of it)."""
        host = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"http://{host}:{self.port}{path}"

    def to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def stop(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()
