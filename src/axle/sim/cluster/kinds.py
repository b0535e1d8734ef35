"""What the simulator knows about kinds: API groups, scope, and plural names for messages.

Objects are keyed by (group, kind, namespace, name): the version is not part of the identity,
as in Kubernetes, where one object is served at every version of its group. Cluster-scoped
kinds are listed; any kind not listed is namespaced when the object names a namespace and
cluster-scoped otherwise (a CRD instance applied without a namespace). Namespaced built-in
kinds without a namespace go to `default`, as kubectl sends them.
"""

from __future__ import annotations

from typing import Any

Key = tuple[str, str, str, str]  # group, kind, namespace ("" when cluster-scoped), name

CLUSTER_SCOPED = {
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("networking.k8s.io", "IngressClass"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("apiregistration.k8s.io", "APIService"),
}

BUILTIN_GROUPS = {
    "",
    "apps",
    "batch",
    "networking.k8s.io",
    "policy",
    "autoscaling",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "scheduling.k8s.io",
    "apiextensions.k8s.io",
    "admissionregistration.k8s.io",
    "apiregistration.k8s.io",
    "node.k8s.io",
    "certificates.k8s.io",
}


def group_of(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def plural(kind: str) -> str:
    """The resource name Kubernetes messages use (`namespaces`, `ingresses`, `policies`)."""
    low = kind.lower()
    if low.endswith("s") or low.endswith("x"):
        return low + "es"
    if low.endswith("y") and low[-2:-1] not in "aeiou":
        return low[:-1] + "ies"
    return low + "s"


def is_cluster_scoped(group: str, kind: str, namespace: str | None) -> bool:
    if (group, kind) in CLUSTER_SCOPED:
        return True
    if group in BUILTIN_GROUPS:
        return False
    return not namespace


def key_for(api_version: str, kind: str, namespace: str | None, name: str) -> Key:
    group = group_of(api_version)
    if is_cluster_scoped(group, kind, namespace):
        return (group, kind, "", name)
    return (group, kind, namespace or "default", name)


def key_of(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return key_for(
        str(obj.get("apiVersion") or ""),
        str(obj.get("kind") or ""),
        meta.get("namespace"),
        str(meta.get("name") or ""),
    )
