"""PaletteCredentials and provider_from_secret_data: every way a Secret can be wrong is named."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from axle.providers.base import InvalidConfiguration, ProviderError
from axle.providers.palette import (
    PaletteClient,
    PaletteCredentials,
    credentials_from_secret_data,
    provider_from_secret_data,
)

GOOD = {
    "apiKey": "secret-key",
    "hostUrl": "https://api.spectrocloud.com",
    "tenant": "acme",
    "defaultProjectID": "p-1",
}


def secret_data(value: Any, key: str = "palette") -> dict[str, str]:
    text = value if isinstance(value, str) else json.dumps(value)
    return {key: base64.b64encode(text.encode()).decode()}


def test_good_credentials_parse_and_hide_the_key() -> None:
    creds = PaletteCredentials.from_json(json.dumps(GOOD))
    assert creds.api_key == "secret-key"
    assert creds.hostUrl == "https://api.spectrocloud.com"
    assert "secret-key" not in repr(creds)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("palette.example.com", "https://palette.example.com"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("https://p.example.com/v1/", "https://p.example.com"),
        ("https://p.example.com/palette", "https://p.example.com/palette"),
    ],
)
def test_host_url_is_normalized(given: str, expected: str) -> None:
    assert PaletteCredentials.from_mapping({**GOOD, "hostUrl": given}).hostUrl == expected


def test_missing_fields_are_all_named() -> None:
    with pytest.raises(InvalidConfiguration) as info:
        PaletteCredentials.from_mapping({"hostUrl": "https://x"})
    err = info.value
    assert err.reason == "InvalidConfiguration"
    for name in ("apiKey", "tenant", "defaultProjectID"):
        assert name in err.message
        assert f"palette.{name}" in err.fields
    assert "missing" in err.message


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("hostUrl", "ftp://x.example.com", "http or https"),
        ("hostUrl", "", "must not be empty"),
        ("apiKey", "   ", "must not be empty"),
        ("tenant", "", "must not be empty"),
        ("defaultProjectID", 12, "valid string"),
    ],
)
def test_invalid_fields_are_named(field: str, value: Any, words: str) -> None:
    with pytest.raises(InvalidConfiguration) as info:
        PaletteCredentials.from_mapping({**GOOD, field: value})
    assert f"palette.{field}" in info.value.fields
    assert field in info.value.message and words in info.value.message


def test_not_json_and_not_object() -> None:
    with pytest.raises(InvalidConfiguration, match="not a JSON document"):
        PaletteCredentials.from_json("{apiKey: x")
    with pytest.raises(InvalidConfiguration, match="expected a JSON object"):
        PaletteCredentials.from_json("[1, 2]")


def test_secret_data_missing_key_names_it_and_the_keys_present() -> None:
    with pytest.raises(InvalidConfiguration) as info:
        credentials_from_secret_data({"other": "eA=="})
    assert "'palette'" in info.value.message and "other" in info.value.message
    assert info.value.fields == ("palette",)
    assert isinstance(info.value, ProviderError)


def test_secret_data_bad_base64() -> None:
    with pytest.raises(InvalidConfiguration, match="not valid base64"):
        credentials_from_secret_data({"palette": "!!!not base64!!!"})


def test_secret_data_custom_key_prefixes_field_names() -> None:
    with pytest.raises(InvalidConfiguration) as info:
        credentials_from_secret_data(secret_data({"apiKey": "k"}, key="pal"), key="pal")
    assert "pal.hostUrl" in info.value.fields


async def test_provider_from_secret_data_builds_a_client() -> None:
    client = provider_from_secret_data(secret_data(GOOD), timeout=3.0)
    try:
        assert isinstance(client, PaletteClient)
        assert client.creds.tenant == "acme"
        assert client.name == "palette"
    finally:
        await client.close()


def test_provider_from_secret_data_none_data() -> None:
    with pytest.raises(InvalidConfiguration, match="keys present: none"):
        provider_from_secret_data(None)
