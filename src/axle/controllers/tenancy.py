"""Names, labels and lookups shared by the tenancy reconcilers (Tenant, Project, Settings).

One place for the conventions the notes fix (`tenant-<name>` namespaces, the `axle.dev/tenant`
and `axle.dev/project` labels, `prj-<project>-<role>` role names) so the three reconcilers and
their index functions can never disagree about them.
"""

from __future__ import annotations

from typing import Any

from axle.store.base import Obj
from axle.utils.jsoncopy import copy_json

TENANT_FINALIZER = "axle.dev/tenant-protection"
TENANT_LABEL = "axle.dev/tenant"
PROJECT_LABEL = "axle.dev/project"
ROLE_TEMPLATE_LABEL = "axle.dev/role-template"
MANAGED_BY = {"app.kubernetes.io/managed-by": "axle"}
# Index on the Project informer: the name of the project's tenant.
TENANT_INDEX = "tenant"


def tenant_namespace(tenant: str) -> str:
    return f"tenant-{tenant}"


def project_tenant(project: Obj) -> str:
    ref = (project.get("spec") or {}).get("tenantRef") or {}
    return str(ref.get("name") or "")


def projects_index(project: Obj) -> list[str]:
    tenant = project_tenant(project)
    return [tenant] if tenant else []


def project_role_name(project: str, role: str) -> str:
    return f"prj-{project}-{role}"


def tenant_admin_role_name(project: str) -> str:
    return f"prj-{project}-tnt-adm"


def tenant_groups(tenant: Obj) -> list[str]:
    mapping = (tenant.get("spec") or {}).get("tenantRoleMapping") or {}
    return [str(g) for g in mapping.get("groups") or []]


def is_ready(obj: Obj) -> bool:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def ready_message(obj: Obj) -> str:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return str(cond.get("message") or cond.get("reason") or "")
    return "not reconciled yet"


def status_copy(obj: Obj) -> dict[str, Any]:
    """A deep copy of the object's status, with a `conditions` list to edit."""
    status: dict[str, Any] = copy_json(obj.get("status") or {})
    status.setdefault("conditions", [])
    return status


def project_changed(old: Obj | None, new: Obj | None) -> bool:
    """Whether a Project event matters to what lives in its namespace (pools, Computes,
    Settings): its spec, labels, deletion or phase. Not the usage counts in its status, which
    every GPU reservation rewrites: with a thousand pools in a namespace, waking them all for
    each would be a thousand reconciles per workload."""
    if old is None or new is None:
        return True

    def significant(project: Obj) -> tuple[Any, ...]:
        meta = project.get("metadata") or {}
        return (
            meta.get("labels"),
            meta.get("deletionTimestamp"),
            project.get("spec"),
            (project.get("status") or {}).get("phase"),
        )

    return significant(old) != significant(new)
