"""Kubernetes strategic merge patch, for the built-in kinds axle serves.

A strategic merge patch is a JSON merge patch whose lists merge by the rules the Kubernetes
types declare (see `axle.server.listtypes`): a list of maps keyed by a merge key merges item by
item, a list of scalars declared a set is unioned, any other list is replaced. kubectl's
client-side `apply` and `patch` send this format for core kinds, with these directives:

- `"$patch": "replace"` in a map replaces the map; `"$patch": "delete"` removes it;
  `"$patch": "merge"` is the default;
- `{"$patch": "replace"}` as a list item replaces the whole list with the other items;
  `{"$patch": "delete", "<key>": v}` removes the item whose merge key is `v`;
- `"$retainKeys": [...]` drops every key of the original map not listed;
- `"$deleteFromPrimitiveList/<field>": [...]` removes those scalars from a set;
- `"$setElementOrder/<field>": [...]` orders the merged list (items named there in that
  order, items only the server has kept where they were);
- `null` removes a key.

The merge order of list items follows apimachinery's documented behaviour: items named by
the patch take the patch's order, server-only items keep their relative order, and where the
two disagree the patch's items go first. Errors in the patch's shape are 400 BadRequest; a
patch that contradicts its own `$retainKeys` is 422 Invalid, as in Kubernetes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from axle.api.registry import KindInfo
from axle.errors import BadRequest, Invalid
from axle.server.listtypes import ATOMIC, ListType, declared_list_type
from axle.utils.jsoncopy import copy_json

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
SET_ELEMENT_ORDER = "$setElementOrder/"

Path = tuple[str, ...]
Lookup = Callable[[Path], ListType]


class _Deleted:
    """Marks a map that `"$patch": "delete"` removed (distinct from an empty map)."""


_DELETED = _Deleted()


def strategic_merge(info: KindInfo, original: dict[str, Any], patch: Any) -> dict[str, Any]:
    """`original` with the strategic merge `patch` applied; neither argument is changed."""
    if not isinstance(patch, dict):
        raise BadRequest("a strategic merge patch must be a JSON object")

    def lookup(path: Path) -> ListType:
        # Only the built-in kinds get here: anything not declared is atomic (replaced).
        return declared_list_type(info, path) or ATOMIC

    merged = _merge_map(copy_json(original), patch, (), lookup)
    if isinstance(merged, _Deleted):
        raise BadRequest('"$patch": "delete" cannot delete the whole object')
    return merged


def _merge_map(
    original: dict[str, Any], patch: dict[str, Any], path: Path, lookup: Lookup
) -> dict[str, Any] | _Deleted:
    """Merge `patch` into `original` (which this owns and changes) and return the result."""
    directive = patch.get(DIRECTIVE)
    if directive is not None:
        if directive == "delete":
            return _DELETED
        if directive == "replace":
            rest = {k: v for k, v in patch.items() if k != DIRECTIVE}
            return _merge_map({}, rest, path, lookup)
        if directive != "merge":
            raise BadRequest(f"Unknown patch type: {directive} in map: {_show(patch)}")

    for key in patch:
        if key.startswith("$") and not (
            key in (DIRECTIVE, RETAIN_KEYS)
            or key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER))
        ):
            raise BadRequest(f"unknown directive {key!r} in strategic merge patch")

    retain = patch.get(RETAIN_KEYS)
    if retain is not None:
        _retain_keys(original, patch, retain, path)

    # The server's lists before merging, for ordering the merged ones (merging builds new
    # lists, so these stay as they were).
    server_lists = {k: v for k, v in original.items() if isinstance(v, list)}
    for key, value in patch.items():
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            _delete_from_primitive_list(original, key[len(DELETE_FROM_PRIMITIVE_LIST) :], value)

    for key, value in patch.items():
        if key.startswith("$"):
            continue
        child = (*path, key)
        if value is None:
            original.pop(key, None)
        elif isinstance(value, dict):
            base = original.get(key)
            merged = _merge_map(base if isinstance(base, dict) else {}, value, child, lookup)
            if isinstance(merged, _Deleted):
                original.pop(key, None)
            else:
                original[key] = merged
        elif isinstance(value, list):
            base = original.get(key)
            result = _merge_list(base if isinstance(base, list) else None, value, child, lookup)
            if result is None:
                original.pop(key, None)
            else:
                original[key] = result
        else:
            original[key] = value

    for key, order in patch.items():
        if not key.startswith(SET_ELEMENT_ORDER):
            continue
        field = key[len(SET_ELEMENT_ORDER) :]
        if not isinstance(order, list):
            raise BadRequest("invalid patch format of setElementOrder list")
        merged_list = original.get(field)
        if isinstance(merged_list, list):
            original[field] = _normalize_order(
                merged_list, order, server_lists.get(field, []), _identity(lookup((*path, field)))
            )
    return original


def _retain_keys(original: dict[str, Any], patch: dict[str, Any], retain: Any, path: Path) -> None:
    if not isinstance(retain, list) or not all(isinstance(k, str) for k in retain):
        raise BadRequest("invalid patch format of retainKeys")
    keep = set(retain)
    for key in patch:
        if not key.startswith("$") and key not in keep:
            field = ".".join(path) or "<root>"
            raise Invalid(
                f"patch content doesn't match retainKeys list: {key!r} is not in the "
                f"$retainKeys of {field}"
            )
    for key in list(original):
        if key not in keep:
            del original[key]


def _delete_from_primitive_list(original: dict[str, Any], field: str, values: Any) -> None:
    if not isinstance(values, list) or any(isinstance(v, dict | list) for v in values):
        raise BadRequest("invalid patch format of primitive list")
    current = original.get(field)
    if not isinstance(current, list):
        return
    doomed = {_scalar_id(v) for v in values}
    kept = [v for v in current if _scalar_id(v) not in doomed]
    if kept:
        original[field] = kept
    else:
        # An emptied list is omitted, as Go's `omitempty` drops it on the wire.
        del original[field]


def _merge_list(
    original: list[Any] | None, patch: list[Any], path: Path, lookup: Lookup
) -> list[Any] | None:
    """Merge a patch list into the server's list; None means the field is to be removed."""
    list_type = lookup(path)
    if list_type.type == "atomic":
        return [_strip_directives(v) for v in patch]
    server = original or []
    if any(isinstance(v, list) for v in (*server, *patch)):
        raise Invalid(f"lists of lists are not supported: {'.'.join(path)}")
    if list_type.type == "set":
        if any(isinstance(v, dict) for v in patch):
            raise BadRequest(f"{'.'.join(path)}: expected a list of scalars")
        merged = _dedupe([*server, *patch])
        return _normalize_order(merged, patch, server, _scalar_id) if merged else None
    return _merge_map_list(server, patch, path, lookup, list_type.keys)


