"""OpenAPI documents: `/openapi/v2` (Swagger 2.0) and `/openapi/v3` (index + one per group/version).

kubectl reads them for `explain`, and (v3) to find out whether the server validates fields
itself: it looks for a PATCH operation carrying `x-kubernetes-group-version-kind` and a
`fieldValidation` query parameter, and when it finds one it sends `fieldValidation=Strict`
instead of validating client-side. Kind schemas come from `axle.api.schema.openapi_schema`;
their local definitions (`$defs`) are hoisted into `components/schemas` with references
rewritten, as the API server publishes them. Everything is rendered once at start-up.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import orjson

from axle.api.registry import KindInfo
from axle.api.schema import openapi_schema
from axle.server.listtypes import is_builtin, openapi_extensions
from axle.server.resources import RouteTable, Served

V3_REF = "#/components/schemas/"
V2_REF = "#/definitions/"

_STATUS_SCHEMA = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
_PATCH_SCHEMA = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
_DELETE_OPTIONS = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"


def schema_name(group: str, version: str, kind: str) -> str:
    """The definition name the API server uses: reversed group domain, version, kind."""
    if not group:
        return f"io.k8s.api.core.{version}.{kind}"
    if group.endswith(".k8s.io"):
        prefix = group[: -len(".k8s.io")].split(".")[0]
        return f"io.k8s.api.{prefix}.{version}.{kind}"
    return ".".join([*reversed(group.split(".")), version, kind])


def _base_schemas() -> dict[str, Any]:
    return {
        _STATUS_SCHEMA: {
            "description": "Status is a return value for calls that don't return other objects.",
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "code": {"type": "integer", "format": "int32"},
                "message": {"type": "string"},
                "reason": {"type": "string"},
                "status": {"type": "string"},
                "details": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
            "x-kubernetes-group-version-kind": [{"group": "", "kind": "Status", "version": "v1"}],
        },
        _PATCH_SCHEMA: {
            "description": "Patch is provided to give a concrete name and type to the "
            "Kubernetes PATCH request body.",
            "type": "object",
        },
        _DELETE_OPTIONS: {
            "description": "DeleteOptions may be provided when deleting an API object.",
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "dryRun": {"type": "array", "items": {"type": "string"}},
                "gracePeriodSeconds": {"type": "integer", "format": "int64"},
                "orphanDependents": {"type": "boolean"},
                "propagationPolicy": {"type": "string"},
                "preconditions": {
                    "type": "object",
                    "properties": {
                        "resourceVersion": {"type": "string"},
                        "uid": {"type": "string"},
                    },
                },
            },
        },
    }


def _hoist(schema: dict[str, Any], name: str, out: dict[str, Any]) -> dict[str, Any]:
    """Move `$defs`/`definitions` into `out` under `name.Def`, rewriting references."""
    schema = copy.deepcopy(schema)
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        defs.update(schema.pop(key, None) or {})
    renames = {d: f"{name}.{d}" for d in defs}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            for key in ("$defs", "definitions"):
                nested = node.pop(key, None)
                if isinstance(nested, dict):
                    for d, body in nested.items():
                        renames.setdefault(d, f"{name}.{d}")
                        defs.setdefault(d, body)
            result: dict[str, Any] = {}
            for k, v in node.items():
                if k == "$ref" and isinstance(v, str):
                    target = v.rsplit("/", 1)[-1]
                    if v.startswith(("#/$defs/", "#/definitions/")):
                        result[k] = V3_REF + renames.setdefault(target, f"{name}.{target}")
                    elif v == "#":
                        result[k] = V3_REF + name
                    else:
                        result[k] = v
                else:
                    result[k] = rewrite(v)
            return result
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    top: dict[str, Any] = rewrite(schema)
    pending = list(defs)
    done: set[str] = set()
    while pending:
        d = pending.pop()
        if d in done:
            continue
        done.add(d)
        before = set(defs)
        out[renames[d]] = rewrite(defs[d])
        pending.extend(set(defs) - before)
    return top


def _kind_schema(
    served: Served, name: str, components: dict[str, Any], cache: dict[int, dict[str, Any]]
) -> None:
    info = served.info
    # Alias group/versions share the kind's schema: generate it once per kind.
    raw = cache.get(id(info))
    if raw is None:
        raw = cache[id(info)] = _raw_schema(info)
    schema = _hoist(raw, name, components)
    if "$ref" in schema and len(schema) == 1:
        target = schema["$ref"][len(V3_REF) :]
        schema = copy.deepcopy(components.get(target, {}))
    schema.setdefault("type", "object")
    if info.description and "description" not in schema:
        schema["description"] = info.description
    schema["x-kubernetes-group-version-kind"] = [
        {"group": served.group, "kind": info.kind, "version": served.version}
    ]
    # The list merge extensions (patch strategy, list type and keys) on the kind's declared
    # lists: kubectl builds its client-side apply patches from them.
    for path, ext in openapi_extensions(info).items():
        node: Any = schema
        for key in path:
            node = (node.get("properties") or {}).get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.update(ext)
    components[name] = schema


def _raw_schema(info: KindInfo) -> dict[str, Any]:
    try:
        return openapi_schema(info)
    except Exception as exc:  # a kind without a model still gets a permissive schema
        return {
            "type": "object",
            "description": f"{info.kind} (schema unavailable: {exc})",
            "x-kubernetes-preserve-unknown-fields": True,
        }


def _params(*names: str) -> list[dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {
        "dryRun": {
            "description": "When present, do not persist the changes (All).",
            "schema": {"type": "string"},
        },
        "fieldManager": {
            "description": "The name of the actor making the change.",
            "schema": {"type": "string"},
        },
        "fieldValidation": {
            "description": "How unknown or duplicate fields are handled: Ignore, Warn or "
            "Strict (the default).",
            "schema": {"type": "string"},
        },
        "force": {
            "description": "Force an apply through conflicts.",
            "schema": {"type": "boolean"},
        },
        "labelSelector": {
            "description": "Restrict the list by labels.",
            "schema": {"type": "string"},
        },
        "fieldSelector": {
            "description": "Restrict the list by fields.",
            "schema": {"type": "string"},
        },
        "limit": {"description": "Page size.", "schema": {"type": "integer"}},
        "continue": {
            "description": "Continue token of the previous page.",
            "schema": {"type": "string"},
        },
        "resourceVersion": {
            "description": "Resource version to start from.",
            "schema": {"type": "string"},
        },
        "timeoutSeconds": {"description": "Timeout of a watch.", "schema": {"type": "integer"}},
        "watch": {"description": "Watch for changes.", "schema": {"type": "boolean"}},
        "allowWatchBookmarks": {
            "description": "Send BOOKMARK events.",
            "schema": {"type": "boolean"},
        },
        "propagationPolicy": {
            "description": "Background, Foreground or Orphan.",
            "schema": {"type": "string"},
        },
    }
    return [{"name": n, "in": "query", "uniqueItems": True, **table[n]} for n in names]


def _path_param(name: str, what: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": what,
        "schema": {"type": "string"},
        "uniqueItems": True,
    }


def _json_content(ref: str) -> dict[str, Any]:
    return {
        "application/json": {"schema": {"$ref": V3_REF + ref}},
        "application/yaml": {"schema": {"$ref": V3_REF + ref}},
    }


def _operations(served: Served, name: str) -> dict[str, dict[str, Any]]:
    """The path items of one kind: collection, all-namespaces list, item, status."""
    info = served.info
    prefix = f"/apis/{served.group}/{served.version}" if served.group else f"/api/{served.version}"
    gvk = {"group": served.group, "version": served.version, "kind": info.kind}
    op_base = info.kind
    tag = f"{served.group or 'core'}_{served.version}"
    ns_params = [_path_param("namespace", "object name and auth scope")] if info.namespaced else []
    coll = (
        f"{prefix}/namespaces/{{namespace}}/{info.plural}"
        if info.namespaced
        else (f"{prefix}/{info.plural}")
    )
    item = f"{coll}/{{name}}"
    ok = {"200": {"description": "OK", "content": _json_content(name)}}
    created = {"201": {"description": "Created", "content": _json_content(name)}, **ok}
    status_ok = {"200": {"description": "OK", "content": _json_content(_STATUS_SCHEMA)}}
    patch_types = [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ]
    if is_builtin(info):
        patch_types.append("application/strategic-merge-patch+json")

    def op(action: str, op_id: str, **extra: Any) -> dict[str, Any]:
        return {
            "operationId": op_id,
            "tags": [tag],
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            **extra,
        }

    def patch_op(op_id: str) -> dict[str, Any]:
        return op(
            "patch",
            op_id,
            parameters=_params("dryRun", "fieldManager", "fieldValidation", "force"),
            requestBody={
                "required": True,
                "content": {t: {"schema": {"$ref": V3_REF + _PATCH_SCHEMA}} for t in patch_types},
            },
            responses={**ok, "201": created["201"]},
        )

    write_params = _params("dryRun", "fieldManager", "fieldValidation")
    list_params = _params(
        "labelSelector",
        "fieldSelector",
        "limit",
        "continue",
        "resourceVersion",
        "timeoutSeconds",
        "watch",
        "allowWatchBookmarks",
    )
    paths: dict[str, dict[str, Any]] = {}
    verbs = set(info.verbs)
    collection: dict[str, Any] = {"parameters": ns_params}
    if "list" in verbs:
        collection["get"] = op("list", f"list{op_base}", parameters=list_params, responses=ok)
    if "create" in verbs:
        collection["post"] = op(
            "post",
            f"create{op_base}",
            parameters=write_params,
            requestBody={"required": True, "content": _json_content(name)},
            responses=created,
        )
    if "deletecollection" in verbs:
        collection["delete"] = op(
            "deletecollection",
            f"deletecollection{op_base}",
            parameters=_params("dryRun", "labelSelector", "fieldSelector", "propagationPolicy"),
            responses=ok,
        )
    paths[coll] = collection
    if info.namespaced and "list" in verbs:
        paths[f"{prefix}/{info.plural}"] = {
            "get": op(
                "list", f"list{op_base}ForAllNamespaces", parameters=list_params, responses=ok
            )
        }
    name_param = _path_param("name", f"name of the {info.kind}")
    single: dict[str, Any] = {"parameters": [name_param, *ns_params]}
    if "get" in verbs:
        single["get"] = op("get", f"read{op_base}", responses=ok)
    if "update" in verbs:
        single["put"] = op(
            "put",
            f"replace{op_base}",
            parameters=write_params,
            requestBody={"required": True, "content": _json_content(name)},
            responses=created,
        )
    if "patch" in verbs:
        single["patch"] = patch_op(f"patch{op_base}")
    if "delete" in verbs:
        single["delete"] = op(
            "delete",
            f"delete{op_base}",
            parameters=_params("dryRun", "propagationPolicy"),
            requestBody={"content": _json_content(_DELETE_OPTIONS)},
            responses={
                **ok,
                **status_ok,
                "202": {"description": "Accepted", "content": _json_content(name)},
            },
        )
    paths[item] = single
    if info.has_status:
        paths[f"{item}/status"] = {
            "parameters": [name_param, *ns_params],
            "get": op("get", f"read{op_base}Status", responses=ok),
            "put": op(
                "put",
                f"replace{op_base}Status",
                parameters=write_params,
                requestBody={"required": True, "content": _json_content(name)},
                responses=created,
            ),
            "patch": patch_op(f"patch{op_base}Status"),
        }
    return paths


def _to_v2(node: Any) -> Any:
    """A v3 schema fragment as Swagger 2.0 (references to #/definitions/)."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith(V3_REF):
                out[k] = V2_REF + v[len(V3_REF) :]
            elif k == "nullable":
                continue
            else:
                out[k] = _to_v2(v)
        return out
    if isinstance(node, list):
        return [_to_v2(v) for v in node]
    return node


def _v2_operation(op: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in op.items() if k not in ("requestBody", "responses", "parameters")}
    params = [
        {k: v for k, v in p.items() if k != "schema"} | {"type": p["schema"].get("type", "string")}
        for p in op.get("parameters", [])
    ]
    body = op.get("requestBody")
    if body:
        content = body.get("content") or {}
        first: dict[str, Any] = next(iter(content.values()), {})
        params.append(
            {
                "name": "body",
                "in": "body",
                "required": bool(body.get("required")),
                "schema": _to_v2(first.get("schema", {})),
            }
        )
        out["consumes"] = list(content)
    out["parameters"] = params
    out["produces"] = ["application/json", "application/yaml"]
    responses: dict[str, Any] = {}
    for code, resp in (op.get("responses") or {}).items():
        resp_content: dict[str, Any] = resp.get("content") or {}
        resp_first: dict[str, Any] = next(iter(resp_content.values()), {})
        responses[code] = {
            "description": resp.get("description", ""),
            "schema": _to_v2(resp_first.get("schema", {})),
        }
    out["responses"] = responses
    return out


class OpenAPIDocs:
    """The rendered documents: v2, the v3 index, and each v3 group/version document."""

    def __init__(self, routes: RouteTable, server_version: str) -> None:
        self.v3: dict[str, bytes] = {}  # "apis/axle.dev/v1alpha1" -> document
        self.v3_hash: dict[str, str] = {}
        all_paths: dict[str, Any] = {}
        all_schemas: dict[str, Any] = _base_schemas()
        cache: dict[int, dict[str, Any]] = {}
        for (group, version), table in routes.by_gv.items():
            key = f"apis/{group}/{version}" if group else f"api/{version}"
            components = _base_schemas()
            paths: dict[str, Any] = {}
            for served in table.values():
                name = schema_name(group, version, served.info.kind)
                _kind_schema(served, name, components, cache)
                paths.update(_operations(served, name))
            doc = {
                "openapi": "3.0.0",
                "info": {"title": "axle", "version": server_version},
                "paths": paths,
                "components": {"schemas": components},
            }
            data = orjson.dumps(doc)
            self.v3[key] = data
            self.v3_hash[key] = hashlib.sha512(data).hexdigest().upper()
            all_paths.update(paths)
            all_schemas.update(components)
        self.v3_index = orjson.dumps(
            {
                "paths": {
                    key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
                    for key, digest in self.v3_hash.items()
                }
            }
        )
        v2_paths: dict[str, Any] = {}
        for path, item in all_paths.items():
            v2_item: dict[str, Any] = {}
            for method, op in item.items():
                if method == "parameters":
                    v2_item["parameters"] = [
                        {k: v for k, v in p.items() if k != "schema"} | {"type": "string"}
                        for p in op
                    ]
                else:
                    v2_item[method] = _v2_operation(op)
            v2_paths[path] = v2_item
        self.v2 = orjson.dumps(
            {
                "swagger": "2.0",
                "info": {"title": "axle", "version": server_version},
                "paths": v2_paths,
                "definitions": _to_v2(all_schemas),
                "securityDefinitions": {
                    "BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}
                },
                "security": [{"BearerToken": []}],
            }
        )
