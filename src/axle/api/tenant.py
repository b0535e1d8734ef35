"""Tenant (axle.dev/v1alpha1, cluster-scoped): an organisation with GPU quotas and admins.

A Tenant groups Projects, caps their summed GPU use per GPU family (`gpuLimits`), names the
groups whose members administer it (`tenantRoleMapping.groups`) and the Settings that hold its
Palette credentials. The Tenant controller gives it the namespace `tenant-<name>`, which is
why a tenant name is a DNS label short enough to take that prefix.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import GpuLimits, NamespacedRef, NonEmptyStr, NonNegInt, spec_of
from axle.api.meta import Model, ObjectMeta, StatusBase
from axle.api.registry import KindInfo, PrinterColumn, register

TENANT_NAMESPACE_PREFIX = "tenant-"
# A tenant's namespace `tenant-<name>` must itself be a DNS label (63 characters).
MAX_TENANT_NAME = v.DNS1123_LABEL_MAX - len(TENANT_NAMESPACE_PREFIX)


def tenant_namespace(name: str) -> str:
    """The namespace a Tenant owns (holds its settings, secrets and role templates)."""
    return f"{TENANT_NAMESPACE_PREFIX}{name}"


class TenantRoleMapping(Model):
    """Groups whose members are tenant admins (bound to the tenant-admin roles)."""

    groups: list[NonEmptyStr] = Field(
        default_factory=list, description="Groups (OIDC or token groups) granted tenant admin."
    )


class TenantSpec(Model):
    """What a tenant is allowed and who administers it."""

    displayName: str | None = Field(
        default=None, max_length=128, description="Name shown in the console."
    )
    description: str | None = Field(default=None, max_length=1024)
    tenantRoleMapping: TenantRoleMapping = Field(
        default_factory=TenantRoleMapping, description="Who administers the tenant."
    )
    settingsRef: NamespacedRef | None = Field(
        default=None,
        description="Settings with the tenant's integrations (namespace: tenant-<name>).",
    )
    gpuLimits: GpuLimits = Field(
        default_factory=dict,
        description="Most GPUs per family (NVIDIA-H100: 8) the tenant's projects may use.",
    )


class TenantStatus(StatusBase):
    phase: Literal["Ready", "NotReady", "Deleting"] | None = None
    namespace: str | None = Field(default=None, description="The namespace the tenant owns.")
    gpuUsage: dict[str, NonNegInt] | None = Field(
        default=None, description="GPUs in use per family."
    )
    projects: NonNegInt | None = Field(
        default=None, description="How many projects the tenant has."
    )


class Tenant(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["Tenant"] = "Tenant"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TenantSpec = Field(default_factory=TenantSpec)
    status: TenantStatus | None = None


def _default(obj: dict[str, Any]) -> None:
    spec = spec_of(obj)
    spec.setdefault("tenantRoleMapping", {})
    if isinstance(spec["tenantRoleMapping"], dict):
        spec["tenantRoleMapping"].setdefault("groups", [])
    spec.setdefault("gpuLimits", {})
    ref = spec.get("settingsRef")
    name = (obj.get("metadata") or {}).get("name")
    if isinstance(ref, dict) and not ref.get("namespace") and name:
        ref["namespace"] = tenant_namespace(name)


def _validate(obj: dict[str, Any]) -> list[v.FieldError]:
    spec = obj.get("spec") or {}
    return v.unique(
        (spec.get("tenantRoleMapping") or {}).get("groups") or [], "spec.tenantRoleMapping.groups"
    )


TENANT = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="Tenant",
        plural="tenants",
        singular="tenant",
        namespaced=False,
        model=Tenant,
        short_names=("tnt",),
        categories=("axle",),
        columns=(
            PrinterColumn("Status", ".status.phase"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
            PrinterColumn("Namespace", ".status.namespace", priority=1),
            PrinterColumn("Projects", ".status.projects", "integer", priority=1),
            PrinterColumn("Display Name", ".spec.displayName", priority=1),
        ),
        validate_object=_validate,
        default=_default,
        name_rule=v.max_length_label(MAX_TENANT_NAME),
        description="An organisation: projects, GPU quotas per family, admin groups.",
    )
)
