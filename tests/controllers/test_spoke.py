"""Spoke reconciler: Joined from the credential, Available from the Lease, revocation, cleanup."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from axle.api import spoketokens as st
from axle.api.meta import get_condition
from axle.api.registry import KindInfo
from axle.controllers.controller import Context, Controller, ControllerOptions
from axle.controllers.events import EventRecorder
from axle.controllers.informer import InformerSet
from axle.controllers.kinds import Kinds
from axle.controllers.manager import ControllerManager
from axle.controllers.objects import get_or_none, key_of
from axle.controllers.spoke import SpokeReconciler, _credential_spoke, _lease_spoke
from axle.controllers.spokeaccess import AGENT_ROLE, cluster_role_name
from axle.store.base import Obj, Store
from tests.controllers.helpers import eventually

K = Kinds.from_registry()
SPOKE = K.registry.by_group_kind("axle.dev", "Spoke")
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def spoke(name: str = "gpu-a", **spec: Any) -> Obj:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Spoke",
        "metadata": {"name": name},
        "spec": {"hubAcceptsClient": True, "leaseDurationSeconds": 30, **spec},
    }


def lease(name: str, renewed: datetime) -> Obj:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": st.SPOKE_LEASE_NAME, "namespace": f"spoke-{name}"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 30, "renewTime": stamp(renewed)},
    }


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Harness:
    store: Store
    ctx: Context
    rec: SpokeReconciler
    informers: InformerSet
    clock: Clock

    async def reconcile(self, key: str = "gpu-a") -> float | None:
        await self.caught_up()
        return await self.rec.reconcile(key)

    async def caught_up(self) -> None:
        for info in (SPOKE, K.lease, K.secret):
            await caught_up(self.store, self.ctx, info)

    async def spoke(self, name: str = "gpu-a") -> Obj:
        return await self.store.get(SPOKE, None, name)

    async def condition(self, type_: str, name: str = "gpu-a") -> dict[str, Any]:
        return get_condition(await self.spoke(name), type_) or {}

    async def events(self, reason: str) -> list[Obj]:
        items = (await self.store.list(K.event, "default")).items
        return [e for e in items if e.get("reason") == reason]

    async def join(self, name: str = "gpu-a") -> str:
        token = st.new_spoke_credential()
        await self.store.create(K.secret, st.credential_secret(name, token))
        return token

    async def renew(self, name: str = "gpu-a") -> None:
        current = await get_or_none(self.store, K.lease, f"spoke-{name}", st.SPOKE_LEASE_NAME)
        if current is None:
            await self.store.create(K.lease, lease(name, self.clock.now))
        else:
            body = copy.deepcopy(current)
            body["spec"]["renewTime"] = stamp(self.clock.now)
            await self.store.update(K.lease, body)


async def caught_up(store: Store, ctx: Context, info: KindInfo) -> None:
    """Wait until the informer of `info` has seen the store's latest writes."""
    listed = await store.list(info)
    want = {key_of(o): o["metadata"]["resourceVersion"] for o in listed.items}
    cache = ctx.cache(info)

    def same() -> bool:
        have = {
            k: (cache.get(k) or {}).get("metadata", {}).get("resourceVersion")
            for k in cache.cached_keys()
        }
        return have == want

    await eventually(same, what=f"{info.plural} cache")


async def harness(store: Store, clock: Clock) -> Harness:
    informers = InformerSet(store)
    ctx = Context(store, K, informers, EventRecorder(store, K.event))
    rec = SpokeReconciler(ctx, clock=clock)
    Controller(rec, ControllerOptions())  # wires the informers it watches; never started
    informers.start()
    await informers.wait_synced()
    return Harness(store, ctx, rec, informers, clock)


@pytest.fixture
async def h(store: Store) -> AsyncIterator[Harness]:
    for ns in ("default", "axle-system"):
        await store.create(K.namespace, {"metadata": {"name": ns}})
    hh = await harness(store, Clock())
    try:
        yield hh
    finally:
        await hh.informers.stop()


async def test_a_new_spoke_awaits_its_agent_and_gets_its_namespace_and_rbac(h: Harness) -> None:
    await h.store.create(SPOKE, spoke())
    assert await h.reconcile() is None
    joined = await h.condition("Joined")
    assert (joined["status"], joined["reason"]) == ("False", "AwaitingAgent")
    available = await h.condition("Available")
    assert (available["status"], available["reason"]) == ("Unknown", "AwaitingHeartbeat")
    s = await h.spoke()
    assert s["status"]["namespace"] == "spoke-gpu-a"
    uid = s["metadata"]["uid"]
    ns = await h.store.get(K.namespace, None, "spoke-gpu-a")
    assert ns["metadata"]["ownerReferences"][0]["uid"] == uid
    role = await h.store.get(K.role, "spoke-gpu-a", AGENT_ROLE)
    assert any("works/status" in r["resources"] for r in role["rules"])
    binding = await h.store.get(K.role_binding, "spoke-gpu-a", AGENT_ROLE)
    assert binding["subjects"][0]["name"] == "system:spoke:gpu-a"
    crb = await h.store.get(K.cluster_role_binding, None, cluster_role_name("gpu-a"))
    assert crb["metadata"]["ownerReferences"][0]["uid"] == uid


