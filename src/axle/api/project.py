"""Project (axle.dev/v1alpha1, namespaced): a team's workspace inside a Tenant.

A Project lives in the namespace it governs (project `team-a` in namespace `team-a`; the
names may differ but one namespace holds one project's work). Its `roleMapping` names the
groups that become the project's viewers, editors and admins; its `gpuLimits` must fit inside
its tenant's (checked by the server's quota admission, which can see the tenant). A project may
not sit in the system namespace, in a tenant's own `tenant-*` namespace (shared definitions and
tenant settings, not team work), nor in a spoke's `spoke-*` namespace (its Works).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import (
    GpuLimits,
    NameRef,
    NamespacedRef,
    NonEmptyStr,
    NonNegInt,
    immutable,
    spec_of,
)
from axle.api.meta import SYSTEM_NAMESPACE, Model, ObjectMeta, StatusBase
from axle.api.registry import KindInfo, PrinterColumn, register
from axle.api.spoke import SPOKE_NAMESPACE_PREFIX
from axle.api.tenant import TENANT_NAMESPACE_PREFIX

# PaletteAI's display-name rule: letters, digits and spaces only.
_DISPLAY_NAME = re.compile(r"^[A-Za-z0-9 ]*$")
ROLES = ("viewer", "editor", "admin")


class RoleMapping(Model):
    """Groups granted each project role."""

    viewer: list[NonEmptyStr] = Field(default_factory=list, description="Groups that may read.")
    editor: list[NonEmptyStr] = Field(
        default_factory=list, description="Groups that may deploy (workloads, pools, profiles)."
    )
    admin: list[NonEmptyStr] = Field(
        default_factory=list, description="Groups that also manage settings and compute configs."
    )


class ModelFilters(Model):
    """Which models a mapping covers; every filter set must match."""

    # Shell-style patterns (fnmatch) on the model name, e.g. "meta-llama/*".
    namePatterns: list[NonEmptyStr] | None = None
    # Hugging Face organisations (the part before "/"), or NGC orgs.
    organizations: list[NonEmptyStr] | None = None


class ModelMapping(Model):
    """Model as a Service: a model source (and filters) -> the bundle that serves it."""

    name: NonEmptyStr
    source: Literal["huggingFace", "ngc"]
    filters: ModelFilters | None = None
    profileBundleRef: NamespacedRef


class ProjectSpec(Model):
    """A team workspace: its tenant, its members, its defaults and its GPU limits."""

    tenantRef: NameRef = Field(description="The tenant the project belongs to (immutable).")
    displayName: str | None = Field(
        default=None, max_length=64, description="Letters, digits and spaces only."
    )
    description: str | None = Field(default=None, max_length=1024)
    tags: list[NonEmptyStr] = Field(default_factory=list)
    roleMapping: RoleMapping = Field(default_factory=RoleMapping)
    settingsRef: NameRef | None = Field(
        default=None,
        description="Project Settings, merged over the tenant's per integration.",
    )
    computeConfigRef: NameRef | None = Field(
        default=None, description="The ComputeConfig holding the project's cluster defaults."
    )
    gpuLimits: GpuLimits = Field(
        default_factory=dict, description="Most GPUs of each family, within the tenant's limits."
    )
    modelAsAServiceMappings: list[ModelMapping] | None = Field(
        default=None,
        description="Model Deployments: the first mapping whose source and filters match a "
        "model chooses its bundle.",
    )


class ProjectStatus(StatusBase):
    phase: Literal["Ready", "NotReady", "Deleting"] | None = None
    gpuUsage: dict[str, NonNegInt] | None = None
    namespace: str | None = None
    tenantNamespace: str | None = None


class Project(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["Project"] = "Project"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ProjectSpec
    status: ProjectStatus | None = None


def _default(obj: dict[str, Any]) -> None:
    spec = spec_of(obj)
    mapping = spec.setdefault("roleMapping", {})
    if isinstance(mapping, dict):
        for role in ROLES:
            mapping.setdefault(role, [])
    spec.setdefault("tags", [])
    spec.setdefault("gpuLimits", {})


def _validate(obj: dict[str, Any]) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    namespace = (obj.get("metadata") or {}).get("namespace") or ""
    if namespace == SYSTEM_NAMESPACE:
        errs.append(
            v.forbidden("metadata.namespace", f"a project may not be created in {SYSTEM_NAMESPACE}")
        )
    elif namespace.startswith(TENANT_NAMESPACE_PREFIX):
        errs.append(
            v.forbidden(
                "metadata.namespace",
                f"a project may not be created in a tenant namespace ({TENANT_NAMESPACE_PREFIX}*)",
            )
        )
    elif namespace.startswith(SPOKE_NAMESPACE_PREFIX):
        # Project roles are granted in the project's namespace: in a spoke's namespace they
        # would let project members write that spoke's Works.
        errs.append(
            v.forbidden(
                "metadata.namespace",
                f"a project may not be created in a spoke namespace ({SPOKE_NAMESPACE_PREFIX}*)",
            )
        )
    spec = obj.get("spec") or {}
    display = spec.get("displayName")
    if display is not None and not _DISPLAY_NAME.match(display):
        errs.append(
            v.invalid("spec.displayName", display, "may contain only letters, digits and spaces")
        )
    errs.extend(v.unique(spec.get("tags") or [], "spec.tags"))
    mapping = spec.get("roleMapping") or {}
    for role in ROLES:
        errs.extend(v.unique(mapping.get(role) or [], f"spec.roleMapping.{role}"))
    errs.extend(
        v.unique_by(spec.get("modelAsAServiceMappings") or [], "spec.modelAsAServiceMappings")
    )
    return errs


def _validate_update(old: dict[str, Any], new: dict[str, Any]) -> list[v.FieldError]:
    # Moving a project between tenants would move its quota and roles: delete and recreate.
    return immutable(
        (old.get("spec") or {}).get("tenantRef"),
        (new.get("spec") or {}).get("tenantRef"),
        "spec.tenantRef",
    )


PROJECT = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="Project",
        plural="projects",
        singular="project",
        namespaced=True,
        model=Project,
        short_names=("proj",),
        categories=("axle",),
        columns=(
            PrinterColumn("Tenant", ".spec.tenantRef.name"),
            PrinterColumn("Status", ".status.phase"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
            PrinterColumn("Display Name", ".spec.displayName", priority=1),
            PrinterColumn("Compute Config", ".spec.computeConfigRef.name", priority=1),
        ),
        validate_object=_validate,
        validate_update=_validate_update,
        default=_default,
        name_rule=v.dns1123_label,
        description="A team workspace in a tenant: role mapping, settings, GPU limits.",
    )
)
