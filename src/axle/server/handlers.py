"""The resource verbs: get, list, watch, create, update, patch, delete, deletecollection.

One generic implementation serves every registered kind (the registry says what a kind is;
nothing here is per kind). Each write runs the same pipeline as the Kubernetes API server:
decode -> apiVersion normalization -> kind/name/namespace checks against the URL -> defaulting
and validation (`admit`) -> mutating admission plugins -> namespace lifecycle -> validating
admission plugins -> managedFields -> the store. Authentication, authorization and audit
happen around it in `app.py`, so a handler only ever sees an allowed request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from axle.api.admission import admit, normalize_api_version
from axle.api.core import fold_string_data
from axle.api.registry import KindInfo
from axle.errors import (
    AlreadyExists,
    BadRequest,
    Cause,
    Conflict,
    Invalid,
    MethodNotAllowed,
    NotFound,
    UnsupportedMediaType,
)
from axle.server import admission_plugins
from axle.server.apply import server_side_apply, track_update
from axle.server.auth import UserInfo
from axle.server.bodies import (
    PATCH_TYPES,
    Accept,
    decode,
    decode_object,
    dumps,
    media_type,
    read_body,
)
from axle.server.listtypes import is_builtin
from axle.server.namespaces import NamespaceIndex
from axle.server.patch import apply_patch
from axle.server.rbac import Authorizer
from axle.server.requestinfo import RequestInfo
from axle.server.resources import RouteTable, Served
from axle.server.tables import TableConverter
from axle.server.watch import WatchStreams, event_line
from axle.store.base import Obj, Propagation, Store, StoreEvent
from axle.utils.jsoncopy import copy_json

log = logging.getLogger(__name__)

NAMESPACE_KIND = ("", "Namespace")
PATCH_RETRIES = 5
_PROPAGATIONS = ("Background", "Foreground", "Orphan")
_FIELD_VALIDATIONS = ("Strict", "Warn", "Ignore")


class JSONResponse(Response):
    """A response whose body is already JSON bytes (orjson), with Kubernetes' media type."""

    media_type = "application/json"


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(dumps(value), status_code=status, headers=headers)


@dataclass
class Call:
    """One resource request, resolved: what is asked, on which kind, by whom."""

    request: Request
    ri: RequestInfo
    served: Served
    user: UserInfo
    body_limit: int
    accept: Accept = field(default_factory=Accept)
    warnings: list[str] = field(default_factory=list)

    @property
    def info(self) -> KindInfo:
        return self.served.info

    @property
    def namespace(self) -> str | None:
        """The namespace the store is asked about (None for cluster-scoped kinds)."""
        if not self.info.namespaced:
            return None
        return self.ri.namespace or None

    @property
    def dry_run(self) -> bool:
        value = self.ri.query.get("dryRun")
        if value is None:
            return False
        if value != "All":
            raise BadRequest(f"unsupported dryRun value {value!r}; only 'All' is supported")
        return True

    @property
    def field_manager(self) -> str:
        manager = self.ri.query.get("fieldManager")
        if manager:
            if len(manager) > 128:
                raise BadRequest("fieldManager must be no more than 128 characters")
            return manager
        agent = self.request.headers.get("user-agent", "")
        return agent.split("/", 1)[0][:128] or "unknown"

    @property
    def field_validation(self) -> str:
        value = self.ri.query.get("fieldValidation") or "Strict"
        if value not in _FIELD_VALIDATIONS:
            raise BadRequest(
                f"invalid fieldValidation {value!r}; must be one of Strict, Warn, Ignore"
            )
        return value

    def check_params(self) -> None:
        """Refuse bad write parameters before any work is done."""
        # Each property raises BadRequest on a bad value.
        _ = (self.dry_run, self.field_validation, self.field_manager)

    def out(self, obj: Obj) -> Obj:
        """An object as this URL serves it (alias groups carry their own apiVersion)."""
        if self.served.is_alias:
            return {**obj, "apiVersion": self.served.api_version}
        return obj

    async def body(self) -> bytes:
        return await read_body(
            self.request.stream(), self.request.headers.get("content-length"), self.body_limit
        )


