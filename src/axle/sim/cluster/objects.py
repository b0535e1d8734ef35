"""The simulated API server's object store: identity, versions, server-side apply, the file.

Objects are kept as plain JSON dicts keyed by (group, kind, namespace, name). Every write
that changes an object takes the next value of one global revision as its `resourceVersion`
(so versions order all changes, as etcd's do); `uid` and `creationTimestamp` are set at
creation; `generation` starts at 1 and moves when anything outside `metadata` and `status`
changes. A write that changes nothing is not a write: no new version, no change event, so an
agent that re-applies an unchanged manifest sees the same `resourceVersion` it saw before.

Server-side apply, simplified: each field manager owns the set of leaf paths it applied
(nested dict keys; a list is one leaf, replaced whole, so there is no merging of list items by
key as in `containers[name=...]`). Applying sets every leaf the manager sends, then removes the
leaves it owned before and no longer sends unless another manager owns them too. Without
`force`, a leaf another manager owns with a different value is a 409 conflict naming the
manager and the field; with it, ownership moves. Ownership is kept in `metadata.managedFields`
in Kubernetes' `FieldsV1` shape (`{"f:spec": {"f:replicas": {}}}`), so it travels with the
object and survives restarts. `status` is the cluster's: an applied `status` is ignored.

The whole store (objects, the revision, controller timers) is one JSON document written to a
temporary file and renamed over the state file, so a killed process leaves the old or the new
state. It is not fsynced: the state file stands in for etcd across agent restarts, not across
power losses, and an fsync per change (milliseconds each) would dominate a host running a
thousand simulated clusters.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson

from axle.errors import Conflict, Invalid
from axle.sim.cluster.kinds import Key, key_of
from axle.utils.files import replace_file

Obj = dict[str, Any]
Path_ = tuple[str, ...]
STATE_VERSION = 1
_T = TypeVar("_T")
_SYSTEM_META = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "selfLink",
}


def clone(obj: _T) -> _T:
    """A deep copy of a JSON value (through orjson: many times faster than copy.deepcopy)."""
    return cast(_T, orjson.loads(orjson.dumps(obj)))


def rfc3339(epoch: float) -> str:
    return _rfc3339(int(epoch // 1))


# Controllers stamp every condition and event with the current second, and all of them read
# the same few seconds: formatting (and parsing, below) each once is worth a small cache.
@functools.lru_cache(maxsize=1024)
def _rfc3339(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=4096)
def parse_time(stamp: str) -> float:
    """Epoch seconds of an RFC 3339 stamp as `rfc3339` writes it."""
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def leaf_paths(doc: Any, prefix: Path_ = ()) -> set[Path_]:
    """Every leaf of nested dicts (a scalar, a list, or an empty dict) as a key path."""
    out: set[Path_] = set()
    for k, v in doc.items():
        if isinstance(v, dict) and v:
            out |= leaf_paths(v, (*prefix, k))
        else:
            out.add((*prefix, k))
    return out


def get_path(doc: Any, path: Path_) -> Any:
    for k in path:
        if not isinstance(doc, dict) or k not in doc:
            return None
        doc = doc[k]
    return doc


def set_path(doc: Obj, path: Path_, value: Any) -> None:
    for k in path[:-1]:
        if not isinstance(doc.get(k), dict):
            doc[k] = {}
        doc = doc[k]
    doc[path[-1]] = value


def del_path(doc: Obj, path: Path_, keep: set[Path_]) -> None:
    """Remove a leaf, then the dicts it leaves empty unless someone owns them as leaves."""
    parents: list[tuple[Obj, str, Path_]] = []
    cur: Any = doc
    for i, k in enumerate(path[:-1]):
        if not isinstance(cur, dict) or not isinstance(cur.get(k), dict):
            return
        parents.append((cur, k, path[: i + 1]))
        cur = cur[k]
    if isinstance(cur, dict):
        cur.pop(path[-1], None)
    for parent, k, p in reversed(parents):
        if parent[k] or p in keep or len(p) == 1:
            break
        del parent[k]


def _to_fields(paths: set[Path_]) -> Obj:
    out: Obj = {}
    for p in sorted(paths):
        cur = out
        for k in p:
            cur = cur.setdefault(f"f:{k}", {})
    return out


def _from_fields(fields: Obj, prefix: Path_ = ()) -> set[Path_]:
    out: set[Path_] = set()
    for k, v in fields.items():
        path = (*prefix, k.removeprefix("f:"))
        out |= _from_fields(v, path) if v else {path}
    return out


def managed_sets(obj: Obj | None) -> dict[str, set[Path_]]:
    out: dict[str, set[Path_]] = {}
    for entry in ((obj or {}).get("metadata") or {}).get("managedFields") or []:
        if entry.get("operation") == "Apply":
            out[str(entry.get("manager"))] = _from_fields(entry.get("fieldsV1") or {})
    return out


def _applied_fields(obj: Obj) -> Obj:
    """What an apply may own: everything but status and the server-maintained metadata."""
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SYSTEM_META}
    if meta:
        body["metadata"] = meta
    else:
        body.pop("metadata", None)
    return body


def _exact(raw: bytes) -> bytes:
    """A copy of `raw` in a buffer of its own size. orjson returns its output in a buffer of
    at least 4 KiB; kept as is, a 700-byte Event would hold 4 KiB."""
    return bytes(memoryview(raw))


class ObjectStore:
    """Objects, the revision counter, controller timers, change subscribers, the state file.

    Objects are held as their JSON bytes (orjson), not as dicts: a host process simulates a
    thousand clusters, and a Deployment, its ReplicaSet, Pod, Service and their Events take
    about 60 KiB as nested dicts but 9 KiB encoded. Every read decodes (microseconds for one
    object), so what a reader gets is its own copy, free to modify; an incremental pass reads
    only the objects it reconciles. Indexes hold keys.
    """

    def __init__(
        self, clock: Callable[[], float], cluster_name: str, state_path: Path | None = None
    ) -> None:
        self.clock = clock
        self.cluster_name = cluster_name
        self.state_path = state_path
        self.objects: dict[Key, bytes] = {}
        self._by_kind: dict[tuple[str, str], set[Key]] = {}  # (group, kind) -> keys
        # owner uid -> the keys of objects naming it in ownerReferences: controllers ask "what
        # does this Deployment own" for every object they look at, which a scan makes
        # quadratic. Events are indexed under "event:<uid of their involvedObject>".
        self._children: dict[str, set[Key]] = {}
        self._uids: dict[str, Key] = {}  # uid -> key of the live object
        self.revision = 0
        self.marks: dict[str, dict[str, float]] = {}  # uid -> named instants (timers)
        self.dirty = False
        # What changed since the controllers last took it (`take_touched`): key -> the object
        # as written, or as it was when removed. Controllers reconcile only these (and their
        # owners), so an apply costs what it touches, not what the cluster holds.
        self.touched: dict[Key, Obj] = {}
        self._subscribers: list[asyncio.Queue[bytes]] = []

    # ---- reading ---------------------------------------------------------------------

    def get(self, key: Key) -> Obj | None:
        raw = self.objects.get(key)
        return cast(Obj, orjson.loads(raw)) if raw is not None else None

    def _decode(self, keys: Iterable[Key]) -> list[Obj]:
        return [cast(Obj, orjson.loads(self.objects[k])) for k in sorted(keys)]

    def of_kind(self, group: str, kind: str, namespace: str | None = None) -> list[Obj]:
        """Objects of one kind (in one namespace, or all), ordered by namespace and name."""
        index = self._by_kind.get((group, kind), ())
        return self._decode(k for k in index if namespace is None or k[2] == namespace)

    def owned_by(self, uid: str, group: str, kind: str, namespace: str | None = None) -> list[Obj]:
        """Objects of one kind whose ownerReferences name `uid`, ordered as `of_kind`."""
        children = self._children.get(uid) or ()
        return self._decode(
            k
            for k in children
            if k[0] == group and k[1] == kind and (namespace is None or k[2] == namespace)
        )

    def events_about(self, uid: str) -> list[Obj]:
        """The Events whose involvedObject has `uid` (indexed: asked on every health check)."""
        return self._decode(self._children.get(f"event:{uid}") or ())

    def _index(self, key: Key, old: Obj | None, new: Obj | None) -> None:
        for obj, add in ((old, False), (new, True)):
            if obj is None:
                continue
            uids = [r.get("uid") for r in obj["metadata"].get("ownerReferences") or []]
            involved = (obj.get("involvedObject") or {}).get("uid")
            if key[:2] == ("", "Event") and involved:
                uids.append(f"event:{involved}")
            for uid in uids:
                if not uid:
                    continue
                if add:
                    self._children.setdefault(uid, set()).add(key)
                else:
                    found = self._children.get(uid)
                    if found is not None:
                        found.discard(key)
                        if not found:
                            del self._children[uid]

    def has_uid(self, uid: str) -> bool:
        return uid in self._uids

    def key_of_uid(self, uid: str) -> Key | None:
        return self._uids.get(uid)

    def children(self, uid: str) -> list[Obj]:
        """Objects naming `uid` in their ownerReferences (also after `uid` is gone)."""
        return self._decode(self._children.get(uid) or ())

    def take_touched(self) -> dict[Key, Obj]:
        """What changed since the last call (see `touched`); starts a new record."""
        found, self.touched = self.touched, {}
        return found

    def __iter__(self) -> Iterator[Obj]:
        return iter(self._decode(self.objects))

    # ---- writing ---------------------------------------------------------------------

    def now(self) -> str:
        return rfc3339(self.clock())

    def write(self, obj: Obj) -> bool:
        """Store `obj` whole (a controller's update); False when nothing changed."""
        key = key_of(obj)
        raw = orjson.dumps(obj)
        old_raw = self.objects.get(key)
        if old_raw is not None and raw == old_raw:
            return False  # the common case of a controller pass: nothing to decode
        old = cast(Obj, orjson.loads(old_raw)) if old_raw is not None else None
        if old is not None and obj == old:
            return False
        new = cast(Obj, orjson.loads(raw))
        meta = new.setdefault("metadata", {})
        if key[2]:
            meta["namespace"] = key[2]
        else:
            meta.pop("namespace", None)
        if old is None:
            meta["uid"] = meta.get("uid") or str(uuid.uuid4())
            meta["creationTimestamp"] = self.now()
            meta["generation"] = 1
        else:
            om = old["metadata"]
            meta["uid"] = om["uid"]
            meta["creationTimestamp"] = om["creationTimestamp"]
            meta["generation"] = om.get("generation", 1)
            meta["resourceVersion"] = om["resourceVersion"]
            if new == old:
                return False
            outside = ("metadata", "status")
            if {k: v for k, v in new.items() if k not in outside} != {
                k: v for k, v in old.items() if k not in outside
            }:
                meta["generation"] += 1
        self.revision += 1
        meta["resourceVersion"] = str(self.revision)
        raw = _exact(orjson.dumps(new))
        self.objects[key] = raw
        self._by_kind.setdefault(key[:2], set()).add(key)
        self._uids[meta["uid"]] = key
        self._index(key, old, new)
        self.touched[key] = new
        self.dirty = True
        self._notify(raw)
        return True

    def remove(self, key: Key) -> Obj | None:
        raw = self.objects.pop(key, None)
        if raw is None:
            return None
        obj = cast(Obj, orjson.loads(raw))
        self._by_kind.get(key[:2], set()).discard(key)
        self._index(key, obj, None)
        self._uids.pop(obj["metadata"]["uid"], None)
        self.touched[key] = obj
        self.revision += 1
        self.marks.pop(obj["metadata"]["uid"], None)
        self.dirty = True
        gone = clone(obj)
        gone["metadata"]["deletionTimestamp"] = self.now()
        self._notify(orjson.dumps(gone))
        return obj

    def apply(
        self,
        obj: Obj,
        manager: str,
        force: bool,
        admit: Callable[[Obj, Obj | None], None] | None = None,
    ) -> Obj:
        """Server-side apply of `obj` by `manager` (see the module docstring)."""
        meta = obj.get("metadata")
        if not obj.get("apiVersion") or not obj.get("kind"):
            raise Invalid("Object 'Kind' is missing or apiVersion is not set")
        if not isinstance(meta, dict) or not meta.get("name"):
            raise Invalid(f"{obj['kind']}: metadata.name: Required value: name is required")
        key = key_of(obj)
        old = self.get(key)
        applied = _applied_fields(obj)
        new_paths = leaf_paths(applied)
        managed = managed_sets(old)
        prev = managed.get(manager, set())
        if not force and old is not None:
            conflicts = [
                (m, p)
                for m, paths in managed.items()
                if m != manager
                for p in sorted(new_paths & paths)
                if get_path(old, p) != get_path(applied, p)
            ]
            if conflicts:
                lines = "\n".join(f'conflict with "{m}": .{".".join(p)}' for m, p in conflicts)
                raise Conflict(
                    f"Apply failed with {len(conflicts)} conflict(s): {lines}",
                    kind=obj["kind"],
                    name=meta["name"],
                )
        # A second decoded copy to change (`old` stays as stored, for admission).
        live: Obj = (
            cast(Obj, self.get(key))
            if old
            else {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": {}}
        )
        live["apiVersion"] = obj["apiVersion"]
        live["metadata"]["name"] = meta["name"]
        if key[2]:
            live["metadata"]["namespace"] = key[2]
        for p in new_paths:
            value = get_path(applied, p)
            if value == {} and isinstance(get_path(live, p), dict):
                continue  # an empty map asks for the map, not for emptying others' keys
            set_path(live, p, clone(value))
        others: set[Path_] = set()
        for m, paths in managed.items():
            if m != manager:
                if force:
                    paths -= new_paths
                others |= paths
        for p in sorted(prev - new_paths - others, key=len, reverse=True):
            del_path(live, p, others | new_paths)
        managed[manager] = new_paths
        entries = {
            e.get("manager"): e
            for e in (old or {}).get("metadata", {}).get("managedFields") or []
            if e.get("operation") == "Apply"
        }
        fields = []
        for m, paths in sorted(managed.items()):
            if not paths:
                continue
            entry = entries.get(m)
            rendered = _to_fields(paths)
            if entry is None or entry.get("fieldsV1") != rendered:
                entry = {
                    "manager": m,
                    "operation": "Apply",
                    "apiVersion": obj["apiVersion"],
                    "time": self.now(),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": rendered,
                }
            fields.append(entry)
        live["metadata"]["managedFields"] = fields
        if admit is not None:
            admit(live, old)
        self.write(live)
        found = self.get(key)
        assert found is not None
        return found

    # ---- timers ----------------------------------------------------------------------

    def mark(self, obj: Obj, name: str, at: float | None = None) -> float:
        """The instant named `name` for `obj`, set to `at` (or now) the first time asked."""
        marks = self.marks.setdefault(obj["metadata"]["uid"], {})
        if name not in marks:
            marks[name] = self.clock() if at is None else at
            self.dirty = True
        return marks[name]

    def has_mark(self, obj: Obj, name: str) -> bool:
        return name in self.marks.get(obj["metadata"]["uid"], {})

    # ---- change feed -----------------------------------------------------------------

    def subscribe(self) -> asyncio.Queue[bytes]:
        """A queue of every change from now on, encoded (decoded by the reader: a queue
        falling behind during a burst holds bytes, not dicts)."""
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[bytes]) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(queue)

    def _notify(self, raw: bytes) -> None:
        for queue in self._subscribers:
            queue.put_nowait(raw)

    # ---- the state file --------------------------------------------------------------

    def load(self) -> bool:
        """Read the state file if there is one; True when state was restored."""
        cluster_name = self.cluster_name
        if self.state_path is None:
            return False
        try:
            raw = self.state_path.read_bytes()
        except FileNotFoundError:
            return False
        try:
            doc = json.loads(raw)
            if doc.get("version") != STATE_VERSION:
                raise ValueError(f"version {doc.get('version')!r}, expected {STATE_VERSION}")
            if doc.get("cluster") != cluster_name:
                raise ValueError(f"it holds cluster {doc.get('cluster')!r}")
            objects = [o for o in doc["objects"] if isinstance(o, dict)]
            revision = int(doc["revision"])
            marks = {
                str(u): {str(k): float(v) for k, v in m.items()} for u, m in doc["marks"].items()
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise Invalid(
                f"state file {self.state_path} is not a state of simulated cluster "
                f"{cluster_name!r} ({exc}); remove it to start the cluster afresh"
            ) from None
        self.objects = {}
        self._by_kind = {}
        self._children = {}
        self._uids = {}
        for obj in objects:
            key = key_of(obj)
            self.objects[key] = _exact(orjson.dumps(obj))
            self._by_kind.setdefault(key[:2], set()).add(key)
            self._uids[obj["metadata"]["uid"]] = key
            self._index(key, None, obj)
        self.revision = revision
        self.marks = marks
        self.dirty = False
        return True

    def snapshot(self) -> bytes | None:
        """The state file's content if anything changed since the last snapshot, else None;
        the store counts as saved from here on (the caller writes it with `write_state`)."""
        if self.state_path is None or not self.dirty:
            self.dirty = False
            return None
        head = orjson.dumps(
            {"version": STATE_VERSION, "cluster": self.cluster_name, "revision": self.revision}
        )
        # The objects are JSON already: spliced in, not decoded and encoded again.
        data = b"".join(
            (
                head[:-1],
                b',"objects":[',
                b",".join(self.objects.values()),
                b'],"marks":',
                orjson.dumps(self.marks),
                b"}",
            )
        )
        self.dirty = False
        return data

    def write_state(self, data: bytes) -> None:
        """Write a snapshot to the state file atomically (a temporary file renamed over it)."""
        if self.state_path is None:
            return
        replace_file(self.state_path, data)

    def save(self) -> None:
        """Write the state file atomically if anything changed since the last save."""
        data = self.snapshot()
        if data is not None:
            try:
                self.write_state(data)
            except BaseException:
                self.dirty = True
                raise
