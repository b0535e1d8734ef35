"""The ComputePool reconciler: reserved machines -> a Palette cluster -> a joined spoke.

One pass never blocks: it does the next step that can be done now, records where it is in
`status`, and asks to run again (a requeue, never a sleep). The steps, in order:

1. **Resolve** the project (and its tenant), the Compute inventory (`spec.computeRef`, else the
   only Compute of the namespace), the Palette provider (the Settings the Compute read its
   inventory through), and the profile bundle's Infrastructure/Full cluster profile.
2. **Reserve** hosts (`hostselection.select_hosts` on the Compute status, minus hosts other
   pools claim), check the project's and tenant's `gpuLimits` against the claims, and claim
   all hosts atomically (`reservations.claim_all`: one Lease per host, created or not). The
   check-and-claim runs under one lock per hub process, and only the leader reconciles, so two
   pools can never both pass the quota check with the same headroom. Usage is then recomputed
   from the claims into `Project.status.gpuUsage` and `Tenant.status.gpuUsage`.
   Shortfalls wait with `ComputeAvailable=False` (`InsufficientCompute`, naming what is
   missing) or `QuotaAvailable=False` (`QuotaExceeded`, with the numbers); nothing is held
   meanwhile.
3. **Create** each Palette cluster (the request is `poolrequest.create_request`; names and
   host needs come from `poolplan`) under a deterministic name (`<pool>-<uid[:8]>`, `-<i>` per
   extra cluster of a shared pool). The name is written to status before the create call, and
   before creating, Palette is searched for a cluster of that name: a hub killed mid-create and
   restarted adopts the cluster it made rather than making a second one.
4. **Poll** its state each `poll_seconds` (`Provisioning`); Palette's `Error` fails the pool
   with Palette's message (`Failed`).
5. When Running: store the kubeconfig in Secret `<pool>-kubeconfig`, create the `Spoke` (named
   after the cluster), a one-time bootstrap token Secret, and install the agent
   (`spokeinstaller`); wait for `Joined=True` (`Joining`), then `Running`. A spoke whose
   `Available` is not True makes the pool `Degraded`, with the time since its last heartbeat.
6. Keep an `Environment` named after the pool (owned by it) targeting the pool.

**Deletion** (finalizer `axle.dev/computepool-protection`): waits while Works remain in the
spokes' namespaces (`spoke-<name>`), then per `deletionPolicy`:

- `delete`: each Palette cluster is deleted and the pool waits until Palette reports it
  `Deleted` (or no longer knows it); only then are the agent stopped, the Spoke, bootstrap
  and kubeconfig Secrets deleted and the host claims released. The finalizer is never removed
  while a Palette cluster of the pool may still exist, so no cluster is left behind;
- `orphan`: the Palette clusters are left running and keep their hosts on Palette's side; the
  hub forgets them: the agent is stopped, the Spoke and Secrets deleted, the claims released
  (so the project's GPU quota is no longer charged; the hosts stay `in-use` in Compute, since
  Palette still holds them, and are not picked again until Palette frees them).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from axle.api.meta import GROUP, SYSTEM_NAMESPACE, get_condition, set_condition
from axle.api.registry import KindInfo
from axle.api.spoke import spoke_namespace
from axle.api.spoketokens import SPOKE_LABEL, bootstrap_secret, new_bootstrap_token
from axle.controllers.blocked import Blocked
from axle.controllers.controller import Context, Filtered, Mapper, Reconciler
from axle.controllers.hostselection import Candidate, candidates, select_hosts
from axle.controllers.objects import (
    delete_if_exists,
    ensure,
    get_or_none,
    is_deleting,
    key_of,
    make_key,
    owner_ref,
    write_status,
)
from axle.controllers.poolplan import PoolPlan, pool_plan
from axle.controllers.poolrequest import create_request
from axle.controllers.provider_cache import ProviderCache, ProviderFactory, palette_provider
from axle.controllers.quota import recompute_tenant_usage, recompute_usage, write_usage
from axle.controllers.reservations import (
    CLAIM_LABEL,
    HostClaim,
    claim_all,
    gpu_usage,
    list_claims,
    pool_claims,
    quota_problems,
    release_pool,
)
from axle.controllers.spokeinstaller import (
    AgentRequest,
    InstallError,
    SpokeInstaller,
    kubeconfig_server,
)
from axle.controllers.tenancy import project_changed, project_tenant, status_copy
from axle.errors import NotFound
from axle.providers.base import InvalidRequest, ProviderError
from axle.providers.base import NotFound as ProviderNotFound
from axle.providers.palette import (
    EdgeNativeClusterEntity,
    PaletteClient,
)
from axle.providers.palette.lookup import find_cluster_by_name, resolve_cluster_profile
from axle.store.base import Obj
from axle.utils.jsoncopy import copy_json

log = logging.getLogger(__name__)

FINALIZER = "axle.dev/computepool-protection"
POOL_LABEL = "axle.dev/compute-pool"
DEFAULT_TAG_SELECTOR = {"palette.ai": "true"}
CONDITION_TYPES = ("ComputeAvailable", "QuotaAvailable", "ClusterProvisioned", "SpokeJoined")
PROVISIONING_STATES = frozenset({"Pending", "Provisioning", "Importing", ""})


@dataclass
class Resolved:
    project: Obj
    tenant: str
    compute: Obj
    provider: Any
    profile: dict[str, Any]
    claims: list[HostClaim] = field(default_factory=list)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def kubeconfig_server_of_file(path: Path) -> str:
    try:
        return kubeconfig_server(path.read_text())
    except OSError:
        return ""


def heartbeat_age(since: str | None, now: datetime) -> str:
    """`42s ago`, `5m ago`, `3h ago` (or `never`) for a Degraded pool's message."""
    if not since:
        return "never"
    try:
        then = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        return since
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def spoke_changed(old: Obj | None, new: Obj | None) -> bool:
    """Whether a Spoke event matters to its pool: anything but the heartbeat time moving."""
    if old is None or new is None:
        return True

    def significant(spoke: Obj) -> tuple[Any, ...]:
        meta = spoke.get("metadata") or {}
        status = {k: v for k, v in (spoke.get("status") or {}).items() if k != "lastHeartbeatTime"}
        return (
            meta.get("labels"),
            meta.get("deletionTimestamp"),
            meta.get("finalizers"),
            spoke.get("spec"),
            status,
        )

    return significant(old) != significant(new)


