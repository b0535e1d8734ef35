"""Faults on demand and request counters.

Tests and benchmarks need a Palette that misbehaves in controlled ways and that tells how it
was used. `Faults` holds:

* rules: answer matching requests with a status (429 with `Retry-After`, 500, 503, ...)
  instead of serving them; a rule matches by method and a glob on the path
  (`/v1/dashboard/edgehosts/*`), fires for the next `count` matches (None: for ever) and with
  probability `rate`; the first rule that fires wins;
* latency added before every `/v1` request;
* counters: requests per route (`POST /v1/dashboard/edgehosts/search`, path parameters kept
  as `{uid}` so counts add up across hosts), per exact path, and per status.

Randomness comes from a seeded generator, so a given seed and request sequence fail the
same requests every run.
"""

from __future__ import annotations

import fnmatch
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from axle.sim.palette.errors import PaletteError

ERROR_CODES = {
    429: "TooManyRequests",
    500: "InternalError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclass
class FaultRule:
    status: int
    count: int | None = None  # remaining firings; None: unlimited
    rate: float = 1.0
    path: str = "/v1/*"
    method: str | None = None
    retry_after: float = 1.0
    message: str = ""
    fired: int = 0
    id: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "count": self.count,
            "rate": self.rate,
            "path": self.path,
            "method": self.method,
            "retryAfter": self.retry_after,
            "message": self.message,
            "fired": self.fired,
        }


def parse_rule(body: Any) -> FaultRule:
    """A rule from the admin API's JSON (`{status, count, rate, path, method, retryAfter}`)."""
    if not isinstance(body, dict):
        raise PaletteError(400, "InvalidRequest", "a fault is a JSON object")
    allowed = {"status", "count", "rate", "path", "method", "retryAfter", "message"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise PaletteError(400, "InvalidRequest", f"unknown fault fields: {', '.join(unknown)}")
    status = body.get("status", 500)
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise PaletteError(400, "InvalidRequest", "status must be an HTTP error status (400-599)")
    count = body.get("count")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise PaletteError(400, "InvalidRequest", "count must be a positive integer or null")
    rate = body.get("rate", 1.0)
    if not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
        raise PaletteError(400, "InvalidRequest", "rate must be between 0 and 1")
    retry_after = body.get("retryAfter", 1)
    if not isinstance(retry_after, int | float) or retry_after < 0:
        raise PaletteError(400, "InvalidRequest", "retryAfter must be a non-negative number")
    path = body.get("path", "/v1/*")
    method = body.get("method")
    if not isinstance(path, str) or not path.startswith("/"):
        raise PaletteError(400, "InvalidRequest", "path must be a glob starting with /")
    if method is not None and not isinstance(method, str):
        raise PaletteError(400, "InvalidRequest", "method must be a string")
    return FaultRule(
        status=status,
        count=count,
        rate=float(rate),
        path=path,
        method=method,
        retry_after=float(retry_after),
        message=str(body.get("message") or ""),
    )


@dataclass
class Faults:
    latency_ms: float = 0.0
    seed: int = 0
    rules: list[FaultRule] = field(default_factory=list)
    by_route: Counter[str] = field(default_factory=Counter)
    by_path: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    _next_id: int = 1

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def add(self, rule: FaultRule) -> FaultRule:
        rule.id = self._next_id
        self._next_id += 1
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def reset_counters(self) -> None:
        self.by_route.clear()
        self.by_path.clear()
        self.by_status.clear()

    def pick(self, method: str, path: str) -> PaletteError | None:
        """The error to answer this request with, if a rule fires for it."""
        for rule in list(self.rules):
            if not rule.matches(method, path):
                continue
            if rule.rate < 1.0 and self.random.random() >= rule.rate:
                continue
            rule.fired += 1
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    self.rules.remove(rule)
            code = ERROR_CODES.get(rule.status, "InjectedFault")
            message = rule.message or f"injected fault: {rule.status} for {method} {path}"
            headers = {}
            if rule.status in (429, 503):
                # Retry-After carries whole seconds (RFC 9110); round a fraction up to 1.
                headers["Retry-After"] = str(max(0, int(-(-rule.retry_after // 1))))
            return PaletteError(
                rule.status, code, message, headers=headers, details={"injected": True}
            )
        return None

    def count(self, route: str, path: str, status: int) -> None:
        self.by_route[route] += 1
        self.by_path[path] += 1
        self.by_status[str(status)] += 1

    def counters(self) -> dict[str, Any]:
        return {
            "total": sum(self.by_route.values()),
            "byRoute": dict(sorted(self.by_route.items())),
            "byPath": dict(sorted(self.by_path.items())),
            "byStatus": dict(sorted(self.by_status.items())),
        }
