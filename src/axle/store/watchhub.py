"""In-process watch fan-out: committed changes in, per-watcher event queues out.

Shaped for many watchers of one kind (informers, `kubectl get -w`, the console): watchers
with the same filter (namespace, label selector, field selector) share one `_Group`, so the
filter runs once per event per distinct filter, not once per watcher, and every watcher gets
the same immutable `StoreEvent` (whose wire JSON is encoded at most once). Per watcher the work
is a bounded append and a wake-up.

A watcher starts in *replay* mode: the backend reads the change log from the requested
revision while live events accumulate in a side buffer; when the replay has caught up, the
buffer is flushed past the last replayed revision and the watcher goes live. Every event is
delivered at most once by revision, so the hand-over has no gaps and no duplicates.

A live watcher whose queue is full is closed with `Gone`: writers never wait for readers,
and the client re-lists, as with a Kubernetes watch that falls too far behind.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from functools import cached_property
from typing import Any, Literal

import orjson

from axle.errors import ApiError, Gone, InternalError
from axle.store.base import EventType, Obj, StoreEvent
from axle.store.selectors import FieldSelector, LabelSelector

ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]


class Change:
    """One committed change; objects are decoded lazily, once, on the event loop."""

    __slots__ = (
        "__dict__",
        "group",
        "kind",
        "name",
        "namespace",
        "prev_raw",
        "raw",
        "revision",
        "type",
    )

    def __init__(
        self,
        revision: int,
        type_: ChangeType,
        group: str,
        kind: str,
        namespace: str,
        name: str,
        raw: bytes,
        prev_raw: bytes | None,
    ) -> None:
        self.revision = revision
        self.type = type_
        self.group = group
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.raw = raw
        self.prev_raw = prev_raw

    @cached_property
    def obj(self) -> Obj:
        value: Obj = orjson.loads(self.raw)
        return value

    @cached_property
    def prev(self) -> Obj | None:
        if self.prev_raw is None:
            return None
        value: Obj = orjson.loads(self.prev_raw)
        return value

    @cached_property
    def _events(self) -> dict[str, StoreEvent]:
        return {}

    def event(self, type_: EventType) -> StoreEvent:
        """The shared event of this change reported as `type_`."""
        ev = self._events.get(type_)
        if ev is None:
            ev = self._events[type_] = StoreEvent(type_, self.obj, self.revision)
        return ev

    def stopped_matching_event(self) -> StoreEvent:
        """DELETED carrying the previous object at this revision (it left the selection)."""
        ev = self._events.get("LEFT")
        if ev is None:
            prev = dict(self.prev or self.obj)
            prev["metadata"] = {**prev.get("metadata", {}), "resourceVersion": str(self.revision)}
            ev = self._events["LEFT"] = StoreEvent("DELETED", prev, self.revision)
        return ev


class WatchFilter:
    """Which changes a watcher sees, and as what event type (Kubernetes selector semantics)."""

    def __init__(
        self,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
    ) -> None:
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.trivial = labels.empty and fields.empty
        self.key = (namespace, str(labels), str(fields))

    def matches(self, obj: Obj) -> bool:
        if not self.labels.empty and not self.labels.matches(
            (obj.get("metadata") or {}).get("labels")
        ):
            return False
        return self.fields.empty or self.fields.matches(obj)

    def event_for(self, ch: Change) -> StoreEvent | None:
        if self.namespace is not None and ch.namespace != self.namespace:
            return None
        if self.trivial:
            return ch.event(ch.type)
        now = self.matches(ch.obj)
        if ch.type != "MODIFIED":
            return ch.event(ch.type) if now else None
        before = ch.prev is not None and self.matches(ch.prev)
        if now:
            return ch.event("MODIFIED" if before else "ADDED")
        return ch.stopped_matching_event() if before else None


class Watcher:
    """One open watch: an async iterator of `StoreEvent`s (implements `base.Watch`)."""

    def __init__(
        self,
        hub: WatchHub,
        group: str,
        kind: str,
        filt: WatchFilter,
        max_queue: int,
    ) -> None:
        self.hub = hub
        self.group = group
        self.kind = kind
        self.filter = filt
        self.max_queue = max_queue
        self.items: deque[StoreEvent] = deque()
        self.buffer: list[StoreEvent] = []
        self.replaying = True
        self.last_rev = -1
        self.closed = False
        self.error: ApiError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._space: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    # -- producer side (event loop) ------------------------------------------------------

    def start(self, replay: Callable[[Watcher], Awaitable[None]]) -> None:
        """Register for live events, then replay history in a task."""
        self.hub.register(self)
        self._task = asyncio.get_running_loop().create_task(self._run(replay))

    async def _run(self, replay: Callable[[Watcher], Awaitable[None]]) -> None:
        try:
            await replay(self)
        except ApiError as exc:
            self.fail(exc)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # surface unexpected failures to the reader, not the log only
            self.fail(InternalError(f"watch failed: {exc}"))
            return
        self.go_live()

    def push(self, ev: StoreEvent) -> None:
        """A live event (already filtered); never blocks."""
        if self.closed:
            return
        if self.replaying:
            if len(self.buffer) >= self.max_queue:
                self.fail(self._overflow())
            else:
                self.buffer.append(ev)
            return
        if ev.resource_version <= self.last_rev:
            return
        if len(self.items) >= self.max_queue:
            self.fail(self._overflow())
            return
        self.items.append(ev)
        self.last_rev = ev.resource_version
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def deliver(self, ev: StoreEvent, *, advance: bool = True) -> None:
        """A replayed event: waits for room instead of failing (history is not urgent)."""
        while len(self.items) >= self.max_queue and not self.closed:
            self._space = asyncio.get_running_loop().create_future()
            await self._space
        if self.closed:
            return
        self.items.append(ev)
        if advance:
            self.last_rev = max(self.last_rev, ev.resource_version)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def go_live(self) -> None:
        buffered, self.buffer = self.buffer, []
        self.replaying = False
        for ev in buffered:
            self.push(ev)

    def _overflow(self) -> Gone:
        return Gone(
            f"watch closed: more than {self.max_queue} events were waiting for a slow "
            "reader; list again and watch from the list's resourceVersion"
        )

    def fail(self, error: ApiError) -> None:
        """End the watch with `error`, raised by the reader's next iteration."""
        if self.closed:
            return
        self.error = error
        self._shutdown()

    def _shutdown(self) -> None:
        self.closed = True
        self.hub.unregister(self)
        for fut in (self._waiter, self._space):
            if fut is not None and not fut.done():
                fut.set_result(None)
        # The replay task only feeds this watcher: cancelling it is enough, nobody awaits it.
        task = self._task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    # -- consumer side -------------------------------------------------------------------

    def __aiter__(self) -> Watcher:
        return self

    async def __anext__(self) -> StoreEvent:
        while True:
            if self.items:
                ev = self.items.popleft()
                space = self._space
                if space is not None and not space.done():
                    space.set_result(None)
                return ev
            if self.error is not None:
                error, self.error = self.error, None
                raise error
            if self.closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def close(self) -> None:
        if not self.closed:
            self._shutdown()
        self.items.clear()
        self.error = None


