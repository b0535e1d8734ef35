"""The state file: a restarted simulator finds every object as it was."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from axle.errors import Invalid
from axle.sim.cluster import SimCluster
from axle.sim.palette.clock import ManualClock
from tests.sim_cluster.conftest import GPU_NODES, deployment, gpu_node, job


async def snapshot(sim: SimCluster) -> dict[tuple[str, str, str], str]:
    out = {}
    for api, kind in (
        ("v1", "Pod"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "ReplicaSet"),
        ("batch/v1", "Job"),
        ("v1", "Node"),
        ("v1", "Namespace"),
        ("v1", "Event"),
    ):
        for o in await sim.list_objects(api, kind):
            meta = o["metadata"]
            out[(kind, meta.get("namespace", ""), meta["name"])] = meta["resourceVersion"]
    return out


async def test_restart_keeps_objects_and_versions(clock: ManualClock, tmp_path: Path) -> None:
    state = tmp_path / "cluster.json"
    sim = SimCluster("demo", GPU_NODES, state_path=state, clock=clock, start_latency=5)
    await sim.apply(deployment("web", replicas=2))
    await sim.apply(job("batch"))
    before = await snapshot(sim)
    web = await sim.get("apps/v1", "Deployment", "default", "web")
    await sim.close()

    again = SimCluster("demo", GPU_NODES, state_path=state, clock=clock, start_latency=5)
    assert again.restored
    assert await snapshot(again) == before
    assert await again.get("apps/v1", "Deployment", "default", "web") == web
    # Re-applying the same manifest after the restart changes nothing.
    same = await again.apply(deployment("web", replicas=2))
    assert same["metadata"]["resourceVersion"] == web["metadata"]["resourceVersion"]  # type: ignore[index]
    # Timers survived: the pods start when the clock says, not 5 s after the restart.
    clock.advance(5)
    again.step()
    live = await again.get("apps/v1", "Deployment", "default", "web")
    assert live is not None and live["status"]["readyReplicas"] == 2
    # New writes continue the same revision sequence.
    fresh = await again.apply(deployment("api", replicas=1))
    assert int(fresh["metadata"]["resourceVersion"]) > max(int(v) for v in before.values())


async def test_changed_nodes_are_updated_on_restart(clock: ManualClock, tmp_path: Path) -> None:
    state = tmp_path / "cluster.json"
    SimCluster("demo", GPU_NODES, state_path=state, clock=clock)
    again = SimCluster("demo", [*GPU_NODES[:3], gpu_node("gpu-03")], state_path=state, clock=clock)
    names = [n["metadata"]["name"] for n in await again.list_objects("v1", "Node")]
    assert names == ["cp-01", "cp-02", "gpu-01", "gpu-03"]


def test_state_file_of_another_cluster_is_refused(clock: ManualClock, tmp_path: Path) -> None:
    state = tmp_path / "cluster.json"
    SimCluster("demo", GPU_NODES, state_path=state, clock=clock)
    with pytest.raises(Invalid, match="holds cluster 'demo'"):
        SimCluster("other", GPU_NODES, state_path=state, clock=clock)
    state.write_text("{not json")
    with pytest.raises(Invalid, match="remove it to start the cluster afresh"):
        SimCluster("demo", GPU_NODES, state_path=state, clock=clock)


async def test_state_file_written_atomically(clock: ManualClock, tmp_path: Path) -> None:
    state = tmp_path / "cluster.json"
    sim = SimCluster("demo", GPU_NODES, state_path=state, clock=clock)
    await sim.apply(deployment("web"))
    assert state.exists()
    assert os.listdir(tmp_path) == ["cluster.json"]  # no temporary left behind


async def test_resume_from_state_alone(clock: ManualClock, tmp_path: Path) -> None:
    state = tmp_path / "cluster.json"
    first = SimCluster(
        "demo", GPU_NODES, state_path=state, clock=clock, kubernetes_version="v1.32.3"
    )
    await first.apply(deployment("web"))
    again = SimCluster("demo", None, state_path=state, clock=clock)
    assert again.kubernetes_version == "v1.32.3"
    assert len((await again.capacity()).nodes) == 4
    assert await again.get("apps/v1", "Deployment", "default", "web") is not None
    with pytest.raises(Invalid, match="has no saved nodes"):
        SimCluster("fresh", None, state_path=tmp_path / "none.json", clock=clock)


async def test_events_of_deleted_objects_expire(clock: ManualClock, tmp_path: Path) -> None:
    sim = SimCluster("demo", GPU_NODES, clock=clock)
    await sim.apply(deployment("web"))
    await sim.delete("apps/v1", "Deployment", "default", "web")
    assert await sim.list_objects("v1", "Event")
    await sim.advance(3599)
    assert await sim.list_objects("v1", "Event")
    await sim.advance(1)
    assert await sim.list_objects("v1", "Event") == []


async def test_saves_are_deferred_while_run_drives_the_cluster(
    clock: ManualClock, tmp_path: Path
) -> None:
    state = tmp_path / "cluster.json"
    sim = SimCluster("demo", GPU_NODES, state_path=state, clock=clock)
    runner = asyncio.create_task(sim.run())
    await asyncio.sleep(0)  # run() starts and takes over saving
    await sim.apply(deployment("web", replicas=1))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while b'"web"' not in state.read_bytes():  # written in the background, within a second
        assert loop.time() < deadline, "the state file was never written"
        await asyncio.sleep(0.05)
    # A change just before close is written by close itself.
    await sim.apply(deployment("last", replicas=1))
    await sim.close()
    await asyncio.wait_for(runner, 5)
    again = SimCluster("demo", GPU_NODES, state_path=state, clock=clock)
    assert await again.get("apps/v1", "Deployment", "default", "last") is not None
    # The owner index is rebuilt from the file: the Deployment still finds its ReplicaSet.
    [rs] = await again.list_objects("apps/v1", "ReplicaSet", "default", "app=last")
    live = await again.get("apps/v1", "Deployment", "default", "last")
    assert live is not None
    assert again.store.owned_by(live["metadata"]["uid"], "apps", "ReplicaSet", "default") == [
        again.store.get(("apps", "ReplicaSet", "default", rs["metadata"]["name"]))
    ]
