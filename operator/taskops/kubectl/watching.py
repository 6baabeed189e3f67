"""Waiting for a Run to end (one watch on it) and following the logs of every attempt, retries included."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncGenerator, Callable
from typing import Any, TextIO

from taskops.clients.errors import ApiError, NotFound
from taskops.clients.resources import PODS, RUNS
from taskops.domain.resources import names
from taskops.domain.resources.phases import POD_ENDED_PHASES, POD_STARTED_PHASES, is_terminal, raw_phase
from taskops.kubectl import progress
from taskops.kubectl.session import CliError, Session

# A watch is re-opened at least this often (the API server ends it at its own timeout anyway).
WATCH_SECONDS = 300
# How often --follow looks for the next attempt's pod.
POLL_SECONDS = 1.0
# A followed log that has been quiet this long, of a pod that has ended, is complete.
QUIET_SECONDS = 1.0


# Deadlines (`--timeout`) and the quiet time that ends a followed log are read on the event loop's clock, not the
# Session's: they bound how long a watch or a log stream is held open (asyncio.timeout), as the clock's module says
# of deadlines on real I/O.
def _left(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - asyncio.get_running_loop().time()


async def wait_run(
    s: Session, name: str, deadline: float | None, seen: Callable[[dict[str, Any]], None]
) -> tuple[dict[str, Any], bool]:
    """(the run as last seen, whether it ended) once it ends or the deadline (loop time) passes.

    `seen` is called with every version of the run that arrives (what a progress bar draws)."""
    run = await s.run(name)
    while True:
        seen(run)
        if is_terminal(raw_phase(run)):
            return run, True
        left = _left(deadline)
        if left is not None and left <= 0:
            return run, False
        watch = s.client.watch(
            RUNS,
            s.namespace,
            resource_version=run["metadata"].get("resourceVersion"),
            field_selector=f"metadata.name={name}",
            timeout_seconds=int(min(left or WATCH_SECONDS, WATCH_SECONDS)) + 1,
        )
        try:
            async with asyncio.timeout(left):
                async for kind, obj in watch:
                    if kind == "DELETED":
                        raise CliError(f'run "{name}" was deleted while waiting')
                    if kind in ("ADDED", "MODIFIED"):
                        run = obj
                        seen(run)
                        if is_terminal(raw_phase(run)):
                            return run, True
        except TimeoutError:
            return run, False
        except ApiError as exc:
            if exc.status != 410:  # 410 Gone: the version is too old; read the run again
                raise
        finally:
            await watch.aclose()  # type: ignore[attr-defined]
        run = await s.run(name)


class Reporter:
    """Draws a batch run's progress while waiting: a bar redrawn in place on a terminal, otherwise a plain line
    each time the counts change; an ordinary run gets a line when its phase changes."""

    def __init__(self, s: Session, out: TextIO, quiet: bool = False) -> None:
        self.s, self.out, self.quiet = s, out, quiet
        self.tty = out.isatty()
        self._last = ""

    def __call__(self, run: dict[str, Any]) -> None:
        if self.quiet:
            return
        p = progress.of_run(run, self.s.now())
        if self.tty and p is not None:
            text = progress.bar(p)
            if text != self._last:
                self.out.write("\r\x1b[2K" + text)
                self.out.flush()
        else:
            text = progress.line(run, p)
            if text != self._last:
                print(text, file=self.out, flush=True)
        self._last = text

    def close(self) -> None:
        if self.tty and self._last.startswith("["):
            self.out.write("\n")
            self.out.flush()


async def _pods(s: Session, name: str) -> list[dict[str, Any]]:
    pods = await s.client.list(PODS, s.namespace, label_selector=f"{names.LABEL_RUN}={name}")

    def order(p: dict[str, Any]) -> tuple[int, str]:
        labels = p["metadata"].get("labels") or {}
        return int(labels.get(names.LABEL_ATTEMPT) or 0), p["metadata"].get("creationTimestamp") or ""

    return sorted(pods, key=order)


async def _pod_ended(s: Session, name: str) -> bool:
    try:
        pod = await s.client.get(PODS, s.namespace, name)
    except NotFound:
        return True
    return (pod.get("status") or {}).get("phase") in POD_ENDED_PHASES


async def _pump(chunks: AsyncGenerator[bytes, None], out: TextIO, last: list[float]) -> None:
    try:
        async for chunk in chunks:
            out.write(chunk.decode("utf-8", errors="replace"))
            out.flush()
            last[0] = asyncio.get_running_loop().time()
    except NotFound:
        return  # the pod went away (its Job was deleted): nothing more to read
    finally:
        await chunks.aclose()


async def stream_pod(s: Session, pod: dict[str, Any], follow: bool, out: TextIO) -> None:
    """One pod's log to `out`, as it comes (each container in turn).

    Following ends when the pod has ended and the log has been quiet for a moment: a kubelet ends the stream
    itself when the container exits, but not every log server does (kwok's never ends), and a pod that had
    already ended is read to its end without following."""
    meta = pod["metadata"]
    follow = follow and (pod.get("status") or {}).get("phase") not in POD_ENDED_PHASES
    containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    loop = asyncio.get_running_loop()
    for container in containers or [None]:
        chunks = s.client.pod_logs(s.namespace, meta["name"], follow, container if len(containers) > 1 else None)
        last = [loop.time()]
        pump = asyncio.create_task(_pump(chunks, out, last))
        try:
            while follow and not pump.done():
                await asyncio.wait({pump}, timeout=POLL_SECONDS)
                if not pump.done() and loop.time() - last[0] >= QUIET_SECONDS and await _pod_ended(s, meta["name"]):
                    pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        finally:
            pump.cancel()


async def follow_run(s: Session, name: str, deadline: float | None, out: TextIO) -> tuple[dict[str, Any], bool]:
    """Stream every attempt's pod log as it runs, one after the other, until the run ends: (run, ended)."""
    done: set[str] = set()
    while True:
        run = await s.run(name)
        ended = is_terminal(raw_phase(run))
        for pod in await _pods(s, name):
            meta = pod["metadata"]
            if meta["name"] in done or (pod.get("status") or {}).get("phase") not in POD_STARTED_PHASES:
                continue
            attempt = (meta.get("labels") or {}).get(names.LABEL_ATTEMPT, "?")
            print(f"==> {name}: attempt {attempt}, pod {meta['name']} <==", file=sys.stderr, flush=True)
            left = _left(deadline)
            try:
                async with asyncio.timeout(left):
                    await stream_pod(s, pod, True, out)
            except TimeoutError:
                return await s.run(name), False
            except ApiError as exc:
                # A container that has not started or was removed: say so and go on to the next.
                print(f"(no log: {exc.message})", file=sys.stderr, flush=True)
            done.add(meta["name"])
        if ended:
            return run, True
        left = _left(deadline)
        if left is not None and left <= 0:
            return run, False
        with contextlib.suppress(TimeoutError):
            await asyncio.sleep(POLL_SECONDS if left is None else min(POLL_SECONDS, left))
