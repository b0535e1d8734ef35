"""What a WorkloadDeployment writes to its spokes: Work bodies, names, and the rollout plan.

Pure functions, so the rules are tested without a store:

- a Work is named `<deployment namespace>.<deployment>` in `spoke-<spoke>` (shortened with a
  hash past 253 characters), labelled with its deployment (no ownerReference can cross
  namespaces, so the labels are the way back), and carries the cleanup finalizer the agent
  removes once it has pruned what the Work applied;
- a hub Secret named in `spec.secretRefs` reaches the spoke as a copy in `spoke-<spoke>`
  named `<deployment>-<targetName>`, which the Work names; the manifests never hold it;
- the rollout plan says which spokes get the new revision now: all of them (`All`), or
  (`Progressive`) those already on it plus as many more as `maxConcurrency` leaves room for
  once the ones in flight are Available, in spoke-name order, and none while any spoke on
  the new revision has failed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from axle.api.spoke import WORK_FINALIZER, spoke_namespace
from axle.store.base import Obj

WD_LABEL = "axle.dev/workloaddeployment"
WD_NAMESPACE_LABEL = "axle.dev/workloaddeployment-namespace"
MAX_NAME = 253


def short_name(name: str, limit: int = MAX_NAME) -> str:
    """`name`, or its head plus a hash of the whole when it is longer than `limit`."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: limit - 11].rstrip('.-')}-{digest}"


def work_name(namespace: str, name: str) -> str:
    return short_name(f"{namespace}.{name}")


def secret_copy_name(name: str, target: str) -> str:
    return short_name(f"{name}-{target}")


def deployment_labels(namespace: str, name: str) -> dict[str, str]:
    # Label values are at most 63 characters; deployment names may be longer.
    return {WD_LABEL: short_name(name, 63), WD_NAMESPACE_LABEL: namespace}


def deployment_key_of(obj: Obj) -> str | None:
    """The `namespace/name` of the deployment a Work (or Secret copy) belongs to: the Work's
    `workloadDeploymentRef` (exact), else its labels (names past 63 characters are cut)."""
    ref = (obj.get("spec") or {}).get("workloadDeploymentRef") or {}
    if ref.get("name") and ref.get("namespace"):
        return f"{ref['namespace']}/{ref['name']}"
    lab = (obj.get("metadata") or {}).get("labels") or {}
    ns, name = lab.get(WD_NAMESPACE_LABEL), lab.get(WD_LABEL)
    return f"{ns}/{name}" if ns and name else None


def work_spoke(work: Obj) -> str:
    ns = str(work["metadata"].get("namespace") or "")
    return ns.removeprefix("spoke-")


def desired_work(
    api_version: str,
    wd: Obj,
    spoke: str,
    *,
    artifact: Mapping[str, Any],
    revision: int,
    priority_groups: Sequence[Mapping[str, Any]],
    outputs: Mapping[str, Any],
) -> Obj:
    m = wd["metadata"]
    ns, name = m["namespace"], m["name"]
    spec: dict[str, Any] = {
        "artifact": {"url": artifact["url"], "digest": artifact["digest"]},
        "workloadDeploymentRef": {"name": name, "namespace": ns},
        "revision": revision,
        "priorityGroups": [dict(g) for g in priority_groups],
        "outputs": dict(outputs),
        "deleteOption": {"propagationPolicy": "Foreground"},
    }
    refs = (wd.get("spec") or {}).get("secretRefs") or []
    if refs:
        spec["secretRefs"] = [
            {"name": secret_copy_name(name, r["targetName"]), "targetName": r["targetName"]}
            for r in refs
        ]
    return {
        "apiVersion": api_version,
        "kind": "Work",
        "metadata": {
            "name": work_name(ns, name),
            "namespace": spoke_namespace(spoke),
            "labels": deployment_labels(ns, name),
            "finalizers": [WORK_FINALIZER],
        },
        "spec": spec,
    }


def work_up_to_date(current: Obj, desired: Obj) -> bool:
    cm, dm = current.get("metadata") or {}, desired["metadata"]
    lab = cm.get("labels") or {}
    return (
        current.get("spec") == desired["spec"]
        and all(lab.get(k) == v for k, v in dm["labels"].items())
        and WORK_FINALIZER in (cm.get("finalizers") or [])
    )


def merged_work(current: Obj, desired: Obj) -> Obj:
    """`current` with the desired spec, labels and finalizer (others' labels kept)."""
    body = dict(current)
    meta = dict(current.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), **desired["metadata"]["labels"]}
    finalizers = list(meta.get("finalizers") or [])
    if WORK_FINALIZER not in finalizers:
        finalizers.append(WORK_FINALIZER)
    meta["finalizers"] = finalizers
    body["metadata"] = meta
    body["spec"] = desired["spec"]
    return body


def secret_copy(source: Obj, wd: Obj, spoke: str, target: str) -> Obj:
    m = wd["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_copy_name(m["name"], target),
            "namespace": spoke_namespace(spoke),
            "labels": deployment_labels(m["namespace"], m["name"]),
        },
        "type": source.get("type") or "Opaque",
        "data": dict(source.get("data") or {}),
    }


@dataclass(frozen=True)
class Rollout:
    """Which spokes to write now; `stopped` names the failed spoke that halted it."""

    write: list[str]
    waiting: list[str]
    stopped: str | None = None


def max_concurrency(strategy: Mapping[str, Any], total: int) -> int:
    raw = (strategy.get("progressive") or {}).get("maxConcurrency", 1)
    if isinstance(raw, str) and raw.endswith("%"):
        try:
            share = float(raw[:-1])
        except ValueError:
            return 1
        return max(1, math.ceil(total * share / 100))
    try:
        return max(1, int(raw))
    except (TypeError, ValueError):
        return 1


def plan_rollout(
    strategy: Mapping[str, Any] | None,
    spokes: Sequence[str],
    *,
    on_new: set[str],
    available: set[str],
    failed: set[str],
) -> Rollout:
    """The spokes to bring to the new revision now.

    `on_new`: spokes whose Work already names the new artifact; `available`/`failed`: those
    of them whose Work is Available at it or has failed there.
    """
    kind = (strategy or {}).get("type") or "All"
    if kind == "All":
        return Rollout(write=list(spokes), waiting=[])
    updated = [s for s in spokes if s in on_new]
    rest = [s for s in spokes if s not in on_new]
    broken = [s for s in updated if s in failed]
    if broken:
        return Rollout(write=updated, waiting=rest, stopped=broken[0])
    in_flight = [s for s in updated if s not in available]
    room = max(0, max_concurrency(strategy or {}, len(spokes)) - len(in_flight))
    return Rollout(write=updated + rest[:room], waiting=rest[room:])
