"""The AIWorkload reconciler: bundle -> revision -> pool -> quota -> WorkloadDeployments -> status.

An AIWorkload is an App Deployment (`axle.dev/aiworkload-type: application`) or a Model
Deployment (`model`). One pass does what can be done now and records where it stopped:

1. **Bundle** (`aiworkload_inputs`, `maas`): `spec.profileBundleRef`, or the Project's first
   matching Model-as-a-Service mapping for `spec.model`; its workload profiles and their pinned
   revisions. While `axle.dev/rollback-revision` pins a revision whose spec is the current one,
   that revision's bundle snapshot is used instead (`revisions.py`).
2. **Revision**: a ControllerRevision per distinct input; `status.revision`; history of 10.
3. **Pool**: `spec.computePoolRef`, or the dedicated pool it owns, created from
   `spec.paletteClusterDeploymentConfig` only after a precheck: enough matching available hosts
   in the project's Compute (`hostselection`) and the project's and tenant's `gpuLimits` minus
   usage cover the GPUs of those hosts. Otherwise `Pending`, with the numbers.
4. **WorkloadDeployments**: one per workload profile of the bundle, `<aiw>-<profile>`;
   deployments of profiles no longer in the bundle are deleted.
5. **Quota** (shared pools only): once every deployment rendered the current revision, its
   `gpuRequests` (by GPU product) are mapped to the pool's families and reserved, under the
   project's lock after a from-scratch recomputation (`quota.py`). Deployments stay
   `suspend: true` until the reservation covers them; when it does not fit: `Pending`,
   `waiting for GPU quota: needs 2 NVIDIA-H100, project ml-prod has 0 of 24 free (24 used)`.
   Dedicated pools are charged through their host claims, so their deployments never wait.
6. **Status** (`aiworkload_status`): the pool's state while it is not Running
   (`Provisioning`, with the pool's message), else the deployments' roll-up; conditions
   `BundleResolved`, `PoolReady`, `QuotaReserved`, `Deployed`, `Ready`; Events per change.

**Deletion** (finalizer `axle.dev/aiworkload-cleanup`): `Deleting`; the deployments are deleted
and awaited (their objects are pruned from every spoke), then the dedicated pool, then the
reservation is dropped and usage recomputed, then the finalizer goes.

**Cost per workload** (a fleet is ten thousand of them, so none of this may grow with their
number): a pass reads only informer caches, indexed per workload (`aiworkload_cache`), with
this process's own writes laid over them until the caches show them; quota checks recount
from the same caches under the project's lock, and the usage in Project/Tenant status is
written coalesced (`_flush_usage`); a wake-up that brings nothing but the echo of this
controller's own writes runs no pass; interim messages of a deploying workload settle
before they are written (`_settling`), so a workload costs about one status write per phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from axle.api.controllerrevision import AIWORKLOAD_LABEL
from axle.api.meta import GROUP, SYSTEM_NAMESPACE, get_condition, set_condition
from axle.api.registry import KindInfo
from axle.api.variables import VARIABLE_SET_NAMES
from axle.api.workloaddeployment import FINALIZER as WD_FINALIZER
from axle.controllers import maas
from axle.controllers.aiworkload_cache import (
    POOL_USERS_INDEX,
    REVISIONS_INDEX,
    RecentWrites,
    labelled_workload_index,
    pool_users_index,
    rv_of,
)
from axle.controllers.aiworkload_inputs import (
    DEFAULT_INFRA_LABEL,
    FINALIZER,
    PROFILE_TYPE,
    Bundle,
    Inputs,
    controller_owner,
    dedicated_pool_body,
    dedicated_pool_name,
    latest_revision,
    pool_families,
    pool_variant,
    profile_namespaces,
    workload_type,
    wrong_type_message,
)
from axle.controllers.aiworkload_status import RollUp, roll_up
from axle.controllers.blocked import Blocked
from axle.controllers.controller import Context, Filtered, Mapper, Reconciler, owned_by
from axle.controllers.hostselection import candidates, select_hosts
from axle.controllers.informer import IndexFunc
from axle.controllers.objects import (
    ensure,
    get_or_none,
    is_deleting,
    key_of,
    make_key,
    owner_ref,
    owner_uids,
)
from axle.controllers.poolplan import pool_plan
from axle.controllers.quota import (
    Cached,
    FamilyMapping,
    add,
    clean,
    headroom_problems,
    limits_of,
    project_lock,
    recompute_tenant_usage,
    recompute_usage,
    reservation_of,
    write_usage,
)
from axle.controllers.reservations import (
    ALL_CLAIMS,
    CLAIM_LABEL,
    CLAIMS_INDEX,
    PROJECT_LABEL,
    HostClaim,
    claims_index,
    claims_of,
)
from axle.controllers.revisions import (
    ROLLBACK_ANNOTATION,
    ensure_revision,
    find_revision,
    number_of,
    owned_revisions,
    prune,
    revision_data,
    rollback_pin,
)
from axle.controllers.tenancy import project_tenant, status_copy
from axle.errors import AlreadyExists, Conflict, NotFound
from axle.store.base import Obj
from axle.utils.jsoncopy import copy_json

log = logging.getLogger(__name__)

CONDITIONS = ("BundleResolved", "PoolReady", "QuotaReserved", "Deployed")
DEFAULT_TAG_SELECTOR = {"palette.ai": "true"}
POOL_READY_PHASES = ("Running", "Degraded")
_MAX_NAME = 253
WAITING_INDEX = "aiworkload-waiting"
# Reasons of a workload that waits for GPU quota, or for hosts / limits before its pool.
QUOTA_WAITS = frozenset({"WaitingForQuota", "QuotaExceeded"})
COMPUTE_WAITS = frozenset(
    {"InsufficientCompute", "QuotaExceeded", "ComputeNotFound", "InventoryNotSynced"}
)


def waiting_index(aiw: Obj) -> list[str]:
    """`quota` for workloads waiting for GPU quota, `compute` for ones waiting for hosts."""
    out = []
    quota = (get_condition(aiw, "QuotaReserved") or {}).get("reason")
    pool = (get_condition(aiw, "PoolReady") or {}).get("reason")
    if quota in QUOTA_WAITS or pool in QUOTA_WAITS:
        out.append("quota")
    if pool in COMPUTE_WAITS:
        out.append("compute")
    return out


def deployment_name(aiw_name: str, profile: str) -> str:
    """`<aiw>-<profile>`, shortened with a hash when it would not be a valid name."""
    name = f"{aiw_name}-{profile}"
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: _MAX_NAME - 11].rstrip('-.')}-{digest}"


OWNED_INDEX = "by-aiworkload"


def _pool_seen(pool: Obj | None) -> tuple[Any, ...] | None:
    """What of a pool a workload pass reads: identity, spec, deletion, phase, GPU families,
    and the message while not ready (it is shown then)."""
    if pool is None:
        return None
    m = pool.get("metadata") or {}
    st = pool.get("status") or {}
    phase = st.get("phase")
    return (
        m.get("uid"),
        m.get("generation"),
        bool(m.get("deletionTimestamp")),
        controller_owner(pool, "AIWorkload"),
        phase,
        None if phase in POOL_READY_PHASES else st.get("message"),
        tuple(pool_families(pool)),
    )


def pool_change_matters(old: Obj | None, new: Obj | None) -> bool:
    """A pool's status changes as workloads land on it and its spoke reports; only what a
    workload pass reads wakes the pool's workloads (ten per pool in the fleet benchmark)."""
    return _pool_seen(old) != _pool_seen(new)


def owner_workload_index(wd: Obj) -> list[str]:
    """`<namespace>/<aiworkload>` of a WorkloadDeployment, from its label."""
    owner = ((wd.get("metadata") or {}).get("labels") or {}).get(AIWORKLOAD_LABEL)
    return [f"{wd['metadata'].get('namespace')}/{owner}"] if owner else []


