"""Workload controllers: Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob.

Each follows its Kubernetes controller closely enough that health read from `status` means
what it means on a real cluster, with these simplifications (pods are created and deleted at
once, with no graceful termination):

* Deployment: a template change makes a new ReplicaSet (named by the template hash, as
  `pod-template-hash`) that gets all replicas at once; old ReplicaSets are scaled to zero when
  the new one's pods are all ready (`RollingUpdate`, a 100 % surge), or first (`Recreate`).
  Status counts and the `Available` / `Progressing` conditions use Kubernetes' reasons and
  messages; `Progressing` turns `False` with `ProgressDeadlineExceeded` after
  `progressDeadlineSeconds` without completing. Zero counters are left out, as the API does.
* ReplicaSet: keeps `replicas` active pods, replacing failed ones; removes surplus pods
  unscheduled first, then not ready, then newest.
* StatefulSet: pods `<name>-<ordinal>` with their claims from `volumeClaimTemplates`
  (`<template>-<name>-<ordinal>`, kept when the set goes, as the default retention policy
  does); `OrderedReady` creates a pod only when the lower ordinals are Running and Ready,
  `Parallel` all at once; an update replaces pods from the highest ordinal down, one at a
  time once the others are ready.
* DaemonSet: one pod per node whose taints the template tolerates and whose labels match its
  node selector and affinity, pinned there by node affinity on `metadata.name` (as the
  DaemonSet controller does) and bound by the scheduler; a template change replaces them.
* Job: keeps `parallelism` pods running until `completions` succeed (`Complete`, after
  `SuccessCriteriaMet`) or more than `backoffLimit` fail (`Failed` reason
  `BackoffLimitExceeded`, after `FailureTarget`); a failed pod is replaced at once (no
  exponential backoff).
* CronJob: at each pass, the latest schedule time (five-field cron, `spec.timeZone`) not yet
  run creates Job `<name>-<minutes since epoch>`; `concurrencyPolicy` Forbid/Replace and the
  history limits apply; `suspend` stops it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from axle.sim.cluster.kinds import Key, key_of
from axle.sim.cluster.objects import clone, parse_time
from axle.sim.cluster.runtime import (
    Ctx,
    is_true,
    omit_zero,
    owner_ref,
    pod_active,
    pod_ready,
    set_condition,
    template_hash,
)
from axle.sim.cluster.scheduler import untolerated_taint
from axle.sim.cluster.selectors import node_matches

Obj = dict[str, Any]
DEPLOYMENT_CONTROLLER = "deployment-controller"
RS_CONTROLLER = "replicaset-controller"
STS_CONTROLLER = "statefulset-controller"
DS_CONTROLLER = "daemonset-controller"
JOB_CONTROLLER = "job-controller"
CRONJOB_CONTROLLER = "cronjob-controller"


def _replicas(obj: Obj) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def new_pod(owner: Obj, template: Obj, name: str, labels: dict[str, str]) -> Obj:
    """A pod from `template`, owned by `owner`, not yet scheduled."""
    tmeta = template.get("metadata") or {}
    spec = clone(template.get("spec") or {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    meta: Obj = {
        "name": name,
        "namespace": owner["metadata"]["namespace"],
        "labels": {**(tmeta.get("labels") or {}), **labels},
        "ownerReferences": [owner_ref(owner)],
    }
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": spec,
        "status": {"phase": "Pending"},
    }


def _create(ctx: Ctx, obj: Obj, owner: Obj, controller: str) -> None:
    """Store a pod an owner made, with the owner's `SuccessfulCreate` event."""
    ctx.store.write(obj)
    kind, name = obj["kind"], obj["metadata"]["name"]
    if owner["kind"] == "StatefulSet":
        message = f"create {kind} {name} in StatefulSet {owner['metadata']['name']} successful"
    else:
        message = f"Created {kind.lower()}: {name}"
    ctx.event(owner, "Normal", "SuccessfulCreate", message, controller)


