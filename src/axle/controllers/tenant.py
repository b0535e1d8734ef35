"""The Tenant reconciler: the tenant namespace, the tenant-admin RBAC, and guarded deletion.

For each Tenant it keeps, all owned by the Tenant through ownerReferences:

- namespace `tenant-<name>`, labelled `axle.dev/tenant`;
- in it, copies of the three project role templates from `axle-system`, created when absent
  and never overwritten afterwards: the copies are the tenant's to edit (notes section 6);
- Role + RoleBinding `axle-tenant-viewer` there, read-only, bound to
  `tenantRoleMapping.groups`;
- ClusterRoleBinding `axle-tenant-<name>-admin` to ClusterRole `axle-tenant-admin`.

The Tenant carries the finalizer `axle.dev/tenant-protection`. While any Project still names
the tenant in `spec.tenantRef`, deletion waits: phase Deleting, `Ready=False` with reason
`ProjectsRemain` and a message naming every remaining project, and a Warning Event. The
remaining projects are listed from the store, not the cache, so a project created a moment
ago can never be missed. Once none remain the owned objects are deleted and the finalizer
removed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from axle.api.meta import SYSTEM_NAMESPACE, set_condition
from axle.api.registry import KindInfo
from axle.controllers.controller import Filtered, Mapper, Reconciler, owned_by
from axle.controllers.informer import IndexFunc
from axle.controllers.objects import (
    delete_if_exists,
    ensure,
    get_or_none,
    is_deleting,
    owner_ref,
    owner_uids,
    write_status,
)
from axle.controllers.roles import (
    ROLE_NAMES,
    default_templates,
    group_subjects,
    template_data,
    template_name,
    tenant_viewer_rules,
)
from axle.controllers.tenancy import (
    MANAGED_BY,
    ROLE_TEMPLATE_LABEL,
    TENANT_FINALIZER,
    TENANT_INDEX,
    TENANT_LABEL,
    project_changed,
    project_tenant,
    projects_index,
    status_copy,
    tenant_groups,
    tenant_namespace,
)
from axle.store.base import Obj

TENANT_VIEWER = "axle-tenant-viewer"
TENANT_ADMIN_CLUSTER_ROLE = "axle-tenant-admin"


def admin_binding_name(tenant: str) -> str:
    return f"axle-tenant-{tenant}-admin"


def remaining_message(projects: list[str]) -> str:
    """`2 projects remain: team-a/team-a, team-b/team-b` (or `1 project remains: ...`)."""
    noun = "project remains" if len(projects) == 1 else "projects remain"
    return f"{len(projects)} {noun}: {', '.join(projects)}"


class TenantReconciler(Reconciler):
    name = "tenant"

    @property
    def kind(self) -> KindInfo:
        return self.kinds.tenant

    def indexes(self) -> Iterable[tuple[KindInfo, str, IndexFunc]]:
        return [(self.kinds.project, TENANT_INDEX, projects_index)]

    def watches(self) -> Iterable[tuple[KindInfo, Mapper]]:
        k = self.kinds
        owner = owned_by(k.tenant)
        return [
            (k.namespace, owner),
            (k.config_map, owner),
            (k.role, owner),
            (k.role_binding, owner),
            (k.cluster_role_binding, owner),
            # Project changes move the count and unblock deletion.
            # Not on usage updates (project_changed): those are written per reservation.
            (
                k.project,
                Filtered(lambda p: [t] if (t := project_tenant(p)) else [], project_changed),
            ),
        ]

    async def reconcile(self, key: str) -> float | None:
        tenant = self.cached(key)
        if tenant is None:
            return None
        if is_deleting(tenant):
            await self._finalize(tenant)
            return None
        finalizers = tenant["metadata"].get("finalizers") or []
        if TENANT_FINALIZER not in finalizers:
            body = copy.deepcopy(tenant)
            body["metadata"]["finalizers"] = [*finalizers, TENANT_FINALIZER]
            tenant = await self.store.update(self.kind, body)

        name = tenant["metadata"]["name"]
        gen = tenant["metadata"].get("generation")
        status = status_copy(tenant)
        conds = status["conditions"]
        ns_name = tenant_namespace(name)
        problem = await self._ensure_namespace(tenant, ns_name)
        if problem is not None:
            reason, message = problem
            set_condition(conds, "NamespaceReady", "False", reason, message, gen)
            set_condition(conds, "RolesReady", "Unknown", "NamespaceNotReady", message, gen)
            set_condition(conds, "Ready", "False", reason, message, gen)
            status["phase"] = "NotReady"
        else:
            set_condition(
                conds, "NamespaceReady", "True", "NamespaceReady", f"namespace {ns_name}", gen
            )
            await self._ensure_roles(tenant, ns_name)
            groups = tenant_groups(tenant)
            roles_msg = (
                f"tenant admin groups: {', '.join(groups)}"
                if groups
                else "no tenantRoleMapping.groups: nobody is tenant admin"
            )
            set_condition(conds, "RolesReady", "True", "RolesReady", roles_msg, gen)
            set_condition(conds, "Ready", "True", "Ready", f"tenant {name} is ready", gen)
            status["phase"] = "Ready"
        status["namespace"] = ns_name
        status["projects"] = len(self.ctx.cache(self.kinds.project).by_index(TENANT_INDEX, name))
        status["observedGeneration"] = gen
        was_ready = (tenant.get("status") or {}).get("phase") == "Ready"
        await write_status(self.store, self.kind, tenant, status)
        if status["phase"] == "Ready" and not was_ready:
            await self.ctx.recorder.normal(tenant, "Ready", f"namespace {ns_name} and roles ready")
        return None

    async def _ensure_namespace(self, tenant: Obj, ns_name: str) -> tuple[str, str] | None:
        """Create or adopt the tenant namespace; a (reason, message) if it can't be used."""
        k = self.kinds
        name = tenant["metadata"]["name"]
        current = await get_or_none(self.store, k.namespace, None, ns_name)
        if current is not None:
            if is_deleting(current):
                return (
                    "NamespaceTerminating",
                    f"namespace {ns_name} is still being deleted; it is recreated once gone",
                )
            controllers = [
                r
                for r in current["metadata"].get("ownerReferences") or []
                if r.get("controller") and r.get("uid") != tenant["metadata"]["uid"]
            ]
            if controllers:
                other = controllers[0]
                return (
                    "NamespaceConflict",
                    f"namespace {ns_name} is owned by {other.get('kind')} {other.get('name')};"
                    " delete it or rename the tenant",
                )
        await ensure(
            self.store,
            k.namespace,
            {
                "metadata": {
                    "name": ns_name,
                    "labels": {TENANT_LABEL: name, **MANAGED_BY},
                    "ownerReferences": [owner_ref(tenant)],
                }
            },
        )
        return None

    async def _ensure_roles(self, tenant: Obj, ns_name: str) -> None:
        k = self.kinds
        name = tenant["metadata"]["name"]
        owner = [owner_ref(tenant)]
        labels = {TENANT_LABEL: name, **MANAGED_BY}
        defaults = default_templates()
        for role in ROLE_NAMES:
            if await get_or_none(self.store, k.config_map, ns_name, template_name(role)):
                continue  # the tenant's copy is the tenant's: never overwritten
            source = await get_or_none(
                self.store, k.config_map, SYSTEM_NAMESPACE, template_name(role)
            )
            data = (source or {}).get("data") or template_data(defaults[role])
            await ensure(
                self.store,
                k.config_map,
                {
                    "metadata": {
                        "name": template_name(role),
                        "namespace": ns_name,
                        "labels": {**labels, ROLE_TEMPLATE_LABEL: role},
                        "ownerReferences": owner,
                    },
                    "data": dict(data),
                },
                create_only=True,
            )
        await ensure(
            self.store,
            k.role,
            {
                "metadata": {
                    "name": TENANT_VIEWER,
                    "namespace": ns_name,
                    "labels": labels,
                    "ownerReferences": owner,
                },
                "rules": tenant_viewer_rules(),
            },
            fields=("rules",),
        )
        groups = tenant_groups(tenant)
        viewer_binding: Obj = {
            "metadata": {
                "name": TENANT_VIEWER,
                "namespace": ns_name,
                "labels": labels,
                "ownerReferences": owner,
            },
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": TENANT_VIEWER,
            },
            "subjects": group_subjects(groups),
        }
        admin_binding: Obj = {
            "metadata": {
                "name": admin_binding_name(name),
                "labels": labels,
                "ownerReferences": owner,
            },
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": TENANT_ADMIN_CLUSTER_ROLE,
            },
            "subjects": group_subjects(groups),
        }
        if groups:
            await ensure(self.store, k.role_binding, viewer_binding, fields=("roleRef", "subjects"))
            await ensure(
                self.store, k.cluster_role_binding, admin_binding, fields=("roleRef", "subjects")
            )
        else:
            await delete_if_exists(self.store, k.role_binding, ns_name, TENANT_VIEWER)
            await delete_if_exists(
                self.store, k.cluster_role_binding, None, admin_binding_name(name)
            )

    async def _finalize(self, tenant: Obj) -> None:
        finalizers = tenant["metadata"].get("finalizers") or []
        if TENANT_FINALIZER not in finalizers:
            return
        name = tenant["metadata"]["name"]
        gen = tenant["metadata"].get("generation")
        listed = await self.store.list(
            self.kinds.project, field_selector=f"spec.tenantRef.name={name}"
        )
        remaining = sorted(
            f"{p['metadata'].get('namespace')}/{p['metadata']['name']}" for p in listed.items
        )
        status = status_copy(tenant)
        status["phase"] = "Deleting"
        status["projects"] = len(remaining)
        if remaining:
            message = remaining_message(remaining) + "; delete them first"
            set_condition(status["conditions"], "Ready", "False", "ProjectsRemain", message, gen)
            before = tenant.get("status") or {}
            await write_status(self.store, self.kind, tenant, status)
            if before != status:
                await self.ctx.recorder.warning(tenant, "ProjectsRemain", message)
            return
        set_condition(
            status["conditions"], "Ready", "False", "Deleting", "removing the tenant's objects", gen
        )
        tenant = await write_status(self.store, self.kind, tenant, status)
        k = self.kinds
        await delete_if_exists(self.store, k.cluster_role_binding, None, admin_binding_name(name))
        ns = await get_or_none(self.store, k.namespace, None, tenant_namespace(name))
        if ns is not None and tenant["metadata"]["uid"] in owner_uids(ns):
            await delete_if_exists(self.store, k.namespace, None, tenant_namespace(name))
        body = copy.deepcopy(tenant)
        body["metadata"]["finalizers"] = [f for f in finalizers if f != TENANT_FINALIZER]
        await self.store.update(self.kind, body)
