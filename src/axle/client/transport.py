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
  the host, closes it once). Watch requests (`?watch=...`) and the rest go to separate pools:
  httpcore walks a pool's connections on every request and asks each idle one whether the
  server closed it (a socket call), and it counts busy connections against the keep-alive
  limit, so idle connections next to a thousand long-lived watch streams would either make
  every request slow or be closed after each request. A request pool holds only short-lived
  requests and keeps up to half as many idle connections as it has borrowers; a watch pool
  holds `WATCH_SHARD` borrowers' streams, and is asked for a connection only when a watch
  starts again.

Connection pools belong to the event loop that used them, so a `TransportPool` must be used
and closed within one loop (a host process has one).
"""

from __future__ import annotations

import functools
import ssl

import certifi
import httpx

# Borrowers per request pool, and the idle connections it keeps for their next requests
# (a heartbeat every 20 s each, bursts while Works apply).
REQUEST_SHARD = 32
REQUEST_KEEPALIVE = 16
# Borrowers per watch pool: one long-lived stream each.
WATCH_SHARD = 128
# Longer than httpx's 5 s, so a borrower's heartbeat every 20 s may find a connection open.
KEEPALIVE_SECONDS = 60.0


@functools.lru_cache(maxsize=16)
def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """The process's context trusting `ca_file` (None: certifi's bundle, as httpx uses).

    Cached by path: a hub's CA file does not change under a running process.
    """
    return ssl.create_default_context(cafile=ca_file or certifi.where())


class SharedTransport(httpx.AsyncBaseTransport):
    """A transport lent to one client: requests go to shared pools (watches to their own),
    `aclose` is a no-op."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, watches: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._inner = inner
        self._watches = watches or inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.params.get("watch") not in (None, "", "0", "false"):
            return await self._watches.handle_async_request(request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """The borrower is done; the pools stay open for the others (their owner closes them)."""


class _Shards:
    """Pools of one kind for one CA file: a new pool every `size` borrowers."""

    def __init__(self, ca_file: str | None, size: int, keepalive: int) -> None:
        self.ca_file, self.size, self.keepalive = ca_file, size, keepalive
        self.pools: list[httpx.AsyncHTTPTransport] = []
        self.lent = 0

    def lend(self) -> httpx.AsyncHTTPTransport:
        if not self.pools or self.lent >= self.size:
            limits = httpx.Limits(
                max_connections=None,
                max_keepalive_connections=self.keepalive,
                keepalive_expiry=KEEPALIVE_SECONDS,
            )
            self.pools.append(
                httpx.AsyncHTTPTransport(verify=tls_context(self.ca_file), limits=limits)
            )
            self.lent = 0
        self.lent += 1
        return self.pools[-1]


class TransportPool:
    """Connection pools for many clients of one process; see the module docstring."""

    def __init__(self, request_shard: int = REQUEST_SHARD, watch_shard: int = WATCH_SHARD) -> None:
        self.request_shard, self.watch_shard = request_shard, watch_shard
        self._shards: dict[str | None, tuple[_Shards, _Shards]] = {}

    def lend(self, ca_file: str | None = None) -> SharedTransport:
        """A transport for one client trusting `ca_file` (None: the default bundle)."""
        found = self._shards.get(ca_file)
        if found is None:
            found = (
                _Shards(ca_file, self.request_shard, REQUEST_KEEPALIVE),
                # Busy streams count against the limit (see the module docstring): a watch
                # that starts again should find the connection its last one left.
                _Shards(ca_file, self.watch_shard, self.watch_shard),
            )
            self._shards[ca_file] = found
        requests, watches = found
        return SharedTransport(requests.lend(), watches.lend())

    @property
    def pools(self) -> int:
        return sum(len(r.pools) + len(w.pools) for r, w in self._shards.values())

    async def aclose(self) -> None:
        """Close every pool (after the clients using them are done)."""
        shards, self._shards = self._shards, {}
        for kinds in shards.values():
            for kind in kinds:
                for pool in kind.pools:
                    await pool.aclose()
