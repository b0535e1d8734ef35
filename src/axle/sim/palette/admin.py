"""The `/admin` API: faults, timings and counters, changed while the simulator runs.

Only for callers on the same machine: a request from a non-loopback address is refused (403),
and when an admin key is configured (`adminKey` in the inventory, or `--admin-key`) the
`X-Admin-Key` header must carry it too. The `/v1` API key does not open `/admin`.

    GET    /admin/requests              counters {total, byRoute, byPath, byStatus}
    DELETE /admin/requests              reset the counters
    GET    /admin/faults                rules, latency, pending provisioning failures, timings
    POST   /admin/faults                add a rule
                                        {status, count, rate, path, method, retryAfter, message}
    DELETE /admin/faults                remove every rule
    PATCH  /admin/settings              change any of {latencyMs, provisioningSeconds,
                                        deletionSeconds, pendingSeconds}
    POST   /admin/provisioning-failures {count, message}: the next provisionings end in Error
    PATCH  /admin/hosts/{ref}           {health, message, state}: a host by uid or name
    POST   /admin/reset                 faults, latency, timings and counters back to start-up;
                                        {"state": true} also reseeds from the inventory

Responses are plain JSON; failures use the same `v1Error` envelope as `/v1`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from axle.sim.palette import wire
from axle.sim.palette.app import JSON, json_body
from axle.sim.palette.errors import PaletteError, bad_request
from axle.sim.palette.faults import Faults, parse_rule
from axle.sim.palette.simulator import PaletteSim, Timings

Handler = Callable[[Request], Awaitable[Response]]


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class Admin:
    def __init__(
        self,
        sim: PaletteSim,
        faults: Faults,
        *,
        reset_faults: Callable[[], Faults],
        reset_timings: Callable[[], Timings],
        reseed: Callable[[], None],
    ) -> None:
        self.sim = sim
        self.faults = faults
        self._reset_faults = reset_faults
        self._reset_timings = reset_timings
        self._reseed = reseed

    def guard(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            client = request.client.host if request.client else None
            if not _is_loopback(client):
                raise PaletteError(403, "Forbidden", "the admin API answers loopback clients only")
            key = self.sim.state.adminKey
            if key and request.headers.get("X-Admin-Key") != key:
                raise PaletteError(401, "Unauthorized", "missing or invalid X-Admin-Key")
            return await handler(request)

        return guarded

    async def requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.reset_counters()
            return Response(status_code=204)
        return JSON(self.faults.counters())

    def _settings(self) -> dict[str, Any]:
        t = self.sim.timings
        return {
            "latencyMs": self.faults.latency_ms,
            "provisioningSeconds": t.provisioning_seconds,
            "deletionSeconds": t.deletion_seconds,
            "pendingSeconds": t.pending_seconds,
        }

    async def faults_view(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear()
            return Response(status_code=204)
        if request.method == "POST":
            rule = self.faults.add(parse_rule(await json_body(request)))
            return JSON(rule.to_dict(), status_code=201)
        return JSON(
            {
                "rules": [r.to_dict() for r in self.faults.rules],
                "provisioningFailures": list(self.sim.provision_failures),
                **self._settings(),
            }
        )

    async def settings(self, request: Request) -> Response:
        if request.method == "PATCH":
            body = await json_body(request)
            if not isinstance(body, dict):
                raise bad_request("settings are a JSON object")
            fields = {
                "latencyMs": (self.faults, "latency_ms"),
                "provisioningSeconds": (self.sim.timings, "provisioning_seconds"),
                "deletionSeconds": (self.sim.timings, "deletion_seconds"),
                "pendingSeconds": (self.sim.timings, "pending_seconds"),
            }
            unknown = sorted(set(body) - set(fields))
            if unknown:
                raise bad_request(f"unknown settings: {', '.join(unknown)}")
            for name, value in body.items():
                if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                    raise bad_request(f"{name} must be a non-negative number", field=name)
            for name, value in body.items():
                target, attr = fields[name]
                setattr(target, attr, float(value))
        return JSON(self._settings())

    async def provisioning_failures(self, request: Request) -> Response:
        body = await json_body(request)
        count = body.get("count", 1) if isinstance(body, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise bad_request("count must be a positive integer", field="count")
        message = body.get("message") or "injected provisioning failure"
        if not isinstance(message, str):
            raise bad_request("message must be a string", field="message")
        self.sim.provision_failures.extend([message] * count)
        return JSON({"provisioningFailures": list(self.sim.provision_failures)})

    async def host(self, request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict) or not set(body) <= {"health", "message", "state"}:
            raise bad_request("body: {health: healthy|unhealthy, message, state: ready|unpaired}")
        for key in body:
            if body[key] is not None and not isinstance(body[key], str):
                raise bad_request(f"{key} must be a string", field=key)
        h = self.sim.set_host(
            request.path_params["ref"],
            health=body.get("health"),
            message=body.get("message"),
            state=body.get("state"),
        )
        return JSON(wire.host_meta(h) | {"healthMessage": h.healthMessage})

    async def reset(self, request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object")
        fresh = self._reset_faults()
        self.faults.latency_ms = fresh.latency_ms
        self.faults.rules[:] = fresh.rules
        self.faults.reset_counters()
        self.sim.timings = self._reset_timings()
        self.sim.provision_failures.clear()
        if body.get("state"):
            self._reseed()
        return Response(status_code=204)

    def routes(self) -> list[BaseRoute]:
        g = self.guard
        return [
            Route("/admin/requests", g(self.requests), methods=["GET", "DELETE"]),
            Route("/admin/faults", g(self.faults_view), methods=["GET", "POST", "DELETE"]),
            Route("/admin/settings", g(self.settings), methods=["GET", "PATCH"]),
            Route("/admin/provisioning-failures", g(self.provisioning_failures), methods=["POST"]),
            Route("/admin/hosts/{ref}", g(self.host), methods=["PATCH"]),
            Route("/admin/reset", g(self.reset), methods=["POST"]),
        ]
