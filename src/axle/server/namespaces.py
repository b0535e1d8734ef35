"""The names of the namespaces that exist, kept in memory by a watch of the store.

NamespaceLifecycle admission refuses a write into a namespace that does not exist. Asking the
store on every write costs a read through its worker thread, about a fifth of the CPU of a
small write such as a spoke agent's Lease renewal. The Kubernetes API server answers the
question from an informer cache and asks storage only when the cache does not know the name;
this index is that cache. Updates use it: an object that is being updated already lives in the
namespace, so a name the index knows needs no read. Creates still read the namespace, because
they must also see whether it is terminating at that very moment (the index could be a turn of
the event loop behind a delete). A name the index does not know, or an index that is not
synced (not started, or between a lost watch and its relist), falls back to the store read.
"""

from __future__ import annotations

import asyncio
import logging

from axle.api.registry import REGISTRY, KindInfo
from axle.errors import Gone
from axle.store.base import Store, Watch

log = logging.getLogger(__name__)

_MAX_BACKOFF = 5.0


class NamespaceIndex:
    """Which namespaces exist, from a list and then a watch of Namespaces."""

    def __init__(self, store: Store, *, namespace_kind: KindInfo | None = None) -> None:
        self._store = store
        self._info = namespace_kind or REGISTRY.by_group_kind("", "Namespace")
        self._names: set[str] = set()
        self._synced = False
        self._task: asyncio.Task[None] | None = None
        self._watch: Watch | None = None

    def has(self, name: str) -> bool:
        """True when the namespace is known to exist; False means "ask the store"."""
        return self._synced and name in self._names

    async def start(self) -> None:
        """List the namespaces, then follow changes in the background."""
        revision = await self._relist()
        self._task = asyncio.create_task(self._follow(revision), name="namespace-index")

    async def stop(self) -> None:
        self._synced = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        if self._watch is not None:
            await self._watch.close()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def _relist(self) -> str:
        page = await self._store.list(self._info)
        self._names = {obj["metadata"]["name"] for obj in page.items}
        self._synced = True
        return page.resource_version

    async def _follow(self, revision: str | None) -> None:
        backoff = 0.05
        while True:
            try:
                if revision is None:
                    revision = await self._relist()
                watch = self._store.watch(self._info, resource_version=revision)
                self._watch = watch
                try:
                    async for event in watch:
                        if event.type == "DELETED":
                            self._names.discard(event.object["metadata"]["name"])
                        elif event.type != "BOOKMARK":
                            self._names.add(event.object["metadata"]["name"])
                        backoff = 0.05
                finally:
                    self._watch = None
                    await watch.close()
            except asyncio.CancelledError:
                raise
            except Gone:
                log.info("namespace index: watch expired, relisting")
            except Exception:
                log.exception("namespace index: watch failed; relisting")
            # A deletion may have been missed: ask the store until a fresh list is in.
            self._synced = False
            revision = None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)
