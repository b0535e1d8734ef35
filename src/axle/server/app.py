"""The hub's ASGI app: Kubernetes REST conventions over the store, for every registered kind.

`build_app` wires the request pipeline around the generic handlers: parse the request the way
the API server does -> authenticate -> authorize (RBAC; `system:masters` bypasses it) ->
dispatch (non-resource documents: discovery, `/version`, OpenAPI; the self reviews; or a
resource verb) -> audit, with every error rendered as a Kubernetes `Status`. There is one
catch-all route rather than a route per kind: the route table, discovery and OpenAPI documents
are built once from the registry, so a request costs a couple of dict lookups and nothing is
generated per kind at request time. `/healthz`, `/readyz` and `/livez` need no token, nor
does the spoke join endpoint (`spokejoin.py`: a bootstrap token in the body is its proof).

The app is a bare ASGI callable (`HubApp`), not a Starlette application: with three fixed paths
and a catch-all there is nothing for a router to do, and the endpoints already turn every
error into a `Status`, so Starlette's router and its two exception middlewares only cost time,
on each request and on each chunk of a watch stream, whose every write passed through their
wrappers of `send`. Requests and responses are still Starlette's `Request` and `Response`.
Given a `SpokeTokenAuthenticator`, spoke credentials are accepted after the tokens file, and
watch streams opened with one end when it is revoked (`spokeauth.py`).
"""

from __future__ import annotations

import asyncio
import logging
import platform
from typing import Any, Protocol

from starlette.datastructures import State
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

import axle
from axle.api.meta import GROUP, VERSION
from axle.api.registry import REGISTRY, KindInfo, Registry
from axle.errors import ApiError, InternalError, MethodNotAllowed, NotFound
from axle.server import reviews
from axle.server.auth import MASTERS_GROUP, UserInfo
from axle.server.bodies import decode_object, parse_accept, read_body
from axle.server.discovery import AGGREGATED_MEDIA_TYPE, Discovery, wants_aggregated
from axle.server.handlers import Call, JSONResponse, ResourceHandlers, json_response
from axle.server.namespaces import NamespaceIndex
from axle.server.openapi import OpenAPIDocs
from axle.server.rbac import Attributes, Authorizer, forbidden_error
from axle.server.requestinfo import RequestInfo, parse_query, parse_request
from axle.server.resources import RouteTable
from axle.server.spokeauth import ChainAuthenticator, SpokeTokenAuthenticator
from axle.server.spokejoin import DISCOVERY_ENTRY, JOIN_PATH, SpokeJoin
from axle.server.watch import WatchStreams
from axle.settings import HubSettings
from axle.store.base import Store

log = logging.getLogger(__name__)

# The Kubernetes version kubectl compares itself with (it warns beyond one minor of skew).
KUBE_MAJOR, KUBE_MINOR = "1", "32"
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/livez"})
# `JOIN_PATH` is `/apis/axle.dev/v1alpha1/spokes/{name}/join`: the parts around `{name}`.
_JOIN_PREFIX, _, _JOIN_SUFFIX = JOIN_PATH.partition("{name}")


class Authenticator(Protocol):
    def authenticate(self, authorization_header: str | None) -> UserInfo: ...


class Auditor(Protocol):
    def record(
        self,
        user: UserInfo | None,
        verb: str,
        resource: str,
        namespace: str | None,
        name: str | None,
        code: int,
        *,
        group: str = "",
        subresource: str | None = None,
    ) -> None: ...


class NotAcceptable(ApiError):
    """406: no representation the client accepts (protobuf OpenAPI, which client-go then skips)."""

    code = 406
    reason = "NotAcceptable"


def version_info() -> dict[str, str]:
    """`/version`, shaped like Kubernetes' version.Info (kubectl prints gitVersion)."""
    return {
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "gitVersion": f"v{KUBE_MAJOR}.{KUBE_MINOR}.0+axle.{axle.__version__}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": f"python{platform.python_version()}",
        "compiler": "cpython",
        "platform": f"{platform.system().lower()}/{platform.machine()}",
    }


def status_response(err: ApiError) -> Response:
    headers = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else None
    return json_response(err.to_status(), err.code, headers)


