"""Fixtures for the cluster simulator tests: a small GPU cluster on a manual clock.

`gpu_cluster()` is the shape the issue's examples use: two control-plane nodes (tainted, as
kubeadm leaves them) and two 8x H100 workers; `cpu_cluster()` adds plain CPU workers. Every
test drives time through the `ManualClock` and `SimCluster.advance`, never by sleeping.

Every test also checks the incremental reconcile (what an apply or delete runs: only the
objects it touched, and their owners) against the full one: after each incremental
reconcile a full pass must find nothing left to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from axle.sim.cluster import GpuSpec, NodeSpec, SimCluster
from axle.sim.cluster.controllers import Controllers
from axle.sim.palette.clock import ManualClock

CP_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
H100 = GpuSpec(model="H100", count=8, memory_mib=81559)


def control_plane(name: str) -> NodeSpec:
    return NodeSpec(name, 16, 65536, control_plane=True, taints=(CP_TAINT,), address="10.0.0.1")


def gpu_node(name: str, gpus: GpuSpec = H100) -> NodeSpec:
    return NodeSpec(name, 96, 2 * 1024 * 1024, gpus=(gpus,), address="10.0.1.1")


def cpu_node(name: str, cores: int = 32, labels: dict[str, str] | None = None) -> NodeSpec:
    return NodeSpec(name, cores, 131072, labels=labels or {}, address="10.0.2.1")


GPU_NODES = [control_plane("cp-01"), control_plane("cp-02"), gpu_node("gpu-01"), gpu_node("gpu-02")]


@pytest.fixture(autouse=True)
def incremental_matches_full(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    original = Controllers.reconcile
    checked = 0

    def reconcile(self: Controllers, full: bool = True) -> None:
        nonlocal checked
        original(self, full)
        if full:
            return
        store, due = self.ctx.store, self.ctx.next_due
        before = store.revision
        original(self, True)
        assert store.revision == before, "a full pass changed what an incremental one settled"
        self.ctx.next_due = due  # the incremental pass's timers stay what is under test
        checked += 1

    monkeypatch.setattr(Controllers, "reconcile", reconcile)
    yield


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_cluster(clock: ManualClock, tmp_path: Path) -> Callable[..., SimCluster]:
    def make(nodes: list[NodeSpec] | None = None, **kw: Any) -> SimCluster:
        kw.setdefault("clock", clock)
        return SimCluster("test", GPU_NODES if nodes is None else nodes, **kw)

    return make


@pytest.fixture
def sim(make_cluster: Callable[..., SimCluster]) -> SimCluster:
    return make_cluster()


def container(
    name: str = "main", image: str = "nginx:1.27", **resources: dict[str, Any]
) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": image}
    if resources:
        c["resources"] = resources
    return c


def pod(
    name: str, *containers: dict[str, Any], namespace: str = "default", **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": list(containers) or [container()], **spec},
    }


def gpu_pod(name: str, gpus: int, **spec: Any) -> dict[str, Any]:
    return pod(name, container(limits={"nvidia.com/gpu": gpus}), **spec)


def deployment(
    name: str,
    replicas: int = 2,
    image: str = "nginx:1.27",
    namespace: str = "default",
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    template: dict[str, Any] = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [container(image=image)]},
    }
    if annotations:
        template["metadata"]["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": template,
            **spec,
        },
    }


def job(name: str, annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "template": {
                "metadata": meta,
                "spec": {"restartPolicy": "Never", "containers": [container(image="busybox")]},
            },
            **spec,
        },
    }
