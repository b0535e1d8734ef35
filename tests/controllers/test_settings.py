"""Settings reconciler: tenant/project merge per integration and Secret checks."""

from __future__ import annotations

import base64
import json
from typing import Any

from axle.api.meta import get_condition
from axle.controllers.manager import ControllerManager
from axle.controllers.objects import get_or_none
from axle.store.base import Obj, Store
from tests.controllers.helpers import eventually
from tests.controllers.test_tenant import K, project, tenant

PALETTE = {"apiKey": "k", "hostUrl": "http://p", "tenant": "acme", "defaultProjectID": "d"}


def secret(ns: str, name: str, **data: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def settings(ns: str, name: str, **integrations: str) -> Obj:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Settings",
        "metadata": {"name": name, "namespace": ns},
        "spec": {k: {"secretRef": {"name": v}} for k, v in integrations.items()},
    }


async def status_of(store: Store, ns: str, name: str) -> dict[str, Any]:
    obj = await get_or_none(store, K.settings, ns, name)
    return dict((obj or {}).get("status") or {})


async def condition(store: Store, ns: str, name: str, type_: str) -> dict[str, Any]:
    obj = await get_or_none(store, K.settings, ns, name)
    return get_condition(obj or {}, type_) or {}


async def quickstart(store: Store) -> None:
    """The shape of examples/quickstart: shared tenant settings, one project overriding HF."""
    await store.create(
        K.namespace, {"metadata": {"name": "acme-shared", "labels": {"axle.dev/tenant": "acme"}}}
    )
    await store.create(
        K.secret, secret("acme-shared", "palette-credentials", palette=json.dumps(PALETTE))
    )
    await store.create(
        K.settings, settings("acme-shared", "acme-palette", palette="palette-credentials")
    )
    await store.create(
        K.tenant,
        tenant("acme", [], settingsRef={"name": "acme-palette", "namespace": "acme-shared"}),
    )
    await store.create(
        K.project, project("ml-prod", "acme", settingsRef={"name": "ml-prod-settings"})
    )
    await store.create(K.secret, secret("ml-prod", "huggingface-token", token="hf_x"))
    await store.create(
        K.settings, settings("ml-prod", "ml-prod-settings", huggingFace="huggingface-token")
    )


async def test_project_settings_merge_with_the_tenants(
    store: Store, manager: ControllerManager
) -> None:
    await quickstart(store)

    async def merged() -> dict[str, Any] | None:
        eff = (await status_of(store, "ml-prod", "ml-prod-settings")).get("effectiveSettings")
        return eff if eff and "palette" in eff and "huggingFace" in eff else None

    eff = await eventually(merged, what="merged effective settings")
    assert eff["palette"] == {
        "source": {"namespace": "acme-shared", "name": "acme-palette"},
        "secretRef": {"name": "palette-credentials", "namespace": "acme-shared", "key": "palette"},
    }
    assert eff["huggingFace"]["source"] == {"namespace": "ml-prod", "name": "ml-prod-settings"}
    assert eff["huggingFace"]["secretRef"]["key"] == "token"
    assert "ngc" not in eff
    ready = await eventually(lambda: _true(store, "ml-prod", "ml-prod-settings", "Ready"))
    assert ready["status"] == "True"
    tenant_eff = (await status_of(store, "acme-shared", "acme-palette"))["effectiveSettings"]
    assert list(tenant_eff) == ["palette"]

    # The project overrides Palette too: the project wins for that integration.
    await store.create(K.secret, secret("ml-prod", "own-palette", palette=json.dumps(PALETTE)))
    s = await store.get(K.settings, "ml-prod", "ml-prod-settings")
    s["spec"]["palette"] = {"secretRef": {"name": "own-palette"}}
    await store.update(K.settings, s)

    async def overridden() -> bool:
        eff = (await status_of(store, "ml-prod", "ml-prod-settings")).get("effectiveSettings") or {}
        return bool((eff.get("palette") or {}).get("source", {}).get("namespace") == "ml-prod")

    await eventually(overridden, what="project palette wins")

    # Tenant-level integration added later flows into the project's effective settings.
    await store.create(K.secret, secret("acme-shared", "ngc", apiKey="nvapi-x"))
    t = await store.get(K.settings, "acme-shared", "acme-palette")
    t["spec"]["ngc"] = {"secretRef": {"name": "ngc"}}
    await store.update(K.settings, t)

    async def inherited_ngc() -> bool:
        eff = (await status_of(store, "ml-prod", "ml-prod-settings")).get("effectiveSettings") or {}
        return bool((eff.get("ngc") or {}).get("source", {}).get("name") == "acme-palette")

    await eventually(inherited_ngc, what="tenant ngc inherited")


