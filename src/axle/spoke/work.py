"""Applying one Work to the cluster and computing its status.

`WorkProcessor.sync(work)` is level-triggered and idempotent, so the agent calls it for a new
or changed Work, on a cluster change touching its objects, and periodically (drift):

1. get the manifests of `spec.artifact.digest` (cached by digest; pulled and verified once);
   a failed pull is `Applied=False ArtifactPullFailed` ("artifact pull failed: <why>") and
   the agent tries again with backoff;
2. create the namespaces the objects live in when missing (`namespaces.py`: an agent-created
   namespace goes when the last Work using it goes), then copy each `spec.secretRefs` Secret
   from the hub onto the cluster (`Applied=False SecretMissing` while one is missing);
3. per priority group, in ascending priority: resolve the group's `{{ spoke "..." }}` macros
   from the outputs read so far (a macro whose output is not available yet stops the pass:
   "waiting for output vllm.service"; nothing with an unresolved macro is ever applied),
   stamp each object with the inventory label and revision annotation, apply each object that
   is missing or drifted (an object another Work of this agent still holds is not applied:
   the pass stops with `Applied=False OwnershipConflict` naming that Work), then wait
   (bounded by `group_wait`) until the group is healthy and read the declared outputs of
   its components (`outputs.py`); a group still unhealthy at the bound stops this pass (the
   Work says why and the agent tries again later);
4. once every group is applied, prune what the previous revision applied and this one
   dropped (only objects still carrying this Work's inventory label);
5. compute `resourceStatus[]` (health, message, ready/desired), `outputs`, `endpoints` and
   the `Applied` / `Available` conditions.

Every pass re-reads the outputs and re-resolves the macros, so a changed output (a new
load-balancer address) re-applies the later groups that use it through the drift check, and a
pass interrupted anywhere (the agent killed between groups) resumes where the cluster is: what
is applied and unchanged is not applied again. The inventory of applied objects is kept per
Work in the state dir and saved after every group, so objects of a Work deleted while the
agent was down are still found and removed. An unchanged Work whose digest is already applied
and whose objects did not drift is neither pulled nor re-applied.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from axle.api.meta import set_condition
from axle.errors import ApiError, Forbidden, NotFound
from axle.kube.cluster import Cluster
from axle.render.macros import MacroError, find_macros, resolve_spoke
from axle.spoke import health as h
from axle.spoke import outputs as out
from axle.spoke.artifacts import ArtifactCache, ArtifactError, Puller
from axle.spoke.files import write_file
from axle.spoke.manifests import (
    FIRST_KINDS,
    WORK_LABEL,
    WORKLOAD_LABEL,
    ObjectKey,
    clone,
    component_of,
    contains,
    desired_fields,
    group_by_priority,
    stamp,
    work_label_value,
)
from axle.spoke.namespaces import NamespaceBook
from axle.spoke.scheduling import unscheduled_message

log = logging.getLogger("axle.spoke.work")
Obj = dict[str, Any]
# Reads a Secret of the Work's hub namespace by name (raises NotFound / Forbidden).
SecretSource = Callable[[str], Awaitable[Obj]]

APPLIED = "Applied"
AVAILABLE = "Available"


@dataclass
class SyncResult:
    """What one pass found: the Work's new status and whether it has settled."""

    status: Obj
    settled: bool
    applied: int = 0
    pruned: int = 0
    # (group, kind, namespace, name) -> resourceVersion of each object as the pass last read
    # it: the agent ignores cluster changes the pass has already seen (its own applies).
    observed: dict[tuple[str, str, str, str], str] = field(default_factory=dict)


