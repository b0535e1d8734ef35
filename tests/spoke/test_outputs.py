"""Pure parts of outputs, endpoints and scheduler messages, table-driven."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from axle.spoke import health as h
from axle.spoke.outputs import PathError, endpoints_of, matches_ref, read_path
from axle.spoke.scheduling import (
    format_amount,
    largest_free,
    pending_message,
    pod_request,
    scheduler_reason,
)

Obj = dict[str, Any]
SVC: Obj = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "name": "vllm",
        "labels": {"axle.dev/component": "vllm", "app.kubernetes.io/name": "x"},
    },
    "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.12", "ports": [{"port": 8000}]},
    "status": {"loadBalancer": {"ingress": [{"ip": "10.200.3.1"}]}},
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (".status.loadBalancer.ingress[0].ip", "10.200.3.1"),
        (".metadata.name", "vllm"),
        (".spec.clusterIP", "10.96.0.12"),
        (".spec.ports[0].port", 8000),
        (".spec.ports[-1].port", 8000),
        (".spec.ports[3].port", None),
        (".metadata.labels['app.kubernetes.io/name']", "x"),
        (".metadata.labels.app\\.kubernetes\\.io/name", "x"),
        (".status.loadBalancer.ingress[0].hostname", None),
        (".spec.nothing.deeper", None),
        (".spec.type.deeper", None),
    ],
)
def test_read_path(path: str, value: Any) -> None:
    assert read_path(SVC, path) == value


def test_empty_values_are_not_available_and_bad_paths_say_so() -> None:
    assert read_path({"a": ""}, ".a") is None
    with pytest.raises(PathError, match="position 0"):
        read_path(SVC, "metadata.name")
    with pytest.raises(PathError):
        read_path(SVC, ".spec[x")


def test_definition_output_matching() -> None:
    ref = {"apiVersion": "v1", "kind": "Service", "path": ".metadata.name"}
    assert matches_ref(SVC, "vllm", ref)
    assert not matches_ref(SVC, "webui", ref)
    assert not matches_ref(SVC, "vllm", {**ref, "kind": "ConfigMap"})
    assert matches_ref(SVC, "vllm", {**ref, "labels": {"app.kubernetes.io/name": "x"}})
    assert not matches_ref(SVC, "vllm", {**ref, "labels": {"app.kubernetes.io/name": "y"}})


def test_endpoints() -> None:
    assert endpoints_of(SVC, "vllm") == [
        {"component": "vllm", "kind": "Service", "name": "vllm", "url": "http://10.200.3.1:8000"}
    ]
    by_name = {**SVC, "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}}}
    assert endpoints_of(by_name, None)[0]["url"] == "http://lb.example:8000"
    assert endpoints_of({**SVC, "status": {}}, "vllm") == []
    assert endpoints_of({**SVC, "spec": {"type": "ClusterIP"}}, "vllm") == []
    ing: Obj = {
        "kind": "Ingress",
        "metadata": {"name": "web"},
        "spec": {
            "tls": [{"hosts": ["a.example"]}],
            "rules": [
                {"host": "a.example", "http": {"paths": [{"path": "/ui"}]}},
                {"host": "b.example", "http": {"paths": [{"pathType": "Prefix"}]}},
                {"http": {"paths": [{"path": "/x"}]}},
            ],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "10.200.3.2"}]}},
    }
    assert [e["url"] for e in endpoints_of(ing, "webui")] == [
        "https://a.example/ui",
        "http://b.example/",
        "http://10.200.3.2/x",
    ]
    assert endpoints_of(None, "x") == []


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            "0/4 nodes are available: 2 Insufficient nvidia.com/gpu, 2 node(s) had untolerated"
            " taint {node-role.kubernetes.io/control-plane: }. preemption: 0/4 nodes are"
            " available: 2 No preemption victims found for incoming pod, 2 Preemption is not"
            " helpful for scheduling.",
            "Insufficient nvidia.com/gpu",
        ),
        (
            "0/3 nodes are available: 1 node(s) had untolerated taint {a: }, 2 node(s) didn't"
            " match Pod's node affinity/selector. preemption: ...",
            "node(s) didn't match Pod's node affinity/selector",
        ),
        ("0/1 nodes are available: 1 Insufficient cpu.", "Insufficient cpu"),
        (
            "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
            "pod has unbound immediate PersistentVolumeClaims",
        ),
        ("something else entirely", "something else entirely"),
    ],
)
def test_scheduler_reason(message: str, reason: str) -> None:
    assert scheduler_reason(message) == reason


def pod(name: str, node: str | None, gpus: str | None = None, **spec: Any) -> Obj:
    limits = {"nvidia.com/gpu": gpus} if gpus else {}
    return {
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "c", "resources": {"limits": limits}}],
            **spec,
        },
        "status": {"phase": "Running" if node else "Pending"},
    }


def node(name: str, gpus: str, **spec: Any) -> Obj:
    return {
        "metadata": {"name": name, "labels": {"pool": "a"}},
        "spec": spec,
        "status": {
            "allocatable": {"nvidia.com/gpu": gpus, "cpu": "8"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def test_largest_free_counts_bound_pods_and_skips_unusable_nodes() -> None:
    want = pod("p", None, "4")
    nodes = [
        node("a", "8"),
        node("b", "8"),
        node("cordoned", "8", unschedulable=True),
        node("tainted", "8", taints=[{"key": "x", "effect": "NoSchedule"}]),
    ]
    pods = [pod("1", "a", "6"), pod("2", "b", "3"), {**pod("done", "b", "5"), "status": {}}]
    pods[2]["status"] = {"phase": "Succeeded"}
    assert largest_free(nodes, pods, "nvidia.com/gpu", want) == Decimal(5)
    tolerant = pod("p", None, "4", tolerations=[{"operator": "Exists"}])
    assert largest_free(nodes, pods, "nvidia.com/gpu", tolerant) == Decimal(8)
    picky = pod("p", None, "4", nodeSelector={"pool": "b"})
    assert largest_free(nodes, pods, "nvidia.com/gpu", picky) == Decimal(0)


def test_pod_request_sums_containers_and_takes_the_largest_init() -> None:
    p: Obj = {
        "spec": {
            "containers": [
                {"resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "500m"}}},
                {"resources": {"limits": {"cpu": "2"}}},
            ],
            "initContainers": [{"resources": {"requests": {"cpu": "3"}}}],
        }
    }
    assert pod_request(p, "cpu") == Decimal(3)
    assert pod_request(p, "memory") == Decimal(0)


@pytest.mark.parametrize(
    ("resource", "value", "text"),
    [
        ("nvidia.com/gpu", Decimal(2), "2"),
        ("cpu", Decimal("0.5"), "500m"),
        ("cpu", Decimal(4), "4"),
        ("memory", Decimal(2**31), "2Gi"),
        ("memory", Decimal(3 * 2**29), "1.5Gi"),
        ("memory", Decimal(100), "100"),
    ],
)
def test_format_amount(resource: str, value: Decimal, text: str) -> None:
    assert format_amount(resource, value) == text


def test_pending_message_prefers_the_condition_then_events() -> None:
    pending = pod("p", None, "1")
    pending["status"]["conditions"] = [
        {"type": "PodScheduled", "status": "False", "message": "0/1 nodes are available: x."}
    ]
    found = pending_message([(pod("r", "a"), []), (pending, [])])
    assert found is not None and found[1] == "0/1 nodes are available: x."
    bare = pod("q", None)
    events = [{"reason": "FailedScheduling", "message": "from the event"}]
    found = pending_message([(bare, events)])
    assert found is not None and found[1] == "from the event"
    assert pending_message([(pod("r", "a"), [])]) is None


@pytest.mark.parametrize(
    ("obj", "counts"),
    [
        ({"kind": "Deployment", "spec": {"replicas": 3}, "status": {"readyReplicas": 2}}, (2, 3)),
        ({"kind": "Deployment", "spec": {}, "status": {}}, (0, 1)),
        ({"kind": "StatefulSet", "spec": {"replicas": 2}, "status": {}}, (0, 2)),
        (
            {"kind": "DaemonSet", "status": {"numberReady": 3, "desiredNumberScheduled": 4}},
            (3, 4),
        ),
        ({"kind": "Job", "spec": {"completions": 5}, "status": {"succeeded": 5}}, (5, 5)),
        ({"kind": "Job", "spec": {}, "status": {}}, (0, 1)),
        ({"kind": "Service"}, None),
        (None, None),
    ],
)
def test_replica_counts(obj: Obj | None, counts: tuple[int, int] | None) -> None:
    assert h.replica_counts(obj) == counts


def test_daemonset_health() -> None:
    ds: Obj = {
        "kind": "DaemonSet",
        "metadata": {},
        "status": {"desiredNumberScheduled": 2, "numberReady": 1, "updatedNumberScheduled": 2},
    }
    found = h.assess(ds)
    assert (found.health, found.message) == ("Progressing", "1 of 2 pods ready")
    ds["status"]["numberReady"] = 2
    assert h.assess(ds).healthy
