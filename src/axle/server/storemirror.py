"""Something the API server keeps in memory, made from a list of one kind and then a watch.

The server answers some questions on every request from memory rather than from the store:
which spoke a credential belongs to (`spokeauth`), whether a namespace exists
(`namespaces`). Each such map is a `StoreMirror`: it lists the objects once (`_load`), then
applies every watch event in order (`_apply`), as a Kubernetes informer does. A watch that
ends with an error resumes from the last revision it delivered, after a backoff; one whose
revision was compacted away (`Gone`) relists. A subclass that must not answer from a map that
may have missed something while its watch was down marks itself in `_lost` and sets
`relist_after_loss`, so that it is whole again (`_load`) before it answers once more.

Shaped as a small base class rather than the controllers' informer: an informer keeps whole
objects, with indexes and handlers, where these keep a few strings each, and it belongs to the
leader's controller term while these serve requests in every hub process.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod

from axle.api.registry import KindInfo
from axle.errors import Gone
from axle.store.base import Obj, Store, Watch

log = logging.getLogger(__name__)

_FIRST_BACKOFF = 0.05
_MAX_BACKOFF = 5.0


class StoreMirror(ABC):
    """List then watch one kind (optionally one namespace and field selector) into memory."""

    # Names the background task and the log lines.
    mirror_name = "store mirror"
    # After a failed or ended watch: list afresh (True) or resume from the last revision.
    relist_after_loss = False

    def __init__(
        self,
        store: Store,
        info: KindInfo,
        *,
        namespace: str | None = None,
        field_selector: str | None = None,
    ) -> None:
        self._store = store
        self._info = info
        self._namespace = namespace
        self._field_selector = field_selector
        self._task: asyncio.Task[None] | None = None
        self._watch: Watch | None = None

    @abstractmethod
    def _load(self, items: list[Obj]) -> None:
        """Replace what is held by what a (re)list returned: the mirror is whole again."""

    @abstractmethod
    def _apply(self, type_: str, obj: Obj) -> None:
        """Apply one watch event (ADDED, MODIFIED or DELETED)."""

    def _lost(self) -> None:
        """The watch failed or ended: events may be missing until it resumes. By default the
        mirror keeps answering from what it holds (the resumed watch replays what it missed)."""
        return None

    async def start(self) -> None:
        """List, then follow changes in the background."""
        revision = await self._relist()
        self._task = asyncio.create_task(self._follow(revision), name=self.mirror_name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        if self._watch is not None:
            await self._watch.close()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def _relist(self) -> str:
        page = await self._store.list(
            self._info, self._namespace, field_selector=self._field_selector
        )
        self._load(page.items)
        return page.resource_version

    async def _follow(self, revision: str | None) -> None:
        backoff = _FIRST_BACKOFF
        while True:
            try:
                if revision is None:
                    revision = await self._relist()
                watch = self._store.watch(
                    self._info,
                    self._namespace,
                    field_selector=self._field_selector,
                    resource_version=revision,
                )
                self._watch = watch
                try:
                    async for event in watch:
                        if event.type != "BOOKMARK":
                            self._apply(event.type, event.object)
                        revision = str(event.resource_version)
                        backoff = _FIRST_BACKOFF
                finally:
                    self._watch = None
                    await watch.close()
            except asyncio.CancelledError:
                raise
            except Gone:
                log.info("%s: watch expired, relisting", self.mirror_name)
                revision = None
            except Exception:
                log.exception("%s: watch failed; resuming", self.mirror_name)
            self._lost()
            if self.relist_after_loss:
                revision = None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)
