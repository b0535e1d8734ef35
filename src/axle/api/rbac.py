"""RBAC kinds (rbac.authorization.k8s.io/v1): Role, ClusterRole, RoleBinding, ClusterRoleBinding.

The hub authorizes every request with Kubernetes RBAC semantics over these objects, and the
tenancy controllers generate them from `tenantRoleMapping` and `roleMapping`, so they carry
exactly Kubernetes' fields and validation (ValidatePolicyRule, subject rules, immutable
`roleRef`) and Kubernetes' subject defaulting (`apiGroup` for User and Group).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import LabelSelector, NonEmptyStr, immutable, selector_errors
from axle.api.meta import Model, ObjectMeta
from axle.api.registry import KindInfo, PrinterColumn, register

RBAC_GROUP = "rbac.authorization.k8s.io"
AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")


class PolicyRule(Model):
    verbs: list[NonEmptyStr]
    apiGroups: list[str] | None = None
    resources: list[str] | None = None
    resourceNames: list[str] | None = None
    nonResourceURLs: list[str] | None = None


class AggregationRule(Model):
    clusterRoleSelectors: list[LabelSelector] | None = None


class RoleRef(Model):
    apiGroup: str = RBAC_GROUP
    kind: Literal["Role", "ClusterRole"]
    name: NonEmptyStr


class Subject(Model):
    kind: Literal["User", "Group", "ServiceAccount"]
    name: NonEmptyStr
    apiGroup: str | None = None
    namespace: str | None = None


class Role(Model):
    apiVersion: Literal["rbac.authorization.k8s.io/v1"] = "rbac.authorization.k8s.io/v1"
    kind: Literal["Role"] = "Role"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    rules: list[PolicyRule] = Field(default_factory=list)


class ClusterRole(Model):
    apiVersion: Literal["rbac.authorization.k8s.io/v1"] = "rbac.authorization.k8s.io/v1"
    kind: Literal["ClusterRole"] = "ClusterRole"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    rules: list[PolicyRule] = Field(default_factory=list)
    aggregationRule: AggregationRule | None = None


class RoleBinding(Model):
    apiVersion: Literal["rbac.authorization.k8s.io/v1"] = "rbac.authorization.k8s.io/v1"
    kind: Literal["RoleBinding"] = "RoleBinding"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    subjects: list[Subject] = Field(default_factory=list)
    roleRef: RoleRef


class ClusterRoleBinding(Model):
    apiVersion: Literal["rbac.authorization.k8s.io/v1"] = "rbac.authorization.k8s.io/v1"
    kind: Literal["ClusterRoleBinding"] = "ClusterRoleBinding"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    subjects: list[Subject] = Field(default_factory=list)
    roleRef: RoleRef


def _rule_errors(rules: list[dict[str, Any]], namespaced: bool) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    for i, rule in enumerate(rules):
        path = f"rules[{i}]"
        if not rule.get("verbs"):
            errs.append(v.required(f"{path}.verbs", "verbs must contain at least one value"))
        urls = rule.get("nonResourceURLs") or []
        if urls:
            if namespaced:
                errs.append(
                    v.invalid(
                        f"{path}.nonResourceURLs",
                        urls,
                        "namespaced rules cannot apply to non-resource URLs",
                    )
                )
            if rule.get("apiGroups") or rule.get("resources"):
                errs.append(
                    v.invalid(
                        f"{path}.nonResourceURLs",
                        urls,
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                )
            continue
        if not rule.get("apiGroups"):
            errs.append(
                v.required(f"{path}.apiGroups", "resource rules must supply at least one api group")
            )
        if not rule.get("resources"):
            errs.append(
                v.required(f"{path}.resources", "resource rules must supply at least one resource")
            )
    return errs


def _validate_role(obj: dict[str, Any]) -> list[v.FieldError]:
    return _rule_errors(obj.get("rules") or [], namespaced=True)


def _validate_cluster_role(obj: dict[str, Any]) -> list[v.FieldError]:
    errs = _rule_errors(obj.get("rules") or [], namespaced=False)
    agg = obj.get("aggregationRule")
    if agg is not None:
        selectors = agg.get("clusterRoleSelectors") or []
        if not selectors:
            errs.append(
                v.required(
                    "aggregationRule.clusterRoleSelectors",
                    "at least one clusterRoleSelector required if aggregationRule is non-nil",
                )
            )
        for i, sel in enumerate(selectors):
            errs.extend(selector_errors(sel, f"aggregationRule.clusterRoleSelectors[{i}]"))
    return errs


def _default_binding(obj: dict[str, Any]) -> None:
    # Kubernetes' SetDefaults_Subject: User and Group are in the RBAC group, ServiceAccount in core.
    for subject in obj.get("subjects") or []:
        if isinstance(subject, dict) and subject.get("apiGroup") is None:
            subject["apiGroup"] = "" if subject.get("kind") == "ServiceAccount" else RBAC_GROUP
    ref = obj.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = RBAC_GROUP


def _binding_errors(obj: dict[str, Any], namespaced: bool) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    ref = obj.get("roleRef") or {}
    if ref.get("apiGroup") != RBAC_GROUP:
        errs.append(v.not_supported("roleRef.apiGroup", ref.get("apiGroup"), [RBAC_GROUP]))
    if not namespaced and ref.get("kind") != "ClusterRole":
        errs.append(v.not_supported("roleRef.kind", ref.get("kind"), ["ClusterRole"]))
    if ref.get("name"):
        errs.extend(v.path_segment_name(ref["name"], "roleRef.name"))
    for i, subject in enumerate(obj.get("subjects") or []):
        path = f"subjects[{i}]"
        kind = subject.get("kind")
        group = subject.get("apiGroup")
        if kind == "ServiceAccount":
            if group:
                errs.append(v.not_supported(f"{path}.apiGroup", group, [""]))
            errs.extend(v.dns1123_subdomain(subject.get("name", ""), f"{path}.name"))
            if not namespaced and not subject.get("namespace"):
                errs.append(v.required(f"{path}.namespace"))
        elif group != RBAC_GROUP:
            errs.append(v.not_supported(f"{path}.apiGroup", group, [RBAC_GROUP]))
    return errs


def _validate_role_binding(obj: dict[str, Any]) -> list[v.FieldError]:
    return _binding_errors(obj, namespaced=True)


def _validate_cluster_role_binding(obj: dict[str, Any]) -> list[v.FieldError]:
    return _binding_errors(obj, namespaced=False)


def _validate_binding_update(old: dict[str, Any], new: dict[str, Any]) -> list[v.FieldError]:
    errs = immutable(old.get("roleRef"), new.get("roleRef"), "roleRef")
    return [(p, m.replace("field is immutable", "cannot change roleRef")) for p, m in errs]


def _kind(kind: str, plural: str, namespaced: bool, model: type[Model], **kw: Any) -> KindInfo:
    return register(
        KindInfo(
            group=RBAC_GROUP,
            version="v1",
            kind=kind,
            plural=plural,
            singular=kind.lower(),
            namespaced=namespaced,
            model=model,
            has_status=False,
            name_rule=v.path_segment_name,
            **kw,
        )
    )


ROLE = _kind(
    "Role",
    "roles",
    True,
    Role,
    columns=(PrinterColumn("Created At", ".metadata.creationTimestamp"),),
    validate_object=_validate_role,
    description="Namespaced permissions.",
)
CLUSTER_ROLE = _kind(
    "ClusterRole",
    "clusterroles",
    False,
    ClusterRole,
    columns=(PrinterColumn("Created At", ".metadata.creationTimestamp"),),
    validate_object=_validate_cluster_role,
    description="Cluster-wide permissions.",
)
_BINDING_COLUMNS = (
    PrinterColumn("Role", ".roleRef.name"),
    AGE,
    PrinterColumn("Subjects", ".subjects[*].name", priority=1),
)
ROLE_BINDING = _kind(
    "RoleBinding",
    "rolebindings",
    True,
    RoleBinding,
    columns=_BINDING_COLUMNS,
    validate_object=_validate_role_binding,
    validate_update=_validate_binding_update,
    default=_default_binding,
    description="Grants a Role or ClusterRole to subjects in one namespace.",
)
CLUSTER_ROLE_BINDING = _kind(
    "ClusterRoleBinding",
    "clusterrolebindings",
    False,
    ClusterRoleBinding,
    columns=_BINDING_COLUMNS,
    validate_object=_validate_cluster_role_binding,
    validate_update=_validate_binding_update,
    default=_default_binding,
    description="Grants a ClusterRole to subjects everywhere.",
)