def _key(obj: Obj) -> Key:
    return key_of(obj)


def _delete(ctx: Ctx, obj: Obj) -> None:
    ctx.store.remove(_key(obj))


# ---- ReplicaSet ---------------------------------------------------------------------------


def replicasets(ctx: Ctx) -> None:
    for rs in ctx.candidates("apps", "ReplicaSet"):
        desired = _replicas(rs)
        pods = ctx.owned(rs, "", "Pod")
        for pod in pods:
            if not pod_active(pod):
                _delete(ctx, pod)
        active = [p for p in pods if pod_active(p)]
        # The pods as they are now: read again only when this pass created or deleted some.
        settled = len(active) == desired
        template = (rs.get("spec") or {}).get("template") or {}
        for _ in range(desired - len(active)):
            name = f"{rs['metadata']['name']}-{ctx.suffix()}"
            _create(ctx, new_pod(rs, template, name, {}), rs, RS_CONTROLLER)
        if len(active) > desired:

            def rank(p: Obj) -> tuple[int, int, str]:
                scheduled = 1 if (p.get("spec") or {}).get("nodeName") else 0
                return (
                    scheduled,
                    1 if pod_ready(p) else 0,
                    _neg(p["metadata"]["creationTimestamp"]),
                )

            for pod in sorted(active, key=rank)[: len(active) - desired]:
                _delete(ctx, pod)
                ctx.event(
                    rs,
                    "Normal",
                    "SuccessfulDelete",
                    f"Deleted pod: {pod['metadata']['name']}",
                    RS_CONTROLLER,
                )
        pods = active if settled else [p for p in ctx.owned(rs, "", "Pod") if pod_active(p)]
        ready = sum(1 for p in pods if pod_ready(p))
        new = clone(rs)
        new["status"] = omit_zero(
            {
                "replicas": len(pods),
                "fullyLabeledReplicas": len(pods),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": rs["metadata"].get("generation", 1),
            },
            "fullyLabeledReplicas",
            "readyReplicas",
            "availableReplicas",
        )
        ctx.store.write(new)


def _neg(stamp: str) -> str:
    # Newest first within a rank: invert the digits of an RFC 3339 stamp.
    return "".join(chr(ord("9") - ord(c) + ord("0")) if c.isdigit() else c for c in stamp)


# ---- Deployment ---------------------------------------------------------------------------


def _max_unavailable(d: Obj, replicas: int) -> int:
    strategy = (d.get("spec") or {}).get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return math.floor(replicas * int(value[:-1]) / 100)
    return int(value)


def deployments(ctx: Ctx) -> None:
    for d in ctx.candidates("apps", "Deployment"):
        spec = d.get("spec") or {}
        replicas = _replicas(d)
        template = spec.get("template") or {}
        h = template_hash(template)
        owned = ctx.owned(d, "apps", "ReplicaSet")
        new_rs = next(
            (r for r in owned if (r["metadata"].get("labels") or {}).get("pod-template-hash") == h),
            None,
        )
        olds = [r for r in owned if r is not new_rs]
        name = d["metadata"]["name"]
        if spec.get("paused"):
            continue
        revisions = [
            int(
                (r["metadata"].get("annotations") or {}).get(
                    "deployment.kubernetes.io/revision", "0"
                )
            )
            for r in owned
        ]
        if new_rs is None:
            tpl = clone(template)
            tpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = h
            selector = clone(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})["pod-template-hash"] = h
            rs = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{name}-{h}",
                    "namespace": d["metadata"]["namespace"],
                    "labels": dict(tpl["metadata"]["labels"]),
                    "annotations": {
                        "deployment.kubernetes.io/desired-replicas": str(replicas),
                        "deployment.kubernetes.io/max-replicas": str(replicas * 2),
                        "deployment.kubernetes.io/revision": str(max(revisions, default=0) + 1),
                    },
                    "ownerReferences": [owner_ref(d)],
                },
                "spec": {"replicas": 0, "selector": selector, "template": tpl},
            }
            ctx.store.mark(d, f"progress:{h}")
            ctx.store.write(rs)
            new_rs = ctx.store.get(_key(rs))
            assert new_rs is not None
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        old_pods = [p for r in olds for p in ctx.owned(r, "", "Pod") if pod_active(p)]
        new_pods = [p for p in ctx.owned(new_rs, "", "Pod") if pod_active(p)]
        want_new = 0 if recreate and old_pods else replicas
        new_ready = sum(1 for p in new_pods if pod_ready(p))
        scale_old_down = recreate or new_ready >= replicas
        for r in olds:
            if scale_old_down and _replicas(r) != 0:
                _scale(ctx, r, 0, d)
        if _replicas(new_rs) != want_new:
            _scale(ctx, new_rs, want_new, d)
        _deployment_status(ctx, d, new_rs, olds, replicas)