@dataclass
class _Pass:
    keys: list[ObjectKey] = field(default_factory=list)
    components: dict[ObjectKey, str | None] = field(default_factory=dict)
    health: dict[ObjectKey, h.Assessment] = field(default_factory=dict)
    live: dict[ObjectKey, Obj | None] = field(default_factory=dict)
    touched: list[ObjectKey] = field(default_factory=list)  # applied or checked this pass
    namespaces: set[str] = field(default_factory=set)
    def_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    obj_outputs: dict[str, Any] = field(default_factory=dict)
    output_errors: dict[str, str] = field(default_factory=dict)
    declares_outputs: bool = False
    applied: int = 0


class ApplyFailed(Exception):
    """The cluster refused one object; names it and carries the cluster's message."""

    def __init__(self, key: ObjectKey, message: str) -> None:
        super().__init__(f"{key.describe()}: {message}")
        self.key = key
        self.message = message


class OwnershipConflict(Exception):
    """The object is already owned by another Work of this agent; the message says whose."""

    def __init__(self, key: ObjectKey, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


class SecretMissing(Exception):
    """A Secret the Work references cannot be read from the hub; the message says which."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
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
        artifacts: ArtifactCache | None = None,
        secret_source: SecretSource | None = None,
        group_wait: float = 60.0,
        poll_interval: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        field_manager: str = "axle",
    ) -> None:
        self.cluster = cluster
        self.state_dir = state_dir
        # A host process shares one cache between its agents (digests name the same content).
        self.artifacts = artifacts or ArtifactCache(state_dir / "artifacts", puller)
        self.secret_source = secret_source
        self.namespaces = NamespaceBook(cluster, state_dir / "namespaces.json")
        self.group_wait = group_wait
        self.poll_interval = poll_interval
        self.sleep = sleep
        self.clock = clock
        self.field_manager = field_manager
        self._interrupted: Callable[[], bool] = lambda: False
        # Inventory files as last read or written (this processor is their only writer), and
        # the names of those on disk, listed once: most Works a pass meets for the first time
        # have none yet, and asking the disk for a missing file costs a failed open each time.
        self._inventories: dict[Path, str] = {}
        self._on_disk: set[str] | None = None
        self._pause: Callable[[float], Awaitable[None]] = sleep

    # ---- inventory ---------------------------------------------------------------------------

    def _inventory_path(self, namespace: str, name: str) -> Path:
        return self.state_dir / "inventory" / f"{namespace}.{name}.json"

    def _inventory_files(self) -> set[str]:
        """Names of the inventory files on disk (listed on first use, then kept up to date)."""
        if self._on_disk is None:
            try:
                self._on_disk = set(os.listdir(self.state_dir / "inventory"))
            except OSError:
                self._on_disk = set()
        return self._on_disk

    def _read_inventory(self, path: Path) -> str | None:
        text = self._inventories.get(path)
        if text is None and path.name in self._inventory_files():
            try:
                text = path.read_text()
            except OSError:
                return None
            self._inventories[path] = text
        return text

    def inventory(self, namespace: str, name: str) -> tuple[list[ObjectKey], Obj]:
        """The objects last applied for a Work, and what was recorded with them."""
        text = self._read_inventory(self._inventory_path(namespace, name))
        if text is None:
            return [], {}
        try:
            data = json.loads(text)
        except ValueError:
            return [], {}
        keys = [ObjectKey.from_list(k) for k in data.get("objects") or []]
        return keys, data

    async def _save_inventory(self, work: Mapping[str, Any], keys: Sequence[ObjectKey]) -> None:
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
        if self._read_inventory(path) == text:
            return  # unchanged: a resync pass does not touch the disk
        # Off the loop (`files.write_file`); the pass waits for it: the record precedes the
        # apply.
        await write_file(path, text)
        self._inventories[path] = text
        self._inventory_files().add(path.name)

    def _forget_inventory(self, namespace: str, name: str) -> None:
        path = self._inventory_path(namespace, name)
        self._inventories.pop(path, None)
        self._inventory_files().discard(path.name)
        path.unlink(missing_ok=True)

    def known_works(self) -> list[tuple[str, str]]:
        """(namespace, name) of every Work this agent holds an inventory for."""
        found = []
        for file in sorted(self._inventory_files()):
            if file.endswith(".json") and not file.startswith("."):
                ns, _, name = file.removesuffix(".json").partition(".")
                found.append((ns, name))
        return found

    # ---- sync --------------------------------------------------------------------------------

    async def sync(
        self,
        work: Mapping[str, Any],
        interrupted: Callable[[], bool] | None = None,
        pause: Callable[[float], Awaitable[None]] | None = None,
        report: Callable[[SyncResult], Awaitable[None]] | None = None,
    ) -> SyncResult:
        """Bring the cluster in line with `work`; returns its new status (not yet written).

        `interrupted()` is asked while waiting for a group to become healthy: when it says so
        (the Work changed or was deleted meanwhile), the wait ends early and the pass stops.
        `pause(seconds)` is how that wait sleeps between looks (default: `sleep`); the agent
        passes one that also returns when one of the Work's objects changes, so a wait costs
        nothing while nothing happens and ends as soon as something does. `report(result)`
        receives an interim status while the pass waits for a group (so the hub hears "0/1
        pods scheduled: ..." at once, not when the wait ends); the final one is returned.
        """
        self._interrupted = interrupted or (lambda: False)
        self._pause = pause or self.sleep
        ns, name = work_id(work)
        spec = work.get("spec") or {}
        old_status: Obj = clone(dict(work.get("status") or {}))
        status: Obj = clone(old_status)
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
                message = f"artifact pull failed: {exc}"
                log.warning("Work %s/%s: %s", ns, name, message)
                set_condition(
                    conditions, APPLIED, "False", "ArtifactPullFailed", message, generation
                )
                _available_unknown(conditions, generation, message, "ArtifactPullFailed")
                return SyncResult(status, settled=False)

        revision = str(spec.get("revision") or digest)
        label = work_label_value(ns, name)
        # Namespaces go through the namespace book (see namespaces.py), not the inventory.
        groups = group_by_priority(
            [m for m in manifests if not _is_namespace(m)], spec.get("priorityGroups")
        )
        declared = spec.get("outputs") or {}
        def_declared: Mapping[str, Mapping[str, Any]] = declared.get("definitionOutputs") or {}
        obj_declared: Mapping[str, Any] = declared.get("objectOutputs") or {}
        run = _Pass(declares_outputs=bool(def_declared or obj_declared))
        for group in groups:
            for obj in group:
                key = ObjectKey.of(obj)
                run.keys.append(key)
                run.components[key] = component_of(obj)
        old_keys, _ = self.inventory(ns, name)
        # Recorded before anything is applied: a pass killed midway still finds its objects
        # on the next start (keys not applied yet cost nothing to look for).
        saved = _union(old_keys, run.keys)
        await self._save_inventory(work, saved)

        async def fail(reason: str, message: str, at: int) -> SyncResult:
            set_condition(conditions, APPLIED, "False", reason, message, generation)
            # Remember what may exist on the cluster now, so a later prune finds it.
            await self._save_inventory(work, _union(saved, run.touched))
            return self._finish(status, run, generation, at, applied=False, settled=False)

        try:
            await self._prepare(work, manifests, label, revision, run)
        except SecretMissing as exc:
            return await fail("SecretMissing", exc.message, 0)
        except ApplyFailed as exc:
            return await fail(
                "ApplyFailed", f"applying {exc.key.describe()} failed: {exc.message}", 0
            )
        except OwnershipConflict as exc:
            return await fail("OwnershipConflict", exc.message, 0)
        stopped: tuple[int, str, str] | None = None
        for index, raw_group in enumerate(groups):
            last = index == len(groups) - 1
            await self._read_object_outputs(obj_declared, run)
            try:
                # Most groups hold no macro at all: one scan of the bytes spares the parse.
                plain = b"{{" not in orjson.dumps(raw_group)
                missing = (
                    None if plain else _missing_output(raw_group, def_declared, obj_declared, run)
                )
                if missing is not None:
                    why = run.output_errors.get(missing)
                    stopped = (
                        index,
                        "WaitingForOutput",
                        f"{index} of {len(groups)} priority groups applied; waiting for output"
                        f" {missing}" + (f" ({why})" if why else ""),
                    )
                    break
                resolved = (
                    raw_group
                    if plain
                    else resolve_spoke(
                        raw_group,
                        definition_outputs=run.def_outputs,
                        object_outputs=run.obj_outputs,
                    )
                )
            except MacroError as exc:
                return await fail(
                    "ApplyFailed", f"resolving spoke macros failed: {exc.message}", index
                )
            group = [stamp(obj, label, revision) for obj in resolved]
            _rekey(run, raw_group, group)
            try:
                await self._apply_group(group, run)
            except ApplyFailed as exc:
                return await fail(
                    "ApplyFailed", f"applying {exc.key.describe()} failed: {exc.message}", index
                )
            except OwnershipConflict as exc:
                return await fail("OwnershipConflict", exc.message, index)
            if not set(run.touched) <= set(saved):  # a secret copy or a name with a macro
                saved = _union(saved, run.touched)
                await self._save_inventory(work, saved)
            if last:
                healthy = True
            else:

                async def interim(at: int = index) -> None:
                    if report is None:
                        return
                    draft: Obj = clone(status)
                    set_condition(
                        draft["conditions"],
                        APPLIED,
                        "False",
                        "WaitingForGroup",
                        f"{at + 1} of {len(groups)} priority groups applied; waiting for"
                        f" {_first_unhealthy_text(run) or 'the group to become healthy'}",
                        generation,
                    )
                    await report(
                        self._finish(draft, run, generation, at + 1, applied=False, settled=False)
                    )

                healthy = await self._wait_healthy(group, run, interim)
            self._read_definition_outputs(group, def_declared, run)
            if not healthy:
                stopped = (
                    index + 1,
                    "WaitingForGroup",
                    f"{index + 1} of {len(groups)} priority groups applied; waiting for"
                    f" {_first_unhealthy_text(run) or 'the earlier groups to become healthy'}",
                )
                break
        if stopped is not None:
            at, reason, message = stopped
            return await fail(reason, message, at)

        pruned = await self._prune(ns, name, old_keys, set(run.keys), run.namespaces)
        await self._save_inventory(work, run.keys)
        await self.namespaces.release(label, keep=run.namespaces)
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

    # ---- namespaces and secrets --------------------------------------------------------------

    async def _prepare(
        self,
        work: Mapping[str, Any],
        manifests: Sequence[Obj],
        label: str,
        revision: str,
        run: _Pass,
    ) -> None:
        """Create missing namespaces, then copy the Work's Secrets onto the cluster."""
        ns, _ = work_id(work)
        refs = (work.get("spec") or {}).get("secretRefs") or []
        default_ns = _objects_namespace(manifests)
        declared = {
            str((o.get("metadata") or {}).get("name")): o for o in manifests if _is_namespace(o)
        }
        wanted: dict[str, None] = dict.fromkeys(declared)
        for obj in manifests:
            namespace = (obj.get("metadata") or {}).get("namespace")
            if namespace and not _is_namespace(obj):
                wanted[str(namespace)] = None
        for ref in refs:
            wanted[str(ref.get("targetNamespace") or default_ns)] = None
        for namespace in wanted:
            run.namespaces.add(namespace)
            try:
                if await self.namespaces.ensure(namespace, label, declared.get(namespace)):
                    run.applied += 1
            except ApiError as exc:
                key = ObjectKey("v1", "Namespace", "", namespace)
                raise ApplyFailed(key, exc.message) from exc
        secrets: list[Obj] = []
        for ref in refs:
            target_ns = str(ref.get("targetNamespace") or default_ns)
            source_name, target = str(ref.get("name")), str(ref.get("targetName"))
            where = f"(copied to the cluster as Secret {target_ns}/{target})"
            if self.secret_source is None:
                raise SecretMissing(f"secret {source_name!r} {where}: this agent reads no hub")
            try:
                source = await self.secret_source(source_name)
            except NotFound:
                raise SecretMissing(
                    f"secret {source_name!r} not found in the hub namespace {ns} {where}"
                ) from None
            except Forbidden as exc:
                raise SecretMissing(
                    f"secret {source_name!r} in the hub namespace {ns} cannot be read by this"
                    f" spoke {where}: {exc.message}"
                ) from None
            secrets.append(stamp(_secret_copy(source, target, target_ns), label, revision))
        # Listed first: they are applied first, and a reader of the status sees them so.
        run.keys[:0] = [
            k for k in dict.fromkeys(ObjectKey.of(s) for s in secrets) if k not in run.keys
        ]
        if secrets:
            await self._apply_group(secrets, run)

    # ---- outputs ----------------------------------------------------------------------------

    async def _read_object_outputs(self, declared: Mapping[str, Any], run: _Pass) -> None:
        """Read the object outputs not read yet in this pass (any object on the cluster)."""
        for oname, ref in declared.items():
            if oname in run.obj_outputs or not isinstance(ref, Mapping):
                continue
            live = await self.cluster.get(
                str(ref.get("apiVersion")),
                str(ref.get("kind")),
                str(ref.get("namespace") or "") or None,
                str(ref.get("name")),
            )
            value = self._read(live, ref, oname, run)
            if value is not None:
                run.obj_outputs[oname] = value

    def _read_definition_outputs(
        self, group: Sequence[Obj], declared: Mapping[str, Mapping[str, Any]], run: _Pass
    ) -> None:
        """Read the declared outputs of the components of `group` from their live objects."""
        components = dict.fromkeys(c for c in (component_of(o) for o in group) if c)
        for component in components:
            for oname, ref in (declared.get(component) or {}).items():
                if not isinstance(ref, Mapping):
                    continue
                live: Obj | None = None
                for obj in group:
                    if out.matches_ref(obj, component, ref):
                        live = run.live.get(ObjectKey.of(obj))
                        break
                value = self._read(live, ref, out.output_name(component, oname), run)
                if value is not None:
                    run.def_outputs.setdefault(component, {})[oname] = value

    @staticmethod
    def _read(live: Obj | None, ref: Mapping[str, Any], what: str, run: _Pass) -> Any:
        if live is None:
            return None
        try:
            return out.read_path(live, str(ref.get("path") or ""))
        except out.PathError as exc:
            run.output_errors[what] = str(exc)
            return None

    # ---- status ------------------------------------------------------------------------------

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
            counts = h.replica_counts(run.live.get(key)) if key in run.live else None
            if counts is not None:
                row["ready"], row["desired"] = counts
            rows.append(row)
        status["resourceStatus"] = rows
        observed = {
            (k.api_version.rpartition("/")[0], k.kind, k.namespace, k.name): str(rv)
            for k, live in run.live.items()
            if live is not None and (rv := (live.get("metadata") or {}).get("resourceVersion"))
        }
        status["endpoints"] = out.endpoints(
            (run.live.get(k), run.components.get(k)) for k in run.keys if k in run.live
        )
        if run.declares_outputs:
            status["outputs"] = {"def": run.def_outputs, "obj": run.obj_outputs}
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
        return SyncResult(
            status, settled=settled and applied, applied=run.applied, observed=observed
        )

    async def _apply_group(self, group: Sequence[Obj], run: _Pass) -> None:
        for obj in group:
            key = ObjectKey.of(obj)
            live = await self.cluster.get(
                key.api_version, key.kind, key.namespace or None, key.name
            )
            if live is not None:
                self._check_owner(key, live, obj)
            run.touched.append(key)
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

    def _check_owner(self, key: ObjectKey, live: Mapping[str, Any], obj: Mapping[str, Any]) -> None:
        """Raise OwnershipConflict when `live` belongs to another Work this agent still holds.

        Two Works rendering the same object (two workloads of one bundle in one namespace)
        would otherwise re-label it on every pass and take it from each other forever, both
        reporting healthy. As in Argo CD and KubeVela the first owner keeps it and the second
        is told why. "Still holds" means the other Work's inventory lists the object: the
        label of a Work removed (Orphan) or that dropped the object is a leftover, and the
        object is adopted.
        """
        theirs = ((live.get("metadata") or {}).get("labels") or {}).get(WORK_LABEL)
        ours = ((obj.get("metadata") or {}).get("labels") or {}).get(WORK_LABEL)
        if not theirs or theirs == ours:
            return
        for other_ns, other_name in self.known_works():
            if work_label_value(other_ns, other_name) != theirs:
                continue
            if key not in self.inventory(other_ns, other_name)[0]:
                continue
            workload = ((live.get("metadata") or {}).get("labels") or {}).get(WORKLOAD_LABEL)
            whose = f" (workload {workload})" if workload else ""
            raise OwnershipConflict(
                key,
                f"{key.describe()} belongs to Work {other_ns}/{other_name}{whose}; rename the"
                " component or deploy to another namespace",
            )

    async def _wait_healthy(
        self,
        group: Sequence[Obj],
        run: _Pass,
        interim: Callable[[], Awaitable[None]] | None = None,
    ) -> bool:
        """Wait (bounded) until every object of the group is healthy; False if not.

        `interim()` is called when the wait begins and whenever the reason for it changes."""
        deadline = self.clock() + self.group_wait
        said: str | None = None
        # Looks grow apart (up to 8x): the agent's pause ends early on any change anyway,
        # so a long wait for the scheduler costs little.
        delay = self.poll_interval
        while True:
            states = [run.health[ObjectKey.of(o)] for o in group]
            if all(s.healthy for s in states):
                return True
            if any(s.health == h.DEGRADED for s in states) or self.clock() >= deadline:
                return False
            if self._interrupted():
                return False
            why = _first_unhealthy_text(run)
            if interim is not None and why != said:
                said = why
                await interim()
            await self._pause(delay)
            delay = min(delay * 2, self.poll_interval * 8)
            await self._assess(group, run)

    async def _assess(self, objs: Sequence[Obj], run: _Pass) -> None:
        for obj in objs:
            key = ObjectKey.of(obj)
            run.health[key], run.live[key] = await self._observe(key)

    async def health_of(self, key: ObjectKey) -> h.Assessment:
        """The health of one object, with its (or its pods') Events when it is not healthy."""
        return (await self._observe(key))[0]

    async def _observe(self, key: ObjectKey) -> tuple[h.Assessment, Obj | None]:
        """The object's health and the live object it was read from."""
        ns = key.namespace or None
        live = await self.cluster.get(key.api_version, key.kind, ns, key.name)
        if live is None or not h.needs_events(live):
            return h.assess(live), live
        events = await self.cluster.events_for(live)
        pods: list[tuple[Obj, list[Obj]]] = []
        if key.kind in h.WORKLOAD_KINDS:
            selector = ((live.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            if selector:
                text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
                for pod in await self.cluster.list_objects("v1", "Pod", ns, text):
                    pod_events = await self.cluster.events_for(pod)
                    pods.append((pod, pod_events))
        found = h.assess(live, events, pods)
        if found.health == h.PROGRESSING and pods:
            # Pods waiting for the scheduler: say why in one line, with the numbers.
            pending = await unscheduled_message(self.cluster, pods)
            if pending is not None:
                found = h.Assessment(h.PROGRESSING, pending)
        return found, live

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
            run.health[key], run.live[key] = await self._observe(key)
        if run.keys and not self.inventory(*work_id(work))[0]:
            await self._save_inventory(work, run.keys)
        return self._finish(
            status, run, status["observedGeneration"], None, applied=True, settled=True
        )

    # ---- prune and delete --------------------------------------------------------------------

    async def _prune(
        self,
        ns: str,
        name: str,
        old: Sequence[ObjectKey],
        keep: set[ObjectKey],
        namespaces: AbstractSet[str] = frozenset(),
    ) -> int:
        label = work_label_value(ns, name)
        # An older inventory may list a Namespace the Work still uses: the book has it now.
        gone = [
            k for k in old if k not in keep and not (k.kind == "Namespace" and k.name in namespaces)
        ]
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
        label = work_label_value(namespace, name)
        if policy != "Orphan":
            count = await self._delete_owned(label, keys)
            # Namespaces the agent created go with the last Work that used them.
            await self.namespaces.release(label, keep=set())
        else:
            await self.namespaces.forget(label)
        self._forget_inventory(namespace, name)
        return count


def _union(a: Sequence[ObjectKey], b: Sequence[ObjectKey]) -> list[ObjectKey]:
    seen = dict.fromkeys([*b, *a])
    return list(seen)


def _rekey(run: _Pass, raw: Sequence[Obj], resolved: Sequence[Obj]) -> None:
    """A macro in a name changes the object's key: the pass follows it."""
    for before, after in zip(raw, resolved, strict=True):
        old, new = ObjectKey.of(before), ObjectKey.of(after)
        if old != new and old in run.keys:
            run.keys[run.keys.index(old)] = new
            run.components[new] = run.components.pop(old, None)


def _missing_output(
    group: Sequence[Obj],
    def_declared: Mapping[str, Mapping[str, Any]],
    obj_declared: Mapping[str, Any],
    run: _Pass,
) -> str | None:
    """The first output a spoke macro of `group` names that is declared but not read yet.

    A macro naming an output the Work does not declare at all raises MacroError naming the
    object and field: waiting for it would wait forever.
    """
    for obj in group:
        where = ObjectKey.of(obj).describe()
        for ref in find_macros(obj):
            macro = ref.macro
            if macro.kind != "spoke":
                continue
            if macro.namespace == "def":
                component, output = macro.names[0], ".".join(macro.names[1:])
                name = out.output_name(component, output)
                if output not in (def_declared.get(component) or {}):
                    raise MacroError(
                        f"{where}: {macro.path!r} names output {name}, which the Work does"
                        " not declare",
                        field=ref.field,
                        position=ref.position,
                    )
                if output not in run.def_outputs.get(component, {}):
                    return name
            else:
                if macro.names[0] not in obj_declared:
                    raise MacroError(
                        f"{where}: {macro.path!r} names object output {macro.names[0]},"
                        " which the Work does not declare",
                        field=ref.field,
                        position=ref.position,
                    )
                if macro.names[0] not in run.obj_outputs:
                    return macro.names[0]
    return None


def _is_namespace(obj: Mapping[str, Any]) -> bool:
    return obj.get("kind") == "Namespace" and obj.get("apiVersion") == "v1"


def _objects_namespace(manifests: Sequence[Obj]) -> str:
    """The namespace most of the Work's objects live in (`default` when none has one)."""
    found = Counter(
        str((o.get("metadata") or {}).get("namespace"))
        for o in manifests
        if (o.get("metadata") or {}).get("namespace")
    )
    return found.most_common(1)[0][0] if found else "default"


def _secret_copy(source: Mapping[str, Any], name: str, namespace: str) -> Obj:
    """The cluster's copy of a hub Secret: same type and data, its own name and namespace.

    `stringData` (write-only on a real API server) is folded into `data` here, so the applied
    object is what the cluster stores and the drift check does not re-apply it every pass.
    """
    data = dict(source.get("data") or {})
    for key, value in (source.get("stringData") or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": source.get("type") or "Opaque",
        "data": data,
    }


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
