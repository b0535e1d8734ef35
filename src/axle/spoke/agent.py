"""The spoke agent: join, heartbeat, report capacity, watch Works, apply them, report status.

One `SpokeAgent` drives one cluster (injected: real Kubernetes or the simulator; the agent
never knows which) for one Spoke. `run()` holds four loops as asyncio tasks:

- heartbeat: renews the Lease `spoke-agent` in `spoke-<name>` every leaseDurationSeconds/3;
- capacity: writes `Spoke.status.capacity` and `version` at start and whenever they change;
- works: lists the Works of its namespace, then watches from the list's resourceVersion (the
  SDK's watch resumes from the last resourceVersion after a dropped stream and lists again on
  410 Gone); each Work gets its own worker task, so a slow Work never delays another;
- changes: objects changing on the cluster wake the worker of the Work whose inventory label
  they carry (drift is re-applied at once, not at the next periodic resync, which is only a
  fallback every `RESYNC_SECONDS`).

Transient failures (the hub or the cluster unreachable) are retried with capped exponential
backoff; a 401 on the stored credential is final (`CredentialRejected`): the credential was
revoked and only a new bootstrap token helps, so the agent stops and says so. The hub is only
ever called by the agent (pull-based, DESIGN section 6). All hub resources are addressed
directly (no discovery), since a spoke credential may read only its own objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
import random
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import orjson

from axle import __version__
from axle.api.spoke import WORK_FINALIZER
from axle.api.spoketokens import SPOKE_LEASE_NAME
from axle.client import Client, ConnectionFailed, Resource
from axle.errors import ApiError, Conflict, Forbidden, NotFound, Unauthorized
from axle.kube.cluster import CapacityReport, Cluster
from axle.spoke import credential as cred
from axle.spoke.artifacts import ArtifactCache, Puller
from axle.spoke.manifests import WORK_LABEL, work_label_value
from axle.spoke.work import SyncResult, WorkProcessor

log = logging.getLogger("axle.spoke.agent")
Obj = dict[str, Any]

WORKS = Resource("axle.dev", "v1alpha1", "Work", "works", "work", True)
SPOKES = Resource("axle.dev", "v1alpha1", "Spoke", "spokes", "spoke", False)
LEASES = Resource("coordination.k8s.io", "v1", "Lease", "leases", "lease", True)
EVENTS = Resource("", "v1", "Event", "events", "event", True)
SECRETS = Resource("", "v1", "Secret", "secrets", "secret", True)
# Condition reasons that are failures: recorded as Warning Events on the Work.
WARNING_REASONS = frozenset(
    {"ArtifactPullFailed", "SecretMissing", "ApplyFailed", "OwnershipConflict", "Degraded"}
)
# How long a waiting pass's interim status may wait to be coalesced with the next one.
STATUS_DELAY = 0.5
# A settled Work is passed over again this often. Only a fallback: a change of the Work
# or of one of its objects on the cluster wakes it at once. Ten thousand Works at 30 s would
# be 330 passes a second at rest.
RESYNC_SECONDS = 300.0


def micro_time(moment: datetime | None = None) -> str:
    """A Kubernetes MicroTime (RFC 3339 with microseconds), as Lease times are written."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_cpu(millis: int) -> str:
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_memory(value: int) -> str:
    for suffix, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if value and value % size == 0:
            return f"{value // size}{suffix}"
    return str(value)


def capacity_status(cap: CapacityReport) -> Obj:
    """`Spoke.status` fields for a cluster's capacity: totals, GPUs by product, versions."""
    nodes = cap.nodes
    return {
        "capacity": {
            "nodes": len(nodes),
            "readyNodes": sum(1 for n in nodes if n.ready),
            "cpu": format_cpu(sum(n.cpu_millis for n in nodes)),
            "memory": format_memory(sum(n.memory_bytes for n in nodes)),
            "nvidia.com/gpu": sum(n.gpus for n in nodes),
            "gpus": dict(sorted(cap.gpus_by_product.items())),
        },
        "version": {"kubernetes": cap.kubernetes_version, "agent": __version__},
    }


class Backoff:
    """Capped exponential backoff with jitter, reset on success."""

    def __init__(self, first: float = 0.2, cap: float = 10.0) -> None:
        self.first, self.cap, self.current = first, cap, first

    def next(self) -> float:
        delay = self.current
        self.current = min(self.current * 2, self.cap)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.current = self.first