def _scale(ctx: Ctx, rs: Obj, to: int, d: Obj) -> None:
    new = clone(rs)
    before = _replicas(rs)
    new["spec"]["replicas"] = to
    ctx.store.write(new)
    verb = "up" if to > before else "down"
    msg = f"Scaled {verb} replica set {rs['metadata']['name']} to {to}"
    ctx.event(d, "Normal", "ScalingReplicaSet", msg, DEPLOYMENT_CONTROLLER)


def _deployment_status(ctx: Ctx, d: Obj, new_rs: Obj, olds: list[Obj], replicas: int) -> None:
    all_rs = [new_rs, *olds]
    new_pods = [p for p in ctx.owned(new_rs, "", "Pod") if pod_active(p)]
    pods = [*new_pods, *(p for r in olds for p in ctx.owned(r, "", "Pod") if pod_active(p))]
    ready = sum(1 for p in pods if pod_ready(p))
    desired_total = sum(_replicas(ctx.store.get(_key(r)) or r) for r in all_rs)
    rs_name = new_rs["metadata"]["name"]
    stamp = ctx.stamp()
    conds = (d.get("status") or {}).get("conditions") or []
    if ready >= replicas - _max_unavailable(d, replicas):
        conds = set_condition(
            conds,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            stamp,
            update_time=True,
        )
    else:
        conds = set_condition(
            conds,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            stamp,
            update_time=True,
        )
    h = (new_rs["metadata"].get("labels") or {}).get("pod-template-hash", "")
    new_ready = sum(1 for p in new_pods if pod_ready(p))
    complete = len(new_pods) == replicas and new_ready == replicas and len(pods) == replicas
    deadline = float(
        (d.get("spec") or {}).get("progressDeadlineSeconds", ctx.timings.progress_deadline_default)
    )
    started = ctx.store.mark(d, f"progress:{h}")
    prog = next((c for c in conds if c.get("type") == "Progressing"), {})
    # Once this ReplicaSet has completed, the rollout stays complete (a later crash is the
    # Available condition's business), until the next template makes a new ReplicaSet.
    done_before = prog.get("reason") == "NewReplicaSetAvailable" and (
        f'"{rs_name}"' in str(prog.get("message"))
    )
    if complete or done_before:
        conds = set_condition(
            conds,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{rs_name}" has successfully progressed.',
            stamp,
            update_time=True,
        )
    elif ctx.due(started + deadline):
        conds = set_condition(
            conds,
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            f'ReplicaSet "{rs_name}" has timed out progressing.',
            stamp,
            update_time=True,
        )
    else:
        conds = set_condition(
            conds,
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            f'ReplicaSet "{rs_name}" is progressing.',
            stamp,
            update_time=True,
        )
    order = {"Available": 0, "Progressing": 1}
    conds.sort(key=lambda c: order.get(c["type"], 9))
    status = omit_zero(
        {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": len(pods),
            "updatedReplicas": len(new_pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(desired_total - ready, 0),
            "conditions": conds,
        },
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
    )
    new = clone(d)
    new["status"] = status
    ctx.store.write(new)


# ---- StatefulSet --------------------------------------------------------------------------


def statefulsets(ctx: Ctx) -> None:
    for sts in ctx.candidates("apps", "StatefulSet"):
        spec = sts.get("spec") or {}
        name = sts["metadata"]["name"]
        namespace = sts["metadata"]["namespace"]
        replicas = _replicas(sts)
        template = spec.get("template") or {}
        revision = f"{name}-{template_hash(template)}"
        parallel = spec.get("podManagementPolicy") == "Parallel"
        pods = {p["metadata"]["name"]: p for p in ctx.owned(sts, "", "Pod")}
        for p in list(pods.values()):
            if not pod_active(p):
                _delete(ctx, p)
                del pods[p["metadata"]["name"]]
        for i in range(replicas):
            pod_name = f"{name}-{i}"
            for vct in spec.get("volumeClaimTemplates") or []:
                claim = f"{vct['metadata']['name']}-{pod_name}"
                if ctx.store.get(("", "PersistentVolumeClaim", namespace, claim)) is None:
                    pvc = {
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "metadata": {
                            "name": claim,
                            "namespace": namespace,
                            "labels": dict(((spec.get("selector") or {}).get("matchLabels")) or {}),
                        },
                        "spec": clone(vct.get("spec") or {}),
                        "status": {"phase": "Pending"},
                    }
                    ctx.store.write(pvc)
                    msg = f"create Claim {claim} Pod {pod_name} in StatefulSet {name} success"
                    ctx.event(sts, "Normal", "SuccessfulCreate", msg, STS_CONTROLLER)
            if pod_name in pods:
                continue
            lower = [pods.get(f"{name}-{j}") for j in range(i)]
            if not parallel and not all(p is not None and pod_ready(p) for p in lower):
                break
            labels = {
                "controller-revision-hash": revision,
                "statefulset.kubernetes.io/pod-name": pod_name,
                "apps.kubernetes.io/pod-index": str(i),
            }
            pod = new_pod(sts, template, pod_name, labels)
            pod["spec"]["hostname"] = pod_name
            if spec.get("serviceName"):
                pod["spec"]["subdomain"] = spec["serviceName"]
            volumes = pod["spec"].setdefault("volumes", [])
            for vct in spec.get("volumeClaimTemplates") or []:
                vname = vct["metadata"]["name"]
                volumes.append(
                    {"name": vname, "persistentVolumeClaim": {"claimName": f"{vname}-{pod_name}"}}
                )
            _create(ctx, pod, sts, STS_CONTROLLER)
            pods[pod_name] = ctx.store.get(_key(pod)) or pod
        ordinal = {n: int(n.rsplit("-", 1)[1]) for n in pods}
        for pod_name in sorted(pods, key=lambda n: -ordinal[n]):
            if ordinal[pod_name] >= replicas:
                _delete(ctx, pods.pop(pod_name))
                msg = f"delete Pod {pod_name} in StatefulSet {name} successful"
                ctx.event(sts, "Normal", "SuccessfulDelete", msg, STS_CONTROLLER)
                if not parallel:
                    break
        current = [p for p in pods.values() if pod_active(p)]
        outdated = [
            p
            for p in current
            if (p["metadata"].get("labels") or {}).get("controller-revision-hash") != revision
        ]
        if outdated and len(current) == replicas and all(pod_ready(p) for p in current):
            victim = max(outdated, key=lambda p: ordinal[p["metadata"]["name"]])
            _delete(ctx, victim)
            pods.pop(victim["metadata"]["name"])
            current = [p for p in pods.values() if pod_active(p)]
        updated = [
            p
            for p in current
            if (p["metadata"].get("labels") or {}).get("controller-revision-hash") == revision
        ]
        ready = sum(1 for p in current if pod_ready(p))
        prev = sts.get("status") or {}
        current_revision = prev.get("currentRevision") or revision
        if len(updated) == replicas:
            current_revision = revision
        status = omit_zero(
            {
                "observedGeneration": sts["metadata"].get("generation", 1),
                "replicas": len(current),
                "readyReplicas": ready,
                "currentReplicas": len(updated)
                if current_revision == revision
                else len(current) - len(updated),
                "updatedReplicas": len(updated),
                "availableReplicas": ready,
                "currentRevision": current_revision,
                "updateRevision": revision,
                "collisionCount": 0,
            },
            "readyReplicas",
            "currentReplicas",
            "updatedReplicas",
        )
        new = clone(sts)
        new["status"] = status
        ctx.store.write(new)


# ---- DaemonSet ----------------------------------------------------------------------------


def _node_affinity_to(node_name: str, affinity: Obj | None) -> Obj:
    """The pod affinity the DaemonSet controller sets: pinned to one node by name."""
    out = clone(affinity or {})
    out["nodeAffinity"] = {
        **(out.get("nodeAffinity") or {}),
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
            ]
        },
    }
    return out


