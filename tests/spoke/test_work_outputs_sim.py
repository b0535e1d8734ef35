"""Outputs, spoke macros, endpoints, ready counts and resuming, against the cluster simulator.

The WorkProcessor the agent runs, driving `SimCluster` in process on a manual clock: a group's
outputs (a load-balancer address, a name) resolve the `{{ spoke }}` macros of later groups; an
output not there yet keeps the later group waiting and unapplied; a changed output re-applies
the later group; endpoints and ready counts are reported; a pass killed between groups
resumes on a new simulator and processor from the same state without applying anything twice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from axle.sim.cluster import SimCluster
from axle.sim.cluster.network import lb_pool_for
from axle.spoke.work import WorkProcessor
from tests.spoke.test_work_sim import (
    NAMESPACE,
    ManualClock,
    Recording,
    cond,
    deployment,
    nodes,
    publish,
    work,
)

Obj = dict[str, Any]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sim(tmp_path: Path, clock: ManualClock) -> Recording:
    cluster = Recording(
        "sim-a", nodes(), state_path=tmp_path / "cluster.json", start_latency=5.0, clock=clock
    )
    cluster.applied = []
    return cluster


GROUPS = [{"priority": 1, "components": ["db"]}, {"priority": 2, "components": ["api"]}]
OUTPUTS = {
    "definitionOutputs": {
        "db": {
            "address": {
                "apiVersion": "v1",
                "kind": "Service",
                "path": ".status.loadBalancer.ingress[0].ip",
            },
            "service": {"apiVersion": "v1", "kind": "Service", "path": ".metadata.name"},
            "flavour": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "path": ".data.flavour",
                "labels": {"role": "settings"},
            },
        }
    },
    "objectOutputs": {
        "system": {
            "apiVersion": "v1",
            "kind": "Namespace",
            "name": "kube-system",
            "path": ".metadata.name",
        }
    },
}


def lb_service(name: str, component: str, port: int = 5432) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "ml", "labels": {"axle.dev/component": component}},
        "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": [{"port": port}]},
    }


def db_settings(**data: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "db-settings",
            "namespace": "ml",
            "labels": {"axle.dev/component": "db", "role": "settings"},
        },
        "data": data,
    }


def api_config() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "api", "namespace": "ml", "labels": {"axle.dev/component": "api"}},
        "data": {
            "url": 'postgres://{{ spoke ".def.db.address" }}:5432/{{ spoke ".def.db.service" }}',
            "flavour": '{{ spoke ".def.db.flavour" }}',
            "system": '{{ spoke ".obj.system" }}',
            "literal": '{{"{{"}} not a macro }}',
        },
    }


def ingress() -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "ml", "labels": {"axle.dev/component": "api"}},
        "spec": {
            "tls": [{"hosts": ["secure.example"]}],
            "rules": [
                {
                    "host": "secure.example",
                    "http": {"paths": [{"path": "/v1", "pathType": "Prefix"}]},
                },
                {"host": "plain.example"},
            ],
        },
    }


def stack(**settings: str) -> list[Obj]:
    return [
        NAMESPACE,
        deployment("db", "db"),
        lb_service("db", "db"),
        db_settings(**settings),
        deployment("api", "api"),
        api_config(),
        ingress(),
    ]


def make_processor(sim: SimCluster, state: Path, **kw: Any) -> WorkProcessor:
    async def sleep(seconds: float) -> None:
        await sim.advance(seconds)

    kw.setdefault("sleep", sleep)
    return WorkProcessor(sim, state, group_wait=30.0, poll_interval=1.0, clock=sim.clock, **kw)


def the_work(url: str, digest: str, generation: int = 1) -> Obj:
    return work(url, digest, generation, priorityGroups=GROUPS, outputs=OUTPUTS)


async def test_outputs_resolve_later_groups(sim: Recording, tmp_path: Path) -> None:
    url, digest = await publish(tmp_path, stack(flavour="postgres"), "r1")
    result = await make_processor(sim, tmp_path / "state").sync(the_work(url, digest))
    assert cond(result.status, "Applied")["status"] == "True", result.status
    live = await sim.get("v1", "ConfigMap", "ml", "api")
    assert live is not None
    prefix = lb_pool_for("sim-a").removesuffix("0/24")
    address = result.status["outputs"]["def"]["db"]["address"]
    assert address.startswith(prefix)
    assert live["data"] == {
        "url": f"postgres://{address}:5432/db",
        "flavour": "postgres",
        "system": "kube-system",
        "literal": "{{ not a macro }}",
    }
    assert result.status["outputs"] == {
        "def": {"db": {"address": address, "service": "db", "flavour": "postgres"}},
        "obj": {"system": "kube-system"},
    }
    # The LB address came after the start latency: db was healthy before api was applied.
    assert sim.applied.index("Service/db") < sim.applied.index("ConfigMap/api")
    endpoints = result.status["endpoints"]
    assert endpoints[0] == {
        "component": "db",
        "kind": "Service",
        "name": "db",
        "url": f"http://{address}:5432",
    }
    assert [e["url"] for e in endpoints[1:]] == [
        "https://secure.example/v1",
        "http://plain.example/",
    ]
    rows = {(r["kind"], r["name"]): r for r in result.status["resourceStatus"]}
    assert (rows[("Deployment", "db")]["ready"], rows[("Deployment", "db")]["desired"]) == (1, 1)
    assert "ready" not in rows[("Service", "db")]


async def test_missing_output_keeps_the_later_group_waiting(sim: Recording, tmp_path: Path) -> None:
    url, digest = await publish(tmp_path, stack(), "r1")  # db-settings has no `flavour` yet
    proc = make_processor(sim, tmp_path / "state")
    result = await proc.sync(the_work(url, digest))
    applied = cond(result.status, "Applied")
    assert (applied["status"], applied["reason"]) == ("False", "WaitingForOutput")
    assert "waiting for output db.flavour" in applied["message"]
    assert "ConfigMap/api" not in sim.applied and "Deployment/api" not in sim.applied
    assert cond(result.status, "Available")["status"] == "Unknown"
    assert "flavour" not in result.status["outputs"]["def"]["db"]
    assert not result.settled
    # Someone (a db operator) fills the field in: the next pass applies the later group.
    await sim.apply(db_settings(flavour="pg16"), field_manager="operator")
    result = await proc.sync({**the_work(url, digest), "status": result.status})
    assert cond(result.status, "Applied")["status"] == "True"
    live = await sim.get("v1", "ConfigMap", "ml", "api")
    assert live is not None and live["data"]["flavour"] == "pg16"
    # The output changes: the later group is re-resolved and re-applied.
    await sim.apply(db_settings(flavour="pg17"), field_manager="operator")
    sim.applied.clear()
    result = await proc.sync({**the_work(url, digest), "status": result.status})
    assert sim.applied == ["ConfigMap/api"]
    live = await sim.get("v1", "ConfigMap", "ml", "api")
    assert live is not None and live["data"]["flavour"] == "pg17"
    assert result.status["outputs"]["def"]["db"]["flavour"] == "pg17"


async def test_undeclared_output_is_an_error_not_a_wait(sim: Recording, tmp_path: Path) -> None:
    config = api_config()
    config["data"] = {"x": '{{ spoke ".def.db.nothing" }}'}
    url, digest = await publish(tmp_path, [NAMESPACE, deployment("db", "db"), config], "r1")
    result = await make_processor(sim, tmp_path / "state").sync(the_work(url, digest))
    applied = cond(result.status, "Applied")
    assert applied["reason"] == "ApplyFailed"
    assert "ConfigMap ml/api" in applied["message"]
    assert "names output db.nothing, which the Work does not declare" in applied["message"]
    assert "data.x" in applied["message"]
    assert "ConfigMap/api" not in sim.applied


async def test_unschedulable_pods_say_why_with_numbers(sim: Recording, tmp_path: Path) -> None:
    url, digest = await publish(
        tmp_path,
        [NAMESPACE, deployment("small", "small", gpus=3), deployment("big", "big", gpus=6)],
        "r1",
    )
    groups = [{"priority": 1, "components": ["small"]}, {"priority": 2, "components": ["big"]}]
    result = await make_processor(sim, tmp_path / "state").sync(
        work(url, digest, priorityGroups=groups)
    )
    rows = {r["name"]: r for r in result.status["resourceStatus"] if r["kind"] == "Deployment"}
    assert rows["small"]["health"] == "Healthy"
    big = rows["big"]
    assert big["message"] == "0/1 pods scheduled: Insufficient nvidia.com/gpu (needs 6, 5 free)"
    assert (big["ready"], big["desired"]) == (0, 1)
    available = cond(result.status, "Available")
    assert available["message"] == f"Deployment ml/big: {big['message']}"


async def test_killed_between_groups_resumes_without_reapplying(
    sim: Recording, tmp_path: Path, clock: ManualClock
) -> None:
    state = tmp_path / "state"
    url, digest = await publish(tmp_path, stack(flavour="pg"), "r1")
    waiting = asyncio.Event()

    async def hang(_: float) -> None:  # the agent is killed while it waits for group 1
        waiting.set()
        await asyncio.Event().wait()

    first = asyncio.create_task(make_processor(sim, state, sleep=hang).sync(the_work(url, digest)))
    await asyncio.wait_for(waiting.wait(), 5)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert sim.applied == ["Namespace/ml", "Deployment/db", "Service/db", "ConfigMap/db-settings"]
    await sim.close()

    # A new agent process: a new simulator on the same state file, a new processor.
    resumed = Recording("sim-a", None, state_path=tmp_path / "cluster.json", clock=clock)
    resumed.applied = []
    result = await make_processor(resumed, state).sync(the_work(url, digest))
    assert cond(result.status, "Applied")["status"] == "True", result.status
    assert resumed.applied == ["Deployment/api", "ConfigMap/api", "Ingress/web"]
    address = result.status["outputs"]["def"]["db"]["address"]
    live = await resumed.get("v1", "ConfigMap", "ml", "api")
    assert live is not None and address in live["data"]["url"]
