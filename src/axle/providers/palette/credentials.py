"""Palette credentials: the JSON document a Settings' Secret holds under its `palette` key.

PaletteAI stores one JSON value `{"apiKey", "hostUrl", "tenant", "defaultProjectID"}` (all
required) in a Secret beside the Settings. This module parses and validates that document and
the Secret's base64 `data` around it, and says exactly which key or field is missing or bad
(`InvalidConfiguration.fields`), so the Settings condition can point the user at it. The API
key is kept as a `SecretStr` so it never shows up in a repr, a log line or an exception.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from axle.providers.base import InvalidConfiguration

DEFAULT_SECRET_KEY = "palette"
REQUIRED_FIELDS = ("apiKey", "hostUrl", "tenant", "defaultProjectID")


class PaletteCredentials(BaseModel):
    """What a client needs to talk to one Palette project.

    `hostUrl` is the API root (`https://api.spectrocloud.com`); a bare host name is taken as
    HTTPS, and a trailing `/` or `/v1` is dropped because every request path starts with `/v1`.
    Unknown fields are ignored: the Secret is user-written and other tools may add to it.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    apiKey: SecretStr
    hostUrl: str
    tenant: str
    defaultProjectID: str

    @field_validator("apiKey")
    @classmethod
    def _key_not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("tenant", "defaultProjectID")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("hostUrl")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        url = value if "://" in value else f"https://{value}"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"must be an http or https URL, got scheme {parts.scheme!r}")
        if not parts.hostname:
            raise ValueError(f"has no host name: {value!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"must not carry a query or fragment: {value!r}")
        path = parts.path.rstrip("/")
        if path.endswith("/v1"):
            path = path[: -len("/v1")]
        return f"{parts.scheme}://{parts.netloc}{path}"

    @property
    def api_key(self) -> str:
        return self.apiKey.get_secret_value()

    @classmethod
    def from_json(
        cls, text: str | bytes, *, source: str = DEFAULT_SECRET_KEY
    ) -> PaletteCredentials:
        """Parse the JSON document; `source` prefixes field names in errors (`palette.tenant`)."""
        try:
            raw: Any = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidConfiguration(
                f"{source}: not a JSON document ({exc}); expected an object with "
                + ", ".join(REQUIRED_FIELDS),
                fields=(source,),
            ) from None
        if not isinstance(raw, dict):
            raise InvalidConfiguration(
                f"{source}: expected a JSON object with {', '.join(REQUIRED_FIELDS)}, "
                f"got {type(raw).__name__}",
                fields=(source,),
            )
        return cls.from_mapping(raw, source=source)

    @classmethod
    def from_mapping(
        cls, raw: Mapping[str, Any], *, source: str = DEFAULT_SECRET_KEY
    ) -> PaletteCredentials:
        """Validate an already-decoded object; every problem is reported at once."""
        try:
            return cls.model_validate(dict(raw))
        except ValidationError as exc:
            missing: list[str] = []
            invalid: list[str] = []
            for err in exc.errors():
                name = ".".join(str(p) for p in err["loc"])
                if err["type"] == "missing":
                    missing.append(name)
                else:
                    invalid.append(f"{name} {_reason(err['msg'])}")
            parts = []
            if missing:
                parts.append("missing field(s) " + ", ".join(missing))
            if invalid:
                parts.append("invalid " + "; ".join(invalid))
            names = tuple(
                f"{source}.{'.'.join(str(p) for p in err['loc'])}" for err in exc.errors()
            )
            raise InvalidConfiguration(f"{source}: " + "; ".join(parts), fields=names) from None


def _reason(msg: str) -> str:
    # pydantic prefixes validator messages with "Value error, "; the rest is ours.
    return msg.removeprefix("Value error, ")


def credentials_from_secret_data(
    data: Mapping[str, str], key: str = DEFAULT_SECRET_KEY
) -> PaletteCredentials:
    """Decode a Secret's `data` (base64 values, as stored) and parse its `key` entry."""
    if key not in data:
        present = ", ".join(sorted(data)) or "none"
        raise InvalidConfiguration(
            f"Secret has no key {key!r} (keys present: {present}); it must hold the Palette "
            f"JSON ({', '.join(REQUIRED_FIELDS)})",
            fields=(key,),
        )
    value = data[key]
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidConfiguration(
            f"Secret key {key!r} is not valid base64", fields=(key,)
        ) from None
    return PaletteCredentials.from_json(decoded, source=key)
