"""The store interface every backend implements, and the values it returns.

The store is shaped like etcd behind the Kubernetes API server: one global, monotonically
increasing revision (the `resourceVersion` of every object and of every list), a change log
that watches replay from, and compare-and-swap on `resourceVersion`. Objects go in and come
out as plain JSON dicts in the Kubernetes wire shape; the kind's `KindInfo` tells the store
whether it is namespaced and whether it has a `/status` subresource.

Semantics (all backends, tested once in tests/store against each):

create
    Sets `uid`, `resourceVersion`, `generation` (1), `creationTimestamp`; honours
    `generateName`; refuses `deletionTimestamp`. `AlreadyExists` if the name is taken.
    With `dry_run` nothing is written and no event is sent, but the result is what would be.
get
    `NotFound` if absent.
list
    Label selectors (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, comma =
    AND) and field selectors (`path=value`, `path==value`, `path!=value` on any dotted path
    such as `metadata.name`, `metadata.namespace`, `involvedObject.uid`). `limit` and an
    opaque `continue` token; every page of one list shows the same snapshot (the revision of
    the first page), and a token older than the change log raises `Gone`. Items are sorted by
    (namespace, name).
update
    Compare-and-swap: if the given object carries `metadata.resourceVersion` and it is not
    the stored one, `Conflict`; without one the update is unconditional. `uid`,
    `creationTimestamp`, `deletionTimestamp`, `generation` are kept from the stored object.
    With `subresource=None` the stored `status` is kept (for kinds with a status
    subresource); with `subresource="status"` only `status` changes. `generation` is bumped
    when anything outside `metadata` and `status` changes. An update that changes nothing
    writes nothing, sends no event, and returns the stored object. When an object being
    deleted loses its last finalizer, it is removed (a DELETED event).
delete
    With finalizers: sets `deletionTimestamp` (once) and returns the object. Without: removes
    it. `uid` / `resource_version` are preconditions (`Conflict`). Propagation
    `Background` (default) deletes dependents (objects whose `ownerReferences` name the
    deleted uid and have no other live owner) after the owner; `Orphan` removes the owner
    reference from them; `Foreground` keeps the owner (finalizer `foregroundDeletion`) until
    its dependents are gone.
watch
    From `resource_version` (exclusive): every later change to matching objects, once, in
    revision order. `None` or "0": first an ADDED event for every object as of the call,
    then changes. A revision older than the change log raises `Gone` (HTTP 410). Changes made
    by another process on the same database are seen too. With a label or field selector,
    an object that starts matching arrives as ADDED and one that stops matching as DELETED
    (carrying its last matching state). Bad selectors or revisions raise `BadRequest` from
    `watch()` itself; `Gone` is raised by the iteration. A watcher that falls more than a
    bounded number of events behind is ended with `Gone` (it lists again) so that writers
    never wait for readers. Events are shared by all watchers: treat them as read-only.

Secrets are encrypted at rest by the backend when it is given an encryption key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, Protocol

import orjson

from axle.api.registry import KindInfo

Obj = dict[str, Any]
EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]
Propagation = Literal["Background", "Foreground", "Orphan"]


@dataclass(frozen=True)
class ListResult:
    items: list[Obj]
    resource_version: str
    continue_token: str | None = None
    remaining_item_count: int | None = None


@dataclass(frozen=True)
class StoreEvent:
    """One watch event. Every watcher that receives it gets the same instance: treat
    `object` as read-only (copy it before changing it)."""

    type: EventType
    object: Obj
    resource_version: int

    @cached_property
    def wire(self) -> bytes:
        """The event as watch-stream JSON (`{"type":..,"object":..}`), encoded once and
        shared, so a server streaming to many watchers does not re-encode per watcher."""
        return orjson.dumps({"type": self.type, "object": self.object})


class Watch(Protocol):
    """An open watch: iterate for events; `close()` ends the iteration."""

    def __aiter__(self) -> AsyncIterator[StoreEvent]: ...

    async def close(self) -> None: ...


class Store(Protocol):
    async def start(self) -> None:
        """Open the database, run migrations, start background tasks (GC, compaction)."""

    async def close(self) -> None: ...

    async def create(self, info: KindInfo, obj: Obj, *, dry_run: bool = False) -> Obj: ...

    async def get(self, info: KindInfo, namespace: str | None, name: str) -> Obj: ...

    async def list(
        self,
        info: KindInfo,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult: ...

    async def update(
        self,
        info: KindInfo,
        obj: Obj,
        *,
        subresource: Literal["status"] | None = None,
        dry_run: bool = False,
    ) -> Obj: ...

    async def delete(
        self,
        info: KindInfo,
        namespace: str | None,
        name: str,
        *,
        uid: str | None = None,
        resource_version: str | None = None,
        propagation: Propagation = "Background",
        dry_run: bool = False,
    ) -> Obj: ...

    def watch(
        self,
        info: KindInfo,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
    ) -> Watch: ...

    async def current_revision(self) -> int: ...

    async def compact(self, keep_revisions: int) -> int:
        """Drop change-log entries older than the newest `keep_revisions`; returns how many."""
