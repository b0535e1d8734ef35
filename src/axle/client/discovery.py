"""Resource types as the server's discovery documents describe them, and name resolution.

The client never assumes which kinds a hub serves: it reads `/api`, `/api/v1`, `/apis` and
`/apis/{group}/{version}` once per client and resolves what a user typed (`cp`, `computepool`,
`computepools`, `ComputePool`, `computepools.axle.dev`) the way kubectl's RESTMapper does. That
keeps the CLI and the agent working against any hub version, and against plain Kubernetes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from axle.client.errors import UnknownResource

# PaletteAI's groups: manifests written for them are served by axle as `axle.dev`.
ALIAS_GROUPS = {"spectrocloud.com": "axle.dev"}
# When a short or plural name is served by several groups, prefer axle's own, then core.
PREFERRED_GROUPS = ("axle.dev", "")


@dataclass(frozen=True)
class Resource:
    """One resource type of one group/version (a row of an APIResourceList)."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    verbs: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = field(default=(), compare=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified_kind(self) -> str:
        """`tenant.axle.dev`, or `namespace` for core kinds: the prefix of kubectl's names."""
        lower = self.kind.lower()
        return f"{lower}.{self.group}" if self.group else lower

    @property
    def qualified_plural(self) -> str:
        """`tenants.axle.dev`, as kubectl's error messages name a resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def base_path(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The REST path of the collection, or of one object (and its subresource)."""
        parts = [self.base_path()]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name is not None:
            parts.append(name)
            if subresource:
                parts.append(subresource)
        return "/".join(parts)

    def names(self) -> set[str]:
        return {
            self.kind.lower(),
            self.plural,
            self.singular or self.kind.lower(),
            *self.short_names,
        }


def parse_resource_list(doc: dict[str, Any]) -> list[Resource]:
    """Resources of one APIResourceList, subresources (`tenants/status`) left out."""
    group_version = str(doc.get("groupVersion") or "v1")
    group, _, version = group_version.rpartition("/")
    out = []
    for item in doc.get("resources") or []:
        name = str(item.get("name") or "")
        if not name or "/" in name:
            continue
        out.append(
            Resource(
                group=str(item.get("group") or group),
                version=str(item.get("version") or version),
                kind=str(item.get("kind") or ""),
                plural=name,
                singular=str(item.get("singularName") or "") or str(item.get("kind", "")).lower(),
                namespaced=bool(item.get("namespaced")),
                verbs=tuple(item.get("verbs") or ()),
                short_names=tuple(item.get("shortNames") or ()),
                categories=tuple(item.get("categories") or ()),
            )
        )
    return out


def canonical_group(group: str) -> str:
    return ALIAS_GROUPS.get(group, group)


class ResourceMap:
    """All resource types of one server, indexed by every name a user may type."""

    def __init__(self, resources: Iterable[Resource]) -> None:
        self.resources = list(resources)
        self._by_name: dict[str, list[Resource]] = {}
        for res in self.resources:
            for name in res.names():
                self._by_name.setdefault(name.lower(), []).append(res)

    def _rank(self, res: Resource) -> tuple[int, str]:
        pref = PREFERRED_GROUPS.index(res.group) if res.group in PREFERRED_GROUPS else 99
        return (pref, res.group)

    def lookup(self, typed: str) -> Resource:
        """Resolve `cp`, `ComputePool`, `computepools.axle.dev` or `deployments.v1.apps`."""
        key = typed.strip().lower()
        group: str | None = None
        version: str | None = None
        if "." in key:
            key, _, rest = key.partition(".")
            first, _, tail = rest.partition(".")
            # `plural.version.group` as kubectl accepts it, when the middle part is a version.
            if tail and first[:1] == "v" and first[1:2].isdigit():
                version, group = first, tail
            else:
                group = rest
            group = canonical_group(group)
        matches = [
            r
            for r in self._by_name.get(key, [])
            if (group is None or r.group == group) and (version is None or r.version == version)
        ]
        if not matches:
            raise UnknownResource(f'the server doesn\'t have a resource type "{typed}"')
        return sorted(matches, key=self._rank)[0]

    def for_manifest(self, api_version: str, kind: str) -> Resource:
        """The resource type of a manifest's `apiVersion` + `kind` (alias groups accepted)."""
        group, _, version = api_version.rpartition("/")
        wanted = [canonical_group(group)]
        if group not in wanted:
            wanted.insert(0, group)
        for g in wanted:
            same_group = [r for r in self.resources if r.group == g and r.kind == kind]
            for res in same_group:
                if res.version == version or g != group:
                    return res
        raise UnknownResource(
            f'no matches for kind "{kind}" in version "{api_version}"'
            " (is the kind served by this hub?)"
        )
