"""Pods: binding them to nodes (the scheduler's loop) and running them (the kubelet's part).

`schedule_pending` offers every unbound Pending pod to `scheduler.schedule` in creation
order, so earlier pods get capacity first. A bound pod gets `PodScheduled=True`, a pod IP
from its node's /24 of 10.244.0.0/16 and a `Scheduled` event; one that fits nowhere gets
`PodScheduled=False` reason `Unschedulable` with kube-scheduler's message and a
`FailedScheduling` warning, re-emitted only when the message changes (a real scheduler
retries with backoff; repeating the same event every pass would only churn versions).

`run_pods` moves a bound pod through what a kubelet would show, with no images pulled:

* `ContainerCreating` until `start_latency` has passed since binding;
* an image whose reference contains `does-not-exist`, or a pod annotated
  `sim.axle.dev/image-pull: fail`, waits in `ErrImagePull`, then `ImagePullBackOff` after
  `image_pull_backoff` seconds, with the kubelet's Failed/BackOff events;
* otherwise Running and Ready (all containers started, conditions true);
* a pod whose `restartPolicy` is `Never` or `OnFailure` (every Job pod) runs to completion:
  after `job_duration` seconds (or its `sim.axle.dev/duration` annotation) it exits 0 and
  is `Succeeded`, or exits non-zero and is `Failed` when annotated `sim.axle.dev/fail: "true"`
  or `sim.axle.dev/exit-code: "<n>"` (OnFailure restarts in place are not modelled);
* a `restartPolicy: Always` pod annotated to fail stays Running but not Ready, its
  container waiting in `CrashLoopBackOff`, as a crashing server does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from axle.sim.cluster.kinds import key_of
from axle.sim.cluster.objects import clone, rfc3339
from axle.sim.cluster.runtime import Ctx, pod_active, set_condition
from axle.sim.cluster.scheduler import FitFailure, schedule

Obj = dict[str, Any]
ANNOTATION_FAIL = "sim.axle.dev/fail"
ANNOTATION_EXIT = "sim.axle.dev/exit-code"
ANNOTATION_DURATION = "sim.axle.dev/duration"
ANNOTATION_PULL = "sim.axle.dev/image-pull"
SCHEDULER = "default-scheduler"
Event = tuple[str, str, str]  # type, reason, message
KUBELET = "kubelet"


def _annotations(pod: Obj) -> dict[str, str]:
    return dict(pod["metadata"].get("annotations") or {})


def _exit_code(pod: Obj) -> int:
    ann = _annotations(pod)
    if ANNOTATION_EXIT in ann:
        try:
            return int(ann[ANNOTATION_EXIT])
        except ValueError:
            return 1
    return 1 if ann.get(ANNOTATION_FAIL, "").lower() == "true" else 0


def _pull_fails(pod: Obj, image: str) -> bool:
    return "does-not-exist" in image or _annotations(pod).get(ANNOTATION_PULL) == "fail"


def _pod_ip(ctx: Ctx, node_name: str) -> str:
    """The lowest free address of the node's /24 (10.244.<node index>.0/24), from .2."""
    nodes = sorted(n["metadata"]["name"] for n in ctx.store.of_kind("", "Node"))
    index = nodes.index(node_name) if node_name in nodes else len(nodes)
    used = {
        (p.get("status") or {}).get("podIP")
        for p in ctx.store.of_kind("", "Pod")
        if (p.get("spec") or {}).get("nodeName") == node_name
    }
    # Built as text: enumerating an ipaddress network makes 254 objects per pod started.
    prefix = f"10.244.{index % 256}."
    for host in range(2, 255):
        if prefix + str(host) not in used:
            return prefix + str(host)
    return ""


