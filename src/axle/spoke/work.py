"""Applying one Work to the cluster and computing its status.

`WorkProcessor.sync(work)` is level-triggered and idempotent, so the agent calls it for a new
or changed Work, on a cluster change touching its objects, and periodically (drift):

1. get the manifests of `spec.artifact.digest` (cached by digest; pulled and verified once);
2. stamp each with the inventory label and revision annotation, group them by priority;
3. per group, in ascending priority: apply each object that is missing or drifted (the live
   object lost a field the agent applied), then wait (bounded by `group_wait`) until the
   group is healthy before the next one; a group still unhealthy at the bound stops this pass
   (the Work reports why and the agent tries again later), it never blocks the agent;
4. once every group is applied, prune what the previous revision applied and this one
   dropped (only objects still carrying this Work's inventory label);
5. compute `resourceStatus[]` and the `Applied` / `Available` conditions.

The inventory of applied objects is kept per Work in the state dir, so objects of a Work
deleted while the agent was down are still found and removed. An unchanged Work whose digest
is already applied and whose objects did not drift is neither pulled nor re-applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axle.api.meta import set_condition
from axle.errors import ApiError
from axle.kube.cluster import Cluster
from axle.spoke import health as h
from axle.spoke.artifacts import ArtifactCache, ArtifactError, Puller, write_private
from axle.spoke.manifests import (
    FIRST_KINDS,
    WORK_LABEL,
    ObjectKey,
    component_of,
    contains,
    desired_fields,
    group_by_priority,
    stamp,
    work_label_value,
)

log = logging.getLogger("axle.spoke.work")
Obj = dict[str, Any]

APPLIED = "Applied"
AVAILABLE = "Available"


@dataclass
class SyncResult:
    """What one pass found: the Work's new status and whether it has settled."""

    status: Obj
    settled: bool
    applied: int = 0
    pruned: int = 0


@dataclass
class _Pass:
    keys: list[ObjectKey] = field(default_factory=list)
    components: dict[ObjectKey, str | None] = field(default_factory=dict)
    health: dict[ObjectKey, h.Assessment] = field(default_factory=dict)
    applied: int = 0


class ApplyFailed(Exception):
    """The cluster refused one object; names it and carries the cluster's message."""

    def __init__(self, key: ObjectKey, message: str) -> None:
        super().__init__(f"{key.describe()}: {message}")
        self.key = key
        self.message = message


