"""The retrying HTTP core under `PaletteClient`: headers, one connection pool, errors, counters.

Every Palette call goes through `PaletteSession.request`, so the rules live in one place:

* `ApiKey` on every request; `ProjectUid` only on project-scoped ones (the notes: omit it
  for tenant-scoped calls such as `/v1/users/info` and `/v1/projects/{uid}`).
* 401/403 raise `InvalidCredentials` at once: a rejected key stays rejected, and retrying
  would only multiply failed logins on the server (no retry storm).
* 404 -> `NotFound`, other 4xx -> `InvalidRequest`, immediately.
* 429 is retried after the server's `Retry-After` (or backoff when it sends none), at most
  `max_retries` times; a `Retry-After` longer than `backoff_max` is not slept through but
  surfaced as `RateLimited(retry_after=...)` so the controller can requeue instead of holding
  a worker.
* 5xx, timeouts and connection errors are retried with jittered exponential backoff (a 503's
  `Retry-After` lengthens the wait, up to `backoff_max`), but
  only for idempotent calls (GET, PUT, DELETE, and POSTs the caller marks idempotent, such as
  searches). A create POST is retried only when the request provably never left (connect
  errors, pool timeouts) or on 429, so a lost answer never creates a second cluster.
* Non-JSON or wrongly shaped bodies raise `BadResponse`.

`calls` counts HTTP requests per operation (every attempt), for the benchmark and for tests
asserting "exactly one request". `sleep`, `rng` and `clock` are injectable so tests run the
retry loop without waiting and assert the delays it chose.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from axle.providers.base import BadResponse, Unreachable
from axle.providers.palette.credentials import PaletteCredentials
from axle.providers.palette.envelope import error_for
from axle.providers.palette.retry import RetryPolicy, parse_retry_after

log = logging.getLogger("axle.providers.palette")

M = TypeVar("M", bound=BaseModel)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

# Failures where httpx had not yet written the request: safe to retry even a create.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

Sleep = Callable[[float], Awaitable[Any]]


class PaletteSession:
    """One pooled `httpx.AsyncClient` plus the retry loop; owned by a `PaletteClient`."""

    def __init__(
        self,
        creds: PaletteCredentials,
        *,
        timeout: float = 10.0,
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        max_connections: int = 10,
    ) -> None:
        self.creds = creds
        self.base_url = creds.hostUrl
        self.policy = policy or RetryPolicy()
        self.calls: collections.Counter[str] = collections.Counter()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock
        self._client = httpx.AsyncClient(
            base_url=creds.hostUrl,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections),
            headers={"ApiKey": creds.api_key, "Accept": "application/json"},
            follow_redirects=False,
        )

    @property
    def requests_made(self) -> int:
        return sum(self.calls.values())

    async def close(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        project_scoped: bool = True,
        idempotent: bool | None = None,
        accept: str | None = None,
    ) -> httpx.Response:
        """Send one logical call (with retries); a 2xx response or a `ProviderError`."""
        if idempotent is None:
            idempotent = method.upper() in IDEMPOTENT_METHODS
        headers: dict[str, str] = {}
        if project_scoped:
            headers["ProjectUid"] = self.creds.defaultProjectID
        if accept is not None:
            headers["Accept"] = accept
        attempt = 0
        while True:
            self.calls[operation] += 1
            try:
                response = await self._client.request(
                    method, path, params=params, json=json, headers=headers
                )
            except httpx.TransportError as exc:
                sent = not isinstance(exc, _NOT_SENT)
                retryable = (idempotent or not sent) and not isinstance(
                    exc, httpx.UnsupportedProtocol
                )
                if retryable and attempt < self.policy.max_retries:
                    await self._wait(
                        operation, attempt, self.policy.backoff(attempt, self._rng), _what(exc)
                    )
                    attempt += 1
                    continue
                tried = f" after {attempt + 1} attempts" if attempt else ""
                raise Unreachable(
                    f"Palette at {self.base_url} unreachable for {operation}{tried} "
                    f"({method} {path}): {_what(exc)}"
                ) from exc
            status = response.status_code
            if status < 300:
                return response
            if status == 429:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
                if attempt < self.policy.max_retries and (
                    retry_after is None or retry_after <= self.policy.backoff_max
                ):
                    delay = (
                        retry_after
                        if retry_after is not None
                        else self.policy.backoff(attempt, self._rng)
                    )
                    await self._wait(operation, attempt, delay, "HTTP 429 Too Many Requests")
                    attempt += 1
                    continue
                raise error_for(
                    response,
                    base_url=self.base_url,
                    operation=operation,
                    retry_after=retry_after,
                    attempts=attempt + 1,
                )
            if status >= 500 and idempotent and attempt < self.policy.max_retries:
                delay = self.policy.backoff(attempt, self._rng)
                # A 503 may say when to come back (RFC 9110); wait at least that, within bounds.
                hint = parse_retry_after(response.headers.get("Retry-After"), self._clock())
                if hint is not None:
                    delay = max(delay, min(hint, self.policy.backoff_max))
                await self._wait(
                    operation, attempt, delay, f"HTTP {status} {response.reason_phrase}".rstrip()
                )
                attempt += 1
                continue
            raise error_for(
                response, base_url=self.base_url, operation=operation, attempts=attempt + 1
            )

    async def _wait(self, operation: str, attempt: int, delay: float, reason: str) -> None:
        log.info(
            "palette %s: retry %d/%d in %.2fs after %s",
            operation,
            attempt + 1,
            self.policy.max_retries,
            delay,
            reason,
        )
        await self._sleep(delay)

    async def call_json(
        self, operation: str, method: str, path: str, model: type[M], **kwargs: Any
    ) -> M:
        """`request`, then the body decoded and validated as `model` (else `BadResponse`)."""
        response = await self.request(operation, method, path, **kwargs)
        return decode(response, model, operation)


def json_of(response: httpx.Response) -> Any:
    """The body as JSON (orjson: a 5,000-host inventory is 100 pages); ValueError if not."""
    return orjson.loads(response.content)


def decode(response: httpx.Response, model: type[M], operation: str) -> M:
    """Validate a JSON body as `model`; anything else is `BadResponse` naming the call."""
    try:
        data = json_of(response)
    except ValueError:
        snippet = " ".join(response.text.split())[:120]
        ctype = response.headers.get("content-type", "no content type")
        raise BadResponse(
            f"Palette {operation}: expected JSON, got {ctype}: {snippet!r}",
            status=response.status_code,
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(body)"
        raise BadResponse(
            f"Palette {operation}: unexpected response shape at {where}: {err['msg']}",
            status=response.status_code,
        ) from None


def _what(exc: httpx.TransportError) -> str:
    """A short description of a transport failure (httpx messages are sometimes empty)."""
    if isinstance(exc, httpx.TimeoutException):
        kind = type(exc).__name__.replace("Timeout", " timeout").strip().lower()
        return f"{kind}: {exc}" if str(exc) else kind
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