def _node_address(ctx: Ctx, node_name: str) -> str:
    node = ctx.store.get(("", "Node", "", node_name))
    for a in ((node or {}).get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP":
            return str(a.get("address"))
    return ""


def qos_class(pod: Obj) -> str:
    """Guaranteed (every container's CPU and memory limited, requests equal to limits),
    BestEffort (no requests or limits at all), else Burstable."""
    spec = pod.get("spec") or {}
    containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    any_set, guaranteed = False, bool(containers)
    for c in containers:
        res = c.get("resources") or {}
        limits, requests = res.get("limits") or {}, res.get("requests") or {}
        any_set = any_set or bool(limits) or bool(requests)
        for r in ("cpu", "memory"):
            if r not in limits or requests.get(r, limits[r]) != limits[r]:
                guaranteed = False
    if guaranteed:
        return "Guaranteed"
    return "Burstable" if any_set else "BestEffort"


def schedule_pending(ctx: Ctx) -> None:
    # Whether a pod fits depends on every node and every bound pod (and its claims): any
    # change to those kinds lets each pending pod try again; nothing else does.
    if not ctx.touches(("", "Pod"), ("", "Node"), ("", "PersistentVolumeClaim")):
        return
    if ctx.full:
        pods: list[Obj] | None = ctx.store.of_kind("", "Pod")
        waiting = [p for p in pods or () if _pending(p)]
    else:
        # Only the pods of this pass and those left unschedulable can be pending, so a pass
        # over pods that changed status (most passes) decodes no other pod.
        pods = None
        found = {key_of(p): p for p in ctx.candidates("", "Pod") if _pending(p)}
        for key in ctx.unschedulable - found.keys():
            left = ctx.store.get(key)
            if left is not None and _pending(left):
                found[key] = left
        waiting = list(found.values())
    ctx.unschedulable = set()
    if not waiting:
        return
    pending = sorted(
        waiting,
        key=lambda p: (p["metadata"]["creationTimestamp"], int(p["metadata"]["resourceVersion"])),
    )
    nodes = ctx.store.of_kind("", "Node")
    if pods is None:
        pods = ctx.store.of_kind("", "Pod")
    bound = [p for p in pods if (p.get("spec") or {}).get("nodeName")]
    for pod in pending:
        namespace = pod["metadata"]["namespace"]

        def claim(name: str, ns: str = namespace) -> Obj | None:
            return ctx.store.get(("", "PersistentVolumeClaim", ns, name))

        result = schedule(pod, nodes, bound, claim)
        new = clone(pod)
        status = new.setdefault("status", {})
        status.setdefault("phase", "Pending")
        status.setdefault("qosClass", qos_class(pod))
        conds = status.get("conditions") or []
        if isinstance(result, FitFailure):
            old: Obj = next((c for c in conds if c.get("type") == "PodScheduled"), {})
            status["conditions"] = set_condition(
                conds, "PodScheduled", "False", "Unschedulable", result.message, ctx.stamp()
            )
            ctx.unschedulable.add(key_of(pod))
            if ctx.store.write(new) and old.get("message") != result.message:
                ctx.event(new, "Warning", "FailedScheduling", result.message, SCHEDULER)
            continue
        new["spec"]["nodeName"] = result
        others = [c for c in conds if c.get("type") != "PodScheduled"]
        status["conditions"] = [
            *others,
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": ctx.stamp()},
        ]
        ctx.store.mark(new, "bound")
        ctx.store.write(new)
        bound.append(new)  # its requests count for the pods after it
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        ctx.event(
            new, "Normal", "Scheduled", f"Successfully assigned {ns}/{name} to {result}", SCHEDULER
        )


def _pending(pod: Obj) -> bool:
    """Not bound to a node, and not finished either."""
    return (
        not (pod.get("spec") or {}).get("nodeName")
        and (pod.get("status") or {}).get("phase", "Pending") == "Pending"
    )


def _pod_conditions(
    status: Obj, now: str, *, ready: bool, started: bool, completed: bool = False
) -> list[Obj]:
    conds = status.get("conditions") or []
    names = [str(c.get("name")) for c in status.get("containerStatuses") or []]
    conds = set_condition(
        conds, "PodReadyToStartContainers", "True" if started else "False", "", "", now
    )
    conds = set_condition(conds, "Initialized", "True", "", "", now)
    if ready:
        reason, message = "", ""
    elif completed:
        reason, message = "PodCompleted", ""
    else:
        reason, message = (
            "ContainersNotReady",
            f"containers with unready status: [{' '.join(names)}]",
        )
    r = "True" if ready else "False"
    conds = set_condition(conds, "Ready", r, reason, message, now)
    conds = set_condition(conds, "ContainersReady", r, reason, message, now)
    for c in conds:  # Kubernetes leaves empty reasons and messages out
        for k in ("reason", "message"):
            if c.get(k) == "":
                c.pop(k)
    order = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    return sorted(conds, key=lambda c: order.index(c["type"]) if c["type"] in order else 99)


def _container_statuses(
    pod: Obj,
    state: Callable[[Obj], Obj],
    ready: bool,
    restarts: int = 0,
    last_state: Obj | None = None,
) -> list[Obj]:
    uid = pod["metadata"]["uid"].replace("-", "")
    out = []
    for i, c in enumerate(pod["spec"].get("containers") or []):
        entry: Obj = {
            "name": c.get("name"),
            "image": c.get("image"),
            "imageID": "",
            "ready": ready,
            "restartCount": restarts,
            "started": ready,
            "state": state(c),
        }
        if ready or "terminated" in entry["state"]:
            entry["containerID"] = f"containerd://{uid}{i:02x}"
            entry["imageID"] = f"sim.axle.dev/{c.get('image')}"
        if last_state:
            entry["lastState"] = last_state
        out.append(entry)
    return out


def _pull_failure(ctx: Ctx, pod: Obj, failing: list[Obj], start_at: float) -> list[Event]:
    """ErrImagePull, then ImagePullBackOff; the kubelet's events on each change."""
    status = pod["status"]
    previous = {
        (cs.get("state") or {}).get("waiting", {}).get("reason")
        for cs in status.get("containerStatuses") or []
    }
    image = str(failing[0].get("image"))
    backoff = ctx.due(start_at + ctx.timings.image_pull_backoff)
    reason = "ImagePullBackOff" if backoff else "ErrImagePull"
    pull_msg = (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
        f'failed to resolve reference "{image}": {image}: not found'
    )
    msg = f'Back-off pulling image "{image}"' if backoff else pull_msg

    def waiting(c: Obj) -> Obj:
        if c in failing:
            return {"waiting": {"reason": reason, "message": msg}}
        return {"waiting": {"reason": "PodInitializing"}}

    status["phase"] = "Pending"
    status["containerStatuses"] = _container_statuses(pod, waiting, False)
    status["conditions"] = _pod_conditions(status, ctx.stamp(), ready=False, started=True)
    if reason in previous:
        return []
    if backoff:
        return [
            ("Normal", "BackOff", f'Back-off pulling image "{image}"'),
            ("Warning", "Failed", "Error: ImagePullBackOff"),
        ]
    return [
        ("Normal", "Pulling", f'Pulling image "{image}"'),
        ("Warning", "Failed", f'Failed to pull image "{image}": {pull_msg}'),
        ("Warning", "Failed", "Error: ErrImagePull"),
    ]


def _crash_loop(ctx: Ctx, pod: Obj, code: int, start_at: float) -> list[Event]:
    """A server that keeps exiting: Running, not Ready, waiting in CrashLoopBackOff."""
    meta, status = pod["metadata"], pod["status"]
    previous = {
        (cs.get("state") or {}).get("waiting", {}).get("reason")
        for cs in status.get("containerStatuses") or []
    }
    names = [str(c.get("name")) for c in pod["spec"].get("containers") or []]
    first = names[0] if names else ""
    where = f"{meta['name']}_{meta['namespace']}({meta['uid']})"
    msg = f"back-off 10s restarting failed container={first} pod={where}"
    at = rfc3339(start_at)
    last = {"terminated": {"exitCode": code, "reason": "Error", "startedAt": at, "finishedAt": at}}
    status["phase"] = "Running"
    status["containerStatuses"] = _container_statuses(
        pod,
        lambda c: {"waiting": {"reason": "CrashLoopBackOff", "message": msg}},
        False,
        restarts=1,
        last_state=last,
    )
    status["conditions"] = _pod_conditions(status, ctx.stamp(), ready=False, started=True)
    if "CrashLoopBackOff" in previous:
        return []
    return [("Warning", "BackOff", f"Back-off restarting failed container {first} in pod {where}")]


def _run_one(ctx: Ctx, pod: Obj) -> list[Event]:
    """Advance one bound pod as far as the clock allows; the events of what happened."""
    spec, status = pod["spec"], pod.setdefault("status", {})
    node = str(spec["nodeName"])
    start_at = ctx.store.mark(pod, "bound") + ctx.timings.start_latency
    status.setdefault("phase", "Pending")
    status["hostIP"] = _node_address(ctx, node)
    status["hostIPs"] = [{"ip": status["hostIP"]}] if status["hostIP"] else []
    if not status.get("podIP"):
        status["podIP"] = _pod_ip(ctx, node)
        status["podIPs"] = [{"ip": status["podIP"]}]
    status.setdefault("startTime", ctx.stamp())
    containers = spec.get("containers") or []
    failing = [c for c in containers if _pull_fails(pod, str(c.get("image") or ""))]
    finite = spec.get("restartPolicy", "Always") in ("Never", "OnFailure")
    code = _exit_code(pod)
    stamp = ctx.stamp()
    if not ctx.due(start_at):
        status["phase"] = "Pending"
        status["containerStatuses"] = _container_statuses(
            pod, lambda c: {"waiting": {"reason": "ContainerCreating"}}, False
        )
        status["conditions"] = _pod_conditions(status, stamp, ready=False, started=False)
        return []
    if failing:
        return _pull_failure(ctx, pod, failing, start_at)
    end_at = start_at + _duration(pod, ctx.timings.job_duration)
    if finite and ctx.due(end_at):
        term = {
            "terminated": {
                "exitCode": code,
                "reason": "Error" if code else "Completed",
                "startedAt": rfc3339(start_at),
                "finishedAt": rfc3339(end_at),
            }
        }
        status["phase"] = "Failed" if code else "Succeeded"
        status["containerStatuses"] = _container_statuses(pod, lambda c: term, False)
        status["conditions"] = _pod_conditions(
            status, stamp, ready=False, started=False, completed=True
        )
        return []
    if code and not finite:
        return _crash_loop(ctx, pod, code, start_at)
    was_running = status.get("phase") == "Running"
    status["phase"] = "Running"
    status["containerStatuses"] = _container_statuses(
        pod, lambda c: {"running": {"startedAt": rfc3339(start_at)}}, True
    )
    status["conditions"] = _pod_conditions(status, stamp, ready=True, started=True)
    if was_running:
        return []
    events: list[Event] = []
    for c in containers:
        image, name = c.get("image"), c.get("name")
        events += [
            ("Normal", "Pulled", f'Container image "{image}" already present on machine'),
            ("Normal", "Created", f"Created container {name}"),
            ("Normal", "Started", f"Started container {name}"),
        ]
    return events


def run_pods(ctx: Ctx) -> None:
    for pod in ctx.candidates("", "Pod"):
        if not (pod.get("spec") or {}).get("nodeName") or not pod_active(pod):
            continue
        new = clone(pod)
        events = _run_one(ctx, new)
        if ctx.store.write(new):
            for type_, reason, message in events:
                ctx.event(new, type_, reason, message, KUBELET)


def _duration(pod: Obj, default: float) -> float:
    try:
        return float(_annotations(pod).get(ANNOTATION_DURATION, default))
    except ValueError:
        return default
