"""Resolving typed variables across layers (notes §14): precedence, locking, types.

Layers are VariableSet variable lists in wire shape (`{"name", "variableType", "value":
{TYPE: v}, "validationMode", "locked"}`), given lowest precedence first: the system set
(`axle-system`), the project's set, a ProfileBundle's inline set. Deployment values (from a
WorkloadDeployment or `axle render --var k=v`) come last and win. Rules:

- a variable is declared by the first layer that names it; a later layer may give it a new
  value or flags but not a different type;
- a `locked` variable cannot be given a value by any later layer or by the deployment (a
  later layer may repeat its declaration without a value);
- a deployment value must name a declared variable, and a string (from the command line) is
  coerced to the declared type, anything else must already have that type;
- a `required` variable (`validationMode: required`) must end with a value.

Optional variables without a value are left out of the result, so a macro naming one is an
"unknown variable" error. Type names: the api's `string`, `bool`, `int32`, `int64`,
`float32`, `float64`, plus the aliases `boolean`, `int`/`integer` (int64), `number`/`float`
(float64), and `list`, `map`/`object` for JSON-valued variables. All errors are collected
into one `axle.errors.Invalid` whose causes name `variables.NAME`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from axle.errors import Cause, Invalid

_ALIASES = {
    "string": "string",
    "bool": "bool",
    "boolean": "bool",
    "int32": "int32",
    "int64": "int64",
    "int": "int64",
    "integer": "int64",
    "float32": "float32",
    "float64": "float64",
    "float": "float64",
    "number": "float64",
    "list": "list",
    "map": "map",
    "object": "map",
}
_INT_BOUNDS = {"int32": 2**31, "int64": 2**63}
_FLOAT32_MAX = 3.4028234663852886e38


def canonical_type(name: str) -> str | None:
    """The canonical type for a type name or alias (`integer` -> `int64`), else None."""
    return _ALIASES.get(name)


@dataclass
class Declared:
    """A variable as the layers so far leave it."""

    name: str
    type: str
    layer: str
    value: Any = None
    has_value: bool = False
    required: bool = False
    locked: bool = False
    locked_by: str = ""


def check_type(value: Any, type_name: str) -> Any:
    """`value` as `type_name` (ints accepted for floats), or ValueError saying why not."""
    if type_name == "string" and isinstance(value, str):
        return value
    if type_name == "bool" and isinstance(value, bool):
        return value
    if type_name in _INT_BOUNDS and isinstance(value, int) and not isinstance(value, bool):
        bound = _INT_BOUNDS[type_name]
        if not -bound <= value < bound:
            raise ValueError(f"{value} is out of range for {type_name}")
        return value
    floats = ("float32", "float64")
    if type_name in floats and isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{value} is not a finite number")
        if type_name == "float32" and abs(number) > _FLOAT32_MAX:
            raise ValueError(f"{value} is out of range for float32")
        return number
    if type_name == "list" and isinstance(value, list):
        return value
    if type_name == "map" and isinstance(value, dict):
        return value
    raise ValueError(f"{value!r} is not a {type_name}")


def coerce(raw: str, type_name: str) -> Any:
    """A command-line string as `type_name`: `"2"` -> 2 for ints; ValueError if it is not one."""
    if type_name == "string":
        return raw
    if type_name == "bool":
        lowered = raw.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise ValueError(f"{raw!r} is not a bool (true or false)")
    if type_name in _INT_BOUNDS:
        try:
            number = int(raw.strip(), 10)
        except ValueError:
            raise ValueError(f"{raw!r} is not an integer") from None
        return check_type(number, type_name)
    if type_name in ("float32", "float64"):
        try:
            real = float(raw.strip())
        except ValueError:
            raise ValueError(f"{raw!r} is not a number") from None
        return check_type(real, type_name)
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(f"{raw!r} is not JSON (a {type_name} is written as JSON)") from None
    return check_type(parsed, type_name)


def parse_assignments(pairs: Sequence[str]) -> dict[str, str]:
    """`["replicas=2", ...]` (the CLI's `--var`) as a dict; Invalid for an entry without `=`."""
    result: dict[str, str] = {}
    causes = []
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            causes.append(Cause(field="variables", message=f"{pair!r} is not NAME=VALUE"))
            continue
        result[name.strip()] = raw
    if causes:
        raise Invalid("bad --var assignment", causes=causes)
    return result


def _declare(
    layer: str, index: int, var: Mapping[str, Any], merged: dict[str, Declared]
) -> list[Cause]:
    name = str(var.get("name") or "")
    field = f"variables.{name}" if name else f"variables[{index}]"
    if not name:
        return [Cause(field=field, message=f"layer {layer!r}: a variable needs a name")]
    declared_type = str(var.get("variableType") or "")
    type_name = canonical_type(declared_type)
    if type_name is None:
        return [
            Cause(
                field=field,
                message=f"layer {layer!r}: unknown variableType {declared_type!r}",
                reason="FieldValueNotSupported",
            )
        ]
    required = var.get("validationMode") == "required" or bool(var.get("required"))
    locked = bool(var.get("locked"))
    has_value, value = False, None
    raw_value = var.get("value")
    if raw_value is not None:
        # Wire shape: exactly one key, the type (any alias of it).
        if not isinstance(raw_value, Mapping) or len(raw_value) != 1:
            return [
                Cause(field=f"{field}.value", message=f"layer {layer!r}: must be {{TYPE: value}}")
            ]
        ((key, inner),) = raw_value.items()
        if canonical_type(str(key)) != type_name:
            return [
                Cause(
                    field=f"{field}.value",
                    message=f"layer {layer!r}: value key {key!r} does not match {declared_type!r}",
                )
            ]
        try:
            value = check_type(inner, type_name)
        except ValueError as exc:
            return [Cause(field=f"{field}.value", message=f"layer {layer!r}: {exc}")]
        has_value = True
    prior = merged.get(name)
    if prior is None:
        merged[name] = Declared(
            name, type_name, layer, value, has_value, required, locked, layer if locked else ""
        )
        return []
    if prior.locked and has_value:
        return [
            Cause(
                field=field,
                message=(
                    f"variable {name!r} is locked by layer {prior.locked_by!r}; "
                    f"layer {layer!r} cannot override it"
                ),
                reason="FieldValueForbidden",
            )
        ]
    if prior.type != type_name:
        return [
            Cause(
                field=field,
                message=(
                    f"layer {layer!r} declares {name!r} as {type_name}, "
                    f"but layer {prior.layer!r} declared it {prior.type}"
                ),
            )
        ]
    if has_value:
        prior.value, prior.has_value = value, True
    prior.required = prior.required or required
    if locked:
        prior.locked, prior.locked_by = True, layer
    return []


def resolve_variables(
    layers: Sequence[tuple[str, Sequence[Mapping[str, Any]]]],
    values: Mapping[str, Any] | None = None,
    *,
    values_layer: str = "deployment",
) -> dict[str, Any]:
    """The effective variables: `layers` (name, variables) lowest precedence first, then `values`.

    `values` are the deployment's (or `--var`'s) values by name: strings are coerced to the
    declared type, other values must have it. Raises `axle.errors.Invalid` listing every
    problem with field paths `variables.NAME`.
    """
    merged: dict[str, Declared] = {}
    causes: list[Cause] = []
    for layer, variables in layers:
        for index, var in enumerate(variables):
            causes.extend(_declare(layer, index, var, merged))
    for name, raw in (values or {}).items():
        field = f"variables.{name}"
        declared = merged.get(name)
        if declared is None:
            causes.append(
                Cause(
                    field=field,
                    message=f"variable {name!r} is not declared by any VariableSet",
                    reason="FieldValueNotFound",
                )
            )
            continue
        if declared.locked:
            causes.append(
                Cause(
                    field=field,
                    message=(
                        f"variable {name!r} is locked by layer {declared.locked_by!r}; "
                        f"layer {values_layer!r} cannot override it"
                    ),
                    reason="FieldValueForbidden",
                )
            )
            continue
        try:
            if isinstance(raw, str):
                value = coerce(raw, declared.type)
            else:
                value = check_type(raw, declared.type)
        except ValueError as exc:
            causes.append(Cause(field=field, message=f"layer {values_layer!r}: {exc}"))
            continue
        declared.value, declared.has_value = value, True
    for declared in merged.values():
        if declared.required and not declared.has_value:
            causes.append(
                Cause(
                    field=f"variables.{declared.name}",
                    message=f"variable {declared.name!r} is required and has no value",
                    reason="FieldValueRequired",
                )
            )
    if causes:
        raise Invalid(
            "variables: " + "; ".join(f"{c.field}: {c.message}" for c in causes), causes=causes
        )
    return {d.name: d.value for d in merged.values() if d.has_value}