class _WorkState:
    def __init__(self, obj: Obj) -> None:
        self._raw = b""
        self.generation: Any = None
        self.obj = obj
        self.deleted = False
        self.wake = asyncio.Event()
        self.changed = asyncio.Event()  # one of its objects changed on the cluster
        self.synced_generation: Any = None
        self.task: asyncio.Task[None] | None = None
        # resourceVersions of the Work's objects as its last pass read them: a cluster change
        # at or before one of these is the pass's own doing (or already seen), not news.
        self.observed: dict[tuple[str, str, str, str], str] = {}
        self.interim: SyncResult | None = None  # a waiting pass's status, not yet written
        self.flush: asyncio.Task[None] | None = None  # writes `interim` after a short delay
        self.warned: set[str] = set()  # condition types with an unrecovered Warning Event

    @property
    def obj(self) -> Obj:
        """The Work as last seen, decoded for each reader (its own copy).

        Held encoded: a host holds every Work of its spokes between passes, and a Work with
        its status is about 8 KiB as dicts but 2 KiB as JSON; passes read it a few times."""
        return cast(Obj, orjson.loads(self._raw))

    @obj.setter
    def obj(self, value: Obj) -> None:
        self._raw = bytes(memoryview(orjson.dumps(value)))  # orjson's own buffer is 4 KiB+
        self.generation = (value.get("metadata") or {}).get("generation")