class ResourceHandlers:
    """The verbs over the store, shared by all kinds."""

    def __init__(
        self,
        store: Store,
        routes: RouteTable,
        watches: WatchStreams,
        authorizer: Authorizer | None = None,
        namespaces: NamespaceIndex | None = None,
    ) -> None:
        self.store = store
        self.routes = routes
        self.watches = watches
        # Admission asks it whether a writer of Roles and bindings holds what they grant.
        self.authorizer = authorizer
        # Admission asks it whether the namespace of an update exists (else the store).
        self.namespaces = namespaces
        self._tables: dict[tuple[str, str], TableConverter] = {}

    def table_converter(self, info: KindInfo) -> TableConverter:
        conv = self._tables.get(info.group_kind)
        if conv is None:
            conv = self._tables[info.group_kind] = TableConverter(info)
        return conv

    # --- dispatch ---------------------------------------------------------------------------

    async def handle(self, call: Call) -> Response:
        ri = call.ri
        info = call.info
        if ri.verb not in info.verbs and not (
            ri.subresource and ri.verb in ("get", "patch", "update")
        ):
            raise MethodNotAllowed(
                f"{ri.verb} is not supported on {info.plural}", kind=info.kind, group=info.group
            )
        if ri.subresource:
            if ri.subresource != "status" or not info.has_status:
                raise NotFound(
                    f"the server could not find the requested resource ({ri.subresource} of "
                    f"{info.plural})"
                )
            if ri.verb not in ("get", "update", "patch"):
                raise MethodNotAllowed(f"{ri.verb} is not supported on {info.plural}/status")
        self._check_scope(call)
        verb = ri.verb
        if verb == "get":
            return await self.get(call)
        if verb == "list":
            return await self.list(call)
        if verb == "watch":
            return await self.watch(call)
        if verb == "create":
            return await self.create(call)
        if verb == "update":
            return await self.update(call)
        if verb == "patch":
            return await self.patch(call)
        if verb == "delete":
            return await self.delete(call)
        if verb == "deletecollection":
            return await self.delete_collection(call)
        raise MethodNotAllowed(f"method {ri.method} is not supported")

    def _check_scope(self, call: Call) -> None:
        ri, info = call.ri, call.info
        if info.namespaced:
            if not ri.namespace and (ri.name or ri.verb == "create"):
                raise NotFound(
                    f"{info.plural} is namespaced: the request needs a namespace "
                    f"(/namespaces/NAMESPACE/{info.plural})"
                )
        elif ri.namespace and info.group_kind != NAMESPACE_KIND:
            raise NotFound(f"{info.plural} is not namespaced: drop /namespaces/{ri.namespace}")

    # --- reads ------------------------------------------------------------------------------

    async def get(self, call: Call) -> Response:
        obj = await self.store.get(call.info, call.namespace, call.ri.name)
        return self._object_response(call, obj)

    async def list(self, call: Call) -> Response:
        q = call.ri.query
        limit = _int_param(q, "limit")
        result = await self.store.list(
            call.info,
            call.namespace,
            label_selector=q.get("labelSelector") or None,
            field_selector=q.get("fieldSelector") or None,
            limit=limit if limit and limit > 0 else None,
            continue_token=q.get("continue") or None,
        )
        meta: dict[str, Any] = {"resourceVersion": result.resource_version}
        if result.continue_token:
            meta["continue"] = result.continue_token
        if result.remaining_item_count is not None:
            meta["remainingItemCount"] = result.remaining_item_count
        items = [call.out(i) for i in result.items]
        if call.accept.table_version:
            conv = self.table_converter(call.info)
            table = conv.table(
                items,
                api_version=call.accept.table_version,
                include_object=_include_object(q),
                list_meta=meta,
            )
            return json_response(table)
        return json_response(
            {
                "kind": f"{call.info.kind}List",
                "apiVersion": call.served.api_version,
                "metadata": meta,
                "items": items,
            }
        )

    async def watch(self, call: Call) -> Response:
        q = call.ri.query
        rv = q.get("resourceVersion") or None
        timeout = _int_param(q, "timeoutSeconds")
        # Gone (and bad selectors) raised while opening the watch become an HTTP error, before
        # any byte of the stream is sent.
        watch = self.store.watch(
            call.info,
            call.namespace,
            label_selector=q.get("labelSelector") or None,
            field_selector=q.get("fieldSelector") or None,
            resource_version=rv,
        )
        served = call.served
        table_version = call.accept.table_version
        include = _include_object(q)
        conv = self.table_converter(call.info) if table_version else None
        encoded = self.watches.encoded

        def encode(event: StoreEvent) -> bytes:
            meta = event.object.get("metadata") or {}
            key = (
                served.api_version,
                table_version,
                include,
                event.type,
                event.resource_version,
                meta.get("uid"),
                meta.get("resourceVersion"),
            )

            def build() -> bytes:
                obj = call.out(event.object)
                if conv is not None and table_version is not None:
                    obj = conv.table([obj], api_version=table_version, include_object=include)
                return event_line(event.type, obj)

            return encoded.get(key, build)

        bookmark = None
        if call.ri.flag("allowWatchBookmarks"):
            kind = call.info.kind
            api_version = served.api_version

            def bookmark(rv_: str) -> bytes:
                return event_line(
                    "BOOKMARK",
                    {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": rv_}},
                )

        return self.watches.response(
            watch,
            encode=encode,
            bookmark=bookmark,
            timeout_seconds=float(timeout) if timeout and timeout > 0 else None,
            start_rv=rv,
            headers={"Cache-Control": "no-cache, private", "X-Content-Type-Options": "nosniff"},
        )

    def _object_response(self, call: Call, obj: Obj, status: int = 200) -> Response:
        obj = call.out(obj)
        headers = _warning_headers(call.warnings)
        if call.accept.table_version:
            conv = self.table_converter(call.info)
            table = conv.table(
                [obj],
                api_version=call.accept.table_version,
                include_object=_include_object(call.ri.query),
            )
            return json_response(table, status, headers)
        return json_response(obj, status, headers)

    # --- writes -----------------------------------------------------------------------------

    def _prepare(self, call: Call, obj: Obj) -> Obj:
        """Normalize apiVersion and check kind, name and namespace against the URL."""
        info = call.info
        obj.setdefault("apiVersion", info.api_version)
        obj.setdefault("kind", info.kind)
        if not isinstance(obj.get("apiVersion"), str) or not isinstance(obj.get("kind"), str):
            raise BadRequest("apiVersion and kind must be strings")
        obj = normalize_api_version(obj)
        if obj.get("kind") != info.kind or obj.get("apiVersion") != info.api_version:
            raise BadRequest(
                f"the API version in the data ({obj.get('apiVersion')}) and kind "
                f"({obj.get('kind')}) do not match the expected {info.api_version} "
                f"{info.kind}",
                kind=info.kind,
                group=info.group,
            )
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise Invalid(
                f"{info.kind} is invalid: metadata must be an object",
                kind=info.kind,
                group=info.group,
                causes=[Cause("metadata", "Invalid value: must be an object")],
            )
        if info.namespaced:
            ns = meta.get("namespace")
            if ns in (None, ""):
                meta["namespace"] = call.ri.namespace
            elif ns != call.ri.namespace:
                raise BadRequest(
                    "the namespace of the provided object does not match the namespace sent "
                    f"on the request ({ns!r} != {call.ri.namespace!r})"
                )
        else:
            meta.pop("namespace", None)
        if call.ri.name:
            name = meta.get("name")
            if name in (None, ""):
                meta["name"] = call.ri.name
            elif name != call.ri.name:
                raise BadRequest(
                    f"the name of the object ({name}) does not match the name on the URL "
                    f"({call.ri.name})"
                )
        return obj

    def _admit(self, call: Call, obj: Obj, old: Obj | None, subresource: str | None) -> Obj:
        """Defaulting and validation, honouring `fieldValidation` for unknown fields."""
        mode = call.field_validation
        try:
            return admit(call.info, obj, old, subresource=subresource)
        except Invalid as exc:
            unknown = [c for c in exc.causes if _is_unknown_field(c)]
            if mode == "Strict" or not unknown or len(unknown) != len(exc.causes):
                raise
            # `obj` may share values with the stored object (see `_update_object`): drop the
            # unknown fields from a private copy.
            obj = copy_json(obj)
            for cause in unknown:
                _drop_path(obj, cause.field)
                if mode == "Warn":
                    call.warnings.append(f'unknown field "{cause.field}"')
            return admit(call.info, obj, old, subresource=subresource)

    async def _create_object(self, call: Call, obj: Obj) -> Obj:
        info = call.info
        obj = self._admit(call, obj, None, None)
        # The plugins also enforce NamespaceLifecycle (the namespace exists and is not
        # terminating), except that a Project creates its own namespace.
        dry_run = call.dry_run
        obj = await admission_plugins.mutate_admission(
            self.store, info, obj, None, "CREATE", call.user, dry_run=dry_run
        )
        await admission_plugins.validate_admission(
            self.store,
            info,
            obj,
            None,
            "CREATE",
            call.user,
            dry_run=dry_run,
            authorizer=self.authorizer,
            namespaces=self.namespaces,
        )
        return obj

    async def create(self, call: Call) -> Response:
        call.check_params()
        dry_run = call.dry_run
        obj = self._prepare(call, decode_object(await call.body(), _content_type(call)))
        if call.ri.name:
            raise MethodNotAllowed("create must be sent to the collection, not to a name")
        obj = await self._create_object(call, obj)
        obj = track_update(
            call.info, None, obj, manager=call.field_manager, operation="Update", subresource=None
        )
        created = await self.store.create(call.info, obj, dry_run=dry_run)
        return self._object_response(call, created, 201)

    async def _update_object(
        self, call: Call, new: Obj, current: Obj, *, operation: str, manager: str
    ) -> Obj:
        """Run the update pipeline on a complete new object; returns the stored result."""
        info = call.info
        sub: Literal["status"] | None = "status" if call.ri.subresource == "status" else None
        # The objects built here share values with `current` instead of copying them: `admit`
        # copies its input before changing anything, and `current` (the store's answer to
        # this request) is not changed either.
        if sub == "status":
            # The status subresource changes status only: everything else comes from the
            # stored object (`admit` takes it from `current`, and the store enforces it too),
            # so what goes to `admit` is the new status and the resourceVersion to
            # compare-and-swap on, with the type it checks; not a copy of the whole object.
            merged: Obj = {"apiVersion": current.get("apiVersion"), "kind": current.get("kind")}
            merged["metadata"] = {}
            rv = (new.get("metadata") or {}).get("resourceVersion")
            if rv:
                merged["metadata"]["resourceVersion"] = rv
            if new.get("status") is not None:
                merged["status"] = new["status"]
            new = merged
        elif info.has_status:
            if "status" in current:
                new["status"] = current["status"]
            else:
                new.pop("status", None)
        new = self._admit(call, new, current, sub)
        new = await admission_plugins.mutate_admission(
            self.store, info, new, current, "UPDATE", call.user, dry_run=call.dry_run
        )
        await admission_plugins.validate_admission(
            self.store,
            info,
            new,
            current,
            "UPDATE",
            call.user,
            dry_run=call.dry_run,
            authorizer=self.authorizer,
            namespaces=self.namespaces,
        )
        if operation != "Apply":
            new = track_update(
                info, current, new, manager=manager, operation="Update", subresource=sub
            )
        stored = await self.store.update(info, new, subresource=sub, dry_run=call.dry_run)
        if call.dry_run:
            # Nothing was written, so the object is still at the live resourceVersion, as the
            # API server answers (`kubectl diff` compares it with the live object).
            live_rv = (current.get("metadata") or {}).get("resourceVersion")
            stored = {**stored, "metadata": {**stored["metadata"], "resourceVersion": live_rv}}
        return stored

    async def update(self, call: Call) -> Response:
        call.check_params()
        new = self._prepare(call, decode_object(await call.body(), _content_type(call)))
        current = await self.store.get(call.info, call.namespace, call.ri.name)
        stored = await self._update_object(
            call, new, current, operation="Update", manager=call.field_manager
        )
        return self._object_response(call, stored)

    async def patch(self, call: Call) -> Response:
        call.check_params()
        ctype = media_type(call.request.headers.get("content-type"))
        if ctype not in PATCH_TYPES:
            raise UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(sorted(PATCH_TYPES))}"
            )
        body = await call.body()
        if ctype == "application/apply-patch+yaml":
            return await self._apply(call, body)
        for attempt in range(PATCH_RETRIES):
            current = await self.store.get(call.info, call.namespace, call.ri.name)
            # `apply_patch` leaves `current` as it is and returns a new object.
            patched = apply_patch(call.info, current, body, ctype)
            if not isinstance(patched, dict):
                raise BadRequest("the patch must produce an object")
            pinned = (patched.get("metadata") or {}).get("resourceVersion") != (
                current.get("metadata") or {}
            ).get("resourceVersion")
            patched = self._prepare(call, patched)
            if not pinned:
                patched["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            try:
                stored = await self._update_object(
                    call, patched, current, operation="Update", manager=call.field_manager
                )
            except Conflict:
                # A patch names no resourceVersion, so a concurrent write is not the
                # client's conflict: re-read and re-apply, as the API server does.
                if pinned or attempt == PATCH_RETRIES - 1:
                    raise
                continue
            return self._object_response(call, stored)
        raise Conflict("the object kept changing while the patch was applied")

    async def _apply(self, call: Call, body: bytes) -> Response:
        """Server-side apply: create when absent, otherwise merge by field ownership."""
        if not call.ri.query.get("fieldManager"):
            raise BadRequest("PATCH with application/apply-patch+yaml requires fieldManager")
        manager = call.field_manager
        force = call.ri.flag("force")
        applied = decode(body, "application/apply-patch+yaml")
        if not isinstance(applied, dict):
            raise BadRequest("an applied configuration must be an object")
        applied = self._prepare(call, applied)
        if call.info.group_kind == ("", "Secret"):
            fold_string_data(applied)
        for attempt in range(PATCH_RETRIES):
            try:
                current: Obj | None = await self.store.get(call.info, call.namespace, call.ri.name)
            except NotFound:
                current = None
            if call.ri.subresource and current is None:
                raise NotFound(
                    f'{call.info.plural} "{call.ri.name}" not found',
                    kind=call.info.plural,
                    name=call.ri.name,
                )
            # A Conflict from here is a field-ownership conflict: the client's to resolve.
            result = server_side_apply(
                call.info,
                copy_json(current) if current is not None else None,
                copy_json(applied),
                manager=manager,
                force=force,
            )
            result = self._prepare(call, result)
            try:
                if current is None:
                    obj = await self._create_object(call, result)
                    stored = await self.store.create(call.info, obj, dry_run=call.dry_run)
                    return self._object_response(call, stored, 201)
                result.setdefault("metadata", {})["resourceVersion"] = current["metadata"][
                    "resourceVersion"
                ]
                stored = await self._update_object(
                    call, result, current, operation="Apply", manager=manager
                )
                return self._object_response(call, stored)
            except (Conflict, AlreadyExists):
                # Someone else wrote the object between our read and our write (or created it
                # first): re-read and apply again, as the API server does.
                if attempt == PATCH_RETRIES - 1:
                    raise
        raise Conflict("the object kept changing while it was applied")

    # --- deletes ----------------------------------------------------------------------------

    async def _delete_options(self, call: Call) -> dict[str, Any]:
        q = call.ri.query
        opts: dict[str, Any] = {}
        body = await call.body()
        if body.strip():
            decoded = decode(body, _content_type(call))
            if not isinstance(decoded, dict):
                raise BadRequest("DeleteOptions must be an object")
            opts = decoded
        propagation = q.get("propagationPolicy") or opts.get("propagationPolicy")
        if propagation is None and opts.get("orphanDependents") is True:
            propagation = "Orphan"
        if propagation is None and q.get("orphanDependents") in ("true", "1"):
            propagation = "Orphan"
        propagation = propagation or "Background"
        if propagation not in _PROPAGATIONS:
            raise BadRequest(
                f"invalid propagationPolicy {propagation!r}; must be one of "
                "Background, Foreground, Orphan"
            )
        dry = opts.get("dryRun")
        dry_run = call.dry_run
        if dry:
            if dry != ["All"]:
                raise BadRequest(f"unsupported dryRun value {dry!r}; only ['All'] is supported")
            dry_run = True
        pre = opts.get("preconditions") or {}
        if not isinstance(pre, dict):
            raise BadRequest("preconditions must be an object")
        return {
            "propagation": propagation,
            "dry_run": dry_run,
            "uid": pre.get("uid"),
            "resource_version": pre.get("resourceVersion"),
        }

    async def _delete_one(
        self, call: Call, namespace: str | None, name: str, opts: dict[str, Any]
    ) -> tuple[Obj, bool]:
        """Delete one object; returns it and whether it is gone (not held by finalizers)."""
        info = call.info
        current = await self.store.get(info, namespace, name)
        await admission_plugins.validate_admission(
            self.store,
            info,
            current,
            current,
            "DELETE",
            call.user,
            dry_run=opts["dry_run"],
            authorizer=self.authorizer,
            namespaces=self.namespaces,
        )
        propagation: Propagation = opts["propagation"]
        obj = await self.store.delete(
            info,
            namespace,
            name,
            uid=opts["uid"],
            resource_version=opts["resource_version"],
            propagation=propagation,
            dry_run=opts["dry_run"],
        )
        meta = obj.get("metadata") or {}
        pending = bool(meta.get("deletionTimestamp") and meta.get("finalizers"))
        return obj, not pending

    async def delete(self, call: Call) -> Response:
        opts = await self._delete_options(call)
        obj, gone = await self._delete_one(call, call.namespace, call.ri.name, opts)
        if not gone or not is_builtin(call.info):
            # Still held by finalizers: the object as it now is. axle's own kinds are served
            # like custom resources, which answer an immediate delete with the object too.
            return self._object_response(call, obj, 200)
        # Kubernetes' own kinds answer an immediate delete with a Status naming the object.
        meta = obj.get("metadata") or {}
        return json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": meta.get("name", call.ri.name),
                    "group": call.served.group,
                    "kind": call.info.plural,
                    "uid": meta.get("uid"),
                },
            }
        )

    async def delete_collection(self, call: Call) -> Response:
        opts = await self._delete_options(call)
        q = call.ri.query
        result = await self.store.list(
            call.info,
            call.namespace,
            label_selector=q.get("labelSelector") or None,
            field_selector=q.get("fieldSelector") or None,
        )
        deleted: list[Obj] = []
        for item in result.items:
            meta = item.get("metadata") or {}
            try:
                obj, _ = await self._delete_one(
                    call, meta.get("namespace") or None, meta["name"], opts
                )
            except NotFound:
                continue  # deleted meanwhile (e.g. by garbage collection of its owner)
            deleted.append(call.out(obj))
        return json_response(
            {
                "kind": f"{call.info.kind}List",
                "apiVersion": call.served.api_version,
                "metadata": {"resourceVersion": result.resource_version},
                "items": deleted,
            }
        )


