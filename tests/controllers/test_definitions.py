"""Built-in definitions at bootstrap, and the DefinitionRevision controller's snapshots."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from axle.api.admission import admit
from axle.api.registry import REGISTRY
from axle.controllers.bootstrap import ensure_system_objects
from axle.controllers.definitions import spec_hash
from axle.controllers.kinds import Kinds
from axle.controllers.manager import ControllerManager
from axle.controllers.objects import get_or_none
from axle.errors import Invalid
from axle.render import builtins
from axle.store.base import Obj, Store
from tests.controllers.helpers import eventually

K = Kinds.from_registry()
COMPDEF = REGISTRY.by_group_kind("axle.dev", "ComponentDefinition")
WP = REGISTRY.by_group_kind("axle.dev", "WorkloadProfile")
REV = REGISTRY.by_group_kind("axle.dev", "DefinitionRevision")


def compdef(name: str, description: str = "one") -> Obj:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "ComponentDefinition",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "description": description,
            "schematic": {"kube": {"template": {"apiVersion": "v1", "kind": "ConfigMap"}}},
        },
    }


def profile(name: str, image: str = "nginx") -> Obj:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "WorkloadProfile",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "type": "Application",
            "revisionNotes": "first",
            "workload": {
                "components": [
                    {"name": "web", "type": "webservice", "properties": {"image": image}}
                ]
            },
        },
    }


async def revisions(store: Store, name: str) -> dict[str, Obj]:
    items = (await store.list(REV, "default")).items
    return {
        r["metadata"]["name"]: r
        for r in items
        if r["metadata"]["name"].rsplit("-v", 1)[0] == name
        and not r["metadata"].get("deletionTimestamp")
    }


async def latest(store: Store, info: Any, name: str) -> dict[str, Any] | None:
    obj = await get_or_none(store, info, "default", name)
    return ((obj or {}).get("status") or {}).get("latestRevision")


async def test_bootstrap_installs_every_builtin_idempotently(store: Store) -> None:
    await ensure_system_objects(store, K)
    shipped = builtins.load()
    assert shipped["ComponentDefinition"] and shipped["TraitDefinition"]
    for kind, manifests in shipped.items():
        info = REGISTRY.by_group_kind("axle.dev", kind)
        for name, manifest in manifests.items():
            obj = await store.get(info, "axle-system", name)
            assert obj["spec"] == manifest["spec"]
    before = await store.current_revision()
    await ensure_system_objects(store, K)
    assert await store.current_revision() == before


async def test_bootstrap_restores_a_changed_builtin_spec(store: Store) -> None:
    await ensure_system_objects(store, K)
    web = await store.get(COMPDEF, "axle-system", "webservice")
    edited = copy.deepcopy(web)
    edited["spec"]["description"] = "edited by hand"
    await store.update(COMPDEF, edited)
    await ensure_system_objects(store, K)
    again = await store.get(COMPDEF, "axle-system", "webservice")
    assert again["spec"] == builtins.get("ComponentDefinition", "webservice")["spec"]


async def test_revisions_follow_spec_changes(store: Store, manager: ControllerManager) -> None:
    await store.create(COMPDEF, compdef("thing"))

    async def at(n: int) -> dict[str, Any] | None:
        rev = await latest(store, COMPDEF, "thing")
        return rev if rev and rev["revision"] == n else None

    first = await eventually(lambda: at(1), what="revision 1")
    assert first["name"] == "thing-v1"
    revs = await revisions(store, "thing")
    assert list(revs) == ["thing-v1"]
    v1 = revs["thing-v1"]
    assert v1["spec"]["definitionType"] == "Component"
    assert v1["spec"]["revisionHash"] == spec_hash(compdef("thing")["spec"])
    assert v1["spec"]["componentDefinition"] == {"name": "thing", "spec": compdef("thing")["spec"]}
    source = await store.get(COMPDEF, "default", "thing")
    assert v1["metadata"]["ownerReferences"][0]["uid"] == source["metadata"]["uid"]

    source["spec"]["description"] = "two"
    await store.update(COMPDEF, source)
    await eventually(lambda: at(2), what="revision 2")
    assert sorted(await revisions(store, "thing")) == ["thing-v1", "thing-v2"]

    # An update that leaves the spec as it is (a label) makes no revision.
    source = await store.get(COMPDEF, "default", "thing")
    source["metadata"]["labels"] = {"team": "ml"}
    await store.update(COMPDEF, source)
    # A later real change proves the controller has seen the label update, and numbers 3.
    source = await store.get(COMPDEF, "default", "thing")
    source["spec"]["description"] = "three"
    await store.update(COMPDEF, source)
    await eventually(lambda: at(3), what="revision 3")
    assert sorted(await revisions(store, "thing")) == ["thing-v1", "thing-v2", "thing-v3"]

    await store.delete(COMPDEF, "default", "thing")

    async def collected() -> bool:
        return not await revisions(store, "thing")

    await eventually(collected, what="revisions garbage-collected")


async def test_same_spec_again_makes_no_new_revision(
    store: Store, manager: ControllerManager
) -> None:
    await store.create(COMPDEF, compdef("steady"))
    await eventually(lambda: latest(store, COMPDEF, "steady"), what="revision 1")
    source = await store.get(COMPDEF, "default", "steady")
    source["spec"]["description"] = "other"
    await store.update(COMPDEF, source)

    async def two() -> bool:
        rev = await latest(store, COMPDEF, "steady")
        return bool(rev and rev["revision"] == 2)

    await eventually(two, what="revision 2")
    # Back to a spec equal to v1's is still a change from v2: a new revision (v3), and
    # re-reconciling it (manual requeue through resync) adds nothing.
    source = await store.get(COMPDEF, "default", "steady")
    source["spec"]["description"] = "one"
    await store.update(COMPDEF, source)

    async def three() -> bool:
        rev = await latest(store, COMPDEF, "steady")
        return bool(rev and rev["revision"] == 3)

    await eventually(three, what="revision 3")
    for ctl in manager.controllers:
        if ctl.reconciler.kind is COMPDEF:
            await ctl.reconciler.reconcile("default/steady")
    assert sorted(await revisions(store, "steady")) == ["steady-v1", "steady-v2", "steady-v3"]


async def test_workload_profile_gets_a_revision_with_its_notes(
    store: Store, manager: ControllerManager
) -> None:
    await store.create(WP, admit(WP, profile("chat")))
    rev = await eventually(lambda: latest(store, WP, "chat"), what="profile revision")
    assert rev["name"] == "chat-v1" and rev["revision"] == 1
    snap = (await store.get(REV, "default", "chat-v1"))["spec"]
    assert snap["definitionType"] == "WorkloadProfile"
    assert snap["revisionNotes"] == "first"
    assert snap["workloadProfile"]["name"] == "chat"


def test_workload_profile_spec_update_refused_with_field_path() -> None:
    old = admit(WP, profile("chat"))
    new = copy.deepcopy(old)
    new["spec"]["workload"]["components"][0]["properties"]["image"] = "httpd"
    with pytest.raises(Invalid) as err:
        admit(WP, new, old)
    causes = err.value.to_status()["details"]["causes"]
    assert [c["field"] for c in causes] == ["spec"]
    assert "cannot be edited" in causes[0]["message"]
