"""Tenant reconciler: namespace, template copies, RBAC, status, deletion guarded by projects."""

from __future__ import annotations

from typing import Any

from axle.api.meta import get_condition
from axle.controllers.bootstrap import ensure_system_objects
from axle.controllers.kinds import Kinds
from axle.controllers.manager import ControllerManager
from axle.controllers.objects import get_or_none
from axle.controllers.roles import default_templates, parse_rules
from axle.controllers.tenancy import TENANT_FINALIZER
from axle.controllers.tenant import remaining_message
from axle.store.base import Obj, Store
from tests.controllers.helpers import eventually

K = Kinds.from_registry()


def tenant(name: str, groups: list[str], **spec: Any) -> Obj:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name},
        "spec": {"tenantRoleMapping": {"groups": groups}, "gpuLimits": {}, **spec},
    }


def project(name: str, tenant_name: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name, "namespace": name},
        "spec": {"tenantRef": {"name": tenant_name}, **spec},
    }


async def phase_of(store: Store, info: Any, ns: str | None, name: str) -> str | None:
    obj = await get_or_none(store, info, ns, name)
    return None if obj is None else (obj.get("status") or {}).get("phase")


async def test_bootstrap_is_idempotent(store: Store) -> None:
    await ensure_system_objects(store, K)
    first = await store.current_revision()
    await ensure_system_objects(store, K)
    assert await store.current_revision() == first  # the second run writes nothing
    for role, rules in default_templates().items():
        cm = await store.get(K.config_map, "axle-system", f"axle-project-rbac-{role}")
        assert parse_rules(cm["data"]["rules.yaml"]) == rules
    admin = await store.get(K.cluster_role, None, "axle-tenant-admin")
    assert all(r["verbs"] == ["create"] for r in admin["rules"])
    assert {res for r in admin["rules"] for res in r["resources"]} == {
        "projects",
        "settings",
        "computeconfigs",
        "secrets",
    }
    binding = await store.get(K.role_binding, "axle-system", "axle-system-viewer")
    assert binding["subjects"][0]["name"] == "system:authenticated"
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "axle-system-viewer",
    }
    for ns in ("axle-system", "default"):
        await store.get(K.namespace, None, ns)


async def test_tenant_gets_namespace_templates_and_roles(
    store: Store, manager: ControllerManager
) -> None:
    await store.create(K.tenant, tenant("acme", ["acme-platform"]))
    await eventually(lambda: phase_of(store, K.tenant, None, "acme"), what="tenant status")
    t = await eventually(
        lambda: _ready(store, "acme"),
        what="tenant Ready",
    )
    assert TENANT_FINALIZER in t["metadata"]["finalizers"]
    assert t["status"]["namespace"] == "tenant-acme"
    assert t["status"]["observedGeneration"] == t["metadata"]["generation"]
    for cond in ("NamespaceReady", "RolesReady", "Ready"):
        assert get_condition(t, cond)["status"] == "True"  # type: ignore[index]

    ns = await store.get(K.namespace, None, "tenant-acme")
    assert ns["metadata"]["labels"]["axle.dev/tenant"] == "acme"
    assert ns["metadata"]["ownerReferences"][0]["uid"] == t["metadata"]["uid"]
    for role in ("viewer", "editor", "admin"):
        copy_ = await store.get(K.config_map, "tenant-acme", f"axle-project-rbac-{role}")
        system = await store.get(K.config_map, "axle-system", f"axle-project-rbac-{role}")
        assert copy_["data"] == system["data"]
    viewer = await store.get(K.role_binding, "tenant-acme", "axle-tenant-viewer")
    assert [s["name"] for s in viewer["subjects"]] == ["acme-platform"]
    assert viewer["roleRef"]["kind"] == "Role"
    role = await store.get(K.role, "tenant-acme", "axle-tenant-viewer")
    assert all(set(r["verbs"]) <= {"get", "list", "watch"} for r in role["rules"])
    crb = await store.get(K.cluster_role_binding, None, "axle-tenant-acme-admin")
    assert crb["roleRef"]["name"] == "axle-tenant-admin"
    assert [s["name"] for s in crb["subjects"]] == ["acme-platform"]

    # The tenant's copies are its own: an edit survives later reconciles.
    cm = await store.get(K.config_map, "tenant-acme", "axle-project-rbac-viewer")
    cm["data"]["rules.yaml"] = "- apiGroups: ['']\n  resources: [configmaps]\n  verbs: [get]\n"
    await store.update(K.config_map, cm)
    t = await store.get(K.tenant, None, "acme")
    t["spec"]["tenantRoleMapping"]["groups"] = ["acme-platform", "acme-ops"]
    await store.update(K.tenant, t)

    async def bound_to_both() -> bool:
        crb = await store.get(K.cluster_role_binding, None, "axle-tenant-acme-admin")
        return [s["name"] for s in crb["subjects"]] == ["acme-platform", "acme-ops"]

    await eventually(bound_to_both)
    kept = await store.get(K.config_map, "tenant-acme", "axle-project-rbac-viewer")
    assert "verbs: [get]" in kept["data"]["rules.yaml"]

    # No admin groups: the bindings go away (nothing to bind), the tenant stays Ready.
    t = await store.get(K.tenant, None, "acme")
    t["spec"]["tenantRoleMapping"]["groups"] = []
    await store.update(K.tenant, t)
    await eventually(lambda: _absent(store, K.cluster_role_binding, None, "axle-tenant-acme-admin"))
    await eventually(lambda: _absent(store, K.role_binding, "tenant-acme", "axle-tenant-viewer"))


