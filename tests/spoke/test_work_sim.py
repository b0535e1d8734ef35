"""Work processing against the cluster simulator, artifacts in a temp OCI layout.

The same WorkProcessor the agent runs, driving `axle.sim.cluster.SimCluster` in process (the
tests may import the simulator; `axle.spoke` may not): priority order with real health waits
(pods start after a latency on a manual clock), prune on a new revision, drift, a digest
that does not verify, the scheduler's message for a GPU request no node fits, deletion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from axle.oci import build_artifact, push
from axle.sim.cluster import GpuSpec, NodeSpec, SimCluster
from axle.spoke.work import WorkProcessor

Obj = dict[str, Any]
NS = "spoke-sim"


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recording(SimCluster):
    """The simulator, remembering the order of applies."""

    applied: list[str]

    async def apply(self, obj: Obj, *, field_manager: str = "axle", force: bool = True) -> Obj:
        self.applied.append(f"{obj['kind']}/{obj['metadata']['name']}")
        return await super().apply(obj, field_manager=field_manager, force=force)


def nodes(gpus: int = 8) -> list[NodeSpec]:
    return [
        NodeSpec("cp-1", 8, 16384, control_plane=True),
        NodeSpec("gpu-1", 64, 262144, gpus=(GpuSpec("H100", gpus, 81920),)),
    ]


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


def processor(sim: SimCluster, tmp_path: Path) -> WorkProcessor:
    async def sleep(seconds: float) -> None:
        await sim.advance(seconds)

    return WorkProcessor(
        sim,
        tmp_path / "state",
        group_wait=30.0,
        poll_interval=1.0,
        sleep=sleep,
        clock=sim.clock,
    )


def deployment(name: str, component: str, gpus: int = 0) -> Obj:
    resources = {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ml", "labels": {"axle.dev/component": component}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": "main", "image": "busybox", "resources": resources}]
                },
            },
        },
    }


NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml"}}


def configmap(name: str, **data: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "ml"},
        "data": data,
    }


async def publish(tmp_path: Path, manifests: list[Obj], tag: str) -> tuple[str, str]:
    url = f"file://{tmp_path / 'oci'}"
    artifact = build_artifact(manifests, source="axle://team/llm", revision=tag)
    return url, await push(artifact, url, tag)


def work(url: str, digest: str, generation: int = 1, **spec: Any) -> Obj:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Work",
        "metadata": {"name": "llm", "namespace": NS, "generation": generation},
        "spec": {"artifact": {"url": url, "digest": digest}, **spec},
    }


def cond(status: Obj, type_: str) -> Obj:
    return next(c for c in status["conditions"] if c["type"] == type_)


GROUPS = [{"priority": 1, "components": ["db"]}, {"priority": 2, "components": ["api"]}]


async def test_priority_groups_wait_for_health(sim: Recording, tmp_path: Path) -> None:
    url, digest = await publish(
        tmp_path,
        [deployment("api", "api"), configmap("cfg", a="1"), deployment("db", "db"), NAMESPACE],
        "r1",
    )
    result = await processor(sim, tmp_path).sync(work(url, digest, priorityGroups=GROUPS))
    assert sim.applied == ["Namespace/ml", "Deployment/db", "Deployment/api", "ConfigMap/cfg"]
    # db became available (after the start latency) before api was applied.
    assert sim.clock() - 1_700_000_000.0 >= 5.0
    assert result.status["appliedDigest"] == digest
    assert cond(result.status, "Applied")["status"] == "True"
    health = {r["name"]: r["health"] for r in result.status["resourceStatus"]}
    assert health["db"] == "Healthy"


async def test_unschedulable_gpu_request_is_reported(sim: Recording, tmp_path: Path) -> None:
    url, digest = await publish(
        tmp_path, [NAMESPACE, deployment("trainer", "train", gpus=16)], "r1"
    )
    result = await processor(sim, tmp_path).sync(work(url, digest))
    available = cond(result.status, "Available")
    assert available["status"] == "False"
    assert "Deployment ml/trainer" in available["message"]
    assert "Insufficient nvidia.com/gpu" in available["message"]
    assert not result.settled


async def test_new_revision_prunes_and_drift_is_reapplied(sim: Recording, tmp_path: Path) -> None:
    proc = processor(sim, tmp_path)
    url, one = await publish(tmp_path, [NAMESPACE, configmap("a", k="1"), configmap("b")], "r1")
    first = await proc.sync(work(url, one))
    assert await sim.get("v1", "ConfigMap", "ml", "b") is not None
    _, two = await publish(tmp_path, [NAMESPACE, configmap("a", k="2")], "r2")
    second = await proc.sync({**work(url, two, generation=2), "status": first.status})
    assert second.pruned == 1
    assert await sim.get("v1", "ConfigMap", "ml", "b") is None
    live = await sim.get("v1", "ConfigMap", "ml", "a")
    assert live is not None and live["data"] == {"k": "2"}
    assert live["metadata"]["labels"]["axle.dev/work"] == f"{NS}.llm"
    # Someone edits the object with another field manager: the agent takes it back.
    edited = {**configmap("a", k="edited")}
    await sim.apply(edited, field_manager="kubectl", force=True)
    sim.applied.clear()
    third = await proc.sync({**work(url, two, generation=2), "status": second.status})
    assert third.applied == 1 and sim.applied == ["ConfigMap/a"]
    live = await sim.get("v1", "ConfigMap", "ml", "a")
    assert live is not None and live["data"]["k"] == "2"
    # Nothing changed: nothing is applied.
    sim.applied.clear()
    await proc.sync({**work(url, two, generation=2), "status": third.status})
    assert sim.applied == []


async def test_digest_that_does_not_verify(sim: Recording, tmp_path: Path) -> None:
    url, digest = await publish(tmp_path, [NAMESPACE, configmap("a")], "r1")
    # Someone tampers with the stored manifest: it no longer hashes to the pinned digest.
    blob = tmp_path / "oci" / "blobs" / "sha256" / digest.split(":", 1)[1]
    blob.write_bytes(blob.read_bytes().replace(b"}", b" }", 1))
    result = await processor(sim, tmp_path).sync(work(url, digest))
    applied = cond(result.status, "Applied")
    assert (applied["status"], applied["reason"]) == ("False", "ArtifactPullFailed")
    assert digest in applied["message"]
    assert sim.applied == []
    # A digest the store does not hold at all is reported the same way.
    missing = "sha256:" + "ab" * 32
    result = await processor(sim, tmp_path).sync(work(url, missing))
    assert cond(result.status, "Applied")["reason"] == "ArtifactPullFailed"


async def test_deletion_removes_the_objects(sim: Recording, tmp_path: Path) -> None:
    proc = processor(sim, tmp_path)
    url, digest = await publish(tmp_path, [NAMESPACE, deployment("api", "api")], "r1")
    await proc.sync(work(url, digest))
    assert await sim.list_objects("v1", "Pod", "ml")
    await proc.remove(NS, "llm")
    assert await sim.get("apps/v1", "Deployment", "ml", "api") is None
    assert await sim.get("v1", "Namespace", None, "ml") is None