async def _true(store: Store, ns: str, name: str, type_: str) -> dict[str, Any] | None:
    cond = await condition(store, ns, name, type_)
    return cond if cond.get("status") == "True" else None


async def _reason(store: Store, ns: str, name: str, reason: str) -> dict[str, Any] | None:
    cond = await condition(store, ns, name, "SecretsResolved")
    return cond if cond.get("reason") == reason else None


async def test_missing_secrets_and_keys_are_named(store: Store, manager: ControllerManager) -> None:
    await store.create(
        K.namespace, {"metadata": {"name": "team", "labels": {"axle.dev/tenant": "t"}}}
    )
    await store.create(K.settings, settings("team", "s", palette="creds", ngc="ngc-key"))
    cond = await eventually(lambda: _reason(store, "team", "s", "SecretNotFound"))
    assert cond["status"] == "False"
    assert "palette: Secret team/creds not found" in cond["message"]
    assert "ngc: Secret team/ngc-key not found" in cond["message"]
    ready = await condition(store, "team", "s", "Ready")
    assert ready["status"] == "False"

    # The Secret appears, but with the wrong key: re-reconciled by the Secret watch.
    await store.create(K.secret, secret("team", "ngc-key", token="x"))
    await store.create(K.secret, secret("team", "creds", other="x"))

    async def both_keys_missing() -> dict[str, Any] | None:
        cond = await condition(store, "team", "s", "SecretsResolved")
        msg = str(cond.get("message", ""))
        return cond if "has no key 'palette'" in msg and "has no key 'apiKey'" in msg else None

    cond = await eventually(both_keys_missing)
    assert cond["reason"] == "SecretKeyMissing"

    # Palette JSON lacking fields: the missing fields are named.
    partial = {"apiKey": "k", "defaultProjectID": "d"}
    creds = await store.get(K.secret, "team", "creds")
    creds["data"] = {"palette": base64.b64encode(json.dumps(partial).encode()).decode()}
    await store.update(K.secret, creds)

    async def fields_named() -> dict[str, Any] | None:
        cond = await condition(store, "team", "s", "SecretsResolved")
        return cond if "lacks hostUrl, tenant" in str(cond.get("message")) else None

    await eventually(fields_named)

    creds = await store.get(K.secret, "team", "creds")
    creds["data"] = {"palette": base64.b64encode(json.dumps(PALETTE).encode()).decode()}
    await store.update(K.secret, creds)
    ngc = await store.get(K.secret, "team", "ngc-key")
    ngc["data"] = {"apiKey": base64.b64encode(b"nvapi").decode()}
    await store.update(K.secret, ngc)
    await eventually(lambda: _true(store, "team", "s", "Ready"), what="all resolved")


async def test_missing_tenant_settings_is_reported(
    store: Store, manager: ControllerManager
) -> None:
    await store.create(K.tenant, tenant("acme", [], settingsRef={"name": "gone", "namespace": "x"}))
    await store.create(K.project, project("team", "acme"))
    await store.create(K.secret, secret("team", "hf", token="t"))
    await store.create(K.settings, settings("team", "s", huggingFace="hf"))

    async def reported() -> dict[str, Any] | None:
        cond = await condition(store, "team", "s", "Ready")
        return cond if cond.get("reason") == "TenantSettingsNotFound" else None

    cond = await eventually(reported)
    assert "x/gone" in cond["message"]
