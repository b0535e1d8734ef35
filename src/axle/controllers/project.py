"""The Project reconciler: project namespace, roles from the tenant's templates, quota check.

For each Project (which lives in the namespace it governs) it:

- requires its tenant to exist and be Ready (`TenantReady=False`, reason `TenantNotFound` or
  `TenantNotReady`, otherwise; nothing is rendered until then);
- creates the namespace if absent and labels it `axle.dev/tenant`, `axle.dev/project`;
- renders Roles `prj-<project>-viewer|editor|admin` from the tenant namespace's copies of the
  role templates (the tenant's source of truth, notes section 6) and binds each to the groups
  of `roleMapping.<role>`; an empty list means no RoleBinding (a stale one is deleted). A
  template that is missing or malformed leaves the previous Role of that name untouched and
  sets `RolesReady=False` (reason `RoleTemplateMissing` / `InvalidRoleTemplate`) naming the
  ConfigMap and the error. ConfigMap changes in the tenant namespace re-render every project
  of the tenant (a secondary watch), so editing a tenant copy takes effect everywhere;
- renders the tenant admins' Role + RoleBinding `prj-<project>-tnt-adm`;
- checks `gpuLimits` against the tenant's: each family the project names must be within the
  tenant's limit for it (a family the tenant does not list is not limited: `api.quota`).
  Admission refuses more at write time; this condition (`QuotaValid`) catches a tenant
  lowering its limits later;
- resolves `computeConfigRef` (`ComputeConfigResolved`). Decision: this condition does not
  gate `Ready`. ComputeConfig arrives in a later issue, and what needs it (creating a compute
  pool) checks it there; a project without one is still a usable workspace for its roles,
  settings and profiles. The condition is absent when no reference is set.

`Ready` is `TenantReady and RolesReady and QuotaValid`. Everything rendered is owned by the
Project (ownerReferences) and goes with it; the namespace is not (it holds the team's work and
outlives the Project object). Status goes through the status subresource and is written only
when it changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from axle.api.meta import get_condition, set_condition
from axle.api.quota import gpu_limit_excess
from axle.api.registry import KindInfo
from axle.controllers.controller import Mapper, Reconciler, owned_by
from axle.controllers.informer import NAMESPACE_INDEX, IndexFunc
from axle.controllers.objects import (
    delete_if_exists,
    ensure,
    get_or_none,
    is_deleting,
    key_of,
    owner_ref,
    write_status,
)
from axle.controllers.roles import (
    ROLE_NAMES,
    TEMPLATE_KEY,
    InvalidTemplate,
    group_subjects,
    parse_rules,
    template_name,
    tenant_admin_project_rules,
)
from axle.controllers.tenancy import (
    MANAGED_BY,
    PROJECT_LABEL,
    ROLE_TEMPLATE_LABEL,
    TENANT_INDEX,
    TENANT_LABEL,
    is_ready,
    project_role_name,
    project_tenant,
    projects_index,
    ready_message,
    status_copy,
    tenant_admin_role_name,
    tenant_groups,
    tenant_namespace,
)
from axle.store.base import Obj

RBAC_GROUP = "rbac.authorization.k8s.io"


def quota_violations(project_limits: dict[str, int], tenant_limits: dict[str, int]) -> list[str]:
    """`NVIDIA-H100: 40 > 32` for each family the project asks more of than the tenant allows."""
    return [
        f"{f}: {mine} > {cap}" for f, mine, cap in gpu_limit_excess(project_limits, tenant_limits)
    ]


class ProjectReconciler(Reconciler):
    name = "project"

    @property
    def kind(self) -> KindInfo:
        return self.kinds.project

    def indexes(self) -> Iterable[tuple[KindInfo, str, IndexFunc]]:
        return [(self.kinds.project, TENANT_INDEX, projects_index)]

    def _projects_of_tenant(self, tenant: str) -> list[str]:
        return [
            key_of(p) for p in self.ctx.cache(self.kinds.project).by_index(TENANT_INDEX, tenant)
        ]

    def _projects_in_namespace(self, namespace: str) -> list[str]:
        return [
            key_of(p)
            for p in self.ctx.cache(self.kinds.project).by_index(NAMESPACE_INDEX, namespace)
        ]

    def _template_owner(self, cm: Obj) -> list[str]:
        """A role template copy in a tenant namespace maps to every project of that tenant."""
        m = cm["metadata"]
        if m.get("name") not in {template_name(r) for r in ROLE_NAMES}:
            return []
        tenant = (m.get("labels") or {}).get(TENANT_LABEL)
        ns = m.get("namespace") or ""
        if tenant and ns == tenant_namespace(tenant):
            return self._projects_of_tenant(tenant)
        return []

    def watches(self) -> Iterable[tuple[KindInfo, Mapper]]:
        k = self.kinds
        out: list[tuple[KindInfo, Mapper]] = [
            (k.tenant, lambda t: self._projects_of_tenant(t["metadata"]["name"])),
            (k.config_map, self._template_owner),
            (k.role, owned_by(k.project)),
            (k.role_binding, owned_by(k.project)),
            (k.namespace, lambda ns: self._projects_in_namespace(ns["metadata"]["name"])),
        ]
        if k.compute_config is not None:
            out.append(
                (
                    k.compute_config,
                    lambda cc: self._projects_in_namespace(cc["metadata"].get("namespace") or ""),
                )
            )
        return out

    async def reconcile(self, key: str) -> float | None:
        project = self.cached(key)
        if project is None:
            return None
        gen = project["metadata"].get("generation")
        status = status_copy(project)
        conds = status["conditions"]
        ns = project["metadata"]["namespace"]
        status["namespace"] = ns
        status["observedGeneration"] = gen
        if is_deleting(project):
            status["phase"] = "Deleting"
            set_condition(conds, "Ready", "False", "Deleting", "the project is being deleted", gen)
            await write_status(self.store, self.kind, project, status)
            return None

        tenant_name = project_tenant(project)
        tenant = self.ctx.cache(self.kinds.tenant).get(tenant_name)
        problem = self._tenant_problem(tenant_name, tenant)
        if tenant is None or problem is not None:
            reason, msg = problem or ("TenantNotFound", f"tenant {tenant_name} does not exist")
            set_condition(conds, "TenantReady", "False", reason, msg, gen)
            for cond in ("RolesReady", "QuotaValid"):
                # What was rendered stays rendered: report Unknown only before a first verdict.
                if get_condition({"status": status}, cond) is None:
                    set_condition(conds, cond, "Unknown", reason, "waiting for the tenant", gen)
            set_condition(conds, "Ready", "False", reason, msg, gen)
            status["phase"] = "NotReady"
            await self._write(project, status)
            return None
        set_condition(
            conds, "TenantReady", "True", "TenantReady", f"tenant {tenant_name} is ready", gen
        )
        status["tenantNamespace"] = tenant_namespace(tenant_name)
        await self._ensure_namespace(project, tenant_name)
        self._set_roles(conds, gen, await self._render_roles(project, tenant))
        self._check_quota(conds, gen, project, tenant)
        await self._check_compute_config(conds, gen, project)

        blocking = [
            c
            for c in (
                get_condition({"status": status}, t)
                for t in ("TenantReady", "RolesReady", "QuotaValid")
            )
            if c is not None and c["status"] != "True"
        ]
        if blocking:
            first = blocking[0]
            set_condition(conds, "Ready", "False", first["reason"], first["message"], gen)
            status["phase"] = "NotReady"
        else:
            set_condition(conds, "Ready", "True", "Ready", f"project {key} is ready", gen)
            status["phase"] = "Ready"
        await self._write(project, status)
        return None

    @staticmethod
    def _tenant_problem(name: str, tenant: Obj | None) -> tuple[str, str] | None:
        if tenant is None:
            return ("TenantNotFound", f"tenant {name} does not exist")
        if is_deleting(tenant):
            return ("TenantNotReady", f"tenant {name} is being deleted")
        if not is_ready(tenant):
            return ("TenantNotReady", f"tenant {name} is not ready: {ready_message(tenant)}")
        return None

    async def _write(self, project: Obj, status: dict[str, Any]) -> None:
        """Write the status; on a change of phase, say so in an Event."""
        was = (project.get("status") or {}).get("phase")
        await write_status(self.store, self.kind, project, status)
        if status["phase"] == was:
            return
        ready = get_condition({"status": status}, "Ready") or {}
        if status["phase"] == "Ready":
            await self.ctx.recorder.normal(project, "Ready", str(ready.get("message", "")))
        else:
            await self.ctx.recorder.warning(
                project, str(ready.get("reason", "NotReady")), str(ready.get("message", ""))
            )

    async def _ensure_namespace(self, project: Obj, tenant: str) -> None:
        name = project["metadata"]["name"]
        ns = project["metadata"]["namespace"]
        if await get_or_none(self.store, self.kinds.namespace, None, ns) is None:
            # Only (re)create the namespace for a project that still exists: a cached project
            # may be one its namespace's deletion has just removed.
            fresh = await get_or_none(self.store, self.kind, ns, name)
            if fresh is None or is_deleting(fresh):
                return
        await ensure(
            self.store,
            self.kinds.namespace,
            {
                "metadata": {
                    "name": project["metadata"]["namespace"],
                    "labels": {TENANT_LABEL: tenant, PROJECT_LABEL: name},
                }
            },
        )

    async def _render_roles(self, project: Obj, tenant: Obj) -> list[tuple[str, str]]:
        """Render every role; return the (reason, message) problems met."""
        k = self.kinds
        name = project["metadata"]["name"]
        ns = project["metadata"]["namespace"]
        tenant_name = tenant["metadata"]["name"]
        tns = tenant_namespace(tenant_name)
        owner = [owner_ref(project)]
        labels = {TENANT_LABEL: tenant_name, PROJECT_LABEL: name, **MANAGED_BY}
        mapping: dict[str, Any] = (project.get("spec") or {}).get("roleMapping") or {}
        problems: list[tuple[str, str]] = []
        templates = self.ctx.cache(k.config_map)
        for role in ROLE_NAMES:
            cm_name = template_name(role)
            cm = templates.get(f"{tns}/{cm_name}")
            if cm is None:
                problems.append(
                    (
                        "RoleTemplateMissing",
                        f"ConfigMap {tns}/{cm_name} not found (the tenant controller recreates it)",
                    )
                )
                continue
            text = (cm.get("data") or {}).get(TEMPLATE_KEY)
            try:
                if text is None:
                    raise InvalidTemplate(f"has no key {TEMPLATE_KEY}")
                rules = parse_rules(text)
            except InvalidTemplate as exc:
                problems.append(
                    ("InvalidRoleTemplate", f"ConfigMap {tns}/{cm_name}: {TEMPLATE_KEY}: {exc}")
                )
                continue
            role_name = project_role_name(name, role)
            await ensure(
                self.store,
                k.role,
                {
                    "metadata": {
                        "name": role_name,
                        "namespace": ns,
                        "labels": {**labels, ROLE_TEMPLATE_LABEL: role},
                        "ownerReferences": owner,
                    },
                    "rules": rules,
                },
                fields=("rules",),
            )
            await self._bind(
                ns, role_name, [str(g) for g in mapping.get(role) or []], labels, owner
            )
        adm = tenant_admin_role_name(name)
        await ensure(
            self.store,
            k.role,
            {
                "metadata": {
                    "name": adm,
                    "namespace": ns,
                    "labels": labels,
                    "ownerReferences": owner,
                },
                "rules": tenant_admin_project_rules(),
            },
            fields=("rules",),
        )
        await self._bind(ns, adm, tenant_groups(tenant), labels, owner)
        return problems

    async def _bind(
        self,
        ns: str,
        role_name: str,
        groups: list[str],
        labels: dict[str, str],
        owner: list[dict[str, Any]],
    ) -> None:
        k = self.kinds
        if not groups:
            await delete_if_exists(self.store, k.role_binding, ns, role_name)
            return
        desired: Obj = {
            "metadata": {
                "name": role_name,
                "namespace": ns,
                "labels": labels,
                "ownerReferences": owner,
            },
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": role_name},
            "subjects": group_subjects(groups),
        }
        await ensure(self.store, k.role_binding, desired, fields=("roleRef", "subjects"))

    @staticmethod
    def _set_roles(
        conds: list[dict[str, Any]], gen: int | None, problems: list[tuple[str, str]]
    ) -> None:
        if problems:
            reason = problems[0][0]
            message = "; ".join(msg for _, msg in problems)
            set_condition(conds, "RolesReady", "False", reason, message, gen)
        else:
            set_condition(
                conds,
                "RolesReady",
                "True",
                "RolesRendered",
                "viewer, editor, admin and tenant-admin roles rendered",
                gen,
            )

    @staticmethod
    def _check_quota(
        conds: list[dict[str, Any]], gen: int | None, project: Obj, tenant: Obj
    ) -> None:
        mine = {
            str(k): int(v) for k, v in ((project.get("spec") or {}).get("gpuLimits") or {}).items()
        }
        theirs = {
            str(k): int(v) for k, v in ((tenant.get("spec") or {}).get("gpuLimits") or {}).items()
        }
        over = quota_violations(mine, theirs)
        if over:
            msg = f"gpuLimits exceed tenant {tenant['metadata']['name']}'s: {', '.join(over)}"
            set_condition(conds, "QuotaValid", "False", "ExceedsTenantLimits", msg, gen)
        else:
            set_condition(
                conds,
                "QuotaValid",
                "True",
                "WithinTenantLimits",
                "gpuLimits are within the tenant's",
                gen,
            )

    async def _check_compute_config(
        self, conds: list[dict[str, Any]], gen: int | None, project: Obj
    ) -> None:
        ref = (project.get("spec") or {}).get("computeConfigRef")
        if not ref:
            conds[:] = [c for c in conds if c.get("type") != "ComputeConfigResolved"]
            return
        ns = project["metadata"]["namespace"]
        name = str(ref.get("name"))
        info = self.kinds.compute_config
        found = info is not None and await get_or_none(self.store, info, ns, name) is not None
        if found:
            set_condition(
                conds, "ComputeConfigResolved", "True", "Found", f"ComputeConfig {ns}/{name}", gen
            )
        else:
            set_condition(
                conds,
                "ComputeConfigResolved",
                "False",
                "ComputeConfigNotFound",
                f"ComputeConfig {ns}/{name} not found",
                gen,
            )
