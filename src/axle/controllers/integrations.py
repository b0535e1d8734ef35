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
Settings that depend on it. Reaching Palette is a later issue's job.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

from axle.api.meta import set_condition
from axle.api.registry import KindInfo
from axle.controllers.controller import Mapper, Reconciler
from axle.controllers.informer import NAMESPACE_INDEX, IndexFunc
from axle.controllers.objects import is_deleting, key_of, labels, make_key, write_status
from axle.controllers.tenancy import TENANT_LABEL, project_tenant, status_copy, tenant_namespace
from axle.store.base import Obj

INTEGRATIONS = ("palette", "huggingFace", "ngc")
# The Secret key each integration reads when secretRef.key is absent (as api/settings defaults).
DEFAULT_SECRET_KEYS = {"palette": "palette", "huggingFace": "token", "ngc": "apiKey"}
PALETTE_FIELDS = ("apiKey", "hostUrl", "tenant", "defaultProjectID")
SECRET_INDEX = "secret"
SOURCE_INDEX = "source"


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
            (k.project, lambda p: self._settings(NAMESPACE_INDEX, p["metadata"]["namespace"])),
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
        problems = [p for integ, value in effective.items() if (p := self._check(integ, value))]
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
        if blocking:
            set_condition(conds, "Ready", "False", *blocking, gen)
        else:
            set_condition(
                conds, "Ready", "True", "Ready", "all referenced Secrets hold their keys", gen
            )
        await write_status(self.store, self.kind, settings, status)
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
