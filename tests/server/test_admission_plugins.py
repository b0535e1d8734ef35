"""Cross-object admission: NamespaceLifecycle, Project, Tenant limits, Settings uniqueness.

Objects go through the server's order: `admit()` (schema, defaults), `mutate_admission`,
`validate_admission`, then the store, on the real SQLite store.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import axle.api.kinds  # noqa: F401
from axle.api.admission import admit
from axle.api.registry import REGISTRY, KindInfo
from axle.errors import Forbidden, Invalid, NotFound
from axle.server.admission_plugins import mutate_admission, validate_admission
from axle.server.auth import UserInfo
from axle.store import open_store
from axle.store.base import Obj, Store

ADMIN = UserInfo("admin", ("system:masters", "system:authenticated"))
PLATFORM = UserInfo("pat", ("acme-platform", "system:authenticated"))
OUTSIDER = UserInfo("olga", ("other-team", "system:authenticated"))
AXLE = "axle.dev/v1alpha1"


def kind(name: str) -> KindInfo:
    group = "" if name in ("Namespace", "ConfigMap", "Secret") else "axle.dev"
    return REGISTRY.by_group_kind(group, name)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    st = open_store("sqlite:///" + str(tmp_path / "db"))
    await st.start()
    yield st
    await st.close()


async def create(store: Store, obj: Obj, user: UserInfo = ADMIN, *, dry_run: bool = False) -> Obj:
    info = REGISTRY.by_api_version(obj["apiVersion"], obj["kind"])
    new = admit(info, obj)
    new = await mutate_admission(store, info, new, None, "CREATE", user, dry_run=dry_run)
    await validate_admission(store, info, new, None, "CREATE", user, dry_run=dry_run)
    return await store.create(info, new, dry_run=dry_run)


async def update(store: Store, obj: Obj, user: UserInfo = ADMIN) -> Obj:
    info = REGISTRY.by_api_version(obj["apiVersion"], obj["kind"])
    meta = obj["metadata"]
    current = await store.get(info, meta.get("namespace"), meta["name"])
    new = admit(info, obj, current)
    new = await mutate_admission(store, info, new, current, "UPDATE", user)
    await validate_admission(store, info, new, current, "UPDATE", user)
    return await store.update(info, new)


async def delete(store: Store, info: KindInfo, namespace: str | None, name: str) -> Obj:
    current = await store.get(info, namespace, name)
    await validate_admission(store, info, current, current, "DELETE", ADMIN)
    return await store.delete(info, namespace, name)


def namespace(name: str, **meta: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, **meta}}


def configmap(name: str, ns: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}}


def tenant(name: str = "acme", groups: tuple[str, ...] = ("acme-platform",), **limits: int) -> Obj:
    return {
        "apiVersion": AXLE,
        "kind": "Tenant",
        "metadata": {"name": name},
        "spec": {"tenantRoleMapping": {"groups": list(groups)}, "gpuLimits": limits},
    }


def project(name: str, ns: str | None = None, tenant_name: str = "acme", **limits: int) -> Obj:
    return {
        "apiVersion": AXLE,
        "kind": "Project",
        "metadata": {"name": name, "namespace": ns or name},
        "spec": {"tenantRef": {"name": tenant_name}, "gpuLimits": limits},
    }


def settings(name: str, ns: str, secret: str) -> Obj:
    return {
        "apiVersion": AXLE,
        "kind": "Settings",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"palette": {"secretRef": {"name": secret}}},
    }


def fields(err: Invalid) -> list[str]:
    return [c.field for c in err.causes]


async def exists(store: Store, info: KindInfo, ns: str | None, name: str) -> bool:
    try:
        await store.get(info, ns, name)
    except NotFound:
        return False
    return True


# --- NamespaceLifecycle ------------------------------------------------------------------


async def test_namespaced_object_needs_its_namespace(store: Store) -> None:
    with pytest.raises(NotFound) as err:
        await create(store, configmap("c", "nope"))
    status = err.value.to_status()
    assert status["code"] == 404
    assert status["message"] == 'namespaces "nope" not found'
    assert status["details"] == {"name": "nope", "kind": "namespaces"}
    await create(store, namespace("yes"))
    await create(store, configmap("c", "yes"))
    await create(store, tenant("cluster-scoped-needs-no-namespace"))


async def test_no_new_content_in_a_terminating_namespace(store: Store) -> None:
    await create(store, namespace("dying", finalizers=["test.axle.dev/hold"]))
    kept = await create(store, configmap("kept", "dying"))
    await store.delete(kind("Namespace"), None, "dying")  # held by the finalizer: terminating
    with pytest.raises(Forbidden) as err:
        await create(store, configmap("c", "dying"))
    assert err.value.message == (
        'configmaps "c" is forbidden: unable to create new content in namespace dying '
        "because it is being terminated"
    )
    assert fields(err.value) == ["metadata.namespace"]  # type: ignore[arg-type]
    # Updates (such as removing finalizers) of what is already there still work.
    kept = copy.deepcopy(kept)
    kept["data"] = {"a": "b"}
    await update(store, kept)


async def test_terminating_phase_alone_counts(store: Store) -> None:
    ns = admit(kind("Namespace"), namespace("phased"))
    ns["status"] = {"phase": "Terminating"}
    await store.create(kind("Namespace"), ns)
    with pytest.raises(Forbidden):
        await create(store, configmap("c", "phased"))


@pytest.mark.parametrize("name", ["default", "axle-system"])
async def test_immortal_namespaces(store: Store, name: str) -> None:
    await create(store, namespace(name))
    with pytest.raises(Forbidden) as err:
        await delete(store, kind("Namespace"), None, name)
    status = err.value.to_status()
    assert (
        status["message"] == f'namespaces "{name}" is forbidden: this namespace may not be deleted'
    )
    assert status["details"] == {"name": name, "kind": "namespaces"}
    assert await exists(store, kind("Namespace"), None, name)


async def test_other_namespaces_and_objects_may_be_deleted(store: Store) -> None:
    await create(store, namespace("scratch"))
    await create(store, configmap("c", "scratch"))
    await delete(store, kind("ConfigMap"), "scratch", "c")
    await delete(store, kind("Namespace"), None, "scratch")
    # Allowed: it is now Terminating, held by the lifecycle finalizer admission gave it until
    # the Namespace controller (not running here) has emptied it.
    ns = await store.get(kind("Namespace"), None, "scratch")
    assert ns["metadata"]["deletionTimestamp"]


# --- Project -----------------------------------------------------------------------------


async def test_project_creates_its_namespace(store: Store) -> None:
    await create(store, tenant())
    await create(store, project("team-a"))
    ns = await store.get(kind("Namespace"), None, "team-a")
    assert ns["metadata"]["labels"] == {"axle.dev/project": "team-a", "axle.dev/tenant": "acme"}
    assert ns["status"]["phase"] == "Active"
    assert await exists(store, kind("Project"), "team-a", "team-a")


async def test_project_in_existing_namespace_leaves_it_alone(store: Store) -> None:
    await create(store, tenant())
    await create(store, namespace("shared-ns", labels={"x": "y"}))
    await create(store, project("p", "shared-ns"))
    ns = await store.get(kind("Namespace"), None, "shared-ns")
    assert ns["metadata"]["labels"] == {"x": "y"}


async def test_project_dry_run_creates_nothing(store: Store) -> None:
    await create(store, tenant())
    result = await create(store, project("dry"), dry_run=True)
    assert result["metadata"]["name"] == "dry"
    assert not await exists(store, kind("Namespace"), None, "dry")
    assert not await exists(store, kind("Project"), "dry", "dry")


async def test_project_needs_an_existing_tenant(store: Store) -> None:
    with pytest.raises(Invalid) as err:
        await create(store, project("orphan", tenant_name="ghost"))
    assert fields(err.value) == ["spec.tenantRef.name"]
    assert err.value.message == (
        'Project.axle.dev "orphan" is invalid: spec.tenantRef.name: Invalid value: "ghost": '
        'tenant "ghost" not found'
    )
    # A refused project leaves no namespace behind.
    assert not await exists(store, kind("Namespace"), None, "orphan")


async def test_project_of_a_tenant_being_deleted(store: Store) -> None:
    t = tenant()
    t["metadata"]["finalizers"] = ["axle.dev/tenant-projects"]
    await create(store, t)
    await store.delete(kind("Tenant"), None, "acme")
    with pytest.raises(Invalid) as err:
        await create(store, project("late"))
    assert "being deleted" in err.value.causes[0].message


async def test_project_gpu_limits_within_the_tenants(store: Store) -> None:
    await create(store, tenant(**{"NVIDIA-H100": 32, "NVIDIA-A100": 8}))
    with pytest.raises(Invalid) as err:
        await create(store, project("big", **{"NVIDIA-H100": 64, "NVIDIA-A100": 8}))
    assert err.value.message == (
        'Project.axle.dev "big" is invalid: spec.gpuLimits.NVIDIA-H100: Invalid value: 64: '
        'exceeds tenant "acme" limit of 32'
    )
    assert fields(err.value) == ["spec.gpuLimits.NVIDIA-H100"]
    assert not await exists(store, kind("Namespace"), None, "big")
    # Equal to the tenant's limit, or a family the tenant does not limit: fine.
    p = await create(store, project("fits", **{"NVIDIA-H100": 32, "NVIDIA-L40S": 100}))
    # Raising it past the tenant's on update is refused too.
    raised = copy.deepcopy(p)
    raised["spec"]["gpuLimits"]["NVIDIA-H100"] = 33
    with pytest.raises(Invalid) as err:
        await update(store, raised)
    assert fields(err.value) == ["spec.gpuLimits.NVIDIA-H100"]


async def test_both_limits_reported(store: Store) -> None:
    await create(store, tenant(**{"NVIDIA-H100": 1, "NVIDIA-A100": 2}))
    with pytest.raises(Invalid) as err:
        await create(store, project("p", **{"NVIDIA-H100": 5, "NVIDIA-A100": 6}))
    assert sorted(fields(err.value)) == ["spec.gpuLimits.NVIDIA-A100", "spec.gpuLimits.NVIDIA-H100"]
    assert err.value.message.count("exceeds tenant") == 2


async def test_one_project_per_namespace(store: Store) -> None:
    await create(store, tenant())
    await create(store, project("first", "shared"))
    with pytest.raises(Invalid) as err:
        await create(store, project("second", "shared"))
    assert fields(err.value) == ["metadata.namespace"]
    assert '"first"' in err.value.message


@pytest.mark.parametrize("ns", ["axle-system", "tenant-acme", "spoke-edge-1"])
async def test_project_not_in_system_tenant_or_spoke_namespaces(store: Store, ns: str) -> None:
    await create(store, tenant())
    await create(store, namespace(ns))
    obj = project("p", ns)
    # The rule holds in the plugin itself, whatever ran before it.
    with pytest.raises(Invalid) as err:
        await validate_admission(store, kind("Project"), obj, None, "CREATE", ADMIN)
    assert fields(err.value) == ["metadata.namespace"]
    with pytest.raises(Invalid):
        await create(store, obj)


async def test_non_admin_must_be_a_tenant_admin(store: Store) -> None:
    await create(store, tenant())
    with pytest.raises(Forbidden) as err:
        await create(store, project("sneaky"), OUTSIDER)
    assert err.value.message == (
        'projects.axle.dev "sneaky" is forbidden: User "olga" cannot create projects in '
        'tenant "acme": not in its tenantRoleMapping.groups'
    )
    assert not await exists(store, kind("Namespace"), None, "sneaky")
    await create(store, project("legit"), PLATFORM)
    assert await exists(store, kind("Project"), "legit", "legit")


async def test_tenant_ref_is_immutable(store: Store) -> None:
    await create(store, tenant())
    await create(store, tenant("other"))
    p = await create(store, project("p"))
    moved = copy.deepcopy(p)
    moved["spec"]["tenantRef"] = {"name": "other"}
    with pytest.raises(Invalid) as err:
        await validate_admission(store, kind("Project"), moved, p, "UPDATE", ADMIN)
    assert fields(err.value) == ["spec.tenantRef"]
    assert "field is immutable" in err.value.message
    with pytest.raises(Invalid):
        await update(store, moved)


async def test_unrelated_project_update_is_not_rechecked(store: Store) -> None:
    await create(store, tenant(**{"NVIDIA-H100": 8}))
    p = await create(store, project("p", **{"NVIDIA-H100": 8}))
    edited = copy.deepcopy(p)
    edited["metadata"]["labels"] = {"team": "a"}
    await update(store, edited, OUTSIDER)  # RBAC decides who may edit; admission has no say


# --- Tenant ------------------------------------------------------------------------------


async def test_tenant_limits_cannot_drop_below_a_project(store: Store) -> None:
    t = await create(store, tenant(**{"NVIDIA-H100": 32}))
    await create(store, project("ml", **{"NVIDIA-H100": 16, "NVIDIA-A100": 4}))
    await create(store, project("small", **{"NVIDIA-H100": 2}))

    lowered = copy.deepcopy(t)
    lowered["spec"]["gpuLimits"]["NVIDIA-H100"] = 8
    with pytest.raises(Invalid) as err:
        await update(store, lowered)
    assert err.value.message == (
        'Tenant.axle.dev "acme" is invalid: spec.gpuLimits.NVIDIA-H100: Invalid value: 8: '
        'below project "ml/ml" limit of 16'
    )

    # Adding a limit for a family a project already uses more of is the same thing.
    added = copy.deepcopy(t)
    added["spec"]["gpuLimits"]["NVIDIA-A100"] = 2
    with pytest.raises(Invalid) as err:
        await update(store, added)
    assert fields(err.value) == ["spec.gpuLimits.NVIDIA-A100"]

    ok = copy.deepcopy(t)
    ok["spec"]["gpuLimits"] = {"NVIDIA-H100": 16, "NVIDIA-A100": 4}
    t = await update(store, ok)
    assert t["spec"]["gpuLimits"] == {"NVIDIA-H100": 16, "NVIDIA-A100": 4}
    unlimited = copy.deepcopy(t)
    unlimited["spec"]["gpuLimits"] = {}
    await update(store, unlimited)


async def test_other_tenants_projects_do_not_count(store: Store) -> None:
    await create(store, tenant("big-co", **{"NVIDIA-H100": 64}))
    await create(store, project("big-p", tenant_name="big-co", **{"NVIDIA-H100": 64}))
    t = await create(store, tenant("small-co", **{"NVIDIA-H100": 64}))
    lowered = copy.deepcopy(t)
    lowered["spec"]["gpuLimits"]["NVIDIA-H100"] = 1
    await update(store, lowered)


# --- Settings ----------------------------------------------------------------------------


async def test_a_palette_secret_backs_one_settings(store: Store) -> None:
    await create(store, namespace("shared"))
    await create(store, namespace("elsewhere"))
    await create(store, settings("first", "shared", "palette-creds"))
    with pytest.raises(Invalid) as err:
        await create(store, settings("second", "shared", "palette-creds"))
    assert fields(err.value) == ["spec.palette.secretRef.name"]
    assert 'Secret "shared/palette-creds" already backs Settings "shared/first"' in (
        err.value.message
    )
    # Another secret, or a secret of the same name in another namespace, is fine.
    other = await create(store, settings("second", "shared", "other-creds"))
    await create(store, settings("first", "elsewhere", "palette-creds"))
    # Re-pointing to a taken secret is refused; re-saving an unchanged one is not.
    taken = copy.deepcopy(other)
    taken["spec"]["palette"]["secretRef"]["name"] = "palette-creds"
    with pytest.raises(Invalid):
        await update(store, taken)
    first = await store.get(kind("Settings"), "shared", "first")
    first["metadata"]["labels"] = {"x": "y"}
    await update(store, first)


async def test_settings_without_palette_are_not_constrained(store: Store) -> None:
    await create(store, namespace("ns"))
    for name in ("a", "b"):
        await create(
            store,
            {
                "apiVersion": AXLE,
                "kind": "Settings",
                "metadata": {"name": name, "namespace": "ns"},
                "spec": {"huggingFace": {"secretRef": {"name": "hf"}}},
            },
        )


async def test_project_namespace_must_be_the_tenants(store: Store) -> None:
    await create(store, tenant())
    await create(store, tenant("beta", ("beta-admins",)))
    await create(store, namespace("beta-shared", labels={"axle.dev/tenant": "beta"}))
    with pytest.raises(Invalid) as err:
        await create(store, project("grab", "beta-shared"))  # not even an admin
    assert fields(err.value) == ["metadata.namespace"]
    assert 'belongs to tenant "beta"' in err.value.message

    # A tenant admin may not adopt an unlabelled namespace (its contents would become theirs).
    await create(store, namespace("loose"))
    with pytest.raises(Forbidden) as ferr:
        await create(store, project("adopt", "loose"), PLATFORM)
    assert "existing namespace loose" in ferr.value.message
    # One labelled for the tenant is fine, as is a new one.
    await create(store, namespace("acme-team", labels={"axle.dev/tenant": "acme"}))
    await create(store, project("team", "acme-team"), PLATFORM)
    await create(store, project("fresh"), PLATFORM)
