"""The error and retry rules of the session, over httpx.MockTransport with a fake sleep.

Covers the issue's must-show list at unit level: envelope -> ProviderError with the server's
message, 401/403 without retries, 404, 429 honouring Retry-After, 5xx and transport errors
with bounded jittered backoff, creates not retried after they may have been sent, BadResponse.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from axle.providers.base import (
    BadResponse,
    InvalidCredentials,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServerError,
    Unreachable,
)
from axle.providers.palette import (
    ClusterMetadata,
    ControlPlaneEndpoint,
    EdgeNativeClusterConfig,
    EdgeNativeClusterEntity,
    EdgeNativeClusterSpec,
    MachinePool,
    MachinePoolCloudConfig,
    MachinePoolHost,
    PoolConfig,
)
from axle.providers.palette.envelope import PaletteErrorBody, parse_error_body
from tests.providers.helpers import mock_client

ENVELOPE = {"code": "InvalidRequest", "message": "boom", "details": {}, "ref": "r-1"}


def sequence(*responses: httpx.Response | Exception) -> tuple[Callable[..., Any], list[Any]]:
    """A handler answering with `responses` in turn (the last one repeats)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = responses[min(len(seen) - 1, len(responses) - 1)]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def cluster_spec() -> EdgeNativeClusterEntity:
    return EdgeNativeClusterEntity(
        metadata=ClusterMetadata(name="c1"),
        spec=EdgeNativeClusterSpec(
            cloudConfig=EdgeNativeClusterConfig(
                controlPlaneEndpoint=ControlPlaneEndpoint(host="10.0.0.100", type="VIP")
            ),
            machinepoolconfig=[
                MachinePool(
                    cloudConfig=MachinePoolCloudConfig(edgeHosts=[MachinePoolHost(hostUid="h1")]),
                    poolConfig=PoolConfig(name="cp", size=1, isControlPlane=True),
                )
            ],
        ),
    )


# ---- envelope ------------------------------------------------------------------------


def test_envelope_parsing() -> None:
    body = parse_error_body(httpx.Response(400, json=ENVELOPE))
    assert body == PaletteErrorBody(code="InvalidRequest", message="boom", details={}, ref="r-1")
    assert body.describe() == "InvalidRequest: boom (ref r-1)"
    assert parse_error_body(httpx.Response(400, text="<html>")) is None
    assert parse_error_body(httpx.Response(400, json=["x"])) is None
    assert parse_error_body(httpx.Response(400, json={"code": 7})) == PaletteErrorBody(code="7")


async def test_4xx_envelope_becomes_invalid_request_with_the_server_message() -> None:
    handler, seen = sequence(httpx.Response(400, json=ENVELOPE))
    client, sleeps = mock_client(handler)
    async with client:
        with pytest.raises(InvalidRequest) as info:
            await client.get_cluster_status("c1")
    assert "boom" in info.value.message and "r-1" in info.value.message
    assert info.value.status == 400 and len(seen) == 1 and sleeps.delays == []


async def test_non_json_error_body_still_reads() -> None:
    handler, _ = sequence(httpx.Response(502, text="<html><h1>Bad Gateway</h1></html>"))
    client, _ = mock_client(handler, max_retries=0)
    async with client:
        with pytest.raises(ServerError, match="Bad Gateway"):
            await client.get_cluster_status("c1")


# ---- credentials ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_rejected_key_is_invalid_credentials_after_one_request(status: int) -> None:
    handler, seen = sequence(
        httpx.Response(status, json={"code": "Unauthorized", "message": "key invalid"})
    )
    client, sleeps = mock_client(handler)
    async with client:
        with pytest.raises(InvalidCredentials) as info:
            await client.check_credentials()
    assert len(seen) == 1 and sleeps.delays == []
    assert "https://palette.example.test" in info.value.message
    assert "API key" in info.value.message and "key invalid" in info.value.message
    assert info.value.reason == "InvalidCredentials" and info.value.status == status


async def test_404_is_not_found() -> None:
    handler, seen = sequence(httpx.Response(404, json={"code": "NotFound", "message": "no c9"}))
    client, _ = mock_client(handler)
    async with client:
        with pytest.raises(NotFound, match="no c9"):
            await client.get_host("c9")
    assert len(seen) == 1


# ---- 429 -----------------------------------------------------------------------------


async def test_429_waits_exactly_retry_after_then_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler, seen = sequence(
        httpx.Response(429, headers={"Retry-After": "3"}, json={"message": "slow down"}),
        httpx.Response(429, headers={"Retry-After": "1.5"}),
        httpx.Response(200, json={"status": {"state": "Running"}}),
    )
    client, sleeps = mock_client(handler)
    with caplog.at_level(logging.INFO, logger="axle.providers.palette"):
        async with client:
            assert await client.get_cluster_status("c1") == "Running"
    assert sleeps.delays == [3.0, 1.5]
    assert len(seen) == 3 and client.calls["clusters.status"] == 3
    assert sum("429" in r.getMessage() for r in caplog.records) == 2


async def test_429_http_date_retry_after() -> None:
    handler, _ = sequence(
        httpx.Response(429, headers={"Retry-After": "Fri, 02 Jan 2026 03:04:15 GMT"}),
        httpx.Response(200, json={"status": {"state": "Running"}}),
    )
    now = 1767323045.0  # 2026-01-02T03:04:05Z
    client, sleeps = mock_client(handler, clock=lambda: now)
    async with client:
        await client.get_cluster_status("c1")
    assert sleeps.delays == [pytest.approx(10.0)]


