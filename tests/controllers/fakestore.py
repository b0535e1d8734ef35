"""An in-memory `Store` for controller tests, with knobs to inject watch failures.

It follows the semantics in `axle.store.base` closely enough for the controllers (CAS on
resourceVersion, status subresource, generation, finalizers and deletionTimestamp, background
garbage collection through ownerReferences, watch replay from a revision, `Gone` after
compaction) while letting tests break a watch on purpose, which the real store can't.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from axle.api.meta import now_rfc3339
from axle.api.registry import KindInfo
from axle.errors import AlreadyExists, Conflict, Gone, NotFound
from axle.store.base import ListResult, Obj, Propagation, StoreEvent

Key = tuple[str, str, str, str]


def _path(obj: Obj, dotted: str) -> Any:
    cur: Any = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _match_labels(obj: Obj, selector: str | None) -> bool:
    if not selector:
        return True
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in selector.split(","):
        term = term.strip()
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k) != v:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _match_fields(obj: Obj, selector: str | None) -> bool:
    if not selector:
        return True
    for term in selector.split(","):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if str(_path(obj, k) or "") == v:
                return False
        else:
            k, v = term.replace("==", "=").split("=", 1)
            if str(_path(obj, k) or "") != v:
                return False
    return True


class FakeWatch:
    def __init__(self, store: FakeStore, flt: Any) -> None:
        self.store = store
        self.filter = flt
        self.queue: asyncio.Queue[StoreEvent | Exception | None] = asyncio.Queue()

    async def __aiter__(self) -> AsyncIterator[StoreEvent]:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    async def close(self) -> None:
        if self in self.store.watches:
            self.store.watches.remove(self)


class FakeStore:
    def __init__(self) -> None:
        self.objects: dict[Key, Obj] = {}
        self.rev = 0
        self.log: list[tuple[int, str, KindInfo, Obj]] = []
        self.compacted_to = 0
        self.watches: list[FakeWatch] = []
        self.watch_calls = 0
        self.list_calls = 0
        self.fail_watch_with: Exception | None = None
        # While True, every new watch fails at once (the store is "unreachable").
        self.watch_down = False
        self.infos: dict[tuple[str, str], KindInfo] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _key(self, info: KindInfo, ns: str | None, name: str) -> Key:
        return (info.group, info.kind, (ns or "") if info.namespaced else "", name)

    def _emit(
        self, type_: Literal["ADDED", "MODIFIED", "DELETED"], info: KindInfo, obj: Obj
    ) -> None:
        snap = copy.deepcopy(obj)
        self.log.append((self.rev, type_, info, snap))
        for w in list(self.watches):
            if w.filter(info, snap):
                w.queue.put_nowait(StoreEvent(type_, copy.deepcopy(snap), self.rev))

    async def create(self, info: KindInfo, obj: Obj, *, dry_run: bool = False) -> Obj:
        obj = copy.deepcopy(obj)
        m = obj.setdefault("metadata", {})
        if not m.get("name") and m.get("generateName"):
            m["name"] = m["generateName"] + uuid.uuid4().hex[:5]
        if not info.namespaced:
            m.pop("namespace", None)
        key = self._key(info, m.get("namespace"), m["name"])
        if key in self.objects:
            raise AlreadyExists(f"{info.kind} {m['name']!r} already exists", kind=info.kind)
        self.rev += 1
        self.infos[info.group_kind] = info
        obj.setdefault("apiVersion", info.api_version)
        obj.setdefault("kind", info.kind)
        m.update(
            uid=str(uuid.uuid4()),
            resourceVersion=str(self.rev),
            generation=1,
            creationTimestamp=now_rfc3339(),
        )
        self.objects[key] = obj
        self._emit("ADDED", info, obj)
        return copy.deepcopy(obj)

    async def get(self, info: KindInfo, namespace: str | None, name: str) -> Obj:
        obj = self.objects.get(self._key(info, namespace, name))
        if obj is None:
            raise NotFound(f'{info.plural} "{name}" not found', kind=info.kind, name=name)
        return copy.deepcopy(obj)

    async def list(
        self,
        info: KindInfo,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        self.list_calls += 1
        items = [
            copy.deepcopy(o)
            for (g, k, ns, _), o in sorted(self.objects.items())
            if (g, k) == info.group_kind
            and (namespace is None or ns == namespace)
            and _match_labels(o, label_selector)
            and _match_fields(o, field_selector)
        ]
        start = int(continue_token or 0)
        if limit:
            page = items[start : start + limit]
            nxt = str(start + limit) if start + limit < len(items) else None
            return ListResult(page, str(self.rev), nxt)
        return ListResult(items, str(self.rev))

    async def update(
        self,
        info: KindInfo,
        obj: Obj,
        *,
        subresource: Literal["status"] | None = None,
        dry_run: bool = False,
    ) -> Obj:
        m = obj["metadata"]
        key = self._key(info, m.get("namespace"), m["name"])
        stored = self.objects.get(key)
        if stored is None:
            raise NotFound(f'{info.plural} "{m["name"]}" not found', kind=info.kind)
        rv = m.get("resourceVersion")
        if rv and rv != stored["metadata"]["resourceVersion"]:
            raise Conflict(f"the object {m['name']} has been modified", kind=info.kind)
        new = copy.deepcopy(obj)
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(stored)
            new["status"] = status
        elif info.has_status:
            new["status"] = copy.deepcopy(stored.get("status"))
            if new["status"] is None:
                new.pop("status")
        nm = new["metadata"]
        sm = stored["metadata"]
        for f in ("uid", "creationTimestamp", "deletionTimestamp", "generation", "resourceVersion"):
            if f in sm:
                nm[f] = sm[f]
            else:
                nm.pop(f, None)
        if new == stored:
            return copy.deepcopy(stored)

        def spec_part(o: Obj) -> Obj:
            return {k: v for k, v in o.items() if k not in ("metadata", "status")}

        if spec_part(new) != spec_part(stored):
            nm["generation"] = int(sm.get("generation", 1)) + 1
        self.rev += 1
        nm["resourceVersion"] = str(self.rev)
        if nm.get("deletionTimestamp") and not nm.get("finalizers"):
            del self.objects[key]
            self._emit("DELETED", info, new)
            await self._collect(nm["uid"])
            return copy.deepcopy(new)
        self.objects[key] = new
        self._emit("MODIFIED", info, new)
        return copy.deepcopy(new)

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
    ) -> Obj:
        key = self._key(info, namespace, name)
        stored = self.objects.get(key)
        if stored is None:
            raise NotFound(f'{info.plural} "{name}" not found', kind=info.kind, name=name)
        md = stored["metadata"]
        if (uid is not None and md.get("uid") != uid) or (
            resource_version is not None and md.get("resourceVersion") != resource_version
        ):
            raise Conflict(f'{info.plural} "{name}": precondition failed', kind=info.kind)
        if stored["metadata"].get("finalizers"):
            if not stored["metadata"].get("deletionTimestamp"):
                self.rev += 1
                stored["metadata"]["deletionTimestamp"] = now_rfc3339()
                stored["metadata"]["resourceVersion"] = str(self.rev)
                self._emit("MODIFIED", info, stored)
            return copy.deepcopy(stored)
        del self.objects[key]
        self.rev += 1
        stored["metadata"]["resourceVersion"] = str(self.rev)
        self._emit("DELETED", info, stored)
        await self._collect(stored["metadata"]["uid"])
        return copy.deepcopy(stored)

    async def _collect(self, uid: str) -> None:
        """Background GC: delete dependents whose only live owner was `uid`."""
        live = {o["metadata"]["uid"] for o in self.objects.values()}
        for key, obj in list(self.objects.items()):
            refs = obj["metadata"].get("ownerReferences") or []
            if any(r["uid"] == uid for r in refs) and not any(r["uid"] in live for r in refs):
                info = self.infos[(key[0], key[1])]
                if key in self.objects:
                    await self.delete(info, key[2] or None, key[3])

    def watch(
        self,
        info: KindInfo,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
    ) -> FakeWatch:
        self.watch_calls += 1

        def flt(i: KindInfo, o: Obj) -> bool:
            return i.group_kind == info.group_kind and (
                namespace is None or o["metadata"].get("namespace") == namespace
            )

        w = FakeWatch(self, flt)
        if self.watch_down:
            w.queue.put_nowait(ConnectionError("store unreachable"))
            return w
        if self.fail_watch_with is not None:
            exc, self.fail_watch_with = self.fail_watch_with, None
            w.queue.put_nowait(exc)
            return w
        if resource_version in (None, "0"):
            for (g, k, _, _), o in sorted(self.objects.items()):
                if (g, k) == info.group_kind and flt(info, o):
                    w.queue.put_nowait(StoreEvent("ADDED", copy.deepcopy(o), self.rev))
        else:
            rv = int(resource_version)
            if rv < self.compacted_to:
                w.queue.put_nowait(Gone(f"too old resource version: {rv}"))
                return w
            for r, t, i, o in self.log:
                if r > rv and flt(i, o):
                    w.queue.put_nowait(StoreEvent(t, copy.deepcopy(o), r))  # type: ignore[arg-type]
        self.watches.append(w)
        return w

    def break_watches(self, exc: Exception | None = None) -> None:
        """End every open watch (with `exc`, or a plain end of stream)."""
        for w in list(self.watches):
            w.queue.put_nowait(exc)
            self.watches.remove(w)

    async def current_revision(self) -> int:
        return self.rev

    async def compact(self, keep_revisions: int) -> int:
        floor = self.rev - keep_revisions
        before = len(self.log)
        self.log = [e for e in self.log if e[0] > floor]
        self.compacted_to = max(self.compacted_to, floor)
        return before - len(self.log)