class SpokeAgent:
    """The agent of one spoke. `await agent.run()` until `stop()` (or a fatal error)."""

    def __init__(
        self,
        *,
        hub: str,
        spoke: str,
        cluster: Cluster,
        state_dir: Path,
        bootstrap_token: str | None = None,
        ca_file: str | None = None,
        puller: Puller | None = None,
        artifacts: ArtifactCache | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        resync_seconds: float = RESYNC_SECONDS,
        requeue_seconds: float = 2.0,
        capacity_seconds: float = 30.0,
        group_wait: float = 30.0,
        cluster_loop: Callable[[], Awaitable[None]] | None = None,
        identity: str | None = None,
    ) -> None:
        self.hub = hub.rstrip("/")
        self.spoke = spoke
        self.cluster = cluster
        self.state_dir = state_dir
        self.bootstrap_token = bootstrap_token
        self.ca_file = ca_file
        self.transport = transport
        self.resync_seconds = resync_seconds
        self.requeue_seconds = requeue_seconds
        self.capacity_seconds = capacity_seconds
        self.cluster_loop = cluster_loop
        self.identity = identity or f"{socket.gethostname()}/{spoke}"
        self.processor = WorkProcessor(
            cluster,
            state_dir,
            # Waits end on a change of the Work's objects; this is only the fallback look.
            poll_interval=1.0,
            puller=puller,
            artifacts=artifacts,
            secret_source=self._read_secret,
            group_wait=group_wait,
        )
        self.credential: cred.Credential | None = None
        self.client: Client | None = None
        self.heartbeats = 0
        self._lease_held = False  # this agent wrote the Lease last: renew by patch
        self.joined = asyncio.Event()
        self._stop = asyncio.Event()
        self._stopping: asyncio.Future[None] | None = None  # resolved by stop(): wakes pauses
        self._fatal: BaseException | None = None
        self._works: dict[str, _WorkState] = {}
        self._labels: dict[str, str] = {}  # inventory label value -> work name
        self._finalized: set[str] = set()  # Works whose finalizer this agent just removed

    @property
    def namespace(self) -> str:
        return self.credential.namespace if self.credential else f"spoke-{self.spoke}"

    def stop(self) -> None:
        """Ask `run()` to return (SIGTERM does this)."""
        self._stop.set()
        if self._stopping is not None and not self._stopping.done():
            self._stopping.set_result(None)

    # ---- start -------------------------------------------------------------------------------

    async def _credential(self) -> cred.Credential:
        found = cred.load(self.state_dir)
        if found is not None and found.spoke == self.spoke:
            log.info("spoke %s: using the credential in %s", self.spoke, self.state_dir)
            return found
        if not self.bootstrap_token:
            raise cred.JoinRefused(
                f"no credential for spoke {self.spoke!r} in {self.state_dir} and no bootstrap"
                " token to join with"
            )
        backoff = Backoff()
        while True:
            try:
                joined = await cred.join(
                    self.hub,
                    self.spoke,
                    self.bootstrap_token,
                    ca_file=self.ca_file,
                    transport=self.transport,
                )
                break
            except ConnectionFailed as exc:
                log.warning("spoke %s: join: %s; retrying", self.spoke, exc.message)
                await self._pause(backoff.next())
        cred.save(self.state_dir, joined)
        log.info("spoke %s joined the hub at %s", self.spoke, self.hub)
        return joined

    async def _pause(self, seconds: float) -> None:
        """Sleep, but return early when the agent is stopping (then raise CancelledError).

        Waits on one future shared by the agent's loops (`asyncio.wait` makes no Task, where
        `wait_for(event.wait())` would make one per sleeping loop)."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_future()
            if self._stop.is_set():
                self._stopping.set_result(None)
        await asyncio.wait({self._stopping}, timeout=seconds)
        if self._stop.is_set():
            raise asyncio.CancelledError

    async def _check_credential(self) -> None:
        """Read our own Spoke once: 401 here is a revoked credential, not a passing fault."""
        assert self.client is not None
        backoff = Backoff()
        while True:
            try:
                await self.client.get(SPOKES, self.spoke)
                return
            except Unauthorized as exc:
                raise cred.CredentialRejected(
                    f"the hub at {self.hub} refused the credential of spoke {self.spoke!r}"
                    f" stored in {self.state_dir / cred.CREDENTIAL_FILE} ({exc.message}):"
                    " it was revoked; the spoke must be joined again with a new bootstrap token"
                ) from exc
            except ConnectionFailed as exc:
                log.warning("spoke %s: %s; retrying", self.spoke, exc.message)
                await self._pause(backoff.next())
            except Forbidden as exc:
                # The credential is good (that would be 401) but the spoke's RBAC is not in
                # place yet: the hub's Spoke controller grants it after the join, and with
                # hundreds of spokes joining at once that can take a while. Wait for it.
                log.warning("spoke %s: %s; waiting for access", self.spoke, exc.message)
                await self._pause(backoff.next())

    async def run(self) -> None:
        """Join (or reuse the stored credential) and serve until stopped.

        Raises JoinRefused / CredentialRejected when the hub will not have this agent.
        """
        try:
            self.credential = await self._credential()
        except asyncio.CancelledError:
            if self._stop.is_set():
                return
            raise
        self.client = Client(
            self.hub,
            self.credential.token,
            namespace=self.namespace,
            ca_file=self.ca_file,
            transport=self.transport,
        )
        tasks: list[asyncio.Task[None]] = []
        try:
            try:
                await self._check_credential()
            except asyncio.CancelledError:
                if self._stop.is_set():
                    return
                raise
            self.joined.set()
            loops: list[Callable[[], Awaitable[None]]] = [
                self._heartbeat_loop,
                self._capacity_loop,
                self._works_loop,
                self._changes_loop,
            ]
            if self.cluster_loop is not None:
                loops.append(self.cluster_loop)
            tasks = [asyncio.create_task(self._guard(loop)) for loop in loops]
            await self._stop.wait()
        finally:
            for task in [*tasks, *(w.task for w in self._works.values() if w.task)]:
                task.cancel()
            for task in [*tasks, *(w.task for w in self._works.values() if w.task)]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self.client.aclose()
        if self._fatal is not None:
            raise self._fatal

    async def _guard(self, loop: Callable[[], Awaitable[None]]) -> None:
        """Run a loop; a revoked credential stops the whole agent, other errors restart it."""
        backoff = Backoff(1.0, 30.0)
        while not self._stop.is_set():
            try:
                await loop()
                return
            except asyncio.CancelledError:
                raise
            except Unauthorized as exc:
                self._fatal = cred.CredentialRejected(
                    f"the hub at {self.hub} no longer accepts the credential of spoke"
                    f" {self.spoke!r} ({exc.message}): it was revoked; join again with a new"
                    " bootstrap token"
                )
                self._stop.set()
                return
            except Exception:
                log.exception("spoke %s: %s failed; restarting it", self.spoke, loop.__name__)
                await asyncio.sleep(backoff.next())

    # ---- heartbeat ---------------------------------------------------------------------------

    async def heartbeat(self) -> None:
        """Renew (or create) the Lease once.

        Once this agent holds the Lease, a renewal is one merge patch of `renewTime` (no read
        first): a thousand agents renewing every 20 s are 50 requests a second, halved. The
        first renewal, and any after the Lease went or changed hands, reads it and takes it.
        """
        assert self.client is not None and self.credential is not None
        now = micro_time()
        duration = self.credential.leaseDurationSeconds
        if self._lease_held:
            try:
                lease = await self.client.patch(
                    LEASES,
                    SPOKE_LEASE_NAME,
                    {"spec": {"renewTime": now, "leaseDurationSeconds": duration}},
                    self.namespace,
                )
            except NotFound:
                self._lease_held = False
            else:
                if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                    self.heartbeats += 1
                    return
                self._lease_held = False  # someone else took it: take it back below
        try:
            lease = await self.client.get(LEASES, SPOKE_LEASE_NAME, self.namespace)
        except NotFound:
            await self.client.create(
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": SPOKE_LEASE_NAME, "namespace": self.namespace},
                    "spec": {
                        "holderIdentity": self.identity,
                        "leaseDurationSeconds": duration,
                        "acquireTime": now,
                        "renewTime": now,
                    },
                },
                self.namespace,
            )
        else:
            spec = lease.setdefault("spec", {})
            if spec.get("holderIdentity") != self.identity:
                spec["holderIdentity"] = self.identity
                spec["acquireTime"] = now
                spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
            spec["leaseDurationSeconds"] = duration
            spec["renewTime"] = now
            await self.client.replace(lease, self.namespace)
        self._lease_held = True
        self.heartbeats += 1

    async def _heartbeat_loop(self) -> None:
        assert self.credential is not None
        period = max(self.credential.leaseDurationSeconds / 3, 0.05)
        backoff = Backoff(0.2, period)
        while True:
            try:
                await self.heartbeat()
                backoff.reset()
                await self._pause(period)
            except (ConnectionFailed, Conflict) as exc:
                log.warning("spoke %s: heartbeat: %s", self.spoke, exc.message)
                await self._pause(backoff.next())

    # ---- capacity ----------------------------------------------------------------------------

    async def _capacity_loop(self) -> None:
        assert self.client is not None
        written: Obj | None = None
        backoff = Backoff(0.5, 30.0)
        while True:
            try:
                try:
                    report = capacity_status(await self.cluster.capacity())
                except ApiError as exc:  # the cluster's failure, not the hub's
                    log.warning("spoke %s: reading capacity: %s", self.spoke, exc.message)
                    await self._pause(backoff.next())
                    continue
                if written is None:
                    spoke = await self.client.get(SPOKES, self.spoke)
                    status = spoke.get("status") or {}
                    written = {k: status.get(k) for k in report}
                if report != written:
                    patch = merge_patch(written, report)
                    await self.client.patch(
                        SPOKES, self.spoke, {"status": patch}, subresource="status"
                    )
                    written = report
                    log.info("spoke %s: capacity %s", self.spoke, report["capacity"])
                backoff.reset()
                await self._pause(self.capacity_seconds)
            except ConnectionFailed as exc:
                log.warning("spoke %s: capacity: %s", self.spoke, exc.message)
                await self._pause(backoff.next())

    # ---- works -------------------------------------------------------------------------------

    async def _read_secret(self, name: str) -> Obj:
        """A Secret of this spoke's hub namespace (what a Work's secretRefs name)."""
        assert self.client is not None
        return await self.client.get(SECRETS, name, self.namespace)

    async def _remove_finalizer(self, name: str) -> bool:
        """Take `axle.dev/spoke-cleanup` off the Work (GET + update, again on 409): the hub
        may now finish deleting it. False if the Work was gone already."""
        assert self.client is not None
        backoff = Backoff(0.05, 2.0)
        while True:
            try:
                work = await self.client.get(WORKS, name, self.namespace)
            except NotFound:
                return False
            meta = work.setdefault("metadata", {})
            finalizers = list(meta.get("finalizers") or [])
            if WORK_FINALIZER not in finalizers:
                return False
            meta["finalizers"] = [f for f in finalizers if f != WORK_FINALIZER]
            try:
                await self.client.replace(work, self.namespace)
                return True
            except NotFound:
                return False
            except Conflict:  # changed meanwhile: read it again
                await self._pause(backoff.next())

    async def _works_loop(self) -> None:
        assert self.client is not None
        backoff = Backoff()
        rv: str | None = None
        while True:
            try:
                if rv is None:
                    listed = await self.client.list(WORKS, self.namespace)
                    present = {o["metadata"]["name"]: o for o in listed["items"]}
                    for obj in present.values():
                        self._observe("ADDED", obj)
                    for name in [n for n in self._works if n not in present]:
                        self._observe("DELETED", self._works[name].obj)
                    # Works deleted while no agent watched: their inventories remain.
                    for ns, name in self.processor.known_works():
                        if (
                            ns == self.namespace
                            and name not in present
                            and (name not in self._works)
                        ):
                            await self.processor.remove(ns, name)
                    rv = listed["metadata"].get("resourceVersion")
                # The agent holds each Work itself (`_WorkState.obj`): the watch need not.
                async for event in self.client.watch(
                    WORKS, self.namespace, resource_version=rv, remember=False
                ):
                    backoff.reset()
                    obj = event.get("object") or {}
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    self._observe(str(event.get("type")), obj)
            except ConnectionFailed as exc:
                log.warning("spoke %s: works: %s; reconnecting", self.spoke, exc.message)
                await self._pause(backoff.next())

    def _observe(self, etype: str, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        # Never read here, and the largest part of a Work written by server-side apply.
        meta.pop("managedFields", None)
        name = str(meta.get("name") or "")
        if not name:
            return
        state = self._works.get(name)
        if etype == "DELETED" or meta.get("deletionTimestamp"):
            if etype == "DELETED" and state is None and name in self._finalized:
                self._finalized.discard(name)  # cleaned up already, before it went
                return
            if state is None:
                state = self._start_worker(obj)
            state.deleted = True
            state.obj = obj
            state.wake.set()
            state.changed.set()  # a pass waiting for a group stops waiting
            return
        if state is None or state.deleted:
            state = self._start_worker(obj)
            state.wake.set()
            return
        generation = meta.get("generation")
        state.obj = obj
        # Our own status writes come back as MODIFIED with the same generation: no new pass.
        if generation != state.synced_generation:
            state.wake.set()
            state.changed.set()

    def _start_worker(self, obj: Obj) -> _WorkState:
        name = str(obj["metadata"]["name"])
        state = _WorkState(obj)
        self._works[name] = state
        self._labels[work_label_value(self.namespace, name)] = name
        state.task = asyncio.create_task(self._guard(lambda: self._work_worker(name, state)))
        return state

    async def _work_worker(self, name: str, state: _WorkState) -> None:
        # Retries of an unsettled Work (a failed pull, pods not ready) stay within a minute.
        backoff = Backoff(
            self.requeue_seconds, max(min(self.resync_seconds, 60.0), self.requeue_seconds)
        )
        state.wake.set()  # a (re)started worker makes a pass first
        while True:
            await state.wake.wait()
            state.wake.clear()
            if state.deleted:
                self._drop_interim(state)
                removed = await self.processor.remove(self.namespace, name, state.obj)
                log.info(
                    "spoke %s: Work %s deleted (%d objects removed)", self.spoke, name, removed
                )
                meta = state.obj.get("metadata") or {}
                if meta.get("deletionTimestamp") and WORK_FINALIZER in (
                    meta.get("finalizers") or []
                ):
                    # Removed from the cluster: now the hub may let the Work go.
                    self._finalized.add(name)
                    await self._remove_finalizer(name)
                if self._works.get(name) is state:
                    del self._works[name]
                return
            obj = state.obj
            state.synced_generation = (obj.get("metadata") or {}).get("generation")
            try:
                result = await self.processor.sync(
                    obj,
                    functools.partial(_superseded, state, obj),
                    functools.partial(_until_changed, state),
                    functools.partial(self._report_interim, state),
                )
            except ApiError as exc:  # the cluster failed us (unreachable, ...): try again
                self._drop_interim(state)
                log.warning("spoke %s: Work %s: cluster: %s", self.spoke, name, exc.message)
                await _wait_event(state.wake, backoff.next())
                state.wake.set()
                continue
            self._drop_interim(state)
            state.observed = result.observed
            try:
                await self._write_status(state, result)
            except NotFound:
                continue  # deleted meanwhile: the watch says so next
            except (ConnectionFailed, Conflict) as exc:
                log.warning("spoke %s: Work %s status: %s", self.spoke, name, exc.message)
                result.settled = False
            if result.settled:
                backoff.reset()
                # Spread: Works created together would otherwise resync together.
                delay = self.resync_seconds * random.uniform(0.9, 1.1)
            else:
                delay = backoff.next()
            await _wait_event(state.wake, delay)
            state.wake.set()

    async def _report_interim(self, state: _WorkState, result: SyncResult) -> None:
        """Write the status of a pass still waiting for a group, coalesced: the newest one
        is written `STATUS_DELAY` after the first, unless the pass ends first (then its final
        status is written instead). A rollout whose pods start within the delay costs one
        status write, not one per step; a stuck one is reported within the delay."""
        state.interim = result
        if state.flush is None or state.flush.done():
            state.flush = asyncio.create_task(self._flush_interim(state))

    async def _flush_interim(self, state: _WorkState) -> None:
        await asyncio.sleep(STATUS_DELAY)
        result, state.interim = state.interim, None
        if result is None or state.deleted:
            return
        try:
            await self._write_status(state, result)
        except (NotFound, ConnectionFailed, Conflict) as exc:  # progress news only
            log.debug("spoke %s: interim status: %s", self.spoke, exc)

    def _drop_interim(self, state: _WorkState) -> None:
        """The pass ended: its final status supersedes any interim one not yet written."""
        state.interim = None
        if state.flush is not None and not state.flush.done():
            state.flush.cancel()
        state.flush = None

    async def _write_status(self, state: _WorkState, result: SyncResult) -> None:
        """Write the Work's status only when it differs from what the hub holds."""
        assert self.client is not None
        old: Mapping[str, Any] = state.obj.get("status") or {}
        new = result.status
        if _strip_none(new) == _strip_none(dict(old)):
            return
        patch = merge_patch(dict(old), new)
        name = state.obj["metadata"]["name"]
        written = await self.client.patch(
            WORKS, name, {"status": patch}, self.namespace, subresource="status"
        )
        for type_, cond in _notable(
            old.get("conditions") or [], new.get("conditions") or [], state.warned
        ):
            await self._event(written, type_, cond)
        if not state.deleted and state.generation == (written.get("metadata") or {}).get(
            "generation"
        ):
            (written.get("metadata") or {}).pop("managedFields", None)
            state.obj = written

    async def _event(self, work: Obj, type_: str, cond: Mapping[str, Any]) -> None:
        """Record a notable transition as an Event on the Work (for `describe work`)."""
        assert self.client is not None
        meta = work.get("metadata") or {}
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{meta.get('name')}.{secrets.token_hex(8)}",
                "namespace": self.namespace,
            },
            "involvedObject": {
                "apiVersion": "axle.dev/v1alpha1",
                "kind": "Work",
                "name": meta.get("name"),
                "namespace": self.namespace,
                "uid": meta.get("uid", ""),
            },
            "reason": str(cond.get("reason") or cond.get("type")),
            "message": str(cond.get("message") or ""),
            "type": type_,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": "axle-spoke-agent", "host": self.spoke},
            "reportingComponent": "axle-spoke-agent",
            "reportingInstance": self.identity,
        }
        try:
            await self.client.create(event, self.namespace)
        except (ConnectionFailed, Conflict, Forbidden) as exc:  # history only: never fatal
            log.warning("spoke %s: event for Work %s: %s", self.spoke, meta.get("name"), exc)

    async def _changes_loop(self) -> None:
        """Wake the Work whose objects changed on the cluster (drift, health)."""
        async for obj in self.cluster.changes():
            meta = obj.get("metadata") or {}
            name = self._labels.get(str((meta.get("labels") or {}).get(WORK_LABEL) or ""))
            state = self._works.get(name) if name else None
            if state is None or state.deleted:
                continue
            if await self._seen_already(state, obj):
                continue
            state.wake.set()
            state.changed.set()

    async def _seen_already(self, state: _WorkState, obj: Obj) -> bool:
        """Whether the Work's last pass already read this version of `obj` or a later one.

        A pass's own applies come back as changes after it ends; waking the Work for them
        would run every pass twice. A version at or before the one the pass read is such an
        echo, unless the object is gone meanwhile (a deleted object may come back with the
        version last seen), which one read of the live object tells.
        """
        meta = obj.get("metadata") or {}
        key = (
            str(obj.get("apiVersion") or "").rpartition("/")[0],
            str(obj.get("kind") or ""),
            str(meta.get("namespace") or ""),
            str(meta.get("name") or ""),
        )
        seen, rv = state.observed.get(key), meta.get("resourceVersion")
        if seen is None or rv is None or meta.get("deletionTimestamp"):
            return False
        if not _not_newer(str(rv), seen):
            return False
        try:
            live = await self.cluster.get(
                str(obj.get("apiVersion")), key[1], key[2] or None, key[3]
            )
        except ApiError:
            return False
        live_rv = ((live or {}).get("metadata") or {}).get("resourceVersion")
        return live_rv is not None and _not_newer(str(live_rv), seen)

    def work_names(self) -> list[str]:
        return sorted(self._works)


