"""The pure rules of delivery: GPU requests, rollout plans, names, and status words."""

from __future__ import annotations

from typing import Any

from axle.controllers.deliverystatus import gpu_requests, hhmm, on_pool, roll_up, spoke_state
from axle.controllers.deliverywork import (
    deployment_key_of,
    max_concurrency,
    plan_rollout,
    work_name,
)

DIGEST = "sha256:" + "a" * 64
OLD = "sha256:" + "b" * 64


def pod(limits: dict[str, Any], selector: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "resources": {"limits": limits}}]}
    if selector:
        spec["nodeSelector"] = selector
    return spec


def test_gpu_requests_sum_limits_times_replicas_by_product() -> None:
    product = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    manifests = [
        {
            "kind": "Deployment",
            "spec": {"replicas": 3, "template": {"spec": pod({"nvidia.com/gpu": 2}, product)}},
        },
        {"kind": "StatefulSet", "spec": {"template": {"spec": pod({"nvidia.com/gpu": "1"})}}},
        {
            "kind": "Job",
            "spec": {"parallelism": 2, "template": {"spec": pod({"nvidia.com/gpu": 1}, product)}},
        },
        {
            "kind": "Deployment",
            "spec": {"replicas": 0, "template": {"spec": pod({"nvidia.com/gpu": 4})}},
        },
        {"kind": "Service", "spec": {}},
        {"kind": "Deployment", "spec": {"template": {"spec": pod({"cpu": "1"})}}},
    ]
    assert gpu_requests(manifests) == {"NVIDIA-H100-80GB-HBM3": 8, "": 1}
    assert gpu_requests([]) == {}


def test_scheduler_messages_name_the_pool() -> None:
    msg = "0/1 pods scheduled: Insufficient nvidia.com/gpu (needs 2, 0 free)"
    assert on_pool(msg, "gpu-a") == (
        "0/1 pods scheduled: Insufficient nvidia.com/gpu on pool gpu-a (needs 2, 0 free)"
    )
    assert on_pool("0/1 pods scheduled: node(s) had untolerated taint", "p") == (
        "0/1 pods scheduled: node(s) had untolerated taint on pool p"
    )
    assert on_pool("CrashLoopBackOff", "gpu-a") == "CrashLoopBackOff"
    assert on_pool(on_pool(msg, "gpu-a"), "gpu-a") == on_pool(msg, "gpu-a")
    assert hhmm("2026-11-27T10:42:05Z") == "10:42"


def test_progressive_plans() -> None:
    spokes = ["a", "b", "c", "d"]
    progressive = {"type": "Progressive", "progressive": {"maxConcurrency": 2}}
    first = plan_rollout(progressive, spokes, on_new=set(), available=set(), failed=set())
    assert first.write == ["a", "b"] and first.waiting == ["c", "d"]
    busy = plan_rollout(progressive, spokes, on_new={"a", "b"}, available={"a"}, failed=set())
    assert busy.write == ["a", "b", "c"] and busy.waiting == ["d"]
    stopped = plan_rollout(progressive, spokes, on_new={"a", "b"}, available={"a"}, failed={"b"})
    assert stopped.stopped == "b" and stopped.write == ["a", "b"]
    assert plan_rollout(None, spokes, on_new=set(), available=set(), failed=set()).write == spokes
    assert max_concurrency({"progressive": {"maxConcurrency": "50%"}}, 4) == 2
    assert max_concurrency({"progressive": {}}, 4) == 1
    assert max_concurrency({"progressive": {"maxConcurrency": "many"}}, 4) == 1


def test_long_names_are_shortened_and_map_back() -> None:
    name = work_name("team-a", "x" * 260)
    assert len(name) <= 253 and name.startswith("team-a.xxx")
    work = {
        "metadata": {"labels": {"axle.dev/workloaddeployment": "cut"}},
        "spec": {"workloadDeploymentRef": {"name": "x" * 260, "namespace": "team-a"}},
    }
    assert deployment_key_of(work) == f"team-a/{'x' * 260}"


