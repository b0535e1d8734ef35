"""Health per object, table-driven: (case, object, events, pods, health, part of message)."""

from __future__ import annotations

from typing import Any

import pytest

from axle.spoke.health import assess, needs_events

SCHED = "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."


def dep(generation: int = 1, **status: Any) -> dict[str, Any]:
    """A Deployment of 2 replicas with the given status fields."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "ml", "generation": generation},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}},
        "status": status,
    }


def pod(phase: str = "Pending", waiting: str | None = None, **extra: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, **extra}
    if waiting:
        status["containerStatuses"] = [
            {"name": "main", "state": {"waiting": {"reason": waiting, "message": "boom"}}}
        ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1"}, "status": status}


def ev(reason: str, message: str, type_: str = "Warning") -> dict[str, Any]:
    return {"reason": reason, "message": message, "type": type_}


def cond(type_: str, status: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def obj(kind: str, api: str = "v1", spec: Any = None, status: Any = None) -> dict[str, Any]:
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "x"},
        "spec": spec or {},
        "status": status or {},
    }


FULL = {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 2, "observedGeneration": 1}
CASES: list[tuple[str, Any, list[Any], list[Any], str, str]] = [
    ("missing", None, [], [], "Missing", "not found"),
    ("deployment available", dep(**FULL), [], [], "Healthy", ""),
    (
        "deployment unobserved generation",
        dep(generation=2, **FULL),
        [],
        [],
        "Progressing",
        "observed",
    ),
    (
        "deployment short of replicas",
        dep(replicas=2, updatedReplicas=2, availableReplicas=1),
        [],
        [],
        "Progressing",
        "1 of 2 replicas available",
    ),
    (
        "deployment deadline exceeded",
        dep(
            conditions=[
                cond(
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    "ReplicaSet web-1 has timed out progressing.",
                )
            ]
        ),
        [],
        [],
        "Degraded",
        "timed out",
    ),
    (
        "deployment pods unschedulable",
        dep(updatedReplicas=2, availableReplicas=0, replicas=2),
        [],
        [(pod(), [ev("FailedScheduling", SCHED)])],
        "Progressing",
        SCHED,
    ),
    (
        "deployment pods crash-looping",
        dep(updatedReplicas=2, availableReplicas=0, replicas=2),
        [],
        [(pod("Running", "CrashLoopBackOff"), [])],
        "Degraded",
        "CrashLoopBackOff",
    ),
    (
        "statefulset ready",
        obj("StatefulSet", "apps/v1", {"replicas": 3}, {"readyReplicas": 3}),
        [],
        [],
        "Healthy",
        "",
    ),
    (
        "statefulset not ready",
        obj("StatefulSet", "apps/v1", {"replicas": 3}, {"readyReplicas": 1}),
        [],
        [],
        "Progressing",
        "1 of 3 replicas ready",
    ),
    (
        "job complete",
        obj("Job", "batch/v1", status={"conditions": [cond("Complete", "True")]}),
        [],
        [],
        "Healthy",
        "completed",
    ),
    (
        "job failed",
        obj(
            "Job",
            "batch/v1",
            status={
                "conditions": [
                    cond(
                        "Failed",
                        "True",
                        "BackoffLimitExceeded",
                        "Job has reached the specified backoff limit",
                    )
                ]
            },
        ),
        [],
        [],
        "Degraded",
        "BackoffLimitExceeded",
    ),
    (
        "job running",
        obj("Job", "batch/v1", status={"active": 1}),
        [],
        [],
        "Progressing",
        "1 running",
    ),
    ("pod running", pod("Running"), [], [], "Healthy", ""),
    ("pod image pull", pod("Pending", "ErrImagePull"), [], [], "Degraded", "ErrImagePull"),
    ("pod crash loop", pod("Running", "CrashLoopBackOff"), [], [], "Degraded", "CrashLoopBackOff"),
    ("pod unschedulable", pod(), [ev("FailedScheduling", SCHED)], [], "Progressing", SCHED),
    (
        "pod scheduled condition",
        pod(conditions=[cond("PodScheduled", "False", "Unschedulable", SCHED)]),
        [],
        [],
        "Progressing",
        SCHED,
    ),
    ("pod succeeded", pod("Succeeded"), [], [], "Healthy", ""),
    ("pod failed", pod("Failed", message="OOMKilled"), [], [], "Degraded", "OOMKilled"),
    ("service cluster ip", obj("Service", spec={"type": "ClusterIP"}), [], [], "Healthy", ""),
    (
        "service lb pending",
        obj("Service", spec={"type": "LoadBalancer"}),
        [],
        [],
        "Progressing",
        "load-balancer address",
    ),
    (
        "service lb address",
        obj(
            "Service",
            spec={"type": "LoadBalancer"},
            status={"loadBalancer": {"ingress": [{"ip": "10.0.0.7"}]}},
        ),
        [],
        [],
        "Healthy",
        "10.0.0.7",
    ),
    ("pvc bound", obj("PersistentVolumeClaim", status={"phase": "Bound"}), [], [], "Healthy", ""),
    (
        "pvc pending",
        obj("PersistentVolumeClaim", status={"phase": "Pending"}),
        [ev("ProvisioningFailed", 'storageclass "fast" not found')],
        [],
        "Progressing",
        "storageclass",
    ),
    (
        "ready condition true",
        obj(
            "HelmRelease",
            "helm.toolkit.fluxcd.io/v2",
            status={"conditions": [cond("Ready", "True")]},
        ),
        [],
        [],
        "Healthy",
        "",
    ),
    (
        "ready condition failed",
        obj(
            "HelmRelease",
            "helm.toolkit.fluxcd.io/v2",
            status={"conditions": [cond("Ready", "False", "InstallFailed", "chart not found")]},
        ),
        [],
        [],
        "Degraded",
        "chart not found",
    ),
    (
        "ready condition pending",
        obj(
            "Certificate",
            "cert-manager.io/v1",
            status={"conditions": [cond("Ready", "False", "Issuing", "issuing")]},
        ),
        [],
        [],
        "Progressing",
        "issuing",
    ),
    ("configmap", obj("ConfigMap"), [], [], "Healthy", ""),
]


@pytest.mark.parametrize(
    ("obj_", "events", "pods", "health", "part"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_assess(obj_: Any, events: Any, pods: Any, health: str, part: str) -> None:
    found = assess(obj_, events, pods)
    assert found.health == health
    assert part in found.message


def test_being_deleted_is_progressing() -> None:
    gone = obj("ConfigMap")
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert assess(gone).health == "Progressing"


def test_needs_events_only_for_unhealthy_known_kinds() -> None:
    assert needs_events(pod())
    assert not needs_events(pod("Running"))
    assert not needs_events(obj("ConfigMap"))
    assert not needs_events(None)