class ApiServer:
    """Everything a request needs, built once; `endpoint` serves every non-health path."""

    def __init__(
        self,
        settings: HubSettings,
        store: Store,
        authenticator: Authenticator,
        authorizer: Authorizer,
        audit: Auditor,
        *,
        registry: Registry | None = None,
        bookmark_seconds: float = 60.0,
        spokes: SpokeTokenAuthenticator | None = None,
        namespaces: NamespaceIndex | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.spokes = spokes
        # Spoke credentials first: most requests at fleet scale are agents', and the tokens
        # file's authenticator looks at the file (a stat) on every token it does not know.
        self.authenticator: Authenticator = (
            ChainAuthenticator(spokes, authenticator) if spokes is not None else authenticator
        )
        self.authorizer = authorizer
        self.audit = audit
        self.registry = registry if registry is not None else REGISTRY
        kinds: list[KindInfo] = list(self.registry)
        self.routes = RouteTable(kinds)
        virtual = {**reviews.DISCOVERY, (GROUP, VERSION): [DISCOVERY_ENTRY]}
        self.discovery = Discovery(self.routes, f"{settings.host}:{settings.port}", virtual=virtual)
        self.join = SpokeJoin(
            store, audit, registry=self.registry, body_limit=settings.max_body_bytes
        )
        self.version = version_info()
        self.version_bytes = json_response(self.version).body
        self._openapi: OpenAPIDocs | None = None
        self.watches = WatchStreams(bookmark_seconds)
        self.handlers = ResourceHandlers(
            store, self.routes, self.watches, authorizer, namespaces=namespaces
        )
        self.body_limit = settings.max_body_bytes

    @property
    def openapi(self) -> OpenAPIDocs:
        """The OpenAPI documents, rendered on first use and then kept.

        Rendering every kind's schema takes a few hundred milliseconds; doing it on the first
        `/openapi` request (or in `warm_up`) keeps the hub's start-up fast.
        """
        if self._openapi is None:
            self._openapi = OpenAPIDocs(self.routes, self.version["gitVersion"])
        return self._openapi

    async def warm_up(self) -> None:
        """Render the OpenAPI documents in a worker thread, off the request path."""
        if self._openapi is None:
            docs = await asyncio.to_thread(OpenAPIDocs, self.routes, self.version["gitVersion"])
            if self._openapi is None:
                self._openapi = docs

    async def endpoint(self, request: Request) -> Response:
        scope = request.scope
        ri = parse_request(
            scope["method"], scope["path"], parse_query(scope["query_string"].decode("latin-1"))
        )
        user: UserInfo | None = None
        code = 500
        try:
            user = self.authenticator.authenticate(request.headers.get("authorization"))
            response = await self._dispatch(request, ri, user)
            code = response.status_code
            if self.spokes is not None and ri.verb == "watch" and code == 200:
                response = self.spokes.guard(user, request.headers.get("authorization"), response)
            return response  # for HEAD, uvicorn sends the headers only
        except ApiError as err:
            code = err.code
            return status_response(err)
        except ClientDisconnect:
            code = 499  # the client left mid-request (nginx's code): nothing to answer
            return Response(status_code=400)
        except Exception as exc:
            log.exception("internal error serving %s %s", scope["method"], scope["path"])
            internal = InternalError(f"an internal error occurred: {type(exc).__name__}: {exc}")
            return status_response(internal)
        finally:
            # Discovery and /version are read by every client invocation: audit those only
            # when they fail.
            if ri.is_resource or user is None or code >= 400:
                self._audit(ri, user, code)

    def _audit(self, ri: RequestInfo, user: UserInfo | None, code: int) -> None:
        try:
            if ri.is_resource:
                self.audit.record(
                    user,
                    ri.verb,
                    ri.resource,
                    ri.namespace or None,
                    ri.name or None,
                    code,
                    group=self.registry.canonical_group(ri.group),
                    subresource=ri.subresource or None,
                )
            else:
                self.audit.record(user, ri.verb, ri.path, None, None, code)
        except Exception:  # an audit failure must not turn a served request into an error
            log.exception("audit record failed")

    async def _dispatch(self, request: Request, ri: RequestInfo, user: UserInfo) -> Response:
        masters = MASTERS_GROUP in user.groups
        if not ri.is_resource:
            if not masters:
                self._authorize(
                    Attributes(user=user, verb=ri.verb, group="", resource="", path=ri.path)
                )
            return self._non_resource(request, ri)
        group = self.registry.canonical_group(ri.group)
        if not masters:
            self._authorize(
                Attributes(
                    user=user,
                    verb=ri.verb,
                    group=group,
                    resource=ri.resource,
                    subresource=ri.subresource or None,
                    namespace=ri.namespace or None,
                    name=ri.name or None,
                )
            )
        if reviews.is_review(ri.group, ri.version, ri.resource) and not ri.name:
            return await self._review(request, ri, user)
        served = self.routes.resolve(ri.group, ri.version, ri.resource)
        if served is None:
            raise NotFound(
                "the server could not find the requested resource"
                + (
                    f' (resource "{ri.resource}" in {ri.group or "core"}/{ri.version})'
                    if ri.resource
                    else ""
                )
            )
        call = Call(
            request=request,
            ri=ri,
            served=served,
            user=user,
            body_limit=self.body_limit,
            accept=parse_accept(request.headers.get("accept")),
        )
        return await self.handlers.handle(call)

    async def _review(self, request: Request, ri: RequestInfo, user: UserInfo) -> Response:
        body: dict[str, Any] = {}
        if ri.method == "POST":
            raw = await read_body(
                request.stream(), request.headers.get("content-length"), self.body_limit
            )
            body = decode_object(raw, request.headers.get("content-type"))
        answer = reviews.review(ri.resource, ri.method, body, user, self.authorizer, self.registry)
        return json_response(answer, 201)

    def _authorize(self, attrs: Attributes) -> None:
        allowed, reason = self.authorizer.authorize(attrs)
        if not allowed:
            raise forbidden_error(attrs, reason)

    # --- non-resource paths -----------------------------------------------------------------

    def _non_resource(self, request: Request, ri: RequestInfo) -> Response:
        if ri.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"{ri.method} is not supported on {ri.path}")
        path = ri.path.rstrip("/") or "/"
        d = self.discovery
        if path in ("/api", "/apis"):
            if wants_aggregated(request.headers.get("accept")):
                agg = d.aggregated_api if path == "/api" else d.aggregated_apis
                return Response(agg, media_type=AGGREGATED_MEDIA_TYPE, headers={"Vary": "Accept"})
            legacy = d.api_versions if path == "/api" else d.api_group_list
            return JSONResponse(legacy, headers={"Vary": "Accept"})
        if path == "/version":
            return JSONResponse(self.version_bytes)
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            doc = d.resource_lists.get(("", parts[1]))
            if doc is not None:
                return JSONResponse(doc)
        if parts[0] == "apis" and len(parts) == 2:
            doc = d.group_docs.get(parts[1])
            if doc is not None:
                return JSONResponse(doc)
        if parts[0] == "apis" and len(parts) == 3:
            doc = d.resource_lists.get((parts[1], parts[2]))
            if doc is not None:
                return JSONResponse(doc)
        if path == "/openapi/v2":
            accept = request.headers.get("accept", "")
            if accept and "json" not in accept and "*/*" not in accept:
                raise NotAcceptable("only application/json is served for /openapi/v2")
            return JSONResponse(self.openapi.v2)
        if path == "/openapi/v3":
            return JSONResponse(self.openapi.v3_index)
        if parts[:2] == ["openapi", "v3"] and len(parts) > 2:
            doc = self.openapi.v3.get("/".join(parts[2:]))
            if doc is not None:
                return JSONResponse(doc, headers={"Cache-Control": "public, immutable"})
        raise NotFound("the server could not find the requested resource")


