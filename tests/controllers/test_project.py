"""Project reconciler: tenant readiness, roles from tenant templates, bindings, quota, refs."""

from __future__ import annotations

from typing import Any

from axle.api.meta import get_condition
from axle.controllers.manager import ControllerManager
from axle.controllers.objects import get_or_none
from axle.controllers.project import quota_violations
from axle.controllers.roles import default_templates, tenant_admin_project_rules
from axle.store.base import Obj, Store
from tests.controllers.helpers import eventually
from tests.controllers.test_tenant import K, project, tenant


async def cond_of(store: Store, ns: str, name: str, type_: str) -> dict[str, Any] | None:
    obj = await get_or_none(store, K.project, ns, name)
    return get_condition(obj or {}, type_)


async def phase(store: Store, ns: str, name: str) -> str | None:
    obj = await get_or_none(store, K.project, ns, name)
    return ((obj or {}).get("status") or {}).get("phase")


async def has_reason(store: Store, name: str, type_: str, reason: str) -> bool:
    cond = await cond_of(store, name, name, type_)
    return bool(cond and cond["reason"] == reason)


async def test_project_waits_for_its_tenant_then_renders_roles(
    store: Store, manager: ControllerManager
) -> None:
    mapping = {"viewer": ["everyone"], "editor": ["scientists"], "admin": []}
    await store.create(
        K.project, project("team-a", "acme", roleMapping=mapping, gpuLimits={"NVIDIA-A100": 4})
    )
    await eventually(lambda: has_reason(store, "team-a", "TenantReady", "TenantNotFound"))
    assert await phase(store, "team-a", "team-a") == "NotReady"
    ready = await cond_of(store, "team-a", "team-a", "Ready")
    assert ready and ready["status"] == "False" and "tenant acme does not exist" in ready["message"]

    await store.create(K.tenant, tenant("acme", ["acme-platform"], gpuLimits={"NVIDIA-A100": 8}))
    await eventually(lambda: _phase_is(store, "team-a", "Ready"), what="project Ready")
    p = await store.get(K.project, "team-a", "team-a")
    for cond in ("TenantReady", "RolesReady", "QuotaValid", "Ready"):
        assert get_condition(p, cond)["status"] == "True", cond  # type: ignore[index]
    assert get_condition(p, "ComputeConfigResolved") is None
    assert p["status"]["namespace"] == "team-a"
    assert p["status"]["observedGeneration"] == p["metadata"]["generation"]

    ns = await store.get(K.namespace, None, "team-a")
    assert ns["metadata"]["labels"]["axle.dev/tenant"] == "acme"
    assert ns["metadata"]["labels"]["axle.dev/project"] == "team-a"

    defaults = default_templates()
    for role in ("viewer", "editor", "admin"):
        r = await store.get(K.role, "team-a", f"prj-team-a-{role}")
        assert r["rules"] == defaults[role]
        assert r["metadata"]["ownerReferences"][0]["uid"] == p["metadata"]["uid"]
    viewer = await store.get(K.role_binding, "team-a", "prj-team-a-viewer")
    assert [s["name"] for s in viewer["subjects"]] == ["everyone"]
    assert viewer["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "prj-team-a-viewer",
    }
    editor = await store.get(K.role_binding, "team-a", "prj-team-a-editor")
    assert [s["name"] for s in editor["subjects"]] == ["scientists"]
    assert await get_or_none(store, K.role_binding, "team-a", "prj-team-a-admin") is None
    adm = await store.get(K.role, "team-a", "prj-team-a-tnt-adm")
    assert adm["rules"] == tenant_admin_project_rules()
    adm_binding = await store.get(K.role_binding, "team-a", "prj-team-a-tnt-adm")
    assert [s["name"] for s in adm_binding["subjects"]] == ["acme-platform"]

    # Emptying a role's groups deletes its stale binding; filling one creates it.
    p["spec"]["roleMapping"] = {"viewer": [], "editor": ["scientists"], "admin": ["leads"]}
    await store.update(K.project, p)
    await eventually(
        lambda: _absent(store, K.role_binding, "team-a", "prj-team-a-viewer"), what="unbound"
    )
    await eventually(lambda: get_or_none(store, K.role_binding, "team-a", "prj-team-a-admin"))


async def _phase_is(store: Store, name: str, want: str) -> bool:
    return await phase(store, name, name) == want


async def _absent(store: Store, info: Any, ns: str | None, name: str) -> bool:
    return await get_or_none(store, info, ns, name) is None