def daemonsets(ctx: Ctx) -> None:
    # Which nodes a DaemonSet covers changes with the nodes: then every DaemonSet looks.
    every = ctx.touches(("", "Node"))
    sets = ctx.store.of_kind("apps", "DaemonSet") if every else ctx.candidates("apps", "DaemonSet")
    if not sets:
        return
    nodes = ctx.store.of_kind("", "Node")
    for ds in sets:
        spec = ds.get("spec") or {}
        template = spec.get("template") or {}
        revision = template_hash(template)
        probe = {"spec": template.get("spec") or {}}
        wanted = {
            n["metadata"]["name"]
            for n in nodes
            if untolerated_taint(probe, n) is None and node_matches(probe, n)
        }
        pods: dict[str, Obj] = {}
        for p in ctx.owned(ds, "", "Pod"):
            target = _daemon_node(p)
            stale = (p["metadata"].get("labels") or {}).get("controller-revision-hash") != revision
            keep = pod_active(p) and not stale and target in wanted and target not in pods
            if target is not None and keep:
                pods[target] = p
            else:
                _delete(ctx, p)
        for node_name in sorted(wanted - set(pods)):
            labels = {"controller-revision-hash": revision, "pod-template-generation": "1"}
            pod = new_pod(ds, template, f"{ds['metadata']['name']}-{ctx.suffix()}", labels)
            pod["spec"]["affinity"] = _node_affinity_to(node_name, pod["spec"].get("affinity"))
            _create(ctx, pod, ds, DS_CONTROLLER)
            pods[node_name] = ctx.store.get(_key(pod)) or pod
        scheduled = sum(1 for p in pods.values() if (p.get("spec") or {}).get("nodeName"))
        ready = sum(1 for p in pods.values() if pod_ready(p))
        new = clone(ds)
        new["status"] = omit_zero(
            {
                "observedGeneration": ds["metadata"].get("generation", 1),
                "desiredNumberScheduled": len(wanted),
                "currentNumberScheduled": scheduled,
                "updatedNumberScheduled": len(pods),
                "numberMisscheduled": 0,
                "numberReady": ready,
                "numberAvailable": ready,
                "numberUnavailable": len(wanted) - ready,
            },
            "updatedNumberScheduled",
            "numberAvailable",
            "numberUnavailable",
        )
        ctx.store.write(new)


