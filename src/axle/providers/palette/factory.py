"""Build a `PaletteClient` from a Settings' Secret: the one entry point controllers use.

Controllers hold Secrets as stored (base64 `data`); decoding and validating here keeps that
knowledge out of every controller and gives one error (`InvalidConfiguration`, naming the
key or JSON field) for every way the Secret can be wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from axle.providers.palette.client import PaletteClient
from axle.providers.palette.credentials import DEFAULT_SECRET_KEY, credentials_from_secret_data


def provider_from_secret_data(
    data: Mapping[str, str] | None, key: str = DEFAULT_SECRET_KEY, **client_options: Any
) -> PaletteClient:
    """A client for the Palette JSON under `key` in a Secret's `data`.

    `client_options` go to `PaletteClient` (timeout, max_retries, transport, ...). Raises
    `InvalidConfiguration` when the key is missing, not base64, not JSON, or lacks a field.
    """
    creds = credentials_from_secret_data(data or {}, key)
    return PaletteClient(creds, **client_options)
