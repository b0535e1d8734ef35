"""AIWorkload revisions: ControllerRevisions per distinct input, rollback pin, history limit."""

from __future__ import annotations

from typing import Any

from axle.api.admission import admit
from axle.controllers.manager import ControllerManager
from axle.controllers.revisions import (
    HISTORY_LIMIT,
    ROLLBACK_ANNOTATION,
    data_hash,
    revision_data,
    revision_name,
)
from axle.store.base import Obj, Store
from tests.controllers.test_aiworkload import (
    AIW,
    BUNDLE,
    NS,
    REVISION,
    aiw_obj,
    base,
    cond,
    edit,
    hub,
    wait_aiw,
    wait_wd,
)

__all__ = ["hub"]


async def revisions(store: Store, name: str = "chat") -> list[Obj]:
    items = (await store.list(REVISION, NS, label_selector=f"axle.dev/aiworkload={name}")).items
    return sorted(items, key=lambda r: int(r["revision"]))


async def at_revision(store: Store, n: int) -> Obj:
    return await wait_aiw(store, "chat", lambda o: o["status"].get("revision") == n, f"rev {n}")


def set_vars(values: dict[str, Any]) -> Any:
    def fn(obj: Obj) -> None:
        obj["spec"]["variables"] = values

    return fn


def test_revision_names_and_hashes_are_stable() -> None:
    data = revision_data({"a": 1}, {"name": "b", "namespace": NS, "spec": {}}, {"web": 1})
    assert data_hash(data) == data_hash(revision_data({"a": 1}, data["bundle"], {"web": 1}))
    assert data_hash(data) != data_hash(revision_data({"a": 2}, data["bundle"], {"web": 1}))
    name = revision_name("x" * 300, "0123456789")
    assert len(name) <= 253 and name.endswith("-0123456789")


async def test_new_inputs_make_revisions_and_update_deployments(
    store: Store, hub: ControllerManager
) -> None:
    await base(store)
    await store.create(AIW, aiw_obj(variables={"replicas": 1}))
    await at_revision(store, 1)
    [first] = await revisions(store)
    aiw = await store.get(AIW, NS, "chat")
    assert first["metadata"]["name"].startswith("chat-")
    assert first["metadata"]["ownerReferences"][0]["uid"] == aiw["metadata"]["uid"]
    assert first["data"]["spec"] == aiw["spec"]
    assert first["data"]["bundle"]["name"] == "app"
    assert first["data"]["bundle"]["version"] == "1.0.0"
    assert first["data"]["profiles"] == {"web": 1}
    admit(REVISION, first)

    await edit(store, AIW, NS, "chat", set_vars({"replicas": 3}))
    await at_revision(store, 2)
    wd = await wait_wd(store, "chat-web", lambda w: w["spec"]["revision"] == 2, "wd rev 2")
    assert wd["spec"]["variables"] == {"replicas": 3}

    def new_version(b: Obj) -> None:
        b["spec"]["version"] = "2.0.0"
        b["spec"]["variableSet"] = {
            "variables": [{"name": "size", "variableType": "string", "value": {"string": "L"}}]
        }

    await edit(store, BUNDLE, NS, "app", new_version)
    obj = await at_revision(store, 3)
    assert obj["status"]["bundle"]["version"] == "2.0.0"
    wd = await wait_wd(store, "chat-web", lambda w: w["spec"]["revision"] == 3, "wd rev 3")
    assert wd["spec"]["bundleVariables"][0]["name"] == "size"
    assert [int(r["revision"]) for r in await revisions(store)] == [1, 2, 3]


async def test_rollback_pin_deploys_the_old_bundle_snapshot_until_the_spec_changes(
    store: Store, hub: ControllerManager
) -> None:
    await base(store)
    await store.create(AIW, aiw_obj(variables={"replicas": 1}))
    await at_revision(store, 1)
    old_spec = (await revisions(store))[0]["data"]["spec"]

    def v2(b: Obj) -> None:
        b["spec"]["version"] = "2.0.0"
        b["spec"]["variableSet"] = {
            "variables": [{"name": "size", "variableType": "string", "value": {"string": "L"}}]
        }

    await edit(store, AIW, NS, "chat", set_vars({"replicas": 2}))
    await at_revision(store, 2)
    await edit(store, BUNDLE, NS, "app", v2)
    await at_revision(store, 3)

    # What `axle rollout undo --to-revision 1` writes.
    def undo(obj: Obj) -> None:
        obj["spec"] = old_spec
        obj["metadata"].setdefault("annotations", {})[ROLLBACK_ANNOTATION] = "1"

    await edit(store, AIW, NS, "chat", undo)
    obj = await at_revision(store, 4)
    assert obj["status"]["bundle"]["version"] == "1.0.0"  # the snapshot, not the live 2.0.0
    assert cond(obj, "BundleResolved")["reason"] == "RollbackPinned"
    # The pin follows the revision to its new number, so later passes keep deploying it.
    assert obj["metadata"]["annotations"][ROLLBACK_ANNOTATION] == "4"
    revs = await revisions(store)
    # Kubernetes semantics: the restored revision moved to the top, no copy was made.
    assert len(revs) == 3
    assert revs[-1]["data"]["spec"] == old_spec and int(revs[-1]["revision"]) == 4
    wd = await wait_wd(store, "chat-web", lambda w: w["spec"]["revision"] == 4, "wd rev 4")
    assert not wd["spec"]["bundleVariables"]
    assert wd["spec"]["variables"] == {"replicas": 1}

    await edit(store, AIW, NS, "chat", set_vars({"replicas": 5}))
    obj = await at_revision(store, 5)
    assert ROLLBACK_ANNOTATION not in (obj["metadata"].get("annotations") or {})
    assert obj["status"]["bundle"]["version"] == "2.0.0"
    assert cond(obj, "BundleResolved")["reason"] == "Resolved"


async def test_history_is_limited_and_keeps_the_current_revision(
    store: Store, hub: ControllerManager
) -> None:
    await base(store)
    await store.create(AIW, aiw_obj(variables={"n": 0}))
    await at_revision(store, 1)
    for n in range(1, HISTORY_LIMIT + 3):
        await edit(store, AIW, NS, "chat", set_vars({"n": n}))
        await at_revision(store, n + 1)
    revs = await revisions(store)
    assert len(revs) == HISTORY_LIMIT
    numbers = [int(r["revision"]) for r in revs]
    assert numbers == list(range(HISTORY_LIMIT + 3 - HISTORY_LIMIT + 1, HISTORY_LIMIT + 4))
    assert revs[-1]["data"]["spec"]["variables"] == {"n": HISTORY_LIMIT + 2}


async def test_the_bundle_pin_is_the_profile_revision_deployed(
    store: Store, hub: ControllerManager
) -> None:
    await base(store)

    def pin(b: Obj) -> None:
        b["spec"]["workloadProfiles"] = [{"name": "web", "revision": 7}]

    await edit(store, BUNDLE, NS, "app", pin)
    await store.create(AIW, aiw_obj())
    wd = await wait_wd(store, "chat-web")
    assert wd["spec"]["workloadProfileRef"] == {"name": "web", "revision": 7}
    [rev] = await revisions(store)
    assert rev["data"]["profiles"] == {"web": 7}