def _join_name(path: str) -> str | None:
    """The spoke name of a join path (`.../spokes/{name}/join`), else None."""
    if not (path.startswith(_JOIN_PREFIX) and path.endswith(_JOIN_SUFFIX)):
        return None
    name = path[len(_JOIN_PREFIX) : len(path) - len(_JOIN_SUFFIX)]
    return name if name and "/" not in name else None


class HubApp:
    """The hub's ASGI app: health checks, the spoke join endpoint, and the API for the rest.

    Routes as the Starlette router did: GET/HEAD of a health path answers `ok`; POST to a join
    path goes to the join endpoint; every other request with a method the API serves goes to
    `ApiServer.endpoint` (which answers a wrong method with a `Status`); any other method gets
    a plain 405 naming the allowed ones. An exception escaping an endpoint (they catch their
    own) reaches the server, which logs it and answers 500, as Starlette's error middleware did.
    """

    def __init__(self, api: ApiServer) -> None:
        self.api = api
        self.state = State()
        self.state.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            response = await self._respond(scope, receive)
            await response(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        # Websockets are not served (uvicorn runs with ws="none").

    async def _respond(self, scope: Scope, receive: Receive) -> Response:
        path: str = scope["path"]
        method: str = scope["method"]
        if path in _HEALTH_PATHS and method in ("GET", "HEAD"):
            return PlainTextResponse("ok")
        if method == "POST":
            name = _join_name(path)
            if name is not None:
                scope["path_params"] = {"name": name}
                return await self.api.join.endpoint(Request(scope, receive))
        if method not in _METHODS:
            return PlainTextResponse(
                "Method Not Allowed", status_code=405, headers={"Allow": ", ".join(_METHODS)}
            )
        return await self.api.endpoint(Request(scope, receive))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        warm: asyncio.Task[None] | None = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                warm = asyncio.create_task(self.api.warm_up())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Open watch streams would otherwise hold the server's shutdown open.
                self.api.watches.close_all()
                if warm is not None:
                    warm.cancel()
                await send({"type": "lifespan.shutdown.complete"})
                return


def build_app(
    settings: HubSettings,
    store: Store,
    authenticator: Authenticator,
    authorizer: Authorizer,
    audit: Auditor,
    *,
    registry: Registry | None = None,
    bookmark_seconds: float = 60.0,
    spokes: SpokeTokenAuthenticator | None = None,
    namespaces: NamespaceIndex | None = None,
) -> HubApp:
    """The ASGI app of the hub. `app.state.api` is the `ApiServer` (watch streams, routes).

    `spokes`: accept spoke credentials too (after `authenticator`) and end a revoked spoke's
    watch streams. `namespaces`: a started index of existing namespaces, so that updates need
    no store read to know theirs exists.
    """
    api = ApiServer(
        settings,
        store,
        authenticator,
        authorizer,
        audit,
        registry=registry,
        bookmark_seconds=bookmark_seconds,
        spokes=spokes,
        namespaces=namespaces,
    )
    return HubApp(api)
