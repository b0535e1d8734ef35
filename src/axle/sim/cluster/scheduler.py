"""The scheduler: which node a Pending pod goes to, or why none will take it.

It runs kube-scheduler's default filters in kube-scheduler's order and stops at a node's first
failing one, as the real framework does: TaintToleration (an untolerated `NoSchedule` or
`NoExecute` taint), NodeAffinity (`nodeSelector` and required node affinity), then
NodeResourcesFit (pod count and every requested resource against allocatable minus the
requests of the pods already bound there). Before the filters, VolumeBinding's pre-filter
refuses a pod whose claims are missing or unbound. Requests are computed as Kubernetes does:
a container's request defaults to its limit, containers add up, init containers count by
their maximum.

When no node fits, `FitFailure.message` is the text kube-scheduler 1.30+ puts in the
`FailedScheduling` event and the `PodScheduled` condition: a sorted histogram of the
per-node reasons, then the preemption post-filter's verdict. The simulator has no priority
classes, so preemption never finds victims: nodes refused for resources report "No
preemption victims found for incoming pod", nodes refused for taints, affinity or volumes
(unresolvable by preemption) "Preemption is not helpful for scheduling":

    0/4 nodes are available: 2 Insufficient nvidia.com/gpu, 2 node(s) had untolerated taint
    {node-role.kubernetes.io/control-plane: }. preemption: 0/4 nodes are available: 2 No
    preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.

Among the nodes that fit, the least allocated (by the mean of CPU and memory share, counting
a pod without requests as 100m CPU and 200Mi, as kube-scheduler's scoring does) wins, ties
broken by name, so placement is deterministic and spreads replicas.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from axle.sim.cluster import quantity
from axle.sim.cluster.selectors import node_matches

Obj = dict[str, Any]
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
# What scoring assumes a container without requests uses (kube-scheduler's non-zero defaults).
NON_ZERO = {"cpu": 100, "memory": 200 * 1024 * 1024}


def _amount(resource: str, value: Any) -> int:
    if resource == "cpu":
        return quantity.cpu_millis(value, resource)
    return quantity.units(value, resource)


def container_requests(container: Mapping[str, Any]) -> dict[str, int]:
    res = container.get("resources") or {}
    limits = res.get("limits") or {}
    requests = {**limits, **(res.get("requests") or {})}  # a request defaults to its limit
    return {name: _amount(name, value) for name, value in requests.items()}


def pod_requests(pod: Mapping[str, Any]) -> dict[str, int]:
    """The pod's effective requests: containers summed, init containers by their maximum."""
    spec = pod.get("spec") or {}
    total: Counter[str] = Counter()
    for c in spec.get("containers") or []:
        total.update(container_requests(c))
    out = dict(total)
    for c in spec.get("initContainers") or []:
        for name, amount in container_requests(c).items():
            out[name] = max(out.get(name, 0), amount)
    return out


def allocatable(node: Mapping[str, Any]) -> dict[str, int]:
    alloc = (node.get("status") or {}).get("allocatable") or {}
    return {name: _amount(name, value) for name, value in alloc.items()}


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    effect = toleration.get("effect")
    if effect and effect != taint.get("effect"):
        return False
    op = toleration.get("operator") or "Equal"
    key = toleration.get("key")
    if not key:
        return op == "Exists"
    if key != taint.get("key"):
        return False
    if op == "Exists":
        return True
    return str(toleration.get("value") or "") == str(taint.get("value") or "")


def untolerated_taint(pod: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any] | None:
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            return dict(taint)
    return None


@dataclass(frozen=True)
class NodeVerdict:
    reasons: tuple[str, ...]
    resolvable: bool  # could preemption help (resources) or not (taints, affinity)


@dataclass(frozen=True)
class FitFailure:
    message: str