def _content_type(call: Call) -> str | None:
    return call.request.headers.get("content-type")


def _int_param(q: dict[str, str], key: str) -> int | None:
    value = q.get(key)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise BadRequest(f"{key} must be an integer, not {value!r}") from exc


def _include_object(q: dict[str, str]) -> str:
    value = q.get("includeObject") or "Metadata"
    if value not in ("None", "Metadata", "Object"):
        raise BadRequest(f"includeObject must be None, Metadata or Object, not {value!r}")
    return value


def _warning_headers(warnings: list[str]) -> dict[str, str] | None:
    if not warnings:
        return None
    # RFC 7234 warn-code 299, as the API server sends field-validation warnings.
    return {"Warning": ", ".join(f'299 - "{_quote(w)}"' for w in warnings)}


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _is_unknown_field(cause: Cause) -> bool:
    # admission reports a field the schema does not declare with this wording.
    return cause.message.endswith("field not declared in schema")


def _drop_path(obj: Obj, path: str) -> None:
    """Remove `a.b.c` (or `a.b[0].c`) from obj; a missing path is left alone."""
    parts: list[str | int] = []
    for raw in path.replace("]", "").split("."):
        name, _, index = raw.partition("[")
        if name:
            parts.append(name)
        if index:
            parts.append(int(index))
    node: Any = obj
    for key in parts[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return
    last = parts[-1] if parts else None
    if isinstance(node, dict) and isinstance(last, str):
        node.pop(last, None)