def work(digest: str = DIGEST, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "w", "namespace": "spoke-a", "generation": 2},
        "spec": {"artifact": {"url": "file:///x", "digest": digest}},
        "status": status,
    }


def spoke(available: str = "True") -> dict[str, Any]:
    return {
        "metadata": {"name": "a"},
        "status": {
            "lastHeartbeatTime": "2026-11-27T10:42:05Z",
            "conditions": [{"type": "Available", "status": available, "reason": "LeaseExpired"}],
        },
    }


def test_spoke_states() -> None:
    assert spoke_state("a", None, spoke(), DIGEST, 3, "p").message == (
        "waiting to roll out revision 3 to spoke a"
    )
    stale = work(
        appliedDigest=OLD,
        conditions=[
            {"type": "Applied", "status": "False", "observedGeneration": 1, "message": "old"}
        ],
    )
    assert spoke_state("a", stale, spoke(), DIGEST, 3, "p").phase == "Applying"
    refused = work(
        conditions=[
            {
                "type": "Applied",
                "status": "False",
                "observedGeneration": 2,
                "message": "artifact pull failed: registry r returned 401",
            }
        ]
    )
    state = spoke_state("a", refused, spoke(), DIGEST, 3, "p")
    assert state.failed and state.message == "artifact pull failed: registry r returned 401"
    assert spoke_state("a", work(), spoke("Unknown"), DIGEST, 3, "p").message == (
        "spoke a unreachable since 10:42"
    )
    degraded = work(
        appliedDigest=DIGEST,
        resourceStatus=[
            {
                "kind": "Deployment",
                "name": "v",
                "component": "vllm",
                "health": "Degraded",
                "message": "CrashLoopBackOff",
            }
        ],
    )
    assert spoke_state("a", degraded, spoke(), DIGEST, 3, "p").message == (
        "component vllm: CrashLoopBackOff"
    )


def test_roll_up_picks_the_one_blocking_cause() -> None:
    pending = work(
        appliedDigest=DIGEST,
        resourceStatus=[
            {
                "kind": "Deployment",
                "name": "v",
                "component": "vllm",
                "health": "Progressing",
                "ready": 0,
                "desired": 1,
                "message": "0/1 pods scheduled: Insufficient nvidia.com/gpu (needs 2, 0 free)",
            }
        ],
        conditions=[{"type": "Available", "status": "False"}],
    )
    running = work(
        appliedDigest=DIGEST,
        resourceStatus=[
            {
                "kind": "Deployment",
                "name": "v",
                "component": "vllm",
                "health": "Healthy",
                "ready": 1,
                "desired": 1,
            }
        ],
        conditions=[{"type": "Available", "status": "True"}],
        endpoints=[
            {"component": "vllm", "kind": "Service", "name": "v", "url": "http://1.2.3.4:8000"}
        ],
    )
    up = roll_up(
        ["a", "b"],
        {"a": running, "b": pending},
        {"a": spoke(), "b": spoke()},
        digest=DIGEST,
        revision=1,
        components=["vllm", "webui"],
        pools={"a": "gpu-a", "b": "gpu-a"},
    )
    assert up.phase == "Deploying"
    assert up.message == (
        "component vllm: 0/1 pods scheduled: Insufficient nvidia.com/gpu on pool gpu-a "
        "(needs 2, 0 free)"
    )
    vllm = up.components[0]
    assert (vllm["ready"], vllm["desired"], vllm["health"]) == (1, 2, "Progressing")
    assert up.components[1] == {"name": "webui", "ready": 0, "desired": 0}
    assert up.endpoints == [{"component": "vllm", "spoke": "a", "url": "http://1.2.3.4:8000"}]
    done = roll_up(
        ["a"],
        {"a": running},
        {"a": spoke()},
        digest=DIGEST,
        revision=1,
        components=["vllm"],
        pools={},
    )
    assert done.phase == "Running" and done.message is None