class ComputePoolReconciler(Reconciler):
    name = "computepool"

    def __init__(
        self,
        ctx: Context,
        *,
        installer: SpokeInstaller | None = None,
        hub_url: str = "",
        data_dir: Path | None = None,
        provider_factory: ProviderFactory | None = None,
        poll_seconds: float = 2.0,
        wait_seconds: float = 10.0,
        token_ttl_seconds: int = 3600,
        now: Callable[[], datetime] = _utcnow,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(ctx)
        reg = ctx.kinds.registry
        self.pool_kind = reg.by_group_kind(GROUP, "ComputePool")
        self.compute_kind = reg.by_group_kind(GROUP, "Compute")
        self.bundle_kind = reg.by_group_kind(GROUP, "ProfileBundle")
        self.spoke_kind = reg.by_group_kind(GROUP, "Spoke")
        self.work_kind = reg.by_group_kind(GROUP, "Work")
        self.env_kind = reg.by_group_kind(GROUP, "Environment")
        if installer is None:
            from axle.controllers.spokeinstaller import DefaultInstaller

            installer = DefaultInstaller(data_dir or Path(".axle"))
        self.installer = installer
        self._hub_url = hub_url
        self.data_dir = data_dir
        self.providers = ProviderCache(provider_factory or palette_provider)
        self.poll_seconds = poll_seconds
        self.wait_seconds = wait_seconds
        self.token_ttl_seconds = token_ttl_seconds
        self.now = now
        self.clock = clock
        # Selection, quota check and claims run one pool at a time in this process.
        self._reserve_lock = asyncio.Lock()
        # Compute uid -> (resourceVersion, its hosts as candidates); see `_candidates`.
        self._candidates_cache: dict[str, tuple[str, list[Candidate]]] = {}
        # The last version of each pool this reconcile wrote (one reconcile per key at once).
        self._latest: dict[str, Obj] = {}

    @property
    def kind(self) -> KindInfo:
        return self.pool_kind

    @property
    def hub_url(self) -> str:
        """Where agents reach the hub: as given, else the plain-HTTP form of the URL in the
        kubeconfig the hub writes to its data dir at start-up (one port serves both)."""
        if not self._hub_url and self.data_dir is not None:
            server = kubeconfig_server_of_file(self.data_dir / "kubeconfig")
            if server:
                self._hub_url = server.replace("https://", "http://", 1)
        return self._hub_url

    # --- wiring ---------------------------------------------------------------------------

    def _pools_in(self, namespace: str) -> list[str]:
        return [key_of(p) for p in self.ctx.cache(self.kind).list(namespace)]

    def _waiting_pools(self, namespace: str | None = None) -> list[str]:
        return [
            key_of(p)
            for p in self.ctx.cache(self.kind).list(namespace)
            if (p.get("status") or {}).get("phase") in (None, "Pending")
        ]

    def _released_claim(self, lease: Obj) -> list[str]:
        # Only host claims matter (not the leader's or the spokes' heartbeat Leases).
        if (lease["metadata"].get("labels") or {}).get(CLAIM_LABEL) != "true":
            return []
        return self._waiting_pools()

    @staticmethod
    def _pool_of_spoke(spoke: Obj) -> list[str]:
        ref = (spoke.get("spec") or {}).get("computePoolRef") or {}
        if not ref.get("name") or not ref.get("namespace"):
            return []
        return [make_key(ref["namespace"], ref["name"])]

    def watches(self) -> Iterable[tuple[KindInfo, Mapper]]:
        k = self.kinds
        return [
            # A new inventory matters to pools still choosing hosts; running pools learn
            # what they need from Palette and their Spoke.
            (
                self.compute_kind,
                lambda c: self._waiting_pools(c["metadata"].get("namespace") or ""),
            ),
            # Not on usage updates: every workload's reservation rewrites the project's
            # status, and a thousand pools in the namespace would each reconcile again.
            (
                k.project,
                Filtered(
                    lambda p: self._pools_in(p["metadata"].get("namespace") or ""),
                    project_changed,
                ),
            ),
            # Not on every heartbeat: only when the spoke's spec, labels, conditions or
            # capacity change (its Available condition flips when heartbeats stop).
            (self.spoke_kind, Filtered(self._pool_of_spoke, spoke_changed)),
            # A released claim may be what a waiting pool needs.
            (k.lease, self._released_claim),
        ]

    async def aclose(self) -> None:
        await self.providers.aclose()
        await self.installer.aclose()

    # --- reconcile ------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        pool = self.cached(key)
        if pool is None:
            return None
        if is_deleting(pool):
            return await self._finalize(pool)
        finalizers = pool["metadata"].get("finalizers") or []
        if FINALIZER not in finalizers:
            pool = await self._add_finalizer(pool)
        plan = pool_plan(pool)
        status = status_copy(pool)
        status["variant"] = plan.variant
        status["observedGeneration"] = pool["metadata"].get("generation")
        status.setdefault("clusters", [])
        self._latest.pop(key, None)
        try:
            delay = await self._advance(pool, plan, status)
        except Blocked as blocked:
            # Steps before the one that stopped may have written the pool: build on the
            # latest version, or the write would conflict and the reason be lost.
            pool = self._latest.pop(key, pool)
            delay = blocked.delay if blocked.delay is not None else self.wait_seconds
            created = any(c.get("paletteClusterUid") for c in status.get("clusters") or [])
            if blocked.phase == "Pending" and created:
                # A pool whose clusters exist is not back to choosing hosts: it keeps its
                # phase and the condition says what is wrong now.
                blocked.phase = str((pool.get("status") or {}).get("phase") or "Provisioning")
            await self._block(pool, status, blocked)
            return delay
        self._latest.pop(key, None)
        return delay

    async def _add_finalizer(self, pool: Obj) -> Obj:
        fresh = await self.store.get(
            self.kind, pool["metadata"]["namespace"], pool["metadata"]["name"]
        )
        fresh["metadata"]["finalizers"] = [*(fresh["metadata"].get("finalizers") or []), FINALIZER]
        return await self.store.update(self.kind, fresh)

    async def _block(self, pool: Obj, status: dict[str, Any], blocked: Blocked) -> None:
        gen = pool["metadata"].get("generation")
        conds = status["conditions"]
        set_condition(
            conds, blocked.condition, blocked.status, blocked.reason, blocked.message, gen
        )
        # Conditions after the blocked one have not been evaluated in this pass.
        after = CONDITION_TYPES[CONDITION_TYPES.index(blocked.condition) + 1 :]
        for ctype in after:
            if get_condition({"status": status}, ctype) is None:
                set_condition(
                    conds, ctype, "Unknown", "Waiting", f"waiting for {blocked.condition}", gen
                )
        set_condition(conds, "Ready", "False", blocked.reason, blocked.message, gen)
        await self._write(pool, status, blocked.phase, blocked.message)

    async def _write(self, pool: Obj, status: dict[str, Any], phase: str, message: str) -> Obj:
        was = (pool.get("status") or {}).get("phase")
        was_message = (pool.get("status") or {}).get("message")
        status["phase"] = phase
        status["message"] = message
        written = await write_status(self.store, self.kind, pool, status)
        self._latest[key_of(written)] = written
        # An Event per phase change, and per new problem while Pending or Failed; Degraded's
        # message ages with every pass (time since the last heartbeat), so only its start
        # is recorded.
        if phase != was or (phase in ("Pending", "Failed") and message != was_message):
            if phase in ("Failed", "Degraded", "Pending"):
                ready = get_condition({"status": status}, "Ready") or {}
                await self.ctx.recorder.warning(pool, str(ready.get("reason") or phase), message)
            else:
                await self.ctx.recorder.normal(pool, phase, message)
        return written

    # --- resolution -----------------------------------------------------------------------

    async def _resolve(self, pool: Obj) -> Resolved:
        ns = pool["metadata"]["namespace"]
        projects = self.ctx.cache(self.kinds.project).list(ns)
        if not projects:
            raise Blocked(
                "ComputeAvailable",
                "ProjectNotFound",
                f"namespace {ns} has no Project; pools live in a project's namespace",
            )
        project = projects[0]
        if (project.get("status") or {}).get("phase") != "Ready":
            raise Blocked(
                "ComputeAvailable",
                "ProjectNotReady",
                f"project {ns} is not Ready; see `axle describe project {ns} -n {ns}`",
            )
        tenant = project_tenant(project)
        compute = self._compute(pool)
        provider = await self._provider(compute)
        profile = await self._profile(pool)
        return Resolved(project, tenant, compute, provider, profile)

    def _compute(self, pool: Obj) -> Obj:
        ns = pool["metadata"]["namespace"]
        ref = ((pool.get("spec") or {}).get("computeRef") or {}).get("name")
        cache = self.ctx.cache(self.compute_kind)
        if ref:
            compute = cache.get(make_key(ns, ref))
            if compute is None:
                raise Blocked(
                    "ComputeAvailable",
                    "ComputeNotFound",
                    f"Compute {ns}/{ref} (spec.computeRef) does not exist; create it or fix "
                    "the reference",
                )
        else:
            computes = cache.list(ns)
            if len(computes) != 1:
                what = "no Compute" if not computes else f"{len(computes)} Computes"
                raise Blocked(
                    "ComputeAvailable",
                    "ComputeNotFound",
                    f"namespace {ns} has {what}; set spec.computeRef to the inventory to use",
                )
            compute = computes[0]
        st = compute.get("status") or {}
        if not st.get("lastSyncTime"):
            synced = get_condition(compute, "Synced") or {}
            raise Blocked(
                "ComputeAvailable",
                "InventoryNotSynced",
                f"Compute {ns}/{compute['metadata']['name']} has no inventory yet"
                + (f": {synced.get('message')}" if synced.get("message") else ""),
                delay=min(self.wait_seconds, 5.0),
            )
        return compute

    async def _provider(self, compute: Obj) -> Any:
        src = (compute.get("status") or {}).get("settings") or {}
        settings = self.ctx.cache(self.kinds.settings).get(
            make_key(src.get("namespace"), str(src.get("name") or ""))
        )
        where = f"{src.get('namespace')}/{src.get('name')}"
        if settings is None:
            raise Blocked(
                "ComputeAvailable",
                "SettingsNotFound",
                f"Settings {where} (used by the Compute) not found",
            )
        palette = ((settings.get("status") or {}).get("effectiveSettings") or {}).get(
            "palette"
        ) or {}
        ref = palette.get("secretRef") or {}
        if not ref.get("name"):
            raise Blocked(
                "ComputeAvailable",
                "PaletteNotConfigured",
                f"Settings {where} has no Palette integration; add spec.palette.secretRef",
            )
        skey = make_key(ref.get("namespace") or settings["metadata"]["namespace"], ref["name"])
        secret = self.ctx.cache(self.kinds.secret).get(skey)
        if secret is None:
            raise Blocked("ComputeAvailable", "SecretNotFound", f"Palette Secret {skey} not found")
        try:
            return await self.providers.get(secret, str(ref.get("key") or "palette"))
        except ProviderError as exc:
            raise Blocked(
                "ComputeAvailable", exc.reason, f"Palette Secret {skey}: {exc.message}"
            ) from exc

    async def _profile(self, pool: Obj) -> dict[str, Any]:
        ref = (pool.get("spec") or {}).get("profileBundleRef") or {}
        ns = ref.get("namespace") or pool["metadata"]["namespace"]
        bundle = await get_or_none(self.store, self.bundle_kind, ns, str(ref.get("name")))
        if bundle is None:
            raise Blocked(
                "ComputeAvailable",
                "ProfileBundleNotFound",
                f"ProfileBundle {ns}/{ref.get('name')} (spec.profileBundleRef) not found",
            )
        spec = bundle.get("spec") or {}
        if spec.get("type") not in ("Infrastructure", "Fullstack"):
            raise Blocked(
                "ComputeAvailable",
                "ProfileBundleNotInfrastructure",
                f"ProfileBundle {ns}/{ref.get('name')} is of type {spec.get('type')}; a pool "
                "needs an Infrastructure or Fullstack bundle",
            )
        for profile in spec.get("clusterProfiles") or []:
            if profile.get("type") in ("Infrastructure", "Full"):
                return dict(profile)
        raise Blocked(
            "ComputeAvailable",
            "ProfileBundleNotInfrastructure",
            f"ProfileBundle {ns}/{ref.get('name')} has no Infrastructure or Full cluster profile",
        )

    # --- the steps ------------------------------------------------------------------------

    async def _advance(self, pool: Obj, plan: PoolPlan, status: dict[str, Any]) -> float | None:
        gen = pool["metadata"].get("generation")
        conds = status["conditions"]
        if status.get("phase") == "Failed":
            # A failed pool stays failed until it is deleted: recreating a cluster the user
            # has not looked at would hide Palette's error.
            return None
        # The pool's Environment exists from the start, so deployments can name it early.
        await self._environment(pool)
        status["environment"] = pool["metadata"]["name"]
        res = await self._resolve(pool)
        claims = await self._reserve(pool, plan, res, status)
        res.claims = claims
        status["reservedMachines"] = [c.to_wire() for c in claims]
        reported = (status.get("capacity") or {}).get("spokes")
        status["capacity"] = self._capacity(res)
        if reported:
            status["capacity"]["spokes"] = reported
        names = ", ".join(sorted(c.host_name for c in claims))
        set_condition(
            conds,
            "ComputeAvailable",
            "True",
            "HostsReserved",
            f"{len(claims)} hosts reserved: {names}",
            gen,
        )
        needed = gpu_usage(claims)
        set_condition(
            conds,
            "QuotaAvailable",
            "True",
            "WithinQuota",
            (
                "GPUs charged: " + (", ".join(f"{n} {f}" for f, n in needed.items()) or "none")
                if plan.variant == "dedicated"
                else "shared pool: each workload is charged the GPUs it requests"
            ),
            gen,
        )
        pool = await self._write(
            pool,
            status,
            status.get("phase") or "Provisioning",
            status.get("message") or "hosts reserved",
        )
        pool_status = copy_json(pool.get("status") or status)
        status.clear()
        status.update(pool_status)
        status.setdefault("conditions", [])
        conds = status["conditions"]

        states: dict[str, str] = {}
        for name in plan.clusters:
            pool, state = await self._cluster(pool, plan, res, status, name)
            states[name] = state
        waiting = [n for n, s in states.items() if s != "Running"]
        if waiting:
            msg = "; ".join(f"cluster {n} is {states[n]} in Palette" for n in waiting)
            raise Blocked(
                "ClusterProvisioned",
                "Provisioning",
                f"{msg}; polling every {self.poll_seconds:g}s",
                phase="Provisioning",
                delay=self.poll_seconds,
            )
        set_condition(
            conds,
            "ClusterProvisioned",
            "True",
            "Running",
            f"{len(states)} cluster(s) Running in Palette: {', '.join(states)}",
            gen,
        )
        await self._kubeconfigs(pool, plan, res, status)
        return await self._spokes(pool, plan, res, status)

    async def _reserve(
        self, pool: Obj, plan: PoolPlan, res: Resolved, status: dict[str, Any]
    ) -> list[HostClaim]:
        uid = pool["metadata"]["uid"]
        wanted = sum(n.count for needs in plan.clusters.values() for n in needs)
        lease = self.kinds.lease
        mine = await pool_claims(self.store, lease, uid)
        if len(mine) >= wanted:
            return mine
        created = any(c.get("paletteClusterUid") for c in status.get("clusters") or [])
        if mine and created:
            return mine  # the cluster exists: what it holds is what it has
        async with self._reserve_lock:
            if mine:
                await release_pool(self.store, lease, uid)
            others = [c.host_uid for c in await list_claims(self.store, lease) if c.pool_uid != uid]
            compute = res.compute
            selector = (compute.get("spec") or {}).get("tagSelector") or DEFAULT_TAG_SELECTOR
            selection = select_hosts(
                self._candidates(compute),
                plan.clusters,
                taken=others,
                implied_tags=selector,
            )
            cname = f"{compute['metadata']['namespace']}/{compute['metadata']['name']}"
            if not selection.ok:
                raise Blocked(
                    "ComputeAvailable",
                    "InsufficientCompute",
                    f"{selection.message()} in Compute {cname}; free or add matching hosts "
                    "(tags, architecture, CPU, memory, GPU family and count must match), or "
                    "lower the pool's node counts",
                )
            claims = [
                HostClaim(
                    host_uid=p.host.id,
                    host_name=p.host.name,
                    cluster=p.cluster,
                    role=p.role,
                    worker_pool=p.worker_pool,
                    gpus=dict(p.host.gpus),
                )
                for p in selection.picks
            ]
            set_condition(
                status["conditions"],
                "ComputeAvailable",
                "True",
                "HostsAvailable",
                f"{len(claims)} matching hosts available in Compute {cname}: "
                + ", ".join(c.host_name for c in claims),
                pool["metadata"].get("generation"),
            )
            ns = pool["metadata"]["namespace"]
            problems: list[str] = []
            # DESIGN section 7: a dedicated pool is charged the GPUs of the hosts it reserves;
            # a shared pool is not (its workloads are charged what they request, when the
            # AIWorkload controller reserves it), so only a dedicated pool checks here.
            if plan.variant == "dedicated":
                needed = gpu_usage(claims)
                problems = quota_problems(
                    needed,
                    await recompute_usage(self.store, self.kinds, ns),
                    dict((res.project.get("spec") or {}).get("gpuLimits") or {}),
                    f"project {ns}",
                )
                tenant = self.ctx.cache(self.kinds.tenant).get(res.tenant)
                problems += quota_problems(
                    needed,
                    await recompute_tenant_usage(self.store, self.kinds, res.tenant),
                    dict(((tenant or {}).get("spec") or {}).get("gpuLimits") or {}),
                    f"tenant {res.tenant}",
                )
            if problems:
                raise Blocked(
                    "QuotaAvailable",
                    "QuotaExceeded",
                    "; ".join(problems) + "; delete or shrink other pools, or raise the "
                    f"gpuLimits of project {ns} (within tenant {res.tenant}'s)",
                )
            taken = await claim_all(self.store, lease, pool, claims, res.tenant)
            if taken is not None:
                raise Blocked(
                    "ComputeAvailable",
                    "HostTaken",
                    f"host {taken} was reserved by another pool meanwhile; choosing again",
                    delay=0.05,
                )
            if plan.variant == "dedicated":
                await self._write_usage(res.project, res.tenant)
            await self.ctx.recorder.normal(
                pool,
                "HostsReserved",
                f"reserved {len(claims)} hosts: {', '.join(c.host_name for c in claims)}",
            )
            return await pool_claims(self.store, lease, uid)

    def _candidates(self, compute: Obj) -> list[Candidate]:
        """The Compute's hosts as candidates, parsed once per Compute resourceVersion: every
        pool pass reads them, and 1,000 hosts parsed per pass per pool added up."""
        m = compute["metadata"]
        uid, rv = str(m.get("uid")), str(m.get("resourceVersion"))
        cached = self._candidates_cache.get(uid)
        if cached is None or cached[0] != rv:
            cached = self._candidates_cache[uid] = (rv, candidates(compute.get("status") or {}))
        return cached[1]

    async def _write_usage(self, project: Obj, tenant: str) -> None:
        """Recompute GPU usage (dedicated pools' claims + shared-pool reservations, see
        `quota.py`) into the Project's and Tenant's status. Only a dedicated pool's claims
        move it: a recount is O(claims), and 1,000 shared pools reserving one after another
        made setup quadratic."""
        await write_usage(self.store, self.kinds, project, tenant)

    def _capacity(self, res: Resolved) -> dict[str, Any]:
        by_id = {c.id: c for c in self._candidates(res.compute)}
        cpu = mem = 0
        for claim in res.claims:
            host = by_id.get(claim.host_uid)
            if host is not None:
                cpu += host.cpu
                mem += host.memory_mib
        return {"cpu": cpu, "memoryMiB": mem, "gpu": gpu_usage(res.claims)}

    # --- clusters -------------------------------------------------------------------------

    def _entry(self, status: dict[str, Any], name: str) -> dict[str, Any]:
        for entry in status.setdefault("clusters", []):
            if entry.get("name") == name:
                return cast(dict[str, Any], entry)
        entry = {"name": name, "spoke": name}
        status["clusters"].append(entry)
        return entry

    async def _cluster(
        self, pool: Obj, plan: PoolPlan, res: Resolved, status: dict[str, Any], name: str
    ) -> tuple[Obj, str]:
        entry = self._entry(status, name)
        provider = res.provider
        uid = entry.get("paletteClusterUid")
        try:
            if not uid:
                # The name is on record before Palette hears of it: a restarted hub searches.
                if entry.get("phase") != "Creating":
                    entry["phase"] = "Creating"
                    pool = await self._write(
                        pool, status, "Provisioning", f"creating cluster {name}"
                    )
                uid = await self._find(provider, name)
                if uid is None:
                    body = await self._create_body(pool, plan, res, name)
                    try:
                        uid = await provider.create_edge_native_cluster(body)
                    except InvalidRequest as exc:
                        await release_pool(self.store, self.kinds.lease, pool["metadata"]["uid"])
                        if plan.variant == "dedicated":
                            await self._write_usage(res.project, res.tenant)
                        entry.pop("phase", None)
                        raise Blocked(
                            "ClusterProvisioned",
                            "CreateRefused",
                            f"Palette refused cluster {name}: {exc.message}; the hosts were "
                            "released and will be chosen again after the next inventory sync",
                            delay=self.wait_seconds,
                        ) from exc
                    await self.ctx.recorder.normal(
                        pool, "ClusterCreated", f"Palette cluster {name} created (uid {uid})"
                    )
                entry["paletteClusterUid"] = uid
                entry["phase"] = "Pending"
                pool = await self._write(pool, status, "Provisioning", f"cluster {name} created")
            state = await provider.get_cluster_status(uid)
        except ProviderNotFound as exc:
            raise Blocked(
                "ClusterProvisioned",
                "ClusterGone",
                f"Palette no longer knows cluster {name} (uid {uid}); it was deleted outside "
                "axle: delete and recreate the pool",
                phase="Failed",
                delay=None,
            ) from exc
        except ProviderError as exc:
            raise Blocked(
                "ClusterProvisioned",
                exc.reason,
                f"Palette call for cluster {name} failed: {exc.message}; retrying",
                phase=status.get("phase") or "Provisioning",
                delay=self.poll_seconds,
            ) from exc
        entry["phase"] = state
        if state == "Error":
            info = await provider.get_cluster(uid)
            why = next(
                (c.message for c in info.conditions if c.status == "False" and c.message),
                info.health_message or "no message",
            )
            entry["message"] = why
            raise Blocked(
                "ClusterProvisioned",
                "ProvisioningFailed",
                f"Palette failed to provision cluster {name}: {why}; delete the pool (its "
                "hosts are freed when Palette deletes the cluster) and create it again",
                phase="Failed",
                delay=None,
            )
        if state in ("Deleting", "Deleted"):
            raise Blocked(
                "ClusterProvisioned",
                "ClusterDeleted",
                f"cluster {name} is {state} in Palette although the pool still exists; it was "
                "deleted outside axle: delete and recreate the pool",
                phase="Failed",
                delay=None,
            )
        return pool, state

    @staticmethod
    async def _find(provider: Any, name: str) -> str | None:
        finder = getattr(provider, "find_cluster_by_name", None)
        if finder is not None:
            return cast(str | None, await finder(name))
        return await find_cluster_by_name(cast(PaletteClient, provider), name)

    @staticmethod
    async def _profile_uid(provider: Any, profile: dict[str, Any]) -> str:
        if profile.get("uid"):
            return str(profile["uid"])
        resolver = getattr(provider, "resolve_cluster_profile", None)
        if resolver is not None:
            return cast(str, await resolver(profile["name"], profile.get("version")))
        return await resolve_cluster_profile(
            cast(PaletteClient, provider), str(profile["name"]), profile.get("version")
        )

    def _defaults(self, res: Resolved) -> dict[str, Any]:
        """The project's ComputeConfig `paletteClusterConfig` (empty when none)."""
        info = self.kinds.compute_config
        ref = ((res.project.get("spec") or {}).get("computeConfigRef") or {}).get("name")
        if info is None or not ref:
            return {}
        cc = self.ctx.cache(info).get(make_key(res.project["metadata"]["namespace"], ref))
        return dict(((cc or {}).get("spec") or {}).get("paletteClusterConfig") or {})

    async def _create_body(
        self, pool: Obj, plan: PoolPlan, res: Resolved, name: str
    ) -> EdgeNativeClusterEntity:
        profile_uid = await self._profile_uid(res.provider, res.profile)
        return create_request(
            pool,
            plan,
            name,
            res.claims,
            self._candidates(res.compute),
            self._defaults(res),
            profile_uid,
        )

    # --- kubeconfig, spokes, environment --------------------------------------------------

    async def _kubeconfigs(
        self, pool: Obj, plan: PoolPlan, res: Resolved, status: dict[str, Any]
    ) -> None:
        ns, pname = pool["metadata"]["namespace"], pool["metadata"]["name"]
        secret_name = f"{pname}-kubeconfig"
        current = await get_or_none(self.store, self.kinds.secret, ns, secret_name)
        data = dict((current or {}).get("data") or {})
        missing = [n for n in plan.clusters if n not in data]
        if not missing and current is not None:
            return
        for entry in status.get("clusters") or []:
            name = entry.get("name")
            if name in missing and entry.get("paletteClusterUid"):
                try:
                    text = await res.provider.download_kubeconfig(entry["paletteClusterUid"])
                except ProviderError as exc:
                    raise Blocked(
                        "SpokeJoined",
                        exc.reason,
                        f"could not download the kubeconfig of cluster {name}: {exc.message}",
                        phase="Joining",
                        delay=self.poll_seconds,
                    ) from exc
                data[name] = _b64(text)
        first = next(iter(plan.clusters))
        if first in data:
            data["kubeconfig"] = data[first]
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": secret_name,
                "namespace": ns,
                "labels": {POOL_LABEL: pname},
                "ownerReferences": [owner_ref(pool)],
            },
            "type": "Opaque",
            "data": data,
        }
        await ensure(self.store, self.kinds.secret, body, fields=("data",))

    async def _environment(self, pool: Obj) -> None:
        m = pool["metadata"]
        body = {
            "metadata": {
                "name": m["name"],
                "namespace": m["namespace"],
                "labels": {POOL_LABEL: m["name"]},
                "ownerReferences": [owner_ref(pool)],
            },
            "spec": {"computePoolRefs": [{"name": m["name"]}]},
        }
        await ensure(self.store, self.env_kind, body, fields=("spec",))

    async def _kubeconfig_text(self, pool: Obj, cluster: str) -> str | None:
        m = pool["metadata"]
        secret = await get_or_none(
            self.store, self.kinds.secret, m["namespace"], f"{m['name']}-kubeconfig"
        )
        raw = ((secret or {}).get("data") or {}).get(cluster)
        return base64.b64decode(raw).decode() if raw else None

    async def _spokes(
        self, pool: Obj, plan: PoolPlan, res: Resolved, status: dict[str, Any]
    ) -> float | None:
        gen = pool["metadata"].get("generation")
        conds = status["conditions"]
        m = pool["metadata"]
        not_joined: list[str] = []
        unavailable: list[str] = []
        reported: dict[str, Any] = {}
        for name in plan.clusters:
            spoke = await get_or_none(self.store, self.spoke_kind, None, name)
            if spoke is None:
                spoke = await self.store.create(
                    self.spoke_kind,
                    {
                        "apiVersion": self.spoke_kind.api_version,
                        "kind": "Spoke",
                        "metadata": {
                            "name": name,
                            "labels": {
                                POOL_LABEL: m["name"],
                                "axle.dev/pool-namespace": m["namespace"],
                            },
                            "ownerReferences": [owner_ref(pool)],
                        },
                        "spec": {
                            "computePoolRef": {"name": m["name"], "namespace": m["namespace"]}
                        },
                    },
                )
                await self.ctx.recorder.normal(pool, "SpokeCreated", f"Spoke {name} created")
            joined = (get_condition(spoke, "Joined") or {}).get("status") == "True"
            if not self.installer.installed(name):
                await self._install(pool, name, joined)
            if not joined:
                not_joined.append(name)
                continue
            available = get_condition(spoke, "Available") or {}
            if available.get("status") != "True":
                last = (spoke.get("status") or {}).get("lastHeartbeatTime")
                unavailable.append(
                    f"spoke {name} is Available={available.get('status') or 'Unknown'} "
                    f"(last heartbeat {heartbeat_age(last, self.now())})"
                )
            cap = (spoke.get("status") or {}).get("capacity")
            if cap:
                reported[name] = cap
        if reported:
            status["capacity"] = {**(status.get("capacity") or {}), "spokes": reported}
        if not_joined:
            raise Blocked(
                "SpokeJoined",
                "WaitingForAgent",
                f"waiting for the spoke agent of {', '.join(not_joined)} to join the hub at "
                f"{self.hub_url or '(unknown hub URL)'}; if this lasts, check that the cluster "
                "can reach the hub and see `axle describe spoke`",
                phase="Joining",
                # The Spoke's watch wakes the pool when its agent joins; this is only the
                # fallback. Polling every few seconds meant a thousand pools joining at once
                # kept the queue full of passes that found nothing new.
                delay=self.wait_seconds,
            )
        set_condition(
            conds,
            "SpokeJoined",
            "True",
            "Joined",
            f"spoke(s) {', '.join(plan.clusters)} joined the hub",
            gen,
        )
        if unavailable:
            message = "; ".join(unavailable) + (
                "; the agent is not heartbeating: check that it runs and can reach the hub"
            )
            set_condition(conds, "Ready", "False", "SpokeUnavailable", message, gen)
            await self._write(pool, status, "Degraded", message)
            return self.wait_seconds
        message = f"{len(plan.clusters)} cluster(s) running and joined"
        set_condition(conds, "Ready", "True", "Running", message, gen)
        await self._write(pool, status, "Running", message)
        return None

    async def _install(self, pool: Obj, name: str, joined: bool) -> None:
        kubeconfig = await self._kubeconfig_text(pool, name)
        if kubeconfig is None:
            raise Blocked(
                "SpokeJoined",
                "KubeconfigMissing",
                f"no kubeconfig stored for cluster {name}",
                phase="Joining",
                delay=self.poll_seconds,
            )
        token = new_bootstrap_token()
        await self.store.create(
            self.kinds.secret,
            bootstrap_secret(name, token, ttl_seconds=self.token_ttl_seconds, now=self.now()),
        )
        try:
            await self.installer.install(AgentRequest(self.hub_url, token, name, kubeconfig))
        except InstallError as exc:
            raise Blocked(
                "SpokeJoined",
                exc.reason,
                f"installing the agent on {name} failed: {exc.message}",
                phase="Joining",
                delay=self.wait_seconds,
            ) from exc
        if not joined:
            await self.ctx.recorder.normal(
                pool, "AgentInstalled", f"spoke agent installed on {name}"
            )

    # --- deletion -------------------------------------------------------------------------

    async def _finalize(self, pool: Obj) -> float | None:
        if FINALIZER not in (pool["metadata"].get("finalizers") or []):
            return None
        plan = pool_plan(pool)
        status = status_copy(pool)
        gen = pool["metadata"].get("generation")
        conds = status["conditions"]
        names = [e.get("name") for e in status.get("clusters") or [] if e.get("name")] or list(
            plan.clusters
        )
        works = 0
        for name in names:
            with contextlib.suppress(NotFound):
                works += len(
                    (await self.store.list(self.work_kind, spoke_namespace(str(name)))).items
                )
        if works:
            msg = (
                f"{works} workload(s) still deployed on the pool's spokes; delete the "
                "deployments targeting this pool first"
            )
            set_condition(conds, "Ready", "False", "WorkloadsRemain", msg, gen)
            await self._write(pool, status, "Deleting", msg)
            return self.poll_seconds
        if plan.deletion_policy == "delete":
            waiting = await self._delete_clusters(pool, status)
            if waiting:
                set_condition(conds, "Ready", "False", "DeletingClusters", waiting, gen)
                await self._write(pool, status, "Deleting", waiting)
                return self.poll_seconds
        await self._remove_hub_objects(pool, [str(n) for n in names])
        fresh = await get_or_none(
            self.store, self.kind, pool["metadata"]["namespace"], pool["metadata"]["name"]
        )
        if fresh is not None:
            fresh["metadata"]["finalizers"] = [
                f for f in fresh["metadata"].get("finalizers") or [] if f != FINALIZER
            ]
            await self.store.update(self.kind, fresh)
        return None

    async def _delete_clusters(self, pool: Obj, status: dict[str, Any]) -> str | None:
        """Ask Palette to delete each cluster; a message while any still exists, else None."""
        entries = status.get("clusters") or []
        if not entries:
            return None
        try:
            res_compute = self._compute(pool)
            provider = await self._provider(res_compute)
        except Blocked as blocked:
            return (
                f"cannot reach Palette to delete the pool's clusters ({blocked.message}); "
                "deletionPolicy is delete, so the pool waits; fix the Settings or set "
                "deletionPolicy: orphan"
            )
        left: list[str] = []
        for entry in entries:
            name, uid = entry.get("name"), entry.get("paletteClusterUid")
            try:
                if not uid:
                    uid = await self._find(provider, str(name))
                    if uid is None:
                        continue
                    entry["paletteClusterUid"] = uid
                state = await provider.get_cluster_status(uid)
                if state == "Deleted":
                    entry["phase"] = "Deleted"
                    continue
                if state != "Deleting":
                    await provider.delete_cluster(uid)
                    await self.ctx.recorder.normal(
                        pool, "ClusterDeleting", f"asked Palette to delete cluster {name}"
                    )
                entry["phase"] = "Deleting"
                left.append(str(name))
            except ProviderNotFound:
                entry["phase"] = "Deleted"
            except ProviderError as exc:
                left.append(f"{name} ({exc.reason}: {exc.message})")
        if left:
            return f"waiting for Palette to delete cluster(s) {', '.join(left)}"
        return None

    async def _remove_hub_objects(self, pool: Obj, names: list[str]) -> None:
        m = pool["metadata"]
        for name in names:
            kubeconfig = await self._kubeconfig_text(pool, name)
            try:
                await self.installer.uninstall(name, kubeconfig)
            except Exception:  # the agent dies with its Spoke credential anyway
                log.exception("stopping the agent of %s failed", name)
            await delete_if_exists(self.store, self.spoke_kind, None, name)
            tokens = await self.store.list(
                self.kinds.secret, SYSTEM_NAMESPACE, label_selector=f"{SPOKE_LABEL}={name}"
            )
            for secret in tokens.items:
                await delete_if_exists(
                    self.store, self.kinds.secret, SYSTEM_NAMESPACE, secret["metadata"]["name"]
                )
        await delete_if_exists(
            self.store, self.kinds.secret, m["namespace"], f"{m['name']}-kubeconfig"
        )
        await release_pool(self.store, self.kinds.lease, m["uid"])
        projects = self.ctx.cache(self.kinds.project).list(m["namespace"])
        # Only a dedicated pool's hosts are charged (DESIGN section 7); a pool whose variant
        # was never recorded may have been either, so its project is recounted too.
        if projects and (pool.get("status") or {}).get("variant") != "shared":
            await self._write_usage(projects[0], project_tenant(projects[0]))
        with contextlib.suppress(NotFound):
            await delete_if_exists(self.store, self.env_kind, m["namespace"], m["name"])
