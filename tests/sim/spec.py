"""Check JSON bodies against the Palette API subset (Swagger 2.0) the simulator implements.

`data/palette-api-subset.json` is a verbatim copy of `../shared/reference/palette-api-subset.json`,
the contract both the simulator and the real client follow. `conformance_errors` walks a body
against an operation's response schema and reports every field the spec does not declare, a
wrong type, an enum value outside the enum, or a missing required field. `null` is accepted
anywhere (Palette's Go server omits or nulls unset fields), and pruned or free-form objects
accept anything.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).parent / "data" / "palette-api-subset.json"


@cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return data


def response_schema(method: str, path: str) -> dict[str, Any]:
    op = spec()["paths"][path][method.lower()]
    for code in ("200", "201"):
        if code in op["responses"]:
            schema: dict[str, Any] = op["responses"][code]["schema"]
            return schema
    raise KeyError(f"{method} {path} declares no body")


def definition(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec()["definitions"][name]
    return schema


def conformance_errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    errors: list[str] = []
    _check(value, schema, path, errors)
    return errors


def _check(value: Any, schema: dict[str, Any], path: str, errors: list[str]) -> None:
    if "$ref" in schema:
        schema = definition(schema["$ref"].rsplit("/", 1)[-1])
    if value is None:
        return
    kind = schema.get("type")
    if "properties" in schema or kind == "object":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object, got {type(value).__name__}")
            return
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props is None:
            if isinstance(extra, dict):
                for k, v in value.items():
                    _check(v, extra, f"{path}.{k}", errors)
            return  # pruned or free-form
        for k, v in value.items():
            if k in props:
                _check(v, props[k], f"{path}.{k}", errors)
            else:
                errors.append(f"{path}.{k}: not declared by the spec")
        for k in schema.get("required", []):
            if k not in value:
                errors.append(f"{path}.{k}: required by the spec, missing")
        return
    if kind == "array":
        if not isinstance(value, list):
            errors.append(f"{path}: expected an array")
            return
        for i, item in enumerate(value):
            _check(item, schema.get("items", {}), f"{path}[{i}]", errors)
        return
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    if kind in checks and not checks[kind](value):
        errors.append(f"{path}: expected {kind}, got {value!r}")
        return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
