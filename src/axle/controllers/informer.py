"""Informers: an in-memory cache of one kind, fed by list + watch from the store, with indexes.

Reconcilers read from these caches instead of querying the store for every lookup, and the
informer's change notifications are what feed the work queues. The loop is client-go's
reflector:

1. list every object (paginated, one consistent snapshot) and replace the cache, notifying
   handlers of what appeared, changed or vanished since the last cache;
2. watch from the list's resourceVersion and apply each event;
3. if the watch fails or ends, watch again from the last resourceVersion seen, so no event is
   lost or repeated; if the store answers `Gone` (that revision was compacted away), go back
   to 1.

Indexes map a computed value to the keys of the objects that have it: by namespace and by
owner uid always, plus custom ones such as projects-by-tenant, so "all projects of tenant X"
is a dict lookup. One informer per kind is shared by every controller (`InformerSet`).
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable, Iterable, Iterator

from axle.api.registry import KindInfo
from axle.controllers.objects import key_of, owner_uids
from axle.errors import Gone
from axle.store.base import Obj, Store, StoreEvent
from axle.utils.interning import intern_strings

log = logging.getLogger(__name__)

IndexFunc = Callable[[Obj], Iterable[str]]
# Called with (old, new): old None on add, new None on delete.
Handler = Callable[[Obj | None, Obj | None], None]

NAMESPACE_INDEX = "namespace"
OWNER_INDEX = "owner"
LIST_PAGE = 500


def _by_namespace(obj: Obj) -> list[str]:
    ns = (obj.get("metadata") or {}).get("namespace")
    return [ns] if ns else []


class Informer:
    def __init__(
        self,
        store: Store,
        info: KindInfo,
        *,
        retry_base: float = 0.05,
        retry_max: float = 5.0,
    ) -> None:
        self.store = store
        self.info = info
        self.cache: dict[str, Obj] = {}
        self.resource_version: str | None = None
        self.synced = asyncio.Event()
        self.relists = 0
        self._indexers: dict[str, IndexFunc] = {
            NAMESPACE_INDEX: _by_namespace,
            OWNER_INDEX: owner_uids,
        }
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}, OWNER_INDEX: {}}
        self._handlers: list[Handler] = []
        self._retry_base = retry_base
        self._retry_max = retry_max

    # -- configuration -------------------------------------------------------------------

    def add_index(self, name: str, fn: IndexFunc) -> None:
        """Add (or replace) an index; existing cache entries are indexed at once."""
        self._indexers[name] = fn
        index: dict[str, set[str]] = {}
        for key, obj in self.cache.items():
            for value in fn(obj):
                index.setdefault(value, set()).add(key)
        self._indices[name] = index

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    # -- reading -------------------------------------------------------------------------

    def get(self, key: str) -> Obj | None:
        return self.cache.get(key)

    def list(self, namespace: str | None = None) -> builtins.list[Obj]:
        if namespace is None:
            return list(self.cache.values())
        return self.by_index(NAMESPACE_INDEX, namespace)

    def by_index(self, index: str, value: str) -> builtins.list[Obj]:
        keys = self._indices[index].get(value, set())
        return [self.cache[k] for k in sorted(keys)]

    def cached_keys(self) -> builtins.list[str]:
        return list(self.cache)

    # -- the list/watch loop ---------------------------------------------------------------

    async def run(self) -> None:
        delay = self._retry_base
        while True:
            try:
                if self.resource_version is None:
                    await self._relist()
                watch = self.store.watch(self.info, resource_version=self.resource_version)
                try:
                    async for event in watch:
                        self._apply(event)
                        delay = self._retry_base
                finally:
                    await watch.close()
            except Gone:
                log.info("watch of %s: revision compacted away, re-listing", self.info.plural)
                self.resource_version = None
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("watch of %s failed; resuming", self.info.plural, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)

    async def _relist(self) -> None:
        page = await self.store.list(self.info, limit=LIST_PAGE)
        items: list[Obj] = list(page.items)
        rv = page.resource_version  # every later page shows this same snapshot
        while page.continue_token:
            page = await self.store.list(
                self.info, limit=LIST_PAGE, continue_token=page.continue_token
            )
            items.extend(page.items)
        fresh = {key_of(o): o for o in items}
        for key in list(self.cache):
            if key not in fresh:
                self._delete(key)
        for key, obj in fresh.items():
            self._store(key, obj)
        self.resource_version = rv
        self.relists += 1
        self.synced.set()

    def _apply(self, event: StoreEvent) -> None:
        self.resource_version = str(event.resource_version)
        if event.type == "BOOKMARK":
            return
        key = key_of(event.object)
        if event.type == "DELETED":
            self._delete(key)
        else:
            self._store(key, event.object)

    def _store(self, key: str, obj: Obj) -> None:
        old = self.cache.get(key)
        if old is not None:
            old_rv = (old.get("metadata") or {}).get("resourceVersion")
            if old_rv == obj["metadata"].get("resourceVersion"):
                return
            self._unindex(key, old)
        # Equal strings made one (the cache holds thousands of objects alike): see interning.
        self.cache[key] = intern_strings(obj)
        for name, fn in self._indexers.items():
            for value in fn(obj):
                self._indices[name].setdefault(value, set()).add(key)
        self._notify(old, obj)

    def _delete(self, key: str) -> None:
        old = self.cache.pop(key, None)
        if old is not None:
            self._unindex(key, old)
            self._notify(old, None)

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]

    def _notify(self, old: Obj | None, new: Obj | None) -> None:
        for handler in self._handlers:
            try:
                handler(old, new)
            except Exception:
                # A faulty mapper must not stop the cache from following the store.
                log.exception("informer handler for %s failed", self.info.plural)


class InformerSet:
    """One shared informer per kind, started and stopped together."""

    def __init__(self, store: Store, *, retry_base: float = 0.05) -> None:
        self.store = store
        self._informers: dict[tuple[str, str], Informer] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._retry_base = retry_base

    def get(self, info: KindInfo) -> Informer:
        inf = self._informers.get(info.group_kind)
        if inf is None:
            inf = Informer(self.store, info, retry_base=self._retry_base)
            self._informers[info.group_kind] = inf
        return inf

    def __iter__(self) -> Iterator[Informer]:
        return iter(list(self._informers.values()))

    def start(self) -> None:
        for inf in self._informers.values():
            self._tasks.append(asyncio.create_task(inf.run(), name=f"informer-{inf.info.plural}"))

    async def wait_synced(self) -> None:
        await asyncio.gather(*(inf.synced.wait() for inf in self._informers.values()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
