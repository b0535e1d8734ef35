"""The kinds the controllers read and write, resolved once from a kind registry.

Reconcilers never look kinds up by string in their hot path: the manager resolves every
`KindInfo` it needs once, into one `Kinds` value, and hands it to each reconciler. Tests build
a `Kinds` from a private `Registry` of their own, so no test kind ever leaks into the global
`REGISTRY`. Kinds that later issues add (ComputeConfig) are optional: a reconciler that finds
`None` treats references to them as unresolvable rather than failing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from axle.api.meta import GROUP
from axle.api.registry import REGISTRY, KindInfo, Registry, UnknownKind

RBAC = "rbac.authorization.k8s.io"
COORDINATION = "coordination.k8s.io"


@dataclass(frozen=True)
class Kinds:
    namespace: KindInfo
    config_map: KindInfo
    secret: KindInfo
    event: KindInfo
    role: KindInfo
    cluster_role: KindInfo
    role_binding: KindInfo
    cluster_role_binding: KindInfo
    lease: KindInfo
    tenant: KindInfo
    project: KindInfo
    settings: KindInfo
    compute_config: KindInfo | None
    registry: Registry

    @classmethod
    def from_registry(cls, registry: Registry | None = None) -> Kinds:
        """Resolve every kind; with no registry, the global one with all of `axle.api.kinds`."""
        if registry is None:
            # Importing the kinds package registers them all; done here, not at module
            # import, so that tests with private registries never need it.
            importlib.import_module("axle.api.kinds")
            registry = REGISTRY

        def optional(group: str, kind: str) -> KindInfo | None:
            try:
                return registry.by_group_kind(group, kind)
            except UnknownKind:
                return None

        return cls(
            namespace=registry.by_group_kind("", "Namespace"),
            config_map=registry.by_group_kind("", "ConfigMap"),
            secret=registry.by_group_kind("", "Secret"),
            event=registry.by_group_kind("", "Event"),
            role=registry.by_group_kind(RBAC, "Role"),
            cluster_role=registry.by_group_kind(RBAC, "ClusterRole"),
            role_binding=registry.by_group_kind(RBAC, "RoleBinding"),
            cluster_role_binding=registry.by_group_kind(RBAC, "ClusterRoleBinding"),
            lease=registry.by_group_kind(COORDINATION, "Lease"),
            tenant=registry.by_group_kind(GROUP, "Tenant"),
            project=registry.by_group_kind(GROUP, "Project"),
            settings=registry.by_group_kind(GROUP, "Settings"),
            compute_config=optional(GROUP, "ComputeConfig"),
            registry=registry,
        )