async def test_editing_a_tenant_template_rerenders_every_project(
    store: Store, manager: ControllerManager
) -> None:
    await store.create(K.tenant, tenant("acme", ["acme-platform"]))
    other = tenant("other", [])
    await store.create(K.tenant, other)
    for name, t in (("team-a", "acme"), ("team-b", "acme"), ("team-c", "other")):
        await store.create(K.project, project(name, t, roleMapping={"editor": ["eng"]}))
    for name in ("team-a", "team-b", "team-c"):
        await eventually(lambda n=name: _phase_is(store, n, "Ready"), what=f"{name} Ready")  # type: ignore[misc]

    cm = await store.get(K.config_map, "tenant-acme", "axle-project-rbac-editor")
    new_rules = "- apiGroups: [axle.dev]\n  resources: [aiworkloads]\n  verbs: [get, create]\n"
    cm["data"]["rules.yaml"] = new_rules
    await store.update(K.config_map, cm)
    want = [{"apiGroups": ["axle.dev"], "resources": ["aiworkloads"], "verbs": ["get", "create"]}]

    async def rendered(name: str) -> bool:
        role = await store.get(K.role, name, f"prj-{name}-editor")
        return bool(role["rules"] == want)

    await eventually(lambda: rendered("team-a"), what="team-a re-rendered")
    await eventually(lambda: rendered("team-b"), what="team-b re-rendered")
    untouched = await store.get(K.role, "team-c", "prj-team-c-editor")
    assert untouched["rules"] == default_templates()["editor"]

    # A malformed template: RolesReady=False naming the ConfigMap; the last good Role stays.
    cm = await store.get(K.config_map, "tenant-acme", "axle-project-rbac-editor")
    cm["data"]["rules.yaml"] = "- apiGroups: [axle.dev]\n  resources: [aiworkloads]\n"
    await store.update(K.config_map, cm)
    await eventually(lambda: has_reason(store, "team-a", "RolesReady", "InvalidRoleTemplate"))
    cond = await cond_of(store, "team-a", "team-a", "RolesReady")
    assert cond is not None
    assert "tenant-acme/axle-project-rbac-editor" in cond["message"]
    assert "verbs" in cond["message"]
    assert await phase(store, "team-a", "team-a") == "NotReady"
    assert await rendered("team-a")
    ready = await cond_of(store, "team-a", "team-a", "Ready")
    assert ready and ready["reason"] == "InvalidRoleTemplate"

    cm = await store.get(K.config_map, "tenant-acme", "axle-project-rbac-editor")
    cm["data"]["rules.yaml"] = "not: [a, list"
    await store.update(K.config_map, cm)

    async def yaml_error() -> bool:
        cond = await cond_of(store, "team-b", "team-b", "RolesReady")
        return bool(cond and "not valid YAML" in cond["message"])

    await eventually(yaml_error)

    cm = await store.get(K.config_map, "tenant-acme", "axle-project-rbac-editor")
    cm["data"]["rules.yaml"] = new_rules
    await store.update(K.config_map, cm)
    await eventually(lambda: _phase_is(store, "team-a", "Ready"), what="recovered")


async def test_quota_and_compute_config_conditions(
    store: Store, manager: ControllerManager
) -> None:
    await store.create(K.tenant, tenant("acme", [], gpuLimits={"NVIDIA-H100": 32}))
    await store.create(
        K.project,
        project("team-a", "acme", gpuLimits={"NVIDIA-H100": 24}, computeConfigRef={"name": "cc"}),
    )
    await eventually(lambda: _phase_is(store, "team-a", "Ready"))
    # A missing ComputeConfig is reported but does not make the project unusable.
    cond = await cond_of(store, "team-a", "team-a", "ComputeConfigResolved")
    assert cond and cond["status"] == "False" and cond["reason"] == "ComputeConfigNotFound"
    assert "team-a/cc" in cond["message"]

    if K.compute_config is not None:
        await store.create(
            K.compute_config,
            {
                "apiVersion": "axle.dev/v1alpha1",
                "kind": "ComputeConfig",
                "metadata": {"name": "cc", "namespace": "team-a"},
                "spec": {},
            },
        )
        await eventually(lambda: has_reason(store, "team-a", "ComputeConfigResolved", "Found"))

    # The tenant lowers its limits below the project's.
    t = await store.get(K.tenant, None, "acme")
    t["spec"]["gpuLimits"] = {"NVIDIA-H100": 16}
    await store.update(K.tenant, t)
    await eventually(lambda: has_reason(store, "team-a", "QuotaValid", "ExceedsTenantLimits"))
    cond = await cond_of(store, "team-a", "team-a", "QuotaValid")
    assert cond and "NVIDIA-H100: 24 > 16" in cond["message"]
    assert await phase(store, "team-a", "team-a") == "NotReady"


async def test_project_of_a_deleting_tenant_is_not_ready(
    store: Store, manager: ControllerManager
) -> None:
    await store.create(K.tenant, tenant("acme", []))
    await store.create(K.project, project("team-a", "acme"))
    await eventually(lambda: _phase_is(store, "team-a", "Ready"))
    await store.delete(K.tenant, None, "acme")
    await eventually(lambda: has_reason(store, "team-a", "TenantReady", "TenantNotReady"))
    assert await phase(store, "team-a", "team-a") == "NotReady"
    roles = await cond_of(store, "team-a", "team-a", "RolesReady")
    assert roles and roles["status"] == "True"  # rendered roles are still there
    events = await eventually(lambda: _events_for(store, "team-a"))
    assert any(e["type"] == "Warning" and e["reason"] == "TenantNotReady" for e in events)


async def _events_for(store: Store, ns: str) -> list[Obj]:
    items = (await store.list(K.event, ns)).items
    return [e for e in items if e["reason"] == "TenantNotReady"]


def test_quota_violations() -> None:
    assert quota_violations({"A": 2}, {"A": 2}) == []
    assert quota_violations({"A": 3, "B": 1}, {"A": 2}) == ["A: 3 > 2"]  # B: not limited
