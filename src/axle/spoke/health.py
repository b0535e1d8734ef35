"""Health of one applied object, computed from the object (and its Events) alone.

The agent reports a health per applied object in `Work.status.resourceStatus[]`, and the
Work's `Available` condition names the first object that is not healthy and why. The rules
follow what `kubectl rollout status` and Argo CD's health checks look at, kind by kind; they
are pure functions of the live object so they are the same against real Kubernetes and the
cluster simulator and are tested table-driven. Messages are written for the person who owns
the workload (a data scientist): they say what is wrong in the cluster's own words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Health = Literal["Healthy", "Progressing", "Degraded", "Missing", "Unknown"]
Obj = Mapping[str, Any]

HEALTHY: Health = "Healthy"
PROGRESSING: Health = "Progressing"
DEGRADED: Health = "Degraded"
MISSING: Health = "Missing"
UNKNOWN: Health = "Unknown"

# Container waiting reasons that will not fix themselves without a change by someone.
FAILING_WAIT_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "ErrImageNeverPull",
    }
)


@dataclass(frozen=True)
class Assessment:
    """The health of one object and, unless Healthy, why."""

    health: Health
    message: str = ""

    @property
    def healthy(self) -> bool:
        return self.health == HEALTHY


def _conditions(obj: Obj) -> dict[str, Mapping[str, Any]]:
    conds = (obj.get("status") or {}).get("conditions") or []
    return {str(c.get("type")): c for c in conds if isinstance(c, Mapping)}


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _generation_observed(obj: Obj) -> bool:
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    return generation is None or observed is None or _int(observed) >= _int(generation)


def _scheduler_message(events: Sequence[Obj]) -> str | None:
    """The newest FailedScheduling message ("0/4 nodes are available: ...")."""
    for ev in reversed(events):
        if ev.get("reason") == "FailedScheduling" and ev.get("message"):
            return str(ev["message"])
    return None


def _warning_message(events: Sequence[Obj]) -> str | None:
    for ev in reversed(events):
        if ev.get("type") == "Warning" and ev.get("message"):
            return f"{ev.get('reason') or 'Warning'}: {ev['message']}"
    return None


def deployment_health(obj: Obj, events: Sequence[Obj] = ()) -> Assessment:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    want = _int(spec.get("replicas", 1))
    conds = _conditions(obj)
    progressing = conds.get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Assessment(DEGRADED, str(progressing.get("message") or "progress deadline exceeded"))
    replica_failure = conds.get("ReplicaFailure") or {}
    if replica_failure.get("status") == "True":
        return Assessment(DEGRADED, str(replica_failure.get("message") or "replica failure"))
    if not _generation_observed(obj):
        return Assessment(PROGRESSING, "waiting for the rollout to be observed")
    updated = _int(status.get("updatedReplicas"))
    available = _int(status.get("availableReplicas"))
    total = _int(status.get("replicas"))
    if updated < want:
        why = f"{updated} of {want} replicas updated"
        return Assessment(PROGRESSING, _with_scheduler(why, events))
    if total > updated:
        return Assessment(PROGRESSING, f"{total - updated} old replicas pending termination")
    if available < want:
        why = f"{available} of {want} replicas available"
        return Assessment(PROGRESSING, _with_scheduler(why, events))
    available_cond = conds.get("Available")
    if available_cond is not None and available_cond.get("status") == "False":
        return Assessment(PROGRESSING, str(available_cond.get("message") or "not available"))
    return Assessment(HEALTHY)


def _with_scheduler(why: str, events: Sequence[Obj]) -> str:
    sched = _scheduler_message(events)
    return f"{why}: {sched}" if sched else why


def statefulset_health(obj: Obj, events: Sequence[Obj] = ()) -> Assessment:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    want = _int(spec.get("replicas", 1))
    if not _generation_observed(obj):
        return Assessment(PROGRESSING, "waiting for the rollout to be observed")
    ready = _int(status.get("readyReplicas"))
    if ready < want:
        return Assessment(PROGRESSING, _with_scheduler(f"{ready} of {want} replicas ready", events))
    update_rev, current_rev = status.get("updateRevision"), status.get("currentRevision")
    if update_rev and current_rev and update_rev != current_rev:
        updated = _int(status.get("updatedReplicas"))
        return Assessment(PROGRESSING, f"{updated} of {want} replicas updated")
    return Assessment(HEALTHY)


def daemonset_health(obj: Obj, events: Sequence[Obj] = ()) -> Assessment:
    status = obj.get("status") or {}
    if not _generation_observed(obj):
        return Assessment(PROGRESSING, "waiting for the rollout to be observed")
    want = _int(status.get("desiredNumberScheduled"))
    updated = _int(status.get("updatedNumberScheduled", want))
    if updated < want:
        return Assessment(PROGRESSING, f"{updated} of {want} pods updated")
    ready = _int(status.get("numberReady"))
    if ready < want:
        return Assessment(PROGRESSING, _with_scheduler(f"{ready} of {want} pods ready", events))
    return Assessment(HEALTHY)


def job_health(obj: Obj, events: Sequence[Obj] = ()) -> Assessment:
    conds = _conditions(obj)
    failed = conds.get("Failed") or {}
    if failed.get("status") == "True":
        reason = failed.get("reason") or "Failed"
        return Assessment(DEGRADED, f"{reason}: {failed.get('message') or 'the job failed'}")
    complete = conds.get("Complete") or {}
    if complete.get("status") == "True":
        return Assessment(HEALTHY, "completed")
    status = obj.get("status") or {}
    active, succeeded = _int(status.get("active")), _int(status.get("succeeded"))
    want = _int((obj.get("spec") or {}).get("completions", 1))
    return Assessment(
        PROGRESSING, _with_scheduler(f"{succeeded} of {want} completed, {active} running", events)
    )


def pod_health(obj: Obj, events: Sequence[Obj] = ()) -> Assessment:
    status = obj.get("status") or {}
    phase = status.get("phase") or "Pending"
    for cs in [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in FAILING_WAIT_REASONS:
            detail = waiting.get("message") or ""
            text = f"container {cs.get('name')}: {reason}"
            return Assessment(DEGRADED, f"{text}: {detail}" if detail else text)
    if phase == "Succeeded":
        return Assessment(HEALTHY, "completed")
    if phase == "Failed":
        return Assessment(DEGRADED, str(status.get("message") or status.get("reason") or "failed"))
    if phase == "Running":
        ready = _conditions(obj).get("Ready") or {}
        if ready and ready.get("status") != "True":
            return Assessment(PROGRESSING, "containers not ready")
        return Assessment(HEALTHY)
    # Pending: the scheduler's own words say why (no node fits, unbound volume, ...).
    scheduled = _conditions(obj).get("PodScheduled") or {}
    if scheduled.get("status") == "False" and scheduled.get("message"):
        return Assessment(PROGRESSING, str(scheduled["message"]))
    sched = _scheduler_message(events)
    if sched:
        return Assessment(PROGRESSING, sched)
    return Assessment(PROGRESSING, f"pod is {phase}")


def service_health(obj: Obj, events: Sequence[Obj] = ()) -> Assessment:
    if (obj.get("spec") or {}).get("type") != "LoadBalancer":
        return Assessment(HEALTHY)
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    for entry in ingress:
        address = entry.get("ip") or entry.get("hostname")
        if address:
            return Assessment(HEALTHY, f"load balancer address {address}")
    warning = _warning_message(events)
    return Assessment(PROGRESSING, warning or "waiting for a load-balancer address")


def pvc_health(obj: Obj, events: Sequence[Obj] = ()) -> Assessment:
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Bound":
        return Assessment(HEALTHY)
    if phase == "Lost":
        return Assessment(DEGRADED, "the bound volume was lost")
    warning = _warning_message(events)
    return Assessment(PROGRESSING, warning or f"claim is {phase or 'Pending'}")


def generic_health(obj: Obj, events: Sequence[Obj] = ()) -> Assessment:
    """Anything with a Ready condition follows it; anything else is Healthy once applied."""
    ready = _conditions(obj).get("Ready")
    if ready is None:
        return Assessment(HEALTHY)
    if ready.get("status") == "True":
        return Assessment(HEALTHY)
    message = str(ready.get("message") or ready.get("reason") or "not ready")
    if ready.get("status") == "False" and _is_failure_reason(str(ready.get("reason") or "")):
        return Assessment(DEGRADED, message)
    return Assessment(PROGRESSING, message)


def _is_failure_reason(reason: str) -> bool:
    lowered = reason.lower()
    return any(word in lowered for word in ("fail", "error", "invalid"))


_BY_KIND = {
    "Deployment": deployment_health,
    "StatefulSet": statefulset_health,
    "DaemonSet": daemonset_health,
    "Job": job_health,
    "Pod": pod_health,
    "Service": service_health,
    "PersistentVolumeClaim": pvc_health,
}


WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job"})


def replica_counts(obj: Obj | None) -> tuple[int, int] | None:
    """(ready, desired) of a workload: pods ready of a Deployment/StatefulSet/DaemonSet, or
    completions of a Job; None for other kinds (or a missing object)."""
    if obj is None:
        return None
    kind = str(obj.get("kind") or "")
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if kind in ("Deployment", "StatefulSet"):
        return _int(status.get("readyReplicas")), _int(spec.get("replicas", 1))
    if kind == "DaemonSet":
        return _int(status.get("numberReady")), _int(status.get("desiredNumberScheduled"))
    if kind == "Job":
        completions = spec.get("completions")
        want = _int(completions) if completions is not None else 1
        return _int(status.get("succeeded")), want
    return None


def assess(
    obj: Obj | None,
    events: Iterable[Obj] = (),
    pods: Iterable[tuple[Obj, Sequence[Obj]]] = (),
) -> Assessment:
    """The health of a live object (None: it is missing from the cluster).

    `events` are the object's own Events; `pods` (pod, its Events) are a workload's Pods, whose
    trouble is the workload's trouble: a Deployment whose pods crash-loop is Degraded, one whose
    pods cannot be scheduled is Progressing with the scheduler's message.
    """
    if obj is None:
        return Assessment(MISSING, "not found on the cluster")
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return Assessment(PROGRESSING, "being deleted")
    kind = str(obj.get("kind") or "")
    check = _BY_KIND.get(kind, generic_health)
    own = check(obj, list(events))
    if own.healthy or kind not in WORKLOAD_KINDS:
        return own
    pending: str | None = None
    for pod, pod_events in pods:
        found = pod_health(pod, pod_events)
        name = (pod.get("metadata") or {}).get("name")
        if found.health == DEGRADED and not (kind == "Job" and found.message.startswith("fail")):
            return Assessment(DEGRADED, f"pod {name}: {found.message}")
        if (
            pending is None
            and found.health == PROGRESSING
            and "nodes are available" in found.message
        ):
            pending = found.message
    if pending and pending not in own.message:
        return Assessment(own.health, f"{own.message}: {pending}")
    return own


def needs_events(obj: Obj | None) -> bool:
    """Whether `assess` could say more with the object's Events (it is not yet healthy)."""
    if obj is None:
        return False
    return str(obj.get("kind") or "") in _BY_KIND and not assess(obj).healthy