def _daemon_node(pod: Obj) -> str | None:
    terms = (((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution", {}
    ).get("nodeSelectorTerms") or []
    for term in terms:
        for f in term.get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("values"):
                return str(f["values"][0])
    return None


# ---- Job ----------------------------------------------------------------------------------


def jobs(ctx: Ctx) -> None:
    for job in ctx.candidates("batch", "Job"):
        spec = job.get("spec") or {}
        if spec.get("suspend"):
            continue
        name = job["metadata"]["name"]
        uid = job["metadata"]["uid"]
        completions = int(spec.get("completions") or 1)
        parallelism = int(spec.get("parallelism", 1))
        backoff_limit = int(spec.get("backoffLimit", 6))
        pods = ctx.owned(job, "", "Pod")
        succeeded = sum(1 for p in pods if p.get("status", {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if p.get("status", {}).get("phase") == "Failed")
        active = [p for p in pods if pod_active(p)]
        finished = is_true(job, "Complete") or is_true(job, "Failed")
        new = clone(job)
        status = dict(new.get("status") or {})
        stamp = ctx.stamp()
        status.setdefault("startTime", stamp)
        conds = status.get("conditions") or []
        if not finished and failed > backoff_limit:
            for p in active:
                _delete(ctx, p)
            active = []
            msg = "Job has reached the specified backoff limit"
            conds = set_condition(
                conds, "FailureTarget", "True", "BackoffLimitExceeded", msg, stamp
            )
            conds = set_condition(conds, "Failed", "True", "BackoffLimitExceeded", msg, stamp)
            ctx.event(job, "Warning", "BackoffLimitExceeded", msg, JOB_CONTROLLER)
        elif not finished and succeeded >= completions:
            for p in active:
                _delete(ctx, p)
            active = []
            msg = "Reached expected number of succeeded pods"
            conds = set_condition(
                conds, "SuccessCriteriaMet", "True", "CompletionsReached", msg, stamp
            )
            conds = set_condition(conds, "Complete", "True", "CompletionsReached", msg, stamp)
            status["completionTime"] = stamp
            ctx.event(job, "Normal", "Completed", "Job completed", JOB_CONTROLLER)
        elif not finished:
            want = min(parallelism, completions - succeeded) - len(active)
            labels = {
                "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": name,
                "controller-uid": uid,
                "job-name": name,
            }
            template = spec.get("template") or {}
            for _ in range(max(want, 0)):
                pod = new_pod(job, template, f"{name}-{ctx.suffix()}", labels)
                _create(ctx, pod, job, JOB_CONTROLLER)
                active.append(pod)
        for c in conds:
            c.setdefault("lastProbeTime", c.get("lastTransitionTime"))
        status.update(
            {
                "active": len(active),
                "succeeded": succeeded,
                "failed": failed,
                "ready": sum(1 for p in active if pod_ready(p)),
                "terminating": 0,
                "uncountedTerminatedPods": {},
            }
        )
        if conds:
            status["conditions"] = conds
        new["status"] = omit_zero(status, "active", "succeeded", "failed")
        ctx.store.write(new)


def job_finished(job: Obj) -> str | None:
    if is_true(job, "Complete"):
        return "Complete"
    if is_true(job, "Failed"):
        return "Failed"
    return None


# ---- CronJob ------------------------------------------------------------------------------


def schedule_times(
    schedule: str, tz: str | None, after: datetime, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """The latest schedule time in (after, now] and the first one after now (None for
    none, or for a schedule that does not parse)."""
    try:
        zone = ZoneInfo(tz) if tz else UTC
        it = CronSim(schedule, after.astimezone(zone))
    except (CronSimError, ZoneInfoNotFoundError, ValueError):
        return None, None
    last = None
    for _ in range(100_000):
        t = next(it, None)
        if t is None or t > now:
            return last, t
        last = t
    return last, None


def cronjobs(ctx: Ctx) -> None:
    now = datetime.fromtimestamp(ctx.now(), UTC)
    for cj in ctx.candidates("batch", "CronJob"):
        spec = cj.get("spec") or {}
        name = cj["metadata"]["name"]
        status = dict(cj.get("status") or {})
        owned = sorted(
            ctx.owned(cj, "batch", "Job"), key=lambda j: j["metadata"]["creationTimestamp"]
        )
        active = [j for j in owned if job_finished(j) is None]
        since = datetime.fromtimestamp(
            parse_time(status.get("lastScheduleTime") or cj["metadata"]["creationTimestamp"]), UTC
        )
        due, upcoming = schedule_times(
            str(spec.get("schedule") or ""), spec.get("timeZone"), since, now
        )
        if upcoming is not None and not spec.get("suspend"):
            ctx.due(upcoming.timestamp())
        if not _valid(spec) and not ctx.store.has_mark(cj, "unparseable"):
            ctx.store.mark(cj, "unparseable")
            msg = f"unparseable schedule: {spec.get('schedule')!r}"
            ctx.event(cj, "Warning", "UnparseableSchedule", msg, CRONJOB_CONTROLLER)
        if due is not None and not spec.get("suspend"):
            policy = spec.get("concurrencyPolicy", "Allow")
            if policy == "Forbid" and active:
                due = None
            elif policy == "Replace":
                for j in active:
                    _delete(ctx, j)
                    ctx.event(
                        cj,
                        "Normal",
                        "SuccessfulDelete",
                        f"Deleted job {j['metadata']['name']}",
                        CRONJOB_CONTROLLER,
                    )
                active = []
        if due is not None and not spec.get("suspend"):
            jt = spec.get("jobTemplate") or {}
            jmeta = jt.get("metadata") or {}
            minutes = int(due.timestamp() // 60)
            job: Obj = {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {
                    "name": f"{name}-{minutes}",
                    "namespace": cj["metadata"]["namespace"],
                    "labels": dict(jmeta.get("labels") or {}),
                    "annotations": {
                        **(jmeta.get("annotations") or {}),
                        "batch.kubernetes.io/cronjob-scheduled-timestamp": due.astimezone(
                            UTC
                        ).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    },
                    "ownerReferences": [owner_ref(cj)],
                },
                "spec": clone(jt.get("spec") or {}),
            }
            if ctx.store.get(_key(job)) is None:
                ctx.store.write(job)
                ctx.event(
                    cj,
                    "Normal",
                    "SuccessfulCreate",
                    f"Created job {job['metadata']['name']}",
                    CRONJOB_CONTROLLER,
                )
                active.append(ctx.store.get(_key(job)) or job)
            status["lastScheduleTime"] = due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        owned = sorted(
            ctx.owned(cj, "batch", "Job"), key=lambda j: j["metadata"]["creationTimestamp"]
        )
        for verdict, limit_key, default in (
            ("Complete", "successfulJobsHistoryLimit", 3),
            ("Failed", "failedJobsHistoryLimit", 1),
        ):
            done = [j for j in owned if job_finished(j) == verdict]
            limit = int(spec.get(limit_key, default))
            for j in done[: max(len(done) - limit, 0)]:
                _delete(ctx, j)
                ctx.event(
                    cj,
                    "Normal",
                    "SuccessfulDelete",
                    f"Deleted job {j['metadata']['name']}",
                    CRONJOB_CONTROLLER,
                )
        owned = [j for j in ctx.owned(cj, "batch", "Job")]
        active = [j for j in owned if job_finished(j) is None]
        if active:
            status["active"] = [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": j["metadata"]["name"],
                    "namespace": j["metadata"]["namespace"],
                    "uid": j["metadata"]["uid"],
                }
                for j in sorted(active, key=lambda j: j["metadata"]["name"])
            ]
        else:
            status.pop("active", None)
        successes = [
            (j.get("status") or {}).get("completionTime")
            for j in owned
            if job_finished(j) == "Complete"
        ]
        if successes:
            status["lastSuccessfulTime"] = max(s for s in successes if s)
        new = clone(cj)
        new["status"] = status
        ctx.store.write(new)


def _valid(spec: Obj) -> bool:
    try:
        zone = ZoneInfo(spec["timeZone"]) if spec.get("timeZone") else UTC
        CronSim(str(spec.get("schedule")), datetime(2000, 1, 1, tzinfo=zone))
    except (CronSimError, ValueError, ZoneInfoNotFoundError):
        return False
    return True
