"""The objects a hub needs before anyone uses it, written idempotently at every start.

Namespaces `axle-system` and `default`; the project role templates in `axle-system` (the
release defaults: rewritten on every start like a Helm upgrade rewrites its ConfigMaps, while
the tenants' copies are never touched); the ClusterRole `axle-tenant-admin` that every
tenant's admin groups are bound to; and `axle-system-viewer`, bound to every authenticated
user through a RoleBinding in `axle-system`, so that project users can read the shared
definitions kept there; and the built-in Component/Trait/PolicyDefinitions of
`axle.render.builtins` in `axle-system`. Those are release defaults too: created when absent
and their `spec` rewritten when the shipped one changed (a user's edit of a built-in is undone
at the next start, as with the role templates; copy one under another name to customise it).
Running it twice changes nothing the second time.
"""

from __future__ import annotations

from axle.api.meta import GROUP, SYSTEM_NAMESPACE
from axle.api.registry import UnknownKind
from axle.controllers.kinds import Kinds
from axle.controllers.objects import ensure
from axle.controllers.roles import (
    default_templates,
    system_viewer_rules,
    template_data,
    template_name,
    tenant_admin_cluster_rules,
)
from axle.render import builtins
from axle.store.base import Store

TENANT_ADMIN_CLUSTER_ROLE = "axle-tenant-admin"
SYSTEM_VIEWER = "axle-system-viewer"
MANAGED_BY = {"app.kubernetes.io/managed-by": "axle"}


async def ensure_system_objects(store: Store, kinds: Kinds | None = None) -> None:
    """Write every system object that is missing or differs from this release's."""
    kinds = kinds or Kinds.from_registry()
    for ns in (SYSTEM_NAMESPACE, "default"):
        await ensure(store, kinds.namespace, {"metadata": {"name": ns}}, create_only=True)
    for role, rules in default_templates().items():
        await ensure(
            store,
            kinds.config_map,
            {
                "metadata": {
                    "name": template_name(role),
                    "namespace": SYSTEM_NAMESPACE,
                    "labels": {**MANAGED_BY, "axle.dev/role-template": role},
                },
                "data": template_data(rules),
            },
            fields=("data",),
        )
    await ensure(
        store,
        kinds.cluster_role,
        {
            "metadata": {"name": TENANT_ADMIN_CLUSTER_ROLE, "labels": MANAGED_BY},
            "rules": tenant_admin_cluster_rules(),
        },
        fields=("rules",),
    )
    await ensure(
        store,
        kinds.cluster_role,
        {"metadata": {"name": SYSTEM_VIEWER, "labels": MANAGED_BY}, "rules": system_viewer_rules()},
        fields=("rules",),
    )
    await ensure(
        store,
        kinds.role_binding,
        {
            "metadata": {
                "name": SYSTEM_VIEWER,
                "namespace": SYSTEM_NAMESPACE,
                "labels": MANAGED_BY,
            },
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": SYSTEM_VIEWER,
            },
            "subjects": [
                {
                    "kind": "Group",
                    "apiGroup": "rbac.authorization.k8s.io",
                    "name": "system:authenticated",
                }
            ],
        },
        fields=("roleRef", "subjects"),
    )
    await ensure_builtin_definitions(store, kinds)


async def ensure_builtin_definitions(store: Store, kinds: Kinds) -> None:
    """Install `axle.render.builtins.load()` in `axle-system`; `spec` is release-managed.

    Skipped when the registry lacks the definition kinds (tests with private registries).
    """
    for kind, manifests in builtins.load().items():
        try:
            info = kinds.registry.by_group_kind(GROUP, kind)
        except UnknownKind:
            continue
        for manifest in manifests.values():
            manifest["metadata"]["labels"] = {
                **(manifest["metadata"].get("labels") or {}),
                **MANAGED_BY,
            }
            await ensure(store, info, manifest, fields=("spec",))
