"""The async Python SDK over httpx: discovery-resolved CRUD, server-side apply, watch, tables.

One `Client` per hub connection. Kinds are resolved through the server's discovery documents
(fetched once per client, refreshed once when a name is not found) so every name kubectl accepts
works here too. Every error the server reports comes back as the `axle.errors.ApiError` subclass
its `Status` names, with the server's message; failures found locally are the client-side
subclasses in `axle.client.errors`. Objects are plain dicts in Kubernetes wire shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import urllib.request
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import httpx

from axle import __version__
from axle.client.discovery import Resource, ResourceMap, parse_resource_list
from axle.client.errors import ConnectionFailed, ManifestError, UnknownResource
from axle.client.keepalive import DEFAULT_PORTS, Answer, StreamedAnswer
from axle.client.transport import lean_pool, tls_context
from axle.errors import ApiError, BadRequest

log = logging.getLogger("axle.client")

TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
# Characters left as they are in a path sent by the lean path (httpx leaves them too).
PATH_SAFE = "/:@!$&'()*+,;=%"
Obj = dict[str, Any]
# `Client.list` shadows the builtin inside the class body; annotations use this alias.
Objs = list[Obj]


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _selector(*parts: str | None) -> str | None:
    joined = ",".join(p for p in parts if p)
    return joined or None


class Client:
    """An async connection to one hub. Use as `async with Client(url, token) as c: ...`."""

    def __init__(
        self,
        server: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        namespace: str = "default",
        transport: httpx.AsyncBaseTransport | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.namespace = namespace
        self.timeout = timeout
        headers = {"User-Agent": f"axle/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # An https:// hub presents a certificate from its own CA (DATA_DIR/ca.crt): trust it.
        # The context is the process's one for that file (`transport.tls_context`); with a
        # transport given, httpx builds none at all.
        verify: ssl.SSLContext | bool = tls_context(ca_file) if ca_file else True
        self._http = httpx.AsyncClient(
            base_url=self.server,
            headers=headers,
            timeout=timeout,
            transport=transport,
            verify=verify,
        )
        self._resources: ResourceMap | None = None
        # Requests through a lent keep-alive pool skip httpx's request machinery (see
        # `_lean_request`); watches and everything else go through httpx.
        url = httpx.URL(self.server)
        # A hub reached through a proxy (HTTP(S)_PROXY / ALL_PROXY, not bypassed by NO_PROXY)
        # stays with httpx, which sends through the proxy; the keep-alive pool goes direct.
        self._lean = None if _proxied(url) else lean_pool(transport)
        self._origin = (
            url.raw_scheme,
            url.raw_host,
            url.port or DEFAULT_PORTS.get(url.raw_scheme, 80),
        )
        self._prefix = url.raw_path.decode("ascii").rstrip("/")
        self._lean_headers = [(b"host", url.netloc)] + [
            (k.lower().encode(), v.encode()) for k, v in headers.items() if k != "Accept"
        ]

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- HTTP ------------------------------------------------------------------------------

    def _unreachable(self, exc: Exception) -> ConnectionFailed:
        what = "timed out talking to" if isinstance(exc, httpx.TimeoutException) else "cannot reach"
        detail = str(exc) or type(exc).__name__
        return ConnectionFailed(
            f"{what} the axle hub at {self.server}: {detail}", server=self.server
        )

    @staticmethod
    def error_from_response(resp: httpx.Response) -> ApiError:
        """The ApiError a failed response stands for (its `Status` body, or its code)."""
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("kind") == "Status":
            body.setdefault("code", resp.status_code)
            return ApiError.from_status(body)
        text = resp.text.strip() if resp.text else ""
        return ApiError.from_status(
            {"code": resp.status_code, "message": text or resp.reason_phrase or "error"}
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str | None = None,
    ) -> httpx.Response:
        """One request; raises the ApiError of a failed answer, ConnectionFailed if none came."""
        if self._lean is not None:
            answer = await self._lean_request(method, path, params, body, content_type, accept)
            return answer.response()
        headers: dict[str, str] = {}
        content: bytes | None = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        if accept:
            headers["Accept"] = accept
        log.debug("%s %s %s", method, path, dict(params or {}))
        try:
            resp = await self._http.request(
                method, path, params=params, content=content, headers=headers
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        log.debug("-> %s", resp.status_code)
        if resp.status_code >= 400:
            raise self.error_from_response(resp)
        return resp

    async def _lean_request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Any,
        content_type: str,
        accept: str | None,
    ) -> Answer:
        """`request` straight through the keep-alive pool, without httpx's client.

        httpx's client merges the URL with its base (parsing both), consults its cookie jar,
        runs auth and redirect flows and event hooks per request: about half of a request's
        CPU, none of which this client uses (no cookies, no redirects followed, the token is a
        fixed header). The request sent is the one httpx would send, less Accept-Encoding (so
        the answer comes plain) and Connection (HTTP/1.1 keeps alive by default). Raises as
        `request` does; returns the whole answer."""
        assert self._lean is not None
        log.debug("%s %s %s", method, path, dict(params or {}))
        target = self._prefix + quote(path, safe=PATH_SAFE)
        if params:
            target += "?" + urlencode(params, quote_via=quote)
        sent = [*self._lean_headers, (b"accept", (accept or "application/json").encode())]
        content = b""
        if body is not None:
            content = json.dumps(body).encode()
            sent.append((b"content-type", content_type.encode()))
            sent.append((b"content-length", str(len(content)).encode()))
        elif method in ("POST", "PUT", "PATCH"):
            sent.append((b"content-length", b"0"))
        try:
            answer = await self._lean.send(
                self._origin,
                method.encode(),
                target.encode(),
                sent,
                content,
                connect_timeout=self.timeout,
                read_timeout=self.timeout,
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        log.debug("-> %s", answer.status_code)
        if answer.status_code >= 400:
            raise self.error_from_response(answer.response())
        return answer

    @contextlib.asynccontextmanager
    async def _stream(
        self, path: str, params: Mapping[str, str], accept: str | None
    ) -> AsyncIterator[_Streamed]:
        """A GET whose answer is read line by line as it comes (a watch): through the
        keep-alive pool's stream when lent one, else httpx's. No read timeout."""
        if self._lean is None:
            async with self._http.stream(
                "GET",
                path,
                params=params,
                headers={"Accept": accept} if accept else None,
                timeout=httpx.Timeout(self.timeout, read=None),
            ) as resp:
                yield _HttpxStreamed(resp)
            return
        target = (
            self._prefix + quote(path, safe=PATH_SAFE) + "?" + urlencode(params, quote_via=quote)
        )
        headers = [*self._lean_headers, (b"accept", (accept or "application/json").encode())]
        async with self._lean.stream(
            self._origin, b"GET", target.encode(), headers, connect_timeout=self.timeout
        ) as answer:
            yield _LeanStreamed(answer)

    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str | None = None,
    ) -> Obj:
        if self._lean is not None:
            answer = await self._lean_request(method, path, params, body, content_type, accept)
            # The body as sent (no Accept-Encoding went out): parsed as httpx's `json()`
            # would, without building an httpx.Response for it.
            plain = not any(k == b"content-encoding" for k, _ in answer.headers)
            data = json.loads(answer.content) if plain else answer.response().json()
        else:
            resp = await self.request(
                method, path, params=params, body=body, content_type=content_type, accept=accept
            )
            data = resp.json()
        if not isinstance(data, dict):
            raise BadRequest(f"{method} {path}: the server answered with {type(data).__name__}")
        return data

    # ---- discovery -------------------------------------------------------------------------

    async def discover(self, *, refresh: bool = False) -> ResourceMap:
        """Every resource type the server lists (cached for this client's lifetime)."""
        if self._resources is not None and not refresh:
            return self._resources
        core, groups = await asyncio.gather(self._json("GET", "/api"), self._json("GET", "/apis"))
        paths = [f"/api/{v}" for v in core.get("versions") or ["v1"]]
        for group in groups.get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            versions = group.get("versions") or []
            gv = preferred or (versions[0].get("groupVersion") if versions else None)
            if gv:
                paths.append(f"/apis/{gv}")
        docs = await asyncio.gather(*(self._json("GET", p) for p in paths))
        resources: list[Resource] = []
        for doc in docs:
            resources += parse_resource_list(doc)
        self._resources = ResourceMap(resources)
        return self._resources

    async def resolve(self, kind: str | Resource) -> Resource:
        """The resource type a user-typed name stands for (`cp`, `tenants.axle.dev`, ...)."""
        if isinstance(kind, Resource):
            return kind
        fresh = self._resources is None
        try:
            return (await self.discover()).lookup(kind)
        except UnknownResource:
            if fresh:
                raise
            # The server may have gained kinds since we cached discovery: ask once more.
            return (await self.discover(refresh=True)).lookup(kind)

    async def resolve_object(self, obj: Mapping[str, Any]) -> Resource:
        """The resource type of a manifest, from its `apiVersion` and `kind`."""
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        fresh = self._resources is None
        try:
            return (await self.discover()).for_manifest(api_version, kind)
        except UnknownResource:
            if fresh:
                raise
            return (await self.discover(refresh=True)).for_manifest(api_version, kind)

    def _namespace(
        self, res: Resource, namespace: str | None, all_namespaces: bool = False
    ) -> str | None:
        if not res.namespaced or all_namespaces:
            return None
        return namespace or self.namespace

    async def prepare(self, obj: Mapping[str, Any], namespace: str | None) -> tuple[Resource, Obj]:
        """Resolve a manifest and settle its namespace (the object's own, else the default)."""
        res = await self.resolve_object(obj)
        body: Obj = json.loads(json.dumps(obj))
        meta = body.setdefault("metadata", {})
        if res.namespaced:
            own = meta.get("namespace")
            if own and namespace and own != namespace:
                raise ManifestError(
                    f'the namespace from the provided object "{own}" does not match the '
                    f'namespace "{namespace}". You must pass --namespace={own} to perform this'
                    " operation."
                )
            meta["namespace"] = own or namespace or self.namespace
        else:
            meta.pop("namespace", None)
        # Alias groups (spectrocloud.com) are sent as the group that serves them.
        if body.get("apiVersion") != res.api_version:
            body["apiVersion"] = res.api_version
        return res, body

    @staticmethod
    def _write_params(dry_run: bool, field_manager: str | None = None) -> dict[str, str]:
        params: dict[str, str] = {}
        if dry_run:
            params["dryRun"] = "All"
        if field_manager:
            params["fieldManager"] = field_manager
        return params

    # ---- reads -----------------------------------------------------------------------------

    async def version(self) -> Obj:
        return await self._json("GET", "/version")

    async def get(self, kind: str | Resource, name: str, namespace: str | None = None) -> Obj:
        res = await self.resolve(kind)
        return await self._json("GET", res.path(self._namespace(res, namespace), name))

    async def list(
        self,
        kind: str | Resource,
        namespace: str | None = None,
        all_namespaces: bool = False,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
    ) -> Obj:
        """A `KindList` of every matching object; `limit` is the page size, pages are followed."""
        res = await self.resolve(kind)
        path = res.path(self._namespace(res, namespace, all_namespaces))
        params: dict[str, str] = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if limit:
            params["limit"] = str(limit)
        items: Objs = []
        while True:
            page = await self._json("GET", path, params=params)
            for item in page.get("items") or []:
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", res.kind)
                items.append(item)
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                break
            params["continue"] = str(cont)
        return {
            "apiVersion": res.api_version,
            "kind": f"{res.kind}List",
            "metadata": {"resourceVersion": (page.get("metadata") or {}).get("resourceVersion")},
            "items": items,
        }

    async def table(
        self,
        kind: str | Resource,
        name: str | None = None,
        namespace: str | None = None,
        all_namespaces: bool = False,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Obj:
        """The server's Table (columnDefinitions, rows[].cells, rows[].object), pages merged.

        A server without Table support gets a NAME/AGE table built from its objects.
        """
        res = await self.resolve(kind)
        path = res.path(self._namespace(res, namespace, all_namespaces), name)
        params: dict[str, str] = {}
        if label_selector and name is None:
            params["labelSelector"] = label_selector
        if field_selector and name is None:
            params["fieldSelector"] = field_selector
        table: Obj | None = None
        while True:
            page = await self._json("GET", path, params=params, accept=TABLE_ACCEPT)
            if page.get("kind") != "Table":
                page = fallback_table(res, page)
            if table is None:
                table = page
            else:
                table["rows"] = [*(table.get("rows") or []), *(page.get("rows") or [])]
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                break
            params["continue"] = str(cont)
        table.setdefault("rows", [])
        return table

    async def events_for(self, obj: Mapping[str, Any]) -> Objs:
        """Events whose involvedObject is `obj`, oldest first (kubectl describe's list)."""
        meta = obj.get("metadata") or {}
        name, ns, uid = meta.get("name"), meta.get("namespace"), meta.get("uid")
        kind = str(obj.get("kind", ""))
        selector = _selector(
            f"involvedObject.name={name}",
            f"involvedObject.kind={kind}",
            f"involvedObject.namespace={ns}" if ns else None,
        )
        # The uid is checked here rather than in the selector: events recorded without one
        # (by hand, or by older recorders) still belong to the object.
        scope = {"namespace": ns} if ns else {"all_namespaces": True}
        try:
            events = await self.list("events", field_selector=selector, **scope)
        except BadRequest:
            # A server whose field selectors know only metadata.* : filter here instead.
            events = await self.list("events", **scope)

        def involves(ev: Obj) -> bool:
            inv = ev.get("involvedObject") or ev.get("regarding") or {}
            if uid and inv.get("uid") and inv.get("uid") != uid:
                return False
            return bool(
                inv.get("name") == name
                and inv.get("kind") == kind
                and (not ns or inv.get("namespace") in (ns, None))
            )

        found = [ev for ev in events["items"] if involves(ev)]
        return sorted(found, key=event_time)

    # ---- writes ----------------------------------------------------------------------------

    async def create(
        self, obj: Mapping[str, Any], namespace: str | None = None, *, dry_run: bool = False
    ) -> Obj:
        res, body = await self.prepare(obj, namespace)
        path = res.path(body["metadata"].get("namespace"))
        return await self._json("POST", path, body=body, params=self._write_params(dry_run))

    async def replace(
        self, obj: Mapping[str, Any], namespace: str | None = None, *, dry_run: bool = False
    ) -> Obj:
        res, body = await self.prepare(obj, namespace)
        meta = body["metadata"]
        path = res.path(meta.get("namespace"), meta["name"])
        return await self._json("PUT", path, body=body, params=self._write_params(dry_run))

    async def replace_status(self, obj: Mapping[str, Any]) -> Obj:
        res, body = await self.prepare(obj, None)
        meta = body["metadata"]
        return await self._json(
            "PUT", res.path(meta.get("namespace"), meta["name"], "status"), body=body
        )

    async def patch(
        self,
        kind: str | Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> Obj:
        """PATCH with a JSON merge (default), JSON, strategic merge or apply patch."""
        if patch_type not in PATCH_TYPES:
            raise ValueError(f"patch_type must be one of {sorted(PATCH_TYPES)}")
        res = await self.resolve(kind)
        path = res.path(self._namespace(res, namespace), name, subresource)
        return await self._json(
            "PATCH",
            path,
            body=patch,
            content_type=PATCH_TYPES[patch_type],
            params=self._write_params(dry_run, field_manager),
        )

    async def apply(
        self,
        obj: Mapping[str, Any],
        field_manager: str = "axle",
        force: bool = False,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Server-side apply: the server merges `obj` as owned by `field_manager`."""
        res, body = await self.prepare(obj, namespace)
        meta = body["metadata"]
        params = self._write_params(dry_run, field_manager)
        if force:
            params["force"] = "true"
        return await self._json(
            "PATCH",
            res.path(meta.get("namespace"), meta["name"]),
            body=body,
            content_type=PATCH_TYPES["apply"],
            params=params,
        )

    async def delete(
        self,
        kind: str | Resource,
        name: str,
        namespace: str | None = None,
        propagation: str | None = None,
        *,
        dry_run: bool = False,
    ) -> Obj:
        """Delete one object; returns what the server returns (the object, or a Status)."""
        res = await self.resolve(kind)
        params = self._write_params(dry_run)
        if propagation:
            params["propagationPolicy"] = propagation
        return await self._json(
            "DELETE", res.path(self._namespace(res, namespace), name), params=params
        )

    # ---- watch -----------------------------------------------------------------------------

    async def watch(
        self,
        kind: str | Resource,
        namespace: str | None = None,
        all_namespaces: bool = False,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        *,
        name: str | None = None,
        bookmarks: bool = False,
        max_reconnects: int | None = None,
        as_table: bool = False,
        remember: bool = True,
    ) -> AsyncIterator[Obj]:
        """Watch events (`{"type", "object"}`) forever, surviving disconnects.

        Without `resource_version` it starts with an ADDED event per existing object (from a
        list), then watches from the list's resourceVersion. After a dropped stream it resumes
        from the last resourceVersion seen, so no event is lost or repeated; on 410 Gone (the
        log was compacted) it lists again and yields the difference (ADDED, MODIFIED, DELETED)
        from what it had seen. `max_reconnects` bounds consecutive failed reconnects (None:
        retry forever, with backoff up to 5 s). With `as_table`, streamed events carry a
        one-row Table (the row as of that event, as `kubectl get -w` prints it); events made up
        from a list (the initial one, or after 410) carry the plain object. With
        `remember=False` the watch keeps only each object's identity and resourceVersion for
        that diff (a DELETED event made up after 410 then carries just those): a caller holding
        thousands of objects itself need not have them held twice.
        """
        res = await self.resolve(kind)
        ns = self._namespace(res, namespace, all_namespaces)
        fsel = _selector(field_selector, f"metadata.name={name}" if name else None)
        seen: dict[tuple[str, str], Obj] = {}
        rv = resource_version

        async def relist() -> Objs:
            nonlocal rv
            lst = await self.list(res, ns, all_namespaces or ns is None, label_selector, fsel)
            rv = lst["metadata"].get("resourceVersion") or rv
            now = {_key(o): o for o in lst["items"]}
            out: Objs = []
            for key, o in now.items():
                old = seen.get(key)
                if old is None:
                    out.append({"type": "ADDED", "object": o})
                elif _rv(old) != _rv(o):
                    out.append({"type": "MODIFIED", "object": o})
            out += [{"type": "DELETED", "object": o} for k, o in seen.items() if k not in now]
            seen.clear()
            seen.update(now if remember else {k: _identity(o) for k, o in now.items()})
            return out

        if rv is None:
            for ev in await relist():
                yield ev
        params: dict[str, str] = {"watch": "1", "allowWatchBookmarks": "true"}
        if label_selector:
            params["labelSelector"] = label_selector
        if fsel:
            params["fieldSelector"] = fsel
        path = res.path(ns)
        failures = 0
        backoff = 0.1
        while True:
            params["resourceVersion"] = rv or ""
            gone = False
            got = 0
            try:
                async with self._stream(path, params, TABLE_ACCEPT if as_table else None) as resp:
                    if resp.status_code == 410:
                        gone = True
                    elif resp.status_code >= 400:
                        raise self.error_from_response(await resp.whole())
                    else:
                        failures = 0
                        async for line in resp.lines():
                            if not line.strip():
                                continue
                            event = json.loads(line)
                            etype, obj = event.get("type"), event.get("object") or {}
                            if etype == "ERROR":
                                err = ApiError.from_status(obj)
                                if err.code == 410:
                                    gone = True
                                    break
                                raise err
                            got += 1
                            # A Table event names its object in its row (metadata only).
                            ident = _row_object(obj) if obj.get("kind") == "Table" else obj
                            rv = _rv(ident) or rv
                            if etype == "BOOKMARK":
                                if bookmarks:
                                    yield event
                                continue
                            if ident is obj:
                                obj.setdefault("apiVersion", res.api_version)
                                obj.setdefault("kind", res.kind)
                            if etype == "DELETED":
                                seen.pop(_key(ident), None)
                            else:
                                seen[_key(ident)] = ident if remember else _identity(ident)
                            yield event
            except httpx.TransportError as exc:
                failures += 1
                if max_reconnects is not None and failures > max_reconnects:
                    raise self._unreachable(exc) from exc
                log.debug("watch %s dropped (%s); resuming from %s", path, exc, rv)
            if gone:
                log.debug("watch %s: resourceVersion %s is gone; listing again", path, rv)
                for ev in await relist():
                    yield ev
                continue
            if got:
                backoff = 0.1
            else:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)


class _Streamed(Protocol):
    """A watch's answer as `Client.watch` reads it, from either transport."""

    status_code: int

    async def whole(self) -> httpx.Response:
        """The rest of the answer, whole (an error's Status)."""
        ...

    def lines(self) -> AsyncIterator[str | bytes]:
        """The answer's lines as they arrive."""
        ...


class _HttpxStreamed:
    def __init__(self, resp: httpx.Response) -> None:
        self._resp = resp
        self.status_code = resp.status_code

    async def whole(self) -> httpx.Response:
        await self._resp.aread()
        return self._resp

    def lines(self) -> AsyncIterator[str | bytes]:
        return self._resp.aiter_lines()


class _LeanStreamed:
    def __init__(self, answer: StreamedAnswer) -> None:
        self._answer = answer
        self.status_code = answer.status_code

    async def whole(self) -> httpx.Response:
        return (await self._answer.read()).response()

    def lines(self) -> AsyncIterator[str | bytes]:
        return self._answer.lines()


def _proxied(url: httpx.URL) -> bool:
    """Whether the environment sends requests for `url` through a proxy (as httpx reads it:
    the scheme's proxy or ALL_PROXY, unless NO_PROXY names the host)."""
    proxies = urllib.request.getproxies()
    if not (proxies.get(url.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(url.host)


def _row_object(table: Mapping[str, Any]) -> Obj:
    rows = table.get("rows") or [{}]
    found = rows[0].get("object") or {}
    return dict(found)


def _identity(obj: Mapping[str, Any]) -> Obj:
    """What a watch must remember of an object it need not keep: kind, name, version."""
    meta = obj.get("metadata") or {}
    keep = ("name", "namespace", "uid", "resourceVersion")
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {k: meta[k] for k in keep if k in meta},
    }


def _rv(obj: Mapping[str, Any]) -> str | None:
    value = (obj.get("metadata") or {}).get("resourceVersion")
    return str(value) if value else None


def event_time(ev: Mapping[str, Any]) -> str:
    """When an Event last happened, as a sortable RFC 3339 string."""
    meta = ev.get("metadata") or {}
    return str(
        ev.get("lastTimestamp")
        or ev.get("eventTime")
        or ev.get("firstTimestamp")
        or meta.get("creationTimestamp")
        or ""
    )


def fallback_table(res: Resource, body: Mapping[str, Any]) -> Obj:
    """A NAME/AGE Table for a server that answered a Table request with plain objects."""
    items = body.get("items") if "items" in body else [body]
    rows = []
    for item in items or []:
        meta = item.get("metadata") or {}
        rows.append(
            {"cells": [meta.get("name", ""), meta.get("creationTimestamp", "")], "object": item}
        )
    return {
        "apiVersion": "meta.k8s.io/v1",
        "kind": "Table",
        "metadata": dict(body.get("metadata") or {}) if "items" in body else {},
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "priority": 0},
            {"name": "Age", "type": "date", "format": "", "priority": 0},
        ],
        "rows": rows,
    }
