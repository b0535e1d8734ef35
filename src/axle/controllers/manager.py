"""The controller manager: runs every controller of the hub, but only while it is the leader.

`start()` returns at once; in the background a `LeaderElector` competes for the Lease
`axle-system/axle-hub-leader`. On winning it writes the bootstrap objects, starts one shared
informer per kind, waits for their caches to fill, then starts the controllers' workers.
On losing the lease (or on `stop()`) it cancels all of it before anything else can happen, and
a later win starts a fresh term with fresh caches and queues, so nothing a previous term
believed leaks into the next. Two managers on one store therefore never reconcile at once.

The server-core helper constructs it as `ControllerManager(store, settings, identity)`;
tests pass `reconcilers=` to run a chosen set and `kinds=` to use a private registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from functools import partial

from axle.controllers.aiworkload import AIWorkloadReconciler
from axle.controllers.artifactstore import ArtifactStore
from axle.controllers.bootstrap import ensure_system_objects
from axle.controllers.compute import ComputeReconciler
from axle.controllers.computepool import ComputePoolReconciler
from axle.controllers.controller import Context, Controller, ControllerOptions, Reconciler
from axle.controllers.definitions import definition_reconcilers
from axle.controllers.environment import EnvironmentReconciler
from axle.controllers.events import EventRecorder
from axle.controllers.eventttl import EventExpiry
from axle.controllers.informer import InformerSet
from axle.controllers.integrations import SettingsReconciler
from axle.controllers.kinds import Kinds
from axle.controllers.leader import LeaderElector
from axle.controllers.namespace import NamespaceReconciler
from axle.controllers.project import ProjectReconciler
from axle.controllers.renderworker import RenderPool
from axle.controllers.spoke import SpokeReconciler
from axle.controllers.tenant import TenantReconciler
from axle.controllers.workloaddeployment import WorkloadDeploymentReconciler
from axle.settings import HubSettings
from axle.store.base import Store

log = logging.getLogger(__name__)

ReconcilerFactory = Callable[[Context], Reconciler]
# Controllers whose reconciles mostly wait (on render workers, artifact pushes; an AIWorkload
# pass on several store writes in a row; a pool on Palette calls) run more at once than the
# default, unless `controller_concurrency` names them. Pools may: a host is claimed by creating
# its Lease, so two pools never take one host (reservations.py).
DEFAULT_CONCURRENCY: dict[str, int] = {
    "workloaddeployment": 32,
    "aiworkload": 16,
    "computepool": 8,
}
DEFAULT_RECONCILERS: tuple[ReconcilerFactory, ...] = (
    TenantReconciler,
    ProjectReconciler,
    SettingsReconciler,
    NamespaceReconciler,
    ComputeReconciler,
    SpokeReconciler,
)


def default_reconcilers(
    settings: HubSettings,
    hub_url: str | None = None,
    *,
    render_pool: RenderPool | None = None,
    artifacts: ArtifactStore | None = None,
) -> tuple[ReconcilerFactory, ...]:
    """DEFAULT_RECONCILERS with the hub settings that shape them (sync and check intervals);
    `hub_url` is where spoke agents reach this hub (ComputePool installs them). Delivery
    (WorkloadDeployments) runs when the manager hands over its render pool and artifact store.
    """
    delivery: tuple[ReconcilerFactory, ...] = ()
    if render_pool is not None and artifacts is not None:
        delivery = (
            partial(
                WorkloadDeploymentReconciler,
                pool=render_pool,
                artifacts=artifacts,
                render_deadline=settings.render_timeout_seconds,
            ),
        )
    return (
        TenantReconciler,
        ProjectReconciler,
        partial(SettingsReconciler, check_seconds=settings.palette_check_seconds),
        NamespaceReconciler,
        partial(ComputeReconciler, sync_seconds=settings.compute_sync_seconds),
        SpokeReconciler,
        partial(ComputePoolReconciler, hub_url=hub_url or "", data_dir=settings.data_dir),
        *definition_reconcilers(),
        EnvironmentReconciler,
        *delivery,
        AIWorkloadReconciler,
    )


class ControllerManager:
    def __init__(
        self,
        store: Store,
        settings: HubSettings,
        identity: str,
        *,
        kinds: Kinds | None = None,
        reconcilers: Sequence[ReconcilerFactory] | None = None,
        bootstrap: bool = True,
        hub_url: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.identity = identity
        self.kinds = kinds or Kinds.from_registry()
        # Renders run in worker processes this manager owns (started on first use, stopped
        # with the manager); the artifact store is where their results are pushed.
        self.render_pool = RenderPool(
            settings.render_workers, timeout=settings.render_timeout_seconds
        )
        self.artifacts = ArtifactStore(
            settings.artifact_store_url, insecure=settings.artifact_store_insecure
        )
        self.reconciler_factories = tuple(
            reconcilers
            or default_reconcilers(
                settings, hub_url, render_pool=self.render_pool, artifacts=self.artifacts
            )
        )
        self.bootstrap = bootstrap
        self.controllers: list[Controller] = []
        self.informers: InformerSet | None = None
        self.terms = 0  # how many times this manager has become the leader
        self._term_task: asyncio.Task[None] | None = None
        self._expiry_task: asyncio.Task[None] | None = None
        self._elector_task: asyncio.Task[None] | None = None
        self.elector = LeaderElector(
            store,
            self.kinds.lease,
            identity,
            lease_seconds=settings.lease_seconds,
            on_started=self._start_term,
            on_stopped=self._stop_term,
        )
        self.ready = asyncio.Event()  # set once the current term's workers run

    @property
    def is_leader(self) -> bool:
        return self.elector.is_leader

    async def start(self) -> None:
        if self._elector_task is None:
            self._elector_task = asyncio.create_task(
                self.elector.run(), name=f"leader-election-{self.identity}"
            )

    async def stop(self) -> None:
        task, self._elector_task = self._elector_task, None
        if task is not None:
            task.cancel()
            # The elector's own cleanup stops the term; anything it raised is already logged.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._stop_term()
        await self.elector.release()
        await self.render_pool.close()
        self.artifacts.close()

    def _options(self, name: str) -> ControllerOptions:
        s = self.settings
        workers = s.controller_concurrency.get(
            name, max(s.controller_workers, DEFAULT_CONCURRENCY.get(name, 0))
        )
        return ControllerOptions(
            workers=workers,
            resync_seconds=s.resync_seconds,
            backoff_base=s.controller_backoff_base,
            backoff_max=s.controller_backoff_max,
        )

    async def _start_term(self) -> None:
        """Called by the elector on winning: must return quickly, so the work is a task."""
        self.terms += 1
        self._term_task = asyncio.create_task(self._run_term(), name=f"controllers-{self.identity}")
        self._term_task.add_done_callback(_log_failure)

    async def _run_term(self) -> None:
        if self.bootstrap:
            try:
                await ensure_system_objects(self.store, self.kinds)
            except Exception:
                # Not fatal: the reconcilers fall back to built-in templates, and the next
                # term (or restart) writes them again.
                log.exception("writing the system objects failed; controllers start anyway")
        informers = InformerSet(self.store)
        ctx = Context(
            self.store,
            self.kinds,
            informers,
            EventRecorder(self.store, self.kinds.event, instance=self.identity),
        )
        controllers = []
        for factory in self.reconciler_factories:
            reconciler = factory(ctx)
            controllers.append(Controller(reconciler, self._options(reconciler.name)))
        self.informers = informers
        self.controllers = controllers
        informers.start()
        await informers.wait_synced()
        for ctl in controllers:
            ctl.start()
        expiry = EventExpiry(self.store, self.kinds.event, self.settings.event_ttl_seconds)
        self._expiry_task = asyncio.create_task(expiry.run(), name="event-expiry")
        self._expiry_task.add_done_callback(_log_failure)
        self.ready.set()
        log.info("%s: %d controllers running", self.identity, len(controllers))

    async def _stop_term(self) -> None:
        self.ready.clear()
        for task in (self._term_task, self._expiry_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._term_task = self._expiry_task = None
        controllers, self.controllers = self.controllers, []
        await asyncio.gather(*(c.stop() for c in controllers))
        for ctl in controllers:
            # Reconcilers holding connections (provider clients) release them here.
            aclose = getattr(ctl.reconciler, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        informers, self.informers = self.informers, None
        if informers is not None:
            await informers.stop()


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", task.get_name(), exc_info=task.exception())