def filter_node(
    pod: Mapping[str, Any],
    node: Mapping[str, Any],
    requests: Mapping[str, int],
    used: Mapping[str, int],
    pod_count: int,
) -> NodeVerdict | None:
    """Why `node` cannot take `pod` (None if it can)."""
    taint = untolerated_taint(pod, node)
    if taint is not None:
        reason = f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"
        return NodeVerdict((reason,), resolvable=False)
    if not node_matches(pod, node):
        return NodeVerdict(("node(s) didn't match Pod's node affinity/selector",), False)
    alloc = allocatable(node)
    reasons = []
    if pod_count + 1 > alloc.get("pods", 0):
        reasons.append("Too many pods")
    for name, amount in requests.items():
        if amount > 0 and amount > alloc.get(name, 0) - used.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return NodeVerdict(tuple(reasons), True) if reasons else None


def _histogram(counts: Counter[str]) -> str:
    # kube-scheduler sorts the formatted "<count> <reason>" strings themselves.
    return ", ".join(sorted(f"{n} {reason}" for reason, n in counts.items()))


def failure_message(
    n_nodes: int, verdicts: Iterable[NodeVerdict], prefilter: str | None = None
) -> str:
    """kube-scheduler's FitError text, with the preemption post-filter's message."""
    verdicts = list(verdicts)
    head = f"0/{n_nodes} nodes are available:"
    if prefilter:
        msg = f"{head} {prefilter}."
        preempt = Counter({NOT_HELPFUL: n_nodes})
    else:
        counts: Counter[str] = Counter()
        for v in verdicts:
            counts.update(v.reasons)
        msg = f"{head} {_histogram(counts)}."
        preempt = Counter(NO_VICTIMS if v.resolvable else NOT_HELPFUL for v in verdicts)
    return f"{msg} preemption: {head} {_histogram(preempt)}."


def volume_prefilter(pod: Mapping[str, Any], claim: Callable[[str], Obj | None]) -> str | None:
    """VolumeBinding's pre-filter: a missing or unbound claim keeps the pod off every node."""
    unbound = False
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        ref = vol.get("persistentVolumeClaim")
        if not ref:
            continue
        pvc = claim(str(ref.get("claimName")))
        if pvc is None:
            return f'persistentvolumeclaim "{ref.get("claimName")}" not found'
        if (pvc.get("status") or {}).get("phase") != "Bound":
            unbound = True
    return "pod has unbound immediate PersistentVolumeClaims" if unbound else None


def schedule(
    pod: Mapping[str, Any],
    nodes: list[Obj],
    bound: Iterable[Mapping[str, Any]],
    claim: Callable[[str], Obj | None],
) -> str | FitFailure:
    """The node name for `pod`, or why it fits nowhere. `bound`: the live pods on nodes."""
    if not nodes:
        return FitFailure("no nodes available to schedule pods")
    used: dict[str, Counter[str]] = {n["metadata"]["name"]: Counter() for n in nodes}
    scored: dict[str, Counter[str]] = {n["metadata"]["name"]: Counter() for n in nodes}
    counts: Counter[str] = Counter()
    for other in bound:
        node_name = (other.get("spec") or {}).get("nodeName")
        phase = (other.get("status") or {}).get("phase")
        if node_name in used and phase not in ("Succeeded", "Failed"):
            reqs = pod_requests(other)
            used[node_name].update(reqs)
            for r in ("cpu", "memory"):
                scored[node_name][r] += reqs.get(r) or NON_ZERO[r]
            counts[node_name] += 1
    prefilter = volume_prefilter(pod, claim)
    if prefilter:
        return FitFailure(failure_message(len(nodes), [], prefilter))
    requests = pod_requests(pod)
    verdicts: list[NodeVerdict] = []
    fits: list[tuple[float, str]] = []
    for node in nodes:
        name = node["metadata"]["name"]
        verdict = filter_node(pod, node, requests, used[name], counts[name])
        if verdict is not None:
            verdicts.append(verdict)
            continue
        alloc = allocatable(node)
        share = [
            (scored[name][r] + (requests.get(r) or NON_ZERO[r])) / alloc[r]
            for r in ("cpu", "memory")
            if alloc.get(r)
        ]
        fits.append((sum(share) / len(share) if share else 0.0, name))
    if fits:
        return min(fits)[1]
    return FitFailure(failure_message(len(nodes), verdicts))
