"""The Settings reconciler: per-integration merge into `status.effectiveSettings`, Secret checks.

A Settings object lives in a tenant's shared namespace or in a project namespace. Its tenant
is found from its namespace: the `axle.dev/tenant` label (set by the Tenant and Project
reconcilers, and by users on shared namespaces such as the quickstart's `acme-shared`), or else
the tenant of a Project in that namespace. The tenant's Settings are the ones its
`spec.settingsRef` names. For each integration (palette, huggingFace, ngc) the effective value
is this object's own if it has one, else the tenant's, so the project wins per integration and
each integration merges independently (notes section 5). Every effective integration records
where it came from (`source: {namespace, name}`) and which Secret and key it reads.

Each referenced Secret is then checked: it must exist (`SecretNotFound`), hold the key
(`SecretKeyMissing`; defaults `palette`, `token`, `apiKey`), and for Palette the key must hold
a JSON object with `apiKey`, `hostUrl`, `tenant` and `defaultProjectID` (the missing fields
are named). Conditions: `SecretsResolved` and `Ready`. Indexes from Settings to the Secrets
and source Settings their last status used let a change to any of them re-run exactly the
Settings that depend on it.

`PaletteReachable` comes from a real call: a client is built from the effective Palette
Secret and asked `check_credentials()` (one attempt, no client-side retries: this reconciler's
own schedule is the retry). True, reason `Reachable`, names the host URL and tenant; False
carries the provider's reason (`InvalidCredentials`, `Unreachable`, `InvalidConfiguration`,
`RateLimited`, `ServerError`, `BadResponse`, `NotFound`) and what to do about it; while the
Secret itself is missing or malformed no call is made and the Secret problem's reason is
shown. The condition is absent when no Palette integration is in effect. It is checked again
when the Settings or the Secret change (a fingerprint of generation, Secret uid and
resourceVersion), every `check_seconds` (5 minutes), and after a transient failure sooner,
backing off from `retry_base` seconds (doubling, up to `check_seconds`, or the server's
`Retry-After`). Credentials or configuration Palette refused are not retried early: the fix
is a Secret change, which re-checks at once. Decision: those two make `Ready` False (the
integration cannot work as configured), while an unreachable or failing Palette does not (it
is an outage, not a property of this object; `PaletteReachable` shows it). The status without
the check is written first, so a slow Palette never delays `effectiveSettings`.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from axle.api.meta import set_condition
from axle.api.registry import KindInfo
from axle.controllers.controller import Context, Filtered, Mapper, Reconciler
from axle.controllers.informer import NAMESPACE_INDEX, IndexFunc
from axle.controllers.objects import is_deleting, key_of, labels, make_key, write_status
from axle.controllers.provider_cache import (
    ProviderFactory,
    palette_check_provider,
    palette_summary,
    secret_data,
)
from axle.controllers.tenancy import (
    TENANT_LABEL,
    project_changed,
    project_tenant,
    status_copy,
    tenant_namespace,
)
from axle.providers.base import InvalidConfiguration, InvalidCredentials, ProviderError, RateLimited
from axle.store.base import Obj

INTEGRATIONS = ("palette", "huggingFace", "ngc")
# The Secret key each integration reads when secretRef.key is absent (as api/settings defaults).
DEFAULT_SECRET_KEYS = {"palette": "palette", "huggingFace": "token", "ngc": "apiKey"}
PALETTE_FIELDS = ("apiKey", "hostUrl", "tenant", "defaultProjectID")
SECRET_INDEX = "secret"
SOURCE_INDEX = "source"
PALETTE_REACHABLE = "PaletteReachable"
# Palette refused what the Secret says: only a change of the Secret fixes it.
REFUSED_REASONS = frozenset({InvalidCredentials.reason, InvalidConfiguration.reason})
_HINTS = {
    "InvalidCredentials": "the API key was refused; put a valid apiKey in Secret {secret}",
    "InvalidConfiguration": "fix the Palette JSON in Secret {secret}",
    "Unreachable": "check hostUrl in Secret {secret} and that the hub can reach it",
    "RateLimited": "Palette is rate limiting; checking again later",
    "ServerError": "Palette failed to answer; checking again later",
    "BadResponse": "the answer is not Palette's API; is hostUrl the Palette API root?",
    "NotFound": "hostUrl answers, but not as the Palette API (404); check hostUrl",
}


@dataclass
class _Check:
    """The last reachability check of one Settings."""

    fingerprint: tuple[Any, ...]
    next_at: float
    failures: int = 0


def _effective(settings: Obj) -> dict[str, Any]:
    return dict((settings.get("status") or {}).get("effectiveSettings") or {})


def secret_keys(settings: Obj) -> list[str]:
    """`namespace/name` of every Secret this Settings reads (own spec and last effective)."""
    ns = settings["metadata"].get("namespace") or ""
    out = set()
    for integ in INTEGRATIONS:
        ref = ((settings.get("spec") or {}).get(integ) or {}).get("secretRef") or {}
        if ref.get("name"):
            out.add(make_key(ns, ref["name"]))
    for value in _effective(settings).values():
        ref = (value or {}).get("secretRef") or {}
        if ref.get("name"):
            out.add(make_key(ref.get("namespace") or ns, ref["name"]))
    return sorted(out)


def source_keys(settings: Obj) -> list[str]:
    """`namespace/name` of the other Settings this one's effective settings came from."""
    me = key_of(settings)
    out = set()
    for value in _effective(settings).values():
        src = (value or {}).get("source") or {}
        if src.get("name"):
            key = make_key(src.get("namespace"), src["name"])
            if key != me:
                out.add(key)
    return sorted(out)