class AIWorkloadReconciler(Reconciler):
    name = "aiworkload"

    def __init__(
        self,
        ctx: Context,
        *,
        wait_seconds: float = 10.0,
        poll_seconds: float = 2.0,
        usage_seconds: float = 0.5,
        settle_seconds: float = 2.0,
        recheck_seconds: float = 60.0,
    ):
        super().__init__(ctx)
        reg = ctx.kinds.registry
        self.aiw_kind = reg.by_group_kind(GROUP, "AIWorkload")
        self.wd_kind = reg.by_group_kind(GROUP, "WorkloadDeployment")
        self.pool_kind = reg.by_group_kind(GROUP, "ComputePool")
        self.compute_kind = reg.by_group_kind(GROUP, "Compute")
        self.bundle_kind = reg.by_group_kind(GROUP, "ProfileBundle")
        self.profile_kind = reg.by_group_kind(GROUP, "WorkloadProfile")
        self.varset_kind = reg.by_group_kind(GROUP, "VariableSet")
        self.revision_kind = reg.by_group_kind("apps", "ControllerRevision")
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        # Projects whose usage must be written again, flushed at most once per `usage_seconds`
        # (`_flush_usage`). Every project starts marked: a mark the previous term had not
        # flushed yet (or a crash) is made good by one recount when this term starts.
        self.usage_seconds = usage_seconds
        # When each workload's status was last written here (`_settling`).
        self.settle_seconds = settle_seconds
        self._last_write: dict[str, float] = {}
        # Passes with nothing to do are skipped (see "passes with nothing to do").
        self.recheck_seconds = recheck_seconds
        self._dirty: set[str] = set()
        self._clean: dict[str, float] = {}
        self._echo: dict[tuple[str, str], int] = {}
        self._usage_dirty: set[str] = set()
        self._usage_all = True
        self._usage_task: asyncio.Task[None] | None = None
        self._usage_written_at = 0.0
        # The last version of each AIWorkload a pass wrote (one reconcile per key at once),
        # so a pass that stops after a write reports on that version, not a stale one.
        self._latest: dict[str, Obj] = {}
        # Status writes of this process, by key: (resourceVersion, reservation).
        self._written: dict[str, tuple[int, dict[str, int]]] = {}
        self._project_generations: dict[str, Any] = {}
        # GPUs reserved per namespace by the cached workloads (`_count_reserved`).
        self._reserved_totals: dict[str, dict[str, int]] = {}
        # This process's own writes the caches may not show yet (see `aiworkload_cache`):
        # the workloads (finalizer, status, pin), their revisions and their deployments, each
        # grouped by workload key.
        self._own = RecentWrites(ctx.cache(self.aiw_kind))
        self._own_revisions = RecentWrites(ctx.cache(self.revision_kind))
        self._own_deployments = RecentWrites(ctx.cache(self.wd_kind))
        # Quota recomputations read claims, pools, projects and reservations from the caches:
        # a check per reservation, not a store list of every claim and workload.
        self._usage_inputs = Cached(
            claims=self._claims,
            pool=lambda ns, name: ctx.cache(self.pool_kind).get(make_key(ns, name)),
            tenant_namespaces=self._tenant_namespaces,
            reserved=self._reserved,
        )

    @property
    def kind(self) -> KindInfo:
        return self.aiw_kind

    # --- wiring ---------------------------------------------------------------------------

    def _all(self, namespace: str | None = None) -> list[Obj]:
        return self.ctx.cache(self.aiw_kind).list(namespace)

    def _quota_waiters(self) -> list[str]:
        return [key_of(a) for a in self.ctx.cache(self.aiw_kind).by_index(WAITING_INDEX, "quota")]

    def _compute_waiters(self, namespace: str) -> list[str]:
        return [
            key_of(a)
            for a in self.ctx.cache(self.aiw_kind).by_index(WAITING_INDEX, "compute")
            if a["metadata"].get("namespace") == namespace
        ]

    def indexes(self) -> Iterable[tuple[KindInfo, str, IndexFunc]]:
        return [
            (self.aiw_kind, WAITING_INDEX, waiting_index),
            (self.wd_kind, OWNED_INDEX, owner_workload_index),
            (self.revision_kind, REVISIONS_INDEX, labelled_workload_index),
            (self.aiw_kind, POOL_USERS_INDEX, pool_users_index),
            (self.kinds.lease, CLAIMS_INDEX, claims_index),
        ]

    def _note(self, written: Obj) -> Obj:
        """Remember a status this pass wrote, until the cache shows it (see `_reserved`)."""
        self._written[key_of(written)] = (rv_of(written), reservation_of(written))
        self._last_write[key_of(written)] = time.monotonic()
        return self._wrote(written)

    def _wrote(self, written: Obj) -> Obj:
        """Remember any write to the workload: the next pass starts from it if the cache
        does not show it yet, and a pass that stops after it reports on it."""
        key = key_of(written)
        self._latest[key] = written
        return self._own.wrote(key, written)

    def _current(self, key: str) -> Obj | None:
        """The workload as of the last write anyone made that this process knows of: the
        cache's, or this process's own newer write. A pass replaces `metadata` fields and
        works on a deep copy of the status (`status_copy`), never edits spec or status in
        place, so copying the top level and metadata is enough (a deep copy of every
        workload on every pass was a fifth of the controller's time)."""
        obj = self._own.get(key, key)
        if obj is None:
            return None
        return {**obj, "metadata": {**obj["metadata"]}}

    def _count_reserved(self, old: Obj | None, new: Obj | None) -> None:
        """Keep `_reserved_totals` equal to the sum of the cached workloads' reservations
        (called for every change the cache applies, in the same step)."""
        for obj, sign in ((old, -1), (new, 1)):
            reservation = reservation_of(obj) if obj is not None else {}
            if obj is None or not reservation:
                continue
            ns = str(obj["metadata"].get("namespace") or "")
            total = self._reserved_totals.setdefault(ns, {})
            for family, n in reservation.items():
                total[family] = total.get(family, 0) + sign * n
                if not total[family]:
                    del total[family]
            if not total:
                del self._reserved_totals[ns]

    def _reserved(self, namespace: str, exclude: str | None) -> dict[str, int]:
        """GPUs reserved in `namespace` (without `exclude`'s own), from scratch as far as
        the cache goes (a running total the cache's changes keep), corrected by the writes
        of this process the cache does not show yet, so a reservation just made is never
        missed by the next check. O(those few writes), not O(workloads of the project)."""
        cache = self.ctx.cache(self.aiw_kind)
        total = dict(self._reserved_totals.get(namespace, {}))
        effective: dict[str, dict[str, int]] = {}  # key -> its reservation, where we wrote
        for key, (rv, reservation) in list(self._written.items()):
            if not key.startswith(f"{namespace}/"):
                continue
            cached = cache.get(key)
            if cached is not None and rv_of(cached) >= rv:
                del self._written[key]  # the cache caught up
                continue
            if cached is None and not reservation:
                del self._written[key]  # released, then gone
                continue
            # Our write replaces what the cache still shows for this workload.
            if cached is not None:
                add(total, {f: -n for f, n in reservation_of(cached).items()})
            add(total, reservation)
            effective[key] = reservation
        if exclude is not None and exclude.startswith(f"{namespace}/"):
            if exclude in effective:
                mine = effective[exclude]
            else:
                cached = cache.get(exclude)
                mine = reservation_of(cached) if cached is not None else {}
            add(total, {f: -n for f, n in mine.items()})
        return clean(total)

    def _claims(self, selector: str) -> list[HostClaim]:
        """Host claims matching `PROJECT_LABEL=ns` / `TENANT_LABEL=t` ("" for all), cached."""
        leases = self.ctx.cache(self.kinds.lease).by_index(CLAIMS_INDEX, selector or ALL_CLAIMS)
        return claims_of(leases)

    def _tenant_namespaces(self, tenant: str) -> list[str]:
        projects = self.ctx.cache(self.kinds.project).list()
        return sorted(
            {str(p["metadata"]["namespace"]) for p in projects if project_tenant(p) == tenant}
        )

    def _users_of_pool(self, pool: Obj) -> list[str]:
        ns, name = pool["metadata"].get("namespace") or "", pool["metadata"]["name"]
        keys = [
            key_of(a)
            for a in self.ctx.cache(self.aiw_kind).by_index(POOL_USERS_INDEX, f"{ns}/{name}")
        ]
        owner = controller_owner(pool, "AIWorkload")
        if owner:
            keys.append(make_key(ns, owner))
        return keys

    def _users_of_bundle(self, bundle: Obj) -> list[str]:
        ns, name = bundle["metadata"].get("namespace"), bundle["metadata"]["name"]
        out = []
        for a in self._all():
            ref = (a.get("spec") or {}).get("profileBundleRef") or {}
            used = (a.get("status") or {}).get("bundle") or {}
            a_ns = a["metadata"].get("namespace")
            if (ref.get("name") == name and (ref.get("namespace") or a_ns) == ns) or (
                used.get("name") == name and used.get("namespace") == ns
            ):
                out.append(key_of(a))
            elif not ref and (a.get("spec") or {}).get("model"):
                out.append(key_of(a))  # a mapping may now choose this bundle
        return out

    def _users_of_profile(self, profile: Obj) -> list[str]:
        ns = profile["metadata"].get("namespace")
        return [
            key_of(a)
            for a in self._all()
            if a["metadata"].get("namespace") == ns
            or ((a.get("status") or {}).get("bundle") or {}).get("namespace") == ns
            or ns == SYSTEM_NAMESPACE
        ]

    def _claim_changed(self, lease: Obj) -> list[str]:
        # Freed hosts (and the GPUs they charged) may be what a waiting workload needs.
        labels = lease["metadata"].get("labels") or {}
        if labels.get(CLAIM_LABEL) != "true":
            return []
        # Usage is written from the caches: once this cache shows the claim change, the
        # project's usage is recounted (so a write from a cache that lagged is made good).
        if labels.get(PROJECT_LABEL):
            self._usage_changed(str(labels[PROJECT_LABEL]))
        cache = self.ctx.cache(self.aiw_kind)
        waiting = cache.by_index(WAITING_INDEX, "quota") + cache.by_index(WAITING_INDEX, "compute")
        return sorted({key_of(a) for a in waiting})

    def _released(self, aiw: Obj) -> list[str]:
        # A workload going away releases its reservation: wake the ones waiting for quota
        # (only then, so ordinary status writes never fan out to every waiting workload).
        if not is_deleting(aiw):
            return []
        me = key_of(aiw)
        return [k for k in self._quota_waiters() if k != me]

    def _project_spec_changed(self, project: Obj) -> list[str]:
        # Limits, mappings and settings are spec: only a new generation wakes the project's
        # workloads (usage is written to the project's status on every reservation).
        ns = str(project["metadata"].get("namespace") or "")
        generation = project["metadata"].get("generation")
        if self._project_generations.get(ns) == generation:
            return []
        self._project_generations[ns] = generation
        return [key_of(a) for a in self._all(ns)]

    def watches(self) -> Iterable[tuple[KindInfo, Mapper]]:
        # Every key a watch wakes is marked as having a change to look at (`_marking`); the
        # echoes of this controller's own writes to its deployments wake nothing.
        mark = self._marking
        return [
            (self.wd_kind, Filtered(mark(owned_by(self.aiw_kind)), self._not_echo_of_wd)),
            (self.pool_kind, Filtered(mark(self._users_of_pool), pool_change_matters)),
            (self.bundle_kind, mark(self._users_of_bundle)),
            (self.profile_kind, mark(self._users_of_profile)),
            (self.kinds.project, mark(self._project_spec_changed)),
            (
                self.compute_kind,
                mark(lambda c: self._compute_waiters(c["metadata"].get("namespace"))),
            ),
            (self.kinds.lease, mark(self._claim_changed)),
            # The model credentials a Settings names (by reference) reach model workloads.
            (
                self.kinds.settings,
                mark(
                    lambda _s: [
                        key_of(a) for a in self._all() if (a.get("spec") or {}).get("model")
                    ]
                ),
            ),
            (self.aiw_kind, Filtered(mark(self._released), self._workload_changed)),
        ]

    # --- passes with nothing to do ----------------------------------------------------------
    #
    # A workload is woken by every change to it and to its deployments, this controller's own
    # writes included: half of a workload's passes used to be the echo of the pass before,
    # recomputing what that pass had just written. A pass that completed (no retry asked)
    # leaves the workload "clean"; a later wake-up runs a pass only if a watched change was
    # marked for it since (`_dirty`), or a timed retry is due, or `recheck_seconds` went by
    # (so the periodic resync still recomputes everything now and then).

    def _marking(self, mapper: Mapper) -> Mapper:
        def mark(obj: Obj) -> list[str]:
            keys = list(mapper(obj))
            self._dirty.update(keys)
            return keys

        return mark

    @contextlib.contextmanager
    def _echoing(self, tag: str, key: str, base: Obj | None) -> Iterator[None]:
        """Around a write of ours to `key` made from version `base` (None: a create): its
        watch event will be an echo. Registered before the write, since the event may
        arrive before the write's own result does. Every write here is compare-and-swap,
        so the one change made from `base` is ours, unless ours failed: then the pass
        fails too, and runs again whatever the event was taken for."""
        entry = (tag, key)
        self._echo[entry] = rv_of(base) if base is not None else 0
        try:
            yield
        except BaseException:
            self._echo.pop(entry, None)
            raise

    def _is_echo(self, tag: str, old: Obj | None, new: Obj | None) -> bool:
        if new is None:
            return False
        entry = (tag, key_of(new))
        base = self._echo.get(entry)
        if base is not None and base == (rv_of(old) if old is not None else 0):
            del self._echo[entry]
            return True
        return False

    def _not_echo_of_wd(self, old: Obj | None, new: Obj | None) -> bool:
        return not self._is_echo("wd", old, new)

    def _workload_changed(self, old: Obj | None, new: Obj | None) -> bool:
        # The primary handler queues the workload anyway; this only marks it, unless the
        # change is this controller's own write.
        self._count_reserved(old, new)
        obj = new if new is not None else old
        if obj is not None and not self._is_echo("aiw", old, new):
            self._dirty.add(key_of(obj))
        return True

    async def _write_status(self, aiw: Obj, status: dict[str, Any]) -> Obj:
        """`write_status` (only when it changed), known as our own write. The body is a
        shallow copy: both stores copy what they are given, and a deep copy of the workload
        per write was a sixth of this controller's time."""
        if (aiw.get("status") or {}) == status:
            return aiw
        body = {**aiw, "status": status}
        sub: Literal["status"] | None = "status" if self.aiw_kind.has_status else None
        with self._echoing("aiw", key_of(aiw), aiw):
            return self._note(await self.store.update(self.aiw_kind, body, subresource=sub))

    # --- usage (coalesced) ----------------------------------------------------------------

    def _usage_changed(self, ns: str) -> None:
        """Have the project's (and its tenant's) usage written again, soon."""
        self._usage_dirty.add(ns)
        if self._usage_task is None or self._usage_task.done():
            self._usage_task = asyncio.create_task(self._flush_usage(), name="aiworkload-usage")

    async def _flush_usage(self) -> None:
        """Write the usage of every marked project, at most once per `usage_seconds`: a
        fleet's reservations cost one recount and write per project per interval, not two
        recounts and writes per workload. Recounted from the caches at write time, so the
        last write follows the last change the caches show."""
        while self._usage_dirty:
            # The first change after a quiet interval is written at once; the ones that
            # follow it within the interval are written together at its end.
            wait = self._usage_written_at + self.usage_seconds - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._usage_written_at = time.monotonic()
            dirty, self._usage_dirty = sorted(self._usage_dirty), set()
            tenants: set[str] = set()
            for ns in dirty:
                project = await self._project_or_none(ns)
                if project is None:
                    continue
                tenant = project_tenant(project)
                try:
                    await write_usage(
                        self.store,
                        self.kinds,
                        project,
                        "" if tenant in tenants else tenant,
                        cached=self._usage_inputs,
                    )
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("writing the GPU usage of %s failed; retrying", ns, exc_info=True)
                    self._usage_dirty.add(ns)
                    continue
                tenants.add(tenant)

    async def aclose(self) -> None:
        """Stop the usage writer (the manager calls this when the term ends); a mark not
        flushed is made good by the next term's first recount."""
        task, self._usage_task = self._usage_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- reconcile ------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        clean = self._clean.pop(key, None)
        if (
            key not in self._dirty
            and clean is not None
            and time.monotonic() - clean < self.recheck_seconds
        ):
            self._clean[key] = clean  # only our own writes since the last pass: nothing new
            return None
        self._dirty.discard(key)
        result = await self._reconcile(key)
        if result is None and key in self.ctx.cache(self.aiw_kind).cache:
            self._clean[key] = time.monotonic()
        return result

    async def _reconcile(self, key: str) -> float | None:
        # From the cache (and this process's own newer writes), not a store read per pass: a
        # write computed from a version someone else has since replaced fails with Conflict,
        # and the runtime re-runs the pass once the cache shows the new version.
        if self._usage_all:
            self._usage_all = False
            for project in self.ctx.cache(self.kinds.project).list():
                self._usage_changed(str(project["metadata"].get("namespace") or ""))
        aiw = self._current(key)
        if aiw is None:
            self._forget(key)
            return None
        if is_deleting(aiw):
            return await self._finalize(aiw)
        if FINALIZER not in (aiw["metadata"].get("finalizers") or []):
            aiw["metadata"]["finalizers"] = [*(aiw["metadata"].get("finalizers") or []), FINALIZER]
            with self._echoing("aiw", key, aiw):
                aiw = self._wrote(await self.store.update(self.aiw_kind, aiw))
        status = status_copy(aiw)
        status["observedGeneration"] = aiw["metadata"].get("generation")
        self._latest.pop(key, None)
        try:
            return await self._advance(aiw, status)
        except Blocked as blocked:
            await self._block(self._latest.pop(key, aiw), status, blocked)
            if blocked.delay is not None:
                return blocked.delay
            return None if blocked.phase == "Failed" else self.wait_seconds

    def _forget(self, key: str) -> None:
        """Drop what this process remembers of a workload that is gone."""
        self._latest.pop(key, None)
        self._last_write.pop(key, None)
        self._clean.pop(key, None)
        self._dirty.discard(key)
        self._echo.pop(("aiw", key), None)
        self._own.forget(key)
        self._own_revisions.forget(key)
        self._own_deployments.forget(key)

    async def _block(self, aiw: Obj, status: dict[str, Any], blocked: Blocked) -> None:
        gen = aiw["metadata"].get("generation")
        conds = status["conditions"]
        set_condition(
            conds, blocked.condition, blocked.status, blocked.reason, blocked.message, gen
        )
        if blocked.condition in CONDITIONS:
            for ctype in CONDITIONS[CONDITIONS.index(blocked.condition) + 1 :]:
                if get_condition({"status": status}, ctype) is None:
                    set_condition(
                        conds, ctype, "Unknown", "Waiting", f"waiting for {blocked.condition}", gen
                    )
        set_condition(conds, "Ready", "False", blocked.reason, blocked.message, gen)
        await self._write(aiw, status, blocked.phase, blocked.message, blocked.reason)

    async def _write(
        self, aiw: Obj, status: dict[str, Any], phase: str, message: str, reason: str
    ) -> Obj:
        before = aiw.get("status") or {}
        status["phase"] = phase
        status["message"] = message
        written = await self._write_status(aiw, status)
        if reason in _ROUTINE_REASONS:
            # Every workload on a shared pool waits for its render before its GPUs can be
            # reserved: a step, not a problem, so no Warning Event (one per workload, too).
            return written
        if phase != before.get("phase") or (
            phase in ("Pending", "Failed", "Degraded") and message != before.get("message")
        ):
            if phase in ("Pending", "Failed", "Degraded"):
                await self.ctx.recorder.warning(aiw, reason, message)
            else:
                await self.ctx.recorder.normal(aiw, phase, message)
        return written

    # --- the steps ------------------------------------------------------------------------

    async def _advance(self, aiw: Obj, status: dict[str, Any]) -> float | None:
        gen = aiw["metadata"].get("generation")
        conds = status["conditions"]
        ns = aiw["metadata"]["namespace"]
        project = await self._project(ns)
        tenant = project_tenant(project)

        revisions = self._revisions(aiw)
        aiw, inputs = await self._inputs(aiw, project, tenant, revisions)
        status["bundle"] = inputs.bundle.summary()
        if inputs.rollback is not None:
            set_condition(
                conds,
                "BundleResolved",
                "True",
                "RollbackPinned",
                f"deploying the bundle snapshot of revision {inputs.rollback} "
                f"({ROLLBACK_ANNOTATION}); change the spec to return to the live bundle",
                gen,
            )
        else:
            set_condition(
                conds,
                "BundleResolved",
                "True",
                "Resolved",
                f"ProfileBundle {inputs.bundle.namespace}/{inputs.bundle.name}"
                + (f" (mapping {inputs.bundle.mapping})" if inputs.bundle.mapping else "")
                + ": profiles "
                + ", ".join(f"{n}@{r}" for n, r in sorted(inputs.profiles.items())),
                gen,
            )

        data = revision_data(aiw.get("spec") or {}, inputs.bundle.snapshot(), inputs.profiles)
        rev, changed = await ensure_revision(self.store, self.revision_kind, aiw, data, revisions)
        number = number_of(rev)
        if changed:
            key = key_of(aiw)
            self._own_revisions.wrote(key, rev)
            await self.ctx.recorder.normal(
                aiw, "RevisionCreated", f"revision {number} ({rev['metadata']['name']})"
            )
            for gone in await prune(
                self.store, self.revision_kind, self._revisions(aiw), rev["metadata"]["name"]
            ):
                self._own_revisions.deleted(key, gone)
        status["revision"] = number
        if inputs.rollback is not None and inputs.rollback != number:
            # The restored revision moved to the top: the pin follows it.
            aiw = await self._set_pin(aiw, str(number))
            await self.ctx.recorder.normal(
                aiw, "RolledBack", f"rolled back to revision {inputs.rollback} (now {number})"
            )

        pool = await self._pool(aiw, inputs.bundle, project, tenant, status)
        families = pool_families(pool)
        shared = pool_variant(pool) == "shared"
        pool_name = pool["metadata"]["name"]
        status["computePool"] = pool_name

        wds = await self._deployments(aiw, inputs, project, tenant, pool_name, number, shared)
        rolled = roll_up(wds, number, families)
        status["workloadDeployments"] = rolled.summaries
        status["components"] = rolled.components
        status["endpoints"] = rolled.endpoints
        _set_or_drop(status, "url", rolled.url)
        _set_or_drop(status, "gpuRequests", rolled.gpu_requests or None)

        pool_status = pool.get("status") or {}
        pool_phase = pool_status.get("phase")
        if pool_phase == "Failed":
            raise Blocked(
                "PoolReady",
                "PoolFailed",
                f"pool {pool_name} failed: {pool_status.get('message') or 'no message'}",
                phase="Failed",
            )
        pool_ready = pool_phase in POOL_READY_PHASES
        if pool_ready:
            set_condition(
                status["conditions"],
                "PoolReady",
                "True",
                "PoolRunning",
                f"pool {pool_name} is {pool_phase}",
                gen,
            )
        pool_message = (
            f"pool {pool_name} is {pool_phase or 'Pending'}: "
            f"{pool_status.get('message') or 'not reconciled yet'}"
        )
        if not pool_ready:
            set_condition(
                status["conditions"], "PoolReady", "False", "PoolNotReady", pool_message, gen
            )
        # Quota before the pool: a workload that cannot get its GPUs says so even while its
        # pool is still being built (the one blocking cause: quota, then pool, then deployments).
        held = [w for w in wds if (w.get("spec") or {}).get("suspend")]
        if shared:
            aiw = await self._reserve(
                aiw, project, tenant, pool_name, families, rolled, wds, status, pool_ready
            )
            rolled = roll_up(wds, number, families)  # a resumed deployment reads "resuming"
        else:
            set_condition(
                status["conditions"],
                "QuotaReserved",
                "True",
                "DedicatedPool",
                f"GPUs are charged through the hosts of dedicated pool {pool_name}",
                gen,
            )
            if status.get("gpuReservation") is not None:
                # Moved from a shared pool to a dedicated one: its hosts are charged instead.
                status.pop("gpuReservation", None)
                aiw = await self._write_status(aiw, status)
                self._usage_changed(ns)
                status.clear()
                status.update(status_copy(aiw))
        if not pool_ready:
            raise Blocked(
                "PoolReady",
                "PoolNotReady",
                pool_message,
                phase="Provisioning",
                delay=self.wait_seconds,
            )
        resumed = bool(held) and not any((w.get("spec") or {}).get("suspend") for w in wds)
        return await self._finish(aiw, status, rolled, number, resumed=resumed)

    async def _finish(
        self, aiw: Obj, status: dict[str, Any], rolled: RollUp, number: int, *, resumed: bool
    ) -> float | None:
        gen = aiw["metadata"].get("generation")
        conds = status["conditions"]
        if rolled.phase in ("Running", "Degraded"):
            set_condition(
                conds, "Deployed", "True", "Deployed", f"revision {number} delivered", gen
            )
        else:
            reason = "DeploymentFailed" if rolled.phase == "Failed" else "Deploying"
            set_condition(conds, "Deployed", "False", reason, rolled.message, gen)
        if rolled.phase == "Running":
            set_condition(conds, "Ready", "True", "Running", rolled.message, gen)
        else:
            reason = {"Failed": "DeploymentFailed", "Degraded": "Degraded"}.get(
                rolled.phase, "Deploying"
            )
            set_condition(conds, "Ready", "False", reason, rolled.message, gen)
        status["phase"], status["message"] = rolled.phase, rolled.message
        if resumed and rolled.phase == "Deploying":
            # Just resumed: its controller is about to report delivery, which wakes this
            # workload; the status written then says more than "resuming" would now (one
            # write instead of two). If it does not report within the interval, the re-run
            # writes "resuming".
            return self.settle_seconds
        settle = self._settling(aiw, status)
        if settle is not None:
            return settle
        await self._write(aiw, status, rolled.phase, rolled.message, rolled.phase)
        # What changes a deploying workload's state is its deployments' status, which wakes
        # it (no timed re-run per workload: ten thousand of them would be a steady load).
        return None

    def _settling(self, aiw: Obj, status: dict[str, Any]) -> float | None:
        """Seconds to hold back a write that only changes the messages (and deployment
        phases) of a Deploying workload written less than `settle_seconds` ago; None to
        write now.

        A deployment passes through several interim states a moment apart (resumed,
        applying, Running), each of which would be a status write here; holding back the
        interim message for a moment lets the next state replace it, so a workload costs one
        write per phase. The pass is re-run after the delay, so the message is at most that
        late; phase and condition changes are never held back."""
        before = aiw.get("status") or {}
        if status.get("phase") != "Deploying" or before.get("phase") != "Deploying":
            return None
        if _without_interim(before) != _without_interim(status):
            return None
        key = key_of(aiw)
        wait = self._last_write.get(key, 0.0) + self.settle_seconds - time.monotonic()
        return wait if wait > 0 else None

    def _revisions(self, aiw: Obj) -> list[Obj]:
        """The workload's revisions, oldest first: the cache's (indexed by the workload's
        label) with the ones this process just wrote or pruned laid over them."""
        key = key_of(aiw)
        cached = self.ctx.cache(self.revision_kind).by_index(REVISIONS_INDEX, key)
        return owned_revisions(self._own_revisions.view(key, cached), aiw)

    async def _project(self, ns: str) -> Obj:
        # Projects, bundles and profiles are read from the shared caches: this controller
        # never writes them, and a change to any of them wakes the workloads that use it.
        projects = self.ctx.cache(self.kinds.project).list(ns)
        if not projects:
            raise Blocked(
                "BundleResolved",
                "ProjectNotFound",
                f"namespace {ns} has no Project; AIWorkloads live in a project's namespace",
            )
        return projects[0]

    # --- bundle and profiles --------------------------------------------------------------

    async def _inputs(
        self, aiw: Obj, project: Obj, tenant: str, revisions: list[Obj]
    ) -> tuple[Obj, Inputs]:
        pinned = rollback_pin(aiw)
        if pinned is not None:
            rev = find_revision(revisions, pinned)
            data = (rev or {}).get("data") or {}
            if rev is not None and data.get("spec") == (aiw.get("spec") or {}):
                snap = copy_json(data.get("bundle") or {})  # the cache's is shared
                bundle = Bundle(
                    name=str(snap.get("name")),
                    namespace=str(snap.get("namespace")),
                    version=snap.get("version"),
                    spec=dict(snap.get("spec") or {}),
                    mapping=((aiw.get("status") or {}).get("bundle") or {}).get("mapping"),
                )
                profiles = {str(k): int(v) for k, v in (data.get("profiles") or {}).items()}
                return aiw, Inputs(bundle, profiles, rollback=pinned)
            why = (
                f"revision {pinned} no longer exists"
                if rev is None
                else "the spec changed since the rollback"
            )
            aiw = await self._set_pin(aiw, None)
            await self.ctx.recorder.normal(
                aiw, "RollbackReleased", f"{why}: deploying the live bundle again"
            )
        bundle = await self._bundle(aiw, project)
        profiles = await self._profiles(aiw, bundle, tenant)
        return aiw, Inputs(bundle, profiles)

    async def _set_pin(self, aiw: Obj, value: str | None) -> Obj:
        """Set (or, with None, drop) the rollback pin annotation."""
        fresh = await self.store.get(
            self.aiw_kind, aiw["metadata"]["namespace"], aiw["metadata"]["name"]
        )
        if fresh.get("spec") != aiw.get("spec"):
            raise Conflict("the AIWorkload changed meanwhile")
        annotations = dict(fresh["metadata"].get("annotations") or {})
        if value is None:
            annotations.pop(ROLLBACK_ANNOTATION, None)
        else:
            annotations[ROLLBACK_ANNOTATION] = value
        fresh["metadata"]["annotations"] = annotations
        with self._echoing("aiw", key_of(fresh), fresh):
            return self._wrote(await self.store.update(self.aiw_kind, fresh))

    async def _bundle(self, aiw: Obj, project: Obj) -> Bundle:
        spec = aiw.get("spec") or {}
        ns = aiw["metadata"]["namespace"]
        ref = spec.get("profileBundleRef") or {}
        mapping_name: str | None = None
        if not ref.get("name"):
            model = spec.get("model") or {}
            mapping = maas.choose_mapping(project, model) if model else None
            if mapping is None:
                raise Blocked(
                    "BundleResolved", "NoModelMapping", maas.no_mapping_message(project, model)
                )
            ref = mapping.get("profileBundleRef") or {}
            mapping_name = str(mapping.get("name"))
        bundle_ns = str(ref.get("namespace") or ns)
        obj = self.ctx.cache(self.bundle_kind).get(make_key(bundle_ns, str(ref.get("name"))))
        via = f" (chosen by mapping {mapping_name})" if mapping_name else ""
        if obj is None:
            raise Blocked(
                "BundleResolved",
                "ProfileBundleNotFound",
                f"ProfileBundle {bundle_ns}/{ref.get('name')}{via} not found; waiting for it",
            )
        bspec: dict[str, Any] = copy_json(obj.get("spec") or {})  # the cache's is shared
        return Bundle(
            name=str(ref.get("name")),
            namespace=bundle_ns,
            version=bspec.get("version"),
            spec=bspec,
            mapping=mapping_name,
        )

    async def _find_profile(self, name: str, namespaces: list[str]) -> Obj | None:
        for ns in namespaces:
            obj = self.ctx.cache(self.profile_kind).get(make_key(ns, name))
            if obj is not None:
                return obj
        return None

    async def _profiles(self, aiw: Obj, bundle: Bundle, tenant: str) -> dict[str, int]:
        wanted = PROFILE_TYPE.get(workload_type(aiw), "Application")
        where = profile_namespaces(bundle.namespace, aiw["metadata"]["namespace"], tenant)
        types: dict[str, str] = {}
        pinned: dict[str, int] = {}
        missing: list[str] = []
        unrevised: list[str] = []
        for ref in bundle.spec.get("workloadProfiles") or []:
            name = str(ref.get("name"))
            profile = await self._find_profile(name, where)
            if profile is None:
                missing.append(name)
                continue
            types[name] = str((profile.get("spec") or {}).get("type"))
            revision = ref.get("revision") or latest_revision(profile)
            if revision is None:
                unrevised.append(name)
            else:
                pinned[name] = int(revision)
        if types and wanted not in types.values() and not missing:
            raise Blocked(
                "BundleResolved",
                "WrongProfileType",
                wrong_type_message(bundle, wanted, types),
                phase="Failed",
            )
        if not bundle.spec.get("workloadProfiles"):
            raise Blocked(
                "BundleResolved",
                "WrongProfileType",
                wrong_type_message(bundle, wanted, {}),
                phase="Failed",
            )
        if missing:
            raise Blocked(
                "BundleResolved",
                "WorkloadProfileNotFound",
                f"WorkloadProfile {', '.join(missing)} of ProfileBundle {bundle.namespace}/"
                f"{bundle.name} not found (looked in {', '.join(where)}); waiting for it",
            )
        if unrevised:
            raise Blocked(
                "BundleResolved",
                "ProfileRevisionPending",
                f"WorkloadProfile {', '.join(unrevised)} has no revision yet; waiting for it",
                delay=self.poll_seconds,
            )
        return pinned

    # --- pool -----------------------------------------------------------------------------

    async def _pool(
        self, aiw: Obj, bundle: Bundle, project: Obj, tenant: str, status: dict[str, Any]
    ) -> Obj:
        spec = aiw.get("spec") or {}
        ns, me = aiw["metadata"]["namespace"], aiw["metadata"]["name"]
        ref = (spec.get("computePoolRef") or {}).get("name")
        if ref:
            pool = await self._pool_or_none(ns, str(ref))
            if pool is None:
                raise Blocked(
                    "PoolReady",
                    "PoolNotFound",
                    f"ComputePool {ns}/{ref} (spec.computePoolRef) not found; waiting for it",
                )
            if pool_variant(pool) == "dedicated":
                other = await self._dedicated_user(pool, me)
                if other is not None:
                    raise Blocked(
                        "PoolReady",
                        "PoolDedicated",
                        f"pool {ref} is dedicated to aiworkload {other}",
                    )
            return pool
        name = dedicated_pool_name(me)
        pool = await self._pool_or_none(ns, name)
        if pool is not None:
            if aiw["metadata"]["uid"] not in owner_uids(pool):
                raise Blocked(
                    "PoolReady",
                    "PoolNameTaken",
                    f"a ComputePool {ns}/{name} not made for this AIWorkload exists; rename "
                    "one of them",
                )
            return pool
        cluster_bundle = await self._cluster_bundle(bundle, ns)
        body = dedicated_pool_body(aiw, name, cluster_bundle, owner_ref(aiw))
        async with project_lock(ns):
            await self._precheck(aiw, body, project, tenant)
            pool = await ensure(self.store, self.pool_kind, body, fields=("spec",))
        await self.ctx.recorder.normal(aiw, "PoolCreated", f"dedicated ComputePool {name} created")
        return pool

    async def _pool_or_none(self, ns: str, name: str) -> Obj | None:
        """The pool from the cache (a change to it wakes its users); one the cache does not
        show yet (a dedicated pool this controller just created) from the store."""
        pool = self.ctx.cache(self.pool_kind).get(make_key(ns, name))
        if pool is None:
            pool = await get_or_none(self.store, self.pool_kind, ns, name)
        return pool

    async def _dedicated_user(self, pool: Obj, me: str) -> str | None:
        """The AIWorkload a dedicated pool serves when it is not `me` (first come)."""
        owner = controller_owner(pool, "AIWorkload")
        if owner:
            return owner if owner != me else None
        ns, name = pool["metadata"]["namespace"], pool["metadata"]["name"]
        users = [
            a
            for a in self.ctx.cache(self.aiw_kind).by_index(POOL_USERS_INDEX, f"{ns}/{name}")
            if ((a.get("spec") or {}).get("computePoolRef") or {}).get("name") == name
        ]
        users.sort(
            key=lambda a: (str(a["metadata"].get("creationTimestamp") or ""), a["metadata"]["name"])
        )
        first = str(users[0]["metadata"]["name"]) if users else me
        return None if first == me else first

    async def _cluster_bundle(self, bundle: Bundle, ns: str) -> dict[str, str]:
        if bundle.has_cluster_profile():
            return {"name": bundle.name, "namespace": bundle.namespace}
        infra = [
            b
            for b in self.ctx.cache(self.bundle_kind).list(ns)
            if (b.get("spec") or {}).get("type") in ("Infrastructure", "Fullstack")
        ]
        labelled = [
            b
            for b in infra
            if (b["metadata"].get("labels") or {}).get(DEFAULT_INFRA_LABEL) == "true"
        ]
        chosen = labelled or (infra if len(infra) == 1 else [])
        if not chosen:
            what = "none" if not infra else ", ".join(b["metadata"]["name"] for b in infra)
            raise Blocked(
                "PoolReady",
                "ClusterProfileMissing",
                f"the dedicated pool needs a cluster profile: ProfileBundle {bundle.namespace}/"
                f"{bundle.name} has none, and namespace {ns} has no single Infrastructure "
                f"bundle to build it from (found: {what}); use a Fullstack bundle or label one "
                f'Infrastructure bundle {DEFAULT_INFRA_LABEL}: "true"',
            )
        return {"name": chosen[0]["metadata"]["name"], "namespace": ns}

    async def _precheck(self, aiw: Obj, body: Obj, project: Obj, tenant: str) -> None:
        """Enough matching hosts, and GPU limits that cover them, before any pool exists."""
        ns = aiw["metadata"]["namespace"]
        computes = self.ctx.cache(self.compute_kind).list(ns)
        if len(computes) != 1:
            what = "no Compute" if not computes else f"{len(computes)} Computes"
            raise Blocked(
                "PoolReady",
                "ComputeNotFound",
                f"namespace {ns} has {what}; a dedicated pool is built from the project's "
                "Compute inventory",
            )
        compute = computes[0]
        cst = compute.get("status") or {}
        cname = f"{ns}/{compute['metadata']['name']}"
        if not cst.get("lastSyncTime"):
            raise Blocked(
                "PoolReady",
                "InventoryNotSynced",
                f"Compute {cname} has no inventory yet",
                delay=self.poll_seconds,
            )
        probe = copy_json(body)
        probe["metadata"]["uid"] = aiw["metadata"]["uid"]
        plan = pool_plan(probe)
        taken = [c.host_uid for c in self._claims("")]
        selector = (compute.get("spec") or {}).get("tagSelector") or DEFAULT_TAG_SELECTOR
        selection = select_hosts(candidates(cst), plan.clusters, taken=taken, implied_tags=selector)
        if not selection.ok:
            raise Blocked(
                "PoolReady",
                "InsufficientCompute",
                f"{selection.message()} in Compute {cname}; free or add matching hosts, or "
                "lower the node counts of spec.paletteClusterDeploymentConfig",
            )
        needed: dict[str, int] = {}
        for pick in selection.picks:
            add(needed, pick.host.gpus)  # whole hosts are charged
        needed = clean(needed)
        problems = headroom_problems(
            needed,
            await recompute_usage(self.store, self.kinds, ns, cached=self._usage_inputs),
            limits_of(project),
            f"project {ns}",
        )
        if tenant:
            tobj = await get_or_none(self.store, self.kinds.tenant, None, tenant)
            problems += headroom_problems(
                needed,
                await recompute_tenant_usage(
                    self.store, self.kinds, tenant, cached=self._usage_inputs
                ),
                limits_of(tobj),
                f"tenant {tenant}",
            )
        if problems:
            raise Blocked(
                "PoolReady",
                "QuotaExceeded",
                "; ".join(problems) + " (the dedicated pool's hosts are charged whole)",
            )

    # --- workload deployments ---------------------------------------------------------------

    async def _declared(self, bundle: Bundle, ns: str) -> set[str]:
        names = {str(v.get("name")) for v in bundle.variables}
        for where in (SYSTEM_NAMESPACE, ns):
            for set_name in VARIABLE_SET_NAMES:
                vs = await get_or_none(self.store, self.varset_kind, where, set_name)
                for var in ((vs or {}).get("spec") or {}).get("variables") or []:
                    names.add(str(var.get("name")))
        return names

    async def _effective_settings(self, project: Obj, tenant: str) -> dict[str, Any] | None:
        ns = project["metadata"]["namespace"]
        ref = ((project.get("spec") or {}).get("settingsRef") or {}).get("name")
        where: tuple[str, str] | None = (ns, str(ref)) if ref else None
        if where is None and tenant:
            tobj = await get_or_none(self.store, self.kinds.tenant, None, tenant)
            tref = ((tobj or {}).get("spec") or {}).get("settingsRef") or {}
            if tref.get("name"):
                where = (str(tref.get("namespace") or f"tenant-{tenant}"), str(tref["name"]))
        if where is None:
            return None
        settings = await get_or_none(self.store, self.kinds.settings, where[0], where[1])
        return ((settings or {}).get("status") or {}).get("effectiveSettings")

    async def _owned_deployments(self, aiw: Obj) -> list[Obj]:
        # From the informer cache, indexed by workload: a store list by label reads every
        # WorkloadDeployment of the namespace, which made each pass O(workloads) (the fleet
        # benchmark's largest cost). A deployment created a moment ago and not cached yet is
        # found again by `ensure` (create, or update what exists).
        # Laid over: the ones this process just created, changed or deleted.
        m = aiw["metadata"]
        key = f"{m['namespace']}/{m['name']}"
        items = self.ctx.cache(self.wd_kind).by_index(OWNED_INDEX, key)
        return [w for w in self._own_deployments.view(key, items) if m["uid"] in owner_uids(w)]

    async def _create_or_ensure(self, body: Obj, absent: bool) -> Obj:
        """Write a deployment: created straight away when the cache (with this process's own
        writes) has none, else brought up to date by `ensure`.

        A new deployment carries the WorkloadDeployment controller's finalizer from the start:
        no window in which it could be deleted unfinalized, and no second write (and watch
        event, and pass) per deployment to add it. A create that finds one after all (cached
        a moment behind the store) falls back to `ensure`."""
        if absent:
            fresh = copy_json(body)
            fresh["metadata"]["finalizers"] = [WD_FINALIZER]
            fresh["apiVersion"] = self.wd_kind.api_version
            fresh["kind"] = self.wd_kind.kind
            try:
                return await self.store.create(self.wd_kind, fresh)
            except AlreadyExists:
                pass
        return await ensure(self.store, self.wd_kind, body, fields=("spec",))

    async def _deployments(
        self,
        aiw: Obj,
        inputs: Inputs,
        project: Obj,
        tenant: str,
        pool_name: str,
        number: int,
        shared: bool,
    ) -> list[Obj]:
        m = aiw["metadata"]
        ns = m["namespace"]
        spec = aiw.get("spec") or {}
        variables = dict(spec.get("variables") or {})
        secret_refs: list[dict[str, str]] = []
        if workload_type(aiw) == "model" and spec.get("model"):
            declared = await self._declared(inputs.bundle, ns)
            variables = {**maas.model_variables(spec["model"], declared), **variables}
            ref = maas.credentials_ref(
                await self._effective_settings(project, tenant), spec["model"].get("source")
            )
            if ref is not None:
                secret_refs.append(ref)
        existing = {w["metadata"]["name"]: w for w in await self._owned_deployments(aiw)}
        wanted: list[Obj] = []
        for ref in inputs.bundle.spec.get("workloadProfiles") or []:
            profile = str(ref.get("name"))
            name = deployment_name(m["name"], profile)
            current = existing.get(name)
            # A dedicated pool's GPUs are charged by its claims: never held back. On a shared
            # pool a new deployment waits for the quota step, which sets `suspend` itself.
            suspend = False
            if shared:
                suspend = current is None or bool((current.get("spec") or {}).get("suspend"))
            wd_spec: dict[str, Any] = {
                "workloadProfileRef": {"name": profile, "revision": inputs.profiles[profile]},
                "environmentRef": {"name": pool_name},
                "profileBundleRef": {
                    "name": inputs.bundle.name,
                    "namespace": inputs.bundle.namespace,
                },
                "aiWorkloadRef": {"name": m["name"]},
                "variables": variables,
                "bundleVariables": inputs.bundle.variables,
                "revision": number,
                "suspend": suspend,
            }
            if secret_refs:
                wd_spec["secretRefs"] = secret_refs
            body = {
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "labels": {AIWORKLOAD_LABEL: m["name"]},
                    "ownerReferences": [owner_ref(aiw)],
                },
                "spec": wd_spec,
            }
            created = current is None
            if current is not None and _up_to_date(current, body):
                # Nothing to write: no store read either (most passes of a deploying workload
                # only roll its deployments' status up).
                wanted.append(current)
                continue
            # A create is known as our own write; an update through `ensure` (a new
            # revision) starts from the store's version, unknown here, so its echo is
            # taken as news (one extra pass per new revision).
            with self._echoing("wd", make_key(ns, name), None) if created else _nothing():
                wd = self._wrote_deployment(aiw, await self._create_or_ensure(body, created))
            if created:
                await self.ctx.recorder.normal(
                    aiw, "WorkloadDeploymentCreated", f"WorkloadDeployment {name} created"
                )
            wanted.append(wd)
        keep = {w["metadata"]["name"] for w in wanted}
        for name, wd in existing.items():
            if name not in keep and not is_deleting(wd):
                try:
                    with self._echoing("wd", key_of(wd), wd):
                        gone = await self.store.delete(
                            self.wd_kind, ns, name, uid=wd["metadata"]["uid"]
                        )
                except (NotFound, Conflict):
                    continue
                self._deleted_deployment(aiw, gone)
                await self.ctx.recorder.normal(
                    aiw,
                    "WorkloadDeploymentDeleted",
                    f"WorkloadDeployment {name} deleted: its profile left the bundle",
                )
        return wanted

    def _wrote_deployment(self, aiw: Obj, wd: Obj) -> Obj:
        return self._own_deployments.wrote(key_of(aiw), wd)

    def _deleted_deployment(self, aiw: Obj, gone: Obj) -> None:
        self._own_deployments.deleted(key_of(aiw), gone)

    async def _set_suspend(self, aiw: Obj, wds: list[Obj], suspend: bool) -> None:
        """Set `spec.suspend` of each deployment; `wds` gets the written versions (so the
        roll-up after it says "resuming", not the "on hold" its status still shows)."""
        for i, wd in enumerate(wds):
            for _ in range(5):
                if bool((wd.get("spec") or {}).get("suspend")) == suspend:
                    break
                # A copy: `wds` may be the cache's own objects.
                wd = {**wd, "spec": {**(wd.get("spec") or {}), "suspend": suspend}}
                try:
                    with self._echoing("wd", key_of(wd), wd):
                        written = await self.store.update(self.wd_kind, wd)
                    wds[i] = self._wrote_deployment(aiw, written)
                    break
                except Conflict:
                    fresh = await get_or_none(
                        self.store,
                        self.wd_kind,
                        wd["metadata"]["namespace"],
                        wd["metadata"]["name"],
                    )
                    if fresh is None:
                        break
                    wd = fresh

    # --- quota (shared pools) -------------------------------------------------------------

    async def _reserve(
        self,
        aiw: Obj,
        project: Obj,
        tenant: str,
        pool_name: str,
        families: list[str],
        rolled: RollUp,
        wds: list[Obj],
        status: dict[str, Any],
        pool_ready: bool,
    ) -> Obj:
        gen = aiw["metadata"].get("generation")
        conds = status["conditions"]
        ns = aiw["metadata"]["namespace"]
        current = (aiw.get("status") or {}).get("gpuReservation")
        if not rolled.rendered:
            if current is None and not pool_ready:
                set_condition(
                    conds,
                    "QuotaReserved",
                    "Unknown",
                    "WaitingForRender",
                    "the GPUs the workload requests are reserved once it is rendered",
                    gen,
                )
                return aiw
            if current is None:
                raise Blocked(
                    "QuotaReserved",
                    "WaitingForRender",
                    "rendering to learn the GPUs the workload requests; it is delivered once "
                    "they are reserved",
                    delay=self.wait_seconds,
                )
            set_condition(
                conds,
                "QuotaReserved",
                "True",
                "Reserved",
                "GPUs reserved: " + _fmt(current) + " (the new revision is rendering)",
                gen,
            )
            return aiw
        if rolled.unmapped:
            await self._set_suspend(aiw, wds, True)
            raise Blocked(
                "QuotaReserved",
                "UnknownGpuFamily",
                FamilyMapping(rolled.gpu_requests, rolled.unmapped).message(pool_name, families),
            )
        needed = rolled.gpu_requests
        if current is not None and clean(current) == needed:
            # The same words as when it was reserved: a message that changed between passes
            # would be a status write on every later pass.
            held = "GPUs reserved: " + _fmt(needed) if needed else "no GPUs requested"
            set_condition(conds, "QuotaReserved", "True", "Reserved", held, gen)
            await self._set_suspend(aiw, wds, False)
            return aiw
        if not needed and not clean(current or {}):
            # Nothing requested and nothing held: no recount, no usage write (a fleet of
            # CPU-only workloads must not recount every claim of the tenant per workload).
            status["gpuReservation"] = {}
            set_condition(conds, "QuotaReserved", "True", "Reserved", "no GPUs requested", gen)
            await self._set_suspend(aiw, wds, False)
            return aiw
        key = key_of(aiw)
        async with project_lock(ns):
            used = await recompute_usage(
                self.store, self.kinds, ns, exclude=key, cached=self._usage_inputs
            )
            problems = headroom_problems(needed, used, limits_of(project), f"project {ns}")
            if tenant:
                tobj = await get_or_none(self.store, self.kinds.tenant, None, tenant)
                problems += headroom_problems(
                    needed,
                    await recompute_tenant_usage(
                        self.store, self.kinds, tenant, exclude=key, cached=self._usage_inputs
                    ),
                    limits_of(tobj),
                    f"tenant {tenant}",
                )
            if problems:
                await self._set_suspend(aiw, wds, True)
                raise Blocked(
                    "QuotaReserved",
                    "WaitingForQuota",
                    "waiting for GPU quota: " + "; ".join(problems),
                    delay=self.wait_seconds,
                )
            status["gpuReservation"] = dict(needed)
            set_condition(
                conds, "QuotaReserved", "True", "Reserved", "GPUs reserved: " + _fmt(needed), gen
            )
            # Written inside the lock: the next reservation's recomputation must see it.
            aiw = await self._write_status(aiw, status)
        # Usage in the project's and tenant's status is for people and the admission check
        # only (decisions recount, above): written once per interval for all reservations.
        self._usage_changed(ns)
        await self.ctx.recorder.normal(aiw, "QuotaReserved", "GPUs reserved: " + _fmt(needed))
        await self._set_suspend(aiw, wds, False)
        status.clear()
        status.update(status_copy(aiw))
        return aiw

    # --- deletion -------------------------------------------------------------------------

    async def _finalize(self, aiw: Obj) -> float | None:
        if FINALIZER not in (aiw["metadata"].get("finalizers") or []):
            return None
        ns, me = aiw["metadata"]["namespace"], aiw["metadata"]["name"]
        status = status_copy(aiw)
        gen = aiw["metadata"].get("generation")
        conds = status["conditions"]
        wds = await self._owned_deployments(aiw)
        if wds:
            for wd in wds:
                if not is_deleting(wd):
                    try:
                        with self._echoing("wd", key_of(wd), wd):
                            gone = await self.store.delete(
                                self.wd_kind, ns, wd["metadata"]["name"], uid=wd["metadata"]["uid"]
                            )
                    except (NotFound, Conflict):
                        continue
                    self._deleted_deployment(aiw, gone)
            msg = f"removing {len(wds)} workload deployment(s) from their spokes: " + ", ".join(
                sorted(w["metadata"]["name"] for w in wds)
            )
            set_condition(conds, "Ready", "False", "DeletingWorkloads", msg, gen)
            await self._write(aiw, status, "Deleting", msg, "Deleting")
            return self.poll_seconds
        pool = await get_or_none(self.store, self.pool_kind, ns, dedicated_pool_name(me))
        if pool is not None and aiw["metadata"]["uid"] in owner_uids(pool):
            if not is_deleting(pool):
                with contextlib.suppress(NotFound, Conflict):
                    await self.store.delete(
                        self.pool_kind, ns, pool["metadata"]["name"], uid=pool["metadata"]["uid"]
                    )
                await self.ctx.recorder.normal(
                    aiw, "PoolDeleting", f"deleting dedicated pool {pool['metadata']['name']}"
                )
            why = (pool.get("status") or {}).get("message") or "deleting"
            msg = f"waiting for dedicated pool {pool['metadata']['name']} to be deleted: {why}"
            set_condition(conds, "Ready", "False", "DeletingPool", msg, gen)
            await self._write(aiw, status, "Deleting", msg, "Deleting")
            return self.poll_seconds
        held = any(reservation_of(aiw).values())
        if status.get("gpuReservation") is not None or status.get("phase") != "Deleting":
            status.pop("gpuReservation", None)
            set_condition(conds, "QuotaReserved", "False", "Released", "reservation released", gen)
            msg = "workloads and pool removed; releasing quota"
            set_condition(conds, "Ready", "False", "Deleting", msg, gen)
            aiw = await self._write(aiw, status, "Deleting", msg, "Deleting")
        project = await self._project_or_none(ns)
        if project is not None and held:
            # The reservation is out of the status: usage no longer counts it, and is right
            # before the workload disappears. (A workload that held no GPUs changes no usage.)
            await write_usage(
                self.store,
                self.kinds,
                project,
                project_tenant(project),
                cached=self._usage_inputs,
            )
        fresh = await get_or_none(self.store, self.aiw_kind, ns, me)
        if fresh is not None:
            fresh["metadata"]["finalizers"] = [
                f for f in fresh["metadata"].get("finalizers") or [] if f != FINALIZER
            ]
            await self.store.update(self.aiw_kind, fresh)
        return None

    async def _project_or_none(self, ns: str) -> Obj | None:
        items = self.ctx.cache(self.kinds.project).list(ns)
        return items[0] if items else None