def merge_patch(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Obj:
    """The JSON merge patch (RFC 7386) that turns `old` into `new`.

    A plain `new` as the patch would keep keys `new` dropped inside nested maps (a GPU model
    no longer present, an output removed): those are sent as null.
    """
    out: Obj = {}
    for key, value in new.items():
        before = (old or {}).get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            out[key] = merge_patch(before, value)
        else:
            out[key] = value
    for key in old or {}:
        if key not in new:
            out[key] = None
    return out


def _superseded(state: _WorkState, synced: Obj) -> bool:
    """Whether the Work changed (new generation) or went away since this pass began."""
    if state.deleted:
        return True
    return bool(state.generation != (synced.get("metadata") or {}).get("generation"))


async def _until_changed(state: _WorkState, seconds: float) -> None:
    """Sleep `seconds`, or less if the Work's objects change or the Work does meanwhile."""
    await _wait_event(state.changed, seconds)
    state.changed.clear()


async def _wait_event(event: asyncio.Event, seconds: float) -> None:
    """Until `event` is set or `seconds` pass. A timer that sets the event rather than
    `wait_for`, which wraps the wait in a Task: ten thousand Works asleep between passes
    would hold ten thousand Tasks for nothing. Setting the event on timeout is harmless to
    every caller (each sets or clears it right after)."""
    if event.is_set():
        return
    timer = asyncio.get_running_loop().call_later(seconds, event.set)
    try:
        await event.wait()
    finally:
        timer.cancel()


def _notable(old: list[Obj], new: list[Obj], warned: set[str]) -> list[tuple[str, Obj]]:
    """(Event type, condition) for the transitions of `new` an operator wants to see.

    As Kubernetes controllers do, routine progress records nothing (a Work applied and
    available as expected would otherwise cost two Events per Work): a condition turning
    into a failure (`WARNING_REASONS`) is a Warning, and the same condition turning True
    again afterwards a Normal Event saying it recovered. `warned` (condition types with an
    unrecovered Warning) is updated here, so a recovery after intermediate steps (failed,
    waiting for a group, applied) is still recorded.
    """
    before = {c.get("type"): c for c in old}
    found: list[tuple[str, Obj]] = []
    for cond in new:
        kind = str(cond.get("type"))
        prev = before.get(kind) or {}
        if (prev.get("status"), prev.get("reason")) == (cond.get("status"), cond.get("reason")):
            continue
        if cond.get("status") != "True" and cond.get("reason") in WARNING_REASONS:
            warned.add(kind)
            found.append(("Warning", cond))
        elif cond.get("status") == "True" and (
            kind in warned or prev.get("reason") in WARNING_REASONS
        ):
            warned.discard(kind)
            found.append(("Normal", cond))
    return found


def _not_newer(rv: str, seen: str) -> bool:
    """Whether resourceVersion `rv` is `seen` or older. Kubernetes versions are opaque, so
    only equality is certain; numeric ones (etcd revisions, the simulator's) also order."""
    if rv == seen:
        return True
    return rv.isdigit() and seen.isdigit() and int(rv) < int(seen)


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return copy.copy(value)