def work_id(work: Mapping[str, Any]) -> tuple[str, str]:
    meta = work.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class WorkProcessor:
    """Applies Works to one cluster; one instance per agent."""

    def __init__(
        self,
        cluster: Cluster,
        state_dir: Path,
        *,
        puller: Puller | None = None,
        group_wait: float = 60.0,
        poll_interval: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        field_manager: str = "axle",
    ) -> None:
        self.cluster = cluster
        self.state_dir = state_dir
        self.artifacts = ArtifactCache(state_dir / "artifacts", puller)
        self.group_wait = group_wait
        self.poll_interval = poll_interval
        self.sleep = sleep
        self.clock = clock
        self.field_manager = field_manager
        self._interrupted: Callable[[], bool] = lambda: False

    # ---- inventory ---------------------------------------------------------------------------

    def _inventory_path(self, namespace: str, name: str) -> Path:
        return self.state_dir / "inventory" / f"{namespace}.{name}.json"

    def inventory(self, namespace: str, name: str) -> tuple[list[ObjectKey], Obj]:
        """The objects last applied for a Work, and what was recorded with them."""
        try:
            data = json.loads(self._inventory_path(namespace, name).read_text())
        except (OSError, ValueError):
            return [], {}
        keys = [ObjectKey.from_list(k) for k in data.get("objects") or []]
        return keys, data

    def _save_inventory(self, work: Mapping[str, Any], keys: Sequence[ObjectKey]) -> None:
        ns, name = work_id(work)
        spec = work.get("spec") or {}
        record = {
            "objects": [k.to_list() for k in keys],
            "propagationPolicy": (spec.get("deleteOption") or {}).get("propagationPolicy")
            or "Foreground",
            "uid": (work.get("metadata") or {}).get("uid"),
        }
        text = json.dumps(record)
        path = self._inventory_path(ns, name)
        with contextlib.suppress(OSError):
            if path.read_text() == text:
                return  # unchanged: a resync pass does not touch the disk
        write_private(path, text)

    def known_works(self) -> list[tuple[str, str]]:
        """(namespace, name) of every Work this agent holds an inventory for."""
        folder = self.state_dir / "inventory"
        out = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            ns, _, name = path.stem.partition(".")
            out.append((ns, name))
        return out

    # ---- sync --------------------------------------------------------------------------------

    async def sync(
        self, work: Mapping[str, Any], interrupted: Callable[[], bool] | None = None
    ) -> SyncResult:
        """Bring the cluster in line with `work`; returns its new status (not yet written).

        `interrupted()` is asked while waiting for a group to become healthy: when it says so
        (the Work changed or was deleted meanwhile), the wait ends early and the pass stops.
        """
        self._interrupted = interrupted or (lambda: False)
        ns, name = work_id(work)
        spec = work.get("spec") or {}
        old_status: Obj = copy.deepcopy(dict(work.get("status") or {}))
        status: Obj = copy.deepcopy(old_status)
        status["observedGeneration"] = (work.get("metadata") or {}).get("generation")
        conditions: list[Obj] = status.setdefault("conditions", [])
        generation = status["observedGeneration"]
        artifact = spec.get("artifact") or {}
        url, digest = str(artifact.get("url") or ""), str(artifact.get("digest") or "")

        if not digest:
            set_condition(
                conditions,
                APPLIED,
                "False",
                "ArtifactPullFailed",
                f"spec.artifact.digest is not set: the agent applies {url} only pinned by digest",
                generation,
            )
            return SyncResult(status, settled=True)

        manifests = self.artifacts.cached(digest)
        if manifests is None and old_status.get("appliedDigest") == digest:
            # Applied before (by an earlier agent or state dir): only report health.
            return await self._report_only(work, status)
        if manifests is None:
            try:
                manifests = await self.artifacts.get(url, digest)
            except ArtifactError as exc:
                set_condition(
                    conditions,
                    APPLIED,
                    "False",
                    "ArtifactPullFailed",
                    f"cannot pull {url}@{digest}: {exc}",
                    generation,
                )
                _available_unknown(
                    conditions,
                    generation,
                    f"cannot pull {url}@{digest}: {exc}",
                    "ArtifactPullFailed",
                )
                return SyncResult(status, settled=False)

        revision = str(spec.get("revision") or digest)
        label = work_label_value(ns, name)
        groups = [
            [stamp(obj, label, revision) for obj in group]
            for group in group_by_priority(manifests, spec.get("priorityGroups"))
        ]
        run = _Pass()
        for group in groups:
            for obj in group:
                key = ObjectKey.of(obj)
                run.keys.append(key)
                run.components[key] = component_of(obj)
        old_keys, _ = self.inventory(ns, name)
        stopped_at: int | None = None
        for index, group in enumerate(groups):
            try:
                await self._apply_group(group, run)
            except ApplyFailed as exc:
                set_condition(
                    conditions,
                    APPLIED,
                    "False",
                    "ApplyFailed",
                    f"applying {exc.key.describe()} failed: {exc.message}",
                    generation,
                )
                # Remember what may exist on the cluster now, so a later prune finds it.
                self._save_inventory(work, _union(old_keys, run.keys))
                return self._finish(
                    status, run, generation, stopped_at=index, applied=False, settled=False
                )
            if index < len(groups) - 1 and not await self._wait_healthy(group, run):
                stopped_at = index + 1
                break
        if stopped_at is not None:
            self._save_inventory(work, _union(old_keys, run.keys))
            set_condition(
                conditions,
                APPLIED,
                "False",
                "WaitingForGroup",
                f"{stopped_at} of {len(groups)} priority groups applied; waiting for"
                f" {_first_unhealthy_text(run) or 'the earlier groups to become healthy'}",
                generation,
            )
            return self._finish(status, run, generation, stopped_at, applied=False, settled=False)

        pruned = await self._prune(ns, name, old_keys, set(run.keys))
        self._save_inventory(work, run.keys)
        status["appliedDigest"] = digest
        set_condition(
            conditions,
            APPLIED,
            "True",
            "Applied",
            f"{len(run.keys)} objects of {digest[:19]} applied",
            generation,
        )
        result = self._finish(status, run, generation, None, applied=True, settled=True)
        result.pruned = pruned
        return result

    def _finish(
        self,
        status: Obj,
        run: _Pass,
        generation: Any,
        stopped_at: int | None,
        *,
        applied: bool,
        settled: bool,
    ) -> SyncResult:
        rows: list[Obj] = []
        for key in run.keys:
            found = run.health.get(key) or h.Assessment(h.UNKNOWN, "not applied yet")
            row: Obj = {
                "kind": key.kind,
                "name": key.name,
                "health": found.health,
            }
            group, _, version = key.api_version.rpartition("/")
            if group:
                row["group"] = group
            row["version"] = version
            if key.namespace:
                row["namespace"] = key.namespace
            if run.components.get(key):
                row["component"] = run.components[key]
            if found.message:
                row["message"] = found.message
            rows.append(row)
        status["resourceStatus"] = rows
        conditions: list[Obj] = status["conditions"]
        unhealthy = [
            (k, run.health[k]) for k in run.keys if k in run.health and not run.health[k].healthy
        ]
        degraded = [(k, a) for k, a in unhealthy if a.health in (h.DEGRADED, h.MISSING)]
        if degraded:
            key, found = degraded[0]
            set_condition(
                conditions,
                AVAILABLE,
                "False",
                "Degraded",
                f"{key.describe()}: {found.message}",
                generation,
            )
            settled = False
        elif unhealthy:
            key, found = unhealthy[0]
            set_condition(
                conditions,
                AVAILABLE,
                "False",
                "Progressing",
                f"{key.describe()}: {found.message}",
                generation,
            )
            settled = False
        elif applied:
            set_condition(
                conditions,
                AVAILABLE,
                "True",
                "Available",
                f"all {len(run.keys)} objects are healthy",
                generation,
            )
        else:
            # Every applied object is healthy, but not everything is applied: say why.
            applied_cond = next((c for c in conditions if c.get("type") == APPLIED), {})
            _available_unknown(
                conditions,
                generation,
                str(applied_cond.get("message") or "not every object is applied yet"),
                str(applied_cond.get("reason") or "Progressing"),
            )
        return SyncResult(status, settled=settled and applied, applied=run.applied)

    async def _apply_group(self, group: Sequence[Obj], run: _Pass) -> None:
        for obj in group:
            key = ObjectKey.of(obj)
            live = await self.cluster.get(
                key.api_version, key.kind, key.namespace or None, key.name
            )
            if live is not None and contains(live, desired_fields(obj)):
                continue
            try:
                await self.cluster.apply(obj, field_manager=self.field_manager, force=True)
            except ApiError as exc:
                raise ApplyFailed(key, exc.message) from exc
            except (ValueError, TypeError, KeyError) as exc:  # a manifest the cluster refused
                raise ApplyFailed(key, str(exc)) from exc
            run.applied += 1
            log.info("applied %s (%s)", key.describe(), "drifted" if live else "created")
        await self._assess(group, run)

    async def _wait_healthy(self, group: Sequence[Obj], run: _Pass) -> bool:
        """Wait (bounded) until every object of the group is healthy; False if not."""
        deadline = self.clock() + self.group_wait
        while True:
            states = [run.health[ObjectKey.of(o)] for o in group]
            if all(s.healthy for s in states):
                return True
            if any(s.health == h.DEGRADED for s in states) or self.clock() >= deadline:
                return False
            if self._interrupted():
                return False
            await self.sleep(self.poll_interval)
            await self._assess(group, run)

    async def _assess(self, objs: Sequence[Obj], run: _Pass) -> None:
        for obj in objs:
            key = ObjectKey.of(obj)
            run.health[key] = await self.health_of(key)

    async def health_of(self, key: ObjectKey) -> h.Assessment:
        """The health of one object, with its (or its pods') Events when it is not healthy."""
        ns = key.namespace or None
        live = await self.cluster.get(key.api_version, key.kind, ns, key.name)
        if live is None or not h.needs_events(live):
            return h.assess(live)
        events = await self.cluster.events_for(live)
        pods: list[tuple[Obj, list[Obj]]] = []
        if key.kind in h.WORKLOAD_KINDS:
            selector = ((live.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            if selector:
                text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
                for pod in await self.cluster.list_objects("v1", "Pod", ns, text):
                    pod_events = await self.cluster.events_for(pod)
                    pods.append((pod, pod_events))
        return h.assess(live, events, pods)

    async def _report_only(self, work: Mapping[str, Any], status: Obj) -> SyncResult:
        """Health of what an earlier agent applied for the same digest (nothing pulled)."""
        run = _Pass()
        for row in status.get("resourceStatus") or []:
            api_version = "/".join(p for p in (row.get("group"), row.get("version")) if p)
            key = ObjectKey(
                api_version,
                str(row.get("kind")),
                str(row.get("namespace") or ""),
                str(row.get("name")),
            )
            run.keys.append(key)
            run.components[key] = row.get("component")
            run.health[key] = await self.health_of(key)
        if run.keys and not self.inventory(*work_id(work))[0]:
            self._save_inventory(work, run.keys)
        return self._finish(
            status, run, status["observedGeneration"], None, applied=True, settled=True
        )

    # ---- prune and delete --------------------------------------------------------------------

    async def _prune(
        self, ns: str, name: str, old: Sequence[ObjectKey], keep: set[ObjectKey]
    ) -> int:
        label = work_label_value(ns, name)
        gone = [k for k in old if k not in keep]
        return await self._delete_owned(label, gone)

    async def _delete_owned(self, label: str, keys: Sequence[ObjectKey]) -> int:
        # Reverse apply order, namespaces and CRDs last: they hold the rest.
        others = [k for k in keys if k.kind not in FIRST_KINDS]
        order = [*others[::-1], *(k for k in keys if k.kind in FIRST_KINDS)]
        count = 0
        for key in order:
            ns = key.namespace or None
            live = await self.cluster.get(key.api_version, key.kind, ns, key.name)
            labels = ((live or {}).get("metadata") or {}).get("labels") or {}
            if live is None or labels.get(WORK_LABEL) != label:
                continue  # gone already, or taken over by another Work: not ours to delete
            if await self.cluster.delete(key.api_version, key.kind, ns, key.name):
                count += 1
                log.info("deleted %s", key.describe())
        return count

    async def remove(self, namespace: str, name: str, work: Mapping[str, Any] | None = None) -> int:
        """The Work is gone: delete its objects (Foreground) or leave them (Orphan)."""
        keys, record = self.inventory(namespace, name)
        policy = record.get("propagationPolicy") or "Foreground"
        if work is not None:
            policy = ((work.get("spec") or {}).get("deleteOption") or {}).get(
                "propagationPolicy"
            ) or policy
            if not keys:
                for row in (work.get("status") or {}).get("resourceStatus") or []:
                    api_version = "/".join(p for p in (row.get("group"), row.get("version")) if p)
                    keys.append(
                        ObjectKey(
                            api_version,
                            str(row.get("kind")),
                            str(row.get("namespace") or ""),
                            str(row.get("name")),
                        )
                    )
        count = 0
        if policy != "Orphan":
            count = await self._delete_owned(work_label_value(namespace, name), keys)
        self._inventory_path(namespace, name).unlink(missing_ok=True)
        return count


def _union(a: Sequence[ObjectKey], b: Sequence[ObjectKey]) -> list[ObjectKey]:
    seen = dict.fromkeys([*b, *a])
    return list(seen)


def _first_unhealthy_text(run: _Pass) -> str | None:
    for key in run.keys:
        found = run.health.get(key)
        if found is not None and not found.healthy:
            return f"{key.describe()} ({found.health}: {found.message})"
    return None


def _available_unknown(
    conditions: list[Obj], generation: Any, why: str, reason: str = "Progressing"
) -> None:
    set_condition(conditions, AVAILABLE, "Unknown", reason, why, generation)
