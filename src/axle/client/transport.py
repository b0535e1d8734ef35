"""TLS contexts and connection pools shared by many clients of one process.

Every `httpx.AsyncClient` built without a transport makes its own connection pool and its own
`ssl.SSLContext`, even for a plain-HTTP hub, and loading the CA bundle into a context costs
milliseconds of CPU and hundreds of KiB. A spoke-agent host runs a thousand agents, each with
a `Client` (and a join client before it): two contexts per agent were most of its memory and,
while 500 agents joined, 38 % of its CPU. So:

- `tls_context(ca_file)` is one context per CA file (or the certifi bundle) per process. A
  context is only read once built, and safe to share between connections and threads.
- `TransportPool` lends `SharedTransport`s: clients created from one pool share its
  connection pools, and `Client.aclose` on a lent transport leaves the pool open (its owner,
  the host, closes it once). Pools are sharded, `SHARD_SIZE` borrowers to a pool: httpcore
  walks a pool's whole connection list on every request (and its idle check is quadratic), and
  each agent holds one long-lived watch connection, so one pool for a thousand agents would
  make every request cost what the fleet holds. Small pools (8 borrowers) keep that walk
  short; sharing within them still saves the connection setups of idle borrowers.

Connection pools belong to the event loop that used them, so a `TransportPool` must be used
and closed within one loop (a host process has one).
"""

from __future__ import annotations

import functools
import ssl

import certifi
import httpx

# Borrowers per connection pool (see the module docstring).
SHARD_SIZE = 8
# httpcore closes an idle connection whenever the pool holds more connections in all (busy
# ones too, such as the borrowers' watch streams) than this: below the number of watches,
# every request would end by closing its connection and the next would connect anew. So it
# is the watches plus room for the borrowers' concurrent short requests.
KEEPALIVE = 3 * SHARD_SIZE
# Longer than httpx's 5 s, so a borrower's heartbeat every 20 s finds a connection open.
KEEPALIVE_SECONDS = 60.0


@functools.lru_cache(maxsize=16)
def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """The process's context trusting `ca_file` (None: certifi's bundle, as httpx uses).

    Cached by path: a hub's CA file does not change under a running process.
    """
    return ssl.create_default_context(cafile=ca_file or certifi.where())


class SharedTransport(httpx.AsyncBaseTransport):
    """A transport lent to one client: requests go to a shared pool, `aclose` is a no-op."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """The borrower is done; the pool stays open for the others (its owner closes it)."""


class TransportPool:
    """Connection pools for many clients of one process; see the module docstring."""

    def __init__(self, shard_size: int = SHARD_SIZE) -> None:
        self.shard_size = shard_size
        # ca_file -> (its pools, how many transports the newest pool has lent)
        self._shards: dict[str | None, tuple[list[httpx.AsyncHTTPTransport], int]] = {}

    def lend(self, ca_file: str | None = None) -> SharedTransport:
        """A transport for one client trusting `ca_file` (None: the default bundle)."""
        pools, lent = self._shards.get(ca_file, ([], 0))
        if not pools or lent >= self.shard_size:
            pools.append(
                httpx.AsyncHTTPTransport(
                    verify=tls_context(ca_file),
                    limits=httpx.Limits(
                        max_connections=None,
                        max_keepalive_connections=max(KEEPALIVE, 3 * self.shard_size),
                        keepalive_expiry=KEEPALIVE_SECONDS,
                    ),
                )
            )
            lent = 0
        self._shards[ca_file] = (pools, lent + 1)
        return SharedTransport(pools[-1])

    @property
    def pools(self) -> int:
        return sum(len(pools) for pools, _ in self._shards.values())

    async def aclose(self) -> None:
        """Close every pool (after the clients using them are done)."""
        shards, self._shards = self._shards, {}
        for pools, _ in shards.values():
            for pool in pools:
                await pool.aclose()
