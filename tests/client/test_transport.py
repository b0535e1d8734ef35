"""Shared TLS contexts and connection pools: one context per CA file, one request pool per CA
file, watch pools lent in shards."""

from __future__ import annotations

import json

import httpx

from axle.client import Client, Resource, SharedTransport, TransportPool, tls_context
from axle.client.keepalive import KeepAlivePool
from axle.client.transport import lean_pool


def test_tls_context_is_one_per_ca_file() -> None:
    assert tls_context(None) is tls_context(None)


async def test_pool_lends_shards_and_survives_borrowers_closing() -> None:
    pool = TransportPool(watch_shard=4)
    lent = [pool.lend() for _ in range(5)]
    assert all(isinstance(t, SharedTransport) for t in lent)
    assert pool.pools == 1 + 2  # requests: one keep-alive pool; watches: 4 + 1 borrowers
    assert all(isinstance(t.requests, KeepAlivePool) for t in lent)
    assert len({id(t.requests) for t in lent}) == 1
    assert lean_pool(lent[0]) is lent[0].requests
    assert lent[0]._watches is lent[3]._watches and lent[3]._watches is not lent[4]._watches

    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx.Response(200, json={"gitVersion": "v1"})

    # A borrower closing its client must leave the shared pool usable for the others.
    streams: list[str] = []

    def stream(request: httpx.Request) -> httpx.Response:
        streams.append(request.url.path)
        event = {"type": "ADDED", "object": {"metadata": {"name": "x", "resourceVersion": "2"}}}
        return httpx.Response(200, content=json.dumps(event).encode() + b"\n")

    shared = SharedTransport(httpx.MockTransport(answer), httpx.MockTransport(stream))
    first = Client("http://hub", "one", transport=shared)
    second = Client("http://hub", "two", transport=shared)
    await first.aclose()
    assert (await second.version())["gitVersion"] == "v1"
    assert seen == ["Bearer two"]
    # Watches go to their own pool.
    tenants = Resource("axle.dev", "v1alpha1", "Tenant", "tenants", "tenant", False)
    async for event in second.watch(tenants, resource_version="1"):
        assert event["object"]["metadata"]["name"] == "x"
        break
    assert streams and seen == ["Bearer two"]
    await second.aclose()
    await pool.aclose()
    assert pool.pools == 0
