"""Where the client's bearer token and default namespace come from: in a pod, its service account's files.

A projected service-account token rotates (the kubelet rewrites the file well before it expires), so the
token is read again once it is older than `reread_seconds` (60, client-go's period for the same file) and
at once after the API answered 401.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from taskops.client.errors import ClientError

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_FILE = SERVICE_ACCOUNT / "token"
NAMESPACE_FILE = SERVICE_ACCOUNT / "namespace"
REREAD_SECONDS = 60.0
# A token file larger than this is not a token (a JWT is ~1 KB).
MAX_TOKEN_BYTES = 64 * 1024


class TokenSource:
    """A fixed token, or one read from a file and read again as it rotates. Thread-safe."""

    def __init__(
        self,
        token: str | None = None,
        token_file: str | Path | None = None,
        reread_seconds: float = REREAD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fixed = token
        self.file = Path(token_file) if token_file is not None else TOKEN_FILE
        self.reread_seconds = reread_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._read_at = 0.0

    def get(self) -> str:
        if self._fixed is not None:
            return self._fixed
        with self._lock:
            now = self._clock()
            if self._token is None or now - self._read_at >= self.reread_seconds:
                self._token, self._read_at = self._read(), now
            return self._token

    def refused(self) -> bool:
        """The API refused the token (401): forget it. True when a fresh read may help (a file, not a fixed token)."""
        if self._fixed is not None:
            return False
        with self._lock:
            self._token = None
        return True

    def _read(self) -> str:
        try:
            with self.file.open("rb") as f:
                data = f.read(MAX_TOKEN_BYTES + 1)
        except OSError as exc:
            raise ClientError(
                f"no token: pass token= or token_file=, or run in a pod with a service-account token ({exc})"
            ) from None
        if len(data) > MAX_TOKEN_BYTES:
            raise ClientError(f"{self.file} is larger than {MAX_TOKEN_BYTES} bytes: not a token")
        token = data.decode("utf-8", "replace").strip()
        if not token:
            raise ClientError(f"{self.file} is empty")
        return token


def pod_namespace(path: Path | None = None) -> str | None:
    """The pod's own namespace (its service account's), if the client runs in a pod."""
    try:
        return (path or NAMESPACE_FILE).read_text().strip() or None
    except OSError:
        return None
