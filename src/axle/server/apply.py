"""Server-side apply and `metadata.managedFields` tracking, as pure functions on objects.

The server calls `server_side_apply` for `PATCH` with `application/apply-patch+yaml` and
`track_update` on every other write (create, update, patch, status update), so that each
object says which manager set which field, in the shape kubectl prints:
`metadata.managedFields[]` of `{manager, operation, apiVersion, time, fieldsType: FieldsV1,
fieldsV1, subresource?}` with `fieldsV1` in the real `f:`/`k:`/`v:` encoding
(`axle.server.fieldpath`).

The semantics are Kubernetes' (structured-merge-diff), written for plain JSON objects:

- Apply merges the applied configuration into the live object: maps merge key by key;
  lists are atomic (replaced whole) unless associative — `metadata.finalizers` is a set,
  `metadata.ownerReferences` a map keyed by `uid`, Namespace `status.conditions` a map keyed
  by `type`, and, by axle's choice for its own kinds, any list whose items are all objects
  with a `name` is a map keyed by `name` (`axle.server.listtypes`).
- The applier owns exactly the fields its configuration sets. A field it applied before and
  no longer applies is removed from the object, unless another manager also owns it.
- A change to a field another manager owns is a conflict (409, reason Conflict, one
  `FieldManagerConflict` cause per field, Kubernetes' message) unless `force`, which moves
  ownership to the applier. Applying the value a field already has is not a change: both
  managers then share it.
- An update (`operation: Update`) gives its manager every field it changed and takes those
  from all other managers; fields it removed leave every manager's set. Entries are keyed by
  (manager, operation, subresource, apiVersion for updates), like Kubernetes, so an object
  applied by `kubectl` and edited by `kubectl-edit` keeps both.
- For kinds with a status subresource, `status` is ignored by applies and updates of the main
  resource; writes to the `status` subresource track `status` only, in entries with
  `subresource: status`.
- Identity and server-set metadata (apiVersion, kind, name, namespace, uid, resourceVersion,
  generation, creationTimestamp, deletionTimestamp, managedFields) are never tracked.
- `managedFields: [{}]` in a write clears tracking; a write that sends other managed fields
  replaces them (kubectl uses this to migrate client-side apply to server-side apply); a write
  that sends none keeps the stored ones. At most ten Update entries are kept: older ones are
  merged into `ancient-changes`, as Kubernetes does.

- An entry's `time` is when its manager last changed the object; an apply that changes
  nothing keeps it (a new applier that only shares values gets none, as in Kubernetes).

`null` values in an applied configuration are dropped before applying (they set nothing).
"""

from __future__ import annotations

import copy
import functools
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson

from axle.api.meta import now_rfc3339
from axle.api.registry import REGISTRY, KindInfo
from axle.errors import BadRequest, Cause, Conflict, Invalid
from axle.server.fieldpath import (
    FieldSet,
    FieldWalker,
    Names,
    Path,
    check_unique,
    describe,
    from_fields_v1,
    key_element,
    path_order,
    to_fields_v1,
    value_element,
)
from axle.server.listtypes import ListType, is_builtin

APPLY = "Apply"
UPDATE = "Update"
MAX_UPDATE_MANAGERS = 10
ANCIENT_CHANGES = "ancient-changes"
MAX_MANAGER_LENGTH = 128

# Metadata the server sets: never applied, never tracked.
_SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "managedFields",
)
_STRIP: frozenset[Path] = frozenset(
    {("f:apiVersion",), ("f:kind",), ("f:metadata",)}
    | {("f:metadata", "f:" + name) for name in ("name", "namespace", "clusterName")}
    | {("f:metadata", "f:" + name) for name in _SERVER_METADATA}
)
_MANAGED_FIELDS: Names = ("metadata", "managedFields")
# Top-level fields of the built-in kinds that are Go structs (not pointers or maps): they
# always exist in a typed object, so a write never "adds" them, only their contents.
_BUILTIN_STRUCTS = frozenset({"spec", "status", "roleRef", "involvedObject", "source"})

EntryKey = tuple[str, str, str, str]


@dataclass
class _Entry:
    manager: str
    operation: str
    api_version: str
    time: str | None
    fields: FieldSet
    subresource: str = ""

    @property
    def key(self) -> EntryKey:
        # Like Kubernetes' manager identifier: appliers are one manager across versions.
        version = self.api_version if self.operation == UPDATE else ""
        return (self.manager, self.operation, self.subresource, version)

    def printed(self) -> str:
        """The manager as Kubernetes names it in conflict messages."""
        text = f'"{self.manager}"'
        if self.subresource:
            text += f' with subresource "{self.subresource}"'
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text

    def encode(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
        }
        if self.time is not None:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = orjson.loads(_fields_v1_bytes(frozenset(self.fields)))
        if self.subresource:
            out["subresource"] = self.subresource
        return out


