"""The WorkloadDeployment reconciler: render, push, deliver as Works, roll their status up.

For each WorkloadDeployment (written by the AIWorkload controller):

1. gather the render inputs from the caches (`deliveryinputs`): profile snapshot,
   definitions, variable layers, values, other deployments' outputs, system values;
2. render them in the worker pool (`renderworker`: never in this process), under a deadline;
   a render error makes the deployment `Failed` with the error and its field paths, and
   nothing is pushed or delivered (what runs keeps running);
3. record `gpuRequests` (known from the manifests, also while suspended, so the quota
   controller can reserve before anything runs) and push the artifact to the hub's store
   (`artifactstore`; to a layout store the render worker pushes it itself, in the same
   trip as the render); a store failure is retried and its message shown;
4. unless `spec.suspend`: one Work per spoke the Environment decided (`deliverywork`),
   in the order and pace of its rollout strategy; Works on spokes no longer decided are
   deleted (and released at once when their spoke is gone: no agent is left to prune);
5. roll the Works' status up into phase, the one blocking message, per-spoke and
   per-component entries, endpoints and outputs (`deliverystatus`).

Unchanged inputs (the same input digest as `status.inputDigest`) mean no render, no push and
no Work write: the Works already carry the rendered priority groups and outputs. Every write
is only-on-change, and every lookup is an informer cache or index, so ten thousand
deployments cost ten thousand dictionary walks, not ten thousand store lists.

Deletion: the finalizer `axle.dev/workloaddeployment-cleanup` holds the deployment until its
Works are gone; each Work's own finalizer is removed by its agent after pruning the spoke.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from axle.api.meta import GROUP, SYSTEM_NAMESPACE, get_condition, set_condition
from axle.api.registry import KindInfo
from axle.api.spoke import WORK_FINALIZER, spoke_namespace
from axle.api.workloaddeployment import FINALIZER
from axle.controllers.artifactstore import ArtifactStore, LayoutPushed
from axle.controllers.controller import Context, Mapper, Reconciler
from axle.controllers.deliveryinputs import (
    DEFINITION_KINDS,
    VARIABLE_SET_NAME,
    InputGatherer,
    Inputs,
    Waiting,
)
from axle.controllers.deliverystatus import gpu_requests, roll_up
from axle.controllers.deliverywork import (
    WD_LABEL,
    WD_NAMESPACE_LABEL,
    deployment_key_of,
    desired_work,
    merged_work,
    plan_rollout,
    secret_copy,
    secret_copy_name,
    short_name,
    work_spoke,
    work_up_to_date,
)
from axle.controllers.environment import POOL_LABEL, decided_spokes
from axle.controllers.informer import Informer
from axle.controllers.objects import (
    delete_if_exists,
    ensure,
    get_or_none,
    is_deleting,
    key_of,
    labels,
    make_key,
    split_key,
    write_status,
)
from axle.controllers.renderworker import RenderPool
from axle.errors import AlreadyExists, Invalid, NotFound, TemporaryError
from axle.store.base import Obj

WORKS_BY_DEPLOYMENT = "works-by-deployment"
DEPLOYMENTS_BY_ENVIRONMENT = "deployments-by-environment"
DEPLOYMENTS_BY_PROFILE = "deployments-by-profile"


def _env_key(wd: Obj) -> list[str]:
    env = ((wd.get("spec") or {}).get("environmentRef") or {}).get("name")
    return [f"{wd['metadata'].get('namespace')}/{env}"] if env else []


def _profile_key(wd: Obj) -> list[str]:
    name = ((wd.get("spec") or {}).get("workloadProfileRef") or {}).get("name")
    return [str(name)] if name else []


def _work_key(work: Obj) -> list[str]:
    key = deployment_key_of(work)
    return [key] if key else []


def _status_of(wd: Obj) -> dict[str, Any]:
    """A copy of the status to edit: fields are replaced, never edited in place, except the
    conditions, which are copied one level deeper."""
    status = dict(wd.get("status") or {})
    status["conditions"] = [dict(c) for c in status.get("conditions") or []]
    return status


def _wakes(works: Informer, wds: Informer) -> Mapper:
    """A Work wakes its deployment when an agent reported on it, it is going away, or its
    deployment is: the controller's own writes of a Work (no status yet) need no second
    look, and skipping them halves the reconciles of a rollout."""

    def mapper(work: Obj) -> list[str]:
        key = deployment_key_of(work)
        if key is None:
            return []
        if work.get("status") or is_deleting(work):
            return [key]
        wd = wds.get(key)
        return [key] if wd is None or is_deleting(wd) else []

    return mapper


def _causes_text(err: Invalid) -> str:
    causes = "; ".join(f"{c.field}: {c.message}" for c in err.causes if c.field)
    return f"{err.message} ({causes})" if causes else err.message


def _rv(obj: Obj | None) -> str | None:
    return None if obj is None else str(obj["metadata"].get("resourceVersion"))


def _revision(obj: Obj) -> int:
    """An object's resourceVersion as the store's revision number (the store protocol makes
    it one global, increasing counter), so "older than what I wrote" is a comparison."""
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


def _work_versions(works: Iterable[Obj]) -> tuple[tuple[str, str | None], ...]:
    return tuple(sorted((key_of(w), _rv(w)) for w in works))


class _Outcome:
    """What one pass wrote: the deployment's latest version, and its Works after delivery
    (None: delivery did not run, the Works are as read). `settles` is False when the pass
    did something whose echo it cannot predict (a Work removed), so it must run again."""

    def __init__(self, wd: Obj) -> None:
        self.wd = wd
        self.works: list[Obj] | None = None
        self.settles = True


@dataclass(frozen=True)
class _Seen:
    """The versions of everything a pass over one deployment reads from the caches."""

    inputs: int
    environment: str | None
    spokes: tuple[tuple[str, str | None], ...]
    deployment: str | None
    works: tuple[tuple[str, str | None], ...]

    def mark(self) -> tuple[Any, ...]:
        return (self.inputs, self.environment, self.spokes, self.deployment, self.works)

    def after(self, outcome: _Outcome) -> tuple[Any, ...]:
        """The mark the caches will show once the pass's own writes come back through
        them: the deployment and Works as written, everything else as it was read before."""
        works = self.works if outcome.works is None else _work_versions(outcome.works)
        return (self.inputs, self.environment, self.spokes, _rv(outcome.wd), works)


class WorkloadDeploymentReconciler(Reconciler):
    name = "workloaddeployment"

    def __init__(
        self,
        ctx: Context,
        *,
        pool: RenderPool,
        artifacts: ArtifactStore,
        render_deadline: float = 30.0,
    ) -> None:
        super().__init__(ctx)
        reg = self.kinds.registry
        self._wd = reg.by_group_kind(GROUP, "WorkloadDeployment")
        self.env_kind = reg.by_group_kind(GROUP, "Environment")
        self.spoke_kind = reg.by_group_kind(GROUP, "Spoke")
        self.work_kind = reg.by_group_kind(GROUP, "Work")
        self.revision_kind = reg.by_group_kind(GROUP, "DefinitionRevision")
        self.profile_kind = reg.by_group_kind(GROUP, "WorkloadProfile")
        self.varset_kind = reg.by_group_kind(GROUP, "VariableSet")
        self.wds = ctx.cache(self._wd)
        self.envs = ctx.cache(self.env_kind)
        self.spokes = ctx.cache(self.spoke_kind)
        self.works = ctx.cache(self.work_kind)
        self.inputs = InputGatherer(ctx, self.wds)
        self.pool = pool
        self.artifacts = artifacts
        self.render_deadline = render_deadline
        # Spoke -> what of it a deployment's status shows; only a change there wakes them.
        self._spoke_seen: dict[str, tuple[Any, ...]] = {}
        # Namespace -> deployments whose macros read other deployments' outputs.
        self._consumers: dict[str, set[str]] = {}
        # Deployment -> (input digest, priority groups, outputs) of its pushed render, so a
        # resumed deployment is delivered without rendering again (the pool's cache is
        # bounded; these entries are small).
        self._shipped: dict[str, tuple[str, list[dict[str, Any]], dict[str, Any]]] = {}
        # Deployment -> the versions its last complete pass read and wrote (`_Seen.after`):
        # the same versions again mean that pass's result is what the store holds.
        self._settled: dict[str, tuple[Any, ...]] = {}
        # Deployment -> the resourceVersion of this controller's last write of it.
        self._written: dict[str, int] = {}
        self.work_writes = 0
        self.status_writes = 0
        self.settled_skips = 0
        self.stale_skips = 0

    @property
    def kind(self) -> KindInfo:
        return self._wd

    # -- wiring ------------------------------------------------------------------------------

    def indexes(self) -> Iterable[tuple[KindInfo, str, Any]]:
        return (
            (self.work_kind, WORKS_BY_DEPLOYMENT, _work_key),
            (self._wd, DEPLOYMENTS_BY_ENVIRONMENT, _env_key),
            (self._wd, DEPLOYMENTS_BY_PROFILE, _profile_key),
        )

    def _keys(self, objs: Iterable[Obj]) -> list[str]:
        return [key_of(o) for o in objs]

    def _in_namespace(self, ns: str | None) -> list[str]:
        """Deployments a namespace-wide input of `ns` feeds (all for axle-system/tenants)."""
        if not ns or ns == SYSTEM_NAMESPACE or ns.startswith("tenant-"):
            return self.wds.cached_keys()
        return self._keys(self.wds.list(ns))

    def watches(self) -> Iterable[tuple[KindInfo, Mapper]]:
        reg = self.kinds.registry

        def by_environment(env: Obj) -> list[str]:
            return self._keys(self.wds.by_index(DEPLOYMENTS_BY_ENVIRONMENT, key_of(env)))

        def by_spoke(spoke: Obj) -> list[str]:
            name = spoke["metadata"]["name"]
            status = spoke.get("status") or {}
            avail = get_condition(spoke, "Available") or {}
            seen = (
                avail.get("status"),
                avail.get("reason"),
                status.get("lastHeartbeatTime") if avail.get("status") != "True" else None,
                bool(spoke["metadata"].get("deletionTimestamp")),
            )
            if self._spoke_seen.get(name) == seen:
                return []
            self._spoke_seen[name] = seen
            works = self.works.list(spoke_namespace(name))
            return [k for w in works for k in _work_key(w)]

        def by_profile(obj: Obj) -> list[str]:
            name = labels(obj).get("axle.dev/definition-name") or obj["metadata"]["name"]
            return self._keys(self.wds.by_index(DEPLOYMENTS_BY_PROFILE, name))

        def by_variable_set(vs: Obj) -> list[str]:
            if vs["metadata"]["name"] != VARIABLE_SET_NAME:
                return []
            return self._in_namespace(vs["metadata"].get("namespace"))

        def by_definition(obj: Obj) -> list[str]:
            return self._in_namespace(obj["metadata"].get("namespace"))

        def by_outputs(wd: Obj) -> list[str]:
            if not (wd.get("status") or {}).get("outputs"):
                return []
            return sorted(self._consumers.get(wd["metadata"].get("namespace") or "", ()))

        watched: list[tuple[KindInfo, Mapper]] = [
            (self.work_kind, _wakes(self.works, self.wds)),
            (self.env_kind, by_environment),
            (self.spoke_kind, by_spoke),
            (self.revision_kind, by_profile),
            (self.profile_kind, by_profile),
            (self.varset_kind, by_variable_set),
            (self._wd, by_outputs),
        ]
        watched += [(reg.by_group_kind(GROUP, k), by_definition) for k in DEFINITION_KINDS]
        return watched

    # -- reconcile ---------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        # Read-only: the cache's own object (copying every deployment on every reconcile
        # is most of a reconcile's cost); what changes is built anew (`_status_of`).
        wd = self.wds.get(key)
        if wd is None:
            self._shipped.pop(key, None)
            self._settled.pop(key, None)
            self._written.pop(key, None)
            ns, _ = split_key(key)
            self._consumers.get(ns or "", set()).discard(key)
            return None
        if is_deleting(wd):
            self._settled.pop(key, None)
            return await self._delete(key, wd)
        if _revision(wd) < self._written.get(key, 0):
            # The cache has not caught up with this controller's own last write of it (woken
            # by an earlier event, e.g. its finalizer while the status write was in flight):
            # a pass now would compute from a stale object and conflict. The write's own
            # event is on its way and wakes it again.
            self.stale_skips += 1
            return None
        seen = self._seen(key, wd)
        if seen is not None and self._settled.get(key) == seen.mark():
            # Woken by its own last write (the status, a Work it created) or a resync, with
            # nothing it reads changed since: the pass would compute what is already there.
            self.settled_skips += 1
            return None
        self._settled.pop(key, None)
        outcome = _Outcome(wd)
        try:
            retry = await self._reconcile(key, wd, outcome)
        finally:
            if outcome.wd is not wd:
                self._written[key] = _revision(outcome.wd)
        if retry is None and seen is not None and outcome.settles:
            self._settled[key] = seen.after(outcome)
        return retry

    async def _reconcile(self, key: str, wd: Obj, outcome: _Outcome) -> float | None:
        if FINALIZER not in (wd["metadata"].get("finalizers") or []):
            body = {**wd, "metadata": dict(wd["metadata"])}
            body["metadata"]["finalizers"] = [*(wd["metadata"].get("finalizers") or []), FINALIZER]
            wd = outcome.wd = await self.store.update(self._wd, body)
        status = _status_of(wd)
        spec = wd.get("spec") or {}
        ns = wd["metadata"]["namespace"]
        env = self.envs.get(make_key(ns, str((spec.get("environmentRef") or {}).get("name"))))
        try:
            inputs = self.inputs.gather(wd, env)
        except Waiting as waiting:
            self._consumer(key, ns, waiting.reason == "WaitingForOutputs")
            self._set(wd, status, "Pending", waiting.message)
            self._cond(wd, status, "Rendered", "False", waiting.reason, waiting.message)
            await self._write_status(outcome, status)
            return None
        self._consumer(key, ns, inputs.consumes)
        shipped = await self._render_and_push(wd, status, inputs)
        if isinstance(shipped, float) or shipped is None:
            # A failed render is looked at again on the next wake-up or resync, not taken
            # as settled: a timeout is not remembered by the pool (a less busy machine may
            # finish it), so only running the pass again retries it.
            outcome.settles = False
            await self._write_status(outcome, status)
            return shipped
        groups, outputs = shipped
        if spec.get("suspend"):
            message = "rendered; delivery is on hold until the deployment is resumed (suspend)"
            self._set(wd, status, "Pending", message)
            self._cond(wd, status, "Delivered", "False", "Suspended", message)
            self._cond(wd, status, "Available", "False", "Suspended", message)
            await self._write_status(outcome, status)
            return None
        try:
            await self._deliver(key, wd, status, env, inputs, groups, outputs, outcome)
        except TemporaryError as exc:
            # E.g. a secretRefs Secret that does not exist (yet): say so, look again later.
            self._set(
                wd, status, "Pending" if not status.get("spokes") else "Deploying", exc.message
            )
            self._cond(wd, status, "Delivered", "False", exc.reason, exc.message)
            await self._write_status(outcome, status)
            return exc.delay
        await self._write_status(outcome, status)
        return None

    async def _write_status(self, outcome: _Outcome, status: dict[str, Any]) -> None:
        """`write_status` without its deep copy of the whole deployment (the store copies
        what it is given anyway): only when the status changed, against the version read."""
        wd = outcome.wd
        if (wd.get("status") or {}) == status:
            return
        outcome.wd = await self.store.update(
            self._wd, {**wd, "status": status}, subresource="status"
        )
        self.status_writes += 1

    def _seen(self, key: str, wd: Obj) -> _Seen | None:
        """What a pass over `wd` reads, as versions; None when it reads more than that (other
        deployments' outputs, Secrets through the store), so it must always run."""
        spec = wd.get("spec") or {}
        ns = wd["metadata"]["namespace"]
        if spec.get("secretRefs") or key in self._consumers.get(ns, ()):
            return None
        env = self.envs.get(make_key(ns, str((spec.get("environmentRef") or {}).get("name"))))
        works = self.works.by_index(WORKS_BY_DEPLOYMENT, key)
        spokes = {*(decided_spokes(env) if env is not None else ()), *map(work_spoke, works)}
        return _Seen(
            inputs=self.inputs.epoch,
            environment=_rv(env),
            spokes=tuple(sorted((s, _rv(self.spokes.get(s))) for s in spokes)),
            deployment=_rv(wd),
            works=_work_versions(works),
        )

    def _consumer(self, key: str, ns: str, consumes: bool) -> None:
        if consumes:
            self._consumers.setdefault(ns, set()).add(key)
        elif key in self._consumers.get(ns, ()):
            self._consumers[ns].discard(key)

    def _set(self, wd: Obj, status: dict[str, Any], phase: str, message: str | None) -> None:
        status["phase"] = phase
        if message:
            status["message"] = message
        else:
            status.pop("message", None)
        status["observedGeneration"] = wd["metadata"].get("generation")

    def _cond(
        self, wd: Obj, status: dict[str, Any], type_: str, value: Any, reason: str, message: str
    ) -> None:
        set_condition(
            status["conditions"], type_, value, reason, message, wd["metadata"].get("generation")
        )

    async def _render_and_push(
        self, wd: Obj, status: dict[str, Any], inputs: Inputs
    ) -> tuple[list[dict[str, Any]], dict[str, Any]] | float | None:
        """The priority groups and outputs to deliver, with status updated; a float (retry
        after) or None (failed) when there is nothing to deliver."""
        digest = inputs.request.digest()
        artifact = status.get("artifact") or {}
        unchanged = bool(status.get("inputDigest") == digest and artifact.get("digest"))
        key = key_of(wd)
        memo = self._shipped.get(key)
        if unchanged and (memo is None or memo[0] != digest):
            # Pushed by an earlier hub process: artifact writes are not fsynced (see
            # `artifactstore`), so after a power loss it may be gone. Check once, and render
            # and push it again (the same bytes, the same digest) if it is not whole.
            m = wd["metadata"]
            unchanged = await self.artifacts.intact(m["namespace"], m["name"], artifact["digest"])
        if unchanged:
            # What the render produced is remembered here or carried by the Works: nothing
            # to render or push again. A new owner revision with the same inputs (another
            # profile changed, or a rollback) is observed all the same.
            status["observedRevision"] = inputs.revision
            if memo is not None and memo[0] == digest:
                return list(memo[1]), dict(memo[2])
            for work in self.works.by_index(WORKS_BY_DEPLOYMENT, key):
                wspec = work.get("spec") or {}
                if (wspec.get("artifact") or {}).get("digest") == artifact["digest"]:
                    return list(wspec.get("priorityGroups") or []), dict(wspec.get("outputs") or {})
        m = wd["metadata"]
        profile = inputs.request.profile["metadata"]["name"]
        target: dict[str, Any] = {
            "namespace": m["namespace"],
            "name": m["name"],
            "revision": inputs.revision,
            "source_revision": f"{profile}@{inputs.profile_revision}",
            "input_digest": digest,
        }
        # A layout store is written by the render worker itself (see `artifactstore`): the
        # hub neither builds the artifact nor writes it, and only learns its digest.
        job = None if unchanged else self.artifacts.layout_job(**target)
        pushed: LayoutPushed | None = None
        try:
            if job is None:
                result = await self.pool.render(inputs.request, deadline=self.render_deadline)
            else:
                result, pushed = await self.pool.render_and_push(
                    inputs.request, job, deadline=self.render_deadline
                )
        except Invalid as err:
            message = f"render failed: {err.message}"
            if status.get("inputDigest") != digest:
                await self.ctx.recorder.warning(wd, "RenderFailed", _causes_text(err))
            status["inputDigest"] = digest
            self._set(wd, status, "Failed", message)
            self._cond(wd, status, "Rendered", "False", "RenderFailed", _causes_text(err))
            return None
        status["gpuRequests"] = gpu_requests(result.manifests)
        if not unchanged:
            try:
                artifact_ref = await self.artifacts.push(result.manifests, **target, pushed=pushed)
            except TemporaryError as exc:
                phase = "Deploying" if status.get("artifact") else "Pending"
                self._set(wd, status, phase, exc.message)
                self._cond(wd, status, "Rendered", "True", "Rendered", "rendered")
                self._cond(wd, status, "Delivered", "False", exc.reason, exc.message)
                return exc.delay
            status["artifact"] = artifact_ref.ref()
            status["inputDigest"] = digest
        status["observedRevision"] = inputs.revision
        self._cond(
            wd,
            status,
            "Rendered",
            "True",
            "Rendered",
            f"revision {inputs.revision} rendered as {status['artifact']['digest']}",
        )
        self._shipped[key] = (digest, list(result.priority_groups), dict(result.outputs))
        return list(result.priority_groups), dict(result.outputs)

    # -- delivery ----------------------------------------------------------------------------

    async def _deliver(
        self,
        key: str,
        wd: Obj,
        status: dict[str, Any],
        env: Obj | None,
        inputs: Inputs,
        groups: list[dict[str, Any]],
        outputs: dict[str, Any],
        outcome: _Outcome,
    ) -> None:
        spec = wd.get("spec") or {}
        env_name = str((spec.get("environmentRef") or {}).get("name"))
        works = {work_spoke(w): w for w in self.works.by_index(WORKS_BY_DEPLOYMENT, key)}
        outcome.works = list(works.values())
        decisions = decided_spokes(env) if env is not None else []
        spoke_objs = {s: self.spokes.get(s) for s in {*decisions, *works}}
        # Works on spokes the Environment no longer decides (or that are gone) go first.
        for spoke, work in list(works.items()):
            if spoke not in decisions:
                await self._remove_work(wd, work, spoke_objs.get(spoke))
                del works[spoke]
                outcome.settles = False
        if env is None or not decisions:
            why = (
                f"environment {env_name} not found"
                if env is None
                else ((get_condition(env, "Ready") or {}).get("message") or "")
            )
            nowhere = f"no spoke to deploy to: {why}" if why else "no spoke to deploy to yet"
            self._set(wd, status, "Pending", nowhere)
            self._cond(wd, status, "Delivered", "False", "NoSpokes", nowhere)
            self._cond(wd, status, "Available", "False", "NoSpokes", nowhere)
            status.update(spokes=[], endpoints=[])
            return
        artifact = status["artifact"]
        pools = {s: labels(o).get(POOL_LABEL) if o else None for s, o in spoke_objs.items()}
        pools = {s: p or inputs.pool for s, p in pools.items()}
        components = [c for g in groups for c in g.get("components") or []]
        rollout = (
            ((((env or {}).get("spec") or {}).get("topology") or {}).get("properties") or {}).get(
                "manifestWorkReplicaSet"
            )
            or {}
        ).get("rolloutStrategy")
        available: set[str] = set()
        failed: set[str] = set()
        if (rollout or {}).get("type", "All") != "All":
            before = roll_up(
                decisions,
                works,
                spoke_objs,
                digest=artifact["digest"],
                revision=inputs.revision,
                components=components,
                pools=pools,
            )
            available = {s for s, st in before.states.items() if st.available}
            failed = {s for s, st in before.states.items() if st.failed}
        on_new = {
            s
            for s, w in works.items()
            if ((w.get("spec") or {}).get("artifact") or {}).get("digest") == artifact["digest"]
        }
        plan = plan_rollout(rollout, decisions, on_new=on_new, available=available, failed=failed)
        for spoke in plan.write:
            target = spoke_objs.get(spoke)
            if target is None or is_deleting(target):
                continue
            desired = desired_work(
                self.work_kind.api_version,
                wd,
                spoke,
                artifact=artifact,
                # The revision the manifests are labelled with (the profile's), so a new
                # owner revision with the same render rewrites no Work.
                revision=inputs.profile_revision,
                priority_groups=groups,
                outputs=outputs,
            )
            current = works.get(spoke)
            if current is not None and work_up_to_date(current, desired):
                continue
            await self._copy_secrets(wd, spoke)
            works[spoke] = await self._write_work(current, desired)
            outcome.works = list(works.values())
        after = roll_up(
            decisions,
            works,
            spoke_objs,
            digest=artifact["digest"],
            revision=inputs.revision,
            components=components,
            pools=pools,
        )
        phase: str = after.phase
        message: str | None = after.message
        if plan.stopped:
            phase = "Degraded"
            broken = after.states[plan.stopped]
            message = f"rollout stopped at spoke {plan.stopped}: {broken.message}"
            self._cond(wd, status, "Delivered", "False", "RolloutStopped", message)
        elif plan.waiting:
            self._cond(
                wd,
                status,
                "Delivered",
                "False",
                "RolloutInProgress",
                f"revision {inputs.revision} on {len(decisions) - len(plan.waiting)} of "
                f"{len(decisions)} spokes; next: {', '.join(plan.waiting)}",
            )
        else:
            self._cond(
                wd,
                status,
                "Delivered",
                "True",
                "Delivered",
                f"revision {inputs.revision} delivered to {len(decisions)} spoke(s)",
            )
        self._set(wd, status, phase, message)
        if phase == "Running":
            self._cond(wd, status, "Available", "True", "Available", "every spoke is available")
        else:
            self._cond(wd, status, "Available", "False", phase, message or phase)
        status.update(
            spokes=after.spokes,
            components=after.components,
            endpoints=after.endpoints,
        )
        if after.outputs is not None:
            status["outputs"] = after.outputs
        else:
            status.pop("outputs", None)

    async def _write_work(self, current: Obj | None, desired: Obj) -> Obj:
        self.work_writes += 1
        if current is None:
            try:
                return await self.store.create(self.work_kind, desired)
            except AlreadyExists:
                current = await self.store.get(
                    self.work_kind, desired["metadata"]["namespace"], desired["metadata"]["name"]
                )
                if work_up_to_date(current, desired):
                    return current
        return await self.store.update(self.work_kind, merged_work(current, desired))

    async def _copy_secrets(self, wd: Obj, spoke: str) -> None:
        ns = wd["metadata"]["namespace"]
        for ref in (wd.get("spec") or {}).get("secretRefs") or []:
            source_ns = ref.get("namespace") or ns
            source = await get_or_none(self.store, self.kinds.secret, source_ns, ref["name"])
            if source is None:
                raise TemporaryError(
                    f"waiting for secret {source_ns}/{ref['name']} (the deployment's "
                    f"{ref['targetName']}): not found",
                    delay=5.0,
                    reason="SecretNotFound",
                )
            body = secret_copy(source, wd, spoke, ref["targetName"])
            await ensure(self.store, self.kinds.secret, body, fields=("data", "type"))

    async def _remove_work(self, wd: Obj, work: Obj, spoke: Obj | None) -> None:
        """Delete a Work; with its spoke gone, nothing will prune it: release it too."""
        m = work["metadata"]
        if not is_deleting(work):
            try:
                work = await self.store.delete(self.work_kind, m["namespace"], m["name"])
            except NotFound:
                return
            self.work_writes += 1
        if spoke is None or is_deleting(spoke):
            finalizers = [
                f for f in work["metadata"].get("finalizers") or [] if f != WORK_FINALIZER
            ]
            if len(finalizers) != len(work["metadata"].get("finalizers") or []):
                body = copy.deepcopy(work)
                body["metadata"]["finalizers"] = finalizers
                with contextlib.suppress(NotFound):
                    await self.store.update(self.work_kind, body)
        await self._remove_secrets(wd, work_spoke(work))

    async def _remove_secrets(self, wd: Obj, spoke: str) -> None:
        m = wd["metadata"]
        for ref in (wd.get("spec") or {}).get("secretRefs") or []:
            await delete_if_exists(
                self.store,
                self.kinds.secret,
                spoke_namespace(spoke),
                secret_copy_name(m["name"], ref["targetName"]),
            )

    async def _delete(self, key: str, wd: Obj) -> float | None:
        if FINALIZER not in (wd["metadata"].get("finalizers") or []):
            return None
        works = list(self.works.by_index(WORKS_BY_DEPLOYMENT, key))
        if not works:
            ns, name = split_key(key)
            selector = f"{WD_NAMESPACE_LABEL}={ns},{WD_LABEL}={short_name(name, 63)}"
            # The cache may lag a Work written a moment ago: ask the store before letting go.
            works = [
                w
                for w in (await self.store.list(self.work_kind, label_selector=selector)).items
                if deployment_key_of(w) == key
            ]
        for work in works:
            await self._remove_work(wd, work, self.spokes.get(work_spoke(work)))
        if works:
            status = _status_of(wd)
            left = sorted(work_spoke(w) for w in works)
            message = f"removing the workload from spoke(s) {', '.join(left)}"
            self._set(wd, status, "Deleting", message)
            await write_status(self.store, self._wd, wd, status)
            return None
        body = copy.deepcopy(wd)
        body["metadata"]["finalizers"] = [
            f for f in wd["metadata"].get("finalizers") or [] if f != FINALIZER
        ]
        with contextlib.suppress(NotFound):
            await self.store.update(self._wd, body)
        return None
