"""A controller: one reconciler driven by a work queue fed from shared informers.

The reconciler says what it reconciles (its primary kind), which other kinds should wake it
and how their objects map to primary keys (a Namespace to its owning Tenant, a ConfigMap in a
tenant namespace to every Project of that tenant), and which indexes it needs. The controller
wires those into informer handlers that add keys to its `WorkQueue`, runs `workers` tasks that
take keys and call `reconcile(key)`, and re-queues every primary key each `resync` seconds so
that drift nobody was told about is corrected too.

What a reconcile's outcome means to the runtime (kopf's contract):

- returns `None`: done; failures forgotten. Returns a float: run again after that many seconds;
- raises `TemporaryError(delay)`: retry after `delay`; the reason lands in the object's
  `Ready` condition and a Warning Event;
- raises `PermanentError`: no timed retry (the next change to the object re-runs it); also
  recorded in `Ready` and an Event;
- raises `Conflict` (someone wrote the object since it was read): re-run soon, quietly;
- raises anything else: a bug or an outage; retry with exponential backoff per key, record it.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from axle.api.meta import set_condition
from axle.api.registry import KindInfo
from axle.controllers.events import EventRecorder
from axle.controllers.informer import Handler, IndexFunc, Informer, InformerSet
from axle.controllers.kinds import Kinds
from axle.controllers.objects import get_or_none, key_of, make_key, split_key, write_status
from axle.controllers.queue import ShutDown, WorkQueue
from axle.errors import ApiError, Conflict, PermanentError, TemporaryError
from axle.store.base import Obj, Store
from axle.utils.jsoncopy import copy_json

log = logging.getLogger(__name__)

# Maps an object of a watched kind to the primary keys it should wake.
Mapper = Callable[[Obj], Iterable[str]]


@dataclass(frozen=True)
class Filtered:
    """A mapper that wakes its keys only for changes `relevant(old, new)` says matter: a
    watched object that changes often in ways a reconciler ignores (a Spoke's heartbeat time,
    every few seconds per spoke) must not re-run that reconciler each time."""

    mapper: Mapper
    relevant: Callable[[Obj | None, Obj | None], bool]

    def __call__(self, obj: Obj) -> Iterable[str]:
        return self.mapper(obj)


@dataclass
class Context:
    """What every reconciler may use: the store, the kinds, the shared caches, the recorder."""

    store: Store
    kinds: Kinds
    informers: InformerSet
    recorder: EventRecorder

    def cache(self, info: KindInfo) -> Informer:
        return self.informers.get(info)


@dataclass(frozen=True)
class ControllerOptions:
    workers: int = 2
    resync_seconds: float = 300.0
    backoff_base: float = 0.05
    backoff_max: float = 300.0


class Reconciler(ABC):
    """Base of every reconciler; subclasses set `name` and `kind` and implement `reconcile`."""

    name: str

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.kinds = ctx.kinds

    @property
    @abstractmethod
    def kind(self) -> KindInfo:
        """The primary kind: one queue key per object of it."""

    def indexes(self) -> Iterable[tuple[KindInfo, str, IndexFunc]]:
        """Custom indexes on shared informers, as (kind, index name, function)."""
        return ()

    def watches(self) -> Iterable[tuple[KindInfo, Mapper]]:
        """Secondary kinds that wake this reconciler, each with its mapper to primary keys."""
        return ()

    @abstractmethod
    async def reconcile(self, key: str) -> float | None:
        """Bring the object at `key` to its desired state; see the module docstring."""

    def cached(self, key: str) -> Obj | None:
        """The primary object from the cache (a deep copy: callers may edit it freely)."""
        obj = self.ctx.cache(self.kind).get(key)
        return copy_json(obj) if obj is not None else None


def owned_by(owner_kind: KindInfo) -> Mapper:
    """Map an object to the keys of its owners of `owner_kind` (via ownerReferences)."""

    def mapper(obj: Obj) -> list[str]:
        ns = obj["metadata"].get("namespace") if owner_kind.namespaced else None
        return [
            make_key(ns, ref["name"])
            for ref in obj["metadata"].get("ownerReferences") or []
            if ref.get("kind") == owner_kind.kind
            and ref.get("apiVersion", "").split("/")[0] == owner_kind.api_version.split("/")[0]
        ]

    return mapper


class Controller:
    def __init__(self, reconciler: Reconciler, options: ControllerOptions) -> None:
        self.reconciler = reconciler
        self.options = options
        self.name = reconciler.name
        self.queue = WorkQueue(backoff_base=options.backoff_base, backoff_max=options.backoff_max)
        self._tasks: list[asyncio.Task[None]] = []
        ctx = reconciler.ctx
        self.primary = ctx.cache(reconciler.kind)
        for info, index_name, fn in reconciler.indexes():
            ctx.cache(info).add_index(index_name, fn)
        self.primary.add_handler(self._enqueue_primary)
        for info, mapper in reconciler.watches():
            ctx.cache(info).add_handler(self._secondary_handler(mapper))

    def _enqueue_primary(self, old: Obj | None, new: Obj | None) -> None:
        obj = new if new is not None else old
        if obj is not None:
            self.queue.add(key_of(obj))

    def _secondary_handler(self, mapper: Mapper) -> Handler:
        def handler(old: Obj | None, new: Obj | None) -> None:
            if isinstance(mapper, Filtered) and not mapper.relevant(old, new):
                return
            keys: set[str] = set()
            for obj in (old, new):
                if obj is not None:
                    keys.update(mapper(obj))
            for key in keys:
                self.queue.add(key)

        return handler

    def start(self) -> None:
        for i in range(max(1, self.options.workers)):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}"))
        if self.options.resync_seconds > 0:
            self._tasks.append(asyncio.create_task(self._resync(), name=f"{self.name}-resync"))

    async def stop(self) -> None:
        self.queue.shut_down()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.options.resync_seconds)
            for key in self.primary.cached_keys():
                self.queue.add(key)

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                await self._process(key)
            finally:
                self.queue.done(key)
                if self.primary.get(key) is None:
                    self.queue.drop(key)  # gone: a new object of that name starts afresh

    async def _process(self, key: str) -> None:
        queue = self.queue
        try:
            requeue = await self.reconciler.reconcile(key)
        except TemporaryError as exc:
            log.info("%s %s: %s (retry in %.1fs)", self.name, key, exc.message, exc.delay)
            queue.add_after(key, exc.delay)
            await self._report(key, exc.reason, exc.message)
        except PermanentError as exc:
            log.warning("%s %s: %s", self.name, key, exc.message)
            queue.forget(key)
            await self._report(key, exc.reason, exc.message)
        except Conflict:
            # Someone else wrote the object since we read it; the watch brings the new
            # version, but re-run soon in case that event already went by.
            queue.add_after(key, queue.backoff(key))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            delay = queue.backoff(key)
            log.exception("%s %s: reconcile failed (retry in %.2fs)", self.name, key, delay)
            queue.add_after(key, delay)
            await self._report(key, "ReconcileError", f"{type(exc).__name__}: {exc}")
        else:
            queue.forget(key)
            if requeue is not None:
                queue.add_after(key, requeue)

    async def _report(self, key: str, reason: str, message: str) -> None:
        """Put a failed reconcile where the user sees it: `Ready=False` and a Warning Event."""
        info = self.reconciler.kind
        ns, name = split_key(key)
        try:
            obj = await get_or_none(self.reconciler.store, info, ns, name)
            if obj is None:
                return
            status = copy_json(obj.get("status") or {})
            conditions = status.setdefault("conditions", [])
            gen = obj["metadata"].get("generation")
            if set_condition(conditions, "Ready", "False", reason, message, gen):
                if status.get("phase") == "Ready":
                    status["phase"] = "NotReady"
                await write_status(self.reconciler.store, info, obj, status)
                await self.reconciler.ctx.recorder.warning(obj, reason, message)
        except ApiError as exc:
            log.info("%s %s: could not report %s: %s", self.name, key, reason, exc)
