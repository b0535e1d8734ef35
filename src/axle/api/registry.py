"""The kind registry: every kind axle serves, found by kind, plural, singular or short name.

Each kind is declared once, as a `KindInfo` next to its model (one module per kind or family
of kinds), and registered here at import time. The server builds discovery, OpenAPI, routes
and table columns from it; the store keys objects by its (group, kind); the CLI resolves
`axle get cp` through it. Like kr8s, one registry and no per-kind plumbing elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from axle.api.meta import ALIAS_GROUPS, GROUP

# A hook that checks an update against the stored object and returns error causes as
# (field path, message) pairs; used for immutable fields and other transition rules.
UpdateCheck = Callable[[dict[str, Any], dict[str, Any]], list[tuple[str, str]]]
# A hook that checks one object beyond its schema (cross-field rules).
ObjectCheck = Callable[[dict[str, Any]], list[tuple[str, str]]]
# A hook that fills defaults into an object in place.
Defaulter = Callable[[dict[str, Any]], None]
# A rule for metadata.name: (value, field path) -> causes; None means DNS-1123 subdomain.
NameRule = Callable[[str, str], list[tuple[str, str]]]


@dataclass(frozen=True)
class PrinterColumn:
    """A column of `kubectl get` / `axle get` tables (like a CRD's additionalPrinterColumns)."""

    name: str
    json_path: str  # e.g. ".status.phase"
    type: str = "string"  # string | integer | number | boolean | date
    description: str = ""
    priority: int = 0  # 0: always shown; 1: only with -o wide


@dataclass(frozen=True)
class KindInfo:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    model: type[BaseModel] | None = None
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    has_status: bool = True
    columns: tuple[PrinterColumn, ...] = ()
    validate_object: ObjectCheck | None = None
    validate_update: UpdateCheck | None = None
    default: Defaulter | None = None
    name_rule: NameRule | None = None
    verbs: tuple[str, ...] = (
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    )
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_kind(self) -> tuple[str, str]:
        return (self.group, self.kind)

    @property
    def scope(self) -> str:
        return "Namespaced" if self.namespaced else "Cluster"


class UnknownKind(LookupError):
    """No kind of that name, plural, short name or apiVersion is registered."""


class Registry:
    def __init__(self) -> None:
        self._by_gk: dict[tuple[str, str], KindInfo] = {}
        self._by_name: dict[str, list[KindInfo]] = {}
        self._by_group_plural: dict[tuple[str, str], KindInfo] = {}

    def register(self, info: KindInfo) -> KindInfo:
        if info.group_kind in self._by_gk:
            raise ValueError(f"kind {info.kind} in group {info.group!r} registered twice")
        self._by_gk[info.group_kind] = info
        self._by_group_plural[(info.group, info.plural)] = info
        for name in {info.kind.lower(), info.plural, info.singular, *info.short_names}:
            self._by_name.setdefault(name, []).append(info)
        return info

    def __iter__(self) -> Iterator[KindInfo]:
        return iter(self._by_gk.values())

    def __len__(self) -> int:
        return len(self._by_gk)

    @staticmethod
    def canonical_group(group: str) -> str:
        """PaletteAI's `spectrocloud.com` groups are stored as `axle.dev`."""
        return GROUP if group in ALIAS_GROUPS else group

    def by_group_kind(self, group: str, kind: str) -> KindInfo:
        info = self._by_gk.get((self.canonical_group(group), kind))
        if info is None:
            raise UnknownKind(f"no kind {kind!r} in group {group or 'core'!r}")
        return info

    def by_api_version(self, api_version: str, kind: str) -> KindInfo:
        """The kind of a manifest (`apiVersion` + `kind`), aliases accepted."""
        group, _, version = api_version.rpartition("/")
        info = self.by_group_kind(group, kind)
        if group == info.group and version != info.version:
            raise UnknownKind(f"{kind} is served as {info.api_version}, not {api_version}")
        return info

    def by_resource(self, group: str, plural: str) -> KindInfo:
        info = self._by_group_plural.get((self.canonical_group(group), plural))
        if info is None:
            raise UnknownKind(f"the server doesn't have a resource type {plural!r}")
        return info

    def lookup(self, name: str) -> KindInfo:
        """Resolve what a user typed: `cp`, `computepools`, `ComputePool`, `cp.axle.dev`."""
        key = name.lower()
        group = None
        if "." in key:
            key, _, group = key.partition(".")
            group = self.canonical_group(group)
        matches = [i for i in self._by_name.get(key, []) if group is None or i.group == group]
        if not matches:
            raise UnknownKind(f'the server doesn\'t have a resource type "{name}"')
        # Prefer axle's own kinds over core ones when a name is shared.
        matches.sort(key=lambda i: (i.group != GROUP, i.group))
        return matches[0]

    def groups(self) -> dict[str, list[KindInfo]]:
        out: dict[str, list[KindInfo]] = {}
        for info in self._by_gk.values():
            out.setdefault(info.group, []).append(info)
        return out


REGISTRY = Registry()


def register(info: KindInfo) -> KindInfo:
    return REGISTRY.register(info)
