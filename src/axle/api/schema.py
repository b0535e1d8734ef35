"""OpenAPI v3 schemas of the kinds, derived from their pydantic models.

The server publishes these at /openapi/v2 and /openapi/v3 so that kubectl (`explain`,
client-side validation) and generated clients know each kind's fields. Pydantic emits JSON
Schema 2020-12 with `$defs`; OpenAPI 3.0 (what Kubernetes serves) differs, so the schema is
rewritten: `$ref`s inlined (no kind is recursive), `anyOf [X, null]` becomes X with
`nullable: true`, `const` becomes a one-value `enum`, titles dropped, free-form objects marked
`x-kubernetes-preserve-unknown-fields`, null defaults dropped, and the kind tagged with
`x-kubernetes-group-version-kind` as Kubernetes does. Output is deterministic (sorted keys are
left to the JSON encoder; the content depends only on the models).
"""

from __future__ import annotations

import copy
from typing import Any

from axle.api.registry import KindInfo

# Kubernetes names its definitions by reversed domain: io.k8s.api.core.v1.Secret.
_K8S_GROUP_PREFIX = {
    "": "io.k8s.api.core",
    "rbac.authorization.k8s.io": "io.k8s.api.rbac",
    "coordination.k8s.io": "io.k8s.api.coordination",
}


def definition_name(info: KindInfo) -> str:
    """The kind's name in an OpenAPI document: `dev.axle.v1alpha1.Tenant`,
    `io.k8s.api.core.v1.Secret`."""
    prefix = _K8S_GROUP_PREFIX.get(info.group)
    if prefix is None:
        prefix = ".".join(reversed(info.group.split(".")))
    return f"{prefix}.{info.version}.{info.kind}"


def openapi_schema(info: KindInfo) -> dict[str, Any]:
    """A self-contained OpenAPI v3.0 schema of one kind's objects."""
    if info.model is None:
        schema: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    else:
        raw = info.model.model_json_schema(by_alias=True, mode="validation")
        defs = raw.pop("$defs", {})
        schema = _convert(raw, defs)
    if info.description:
        schema["description"] = info.description
    schema["x-kubernetes-group-version-kind"] = [
        {"group": info.group, "version": info.version, "kind": info.kind}
    ]
    return schema


def openapi_components(infos: list[KindInfo]) -> dict[str, dict[str, Any]]:
    """`components.schemas` for a set of kinds, keyed by `definition_name`, in sorted order."""
    return {definition_name(i): openapi_schema(i) for i in sorted(infos, key=definition_name)}


def _convert(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_convert(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**copy.deepcopy(target), **{k: val for k, val in node.items() if k != "$ref"}}
        return _convert(merged, defs)
    out: dict[str, Any] = {}
    nullable = False
    for key, value in node.items():
        if key == "title" or (key == "default" and value is None):
            continue
        if key == "anyOf":
            options = [o for o in value if o != {"type": "null"}]
            nullable = len(options) != len(value)
            if len(options) == 1:
                out.update(_convert(options[0], defs))
                continue
            out["anyOf"] = _convert(options, defs)
            continue
        if key == "const":
            out["enum"] = [value]
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: _convert(sub, defs) for name, sub in value.items()}
            continue
        out[key] = _convert(value, defs)
    if nullable:
        out["nullable"] = True
    if out.get("type") == "object" and "properties" not in out:
        extra = out.get("additionalProperties", True)
        if extra is True or extra == {}:
            out.pop("additionalProperties", None)
            out["x-kubernetes-preserve-unknown-fields"] = True
    if not out or out == {"nullable": True}:
        # `Any`: accept anything, as Kubernetes marks free-form values.
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out
