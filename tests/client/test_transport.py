"""Shared TLS contexts and connection pools: one context per CA file, pools lent in shards."""

from __future__ import annotations

import httpx

from axle.client import Client, SharedTransport, TransportPool, tls_context


def test_tls_context_is_one_per_ca_file() -> None:
    assert tls_context(None) is tls_context(None)


async def test_pool_lends_shards_and_survives_borrowers_closing() -> None:
    pool = TransportPool(shard_size=2)
    lent = [pool.lend() for _ in range(5)]
    assert all(isinstance(t, SharedTransport) for t in lent)
    assert pool.pools == 3  # 2 + 2 + 1 borrowers
    assert lent[0]._inner is lent[1]._inner and lent[1]._inner is not lent[2]._inner

    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx.Response(200, json={"gitVersion": "v1"})

    # A borrower closing its client must leave the shared pool usable for the others.
    shared = SharedTransport(httpx.MockTransport(answer))
    first = Client("http://hub", "one", transport=shared)
    second = Client("http://hub", "two", transport=shared)
    await first.aclose()
    assert (await second.version())["gitVersion"] == "v1"
    assert seen == ["Bearer two"]
    await second.aclose()
    await pool.aclose()
    assert pool.pools == 0
