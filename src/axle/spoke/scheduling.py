"""Why a workload's pods are not scheduled, in one line with the numbers that matter.

kube-scheduler explains an unschedulable pod per node ("0/4 nodes are available: 2
Insufficient nvidia.com/gpu, 2 node(s) had untolerated taint {...}. preemption: ..."). A data
scientist needs the one reason that blocks the workload and, for a missing resource, how much
the pod asks for and how much the cluster could give it, so the agent reports:

    0/1 pods scheduled: Insufficient nvidia.com/gpu (needs 2, 0 free)

The reason is taken from the scheduler's message (an `Insufficient <resource>` first, since a
control-plane taint is noise next to it). The numbers are computed here from the Nodes and
Pods read through the `Cluster` protocol, not from simulator internals, so they are the same
against a real cluster: N is the pod's effective request (containers summed, init containers
by their maximum, a request defaulting to its limit, as Kubernetes computes it) and M is the
largest free amount on any node the pod could otherwise use (not cordoned, Ready, no taint it
does not tolerate, its nodeSelector matching): allocatable minus the requests of the pods
bound there that have not finished.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from axle.kube.cluster import Cluster
from axle.utils.quantity import parse_quantity

Obj = dict[str, Any]
_HEAD = re.compile(r"^\s*\d+/\d+ nodes are available:\s*")
_COUNT = re.compile(r"^\d+\s+")
_INSUFFICIENT = re.compile(r"^Insufficient (\S+)$")


def scheduler_reason(message: str) -> str:
    """The one reason of a FailedScheduling message that blocks the pod.

    "0/4 nodes are available: 2 Insufficient nvidia.com/gpu, 2 node(s) had untolerated
    taint {...}. preemption: ..." -> "Insufficient nvidia.com/gpu". A message in another form
    (an unbound claim, a custom scheduler) is returned as it is.
    """
    match = _HEAD.match(message)
    if not match:
        return message.strip()
    body = message[match.end() :]
    body = body.split(" preemption:", 1)[0].strip().rstrip(".")
    reasons = [_COUNT.sub("", part.strip()) for part in body.split(", ") if part.strip()]
    if not reasons:
        return message.strip()
    for reason in reasons:
        if _INSUFFICIENT.match(reason):
            return reason
    for reason in reasons:
        if "untolerated taint" not in reason:
            return reason
    return reasons[0]


def _amount(value: Any) -> Decimal:
    found = parse_quantity(value) if isinstance(value, str | int) else None
    return found if found is not None else Decimal(0)


def pod_request(pod: Mapping[str, Any], resource: str) -> Decimal:
    """The pod's effective request of `resource` (as the scheduler counts it)."""
    spec = pod.get("spec") or {}

    def one(container: Mapping[str, Any]) -> Decimal:
        res = container.get("resources") or {}
        merged = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        return _amount(merged.get(resource)) if resource in merged else Decimal(0)

    total = sum((one(c) for c in spec.get("containers") or []), Decimal(0))
    init = max((one(c) for c in spec.get("initContainers") or []), default=Decimal(0))
    return max(total, init)


def _tolerates(pod: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    for tol in (pod.get("spec") or {}).get("tolerations") or []:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and (tol.get("value") or "") == (
            taint.get("value") or ""
        ):
            return True
    return False


def node_usable(node: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """Whether `pod` could go to `node` but for resources (cordon, readiness, taints, selector)."""
    spec, status = node.get("spec") or {}, node.get("status") or {}
    if spec.get("unschedulable"):
        return False
    conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    if conds and conds.get("Ready") != "True":
        return False
    for taint in spec.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(pod, taint):
            return False
    labels = (node.get("metadata") or {}).get("labels") or {}
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def largest_free(
    nodes: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    resource: str,
    pod: Mapping[str, Any],
) -> Decimal:
    """The most of `resource` free on any node `pod` could use (0 if there is none)."""
    used: dict[str, Decimal] = {}
    for other in pods:
        where = (other.get("spec") or {}).get("nodeName")
        phase = (other.get("status") or {}).get("phase")
        if where and phase not in ("Succeeded", "Failed"):
            used[where] = used.get(where, Decimal(0)) + pod_request(other, resource)
    best = Decimal(0)
    for node in nodes:
        if not node_usable(node, pod):
            continue
        status = node.get("status") or {}
        amounts = status.get("allocatable") or status.get("capacity") or {}
        name = str((node.get("metadata") or {}).get("name") or "")
        free = _amount(amounts.get(resource)) - used.get(name, Decimal(0))
        best = max(best, free)
    return best


def format_amount(resource: str, value: Decimal) -> str:
    """An amount as a person reads it: GPUs and CPUs as numbers, memory with a binary unit."""
    if resource == "cpu" and value != value.to_integral_value():
        return f"{int(value * 1000)}m"
    if resource in ("memory", "ephemeral-storage") or resource.startswith("hugepages-"):
        for suffix, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
            if value >= size:
                scaled = value / size
                text = f"{scaled:.1f}".removesuffix(".0")
                return f"{text}{suffix}"
    if value == value.to_integral_value():
        return str(int(value))
    return str(value.normalize())


def _unscheduled(pod: Mapping[str, Any]) -> bool:
    if (pod.get("spec") or {}).get("nodeName"):
        return False
    return (pod.get("status") or {}).get("phase") in (None, "Pending")


def _active(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") and not (
        pod.get("metadata") or {}
    ).get("deletionTimestamp")


def pending_message(pods: Sequence[tuple[Obj, Sequence[Obj]]]) -> tuple[Obj, str] | None:
    """(an unscheduled pod, its scheduler message) among a workload's pods, if any."""
    for pod, events in pods:
        if not _active(pod) or not _unscheduled(pod):
            continue
        conds = {c.get("type"): c for c in (pod.get("status") or {}).get("conditions") or []}
        scheduled = conds.get("PodScheduled") or {}
        if scheduled.get("status") == "False" and scheduled.get("message"):
            return pod, str(scheduled["message"])
        for ev in reversed(list(events)):
            if ev.get("reason") == "FailedScheduling" and ev.get("message"):
                return pod, str(ev["message"])
    return None


async def unscheduled_message(
    cluster: Cluster, pods: Sequence[tuple[Obj, Sequence[Obj]]]
) -> str | None:
    """ "0/1 pods scheduled: <reason>[ (needs N, M free)]" for a workload's pods, or None when
    none of them waits for the scheduler."""
    found = pending_message(pods)
    if found is None:
        return None
    pod, message = found
    active = [p for p, _ in pods if _active(p)]
    scheduled = sum(1 for p in active if not _unscheduled(p))
    reason = scheduler_reason(message)
    text = f"{scheduled}/{len(active)} pods scheduled: {reason}"
    match = _INSUFFICIENT.match(reason)
    if match is None:
        return text
    resource = match.group(1)
    if resource == "pods":  # "Too many pods" is not a request
        return text
    nodes = await cluster.list_objects("v1", "Node")
    all_pods = await cluster.list_objects("v1", "Pod")
    needs = pod_request(pod, resource)
    free = largest_free(nodes, all_pods, resource, pod)
    return (
        f"{text} (needs {format_amount(resource, needs)},"
        f" {format_amount(resource, max(free, Decimal(0)))} free)"
    )
