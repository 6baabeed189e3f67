"""The blocking client: the same methods as AsyncClient, run on a private event loop in a background thread.

One implementation of every call (AsyncClient's), so both clients send the same requests, retry the same
way and raise the same errors. The loop thread makes the blocking client usable from any thread at once
(a web server's workers) and from code that already runs an event loop elsewhere.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar, Unpack

from taskops.client.aio import AsyncClient, Options

P = ParamSpec("P")
T = TypeVar("T")


def _blocking(
    method: Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[Client, P], T]:
    def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(method(self.aio, *args, **kwargs))

    call.__name__, call.__doc__ = method.__name__, method.__doc__
    call.__taskops_use__ = method.__taskops_use__  # type: ignore[attr-defined]
    return call


def _iterating(
    method: Callable[Concatenate[AsyncClient, P], AsyncIterator[T]],
) -> Callable[Concatenate[Client, P], Iterator[T]]:
    def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        stream = aiter(method(self.aio, *args, **kwargs))
        done = object()

        async def step() -> T | object:
            return await anext(stream, done)

        async def close() -> None:
            if isinstance(stream, AsyncGenerator):
                await stream.aclose()

        try:
            while (item := self._run(step())) is not done:
                yield item  # type: ignore[misc]
        finally:
            self._run(close())

    call.__name__, call.__doc__ = method.__name__, method.__doc__
    call.__taskops_use__ = method.__taskops_use__  # type: ignore[attr-defined]
    return call


class Client:
    """The blocking taskops client (docs/client.md): `with Client() as client: client.run("nightly-report")`.

    Takes AsyncClient's arguments; `aio` is the AsyncClient it drives.
    """

    def __init__(self, base_url: str | None = None, **options: Unpack[Options]) -> None:
        self.aio = AsyncClient(base_url, **options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.aio.close(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._started())
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt while waiting: stop the request too
            raise

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                # A daemon: a program that forgets close() still exits.
                self._thread = threading.Thread(target=self._loop.run_forever, name="taskops-client", daemon=True)
                self._thread.start()
            return self._loop

    create_task = _blocking(AsyncClient.create_task)
    list_tasks = _blocking(AsyncClient.list_tasks)
    get_task = _blocking(AsyncClient.get_task)
    update_task = _blocking(AsyncClient.update_task)
    delete_task = _blocking(AsyncClient.delete_task)
    pause_task = _blocking(AsyncClient.pause_task)
    resume_task = _blocking(AsyncClient.resume_task)
    cancel_task = _blocking(AsyncClient.cancel_task)
    snooze_task = _blocking(AsyncClient.snooze_task)
    task_versions = _blocking(AsyncClient.task_versions)
    run = _blocking(AsyncClient.run)
    validate_run = _blocking(AsyncClient.validate_run)
    trigger = _blocking(AsyncClient.trigger)
    run_with_overrides = _blocking(AsyncClient.run_with_overrides)
    create_execution = _blocking(AsyncClient.create_execution)
    get_execution = _blocking(AsyncClient.get_execution)
    cancel_execution = _blocking(AsyncClient.cancel_execution)
    run_action = _blocking(AsyncClient.run_action)
    post_event = _blocking(AsyncClient.post_event)
    list_runs = _blocking(AsyncClient.list_runs)
    get_run = _blocking(AsyncClient.get_run)
    wait_run = _blocking(AsyncClient.wait_run)
    cancel_run = _blocking(AsyncClient.cancel_run)
    resume_run = _blocking(AsyncClient.resume_run)
    logs = _blocking(AsyncClient.logs)
    follow_logs = _iterating(AsyncClient.follow_logs)
    results = _blocking(AsyncClient.results)
