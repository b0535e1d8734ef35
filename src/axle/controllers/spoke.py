"""The Spoke reconciler: `Joined` and `Available` from the credential and the heartbeat Lease.

A spoke's agent joins once (the join endpoint writes its credential Secret) and then renews
the Lease `spoke-<name>/spoke-agent` every `spec.leaseDurationSeconds / 3`. This reconciler
turns those two facts into the Spoke's status:

- `Joined`: True (`AgentJoined`) while a credential exists; False (`AwaitingAgent`) before
  the first join, or (`ClientNotAccepted`) when `spec.hubAcceptsClient` is false, in which
  case the credential is deleted here, which revokes it (the authenticator drops it and ends
  the spoke's open watches);
- `Available`: True (`LeaseRenewed`) while `now - renewTime <= 3 * leaseDurationSeconds`;
  Unknown (`LeaseExpired`, "spoke <name> unreachable since <renewTime>") after that, and
  Unknown (`AwaitingHeartbeat`) before the first renewal. Never False or Failed: a silent
  spoke may be fine and only cut off, as DESIGN section 6 says.
- `status.lastHeartbeatTime` is the Lease's renewTime, `status.namespace` the Works' namespace.
  While the spoke stays Available, `lastHeartbeatTime` is refreshed only once it lags the
  Lease by a lease period or more (Kubernetes does the same for a Node: its Lease carries every
  heartbeat, its status is written on change or every few minutes). Every renewal would
  otherwise be a Spoke write, and at 1,000 spokes that is 50 writes a second of nothing new;
  on any condition change it is written exactly.

Expired bootstrap tokens of a live spoke are deleted, as Kubernetes' token cleaner does, at
the moment they expire (the reconcile asks to run again then): a token nobody used must not
linger as a Secret. Tokens naming a spoke that does not exist yet are left alone, since the
join endpoint creates the Spoke.

Why shaped so: availability is computed from the Lease's own `renewTime` against the clock,
not from when this process saw a renewal, so a hub that restarts (or fails over) computes the
same answer from the stored Lease and never flips a fresh spoke to Unknown. While Available,
the reconcile asks to run again exactly when the lease would expire, so expiry is noticed
without polling; a renewal wakes it through the Lease watch. The clock is injectable so
tests can move time.

The spoke's namespace and RBAC (`spokeaccess`) are kept in place while the Spoke lives, and
removed, with the credential, when it goes; they also carry ownerReferences to the Spoke, so
the store's garbage collector removes them should this controller not be running then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from axle.api.meta import GROUP, SYSTEM_NAMESPACE, get_condition, set_condition
from axle.api.registry import KindInfo
from axle.api.spoke import SPOKE_NAMESPACE_PREFIX, spoke_namespace
from axle.api.spoketokens import (
    BOOTSTRAP_TOKEN_TYPE,
    SPOKE_CREDENTIAL_TYPE,
    SPOKE_LEASE_NAME,
    credential_secret_name,
    parse_rfc3339,
    secret_field,
)
from axle.controllers.controller import Context, Mapper, Reconciler
from axle.controllers.informer import IndexFunc
from axle.controllers.objects import delete_if_exists, get_or_none, is_deleting, write_status
from axle.controllers.spokeaccess import ensure_access, remove_access
from axle.store.base import Obj
from axle.utils.jsoncopy import copy_json

JOINED = "Joined"
AVAILABLE = "Available"
# Heartbeats missed before a spoke is Available=Unknown.
MISSED_PERIODS = 3
DEFAULT_LEASE_SECONDS = 60
# Re-run a little after the lease would expire, so that the check sees it expired.
_EXPIRY_SLACK = 0.05
# How often drift in a spoke's namespace or RBAC is looked for while the Spoke is unchanged.
ACCESS_RECHECK_SECONDS = 300.0
BOOTSTRAP_INDEX = "bootstrap-token-spoke"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lease_spoke(obj: Obj) -> list[str]:
    m = obj.get("metadata") or {}
    ns = m.get("namespace") or ""
    if m.get("name") == SPOKE_LEASE_NAME and ns.startswith(SPOKE_NAMESPACE_PREFIX):
        return [ns[len(SPOKE_NAMESPACE_PREFIX) :]]
    return []


def _secret_spoke(obj: Obj, types: tuple[str, ...]) -> list[str]:
    m = obj.get("metadata") or {}
    if m.get("namespace") != SYSTEM_NAMESPACE or obj.get("type") not in types:
        return []
    spoke = secret_field(obj, "spoke")
    return [spoke] if spoke else []


def _credential_spoke(obj: Obj) -> list[str]:
    """The spoke a credential or bootstrap-token Secret belongs to (wakes its reconcile)."""
    return _secret_spoke(obj, (SPOKE_CREDENTIAL_TYPE, BOOTSTRAP_TOKEN_TYPE))


def _bootstrap_spoke(obj: Obj) -> list[str]:
    """Index of bootstrap-token Secrets by the spoke they let join."""
    return _secret_spoke(obj, (BOOTSTRAP_TOKEN_TYPE,))


class SpokeReconciler(Reconciler):
    name = "spoke"

    def __init__(
        self, ctx: Context, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        super().__init__(ctx)
        self.clock = clock
        # Spoke name -> (uid, generation, monotonic time) of the last ensure_access.
        self._access_checked: dict[str, tuple[str, int, float]] = {}
        self.spoke_kind = self.kinds.registry.by_group_kind(GROUP, "Spoke")

    @property
    def kind(self) -> KindInfo:
        return self.spoke_kind

    def indexes(self) -> Iterable[tuple[KindInfo, str, IndexFunc]]:
        return [(self.kinds.secret, BOOTSTRAP_INDEX, _bootstrap_spoke)]

    def watches(self) -> Iterable[tuple[KindInfo, Mapper]]:
        return ((self.kinds.lease, _lease_spoke), (self.kinds.secret, _credential_spoke))

    async def reconcile(self, key: str) -> float | None:
        spoke = self.cached(key)
        if spoke is None:
            # The cache may lag a Spoke the join endpoint has just created: ask the store
            # before removing anything.
            if await get_or_none(self.store, self.spoke_kind, None, key) is None:
                self._access_checked.pop(key, None)
                await remove_access(self.store, self.kinds.registry, key)
            return None
        if is_deleting(spoke):
            self._access_checked.pop(key, None)
            await remove_access(self.store, self.kinds.registry, key)
            return None
        name = key
        spec = spoke.get("spec") or {}
        status: dict[str, Any] = copy_json(spoke.get("status") or {})
        conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
        gen = spoke["metadata"].get("generation")
        was_joined = (get_condition(spoke, JOINED) or {}).get("status") == "True"
        was_available = get_condition(spoke, AVAILABLE) or {}

        await self._ensure_access(spoke)
        credential_key = f"{SYSTEM_NAMESPACE}/{credential_secret_name(name)}"
        credential = self.ctx.cache(self.kinds.secret).get(credential_key)
        if spec.get("hubAcceptsClient") is False:
            if credential is not None:
                await delete_if_exists(
                    self.store, self.kinds.secret, SYSTEM_NAMESPACE, credential_secret_name(name)
                )
                await self.ctx.recorder.warning(
                    spoke, "CredentialRevoked", f"spoke {name}'s credential was revoked"
                )
            set_condition(
                conditions,
                JOINED,
                "False",
                "ClientNotAccepted",
                "spec.hubAcceptsClient is false: the hub does not accept this spoke's agent",
                gen,
            )
        elif credential is not None:
            set_condition(
                conditions, JOINED, "True", "AgentJoined", f"the agent of spoke {name} joined", gen
            )
            if not was_joined:
                await self.ctx.recorder.normal(spoke, "AgentJoined", f"spoke {name} joined")
        else:
            set_condition(
                conditions,
                JOINED,
                "False",
                "AwaitingAgent",
                f"waiting for the agent of spoke {name} to join with a bootstrap token",
                gen,
            )

        requeue = _earliest(
            self._availability(name, spec, status, conditions, gen),
            await self._clean_expired_tokens(spoke),
        )
        status["namespace"] = spoke_namespace(name)
        _keep_recent_heartbeat(spoke, status, spec)
        await write_status(self.store, self.spoke_kind, spoke, status)
        now_available = get_condition({"status": status}, AVAILABLE) or {}
        before, after = was_available.get("reason"), now_available.get("reason")
        if after != before:
            if after == "LeaseExpired":
                message = str(now_available.get("message"))
                await self.ctx.recorder.warning(spoke, "SpokeUnreachable", message)
            elif after == "LeaseRenewed":
                again = " again" if before == "LeaseExpired" else ""
                message = f"spoke {name} is heartbeating{again}"
                await self.ctx.recorder.normal(spoke, "SpokeAvailable", message)
        return requeue

    async def _ensure_access(self, spoke: Obj) -> None:
        m = spoke["metadata"]
        name, uid, gen = m["name"], str(m.get("uid")), int(m.get("generation") or 0)
        now = asyncio.get_running_loop().time()
        last = self._access_checked.get(name)
        if last and last[:2] == (uid, gen) and now - last[2] < ACCESS_RECHECK_SECONDS:
            return
        await ensure_access(self.store, self.kinds.registry, spoke)
        self._access_checked[name] = (uid, gen, now)

    async def _clean_expired_tokens(self, spoke: Obj) -> float | None:
        """Delete the spoke's expired bootstrap tokens; seconds until the next one expires."""
        now = self.clock()
        soonest: float | None = None
        name = spoke["metadata"]["name"]
        for secret in self.ctx.cache(self.kinds.secret).by_index(BOOTSTRAP_INDEX, name):
            expires = parse_rfc3339(secret_field(secret, "expiration") or "")
            if expires is None or expires <= now:
                m = secret["metadata"]
                if await delete_if_exists(self.store, self.kinds.secret, m["namespace"], m["name"]):
                    await self.ctx.recorder.normal(
                        spoke, "BootstrapTokenExpired", f"bootstrap token {m['name']} expired"
                    )
                continue
            soonest = _earliest(soonest, (expires - now).total_seconds() + _EXPIRY_SLACK)
        return soonest

    def _availability(
        self,
        name: str,
        spec: dict[str, Any],
        status: dict[str, Any],
        conditions: list[dict[str, Any]],
        gen: int | None,
    ) -> float | None:
        """Set `Available` and `lastHeartbeatTime` from the Lease; when to look again."""
        lease = self.ctx.cache(self.kinds.lease).get(f"{spoke_namespace(name)}/{SPOKE_LEASE_NAME}")
        renew_text = ((lease or {}).get("spec") or {}).get("renewTime")
        renewed = parse_rfc3339(renew_text) if isinstance(renew_text, str) else None
        if renewed is None:
            set_condition(
                conditions,
                AVAILABLE,
                "Unknown",
                "AwaitingHeartbeat",
                f"spoke {name} has not renewed its lease {spoke_namespace(name)}/"
                f"{SPOKE_LEASE_NAME} yet",
                gen,
            )
            return None
        status["lastHeartbeatTime"] = _rfc3339(renewed)
        period = int(spec.get("leaseDurationSeconds") or DEFAULT_LEASE_SECONDS)
        expires = renewed + timedelta(seconds=MISSED_PERIODS * period)
        now = self.clock()
        if now > expires:
            set_condition(
                conditions,
                AVAILABLE,
                "Unknown",
                "LeaseExpired",
                f"spoke {name} unreachable since {_rfc3339(renewed)}",
                gen,
            )
            return None
        set_condition(
            conditions,
            AVAILABLE,
            "True",
            "LeaseRenewed",
            f"the agent of spoke {name} renews its lease every {max(1, period // 3)}s",
            gen,
        )
        return (expires - now).total_seconds() + _EXPIRY_SLACK


def _keep_recent_heartbeat(spoke: Obj, status: dict[str, Any], spec: dict[str, Any]) -> None:
    """Keep the stored `lastHeartbeatTime` when nothing else changed and it lags the Lease by
    less than a lease period (see the module docstring)."""
    old = spoke.get("status") or {}
    before, after = old.get("lastHeartbeatTime"), status.get("lastHeartbeatTime")
    if not isinstance(before, str) or not isinstance(after, str) or before == after:
        return
    rest_old = {k: v for k, v in old.items() if k != "lastHeartbeatTime"}
    rest_new = {k: v for k, v in status.items() if k != "lastHeartbeatTime"}
    if rest_old != rest_new:
        return
    then, latest = parse_rfc3339(before), parse_rfc3339(after)
    period = int(spec.get("leaseDurationSeconds") or DEFAULT_LEASE_SECONDS)
    if then is not None and latest is not None and (latest - then).total_seconds() < period:
        status["lastHeartbeatTime"] = before


def _earliest(*delays: float | None) -> float | None:
    """The shortest of the given requeue delays (None: no need to look again)."""
    present = [d for d in delays if d is not None]
    return min(present) if present else None
