"""The route table: which (group, version, plural) URLs serve which kind.

Built once from the kind registry when the app is built, so a request resolves its kind with
two dict lookups and no per-kind code. axle's own kinds are also served under PaletteAI's
`spectrocloud.com` group in `v1alpha1` and `v1beta1` (DESIGN section 3): those URLs share the
axle.dev storage; objects read through them carry the alias apiVersion, objects written
through them are stored as axle.dev.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from axle.api.meta import ALIAS_GROUPS, GROUP
from axle.api.registry import KindInfo

ALIAS_VERSIONS = ("v1alpha1", "v1beta1")


@dataclass(frozen=True)
class Served:
    """One kind as served at one group/version (the canonical one or an alias)."""

    info: KindInfo
    group: str  # the URL group (may be an alias of info.group)
    version: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def is_alias(self) -> bool:
        return self.group != self.info.group or self.version != self.info.version


class RouteTable:
    """Kinds by URL group/version and plural, plus the group order discovery shows."""

    def __init__(self, kinds: Iterable[KindInfo]) -> None:
        self.by_gv: dict[tuple[str, str], dict[str, Served]] = {}
        # group -> versions in preference order (the first one is preferred).
        self.group_versions: dict[str, list[str]] = {}
        ordered = sorted(kinds, key=lambda i: (_group_rank(i.group), i.group, i.kind))
        for info in ordered:
            self._add(Served(info, info.group, info.version))
        for alias in ALIAS_GROUPS:
            for version in ALIAS_VERSIONS:
                for info in ordered:
                    if info.group == GROUP:
                        self._add(Served(info, alias, version))

    def _add(self, served: Served) -> None:
        key = (served.group, served.version)
        self.by_gv.setdefault(key, {})[served.info.plural] = served
        versions = self.group_versions.setdefault(served.group, [])
        if served.version not in versions:
            versions.append(served.version)

    def resolve(self, group: str, version: str, plural: str) -> Served | None:
        table = self.by_gv.get((group, version))
        return None if table is None else table.get(plural)

    def resources(self, group: str, version: str) -> list[Served] | None:
        table = self.by_gv.get((group, version))
        return None if table is None else list(table.values())

    def served_for(self, info: KindInfo, api_version: str) -> Served:
        """How `info` is served at `api_version` (falls back to its canonical version)."""
        group, _, version = api_version.rpartition("/")
        found = self.resolve(group, version, info.plural)
        if found is not None and found.info is info:
            return found
        return self.by_gv[(info.group, info.version)][info.plural]


def _group_rank(group: str) -> int:
    # Core first, then axle.dev (so `kubectl get tenants` resolves to axle.dev before the
    # alias groups), then the other Kubernetes groups.
    if group == "":
        return 0
    if group == GROUP:
        return 1
    return 2