def secret_value(secret: Obj, key: str) -> str | None:
    """A Secret key's value: `stringData` as is, `data` base64-decoded."""
    string_data = secret.get("stringData") or {}
    if key in string_data:
        return str(string_data[key])
    encoded = (secret.get("data") or {}).get(key)
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return str(encoded)


class SettingsReconciler(Reconciler):
    name = "settings"

    def __init__(
        self,
        ctx: Context,
        *,
        check_seconds: float = 300.0,
        retry_base: float = 5.0,
        provider_factory: ProviderFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(ctx)
        self.check_seconds = check_seconds
        self.retry_base = retry_base
        self.provider_factory = provider_factory or palette_check_provider
        self.clock = clock
        self._checks: dict[str, _Check] = {}

    @property
    def kind(self) -> KindInfo:
        return self.kinds.settings

    def indexes(self) -> Iterable[tuple[KindInfo, str, IndexFunc]]:
        return [
            (self.kinds.settings, SECRET_INDEX, secret_keys),
            (self.kinds.settings, SOURCE_INDEX, source_keys),
        ]

    def _settings(self, index: str, value: str) -> list[str]:
        return [key_of(s) for s in self.ctx.cache(self.kinds.settings).by_index(index, value)]

    def _settings_of_tenant(self, tenant: Obj) -> list[str]:
        name = tenant["metadata"]["name"]
        keys: set[str] = set()
        for ns in self.ctx.cache(self.kinds.namespace).list():
            if labels(ns).get(TENANT_LABEL) == name:
                keys.update(self._settings(NAMESPACE_INDEX, ns["metadata"]["name"]))
        for project in self.ctx.cache(self.kinds.project).list():
            if project_tenant(project) == name:
                keys.update(self._settings(NAMESPACE_INDEX, project["metadata"]["namespace"]))
        return sorted(keys)

    def _dependents(self, settings: Obj) -> list[str]:
        """Settings that inherit from this one: past users, and all of a tenant naming it."""
        key = key_of(settings)
        out = set(self._settings(SOURCE_INDEX, key))
        for tenant in self.ctx.cache(self.kinds.tenant).list():
            ref = (tenant.get("spec") or {}).get("settingsRef") or {}
            ns = ref.get("namespace") or tenant_namespace(tenant["metadata"]["name"])
            if ref.get("name") and make_key(ns, ref["name"]) == key:
                out.update(self._settings_of_tenant(tenant))
        out.discard(key)
        return sorted(out)

    def watches(self) -> Iterable[tuple[KindInfo, Mapper]]:
        k = self.kinds
        return [
            (k.secret, lambda s: self._settings(SECRET_INDEX, key_of(s))),
            (k.settings, self._dependents),
            (k.tenant, self._settings_of_tenant),
            (k.namespace, lambda ns: self._settings(NAMESPACE_INDEX, ns["metadata"]["name"])),
            (
                k.project,
                Filtered(
                    lambda p: self._settings(NAMESPACE_INDEX, p["metadata"]["namespace"]),
                    project_changed,
                ),
            ),
        ]

    def _tenant_of(self, namespace: str) -> str | None:
        ns = self.ctx.cache(self.kinds.namespace).get(namespace)
        if ns is not None and labels(ns).get(TENANT_LABEL):
            return labels(ns)[TENANT_LABEL]
        for project in self.ctx.cache(self.kinds.project).list(namespace):
            if project_tenant(project):
                return project_tenant(project)
        return None

    def _tenant_settings(self, settings: Obj) -> tuple[Obj | None, tuple[str, str] | None]:
        """The tenant's Settings this one inherits from (None for the tenant's own), or why not."""
        ns = settings["metadata"]["namespace"]
        tenant_name = self._tenant_of(ns)
        if not tenant_name:
            return None, None
        tenant = self.ctx.cache(self.kinds.tenant).get(tenant_name)
        ref = ((tenant or {}).get("spec") or {}).get("settingsRef") or {}
        if tenant is None or not ref.get("name"):
            return None, None
        ref_ns = ref.get("namespace") or tenant_namespace(tenant_name)
        key = make_key(ref_ns, ref["name"])
        if key == key_of(settings):
            return None, None
        base = self.ctx.cache(self.kinds.settings).get(key)
        if base is None:
            return None, (
                "TenantSettingsNotFound",
                f"tenant {tenant_name}'s Settings {key} (spec.settingsRef) not found",
            )
        return base, None

    async def reconcile(self, key: str) -> float | None:
        settings = self.cached(key)
        if settings is None or is_deleting(settings):
            self._checks.pop(key, None)
            return None
        gen = settings["metadata"].get("generation")
        base, base_problem = self._tenant_settings(settings)
        effective: dict[str, Any] = {}
        for integ in INTEGRATIONS:
            for source in (settings, base):
                spec = ((source or {}).get("spec") or {}).get(integ)
                if source is not None and spec:
                    src_ns = source["metadata"]["namespace"]
                    ref = spec.get("secretRef") or {}
                    effective[integ] = {
                        "source": {"namespace": src_ns, "name": source["metadata"]["name"]},
                        "secretRef": {
                            "name": ref.get("name"),
                            "namespace": src_ns,
                            "key": ref.get("key") or DEFAULT_SECRET_KEYS[integ],
                        },
                    }
                    break
        checked = {integ: self._check(integ, value) for integ, value in effective.items()}
        problems = [p for p in checked.values() if p]
        status = status_copy(settings)
        conds = status["conditions"]
        status["effectiveSettings"] = effective
        status["observedGeneration"] = gen
        secrets_problem = (problems[0][0], "; ".join(m for _, m in problems)) if problems else None
        if secrets_problem:
            set_condition(conds, "SecretsResolved", "False", *secrets_problem, gen)
        else:
            names = ", ".join(effective) or "none"
            set_condition(
                conds, "SecretsResolved", "True", "SecretsFound", f"integrations: {names}", gen
            )
        blocking = base_problem or secrets_problem

        palette = effective.get("palette")
        if palette is None:
            self._checks.pop(key, None)
            conds[:] = [c for c in conds if c.get("type") != PALETTE_REACHABLE]
        elif checked.get("palette"):
            # No call can be made with this Secret; its problem is the answer.
            self._checks.pop(key, None)
            reason, message = checked["palette"] or ("", "")
            set_condition(
                conds, PALETTE_REACHABLE, "False", reason, f"cannot call Palette: {message}", gen
            )
        else:
            ref = palette["secretRef"]
            secret = self.ctx.cache(self.kinds.secret).get(f"{ref['namespace']}/{ref['name']}")
            assert secret is not None  # _check found it
            smeta = secret.get("metadata") or {}
            fingerprint = (gen, key_of(secret), smeta.get("uid"), smeta.get("resourceVersion"))
            check = self._checks.get(key)
            now = self.clock()
            if check is None or check.fingerprint != fingerprint or now >= check.next_at:
                # Write what is known now, so a slow Palette never delays the rest.
                self._set_ready(conds, blocking, gen)
                settings = await write_status(self.store, self.kind, settings, status)
                status = status_copy(settings)
                conds = status["conditions"]
                failures = (
                    0 if check is None or check.fingerprint != fingerprint else check.failures
                )
                delay = await self._check_palette(conds, gen, secret, ref, failures)
                failures = 0 if delay is None else failures + 1
                next_in = self.check_seconds if delay is None else delay
                self._checks[key] = _Check(fingerprint, self.clock() + next_in, failures)
            self._set_ready(conds, blocking, gen)
            await write_status(self.store, self.kind, settings, status)
            return max(0.0, self._checks[key].next_at - self.clock())
        self._set_ready(conds, blocking, gen)
        await write_status(self.store, self.kind, settings, status)
        return None

    @staticmethod
    def _set_ready(
        conds: list[dict[str, Any]], blocking: tuple[str, str] | None, gen: int | None
    ) -> None:
        if blocking is None:
            palette = next((c for c in conds if c.get("type") == PALETTE_REACHABLE), None)
            if palette and palette["status"] == "False" and palette["reason"] in REFUSED_REASONS:
                blocking = (str(palette["reason"]), str(palette["message"]))
        if blocking:
            set_condition(conds, "Ready", "False", *blocking, gen)
        else:
            set_condition(
                conds, "Ready", "True", "Ready", "all referenced Secrets hold their keys", gen
            )

    async def _check_palette(
        self,
        conds: list[dict[str, Any]],
        gen: int | None,
        secret: Obj,
        ref: dict[str, Any],
        failures: int,
    ) -> float | None:
        """Call Palette and set `PaletteReachable`; the delay before the next try after a
        failure, None after a success (the regular interval)."""
        key = str(ref.get("key") or DEFAULT_SECRET_KEYS["palette"])
        where = palette_summary(secret, key) or "(no hostUrl)"
        secret_name = f"{ref['namespace']}/{ref['name']}"
        try:
            provider = self.provider_factory(secret_data(secret), key)
            try:
                await provider.check_credentials()
            finally:
                await provider.close()
        except ProviderError as exc:
            hint = _HINTS.get(exc.reason, "").format(secret=secret_name)
            message = f"Palette {where}: {exc.message}" + (f" ({hint})" if hint else "")
            set_condition(conds, PALETTE_REACHABLE, "False", exc.reason, message, gen)
            if exc.reason in REFUSED_REASONS:
                return self.check_seconds
            delay: float = min(self.check_seconds, self.retry_base * 2.0**failures)
            if isinstance(exc, RateLimited) and exc.retry_after:
                delay = max(delay, exc.retry_after)
            return delay
        set_condition(
            conds,
            PALETTE_REACHABLE,
            "True",
            "Reachable",
            f"Palette {where} accepted the API key",
            gen,
        )
        return None

    def _check(self, integ: str, value: dict[str, Any]) -> tuple[str, str] | None:
        ref = value["secretRef"]
        where = f"{ref['namespace']}/{ref['name']}"
        secret = self.ctx.cache(self.kinds.secret).get(where)
        if secret is None:
            return ("SecretNotFound", f"{integ}: Secret {where} not found")
        data = secret_value(secret, ref["key"])
        if data is None or not data.strip():
            return ("SecretKeyMissing", f"{integ}: Secret {where} has no key {ref['key']!r}")
        if integ != "palette":
            return None
        try:
            doc = json.loads(data)
        except ValueError as exc:
            return (
                "InvalidSecret",
                f"palette: Secret {where} key {ref['key']!r} is not JSON: {exc}",
            )
        if not isinstance(doc, dict):
            return (
                "InvalidSecret",
                f"palette: Secret {where} key {ref['key']!r} is not a JSON object",
            )
        missing = [f for f in PALETTE_FIELDS if not doc.get(f)]
        if missing:
            return (
                "SecretKeyMissing",
                f"palette: Secret {where} key {ref['key']!r} lacks {', '.join(missing)}",
            )
        return None
