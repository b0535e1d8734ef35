"""A WorkloadDeployment's status from its Works: per spoke, per component, and the one message.

Pure functions over the Works the agents report on, the Spokes' own conditions and the
current artifact digest, so the words a data scientist reads are tested without a hub:

- each spoke gets a state: `Available` (applied at the current digest, Available), `Failed`
  (the agent could not apply it, e.g. `artifact pull failed: registry returned 401`, or a
  resource is Degraded), `Unreachable` (the Spoke's `Available` is Unknown: "spoke gpu-a-1
  unreachable since 10:42"), `Applying`, `Progressing`, or `Pending` (not rolled out to yet);
- components sum ready/desired over spokes and keep the first problem, with "on pool <pool>"
  put into the scheduler's messages so the reader knows where the GPUs are missing;
- endpoints and outputs come from the Works (outputs: the first spoke, by name, that has one);
- the phase is Running when every spoke is Available, Degraded when one failed, Deploying
  otherwise; the message is the one blocking cause, failures first, then unreachable spokes,
  then what a component waits for, then what is still being applied.

It also computes the GPUs the rendered manifests request (`gpu_requests`), which the quota
controller reads before anything is delivered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from axle.api.meta import get_condition
from axle.store.base import Obj

GPU = "nvidia.com/gpu"
GPU_PRODUCT = "nvidia.com/gpu.product"
_HEALTH_ORDER = {"Degraded": 0, "Missing": 1, "Progressing": 2, "Unknown": 3, "Healthy": 4}
_SCHEDULER = re.compile(r"pods? scheduled|Insufficient |Unschedulable|didn't match", re.I)
_TIME = re.compile(r"T(\d\d:\d\d)")


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _pod_spec(manifest: Mapping[str, Any]) -> tuple[Mapping[str, Any] | None, int]:
    kind = manifest.get("kind")
    spec = manifest.get("spec") or {}
    if kind == "Pod":
        return spec, 1
    if kind in ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet"):
        replicas = 1 if kind == "DaemonSet" else _int(spec.get("replicas", 1), 1)
        return (spec.get("template") or {}).get("spec") or {}, replicas
    if kind == "Job":
        return (spec.get("template") or {}).get("spec") or {}, _int(spec.get("parallelism", 1), 1)
    if kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        return (job.get("template") or {}).get("spec") or {}, _int(job.get("parallelism", 1), 1)
    return None, 0


def gpu_requests(manifests: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """GPUs requested: {nvidia.com/gpu.product node selector or "": limits x replicas}."""
    out: dict[str, int] = {}
    for manifest in manifests:
        pod, replicas = _pod_spec(manifest)
        if not pod:
            continue
        per_pod = sum(
            _int(((c.get("resources") or {}).get("limits") or {}).get(GPU))
            for c in pod.get("containers") or []
        )
        if per_pod <= 0 or replicas <= 0:
            continue
        product = str((pod.get("nodeSelector") or {}).get(GPU_PRODUCT) or "")
        out[product] = out.get(product, 0) + per_pod * replicas
    return out


def on_pool(message: str, pool: str | None) -> str:
    """A scheduler message with "on pool <pool>" where the reader needs it."""
    if not pool or not _SCHEDULER.search(message) or f"on pool {pool}" in message:
        return message
    head, sep, tail = message.partition(" (needs ")
    return f"{head} on pool {pool}{sep}{tail}"


def hhmm(timestamp: str | None) -> str | None:
    match = _TIME.search(timestamp or "")
    return match.group(1) if match else None


@dataclass
class SpokeState:
    spoke: str
    phase: str
    message: str | None = None
    applied_digest: str | None = None
    resources: int = 0
    healthy: int = 0

    @property
    def available(self) -> bool:
        return self.phase == "Available"

    @property
    def failed(self) -> bool:
        return self.phase == "Failed"

    def entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {"spoke": self.spoke, "phase": self.phase}
        if self.message:
            out["message"] = self.message
        if self.applied_digest:
            out["appliedDigest"] = self.applied_digest
        out["resources"] = self.resources
        out["healthyResources"] = self.healthy
        return out


def _unreachable(spoke: Obj | None, name: str) -> str | None:
    if spoke is None:
        return f"spoke {name} no longer exists"
    cond = get_condition(spoke, "Available") or {}
    if cond.get("status") == "True":
        return None
    if cond.get("reason") == "LeaseExpired" or cond.get("status") == "Unknown":
        since = hhmm((spoke.get("status") or {}).get("lastHeartbeatTime"))
        if since:
            return f"spoke {name} unreachable since {since}"
        return f"spoke {name} has not reported yet"
    return cond.get("message") or f"spoke {name} is not available"


def _first_problem(resources: Sequence[Mapping[str, Any]], pool: str | None) -> str | None:
    ranked = sorted(
        (r for r in resources if r.get("health") not in (None, "Healthy")),
        key=lambda r: _HEALTH_ORDER.get(str(r.get("health")), 5),
    )
    for res in ranked:
        text = res.get("message") or f"{res.get('kind')} {res.get('name')} {res.get('health')}"
        text = on_pool(str(text), pool)
        component = res.get("component")
        return f"component {component}: {text}" if component else str(text)
    return None


def spoke_state(
    name: str, work: Obj | None, spoke: Obj | None, digest: str, revision: int, pool: str | None
) -> SpokeState:
    """How delivery of `digest` stands on one spoke."""
    status = (work or {}).get("status") or {}
    resources = list(status.get("resourceStatus") or [])
    healthy = sum(1 for r in resources if r.get("health") == "Healthy")
    applied = status.get("appliedDigest")
    state = SpokeState(name, "Pending", None, applied, len(resources), healthy)
    if work is None or ((work.get("spec") or {}).get("artifact") or {}).get("digest") != digest:
        state.message = f"waiting to roll out revision {revision} to spoke {name}"
        return state
    unreachable = _unreachable(spoke, name)
    applied_cond = get_condition(work, "Applied") or {}
    # A refusal counts once the agent has seen this spec (an older one's is stale).
    seen = applied_cond.get("observedGeneration") in (None, work["metadata"].get("generation"))
    if applied_cond.get("status") == "False" and seen:
        state.phase = "Failed"
        state.message = str(applied_cond.get("message") or applied_cond.get("reason") or "")
        return state
    if unreachable:
        state.phase = "Unreachable"
        state.message = unreachable
        return state
    if applied != digest:
        state.phase = "Applying"
        state.message = f"spoke {name} is applying revision {revision}"
        return state
    if any(r.get("health") == "Degraded" for r in resources):
        state.phase = "Failed"
        state.message = _first_problem(resources, pool)
        return state
    if (get_condition(work, "Available") or {}).get("status") == "True":
        state.phase = "Available"
        return state
    state.phase = "Progressing"
    state.message = _first_problem(resources, pool) or f"waiting for spoke {name} to report ready"
    return state


@dataclass
class RollUp:
    phase: str
    message: str | None
    spokes: list[dict[str, Any]]
    components: list[dict[str, Any]]
    endpoints: list[dict[str, Any]]
    outputs: dict[str, Any] | None
    states: dict[str, SpokeState] = field(default_factory=dict)


def _components(
    names: Sequence[str], works: Sequence[tuple[str, Obj]], pools: Mapping[str, str | None]
) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {n: {"name": n, "ready": 0, "desired": 0} for n in names}
    problems: dict[str, list[Mapping[str, Any]]] = {}
    pool_of: dict[str, str | None] = {}
    for spoke, work in works:
        for res in (work.get("status") or {}).get("resourceStatus") or []:
            comp = res.get("component")
            if not comp:
                continue
            entry = found.setdefault(comp, {"name": comp, "ready": 0, "desired": 0})
            entry["ready"] += _int(res.get("ready"))
            entry["desired"] += _int(res.get("desired"))
            health = res.get("health")
            if health:
                worst = entry.get("health")
                if worst is None or _HEALTH_ORDER.get(health, 5) < _HEALTH_ORDER.get(worst, 5):
                    entry["health"] = health
            if health not in (None, "Healthy"):
                problems.setdefault(comp, []).append(res)
                pool_of.setdefault(comp, pools.get(spoke))
    for comp, resources in problems.items():
        message = _first_problem(resources, pool_of.get(comp))
        if message:
            found[comp]["message"] = message.removeprefix(f"component {comp}: ")
    return list(found.values())


def _outputs(works: Sequence[tuple[str, Obj]]) -> dict[str, Any] | None:
    defs: dict[str, dict[str, Any]] = {}
    objs: dict[str, Any] = {}
    for _, work in works:
        reported = (work.get("status") or {}).get("outputs") or {}
        for comp, values in (reported.get("def") or {}).items():
            slot = defs.setdefault(comp, {})
            for key, value in (values or {}).items():
                slot.setdefault(key, value)
        for key, value in (reported.get("obj") or {}).items():
            objs.setdefault(key, value)
    if not defs and not objs:
        return None
    return {"def": defs, "obj": objs}


def roll_up(
    spokes: Sequence[str],
    works: Mapping[str, Obj],
    spoke_objs: Mapping[str, Obj | None],
    *,
    digest: str,
    revision: int,
    components: Sequence[str],
    pools: Mapping[str, str | None],
) -> RollUp:
    """The deployment's delivery status over its decided `spokes`."""
    states = {
        s: spoke_state(s, works.get(s), spoke_objs.get(s), digest, revision, pools.get(s))
        for s in spokes
    }
    current = [(s, works[s]) for s in spokes if s in works]
    endpoints = [
        {"component": e.get("component"), "spoke": s, "url": e["url"]}
        for s, w in current
        for e in (w.get("status") or {}).get("endpoints") or []
        if e.get("url")
    ]
    ordered = list(states.values())
    failed = [st for st in ordered if st.failed]
    if ordered and all(st.available for st in ordered):
        phase, message = "Running", None
    elif failed:
        phase, message = "Degraded", failed[0].message
    else:
        phase = "Deploying"
        rank = {"Unreachable": 0, "Progressing": 1, "Applying": 2, "Pending": 3}
        waiting = sorted(
            (st for st in ordered if not st.available), key=lambda st: rank.get(st.phase, 4)
        )
        message = waiting[0].message if waiting else None
    return RollUp(
        phase=phase,
        message=message,
        spokes=[st.entry() for st in ordered],
        components=_components(components, current, pools),
        endpoints=endpoints,
        outputs=_outputs(current),
        states=states,
    )
