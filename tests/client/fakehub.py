"""A small in-memory Kubernetes-shaped API for client tests, served through httpx.MockTransport.

It implements just enough of the conventions the client relies on (discovery, CRUD, merge patch,
server-side apply as a deep merge, list selectors and pagination, Tables, watch from a
resourceVersion with 410 after compaction, Status errors) to test the client without the real
hub. Watch streams end after the events available at request time, which is exactly a dropped
connection from the client's point of view, so resume logic is exercised on every call.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx

TABLE = "as=Table"


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


KINDS = [
    Kind("", "v1", "Namespace", "namespaces", False, ("ns",)),
    Kind("", "v1", "Secret", "secrets", True),
    Kind("", "v1", "Event", "events", True, ("ev",)),
    Kind("axle.dev", "v1alpha1", "Tenant", "tenants", False, ("tn",)),
    Kind("axle.dev", "v1alpha1", "Project", "projects", True, ("proj",)),
    Kind("axle.dev", "v1alpha1", "ComputePool", "computepools", True, ("cp",)),
]


def status(code: int, reason: str, message: str, **details: Any) -> httpx.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return httpx.Response(code, json=body)


def merge(base: Any, patch: Any) -> Any:
    if not isinstance(patch, dict) or not isinstance(base, dict):
        return copy.deepcopy(patch)
    out = dict(base)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge(base.get(k), v)
    return out


class FakeHub:
    def __init__(self, token: str = "secret") -> None:
        self.token = token
        self.rv = 0
        self.objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.log: list[tuple[int, str, Kind, dict[str, Any]]] = []
        self.compacted = 0  # watch from a resourceVersion below this gets 410
        self.requests: list[httpx.Request] = []
        self.table_support = True
        self.field_selectors = {"metadata.name", "metadata.namespace"}
        self.gone_as_event = False

    # ---- helpers --------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def put(self, kind: Kind, obj: dict[str, Any], etype: str) -> dict[str, Any]:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        meta = obj["metadata"]
        key = (kind.group, kind.plural, meta.get("namespace", ""), meta["name"])
        if etype == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        self.log.append((self.rv, etype, kind, copy.deepcopy(obj)))
        return obj

    def seed(self, kind_name: str, name: str, namespace: str = "", **fields: Any) -> dict[str, Any]:
        kind = next(k for k in KINDS if k.kind == kind_name)
        meta: dict[str, Any] = {
            "name": name,
            "uid": f"uid-{name}",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        }
        if namespace:
            meta["namespace"] = namespace
        meta.update(fields.pop("metadata", {}))
        obj = {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": meta, **fields}
        return self.put(kind, obj, "ADDED")

    def kind(self, kind_name: str) -> Kind:
        return next(k for k in KINDS if k.kind == kind_name)

    def update(
        self, kind_name: str, name: str, namespace: str = "", **fields: Any
    ) -> dict[str, Any]:
        kind = self.kind(kind_name)
        obj = copy.deepcopy(self.objects[(kind.group, kind.plural, namespace, name)])
        obj.update(fields)
        return self.put(kind, obj, "MODIFIED")

    def remove(self, kind_name: str, name: str, namespace: str = "") -> dict[str, Any]:
        kind = self.kind(kind_name)
        obj = copy.deepcopy(self.objects[(kind.group, kind.plural, namespace, name)])
        return self.put(kind, obj, "DELETED")

    # ---- routing --------------------------------------------------------------------------

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/version":
            return httpx.Response(200, json={"gitVersion": "v0.1.0-fake", "platform": "test"})
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return status(401, "Unauthorized", "Unauthorized")
        if path == "/api":
            return httpx.Response(200, json={"kind": "APIVersions", "versions": ["v1"]})
        if path == "/apis":
            groups = sorted({k.group for k in KINDS if k.group})
            return httpx.Response(
                200,
                json={
                    "kind": "APIGroupList",
                    "groups": [
                        {
                            "name": g,
                            "versions": [{"groupVersion": f"{g}/v1alpha1", "version": "v1alpha1"}],
                            "preferredVersion": {"groupVersion": f"{g}/v1alpha1"},
                        }
                        for g in groups
                    ],
                },
            )
        parts = path.strip("/").split("/")
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        else:
            group, version, rest = parts[1], parts[2], parts[3:]
        if not rest:
            return self.discovery(group, version)
        ns = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        kind = next((k for k in KINDS if k.group == group and k.plural == rest[0]), None)
        if kind is None:
            return status(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        params = {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}
        if name is None and request.method == "GET":
            if params.get("watch"):
                as_table = TABLE in request.headers.get("accept", "") and self.table_support
                return self.watch(kind, ns, params, as_table)
            return self.list(kind, ns, params, TABLE in request.headers.get("accept", ""))
        if name is None and request.method == "POST":
            return self.create(kind, ns, json.loads(request.content), params)
        assert name is not None
        key = (group, kind.plural, ns, name)
        if request.method == "GET":
            if key not in self.objects:
                return self.not_found(kind, name)
            obj = self.objects[key]
            if TABLE in request.headers.get("accept", "") and self.table_support:
                return httpx.Response(200, json=self.table(kind, [obj]))
            return httpx.Response(200, json=obj)
        if request.method == "DELETE":
            if key not in self.objects:
                return self.not_found(kind, name)
            obj = copy.deepcopy(self.objects[key])
            if params.get("dryRun"):
                return httpx.Response(200, json=obj)
            return httpx.Response(200, json=self.put(kind, obj, "DELETED"))
        if request.method == "PUT":
            body = json.loads(request.content)
            if key not in self.objects:
                return self.not_found(kind, name)
            if body["metadata"].get("resourceVersion") not in (
                None,
                self.objects[key]["metadata"]["resourceVersion"],
            ):
                return status(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {kind.plural} "{name}": '
                    "the object has been modified",
                )
            return httpx.Response(200, json=self.put(kind, body, "MODIFIED"))
        if request.method == "PATCH":
            ctype = request.headers.get("content-type", "")
            body = json.loads(request.content)
            if ctype == "application/apply-patch+yaml":
                if params.get("fieldManager") != "axle" and "fieldManager" not in params:
                    return status(400, "BadRequest", "fieldManager is required for apply")
                if key not in self.objects:
                    if params.get("dryRun"):
                        return httpx.Response(201, json=body)
                    return self.create(kind, ns, body, params)
            elif key not in self.objects:
                return self.not_found(kind, name)
            old = self.objects[key]
            new = merge(old, body)
            if new == old:
                return httpx.Response(200, json=old)
            if params.get("dryRun"):
                return httpx.Response(200, json=new)
            return httpx.Response(200, json=self.put(kind, new, "MODIFIED"))
        return status(405, "MethodNotAllowed", "method not allowed")

    def not_found(self, kind: Kind, name: str) -> httpx.Response:
        qualified = f"{kind.plural}.{kind.group}" if kind.group else kind.plural
        return status(
            404, "NotFound", f'{qualified} "{name}" not found', name=name, kind=kind.plural
        )

    def discovery(self, group: str, version: str) -> httpx.Response:
        gv = f"{group}/{version}" if group else version
        resources = []
        for k in KINDS:
            if k.group != group:
                continue
            resources.append(
                {
                    "name": k.plural,
                    "singularName": k.kind.lower(),
                    "namespaced": k.namespaced,
                    "kind": k.kind,
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                    "shortNames": list(k.short),
                }
            )
            resources.append(
                {"name": f"{k.plural}/status", "namespaced": k.namespaced, "kind": k.kind}
            )
        return httpx.Response(
            200, json={"kind": "APIResourceList", "groupVersion": gv, "resources": resources}
        )

    def create(
        self, kind: Kind, ns: str, body: dict[str, Any], params: dict[str, str]
    ) -> httpx.Response:
        meta = body.setdefault("metadata", {})
        name = meta.get("name", "")
        if not name or name != name.lower():
            return status(
                422,
                "Invalid",
                f'{kind.kind} "{name}" is invalid: metadata.name: Invalid value: "{name}": '
                "must be lowercase",
                causes=[
                    {
                        "field": "metadata.name",
                        "message": "must be lowercase",
                        "reason": "FieldValueInvalid",
                    }
                ],
            )
        if kind.namespaced:
            meta["namespace"] = ns
        key = (kind.group, kind.plural, ns if kind.namespaced else "", name)
        if key in self.objects:
            return status(
                409, "AlreadyExists", f'{kind.plural}.{kind.group} "{name}" already exists'
            )
        meta.setdefault("uid", f"uid-{name}")
        meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        if params.get("dryRun"):
            return httpx.Response(201, json=body)
        return httpx.Response(201, json=self.put(kind, body, "ADDED"))

    def matching(
        self, kind: Kind, ns: str, params: dict[str, str]
    ) -> list[dict[str, Any]] | httpx.Response:
        items = [
            o
            for (g, p, n, _), o in sorted(self.objects.items())
            if g == kind.group and p == kind.plural and (not ns or n == ns)
        ]
        for term in filter(None, params.get("labelSelector", "").split(",")):
            k, _, v = term.partition("=")
            items = [o for o in items if (o["metadata"].get("labels") or {}).get(k) == v]
        for term in filter(None, params.get("fieldSelector", "").split(",")):
            k, _, v = term.partition("=")
            if k not in self.field_selectors:
                return status(400, "BadRequest", f"field label not supported: {k}")
            if k.startswith("involvedObject."):
                field = k.split(".", 1)[1]
                items = [o for o in items if str((o.get("involvedObject") or {}).get(field)) == v]
            else:
                field = k.split(".", 1)[1]
                items = [o for o in items if o["metadata"].get(field, "") == v]
        return items

    def list(self, kind: Kind, ns: str, params: dict[str, str], table: bool) -> httpx.Response:
        items = self.matching(kind, ns, params)
        if isinstance(items, httpx.Response):
            return items
        start = int(params.get("continue") or 0)
        limit = int(params.get("limit") or 0)
        page = items[start : start + limit] if limit else items[start:]
        cont = str(start + limit) if limit and start + limit < len(items) else None
        meta: dict[str, Any] = {"resourceVersion": str(self.rv)}
        if cont:
            meta["continue"] = cont
        if table and self.table_support:
            body = self.table(kind, page)
            body["metadata"] = meta
            return httpx.Response(200, json=body)
        # Items of a list carry no apiVersion/kind, as in Kubernetes.
        stripped = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in page]
        return httpx.Response(
            200,
            json={
                "apiVersion": kind.api_version,
                "kind": f"{kind.kind}List",
                "metadata": meta,
                "items": stripped,
            },
        )

    def table(self, kind: Kind, objs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "apiVersion": "meta.k8s.io/v1",
            "kind": "Table",
            "metadata": {"resourceVersion": str(self.rv)},
            "columnDefinitions": [
                {"name": "Name", "type": "string", "format": "name", "priority": 0},
                {"name": "Status", "type": "string", "format": "", "priority": 0},
                {"name": "Age", "type": "date", "format": "", "priority": 0},
                {"name": "Message", "type": "string", "format": "", "priority": 1},
            ],
            "rows": [
                {
                    "cells": [
                        o["metadata"]["name"],
                        (o.get("status") or {}).get("phase", ""),
                        o["metadata"].get("creationTimestamp", ""),
                        (o.get("status") or {}).get("message", ""),
                    ],
                    "object": {
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": o["metadata"],
                    },
                }
                for o in objs
            ],
        }

    def watch(
        self, kind: Kind, ns: str, params: dict[str, str], as_table: bool = False
    ) -> httpx.Response:
        since = int(params.get("resourceVersion") or 0)
        if since < self.compacted:
            if self.gone_as_event:
                line = {
                    "type": "ERROR",
                    "object": json.loads(
                        status(410, "Expired", "too old resource version").content
                    ),
                }
                return httpx.Response(200, content=(json.dumps(line) + "\n").encode())
            return status(410, "Expired", f"too old resource version: {since} ({self.compacted})")
        events = [
            {"type": t, "object": o}
            for rv, t, k, o in self.log
            if rv > since and k == kind and (not ns or o["metadata"].get("namespace") == ns)
        ]
        name = next(
            (
                t.split("=", 1)[1]
                for t in params.get("fieldSelector", "").split(",")
                if t.startswith("metadata.name=")
            ),
            None,
        )
        if name:
            events = [e for e in events if e["object"]["metadata"]["name"] == name]

        if as_table:
            events = [
                {"type": e["type"], "object": self.table(kind, [e["object"]])} for e in events
            ]

        async def stream() -> AsyncIterator[bytes]:
            for ev in events:
                yield (json.dumps(ev) + "\n").encode()

        return httpx.Response(200, content=stream())
