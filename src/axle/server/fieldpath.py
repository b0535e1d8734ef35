"""Field paths and field sets in Kubernetes' `FieldsV1` encoding, computed from plain objects.

Server-side apply and `metadata.managedFields` speak about sets of field paths. A path is a
tuple of path elements, each kept in the exact string form `FieldsV1` uses, so that decoding
and encoding managed fields is a tree walk and nothing else:

    f:<name>        a field of a map (`f:metadata`, `f:labels`, `f:app`)
    k:<json>        an item of an associative list, by its key fields (`k:{"uid":"u1"}`)
    v:<json>        a member of a set of scalars (`v:"example.com/finalizer"`)
    i:<n>           an item of a list by position (read, never produced: lists without keys
                    are atomic here)

`FieldsV1` is the tree of a set's paths: a leaf `{}` is a member; `".": {}` marks an inner
node that is itself a member. `describe` prints a path as Kubernetes does in conflict
messages (`.metadata.ownerReferences[uid="u1"].name`).

Which lists are associative comes from `axle.server.listtypes`; the walkers here carry the
field-name path (`("metadata", "finalizers")`) alongside the encoded one to look it up.
Everything is proportional to the size of the objects walked: managed-field tracking runs on
every write, including the create path the hub must sustain at hundreds per second.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from axle.api.registry import KindInfo
from axle.errors import Cause, Invalid
from axle.server.listtypes import ListType, list_type

Path = tuple[str, ...]
FieldSet = set[Path]
Names = tuple[str, ...]

_ORDER = {"f": 0, "k": 1, "v": 2, "i": 3}


def field(name: str) -> str:
    return "f:" + name


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def key_element(item: Any, keys: tuple[str, ...]) -> str:
    if not isinstance(item, dict):
        return "k:" + _json({k: None for k in keys})
    return "k:" + _json({k: item.get(k) for k in keys})


def value_element(value: Any) -> str:
    return "v:" + _json(value)


# --- FieldsV1 -----------------------------------------------------------------------------


def _element_order(element: str) -> tuple[int, str]:
    return (_ORDER.get(element[:1], 9), element)


def path_order(path: Path) -> tuple[tuple[int, str], ...]:
    """Sort key matching the order Kubernetes lists paths in (fields, keys, values, indexes)."""
    return tuple(_element_order(e) for e in path)


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """The `FieldsV1` tree of a set of paths."""
    root: dict[str, Any] = {}
    members: list[dict[str, Any]] = []
    for path in paths:
        node = root
        for element in path:
            node = node.setdefault(element, {})
        members.append(node)
    # An inner node that is itself a member says so with ".".
    for node in members:
        if node and "." not in node:
            node["."] = {}
    return _sorted_tree(root)


def _sorted_tree(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "." in node:
        out["."] = {}
    for element in sorted((e for e in node if e != "."), key=_element_order):
        out[element] = _sorted_tree(node[element])
    return out


def from_fields_v1(tree: Any) -> FieldSet:
    """The set of paths of a `FieldsV1` tree; ValueError when it is not one."""
    out: FieldSet = set()
    if not isinstance(tree, dict):
        raise ValueError("fieldsV1 must be an object")
    _collect(tree, (), out)
    return out


def _collect(node: dict[str, Any], path: Path, out: FieldSet) -> None:
    if path and (not node or "." in node):
        out.add(path)
    for element, child in node.items():
        if element == ".":
            if child != {}:
                raise ValueError(f'"." must be an empty object at {describe(path)}')
            continue
        if element[:2] not in ("f:", "k:", "v:", "i:") or not isinstance(child, dict):
            raise ValueError(f"invalid fieldsV1 element {element!r} at {describe(path)}")
        _collect(child, (*path, element), out)


def describe(path: Path) -> str:
    """`(f:data, f:key)` -> `.data.key`; `k:{"name":"a"}` -> `[name="a"]`; `v:"x"` -> `[="x"]`."""
    parts: list[str] = []
    for element in path:
        kind, text = element[:2], element[2:]
        if kind == "f:":
            parts.append("." + text)
        elif kind == "k:":
            try:
                keys = json.loads(text)
                parts.append("[" + ",".join(f"{k}={_json(v)}" for k, v in keys.items()) + "]")
            except (ValueError, AttributeError):
                parts.append("[" + text + "]")
        elif kind == "v:":
            parts.append("[=" + text + "]")
        else:
            parts.append("[" + text + "]")
    return "".join(parts)


# --- walking objects ----------------------------------------------------------------------


class FieldWalker:
    """Computes field sets and differences of objects of one kind.

    `skip` holds field-name paths not walked at all (managedFields, and `status` or everything
    but `status` depending on the subresource); `strip` holds exact paths never reported
    (identity and server-set metadata, as Kubernetes strips them from managed fields).
    """

    def __init__(self, info: KindInfo, *, skip: frozenset[Names], strip: frozenset[Path]):
        self.info = info
        self.skip = skip
        self.strip = strip

    def list_type(self, names: Names, *samples: list[Any] | None) -> ListType:
        return list_type(self.info, names, *samples)

    # Leaves: what an applier owns by applying a configuration.

    def leaves(self, obj: dict[str, Any]) -> FieldSet:
        """The paths an applied configuration sets: leaves, list items, empty maps."""
        out: FieldSet = set()
        self._leaves(obj, (), (), out)
        return out - self.strip

    def _leaves(self, obj: dict[str, Any], path: Path, names: Names, out: FieldSet) -> None:
        for key, value in obj.items():
            child_names = (*names, key)
            if child_names in self.skip:
                continue
            child = (*path, "f:" + key)
            if isinstance(value, dict):
                if value:
                    self._leaves(value, child, child_names, out)
                else:
                    out.add(child)
            elif isinstance(value, list):
                self._list_leaves(value, child, child_names, out)
            else:
                out.add(child)

    def _list_leaves(self, items: list[Any], path: Path, names: Names, out: FieldSet) -> None:
        kind = self.list_type(names, items)
        if kind.type == "atomic":
            out.add(path)
        elif kind.type == "set":
            out.update((*path, value_element(v)) for v in items)
        else:
            for item in items:
                item_path = (*path, key_element(item, kind.keys))
                out.add(item_path)
                if isinstance(item, dict):
                    self._leaves(item, item_path, names, out)

    # All nodes: what a value brings when it appears or disappears as a whole.

    def nodes(self, value: Any, path: Path, names: Names, out: FieldSet) -> None:
        """Add `path` and every path under `value` to `out`."""
        out.add(path)
        if isinstance(value, dict):
            for key, child in value.items():
                child_names = (*names, key)
                if child_names not in self.skip:
                    self.nodes(child, (*path, "f:" + key), child_names, out)
        elif isinstance(value, list):
            kind = self.list_type(names, value)
            if kind.type == "set":
                out.update((*path, value_element(v)) for v in value)
            elif kind.type == "map":
                for item in value:
                    self.nodes(item, (*path, key_element(item, kind.keys)), names, out)

    # Differences: what a write changed.

    def compare(
        self, old: dict[str, Any], new: dict[str, Any], *, existing: frozenset[str] = frozenset()
    ) -> tuple[FieldSet, FieldSet, FieldSet]:
        """(added, modified, removed) paths from `old` to `new`.

        Added and removed include every node of a subtree that appeared or went; modified
        holds leaves (scalars, atomic lists) whose value changed. Top-level fields named in
        `existing` count as present in `old` even when absent (Go structs that always exist).
        """
        added: FieldSet = set()
        modified: FieldSet = set()
        removed: FieldSet = set()
        for key in existing:
            if key not in old and isinstance(new.get(key), dict):
                old = {**old, key: {}}
        self._compare_maps(old, new, (), (), added, modified, removed)
        return added - self.strip, modified - self.strip, removed - self.strip

    def _compare_maps(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        path: Path,
        names: Names,
        added: FieldSet,
        modified: FieldSet,
        removed: FieldSet,
    ) -> None:
        for key, new_value in new.items():
            child_names = (*names, key)
            if child_names in self.skip:
                continue
            child = (*path, "f:" + key)
            if key in old:
                self._compare(old[key], new_value, child, child_names, added, modified, removed)
            else:
                self.nodes(new_value, child, child_names, added)
        for key, old_value in old.items():
            if key not in new:
                child_names = (*names, key)
                if child_names not in self.skip:
                    self.nodes(old_value, (*path, "f:" + key), child_names, removed)

    def _compare(
        self,
        old: Any,
        new: Any,
        path: Path,
        names: Names,
        added: FieldSet,
        modified: FieldSet,
        removed: FieldSet,
    ) -> None:
        if isinstance(old, dict) and isinstance(new, dict):
            self._compare_maps(old, new, path, names, added, modified, removed)
            return
        if isinstance(old, list) and isinstance(new, list):
            kind = self.list_type(names, old, new)
            if kind.type != "atomic":
                self._compare_lists(kind, old, new, path, names, added, modified, removed)
                return
        if old == new and type(old) is type(new):
            return
        if (
            isinstance(old, dict)
            or isinstance(new, dict)
            or isinstance(old, list) != isinstance(new, list)
        ):
            # The shape changed: the old subtree went and the new one came.
            self.nodes(old, path, names, removed)
            removed.discard(path)
            self.nodes(new, path, names, added)
            return
        modified.add(path)

    def _compare_lists(
        self,
        kind: ListType,
        old: list[Any],
        new: list[Any],
        path: Path,
        names: Names,
        added: FieldSet,
        modified: FieldSet,
        removed: FieldSet,
    ) -> None:
        if kind.type == "set":
            old_elements = {value_element(v) for v in old}
            new_elements = {value_element(v) for v in new}
            added.update((*path, e) for e in new_elements - old_elements)
            removed.update((*path, e) for e in old_elements - new_elements)
            return
        old_items = dict(self.keyed(kind, old))
        new_items = dict(self.keyed(kind, new))
        for element, item in new_items.items():
            item_path = (*path, element)
            if element in old_items:
                self._compare(old_items[element], item, item_path, names, added, modified, removed)
            else:
                self.nodes(item, item_path, names, added)
        for element, item in old_items.items():
            if element not in new_items:
                self.nodes(item, (*path, element), names, removed)

    @staticmethod
    def keyed(kind: ListType, items: list[Any]) -> Iterator[tuple[str, Any]]:
        """(path element, item) for each item of an associative list or set."""
        for item in items:
            if kind.type == "set":
                yield value_element(item), item
            else:
                yield key_element(item, kind.keys), item


def check_unique(walker: FieldWalker, obj: Any, names: Names = (), where: str = "") -> None:
    """Refuse an applied configuration whose associative lists repeat a key (422)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            check_unique(walker, value, (*names, key), f"{where}.{key}")
    elif isinstance(obj, list):
        kind = walker.list_type(names, obj)
        if kind.type == "atomic":
            return
        seen: set[str] = set()
        for element, item in walker.keyed(kind, obj):
            if element in seen:
                shown = describe((element,))
                raise Invalid(
                    f"{where}: duplicate entries for key {shown}",
                    causes=[
                        Cause(where.lstrip("."), f"Duplicate value: {shown}", "FieldValueDuplicate")
                    ],
                )
            seen.add(element)
            if kind.type == "map":
                check_unique(walker, item, names, f"{where}{describe((element,))}")
