"""`SimCluster`: a Kubernetes cluster simulated in process, behind the spoke agent's interface.

It has the methods of `axle.kube.cluster.Cluster` (apply, get, list_objects, delete,
events_for, capacity, changes, close) with the same signatures, so the spoke agent drives it
exactly as it drives a real cluster; `sim/` sits below `kube/` and cannot import the protocol,
so the match is structural (tests check it).

A SimCluster is built from the kubeconfig the Palette simulator hands out for a Running
cluster (`from_kubeconfig`, which reads the nodes from its `palette-sim.axle.dev` extension),
from `NodeSpec`s in tests, or from its state file alone (`SimCluster(name, None,
state_path=...)`, which resumes the nodes saved there). It starts with the namespaces
`default`, `kube-system`, `kube-public`, `kube-node-lease` and the default StorageClass;
objects in any other namespace need that Namespace first (404 `namespaces "x" not found`,
as from the API server).

Every mutation runs the simulated controllers until the cluster settles at the current clock
reading (see `controllers.py`; only over what the mutation touched and what that touches in
turn), then saves the state file. Time-driven progress (start
latencies, job durations, cron schedules, backoffs) happens in `step()`, which an agent calls
from `run()` and a test after moving its manual clock (`advance(seconds)` does both). With a
`state_path`, a new SimCluster on the same file resumes every object with its
`resourceVersion`, `uid` and timers as they were, so an agent restarted finds nothing to
re-apply.

`delete` removes the object at once (no graceful termination or finalizers) and its
dependents in the background, as `propagationPolicy: Background` does: a Deployment takes its
ReplicaSets and their Pods, a Job its Pods, a Namespace everything in it. `changes()` yields
each object as it is written; a deleted one is yielded once more with
`metadata.deletionTimestamp` set.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from axle.errors import Forbidden, Invalid, NotFound
from axle.sim.cluster.controllers import Controllers
from axle.sim.cluster.kinds import group_of, key_for, key_of, plural
from axle.sim.cluster.kubeconfig import read_kubeconfig
from axle.sim.cluster.network import lb_pool_for
from axle.sim.cluster.nodes import (
    DEFAULT_KUBERNETES_VERSION,
    NodeSpec,
    SimClusterCapacity,
    capacity_of,
    node_object,
)
from axle.sim.cluster.objects import ObjectStore
from axle.sim.cluster.runtime import Timings
from axle.sim.cluster.selectors import matches, parse_selector
from axle.sim.cluster.storage import default_storage_class

Obj = dict[str, Any]
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# Seconds between steps when no timer is pending: only a safety net, since every delay a
# controller waits for is a timer (`Ctx.due`); a full step of a thousand idle clusters each
# minute would be a steady cost that grows with the fleet.
IDLE_STEP = 600.0
# Kinds no simulated controller reads or writes (nothing reacts to a ConfigMap's content).
INERT_KINDS = frozenset({("", "ConfigMap"), ("", "Secret"), ("", "ServiceAccount")})
SAVE_DELAY = 1.0  # while `run()` drives the cluster: changes are saved at most this often


class SimCluster:
    """A simulated cluster; see the module docstring."""

    def __init__(
        self,
        name: str,
        nodes: Sequence[NodeSpec] | None,
        *,
        state_path: Path | None = None,
        start_latency: float = 0.0,
        job_duration: float = 0.0,
        clock: Callable[[], float] = time.time,
        kubernetes_version: str | None = None,
        lb_pool: str | None = None,
    ) -> None:
        """`nodes=None` resumes the nodes of the state file (`sim://NAME` after a restart).

        `lb_pool` is the CIDR load-balancer addresses come from; by default a /24 derived
        from the cluster's name (`network.lb_pool_for`), so clusters get distinct addresses.
        """
        self.name = name
        self.clock = clock
        self.store = ObjectStore(clock, name, state_path)
        self.restored = self.store.load()
        stored = self.store.of_kind("", "Node")
        if nodes is None and not stored:
            raise Invalid(
                f"simulated cluster {name!r} has no saved nodes"
                + (f" in {state_path}" if state_path else "")
                + "; start it from the kubeconfig the Palette simulator gives for it"
            )
        if kubernetes_version is None and nodes is None:
            info = stored[0].get("status", {}).get("nodeInfo") or {}
            kubernetes_version = info.get("kubeletVersion")
        self.kubernetes_version = kubernetes_version or DEFAULT_KUBERNETES_VERSION
        self.controllers = Controllers(
            self.store,
            Timings(start_latency=start_latency, job_duration=job_duration),
            self.kubernetes_version,
            lb_pool or lb_pool_for(name),
        )
        self._closed = asyncio.Event()
        self._timers_changed = asyncio.Event()
        self._save_wanted = asyncio.Event()
        self._deferred_saves = False  # set while `run()` saves in the background
        self._writing: asyncio.Future[None] | None = None
        if nodes is not None:
            self._sync_nodes(nodes)
        for ns in SYSTEM_NAMESPACES:
            if self.store.get(("", "Namespace", "", ns)) is None:
                self.store.write(
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
                )
        if not self.restored:
            self.store.write(default_storage_class())
        self.step()

    @classmethod
    def from_kubeconfig(
        cls,
        source: str | Path | Mapping[str, Any],
        *,
        state_path: Path | None,
        start_latency: float = 0.0,
        clock: Callable[[], float] = time.time,
        job_duration: float = 0.0,
        lb_pool: str | None = None,
    ) -> SimCluster:
        """The cluster a Palette simulator kubeconfig (YAML text, a file, a dict) describes."""
        if isinstance(source, Path):
            try:
                source = source.read_text()
            except OSError as exc:
                raise Invalid(f"cannot read kubeconfig {source}: {exc.strerror or exc}") from None
        info = read_kubeconfig(source)
        return cls(
            info.name,
            info.nodes,
            state_path=state_path,
            start_latency=start_latency,
            job_duration=job_duration,
            clock=clock,
            kubernetes_version=info.kubernetes_version,
            lb_pool=lb_pool,
        )

    def _sync_nodes(self, nodes: Sequence[NodeSpec]) -> None:
        """Node objects for `nodes`; unchanged ones keep their versions, gone ones go."""
        names = set()
        for spec in nodes:
            names.add(spec.name)
            node = node_object(spec, self.kubernetes_version)
            old = self.store.get(("", "Node", "", spec.name))
            if old is not None:
                node["metadata"] = {**old["metadata"], **node["metadata"]}
            self.store.write(node)
        for old in self.store.of_kind("", "Node"):
            if old["metadata"]["name"] not in names:
                self.store.remove(key_of(old))

    # ---- time ------------------------------------------------------------------------

    def step(self) -> None:
        """Run the controllers at the clock's current reading and save what changed (at once,
        or, while `run()` drives the cluster, within `SAVE_DELAY` from a thread).

        Time moved, so a timer may be due anywhere: every object is looked at."""
        self._reconcile(full=True)

    def _settle(self) -> None:
        """After a change through the interface: reconcile what it touched (and what that
        touches in turn), not the whole cluster, which a host of many clusters applying
        thousands of objects could not afford per apply."""
        self._reconcile(full=False)

    def _reconcile(self, *, full: bool) -> None:
        due = self.controllers.next_due
        self.controllers.reconcile(full)
        self._persist()
        if self.controllers.next_due < due:
            self._timers_changed.set()

    def _persist(self) -> None:
        """Save what changed: at once, or soon from `run()`'s saver."""
        if self._deferred_saves:
            if self.store.dirty:
                self._save_wanted.set()
        else:
            self.store.save()

    async def _saver(self) -> None:
        """Save the state file in the background, coalescing the changes of `SAVE_DELAY`.

        Each apply changing the state file at once costs a file write per change; a host
        running a thousand simulated clusters would spend its time writing. A killed process
        loses at most the last `SAVE_DELAY` of cluster changes, which the agent's
        level-triggered passes re-apply."""
        while not self._closed.is_set():
            await self._wait_any(self._save_wanted, None)
            if self._closed.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), SAVE_DELAY)
            self._save_wanted.clear()
            data = self.store.snapshot()
            if data is not None:
                self._writing = asyncio.ensure_future(
                    asyncio.to_thread(self.store.write_state, data)
                )
                # Shielded: a half-done write must finish before `close` writes the last state.
                await asyncio.shield(self._writing)
            # Not kept while this loop waits for the next change: a thousand idle clusters
            # would each hold a copy of their state file.
            del data

    async def _wait_any(self, event: asyncio.Event, seconds: float | None) -> None:
        """Until `event` is set, the cluster closes, or `seconds` pass."""
        waiters = [
            asyncio.ensure_future(self._closed.wait()),
            asyncio.ensure_future(event.wait()),
        ]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when="FIRST_COMPLETED")
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def advance(self, seconds: float) -> None:
        """Move a manual clock (one with `advance`) forward, then `step` (tests)."""
        advance = getattr(self.clock, "advance", None)
        if advance is None:
            raise TypeError("advance() needs a manual clock; a real clock moves by itself")
        advance(seconds)
        self.step()

    async def run(self, interval: float = IDLE_STEP) -> None:
        """Until `close()`, `step` when a timer comes due (a pod to start, a job to finish, a
        cron slot), or at least every `interval` seconds (the agent's background task).

        It sleeps until the earliest pending timer rather than polling: a host process runs a
        thousand of these, and an idle cluster must cost nothing. A change made through the
        interface steps at once and may set an earlier timer, so `step` wakes this loop to
        recompute its sleep. (With a manual clock, tests move time with `advance`.)"""
        last = self.clock()
        self._deferred_saves = True
        saver = asyncio.create_task(self._saver())
        try:
            while not self._closed.is_set():
                now = self.clock()
                if now >= self.controllers.next_due or now - last >= interval:
                    self.step()
                    last = now
                self._timers_changed.clear()
                wait = min(max(self.controllers.next_due - now, 0.0), interval - (now - last))
                await self._wait_any(self._timers_changed, max(wait, 0.001))
        finally:
            self._deferred_saves = False
            saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saver
            if self._writing is not None:
                with contextlib.suppress(Exception):
                    await self._writing
            self.store.save()

    # ---- the Cluster interface -------------------------------------------------------

    def _require_namespace(self, obj: Obj) -> None:
        key = key_of(obj)
        if key[2] and ("", "Namespace", "", key[2]) not in self.store.objects:
            raise NotFound(f'namespaces "{key[2]}" not found', kind="namespaces", name=key[2])

    async def apply(self, obj: Obj, *, field_manager: str = "axle", force: bool = True) -> Obj:
        """Create or update `obj` with server-side-apply semantics; returns the live object."""
        self._require_namespace(obj)
        live = self.store.apply(obj, field_manager, force, admit=self.controllers.admit)
        key = key_of(live)
        if key[:2] in INERT_KINDS and not live["metadata"].get("ownerReferences"):
            # No simulated controller reads or writes these: the cluster is as settled as it
            # was, so only the change is saved (a reconcile pass per ConfigMap would be waste).
            self._persist()
        else:
            self._settle()
        return self.store.get(key) or live

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> Obj | None:
        # The store decodes a copy for each read: the caller's to keep or change.
        return self.store.get(key_for(api_version, kind, namespace, name))

    async def list_objects(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[Obj]:
        reqs = parse_selector(label_selector)
        return [
            o
            for o in self.store.of_kind(group_of(api_version), kind, namespace)
            if matches(reqs, o["metadata"].get("labels"))
        ]

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        """Delete (background propagation); False if it was already absent."""
        key = key_for(api_version, kind, namespace, name)
        if key[:2] == ("", "Namespace") and name in ("default", "kube-system", "kube-public"):
            raise Forbidden(
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                kind=plural(kind),
                name=name,
            )
        if self.store.remove(key) is None:
            return False
        if key[:2] == ("", "Namespace"):
            for k in [k for k in self.store.objects if k[2] == name]:
                self.store.remove(k)
        self._settle()
        return True

    async def events_for(self, obj: Obj) -> list[Obj]:
        """Events whose involvedObject is `obj`, oldest first."""
        meta = obj.get("metadata") or {}
        uid = meta.get("uid")
        found = []
        candidates = self.store.events_about(str(uid)) if uid else self.store.of_kind("", "Event")
        for ev in candidates:
            inv = ev.get("involvedObject") or {}
            if uid and inv.get("uid"):
                same = inv["uid"] == uid
            else:
                same = (
                    inv.get("kind") == obj.get("kind")
                    and inv.get("name") == meta.get("name")
                    and inv.get("namespace") == meta.get("namespace")
                )
            if same:
                found.append(ev)
        return sorted(
            found,
            key=lambda e: (e.get("firstTimestamp", ""), int(e["metadata"]["resourceVersion"])),
        )

    async def capacity(self) -> SimClusterCapacity:
        nodes = tuple(capacity_of(n) for n in self.store.of_kind("", "Node"))
        return SimClusterCapacity(kubernetes_version=self.kubernetes_version, nodes=nodes)

    async def changes(self) -> AsyncIterator[Obj]:
        """Objects as they change, until `close()`."""
        queue = self.store.subscribe()
        waiter = asyncio.ensure_future(self._closed.wait())
        try:
            while not self._closed.is_set():
                # A pass writes a dozen objects at once: what is queued is taken without a
                # wait (two futures per change otherwise).
                try:
                    raw = queue.get_nowait()
                except asyncio.QueueEmpty:
                    getter = asyncio.ensure_future(queue.get())
                    done, _ = await asyncio.wait(
                        {getter, waiter}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getter not in done:
                        getter.cancel()
                        return
                    raw = getter.result()
                yield orjson.loads(raw)
        finally:
            waiter.cancel()
            self.store.unsubscribe(queue)

    async def close(self) -> None:
        self._closed.set()
        if self._writing is not None and not self._writing.done():
            with contextlib.suppress(Exception):
                await self._writing
        self.store.save()
