"""The Compute reconciler: Palette's tagged edge hosts, grouped by hardware, in `status`.

For each Compute it finds the Settings to use, builds (or reuses) a provider from the
effective Palette Secret, lists the hosts carrying `spec.tagSelector` (default
`{"palette.ai": "true"}`), groups them (`group_hosts`, a pure function the benchmark times on
its own) and writes the inventory to `status`.

Which Settings (notes section 7: a Compute falls back to its project's Settings):
`spec.settingsRef` in the Compute's namespace; else the Settings of the Project in that
namespace (`spec.settingsRef`); else its tenant's (`Tenant.spec.settingsRef`, the tenant found
from the Project or the namespace's `axle.dev/tenant` label); else the only Settings in the
namespace. The Palette integration is read from that Settings' `status.effectiveSettings`,
which the Settings controller has already merged with the tenant's, so a project inheriting
Palette from its tenant needs nothing more.

How hosts become groups and machine states is `controllers/inventory.py`.

When it writes (the issue: "unchanged inventory writes nothing"): the status is compared
before writing and an unchanged inventory writes nothing at all. `lastSyncTime` is when
Palette last confirmed the inventory: it moves when the inventory changed, and otherwise at
most every `heartbeat_seconds` (5 minutes), so a healthy Compute costs one small write per
5 minutes instead of one per sync, and `lastSyncTime` is never more than about 5 minutes old
while syncing works.

Timing: a sync every `sync_seconds` (30 s; `compute_sync_seconds` on `axle up`), and at once
when the Compute's spec, its Settings or its Secret change. Other events (such as the
controller's own status write) do not cause another call to Palette before the sync is due.

Errors: `Synced=False` (and `Ready=False`) with the reason (`SettingsNotFound`,
`SettingsNotReady`, `PaletteNotConfigured`, `SecretNotFound`, the provider's
`InvalidCredentials`, `InvalidConfiguration`, `Unreachable`, `RateLimited`, `ServerError`,
`BadResponse`, ...) and a message that says how old the inventory shown is; the last good
inventory stays. Transient errors retry with backoff (1 s doubling) capped at `sync_seconds`,
so recovery is never later than one normal sync (a `Retry-After` longer than that is
honoured); bad credentials or configuration wait for the normal cadence or a Secret change.
A Warning Event is recorded when the reason changes, and Events name machines that became
unhealthy or healthy again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from axle.api.meta import GROUP, set_condition
from axle.api.registry import KindInfo
from axle.controllers.controller import Context, Filtered, Mapper, Reconciler
from axle.controllers.events import EventKind
from axle.controllers.inventory import ComputeInventory, group_hosts, machine_states
from axle.controllers.objects import is_deleting, key_of, labels, make_key, write_status
from axle.controllers.provider_cache import (
    ProviderCache,
    ProviderFactory,
    palette_provider,
    palette_summary,
)
from axle.controllers.tenancy import (
    TENANT_LABEL,
    project_changed,
    project_tenant,
    status_copy,
    tenant_namespace,
)
from axle.providers.base import Capability, Host, InvalidConfiguration, ProviderError
from axle.providers.base import InvalidCredentials as InvalidCredentialsError
from axle.providers.base import RateLimited as RateLimitedError
from axle.store.base import Obj

DEFAULT_TAG_SELECTOR: dict[str, str] = {"palette.ai": "true"}
# Reasons that a change of the Secret or Settings fixes, not time: no fast retries.
CONFIGURATION_REASONS = frozenset(
    {InvalidCredentialsError.reason, InvalidConfiguration.reason, "InventoryNotSupported"}
)
# At most this many per-machine Events per sync; more are summed up in one.
MAX_MACHINE_EVENTS = 5


# --- the reconciler ------------------------------------------------------------------------


class SyncProblem(Exception):
    """Why a sync could not even ask the provider (no Settings, no Secret, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class _Source:
    settings_key: str
    secret_key: str
    secret: Obj
    secret_field: str


@dataclass
class _SyncState:
    fingerprint: tuple[Any, ...]  # what the last sync read; a change means sync now
    next_at: float  # clock() time the next sync is due
    failures: int = 0  # consecutive failed syncs, for the backoff


@dataclass
class _Uses:
    settings: dict[str, str | None] = field(default_factory=dict)  # compute -> settings key
    secret: dict[str, str | None] = field(default_factory=dict)  # compute -> secret key


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class ComputeReconciler(Reconciler):
    name = "compute"

    def __init__(
        self,
        ctx: Context,
        *,
        sync_seconds: float = 30.0,
        heartbeat_seconds: float = 300.0,
        error_backoff_base: float = 1.0,
        provider_factory: ProviderFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        super().__init__(ctx)
        self.compute_kind = ctx.kinds.registry.by_group_kind(GROUP, "Compute")
        self.sync_seconds = sync_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.error_backoff_base = error_backoff_base
        self.providers = ProviderCache(provider_factory or palette_provider)
        self.clock = clock
        self.now = now
        self._state: dict[str, _SyncState] = {}
        self._uses = _Uses()

    @property
    def kind(self) -> KindInfo:
        return self.compute_kind

    # --- wiring ---------------------------------------------------------------------------

    def _computes_in(self, namespace: str) -> list[str]:
        return [key_of(c) for c in self.ctx.cache(self.kind).list(namespace)]

    def _users_of_settings(self, settings: Obj) -> list[str]:
        key = key_of(settings)
        users = {c for c, s in self._uses.settings.items() if s == key}
        users.update(self._computes_in(settings["metadata"].get("namespace") or ""))
        return sorted(users)

    def _users_of_secret(self, secret: Obj) -> list[str]:
        key = key_of(secret)
        return sorted(c for c, s in self._uses.secret.items() if s == key)

    def watches(self) -> Iterable[tuple[KindInfo, Mapper]]:
        k = self.kinds
        return [
            (k.settings, self._users_of_settings),
            (k.secret, self._users_of_secret),
            (
                k.project,
                Filtered(
                    lambda p: self._computes_in(p["metadata"].get("namespace") or ""),
                    project_changed,
                ),
            ),
            (k.namespace, lambda ns: self._computes_in(ns["metadata"]["name"])),
            # A tenant's settingsRef is the last fallback; tenants change rarely.
            (k.tenant, lambda _t: self.ctx.cache(self.kind).cached_keys()),
        ]

    async def aclose(self) -> None:
        """Close every provider (the manager calls this when the controllers stop)."""
        await self.providers.aclose()

    # --- resolution -----------------------------------------------------------------------

    def _settings_key(self, compute: Obj) -> str:
        ns = compute["metadata"]["namespace"]
        ref = (compute.get("spec") or {}).get("settingsRef") or {}
        if ref.get("name"):
            return make_key(ns, ref["name"])
        projects = self.ctx.cache(self.kinds.project).list(ns)
        project = projects[0] if projects else None
        pref = ((project or {}).get("spec") or {}).get("settingsRef") or {}
        if pref.get("name"):
            return make_key(ns, pref["name"])
        tenant_name = project_tenant(project) if project else ""
        if not tenant_name:
            namespace = self.ctx.cache(self.kinds.namespace).get(ns)
            tenant_name = labels(namespace).get(TENANT_LABEL, "") if namespace else ""
        tenant = self.ctx.cache(self.kinds.tenant).get(tenant_name) if tenant_name else None
        tref = ((tenant or {}).get("spec") or {}).get("settingsRef") or {}
        if tref.get("name"):
            return make_key(tref.get("namespace") or tenant_namespace(tenant_name), tref["name"])
        local = self.ctx.cache(self.kinds.settings).list(ns)
        if len(local) == 1:
            return key_of(local[0])
        raise SyncProblem(
            "SettingsNotFound",
            f"no Settings to read Palette from: set spec.settingsRef, or a settingsRef on the "
            f"project in {ns} or on its tenant",
        )

    def _source(self, compute: Obj, uses: list[str | None]) -> _Source:
        settings_key = self._settings_key(compute)
        uses[0] = settings_key
        settings = self.ctx.cache(self.kinds.settings).get(settings_key)
        if settings is None:
            raise SyncProblem("SettingsNotFound", f"Settings {settings_key} not found")
        uses[2] = settings["metadata"].get("resourceVersion")
        status = settings.get("status") or {}
        if "effectiveSettings" not in status:
            raise SyncProblem(
                "SettingsNotReady", f"Settings {settings_key} has not been reconciled yet"
            )
        palette = (status.get("effectiveSettings") or {}).get("palette") or {}
        ref = palette.get("secretRef") or {}
        if not ref.get("name"):
            raise SyncProblem(
                "PaletteNotConfigured",
                f"Settings {settings_key} (merged with its tenant's) has no Palette integration",
            )
        secret_key = make_key(
            ref.get("namespace") or settings["metadata"]["namespace"], ref["name"]
        )
        uses[1] = secret_key
        secret = self.ctx.cache(self.kinds.secret).get(secret_key)
        if secret is None:
            raise SyncProblem(
                "SecretNotFound",
                f"Secret {secret_key} (Palette integration of Settings {settings_key}) not found",
            )
        return _Source(settings_key, secret_key, secret, str(ref.get("key") or "palette"))

    # --- reconcile ------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        compute = self.cached(key)
        if compute is None or is_deleting(compute):
            self._state.pop(key, None)
            self._uses.settings.pop(key, None)
            self._uses.secret.pop(key, None)
            await self.providers.retain(s for s in self._uses.secret.values() if s)
            return None
        spec = compute.get("spec") or {}
        gen = compute["metadata"].get("generation")
        selector = dict(spec.get("tagSelector") or DEFAULT_TAG_SELECTOR)
        prefix = spec.get("resourceGroupPrefix")
        # (Settings key, Secret key, Settings resourceVersion) as far as resolution got
        uses: list[str | None] = [None, None, None]
        # (reason, message, Retry-After) of a failed sync
        failure: tuple[str, str, float | None] | None = None
        source: _Source | None = None
        try:
            source = self._source(compute, uses)
        except SyncProblem as problem:
            failure = (problem.reason, problem.message, None)
        self._uses.settings[key], self._uses.secret[key] = uses[0], uses[1]
        await self.providers.retain(s for s in self._uses.secret.values() if s)

        smeta = (source.secret.get("metadata") or {}) if source else {}
        fingerprint = (
            gen,
            *uses,
            smeta.get("uid"),
            smeta.get("resourceVersion"),
            source.secret_field if source else None,
            json.dumps(selector, sort_keys=True),
            prefix,
        )
        state = self._state.get(key)
        now = self.clock()
        if state is not None and state.fingerprint == fingerprint and now < state.next_at:
            return state.next_at - now

        hosts: list[Host] | None = None
        where = ""
        if source is not None:
            where = palette_summary(source.secret, source.secret_field)
            try:
                provider = await self.providers.get(source.secret, source.secret_field)
                if Capability.INVENTORY not in provider.capabilities:
                    raise SyncProblem(
                        "InventoryNotSupported",
                        f"provider {provider.name} of Settings {source.settings_key} "
                        "cannot list machines",
                    )
                hosts = await provider.list_hosts(selector)
            except SyncProblem as problem:
                failure = (problem.reason, problem.message, None)
            except ProviderError as exc:
                retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
                failure = (exc.reason, _provider_message(exc, where), retry_after)

        if failure is not None or hosts is None:
            reason, message, retry_after = failure or ("SyncFailed", "no hosts", None)
            failures = (state.failures if state is not None else 0) + 1
            delay = self._error_delay(reason, failures, retry_after)
            await self._write_failure(compute, reason, message, gen)
            self._state[key] = _SyncState(fingerprint, self.clock() + delay, failures)
            return delay

        assert source is not None
        inventory = group_hosts(hosts, resource_group_prefix=prefix)
        await self._write_inventory(compute, inventory, source, where, gen, state)
        self._state[key] = _SyncState(fingerprint, self.clock() + self.sync_seconds, 0)
        return self.sync_seconds

    def _error_delay(self, reason: str, failures: int, retry_after: float | None) -> float:
        if reason in CONFIGURATION_REASONS:
            return self.sync_seconds
        delay: float = min(self.sync_seconds, self.error_backoff_base * 2.0 ** (failures - 1))
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    async def _write_inventory(
        self,
        compute: Obj,
        inventory: ComputeInventory,
        source: _Source,
        where: str,
        gen: int | None,
        state: _SyncState | None,
    ) -> None:
        status = status_copy(compute)
        before = machine_states(status)
        had_inventory = "lastSyncTime" in status
        fields = inventory.status_fields()
        changed = any(status.get(k) != v for k, v in fields.items()) or (
            "gpuSummary" in status and "gpuSummary" not in fields
        )
        status.pop("gpuSummary", None)
        status.update(fields)
        now = self.now()
        last = _parse_time(status.get("lastSyncTime"))
        if changed or last is None or (now - last).total_seconds() >= self.heartbeat_seconds:
            status["lastSyncTime"] = _rfc3339(now)
        sns, _, sname = source.settings_key.partition("/")
        status["settings"] = {"namespace": sns, "name": sname}
        status["observedGeneration"] = gen
        conds = status["conditions"]
        message = (
            f"{inventory.total} machines ({inventory.available} available) from Palette "
            f"{where or source.secret_key} through Settings {source.settings_key}"
        )
        was_failing = any(c.get("type") == "Synced" and c.get("status") == "False" for c in conds)
        set_condition(conds, "Synced", "True", "InventoryListed", message, gen)
        set_condition(conds, "Ready", "True", "Ready", message, gen)
        await write_status(self.store, self.kind, compute, status)
        rec = self.ctx.recorder
        if not had_inventory:
            await rec.normal(compute, "Synced", message)
        elif was_failing:
            await rec.normal(compute, "Synced", f"syncing again: {message}")
        await self._machine_events(compute, before, inventory.machine_states())

    async def _machine_events(
        self, compute: Obj, before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]
    ) -> None:
        if not before:
            return
        sick = [
            n
            for mid, (n, s) in after.items()
            if s == "unhealthy" and before.get(mid, ("", s))[1] != s
        ]
        well = [
            n
            for mid, (n, s) in after.items()
            if s != "unhealthy" and before.get(mid, ("", s))[1] == "unhealthy"
        ]
        gone = [n for mid, (n, _s) in before.items() if mid not in after]
        rec = self.ctx.recorder
        changes: list[tuple[list[str], EventKind, str, str]] = [
            (sick, "Warning", "MachineUnhealthy", "unhealthy"),
            (well, "Normal", "MachineHealthy", "healthy again"),
            (gone, "Normal", "MachineRemoved", "no longer in the inventory"),
        ]
        for names, kind, reason, what in changes:
            if not names:
                continue
            names.sort()
            if len(names) > MAX_MACHINE_EVENTS:
                shown = ", ".join(names[:MAX_MACHINE_EVENTS])
                text = f"{len(names)} machines {what}: {shown}, ..."
                await rec.record(compute, kind, reason, text)
                continue
            for name in names:
                await rec.record(compute, kind, reason, f"machine {name} is {what}")

    async def _write_failure(
        self, compute: Obj, reason: str, message: str, gen: int | None
    ) -> None:
        status = status_copy(compute)
        last = status.get("lastSyncTime")
        if last:
            message += f"; showing the inventory last confirmed at {last}"
        else:
            message += "; no inventory yet"
        status["observedGeneration"] = gen
        conds = status["conditions"]
        changed = set_condition(conds, "Synced", "False", reason, message, gen)
        set_condition(conds, "Ready", "False", reason, message, gen)
        await write_status(self.store, self.kind, compute, status)
        if changed:
            await self.ctx.recorder.warning(compute, reason, message)


def _provider_message(exc: ProviderError, where: str) -> str:
    at = f"Palette {where}" if where else "Palette"
    hints = {
        "InvalidCredentials": "check the apiKey in the Palette Secret",
        "InvalidConfiguration": "fix the Palette Secret",
        "Unreachable": "check hostUrl and the network path to Palette",
        "RateLimited": "Palette is rate limiting; retrying later",
        "ServerError": "Palette failed; retrying",
    }
    hint = hints.get(exc.reason)
    return f"{at}: {exc.message}" + (f" ({hint})" if hint else "")
