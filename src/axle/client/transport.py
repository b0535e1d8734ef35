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
  the host, closes it once). Requests go to one `KeepAlivePool` per CA file (`keepalive.py`:
  it looks only at the idle connection it takes, so one pool serves every agent of the
  host), and a `Client` given such a transport sends its requests, and streams its watches,
  through it directly (`Client._lean_request`, `Client._stream`). Watch requests sent
  through httpx itself (`?watch=...`) go to httpx's own pools instead, `WATCH_SHARD`
  borrowers' streams each, since a `KeepAlivePool` reads answers whole as a transport.

Connection pools belong to the event loop that used them, so a `TransportPool` must be used
and closed within one loop (a host process has one).
"""

from __future__ import annotations

import functools
import ssl

import certifi
import httpx

from axle.client.keepalive import KeepAlivePool

# Idle connections the request pool of a CA file keeps for every borrower's next requests
# (a heartbeat every 20 s per agent, bursts of status patches while Works apply): opening a
# connection costs the hub more than keeping one.
REQUEST_KEEPALIVE = 128
# How long an idle request connection is reused: under the hub's own keep-alive timeout
# (30 s), so the hub seldom closes one just as a request is sent on it.
REQUEST_KEEPALIVE_SECONDS = 20.0
# Borrowers per watch pool: one long-lived stream each.
WATCH_SHARD = 128
# Longer than httpx's 5 s, so a watch that starts again may find its connection open.
KEEPALIVE_SECONDS = 60.0


@functools.lru_cache(maxsize=16)
def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """The process's context trusting `ca_file` (None: certifi's bundle, as httpx uses).

    Cached by path: a hub's CA file does not change under a running process.
    """
    return ssl.create_default_context(cafile=ca_file or certifi.where())


def lean_pool(transport: httpx.AsyncBaseTransport | None) -> KeepAlivePool | None:
    """The keep-alive pool a client may send its plain requests through directly, if any."""
    if isinstance(transport, SharedTransport):
        transport = transport.requests
    return transport if isinstance(transport, KeepAlivePool) else None


class SharedTransport(httpx.AsyncBaseTransport):
    """A transport lent to one client: requests go to shared pools (watches to their own),
    `aclose` is a no-op."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, watches: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._inner = inner
        self._watches = watches or inner

    @property
    def requests(self) -> httpx.AsyncBaseTransport:
        """Where requests other than watches go."""
        return self._inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.params.get("watch") not in (None, "", "0", "false"):
            return await self._watches.handle_async_request(request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """The borrower is done; the pools stay open for the others (their owner closes them)."""


class _Shards:
    """httpx pools for one CA file's watches: a new pool every `size` borrowers."""

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

    def __init__(
        self, watch_shard: int = WATCH_SHARD, request_keepalive: int = REQUEST_KEEPALIVE
    ) -> None:
        self.watch_shard, self.request_keepalive = watch_shard, request_keepalive
        self._requests: dict[str | None, KeepAlivePool] = {}
        self._watches: dict[str | None, _Shards] = {}

    def lend(self, ca_file: str | None = None) -> SharedTransport:
        """A transport for one client trusting `ca_file` (None: the default bundle)."""
        requests = self._requests.get(ca_file)
        if requests is None:
            requests = KeepAlivePool(
                tls_context(ca_file),
                max_idle=self.request_keepalive,
                keepalive_expiry=REQUEST_KEEPALIVE_SECONDS,
            )
            self._requests[ca_file] = requests
        watches = self._watches.get(ca_file)
        if watches is None:
            # Busy streams count against httpx's keep-alive limit: a watch that starts
            # again should find the connection its last one left.
            watches = _Shards(ca_file, self.watch_shard, self.watch_shard)
            self._watches[ca_file] = watches
        return SharedTransport(requests, watches.lend())

    @property
    def pools(self) -> int:
        return len(self._requests) + sum(len(w.pools) for w in self._watches.values())

    async def aclose(self) -> None:
        """Close every pool (after the clients using them are done)."""
        requests, self._requests = self._requests, {}
        watches, self._watches = self._watches, {}
        for pool in requests.values():
            await pool.aclose()
        for shards in watches.values():
            for watch_pool in shards.pools:
                await watch_pool.aclose()
