"""The simulated API: server-side apply, versions, namespaces, selectors, deletes, changes."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest

from axle.errors import BadRequest, Conflict, Forbidden, Invalid, NotFound
from axle.kube.cluster import Cluster
from axle.sim.cluster import SimCluster
from tests.sim_cluster.conftest import deployment, pod


def configmap(name: str, data: dict[str, str], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", **meta},
        "data": data,
    }


def test_matches_the_cluster_protocol_structurally(sim: SimCluster) -> None:
    assert isinstance(sim, Cluster)
    for name in (
        "apply",
        "get",
        "list_objects",
        "delete",
        "events_for",
        "capacity",
        "changes",
        "close",
    ):
        want = inspect.signature(getattr(Cluster, name))
        got = inspect.signature(getattr(SimCluster, name))
        assert list(got.parameters) == list(want.parameters), name
        for p, q in zip(got.parameters.values(), want.parameters.values(), strict=True):
            assert (p.kind, p.default) == (q.kind, q.default), (name, p.name)


async def test_create_sets_identity_and_versions(sim: SimCluster) -> None:
    live = await sim.apply(configmap("cfg", {"a": "1"}))
    meta = live["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1 and int(meta["resourceVersion"]) > 0
    assert meta["managedFields"][0]["manager"] == "axle"
    assert meta["managedFields"][0]["fieldsV1"] == {"f:data": {"f:a": {}}}


async def test_unchanged_apply_is_not_a_write(sim: SimCluster) -> None:
    first = await sim.apply(deployment("web"))
    again = await sim.apply(deployment("web"))
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert again["metadata"]["generation"] == 1


async def test_apply_removes_fields_the_same_manager_dropped(sim: SimCluster) -> None:
    await sim.apply(configmap("cfg", {"a": "1", "b": "2"}, labels={"x": "1", "y": "2"}))
    live = await sim.apply(configmap("cfg", {"a": "1"}, labels={"x": "1"}))
    assert live["data"] == {"a": "1"}
    assert live["metadata"]["labels"] == {"x": "1"}
    # Another manager's field survives the first manager's later applies.
    await sim.apply(configmap("cfg", {"c": "3"}), field_manager="other")
    live = await sim.apply(configmap("cfg", {"d": "4"}))
    assert live["data"] == {"c": "3", "d": "4"}
    managers = {m["manager"] for m in live["metadata"]["managedFields"]}
    assert managers == {"axle", "other"}
    # An empty map sent by one manager leaves the keys another manager owns.
    live = await sim.apply(configmap("cfg", {}), field_manager="third")
    assert live["data"] == {"c": "3", "d": "4"}


async def test_spec_change_bumps_generation_and_status_is_ignored(sim: SimCluster) -> None:
    live = await sim.apply(deployment("web", replicas=1))
    d = deployment("web", replicas=3)
    d["status"] = {"readyReplicas": 99}
    live = await sim.apply(d)
    assert live["metadata"]["generation"] == 2
    assert live["status"]["readyReplicas"] == 3


async def test_conflict_without_force(sim: SimCluster) -> None:
    await sim.apply(configmap("cfg", {"a": "1"}), field_manager="kubectl")
    with pytest.raises(Conflict, match=re.escape('conflict with "kubectl": .data.a')):
        await sim.apply(configmap("cfg", {"a": "2"}), field_manager="axle", force=False)
    assert (await sim.get("v1", "ConfigMap", "default", "cfg") or {})["data"] == {"a": "1"}
    live = await sim.apply(configmap("cfg", {"a": "2"}), field_manager="axle", force=True)
    assert live["data"] == {"a": "2"}
    # Ownership moved: kubectl dropping nothing no longer keeps .data.a as its own.
    assert [m["manager"] for m in live["metadata"]["managedFields"]] == ["axle"]


async def test_namespace_must_exist(sim: SimCluster) -> None:
    with pytest.raises(NotFound) as err:
        await sim.apply(configmap("cfg", {}, namespace="team-a"))
    assert err.value.message == 'namespaces "team-a" not found'
    assert await sim.list_objects("v1", "ConfigMap", "team-a") == []
    await sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    live = await sim.apply(configmap("cfg", {}, namespace="team-a"))
    assert live["metadata"]["namespace"] == "team-a"
    ns = await sim.get("v1", "Namespace", None, "team-a")
    assert ns is not None and ns["status"]["phase"] == "Active"


async def test_bad_objects_are_refused(sim: SimCluster) -> None:
    with pytest.raises(Invalid):
        await sim.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})
    with pytest.raises(Invalid):
        await sim.apply({"kind": "ConfigMap", "metadata": {"name": "x"}})
    with pytest.raises(Forbidden):
        await sim.delete("v1", "Namespace", None, "default")


async def test_label_selectors(sim: SimCluster) -> None:
    await sim.apply(configmap("a", {}, labels={"app": "web", "tier": "front"}))
    await sim.apply(configmap("b", {}, labels={"app": "web", "tier": "back"}))
    await sim.apply(configmap("c", {}, labels={"app": "db"}))

    async def names(selector: str) -> list[str]:
        objs = await sim.list_objects("v1", "ConfigMap", "default", selector)
        return [o["metadata"]["name"] for o in objs]

    assert await names("app=web") == ["a", "b"]
    assert await names("app=web,tier!=front") == ["b"]
    assert await names("app in (db, web),tier") == ["a", "b"]
    assert await names("app notin (web)") == ["c"]
    assert await names("!tier") == ["c"]
    assert await names("app==db") == ["c"]
    assert len(await names("")) == 3
    with pytest.raises(BadRequest):
        await names("app=web,=oops")


async def test_delete_cascades_deployment_to_pods(sim: SimCluster) -> None:
    await sim.apply(deployment("web", replicas=3))
    assert len(await sim.list_objects("apps/v1", "ReplicaSet", "default")) == 1
    assert len(await sim.list_objects("v1", "Pod", "default", "app=web")) == 3
    assert await sim.delete("apps/v1", "Deployment", "default", "web")
    assert await sim.list_objects("apps/v1", "ReplicaSet", "default") == []
    assert await sim.list_objects("v1", "Pod", "default") == []
    assert not await sim.delete("apps/v1", "Deployment", "default", "web")


async def test_delete_namespace_takes_its_objects(sim: SimCluster) -> None:
    await sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    await sim.apply(deployment("web", namespace="team"))
    await sim.apply(configmap("cfg", {}, namespace="team"))
    await sim.apply(configmap("keep", {}))
    assert await sim.delete("v1", "Namespace", None, "team")
    assert await sim.list_objects("v1", "Pod", "team") == []
    assert await sim.list_objects("v1", "ConfigMap", "team") == []
    assert [o["metadata"]["name"] for o in await sim.list_objects("v1", "ConfigMap")] == ["keep"]


async def test_changes_stream_writes_and_deletes(sim: SimCluster) -> None:
    seen: list[tuple[str, str, bool]] = []

    async def watch() -> None:
        async for obj in sim.changes():
            deleted = "deletionTimestamp" in obj["metadata"]
            seen.append((obj["kind"], obj["metadata"]["name"], deleted))

    task = asyncio.create_task(watch())
    await asyncio.sleep(0)
    await sim.apply(configmap("cfg", {"a": "1"}))
    await sim.delete("v1", "ConfigMap", "default", "cfg")
    deadline = asyncio.get_running_loop().time() + 5
    while ("ConfigMap", "cfg", True) not in seen:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    assert ("ConfigMap", "cfg", False) in seen
    await sim.close()
    await asyncio.wait_for(task, 5)


async def test_get_and_scope(sim: SimCluster) -> None:
    assert await sim.get("v1", "ConfigMap", "default", "nope") is None
    await sim.apply(configmap("cfg", {}))
    assert await sim.get("v1", "ConfigMap", None, "cfg") is not None  # None means default
    nodes = await sim.list_objects("v1", "Node")
    assert [n["metadata"]["name"] for n in nodes] == ["cp-01", "cp-02", "gpu-01", "gpu-02"]
    assert "namespace" not in nodes[0]["metadata"]


async def test_events_for_a_pod(sim: SimCluster) -> None:
    live = await sim.apply(pod("p"))
    events = await sim.events_for(live)
    assert [e["reason"] for e in events] == ["Scheduled", "Pulled", "Created", "Started"]
    ev = events[0]
    assert ev["apiVersion"] == "v1" and ev["kind"] == "Event" and ev["count"] == 1
    assert ev["type"] == "Normal" and ev["involvedObject"]["name"] == "p"
    assert ev["message"].startswith("Successfully assigned default/p to ")


async def test_inert_kinds_are_stored_without_a_controller_pass(
    make_cluster: Callable[..., SimCluster],
) -> None:
    sim = make_cluster()
    passes = 0
    reconcile = sim.controllers.reconcile

    def counting(full: bool = True) -> None:
        nonlocal passes
        passes += 1
        reconcile(full)

    sim.controllers.reconcile = counting  # type: ignore[method-assign]
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": "default"},
    }
    live = await sim.apply({**cm, "data": {"k": "v"}})
    assert live["data"] == {"k": "v"} and passes == 0
    assert (await sim.get("v1", "ConfigMap", "default", "a") or {})["data"] == {"k": "v"}
    await sim.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "s", "namespace": "default"},
            "spec": {"ports": [{"port": 80}]},
        }
    )
    assert passes == 1  # a Service is not inert: its controller runs
