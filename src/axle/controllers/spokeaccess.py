"""What a spoke's credential may touch on the hub, as objects: its namespace and its RBAC.

A spoke agent authenticates as User `system:spoke:<name>` (see `axle.api.spoketokens`). It is
granted exactly what DESIGN section 6 allows and nothing else:

- Role + RoleBinding `axle-spoke-agent` in `spoke-<name>`: read and watch its Works, write
  their status, update them (to remove its finalizer `axle.dev/spoke-cleanup` once their
  objects are gone from the cluster), read the Secrets there (the copies of hub Secrets a
  Work's `secretRefs` name, which the agent applies on its cluster), renew its heartbeat
  Lease, and record Events;
- ClusterRole + ClusterRoleBinding `axle-spoke-<name>`: get and update its own Spoke (and its
  status, where the agent reports capacity), by resourceName, so no other Spoke is visible.

No rule names tenants, projects, Secrets outside `spoke-<name>` or another spoke's namespace,
so those are 403. A Role binds only in its own namespace, which is what keeps the Secret and
Work rules from reaching any other namespace.

The objects are built here once and written by both the join endpoint (which must grant
access before it answers the agent) and the Spoke controller (which repairs drift and removes
them when the Spoke goes). Each carries an ownerReference to the Spoke, so the store's
garbage collector removes them with it even if no controller is running at that moment.
"""

from __future__ import annotations

import contextlib
from typing import Any

from axle.api.meta import GROUP, SYSTEM_NAMESPACE
from axle.api.registry import Registry
from axle.api.spoke import spoke_namespace
from axle.api.spoketokens import SPOKE_LABEL, credential_secret_name, spoke_user
from axle.controllers.objects import ensure, owner_ref
from axle.errors import NotFound
from axle.store.base import Obj, Store

RBAC = "rbac.authorization.k8s.io"
COORDINATION = "coordination.k8s.io"
AGENT_ROLE = "axle-spoke-agent"


def cluster_role_name(spoke: str) -> str:
    """The ClusterRole (and ClusterRoleBinding) letting a spoke read and update itself."""
    return f"axle-spoke-{spoke}"


def agent_rules() -> list[dict[str, Any]]:
    """The rules of the Role in the spoke's namespace."""
    return [
        {
            "apiGroups": [GROUP],
            "resources": ["works"],
            "verbs": ["get", "list", "watch", "update"],
        },
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": [GROUP],
            "resources": ["works/status"],
            "verbs": ["get", "update", "patch"],
        },
        {
            "apiGroups": [COORDINATION],
            "resources": ["leases"],
            "verbs": ["get", "list", "watch", "create", "update", "patch"],
        },
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    ]


def self_rules(spoke: str) -> list[dict[str, Any]]:
    """The rules of the spoke's ClusterRole: only its own Spoke, by name."""
    return [
        {
            "apiGroups": [GROUP],
            "resources": ["spokes", "spokes/status"],
            "resourceNames": [spoke],
            "verbs": ["get", "update", "patch"],
        }
    ]


def access_objects(spoke: Obj) -> list[tuple[str, str, Obj]]:
    """(group, kind, object) for the namespace and RBAC of `spoke` (a stored Spoke)."""
    name = spoke["metadata"]["name"]
    ns = spoke_namespace(name)
    owner = [owner_ref(spoke)]
    labels = {SPOKE_LABEL: name}
    subject = [{"kind": "User", "apiGroup": RBAC, "name": spoke_user(name)}]

    def meta(obj_name: str, namespace: str | None = None) -> dict[str, Any]:
        m: dict[str, Any] = {"name": obj_name, "labels": dict(labels), "ownerReferences": owner}
        if namespace:
            m["namespace"] = namespace
        return m

    return [
        ("", "Namespace", {"metadata": meta(ns)}),
        (RBAC, "Role", {"metadata": meta(AGENT_ROLE, ns), "rules": agent_rules()}),
        (
            RBAC,
            "RoleBinding",
            {
                "metadata": meta(AGENT_ROLE, ns),
                "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": AGENT_ROLE},
                "subjects": subject,
            },
        ),
        (
            RBAC,
            "ClusterRole",
            {"metadata": meta(cluster_role_name(name)), "rules": self_rules(name)},
        ),
        (
            RBAC,
            "ClusterRoleBinding",
            {
                "metadata": meta(cluster_role_name(name)),
                "roleRef": {
                    "apiGroup": RBAC,
                    "kind": "ClusterRole",
                    "name": cluster_role_name(name),
                },
                "subjects": subject,
            },
        ),
    ]


# The top-level fields each kind's desired state manages (replaced wholesale on drift).
_FIELDS = {"Namespace": (), "Role": ("rules",), "ClusterRole": ("rules",)}
_BINDING_FIELDS = ("roleRef", "subjects")


async def ensure_access(store: Store, registry: Registry, spoke: Obj) -> None:
    """Create the spoke's namespace and RBAC, or bring them back to what they should be."""
    for group, kind, desired in access_objects(spoke):
        info = registry.by_group_kind(group, kind)
        await ensure(store, info, desired, fields=_FIELDS.get(kind, _BINDING_FIELDS))


async def remove_access(store: Store, registry: Registry, spoke: str) -> list[str]:
    """Delete the spoke's credential, RBAC and namespace; returns what was deleted.

    Deleting the namespace deletes the Role, RoleBinding, Works and Lease in it (the Namespace
    controller empties it). Safe to repeat: absent objects are skipped.
    """
    targets = [
        ("", "Secret", SYSTEM_NAMESPACE, credential_secret_name(spoke)),
        (RBAC, "ClusterRoleBinding", None, cluster_role_name(spoke)),
        (RBAC, "ClusterRole", None, cluster_role_name(spoke)),
        ("", "Namespace", None, spoke_namespace(spoke)),
    ]
    deleted: list[str] = []
    for group, kind, namespace, name in targets:
        info = registry.by_group_kind(group, kind)
        with contextlib.suppress(NotFound):
            obj = await store.get(info, namespace, name)
            if obj["metadata"].get("deletionTimestamp"):
                continue
            await store.delete(info, namespace, name)
            deleted.append(f"{kind}/{name}")
    return deleted
