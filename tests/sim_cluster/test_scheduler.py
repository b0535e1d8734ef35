"""The scheduler: where pods go, and kube-scheduler's exact words when they go nowhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from axle.sim.cluster import SimCluster
from tests.sim_cluster.conftest import container, control_plane, cpu_node, gpu_pod, pod

NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


async def scheduled(sim: SimCluster, name: str) -> dict[str, Any]:
    live = await sim.get("v1", "Pod", "default", name)
    assert live is not None
    return live


def condition(p: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in p["status"]["conditions"] if c["type"] == type_)


async def failed_scheduling(sim: SimCluster, p: dict[str, Any]) -> list[str]:
    return [e["message"] for e in await sim.events_for(p) if e["reason"] == "FailedScheduling"]


async def test_gpu_pod_goes_to_a_gpu_node_and_runs(sim: SimCluster) -> None:
    await sim.apply(gpu_pod("train", 4))
    p = await scheduled(sim, "train")
    assert p["spec"]["nodeName"] in ("gpu-01", "gpu-02")
    assert p["status"]["phase"] == "Running"
    assert condition(p, "PodScheduled")["status"] == "True"
    assert condition(p, "Ready")["status"] == "True"
    assert p["status"]["podIP"].startswith("10.244.")
    assert p["status"]["qosClass"] == "Burstable"
    reasons = [e["reason"] for e in await sim.events_for(p)]
    assert reasons[0] == "Scheduled" and "Started" in reasons


async def test_insufficient_gpus_everywhere_and_control_plane_taint(sim: SimCluster) -> None:
    p = await sim.apply(gpu_pod("huge", 9))
    assert "nodeName" not in p["spec"]
    assert p["status"]["phase"] == "Pending"
    want = (
        "0/4 nodes are available: 2 Insufficient nvidia.com/gpu, 2 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }. preemption: 0/4 nodes are available: "
        f"2 {NO_VICTIMS}, 2 {NOT_HELPFUL}."
    )
    cond = condition(p, "PodScheduled")
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", want)
    events = [e for e in await sim.events_for(p) if e["reason"] == "FailedScheduling"]
    assert len(events) == 1 and events[0]["message"] == want
    assert (
        events[0]["type"] == "Warning" and events[0]["source"]["component"] == "default-scheduler"
    )


async def test_all_nodes_insufficient(make_cluster: Callable[..., SimCluster]) -> None:
    sim = make_cluster([cpu_node(f"cpu-{i}") for i in range(4)])
    p = await sim.apply(gpu_pod("gpu", 1))
    assert await failed_scheduling(sim, p) == [
        "0/4 nodes are available: 4 Insufficient nvidia.com/gpu. "
        f"preemption: 0/4 nodes are available: 4 {NO_VICTIMS}."
    ]


async def test_gpu_accounting_across_pods(sim: SimCluster) -> None:
    for i in range(4):
        await sim.apply(gpu_pod(f"p{i}", 4))
    nodes = [(await scheduled(sim, f"p{i}"))["spec"]["nodeName"] for i in range(4)]
    assert sorted(nodes) == ["gpu-01", "gpu-01", "gpu-02", "gpu-02"]
    extra = await sim.apply(gpu_pod("extra", 1))
    assert (await failed_scheduling(sim, extra))[0].startswith(
        "0/4 nodes are available: 2 Insufficient nvidia.com/gpu, 2 node(s) had untolerated taint"
    )
    # Freeing one pod's GPUs lets the waiting pod in.
    assert await sim.delete("v1", "Pod", "default", "p0")
    assert (await scheduled(sim, "extra"))["status"]["phase"] == "Running"


async def test_finished_pods_free_their_gpus(sim: SimCluster) -> None:
    await sim.apply(gpu_pod("a", 8, restartPolicy="Never"))
    await sim.apply(gpu_pod("b", 8, restartPolicy="Never"))
    assert (await scheduled(sim, "a"))["status"]["phase"] == "Succeeded"
    await sim.apply(gpu_pod("c", 8))
    assert (await scheduled(sim, "c"))["status"]["phase"] == "Running"


async def test_cpu_and_memory_and_init_containers(make_cluster: Callable[..., SimCluster]) -> None:
    sim = make_cluster([cpu_node("small", cores=4)])
    big_init = pod(
        "init",
        container(requests={"cpu": "1"}),
        initContainers=[container("setup", requests={"cpu": "5", "memory": "1Gi"})],
    )
    p = await sim.apply(big_init)
    assert await failed_scheduling(sim, p) == [
        "0/1 nodes are available: 1 Insufficient cpu. "
        f"preemption: 0/1 nodes are available: 1 {NO_VICTIMS}."
    ]
    p = await sim.apply(pod("both", container(requests={"cpu": "4500m", "memory": "200Gi"})))
    assert await failed_scheduling(sim, p) == [
        "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. "
        f"preemption: 0/1 nodes are available: 1 {NO_VICTIMS}."
    ]
    await sim.apply(pod("fits", container(limits={"cpu": "3", "memory": "64Gi"})))
    fits = await scheduled(sim, "fits")
    assert fits["spec"]["nodeName"] == "small" and fits["status"]["qosClass"] == "Guaranteed"
    p = await sim.apply(pod("second", container(limits={"cpu": "2"})))  # request = limit
    assert "Insufficient cpu" in (await failed_scheduling(sim, p))[0]


async def test_node_selector_and_affinity(make_cluster: Callable[..., SimCluster]) -> None:
    sim = make_cluster(
        [
            cpu_node("a", labels={"zone": "east", "rank": "3"}),
            cpu_node("b", labels={"zone": "west", "rank": "7"}),
        ]
    )
    await sim.apply(pod("sel", nodeSelector={"zone": "west"}))
    assert (await scheduled(sim, "sel"))["spec"]["nodeName"] == "b"

    def affinity(*exprs: dict[str, Any]) -> dict[str, Any]:
        return {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": list(exprs)}]
                }
            }
        }

    cases = {
        "in": ({"key": "zone", "operator": "In", "values": ["east"]}, "a"),
        "notin": ({"key": "zone", "operator": "NotIn", "values": ["east"]}, "b"),
        "gt": ({"key": "rank", "operator": "Gt", "values": ["5"]}, "b"),
        "lt": ({"key": "rank", "operator": "Lt", "values": ["5"]}, "a"),
        "exists": ({"key": "rank", "operator": "Exists"}, None),
    }
    for name, (expr, node) in cases.items():
        await sim.apply(pod(name, affinity=affinity(expr)))
        got = (await scheduled(sim, name))["spec"]["nodeName"]
        assert got == node if node else got in ("a", "b"), name
    p = await sim.apply(pod("nowhere", affinity=affinity({"key": "gpu", "operator": "Exists"})))
    assert await failed_scheduling(sim, p) == [
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. "
        f"preemption: 0/2 nodes are available: 2 {NOT_HELPFUL}."
    ]
    p = await sim.apply(pod("none", affinity=affinity({"key": "zone", "operator": "DoesNotExist"})))
    assert "didn't match Pod's node affinity/selector" in (await failed_scheduling(sim, p))[0]


async def test_tolerations(make_cluster: Callable[..., SimCluster]) -> None:
    tainted = cpu_node("t")
    sim = make_cluster(
        [
            control_plane("cp"),
            type(tainted)(
                "t", 8, 8192, taints=({"key": "dedicated", "value": "ml", "effect": "NoExecute"},)
            ),
        ]
    )
    p = await sim.apply(pod("plain"))
    assert await failed_scheduling(sim, p) == [
        "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: ml}, "
        "1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. "
        f"preemption: 0/2 nodes are available: 2 {NOT_HELPFUL}."
    ]
    equal = [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"}]
    await sim.apply(pod("equal", tolerations=equal))
    assert (await scheduled(sim, "equal"))["spec"]["nodeName"] == "t"
    wrong = [{"key": "dedicated", "operator": "Equal", "value": "web"}]
    p = await sim.apply(pod("wrong", tolerations=wrong))
    assert "untolerated taint {dedicated: ml}" in (await failed_scheduling(sim, p))[0]
    cp = [
        {
            "key": "node-role.kubernetes.io/control-plane",
            "operator": "Exists",
            "effect": "NoSchedule",
        }
    ]
    await sim.apply(pod("cp", tolerations=cp, nodeSelector={"kubernetes.io/hostname": "cp"}))
    assert (await scheduled(sim, "cp"))["spec"]["nodeName"] == "cp"
    await sim.apply(pod("all", tolerations=[{"operator": "Exists"}]))
    assert (await scheduled(sim, "all"))["spec"]["nodeName"] in ("cp", "t")


async def test_too_many_pods(make_cluster: Callable[..., SimCluster]) -> None:
    sim = make_cluster([cpu_node("one")])
    for i in range(110):
        await sim.apply(pod(f"p{i}"))
    p = await sim.apply(pod("p110"))
    assert await failed_scheduling(sim, p) == [
        "0/1 nodes are available: 1 Too many pods. "
        f"preemption: 0/1 nodes are available: 1 {NO_VICTIMS}."
    ]


async def test_unbound_and_missing_claims(sim: SimCluster) -> None:
    volume = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    p = await sim.apply(pod("missing", volumes=volume))
    assert await failed_scheduling(sim, p) == [
        '0/4 nodes are available: persistentvolumeclaim "data" not found. '
        f"preemption: 0/4 nodes are available: 4 {NOT_HELPFUL}."
    ]
    await sim.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "default"},
            "spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}},
        }
    )
    p = await scheduled(sim, "missing")
    assert condition(p, "PodScheduled")["message"] == (
        "0/4 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
        f"preemption: 0/4 nodes are available: 4 {NOT_HELPFUL}."
    )
    assert len(await failed_scheduling(sim, p)) == 2


async def test_spreads_replicas_over_free_nodes(make_cluster: Callable[..., SimCluster]) -> None:
    sim = make_cluster([cpu_node("a"), cpu_node("b")])
    for i in range(4):
        await sim.apply(pod(f"p{i}"))
    nodes = [(await scheduled(sim, f"p{i}"))["spec"]["nodeName"] for i in range(4)]
    assert nodes == ["a", "b", "a", "b"]


async def test_a_pod_left_pending_is_scheduled_when_room_is_freed(sim: SimCluster) -> None:
    # Incremental passes look only at what changed, and at the pods left pending before.
    await sim.apply(gpu_pod("a", 8))
    await sim.apply(gpu_pod("b", 8))  # both GPU nodes full
    await sim.apply(gpu_pod("c", 8))
    waiting = await scheduled(sim, "c")
    assert waiting["status"]["phase"] == "Pending"
    assert not waiting["spec"].get("nodeName")
    await sim.apply(pod("unrelated"))  # a pod change that frees nothing: c keeps waiting
    assert not (await scheduled(sim, "c"))["spec"].get("nodeName")
    assert await sim.delete("v1", "Pod", "default", "a")
    freed = await scheduled(sim, "c")
    assert freed["spec"]["nodeName"] and freed["status"]["phase"] == "Running"
    assert condition(freed, "PodScheduled")["status"] == "True"