async def test_429_without_retry_after_backs_off() -> None:
    handler, _ = sequence(httpx.Response(429), httpx.Response(200, json={"status": {"state": "X"}}))
    client, sleeps = mock_client(handler, backoff_base=2.0)
    async with client:
        await client.get_cluster_status("c1")
    assert len(sleeps.delays) == 1 and 1.0 <= sleeps.delays[0] <= 2.0


async def test_429_exhausted_is_rate_limited_with_retry_after() -> None:
    handler, seen = sequence(httpx.Response(429, headers={"Retry-After": "2"}))
    client, sleeps = mock_client(handler, max_retries=3)
    async with client:
        with pytest.raises(RateLimited) as info:
            await client.list_hosts()
    assert len(seen) == 4 and sleeps.delays == [2.0, 2.0, 2.0]
    assert info.value.retry_after == 2.0 and info.value.status == 429


async def test_429_longer_than_backoff_max_is_surfaced_not_slept() -> None:
    handler, seen = sequence(httpx.Response(429, headers={"Retry-After": "600"}))
    client, sleeps = mock_client(handler, backoff_max=30.0)
    async with client:
        with pytest.raises(RateLimited) as info:
            await client.get_cluster_status("c1")
    assert len(seen) == 1 and sleeps.delays == [] and info.value.retry_after == 600.0


async def test_create_is_retried_on_429() -> None:
    handler, seen = sequence(
        httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(201, json={"uid": "c1"})
    )
    client, sleeps = mock_client(handler)
    async with client:
        assert await client.create_edge_native_cluster(cluster_spec()) == "c1"
    assert len(seen) == 2 and sleeps.delays == [1.0]


# ---- 5xx and transport errors --------------------------------------------------------


async def test_500_is_retried_with_bounded_backoff_then_server_error() -> None:
    handler, seen = sequence(httpx.Response(500, json={"code": "Internal", "message": "db down"}))
    client, sleeps = mock_client(handler, max_retries=4, backoff_base=0.5, backoff_max=1.5)
    async with client:
        with pytest.raises(ServerError) as info:
            await client.list_hosts()
    assert len(seen) == 5 and client.calls["edgehosts.search"] == 5
    ceilings = [0.5, 1.0, 1.5, 1.5]
    assert len(sleeps.delays) == 4
    assert all(c / 2 <= d <= c for d, c in zip(sleeps.delays, ceilings, strict=True))
    assert "db down" in info.value.message and "5 attempts" in info.value.message
    assert info.value.status == 500


async def test_503_then_success() -> None:
    handler, _ = sequence(httpx.Response(503), httpx.Response(200, json={"items": []}))
    client, sleeps = mock_client(handler)
    async with client:
        assert await client.list_hosts() == []
    assert len(sleeps.delays) == 1


async def test_create_is_not_retried_on_500() -> None:
    handler, seen = sequence(httpx.Response(500, json=ENVELOPE))
    client, sleeps = mock_client(handler)
    async with client:
        with pytest.raises(ServerError):
            await client.create_edge_native_cluster(cluster_spec())
    assert len(seen) == 1 and sleeps.delays == []


async def test_create_is_retried_when_the_connection_was_never_made() -> None:
    handler, seen = sequence(httpx.ConnectError("refused"), httpx.Response(201, json={"uid": "c7"}))
    client, sleeps = mock_client(handler)
    async with client:
        assert await client.create_edge_native_cluster(cluster_spec()) == "c7"
    assert len(seen) == 2 and len(sleeps.delays) == 1


async def test_create_is_not_retried_after_a_read_timeout() -> None:
    handler, seen = sequence(httpx.ReadTimeout("slow"))
    client, sleeps = mock_client(handler)
    async with client:
        with pytest.raises(Unreachable, match="timeout"):
            await client.create_edge_native_cluster(cluster_spec())
    assert len(seen) == 1 and sleeps.delays == []


async def test_read_timeout_on_a_read_is_retried_then_unreachable() -> None:
    handler, seen = sequence(httpx.ReadTimeout("slow"))
    client, sleeps = mock_client(handler, max_retries=2)
    async with client:
        with pytest.raises(Unreachable) as info:
            await client.get_host("h1")
    assert len(seen) == 3 and len(sleeps.delays) == 2
    assert "palette.example.test" in info.value.message and "3 attempts" in info.value.message


# ---- bodies --------------------------------------------------------------------------


async def test_non_json_success_body_is_bad_response() -> None:
    handler, _ = sequence(httpx.Response(200, text="<html>login</html>"))
    client, _ = mock_client(handler)
    async with client:
        with pytest.raises(BadResponse, match="expected JSON"):
            await client.check_credentials()


async def test_wrong_type_is_bad_response_naming_the_field() -> None:
    handler, _ = sequence(httpx.Response(201, json={"uid": ["x"]}))
    client, _ = mock_client(handler)
    async with client:
        with pytest.raises(BadResponse, match="uid"):
            await client.create_edge_native_cluster(cluster_spec())


async def test_503_retry_after_lengthens_the_backoff_within_bounds() -> None:
    handler, _ = sequence(
        httpx.Response(503, headers={"Retry-After": "5"}),
        httpx.Response(503, headers={"Retry-After": "500"}),
        httpx.Response(200, json={"items": []}),
    )
    client, sleeps = mock_client(handler, backoff_base=0.5, backoff_max=8.0)
    async with client:
        await client.list_hosts()
    assert sleeps.delays == [5.0, 8.0]
