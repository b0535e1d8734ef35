"""The agent with the cluster simulator against a real hub: a restart re-applies nothing."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from axle.client import Client
from axle.oci import build_artifact, push
from axle.sim.cluster import GpuSpec, NodeSpec, SimCluster
from axle.spoke.agent import SpokeAgent
from tests.client.hubthread import HubThread
from tests.spoke.conftest import enroll, until

Obj = dict[str, Any]


class Counting(SimCluster):
    applies = 0

    async def apply(self, obj: Obj, *, field_manager: str = "axle", force: bool = True) -> Obj:
        type(self).applies += 1
        return await super().apply(obj, field_manager=field_manager, force=force)


def make_sim(state: Path) -> Counting:
    nodes = [
        NodeSpec("cp-1", 8, 16384, control_plane=True),
        NodeSpec("gpu-1", 64, 262144, gpus=(GpuSpec("H100", 8, 81920),)),
        NodeSpec("gpu-2", 64, 262144, gpus=(GpuSpec("H100", 8, 81920),)),
    ]
    return Counting("omega", nodes, state_path=state / "cluster.json")


def manifests() -> list[Obj]:
    labels = {"app": "vllm"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "llm"}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "vllm",
                "namespace": "llm",
                "labels": {"axle.dev/component": "server"},
            },
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "vllm",
                                "image": "vllm/vllm-openai",
                                "resources": {"limits": {"nvidia.com/gpu": "4"}},
                            }
                        ]
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "vllm", "namespace": "llm"},
            "spec": {"type": "LoadBalancer", "selector": labels, "ports": [{"port": 8000}]},
        },
    ]


async def test_agent_on_simulator_restart_reapplies_nothing(hub: HubThread, tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'oci'}"
    digest = await push(build_artifact(manifests(), source="axle://t/llm", revision="1"), url, "1")
    token = await enroll(hub, "omega")
    state = tmp_path / "state"

    def new_agent(sim: SimCluster, token: str | None) -> SpokeAgent:
        return SpokeAgent(
            hub=hub.url,
            spoke="omega",
            cluster=sim,
            state_dir=state,
            bootstrap_token=token,
            resync_seconds=0.3,
            requeue_seconds=0.1,
            capacity_seconds=0.2,
            cluster_loop=sim.run,
        )

    sim = make_sim(state)
    agent = new_agent(sim, token)
    task = asyncio.create_task(agent.run())
    async with Client(hub.url, hub.token) as admin:
        try:
            await until(lambda: _joined(agent), "join")
            await admin.create(
                {
                    "apiVersion": "axle.dev/v1alpha1",
                    "kind": "Work",
                    "metadata": {"name": "llm", "namespace": "spoke-omega"},
                    "spec": {"artifact": {"url": url, "digest": digest}},
                }
            )

            async def available() -> Any:
                status = (await admin.get("works", "llm", "spoke-omega")).get("status") or {}
                conds = {c["type"]: c for c in status.get("conditions") or []}
                return status if conds.get("Available", {}).get("status") == "True" else None

            status = await until(available, "the Work available")
            rows = {r["kind"]: r for r in status["resourceStatus"]}
            assert rows["Service"]["message"].startswith("load balancer address 10.")
            spoke = await admin.get("spokes", "omega")
            assert spoke["status"]["capacity"]["gpus"] == {"NVIDIA-H100-80GB-HBM3": 16}
            assert spoke["status"]["capacity"]["nodes"] == 3
        finally:
            agent.stop()
            await asyncio.wait_for(task, 10)
            await sim.close()
        before = Counting.applies
        assert before == 3
        written = (await admin.get("works", "llm", "spoke-omega"))["metadata"]["resourceVersion"]

        # Restart: a new simulator from the state file, a new agent from the state dir.
        sim = make_sim(state)
        agent = new_agent(sim, None)
        task = asyncio.create_task(agent.run())
        try:
            await until(lambda: _joined(agent), "rejoin with the stored credential")
            beats = agent.heartbeats
            await until(lambda: _async(agent.heartbeats > beats + 2), "heartbeats")
        finally:
            agent.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)
            await sim.close()
        assert Counting.applies == before
        after = (await admin.get("works", "llm", "spoke-omega"))["metadata"]["resourceVersion"]
        assert after == written  # nothing to report either: the status did not change


async def _joined(agent: SpokeAgent) -> bool:
    return agent.joined.is_set()


async def _async(value: Any) -> Any:
    return value


def staged() -> list[Obj]:
    """db (a Deployment and a LoadBalancer Service), then api reading db's address."""
    db_labels = {"app": "db"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "llm"}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "db", "namespace": "llm", "labels": {"axle.dev/component": "db"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": db_labels},
                "template": {
                    "metadata": {"labels": db_labels},
                    "spec": {"containers": [{"name": "db", "image": "postgres"}]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "db", "namespace": "llm", "labels": {"axle.dev/component": "db"}},
            "spec": {"type": "LoadBalancer", "selector": db_labels, "ports": [{"port": 5432}]},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "api",
                "namespace": "llm",
                "labels": {"axle.dev/component": "api"},
            },
            "data": {"db": '{{ spoke ".def.db.address" }}:5432'},
        },
    ]