async def test_joined_and_available_while_the_lease_is_renewed(h: Harness) -> None:
    await h.store.create(SPOKE, spoke())
    await h.join()
    await h.renew()
    h.clock.advance(10)
    requeue = await h.reconcile()
    joined = await h.condition("Joined")
    assert (joined["status"], joined["reason"]) == ("True", "AgentJoined")
    available = await h.condition("Available")
    assert (available["status"], available["reason"]) == ("True", "LeaseRenewed")
    assert (await h.spoke())["status"]["lastHeartbeatTime"] == "2026-03-01T12:00:00Z"
    # Looked at again when three 30 s periods have passed since the renewal.
    assert requeue is not None and 80.0 < requeue <= 80.1
    assert len(await h.events("AgentJoined")) == 1
    assert len(await h.events("SpokeAvailable")) == 1


async def test_renewals_within_a_lease_period_do_not_rewrite_the_spoke(h: Harness) -> None:
    await h.store.create(SPOKE, spoke())
    await h.join()
    await h.renew()
    await h.reconcile()
    before = await h.spoke()
    h.clock.advance(10)
    await h.renew()
    await h.reconcile()
    # Nothing but the heartbeat changed and it lags by less than a 30 s period: no write.
    same = await h.spoke()
    assert same["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert same["status"]["lastHeartbeatTime"] == "2026-03-01T12:00:00Z"
    h.clock.advance(20)
    await h.renew()
    await h.reconcile()
    assert (await h.spoke())["status"]["lastHeartbeatTime"] == "2026-03-01T12:00:30Z"


async def test_access_is_ensured_again_when_the_spoke_changes(h: Harness) -> None:
    await h.store.create(SPOKE, spoke())
    await h.join()
    await h.renew()
    await h.reconcile()
    await h.store.delete(K.role, "spoke-gpu-a", AGENT_ROLE)
    current = await h.spoke()
    current["spec"]["leaseDurationSeconds"] = 40
    await h.store.update(SPOKE, current)
    await h.reconcile()
    role = await h.store.get(K.role, "spoke-gpu-a", AGENT_ROLE)
    assert any("works/status" in r["resources"] for r in role["rules"])


async def test_missed_heartbeats_make_it_unknown_then_a_renewal_recovers(h: Harness) -> None:
    await h.store.create(SPOKE, spoke())
    await h.join()
    await h.renew()
    await h.reconcile()
    h.clock.advance(90)  # exactly three periods: not yet missed
    assert (await h.reconcile()) is not None
    assert (await h.condition("Available"))["status"] == "True"

    h.clock.advance(1)
    assert await h.reconcile() is None
    available = await h.condition("Available")
    assert available["status"] == "Unknown"
    assert available["reason"] == "LeaseExpired"
    assert available["message"] == "spoke gpu-a unreachable since 2026-03-01T12:00:00Z"
    assert (await h.condition("Joined"))["status"] == "True"
    events = await h.events("SpokeUnreachable")
    assert len(events) == 1 and events[0]["type"] == "Warning"
    assert "unreachable since" in events[0]["message"]
    assert all(c["status"] != "False" for c in (await h.spoke())["status"]["conditions"])

    await h.renew()
    h.clock.advance(1)
    await h.reconcile()
    available = await h.condition("Available")
    assert (available["status"], available["reason"]) == ("True", "LeaseRenewed")
    assert (await h.spoke())["status"]["lastHeartbeatTime"] == "2026-03-01T12:01:31Z"
    again = await h.events("SpokeAvailable")
    assert any("heartbeating again" in e["message"] for e in again)


async def test_a_restarted_hub_keeps_a_fresh_spoke_available(h: Harness) -> None:
    await h.store.create(SPOKE, spoke())
    await h.join()
    await h.renew()
    await h.reconcile()
    before = await h.condition("Available")
    rv = (await h.spoke())["metadata"]["resourceVersion"]
    await h.informers.stop()

    h.clock.advance(60)  # down for a while, still inside three periods
    fresh = await harness(h.store, h.clock)
    try:
        await fresh.reconcile()
        assert await fresh.condition("Available") == before
        assert (await fresh.spoke())["metadata"]["resourceVersion"] == rv  # nothing written
    finally:
        await fresh.informers.stop()


async def test_not_accepting_the_client_revokes_its_credential(h: Harness) -> None:
    await h.store.create(SPOKE, spoke())
    await h.join()
    await h.reconcile()
    s = await h.spoke()
    s["spec"]["hubAcceptsClient"] = False
    await h.store.update(SPOKE, s)
    await h.reconcile()
    assert await get_or_none(h.store, K.secret, "axle-system", "spoke-credential-gpu-a") is None
    joined = await h.condition("Joined")
    assert (joined["status"], joined["reason"]) == ("False", "ClientNotAccepted")
    assert len(await h.events("CredentialRevoked")) == 1


async def test_deleting_a_spoke_removes_its_credential_rbac_and_namespace(h: Harness) -> None:
    await h.store.create(SPOKE, spoke())
    await h.join()
    await h.reconcile()
    await h.store.delete(SPOKE, None, "gpu-a")
    await h.reconcile()
    assert await get_or_none(h.store, K.secret, "axle-system", "spoke-credential-gpu-a") is None
    for info, name in (
        (K.cluster_role, "axle-spoke-gpu-a"),
        (K.cluster_role_binding, "axle-spoke-gpu-a"),
    ):
        assert await get_or_none(h.store, info, None, name) is None
    ns = await get_or_none(h.store, K.namespace, None, "spoke-gpu-a")
    assert ns is None or ns["metadata"].get("deletionTimestamp")


async def test_a_missing_spoke_in_a_lagging_cache_is_not_cleaned_up(h: Harness) -> None:
    await h.informers.stop()  # the caches stop following the store
    await h.store.create(SPOKE, spoke())
    await h.join()
    # Reconciled before the cache saw the Spoke: the store still has it, so nothing goes.
    assert h.ctx.cache(SPOKE).get("gpu-a") is None
    await h.rec.reconcile("gpu-a")
    assert await get_or_none(h.store, K.secret, "axle-system", "spoke-credential-gpu-a")


async def test_expired_bootstrap_tokens_of_a_live_spoke_are_deleted_when_due(h: Harness) -> None:
    await h.store.create(SPOKE, spoke())
    soon = st.new_bootstrap_token()
    await h.store.create(K.secret, st.bootstrap_secret("gpu-a", soon, ttl_seconds=20, now=T0))
    stale = st.new_bootstrap_token()
    past = T0 - timedelta(hours=1)
    await h.store.create(K.secret, st.bootstrap_secret("gpu-a", stale, ttl_seconds=60, now=past))
    # A token for a spoke that does not exist yet is left for the join to use.
    await h.store.create(K.secret, st.bootstrap_secret("gpu-z", st.new_bootstrap_token(), now=past))

    def names() -> set[str]:
        return {key_of(s) for s in h.ctx.cache(K.secret).list("axle-system")}

    requeue = await h.reconcile()
    assert requeue is not None and 20.0 <= requeue <= 20.1  # when `soon` expires
    await h.caught_up()
    soon_key = f"axle-system/bootstrap-token-{soon.split('.')[0]}"
    stale_key = f"axle-system/bootstrap-token-{stale.split('.')[0]}"
    assert soon_key in names() and stale_key not in names()
    h.clock.advance(21)
    assert await h.reconcile() is None
    await h.caught_up()
    assert soon_key not in names()
    assert len([n for n in names() if n.startswith("axle-system/bootstrap-token-")]) == 1
    assert len(await h.events("BootstrapTokenExpired")) == 2


def test_mappers() -> None:
    assert _lease_spoke(lease("gpu-a", T0)) == ["gpu-a"]
    other = lease("gpu-a", T0)
    other["metadata"]["name"] = "something-else"
    assert _lease_spoke(other) == []
    elsewhere = lease("gpu-a", T0)
    elsewhere["metadata"]["namespace"] = "team-a"
    assert _lease_spoke(elsewhere) == []
    cred = st.credential_secret("gpu-a", "t")
    assert _credential_spoke(cred) == ["gpu-a"]
    assert _credential_spoke({**cred, "type": "Opaque"}) == []
    token = st.bootstrap_secret("gpu-b", st.new_bootstrap_token())
    assert _credential_spoke(token) == ["gpu-b"]


async def test_the_manager_runs_the_spoke_controller(
    store: Store, manager: ControllerManager
) -> None:
    await store.create(SPOKE, spoke(leaseDurationSeconds=60))
    await store.create(K.secret, st.credential_secret("gpu-a", st.new_spoke_credential()))
    await eventually(
        lambda: get_or_none(store, K.namespace, None, "spoke-gpu-a"), what="the namespace"
    )
    await store.create(K.lease, lease("gpu-a", datetime.now(UTC)))

    async def available() -> bool:
        s = await store.get(SPOKE, None, "gpu-a")
        return (get_condition(s, "Available") or {}).get("status") == "True" and (
            get_condition(s, "Joined") or {}
        ).get("status") == "True"

    await eventually(available, what="Joined and Available")