class _Group:
    __slots__ = ("filter", "watchers")

    def __init__(self, filt: WatchFilter) -> None:
        self.filter = filt
        self.watchers: dict[Watcher, None] = {}


class WatchHub:
    """Routes committed changes to the watchers of their kind.

    Groups are kept per (kind, namespace): a change visits the groups of its own namespace and
    the cluster-wide ones only. Every spoke's agent watches its own namespace, so with one
    flat list per kind each Work or Lease write would test a thousand filters to reach one.
    """

    def __init__(self) -> None:
        # (group, kind) -> namespace (None: all namespaces) -> filter key -> group
        self._kinds: dict[tuple[str, str], dict[str | None, dict[Any, _Group]]] = {}

    def register(self, w: Watcher) -> None:
        by_ns = self._kinds.setdefault((w.group, w.kind), {})
        groups = by_ns.setdefault(w.filter.namespace, {})
        group = groups.get(w.filter.key)
        if group is None:
            group = groups[w.filter.key] = _Group(w.filter)
        group.watchers[w] = None

    def unregister(self, w: Watcher) -> None:
        by_ns = self._kinds.get((w.group, w.kind))
        if not by_ns:
            return
        groups = by_ns.get(w.filter.namespace)
        if not groups:
            return
        group = groups.get(w.filter.key)
        if group is None:
            return
        group.watchers.pop(w, None)
        if not group.watchers:
            del groups[w.filter.key]
            if not groups:
                del by_ns[w.filter.namespace]
                if not by_ns:
                    del self._kinds[(w.group, w.kind)]

    def dispatch(self, changes: list[Change]) -> None:
        kinds = self._kinds
        for ch in changes:
            by_ns = kinds.get((ch.group, ch.kind))
            if not by_ns:
                continue
            for ns in (None,) if ch.namespace is None else (None, ch.namespace):
                groups = by_ns.get(ns)
                if not groups:
                    continue
                for group in list(groups.values()):
                    ev = group.filter.event_for(ch)
                    if ev is None:
                        continue
                    for w in list(group.watchers):
                        w.push(ev)

    def _groups(self) -> list[_Group]:
        return [g for by_ns in self._kinds.values() for gs in by_ns.values() for g in gs.values()]

    def fail_all(self, error: Callable[[], ApiError]) -> None:
        for group in self._groups():
            for w in list(group.watchers):
                w.fail(error())

    def close_all(self) -> list[Watcher]:
        out = [w for g in self._groups() for w in g.watchers]
        for w in out:
            w._shutdown()
        return out
