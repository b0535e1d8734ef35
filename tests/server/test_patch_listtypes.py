"""The list merge table shared by strategic merge patch, server-side apply and OpenAPI."""

from __future__ import annotations

from axle.api.registry import KindInfo
from axle.server.listtypes import ATOMIC, BY_NAME, SET, ListType, list_type, openapi_extensions

CONFIGMAP = KindInfo("", "v1", "ConfigMap", "configmaps", "configmap", True, has_status=False)
NAMESPACE = KindInfo("", "v1", "Namespace", "namespaces", "namespace", False)
ROLE = KindInfo("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", True)
PROJECT = KindInfo("axle.dev", "v1alpha1", "Project", "projects", "project", True)


def test_declared_lists_follow_kubernetes_tags() -> None:
    assert list_type(CONFIGMAP, ("metadata", "finalizers")) == SET
    assert list_type(PROJECT, ("metadata", "ownerReferences")) == ListType("map", ("uid",))
    assert list_type(NAMESPACE, ("status", "conditions")) == ListType("map", ("type",))
    assert list_type(NAMESPACE, ("spec", "finalizers")) == ATOMIC
    # Role rules have no patch strategy: atomic even though items could look keyed.
    assert list_type(ROLE, ("rules",), [{"name": "x"}]) == ATOMIC


def test_axle_lists_are_keyed_by_name_only_when_every_item_is_named() -> None:
    named = [{"name": "a"}, {"name": "b"}]
    assert list_type(PROJECT, ("spec", "roleMapping"), named) == BY_NAME
    assert list_type(PROJECT, ("spec", "roleMapping"), named, None) == BY_NAME
    assert list_type(PROJECT, ("spec", "x"), [{"name": "a"}, {"id": 1}]) == ATOMIC
    assert list_type(PROJECT, ("spec", "x"), ["a", "b"]) == ATOMIC
    assert list_type(PROJECT, ("spec", "x"), [{"name": 3}]) == ATOMIC
    assert list_type(PROJECT, ("spec", "x"), named, []) == ATOMIC
    assert list_type(PROJECT, ("spec", "x")) == ATOMIC


def test_openapi_extensions_match_what_kubernetes_publishes() -> None:
    ext = openapi_extensions(NAMESPACE)
    assert ext[("metadata", "finalizers")] == {
        "x-kubernetes-list-type": "set",
        "x-kubernetes-patch-strategy": "merge",
    }
    assert ext[("metadata", "ownerReferences")] == {
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["uid"],
        "x-kubernetes-patch-merge-key": "uid",
        "x-kubernetes-patch-strategy": "merge",
    }
    assert ext[("status", "conditions")]["x-kubernetes-patch-merge-key"] == "type"
    assert ("status", "conditions") not in openapi_extensions(CONFIGMAP)