# Blocked reasons that are a normal step of every workload: status says them, no Event does.
_ROUTINE_REASONS = frozenset({"WaitingForRender"})


def _up_to_date(current: Obj, desired: Obj) -> bool:
    """`ensure(..., fields=("spec",))` would write nothing: the spec is the desired one and
    the desired labels and owners are there."""
    m, want = current.get("metadata") or {}, desired["metadata"]
    have_labels = m.get("labels") or {}
    have_owners = {r.get("uid") for r in m.get("ownerReferences") or []}
    return (
        current.get("spec") == desired.get("spec")
        and all(have_labels.get(k) == v for k, v in (want.get("labels") or {}).items())
        and all(r["uid"] in have_owners for r in want.get("ownerReferences") or [])
    )


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


def _without_interim(status: dict[str, Any]) -> dict[str, Any]:
    """A status without what a deploying workload's deployments pass through a moment apart:
    the messages (its own and its conditions') and its deployments' phases (`_settling`)."""
    out = {k: v for k, v in status.items() if k != "message"}
    out["conditions"] = [
        {k: v for k, v in c.items() if k != "message"} for c in status.get("conditions") or []
    ]
    out["workloadDeployments"] = [
        {k: v for k, v in w.items() if k != "phase"}
        for w in status.get("workloadDeployments") or []
    ]
    return out


def _set_or_drop(status: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        status.pop(key, None)
    else:
        status[key] = value


def _fmt(usage: dict[str, Any]) -> str:
    return ", ".join(f"{n} {f}" for f, n in sorted(usage.items())) or "none"


__all__ = ["FINALIZER", "AIWorkloadReconciler", "deployment_name"]