async def test_agent_killed_mid_rollout_resumes(hub: HubThread, tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'oci'}"
    digest = await push(build_artifact(staged(), source="axle://t/db", revision="1"), url, "1")
    token = await enroll(hub, "sigma")
    state = tmp_path / "state"
    nodes = [NodeSpec("w-1", 16, 65536)]

    def new_sim() -> Counting:
        # Pods and the load balancer take a moment: the agent is stopped while it waits.
        return Counting("sigma", nodes, state_path=state / "cluster.json", start_latency=2.0)

    def new_agent(sim: SimCluster, token: str | None) -> SpokeAgent:
        return SpokeAgent(
            hub=hub.url,
            spoke="sigma",
            cluster=sim,
            state_dir=state,
            bootstrap_token=token,
            resync_seconds=0.3,
            requeue_seconds=0.1,
            capacity_seconds=5,
            cluster_loop=sim.run,
        )

    async def status() -> Obj:
        async with Client(hub.url, hub.token) as admin:
            found = await admin.get("works", "staged", "spoke-sigma")
        return dict(found.get("status") or {})

    async def condition(type_: str, reason: str) -> Any:
        conds = {c["type"]: c for c in (await status()).get("conditions") or []}
        return conds.get(type_, {}).get("reason") == reason

    Counting.applies = 0
    sim = new_sim()
    agent = new_agent(sim, token)
    task = asyncio.create_task(agent.run())
    async with Client(hub.url, hub.token) as admin:
        try:
            await until(lambda: _joined(agent), "join")
            await admin.create(
                {
                    "apiVersion": "axle.dev/v1alpha1",
                    "kind": "Work",
                    "metadata": {"name": "staged", "namespace": "spoke-sigma"},
                    "spec": {
                        "artifact": {"url": url, "digest": digest},
                        "priorityGroups": [
                            {"priority": 1, "components": ["db"]},
                            {"priority": 2, "components": ["api"]},
                        ],
                        "outputs": {
                            "definitionOutputs": {
                                "db": {
                                    "address": {
                                        "apiVersion": "v1",
                                        "kind": "Service",
                                        "path": ".status.loadBalancer.ingress[0].ip",
                                    }
                                }
                            }
                        },
                    },
                }
            )
            await until(lambda: condition("Applied", "WaitingForGroup"), "waiting for db")
        finally:
            agent.stop()  # killed between the groups
            await asyncio.wait_for(task, 10)
            await sim.close()
    assert Counting.applies == 3  # Namespace, Deployment db, Service db
    assert await sim.get("v1", "ConfigMap", "llm", "api") is None

    sim = new_sim()
    agent = new_agent(sim, None)
    task = asyncio.create_task(agent.run())
    try:
        await until(lambda: condition("Available", "Available"), "the Work available")
    finally:
        agent.stop()
        await asyncio.wait_for(task, 10)
        await sim.close()
    assert Counting.applies == 4  # only the ConfigMap of the later group
    found = await status()
    address = found["outputs"]["def"]["db"]["address"]
    live = await sim.get("v1", "ConfigMap", "llm", "api")
    assert live is not None and live["data"] == {"db": f"{address}:5432"}
    assert found["endpoints"] == [
        {"component": "db", "kind": "Service", "name": "db", "url": f"http://{address}:5432"}
    ]
