"""The simulator's HTTP application: Palette's `/v1` routes and the `/admin` API (Starlette).

Each `/v1` request passes, in order: the request counters, the configured latency, the fault
rules (which may answer 429/500 instead), the `ApiKey` check (401), and the route. Handlers
only read the request and call `PaletteSim`; failures are `PaletteError`s rendered as
`v1Error` by one handler, as are unknown paths (404) and methods (405), so a client never
sees any other error shape.

Scope (`ProjectUid` header): absent means tenant scope (every project); a uid that names no
project is refused with 403 `Forbidden`, which is what a key without access to a project gets
from Palette. Project-scoped creates without the header are a 400 `ProjectUidRequired`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from axle.sim.palette import wire
from axle.sim.palette.errors import PaletteError, bad_request
from axle.sim.palette.faults import Faults
from axle.sim.palette.search import schema
from axle.sim.palette.simulator import HOST_PROPS, PaletteSim, new_uid


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(err: PaletteError) -> Response:
    return JSON(err.body(), status_code=err.status, headers=err.headers)


def created(uid: str) -> Response:
    return JSON({"uid": uid}, status_code=201, headers={"AuditUid": new_uid()})


def no_content() -> Response:
    return Response(status_code=204)


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"the body is not valid JSON: {exc}") from None


def flag(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise bad_request(f"query {name} must be true or false, not {raw!r}", field=name)


class V1:
    """The `/v1` handlers, bound to one simulator."""

    def __init__(self, sim: PaletteSim) -> None:
        self.sim = sim

    def scope(self, request: Request) -> str | None:
        uid = request.headers.get("ProjectUid")
        if not uid:
            return None
        if uid not in self.sim.projects:
            raise PaletteError(
                403,
                "Forbidden",
                f"project '{uid}' does not exist or this API key has no access to it",
                details={"projectUid": uid},
            )
        return uid

    # users, projects

    async def user_info(self, request: Request) -> Response:
        return JSON(self.sim.user_info())

    async def projects_meta(self, request: Request) -> Response:
        self.scope(request)
        return JSON(self.sim.projects_meta(request.query_params.get("name")))

    async def project(self, request: Request) -> Response:
        return JSON(wire.project(self.sim.project(request.path_params["uid"])))

    # edge hosts

    async def search_hosts(self, request: Request) -> Response:
        scope = self.scope(request)
        body = await json_body(request)
        return JSON(self.sim.search_hosts(scope, body, dict(request.query_params)))

    async def host_schema(self, request: Request) -> Response:
        self.scope(request)
        return JSON(schema(dict(HOST_PROPS)))

    async def hosts_meta(self, request: Request) -> Response:
        q = request.query_params
        return JSON(self.sim.hosts_meta(self.scope(request), q.get("type"), q.get("quickFilter")))

    async def host_tags(self, request: Request) -> Response:
        return JSON(self.sim.host_tags(self.scope(request)))

    async def host(self, request: Request) -> Response:
        flag(request, "resolvePackValues")
        return JSON(self.sim.host_device(request.path_params["uid"], self.scope(request)))

    async def host_meta(self, request: Request) -> Response:
        scope = self.scope(request)
        self.sim.update_host_meta(request.path_params["uid"], scope, await json_body(request))
        return no_content()

    # clusters

    async def create_cluster(self, request: Request) -> Response:
        scope = self.scope(request)
        c = self.sim.create_cluster(scope, await json_body(request))
        return created(c.uid)

    async def validate_cluster(self, request: Request) -> Response:
        scope = self.scope(request)
        return JSON(self.sim.validate_cluster(scope, await json_body(request)))

    async def cluster(self, request: Request) -> Response:
        return JSON(self.sim.cluster_doc(request.path_params["uid"], self.scope(request)))

    async def cluster_status(self, request: Request) -> Response:
        c = self.sim.cluster(request.path_params["uid"], self.scope(request))
        return JSON({"status": {"state": c.state}})

    async def delete_cluster(self, request: Request) -> Response:
        force = flag(request, "forceDelete")
        self.sim.delete_cluster(request.path_params["uid"], self.scope(request), force)
        return no_content()

    async def cluster_meta(self, request: Request) -> Response:
        scope = self.scope(request)
        self.sim.update_cluster_meta(request.path_params["uid"], scope, await json_body(request))
        return no_content()

    async def cluster_summary(self, request: Request) -> Response:
        return JSON(self.sim.cluster_summary(request.path_params["uid"], self.scope(request)))

    async def search_clusters(self, request: Request) -> Response:
        scope = self.scope(request)
        body = await json_body(request)
        return JSON(self.sim.search_clusters(scope, body, dict(request.query_params)))

    async def cluster_hosts(self, request: Request) -> Response:
        return JSON(self.sim.cluster_hosts(request.path_params["uid"], self.scope(request)))

    async def _kubeconfig(self, request: Request, admin: bool) -> Response:
        name, text = self.sim.kubeconfig(
            request.path_params["uid"], self.scope(request), admin=admin
        )
        return Response(
            text,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def kubeconfig(self, request: Request) -> Response:
        flag(request, "frp", True)
        return await self._kubeconfig(request, admin=False)

    async def admin_kubeconfig(self, request: Request) -> Response:
        return await self._kubeconfig(request, admin=True)

    # cloud configs

    async def cloud_config(self, request: Request) -> Response:
        return JSON(self.sim.cloud_config(request.path_params["configUid"], self.scope(request)))

    async def add_pool(self, request: Request) -> Response:
        scope = self.scope(request)
        pool = self.sim.add_pool(request.path_params["configUid"], scope, await json_body(request))
        return created(pool.name)

    async def put_pool(self, request: Request) -> Response:
        scope = self.scope(request)
        p = request.path_params
        self.sim.put_pool(p["configUid"], p["machinePoolName"], scope, await json_body(request))
        return no_content()

    async def delete_pool(self, request: Request) -> Response:
        p = request.path_params
        self.sim.delete_pool(p["configUid"], p["machinePoolName"], self.scope(request))
        return no_content()

    async def machines(self, request: Request) -> Response:
        p = request.path_params
        return JSON(self.sim.machines(p["configUid"], p["machinePoolName"], self.scope(request)))

    # cluster profiles

    async def profile(self, request: Request) -> Response:
        return JSON(self.sim.profile(request.path_params["uid"], self.scope(request)))

    async def profiles_meta(self, request: Request) -> Response:
        return JSON(self.sim.profiles_meta(self.scope(request)))

    async def import_profile(self, request: Request) -> Response:
        scope = self.scope(request)
        publish = flag(request, "publish")
        p = self.sim.import_profile(scope, await json_body(request), publish)
        return created(p.uid)

    def routes(self) -> list[BaseRoute]:
        spc = "/v1/spectroclusters/{uid}"
        cfg = "/v1/cloudconfigs/edge-native/{configUid}"
        pool = cfg + "/machinePools/{machinePoolName}"
        return [
            Route("/v1/users/info", self.user_info, methods=["GET"]),
            Route("/v1/dashboard/projects/metadata", self.projects_meta, methods=["GET"]),
            Route("/v1/projects/{uid}", self.project, methods=["GET"]),
            Route("/v1/dashboard/edgehosts/search", self.search_hosts, methods=["POST"]),
            Route("/v1/dashboard/edgehosts/search/schema", self.host_schema, methods=["GET"]),
            Route("/v1/edgehosts/metadata", self.hosts_meta, methods=["GET"]),
            Route("/v1/edgehosts/tags", self.host_tags, methods=["GET"]),
            Route("/v1/edgehosts/{uid}", self.host, methods=["GET"]),
            Route("/v1/edgehosts/{uid}/meta", self.host_meta, methods=["PUT"]),
            Route("/v1/spectroclusters/edge-native", self.create_cluster, methods=["POST"]),
            Route(
                "/v1/spectroclusters/edge-native/validate", self.validate_cluster, methods=["POST"]
            ),
            Route(spc, self.cluster, methods=["GET"]),
            Route(spc, self.delete_cluster, methods=["DELETE"]),
            Route(spc + "/status", self.cluster_status, methods=["GET"]),
            Route(spc + "/metadata", self.cluster_meta, methods=["PATCH"]),
            Route(spc + "/edge-native/edgeHosts", self.cluster_hosts, methods=["GET"]),
            Route(spc + "/assets/kubeconfig", self.kubeconfig, methods=["GET"]),
            Route(spc + "/assets/adminKubeconfig", self.admin_kubeconfig, methods=["GET"]),
            Route("/v1/dashboard/spectroclusters/search", self.search_clusters, methods=["POST"]),
            Route("/v1/dashboard/spectroclusters/{uid}", self.cluster_summary, methods=["GET"]),
            Route(cfg, self.cloud_config, methods=["GET"]),
            Route(cfg + "/machinePools", self.add_pool, methods=["POST"]),
            Route(pool, self.put_pool, methods=["PUT"]),
            Route(pool, self.delete_pool, methods=["DELETE"]),
            Route(pool + "/machines", self.machines, methods=["GET"]),
            Route("/v1/clusterprofiles/import", self.import_profile, methods=["POST"]),
            Route("/v1/clusterprofiles/{uid}", self.profile, methods=["GET"]),
            Route("/v1/dashboard/clusterprofiles/metadata", self.profiles_meta, methods=["GET"]),
        ]


class Gate:
    """ASGI middleware for `/v1`: counters, latency, faults, then the `ApiKey` check."""

    def __init__(
        self,
        app: ASGIApp,
        sim: PaletteSim,
        faults: Faults,
        routes: list[BaseRoute],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.app = app
        self.sim = sim
        self.faults = faults
        self.routes = routes
        self.sleep = sleep

    def route_of(self, scope: Scope) -> str:
        method = scope.get("method", "")
        partial = None
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return f"{method} {getattr(route, 'path', '?')}"
            if match == Match.PARTIAL and partial is None:
                partial = getattr(route, "path", "?")
        return f"{method} {partial}" if partial else f"{method} (unmatched)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v1"):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        route = self.route_of(scope)
        status = 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if self.faults.latency_ms > 0:
                await self.sleep(self.faults.latency_ms / 1000.0)
            err = self.faults.pick(method, path)
            if err is None:
                key = None
                for name, value in scope.get("headers", []):
                    if name == b"apikey":
                        key = value.decode("latin-1")
                        break
                if not self.sim.authenticate(key):
                    what = "invalid API key" if key else "missing API key"
                    err = PaletteError(401, "Unauthorized", f"{what} (header ApiKey)")
            if err is not None:
                await error_response(err)(scope, receive, counting_send)
                return
            await self.app(scope, receive, counting_send)
        finally:
            self.faults.count(route, path, status)


async def _palette_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PaletteError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "ResourceNotFound", 405: "MethodNotAllowed"}
    message = {
        404: f"no such API path: {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }
    err = PaletteError(
        exc.status_code,
        codes.get(exc.status_code, "InvalidRequest"),
        message.get(exc.status_code, str(exc.detail)),
    )
    return error_response(err)


async def _internal_error(request: Request, exc: Exception) -> Response:
    return error_response(PaletteError(500, "InternalError", f"simulator error: {exc!r}"))


def build_app(
    sim: PaletteSim,
    faults: Faults,
    admin_routes: list[BaseRoute],
    sleep: Callable[[float], Awaitable[None]],
) -> Starlette:
    """The ASGI app; `app.state.sim` and `app.state.faults` give tests the live objects."""
    v1_routes = V1(sim).routes()
    app = Starlette(
        routes=[*v1_routes, *admin_routes],
        exception_handlers={
            PaletteError: _palette_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
    )
    app.state.sim = sim
    app.state.faults = faults
    app.add_middleware(Gate, sim=sim, faults=faults, routes=v1_routes, sleep=sleep)
    return app
