"""A real hub (`axle.server.hub.serve`) on a free loopback port, in a background thread.

Client and CLI tests talk to it over real HTTP, as the CLI does, without starting a process:
the hub runs its own event loop in a daemon thread and stops when the task is cancelled.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from axle.settings import HubSettings


class HubThread:
    def __init__(self, data_dir: Path, *, controllers: bool = True, port: int = 0) -> None:
        self.settings = HubSettings(data_dir=data_dir, port=port, controllers=controllers)
        self.url = ""
        self._ready: Future[str] = Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._main, name="axle-hub", daemon=True)

    @property
    def token(self) -> str:
        return (self.settings.data_dir / "admin-token").read_text().strip()

    def _main(self) -> None:
        from axle.server.hub import serve

        loop = asyncio.new_event_loop()
        self._loop = loop

        def ready(url: str) -> None:
            if not self._ready.done():
                self._ready.set_result(url)

        async def body() -> None:
            self._task = asyncio.current_task()  # type: ignore[assignment]
            await serve(self.settings, on_ready=ready)

        try:
            loop.run_until_complete(body())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # surface start-up failures to the waiting test
            if not self._ready.done():
                self._ready.set_exception(exc)
        finally:
            loop.close()

    def start(self, timeout: float = 30.0) -> HubThread:
        self._thread.start()
        self.url = self._ready.result(timeout=timeout)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=30)


def api_only_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubThread]:
    """A hub without controllers in a fresh data dir, stopped afterwards: the body of the
    module-scoped `hub` fixture of the client and CLI tests."""
    hub = HubThread(tmp_path_factory.mktemp("hub") / "data", controllers=False).start()
    try:
        yield hub
    finally:
        hub.stop()