Managers = dict[EntryKey, _Entry]


# --- public entry points ------------------------------------------------------------------


def server_side_apply(
    info: KindInfo,
    current: dict[str, Any] | None,
    applied: dict[str, Any],
    *,
    manager: str,
    force: bool,
) -> dict[str, Any]:
    """The object after `manager` applies `applied` to `current` (None: create).

    Raises BadRequest for a malformed configuration, Conflict (409) for fields owned by other
    managers (unless `force`) and for a failed uid/resourceVersion precondition. Neither
    argument is changed.
    """
    check_manager(manager, apply=True)
    config = _applied_config(info, current, applied)
    walker = _walker(info, None, config)
    check_unique(walker, config)
    live = _body(current) if current is not None else {}
    managers = _decode(_managed_fields(current), strict=False)

    key = (manager, APPLY, "", "")
    previous = managers.get(key)
    applied_set = walker.leaves(config)
    # Merged from a copy: pruning changes it in place and `live` is compared against after.
    merged = _merge(walker, copy.deepcopy(live), config, ())
    if previous is not None:
        owned = applied_set.union(*(e.fields for k, e in managers.items() if k != key))
        _prune(walker, merged, previous.fields - applied_set, owned)

    added, modified, removed = walker.compare(live, merged, existing=_structs(info))
    changed = added | modified
    conflicts = {
        k: e.fields & changed for k, e in managers.items() if k != key and e.fields & changed
    }
    if conflicts and not force:
        raise _conflict_error(managers, conflicts)
    touched = changed | removed
    for k, entry in managers.items():
        if k != key:
            entry.fields -= touched

    # Like Kubernetes, the time says when the applier last changed the object: an apply that
    # changes nothing keeps the old time, or has none if this applier is new (it only took
    # shared ownership of values already there).
    time = now_rfc3339() if merged != live else previous.time if previous else None
    managers[key] = _Entry(manager, APPLY, info.api_version, time, applied_set)
    return _with_managed_fields(merged, managers)


def track_update(
    info: KindInfo,
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    operation: str = UPDATE,
    subresource: str | None = None,
) -> dict[str, Any]:
    """`new` with `metadata.managedFields` updated for a non-apply write by `manager`.

    `old` is the stored object (None on create). `new` is not changed; the result shares
    everything but its top level and metadata with it.
    """
    if operation != UPDATE:
        raise ValueError(f"track_update records Update operations, not {operation!r}")
    check_manager(manager, apply=False)
    new_fields = _managed_fields(new)
    old_fields = _managed_fields(old)
    if new_fields == [{}]:
        # Kubernetes' documented way to clear managed fields: store none, track nothing.
        return _with_managed_fields(new, {})
    if new_fields and new_fields != old_fields:
        managers = _decode(new_fields, strict=True)
    else:
        managers = _decode(old_fields, strict=False)

    walker = _walker(info, subresource, old or {}, new)
    added, modified, removed = walker.compare(old or {}, new, existing=_structs(info))
    changed = added | modified
    if not changed and not removed:
        if new_fields and new_fields != old_fields:
            return _with_managed_fields(new, managers)
        return _with_raw_managed_fields(new, copy.deepcopy(old_fields))
    touched = changed | removed
    for entry in managers.values():
        entry.fields -= touched
    if changed:
        time = now_rfc3339()
        entry = _Entry(manager, UPDATE, info.api_version, time, set(), subresource or "")
        entry = managers.setdefault(entry.key, entry)
        entry.fields |= changed
        entry.time = time
    _cap_updates(managers)
    return _with_managed_fields(new, managers)


def _structs(info: KindInfo) -> frozenset[str]:
    return _BUILTIN_STRUCTS if is_builtin(info) else frozenset()


def check_manager(manager: str, *, apply: bool) -> None:
    """Kubernetes' rules for `fieldManager`: required for apply, printable, 128 at most."""
    if not manager and apply:
        raise BadRequest("fieldManager is required for apply requests")
    if len(manager) > MAX_MANAGER_LENGTH:
        raise Invalid(
            f"fieldManager: Too long: may not be more than {MAX_MANAGER_LENGTH} bytes",
            causes=[Cause("fieldManager", "Too long", "FieldValueTooLong")],
        )
    if not manager.isprintable():
        raise Invalid(
            "fieldManager: Invalid value: may only contain printable characters",
            causes=[Cause("fieldManager", "may only contain printable characters")],
        )