async def _ready(store: Store, name: str) -> Obj | None:
    obj = await get_or_none(store, K.tenant, None, name)
    if obj and (obj.get("status") or {}).get("phase") == "Ready":
        return obj
    return None


async def _absent(store: Store, info: Any, ns: str | None, name: str) -> bool:
    return await get_or_none(store, info, ns, name) is None


async def test_tenant_deletion_waits_for_its_projects(
    store: Store, manager: ControllerManager
) -> None:
    await store.create(K.tenant, tenant("acme", ["acme-platform"]))
    await store.create(K.tenant, tenant("other", []))
    await eventually(lambda: _ready(store, "acme"))
    for name in ("team-b", "team-a"):
        await store.create(K.namespace, {"metadata": {"name": name}})
        await store.create(K.project, project(name, "acme"))
    await store.create(K.namespace, {"metadata": {"name": "elsewhere"}})
    await store.create(K.project, project("elsewhere", "other"))

    async def counted() -> bool:
        t = await store.get(K.tenant, None, "acme")
        return bool(t["status"].get("projects") == 2)

    await eventually(counted, what="status.projects == 2")

    await store.delete(K.tenant, None, "acme")

    async def blocked() -> Obj | None:
        t = await get_or_none(store, K.tenant, None, "acme")
        cond = get_condition(t or {}, "Ready")
        if t and cond and cond["reason"] == "ProjectsRemain" and t["status"]["phase"] == "Deleting":
            return t
        return None

    t = await eventually(blocked, what="deletion blocked by projects")
    cond = get_condition(t, "Ready")
    assert cond is not None and cond["status"] == "False"
    assert cond["message"].startswith("2 projects remain: team-a/team-a, team-b/team-b")

    async def warned() -> list[Obj]:
        events = (await store.list(K.event, "default")).items
        return [e for e in events if e["reason"] == "ProjectsRemain"]

    warnings = await eventually(warned, what="a ProjectsRemain Event")
    assert warnings[0]["type"] == "Warning"
    assert warnings[0]["message"] == cond["message"]
    assert warnings[0]["involvedObject"]["name"] == "acme"
    assert warnings[0]["involvedObject"]["uid"] == t["metadata"]["uid"]
    assert warnings[0]["source"]["component"] == "axle-controller-manager"
    assert await get_or_none(store, K.namespace, None, "tenant-acme") is not None

    await store.delete(K.project, "team-a", "team-a")

    async def one_left() -> bool:
        t = await store.get(K.tenant, None, "acme")
        cond = get_condition(t, "Ready") or {}
        return str(cond.get("message", "")).startswith("1 project remains: team-b/team-b")

    await eventually(one_left)
    await store.delete(K.project, "team-b", "team-b")
    await eventually(lambda: _absent(store, K.tenant, None, "acme"), what="tenant removed")
    await eventually(lambda: _absent(store, K.namespace, None, "tenant-acme"), what="ns removed")
    assert await _absent(store, K.cluster_role_binding, None, "axle-tenant-acme-admin")
    # The other tenant and its project are untouched.
    assert await get_or_none(store, K.project, "elsewhere", "elsewhere") is not None


def test_remaining_message_grammar() -> None:
    assert remaining_message(["a/a"]) == "1 project remains: a/a"
    assert remaining_message(["a/a", "b/b"]) == "2 projects remain: a/a, b/b"