def _merge_map_list(
    server: list[Any], patch: list[Any], path: Path, lookup: Lookup, keys: tuple[str, ...]
) -> list[Any] | None:
    ident = _identity(ListType("map", keys))
    where = ".".join(path)
    plain: list[dict[str, Any]] = []
    replace = False
    items = [copy_json(v) for v in server]
    for entry in patch:
        if not isinstance(entry, dict):
            raise BadRequest(f"{where}: expected a list of objects, got {_show(entry)}")
        directive = entry.get(DIRECTIVE)
        if directive is None:
            plain.append(entry)
        elif directive == "delete":
            _require_keys(entry, keys)
            doomed = ident(entry)
            items = [v for v in items if not (isinstance(v, dict) and ident(v) == doomed)]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise BadRequest("merging lists cannot yet be specified in the patch")
        else:
            raise BadRequest(f"Unknown patch type: {directive} in map: {_show(entry)}")
    if replace:
        return [_strip_directives(v) for v in plain]
    for entry in plain:
        _require_keys(entry, keys)
        wanted = ident(entry)
        # Entries without a directive never come back deleted.
        for index, item in enumerate(items):
            if isinstance(item, dict) and ident(item) == wanted:
                items[index] = _merge_map(item, entry, path, lookup)
                break
        else:
            items.append(_merge_map({}, entry, path, lookup))
    if not items:
        return None
    return _normalize_order(items, plain, server, ident)


def _require_keys(entry: dict[str, Any], keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in entry]
    if missing:
        raise BadRequest(f"map: {_show(entry)} does not contain declared merge key: {missing[0]}")


def _normalize_order(
    merged: list[Any], patch_order: list[Any], server: list[Any], ident: Callable[[Any], Any]
) -> list[Any]:
    """Order `merged`: patch-named items in patch order, interleaved with server-only items.

    Server-only items keep their server order; an item named by the patch goes before a
    server-only item unless both are in the server list and the server has it later.
    """
    patch_pos: dict[Any, int] = {}
    for index, item in enumerate(patch_order):
        patch_pos.setdefault(ident(item), index)
    server_pos: dict[Any, int] = {}
    for index, item in enumerate(server):
        server_pos.setdefault(ident(item), index)
    named = [m for m in merged if ident(m) in patch_pos]
    others = [m for m in merged if ident(m) not in patch_pos]
    named.sort(key=lambda m: patch_pos[ident(m)])
    others.sort(key=lambda m: server_pos.get(ident(m), len(server)))
    out: list[Any] = []
    i = j = 0
    while i < len(others) or j < len(named):
        if j >= len(named):
            out.append(others[i])
            i += 1
        elif i >= len(others):
            out.append(named[j])
            j += 1
        else:
            left = server_pos.get(ident(others[i]))
            right = server_pos.get(ident(named[j]))
            if left is not None and right is not None and left < right:
                out.append(others[i])
                i += 1
            else:
                out.append(named[j])
                j += 1
    return out


def _identity(list_type: ListType) -> Callable[[Any], Any]:
    if list_type.type == "map":
        keys = list_type.keys

        def by_key(item: Any) -> Any:
            if isinstance(item, dict):
                return tuple(_scalar_id(item.get(k)) for k in keys)
            return ("", _scalar_id(item))

        return by_key
    return _scalar_id


def _scalar_id(value: Any) -> Any:
    """A hashable identity for a JSON value that tells `1`, `1.0`, `True` and `"1"` apart."""
    if isinstance(value, dict | list):
        return ("json", json.dumps(value, sort_keys=True))
    return (type(value).__name__, value)


def _dedupe(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for value in values:
        key = _scalar_id(value)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


def _strip_directives(value: Any) -> Any:
    """A patch value taken whole (atomic list): drop nulls and directive keys inside it."""
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if v is not None and not k.startswith("$")
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True)[:200]