def manager_from_user_agent(user_agent: str | None) -> str:
    """The manager Kubernetes records when a write names none: the user agent's product.

    `kubectl/v1.32.4 (linux/amd64) kubernetes/abc` -> `kubectl`.
    """
    product = (user_agent or "").split("/", 1)[0]
    return "".join(c for c in product if c.isprintable())[:MAX_MANAGER_LENGTH]


# --- the applied configuration -------------------------------------------------------------


def _applied_config(info: KindInfo, current: dict[str, Any] | None, applied: Any) -> dict[str, Any]:
    """Check the applied object against the resource and return what is to be merged."""
    if not isinstance(applied, dict):
        raise BadRequest("an applied configuration must be an object")
    version = applied.get("apiVersion")
    if not _is_api_version(info, version):
        raise BadRequest(
            "Incorrect version specified in apply patch. Specified patch version: "
            f"{version}, expected: {info.api_version}"
        )
    if applied.get("kind") != info.kind:
        raise BadRequest(
            f"the kind of the applied object ({applied.get('kind')}) does not match the "
            f"resource's kind ({info.kind})"
        )
    meta = applied.get("metadata")
    if not isinstance(meta, dict):
        raise BadRequest("an applied configuration needs metadata")
    if meta.get("managedFields") is not None:
        raise BadRequest("metadata.managedFields must be nil")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest("metadata.name is required in an applied configuration")

    config: dict[str, Any] = _drop_nulls(applied)
    config["apiVersion"] = info.api_version
    config_meta = config["metadata"]
    if current is not None:
        _check_against_live(info, current, config_meta)
    for field in _SERVER_METADATA:
        config_meta.pop(field, None)
    if info.has_status:
        config.pop("status", None)
    return config


def _check_against_live(info: KindInfo, current: dict[str, Any], meta: dict[str, Any]) -> None:
    live_meta = current.get("metadata") or {}
    if meta["name"] != live_meta.get("name"):
        raise BadRequest(
            f"the name of the object ({meta['name']}) does not match the name on the URL "
            f"({live_meta.get('name')})"
        )
    if "namespace" not in meta and live_meta.get("namespace") is not None:
        meta["namespace"] = live_meta["namespace"]
    if meta.get("namespace") != live_meta.get("namespace"):
        raise BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    uid = meta.get("uid")
    if uid is not None and uid != live_meta.get("uid"):
        raise Conflict(
            f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
            f"{live_meta.get('uid')}"
        )
    version = meta.get("resourceVersion")
    if version is not None and version != live_meta.get("resourceVersion"):
        resource = f"{info.plural}.{info.group}" if info.group else info.plural
        raise Conflict(
            f'Operation cannot be fulfilled on {resource} "{meta["name"]}": the object has '
            "been modified; please apply your changes to the latest version and try again",
            kind=info.plural,
            name=meta["name"],
            group=info.group,
        )


def _is_api_version(info: KindInfo, version: Any) -> bool:
    if not isinstance(version, str):
        return False
    group, _, ver = version.rpartition("/")
    return ver == info.version and REGISTRY.canonical_group(group) == info.group


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


# --- merging and pruning --------------------------------------------------------------------


def _merge(walker: FieldWalker, live: Any, config: Any, names: Names) -> Any:
    """The configuration merged onto the live value (both already private copies)."""
    if isinstance(live, dict) and isinstance(config, dict):
        out = dict(live)
        for key, value in config.items():
            out[key] = _merge(walker, live.get(key), value, (*names, key))
        return out
    if isinstance(live, list) and isinstance(config, list):
        kind = walker.list_type(names, live, config)
        if kind.type != "atomic":
            return _merge_list(walker, kind, live, config, names)
    return config


