"""Providers built from Secrets, for the controllers that talk to Palette (Settings, Compute).

A Settings' Palette integration is a Secret key holding a JSON document; a controller turns it
into a `Provider` with `provider_from_secret_data`. Two things are shared here so the Settings
and Compute reconcilers agree on them:

- `secret_data(secret)`: the Secret's `data` as stored (base64 values), with any `stringData`
  folded in the way the API server folds it, since the client factory decodes `data` itself;
- `ProviderCache`: one client per Secret, rebuilt (and the old one closed) when the Secret's
  `resourceVersion` or the key changes, so every Compute of a project shares one connection
  pool and a rotated API key takes effect on the next sync, never mixing old and new keys.

`palette_summary(secret, key)` reads `hostUrl` and `tenant` from the document for condition
messages ("Palette https://... tenant acme"); the API key is never read for messages.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from axle.controllers.objects import key_of
from axle.providers.base import Provider
from axle.providers.palette import provider_from_secret_data
from axle.store.base import Obj

# (Secret data as stored, key) -> Provider; raises ProviderError (InvalidConfiguration).
ProviderFactory = Callable[[Mapping[str, str], str], Provider]


def palette_provider(data: Mapping[str, str], key: str) -> Provider:
    """The real Palette client, with its default retries (429, 5xx, timeouts)."""
    return provider_from_secret_data(data, key)


def palette_check_provider(data: Mapping[str, str], key: str) -> Provider:
    """A Palette client for one reachability check: a single attempt, as the Settings
    reconciler schedules its own re-checks (with backoff) instead of sleeping in retries."""
    return provider_from_secret_data(data, key, max_retries=0)


def secret_data(secret: Obj) -> dict[str, str]:
    """`data` (base64) with `stringData` encoded over it, as the API server would store it."""
    out = {str(k): str(v) for k, v in (secret.get("data") or {}).items()}
    for k, v in (secret.get("stringData") or {}).items():
        out[str(k)] = base64.b64encode(str(v).encode()).decode()
    return out


def palette_summary(secret: Obj, key: str) -> str:
    """`https://palette.example.com (tenant acme)` from the Secret's Palette JSON, or ''."""
    raw = secret_data(secret).get(key)
    if raw is None:
        return ""
    try:
        doc: Any = json.loads(base64.b64decode(raw))
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(doc, dict):
        return ""
    host = str(doc.get("hostUrl") or "").strip()
    tenant = str(doc.get("tenant") or "").strip()
    if host and tenant:
        return f"{host} (tenant {tenant})"
    return host


@dataclass
class _Entry:
    version: tuple[str, str, str]  # (uid, resourceVersion, key)
    provider: Provider


class ProviderCache:
    """One provider per Secret (`namespace/name`), rebuilt when the Secret changes."""

    def __init__(self, factory: ProviderFactory) -> None:
        self.factory = factory
        self._entries: dict[str, _Entry] = {}

    def __contains__(self, secret_key: str) -> bool:
        return secret_key in self._entries

    async def get(self, secret: Obj, key: str) -> Provider:
        """The provider for `key` of `secret`; raises what the factory raises."""
        skey = key_of(secret)
        meta = secret.get("metadata") or {}
        version = (str(meta.get("uid") or ""), str(meta.get("resourceVersion") or ""), key)
        entry = self._entries.get(skey)
        if entry is not None and entry.version == version:
            return entry.provider
        if entry is not None:
            del self._entries[skey]
            await entry.provider.close()
        provider = self.factory(secret_data(secret), key)
        self._entries[skey] = _Entry(version, provider)
        return provider

    async def retain(self, secret_keys: Iterable[str]) -> None:
        """Close the providers of every Secret not in `secret_keys` (nobody uses them now)."""
        keep = set(secret_keys)
        for skey in [k for k in self._entries if k not in keep]:
            await self._entries.pop(skey).provider.close()

    async def aclose(self) -> None:
        await self.retain(())