def _merge_list(
    walker: FieldWalker, kind: ListType, live: list[Any], config: list[Any], names: Names
) -> list[Any]:
    """Merge associative lists item by item, in structured-merge-diff's order.

    The configuration's items come in its order; live-only items stay where they were
    relative to them; an item both have is emitted where the configuration puts it.
    """
    lhs = list(walker.keyed(kind, live))
    rhs = list(walker.keyed(kind, config))
    lhs_items: dict[str, Any] = {}
    for element, item in lhs:
        lhs_items.setdefault(element, item)
    rhs_items = dict(rhs)
    shared = [e for e, _ in rhs if e in lhs_items]
    shared.reverse()
    next_shared = shared.pop() if shared else None
    emitted: set[str] = set()
    out: list[Any] = []

    def take(element: str) -> None:
        emitted.add(element)
        if kind.type == "set":
            out.append(rhs_items[element])
        else:
            out.append(_merge(walker, lhs_items.get(element), rhs_items[element], names))

    li = ri = 0
    while li < len(lhs) or ri < len(rhs):
        if li < len(lhs) and ri < len(rhs):
            element = lhs[li][0]
            if element == rhs[ri][0]:
                take(element)
                li += 1
                ri += 1
                next_shared = shared.pop() if shared else None
                continue
            if element in rhs_items and next_shared is not None and next_shared != element:
                li += 1  # shared, but the configuration wants it later
                continue
        if li < len(lhs):
            element, item = lhs[li]
            if element not in rhs_items:
                out.append(item)
                li += 1
                continue
            if element in emitted:
                li += 1
                continue
        if ri < len(rhs):
            element = rhs[ri][0]
            take(element)
            ri += 1
            if next_shared == element:
                next_shared = shared.pop() if shared else None
    return out


def _prune(walker: FieldWalker, obj: dict[str, Any], doomed: FieldSet, owned: FieldSet) -> None:
    """Remove fields the applier dropped from its configuration and nobody else owns."""
    keep = {path[:i] for path in owned for i in range(1, len(path) + 1)}
    for path in sorted(doomed, key=len):
        if path not in keep:
            _remove(walker, obj, path, (), (), owned)


def _remove(
    walker: FieldWalker, node: Any, path: Path, names: Names, prefix: Path, owned: FieldSet
) -> None:
    element, rest = path[0], path[1:]
    here = (*prefix, element)
    if element.startswith("f:"):
        name = element[2:]
        if not isinstance(node, dict) or name not in node:
            return
        if not rest:
            del node[name]
            return
        child = node[name]
        _remove(walker, child, rest, (*names, name), here, owned)
        # A map or list emptied by pruning goes too, unless someone owns it as such.
        if child in ({}, []) and here not in owned:
            del node[name]
        return
    if not isinstance(node, list):
        return
    kind = walker.list_type(names, node)
    for index, item in enumerate(node):
        if element == _item_element(kind, item, index):
            if rest:
                _remove(walker, item, rest, names, here, owned)
            else:
                del node[index]
            return


def _item_element(kind: ListType, item: Any, index: int) -> str:
    if kind.type == "set":
        return value_element(item)
    if kind.type == "map":
        return key_element(item, kind.keys)
    return f"i:{index}"


# --- managed fields encoding ----------------------------------------------------------------


def _walker(info: KindInfo, subresource: str | None, *objects: dict[str, Any]) -> FieldWalker:
    if subresource:
        # A subresource write tracks that subresource's field only.
        others = {(k,) for obj in objects for k in obj if k != subresource}
        skip = frozenset({*others, _MANAGED_FIELDS})
    elif info.has_status:
        skip = frozenset({("status",), _MANAGED_FIELDS})
    else:
        skip = frozenset({_MANAGED_FIELDS})
    return FieldWalker(info, skip=skip, strip=_STRIP)


def _managed_fields(obj: dict[str, Any] | None) -> Any:
    if obj is None:
        return None
    meta = obj.get("metadata")
    return meta.get("managedFields") if isinstance(meta, dict) else None


def _decode(raw: Any, *, strict: bool) -> Managers:
    """Parse managedFields. A client's malformed ones are 400; stored ones are reset."""
    try:
        return _decode_entries(raw)
    except ValueError as exc:
        if strict:
            raise BadRequest(f"metadata.managedFields: {exc}") from None
        return {}


def _decode_entries(raw: Any) -> Managers:
    managers: Managers = {}
    if raw is None:
        return managers
    if not isinstance(raw, list):
        raise ValueError("must be a list")
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValueError(f"[{index}] must be an object")
        operation = item.get("operation")
        if operation not in (APPLY, UPDATE):
            raise ValueError(f"[{index}].operation must be Apply or Update")
        if item.get("fieldsType", "FieldsV1") != "FieldsV1":
            raise ValueError(f"[{index}].fieldsType must be FieldsV1")
        strings = {k: item.get(k) for k in ("manager", "apiVersion", "time", "subresource")}
        for name, value in strings.items():
            if value is not None and not isinstance(value, str):
                raise ValueError(f"[{index}].{name} must be a string")
        entry = _Entry(
            manager=strings["manager"] or "",
            operation=operation,
            api_version=strings["apiVersion"] or "",
            time=strings["time"],
            fields=_field_set(item.get("fieldsV1") or {}),
            subresource=strings["subresource"] or "",
        )
        found = managers.get(entry.key)
        if found is not None:
            found.fields |= entry.fields
        else:
            managers[entry.key] = entry
    return managers


# Objects of one kind written by one manager carry the same field sets (every Work's status
# entry names the same fields), and every write decodes and re-encodes all entries of its
# object: both directions are remembered, keyed by the encoded tree and by the set.
_CODEC_CACHE = 2048


def _field_set(tree: Any) -> FieldSet:
    """`from_fields_v1(tree)`, remembered by the tree's JSON (a new set each call)."""
    try:
        key = orjson.dumps(tree)
    except TypeError:
        return from_fields_v1(tree)  # not JSON: from_fields_v1 says what is wrong
    return set(_decoded_fields(key))


@functools.lru_cache(maxsize=_CODEC_CACHE)
def _decoded_fields(tree_json: bytes) -> frozenset[Path]:
    return frozenset(from_fields_v1(orjson.loads(tree_json)))


@functools.lru_cache(maxsize=_CODEC_CACHE)
def _fields_v1_bytes(fields: frozenset[Path]) -> bytes:
    """The JSON of `to_fields_v1(fields)`; callers decode it, so each gets its own tree."""
    return orjson.dumps(to_fields_v1(fields))


def _cap_updates(managers: Managers) -> None:
    """Merge the oldest Update entries into `ancient-changes` beyond ten, like Kubernetes."""
    updates = [e for e in managers.values() if e.operation == UPDATE]
    if len(updates) <= MAX_UPDATE_MANAGERS:
        return
    updates.sort(key=lambda e: e.time or "")
    buckets: dict[str, _Entry] = {
        e.api_version: e for e in updates if e.manager == ANCIENT_CHANGES and not e.subresource
    }
    count = len(updates)
    for entry in updates:
        if count <= MAX_UPDATE_MANAGERS:
            break
        if entry.manager == ANCIENT_CHANGES and not entry.subresource:
            continue
        del managers[entry.key]
        count -= 1
        bucket = buckets.get(entry.api_version)
        if bucket is None:
            bucket = _Entry(ANCIENT_CHANGES, UPDATE, entry.api_version, entry.time, set())
            buckets[entry.api_version] = managers[bucket.key] = bucket
            count += 1
        bucket.fields |= entry.fields
        bucket.time = entry.time


def _encode(managers: Managers) -> list[dict[str, Any]]:
    entries = sorted(
        (e for e in managers.values() if e.fields),
        key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource),
    )
    return [e.encode() for e in entries]


def _body(obj: dict[str, Any]) -> dict[str, Any]:
    """A private copy of the object without its managedFields (key order kept)."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "managedFields"}
        out[key] = copy.deepcopy(value)
    return out


def _with_managed_fields(obj: dict[str, Any], managers: Managers) -> dict[str, Any]:
    return _with_raw_managed_fields(obj, _encode(managers))


def _with_raw_managed_fields(obj: dict[str, Any], entries: Any) -> dict[str, Any]:
    """A copy of the top level and metadata of `obj`, with `entries` as its managedFields."""
    out = dict(obj)
    meta = dict(obj.get("metadata") or {})
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)
    out["metadata"] = meta
    return out


def _conflict_error(managers: Managers, conflicts: dict[EntryKey, FieldSet]) -> Conflict:
    """Kubernetes' apply conflict: message grouped by manager, one cause per field."""
    found = sorted(
        ((managers[k].printed(), path) for k, paths in conflicts.items() for path in paths),
        key=lambda pair: (pair[0], path_order(pair[1])),
    )
    causes = [Cause(describe(p), f"conflict with {m}", "FieldManagerConflict") for m, p in found]
    if len(found) == 1:
        who, path = found[0]
        return Conflict(
            f"Apply failed with 1 conflict: conflict with {who}: {describe(path)}", causes=causes
        )
    by_manager: dict[str, list[Path]] = defaultdict(list)
    for who, path in found:
        by_manager[who].append(path)
    lines: list[str] = []
    for who, paths in by_manager.items():
        lines.append(f"conflicts with {who}:")
        lines.extend(f"- {describe(p)}" for p in paths)
    return Conflict(f"Apply failed with {len(found)} conflicts: " + "\n".join(lines), causes=causes)
