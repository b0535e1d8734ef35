"""VariableSet (axle.dev/v1alpha1, namespaced): typed, hub-context variables.

One VariableSet per namespace, with a fixed name (`axle-variables`; PaletteAI's
`mural-variables` is accepted so its manifests import unchanged): the system-wide set lives in
`axle-system`, a project's set in its namespace, and a ProfileBundle may carry an inline set of
the same shape. Each variable is typed; `value` is an object with exactly one key, the type
(`{int32: 42}`), so a value's type is explicit on the wire. Precedence and locking (notes §14)
are applied by the renderer; this module checks the shape.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.meta import Model, ObjectMeta, StatusBase
from axle.api.registry import KindInfo, PrinterColumn, register

VARIABLE_SET_NAMES = ("axle-variables", "mural-variables")
VARIABLE_TYPES = ("string", "bool", "int32", "int64", "float32", "float64")
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_INT_RANGES = {"int32": 2**31, "int64": 2**63}

VariableType = Literal["string", "bool", "int32", "int64", "float32", "float64"]


class VariableValue(Model):
    """Exactly one key, named after the variable's type."""

    string: str | None = None
    # `bool` would shadow the builtin inside the class body: the attribute is bool_.
    bool_: bool | None = Field(default=None, alias="bool")
    int32: int | None = None
    int64: int | None = None
    float32: float | None = None
    float64: float | None = None


class Variable(Model):
    name: str = Field(min_length=1, max_length=253)
    variableType: VariableType
    value: VariableValue | None = None
    description: str | None = Field(default=None, max_length=1024)
    validationMode: Literal["required", "optional"] = "optional"
    locked: bool = False
    # How the console edits a string value; ignored for other types.
    inputType: Literal["text", "multiline"] = "text"


class VariableSetSpec(Model):
    variables: list[Variable] = Field(default_factory=list)


class VariableSet(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["VariableSet"] = "VariableSet"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: VariableSetSpec = Field(default_factory=VariableSetSpec)
    status: StatusBase | None = None


def variables_errors(variables: list[dict[str, Any]], path: str) -> list[v.FieldError]:
    """The rules of notes §14 over a list of variables (also used for inline bundle sets)."""
    errs = v.unique_by(variables, path)
    for i, var in enumerate(variables):
        p = f"{path}[{i}]"
        name = var.get("name", "")
        if not _VARIABLE_NAME.match(name):
            errs.append(
                v.invalid(
                    f"{p}.name",
                    name,
                    "must start with a letter or '_' followed by letters, digits, '_' or '-'",
                )
            )
        if var.get("locked") and var.get("validationMode") == "required":
            errs.append(v.invalid(f"{p}.locked", True, "a locked variable cannot be required"))
        value = var.get("value")
        if value is None:
            continue
        var_type = var.get("variableType")
        keys = sorted(value)
        if keys != [var_type]:
            errs.append(
                v.invalid(
                    f"{p}.value",
                    value,
                    f"must have exactly one key, {var_type!r}, matching variableType",
                )
            )
            continue
        raw = value[var_type]
        if var_type in _INT_RANGES:
            bound = _INT_RANGES[var_type]
            if not -bound <= raw < bound:
                errs.append(v.invalid(f"{p}.value.{var_type}", raw, f"out of range for {var_type}"))
        if var_type == "float32" and abs(raw) > 3.4028234663852886e38:
            errs.append(v.invalid(f"{p}.value.float32", raw, "out of range for float32"))
    return errs


def _validate(obj: dict[str, Any]) -> list[v.FieldError]:
    return variables_errors((obj.get("spec") or {}).get("variables") or [], "spec.variables")


def _name_rule(value: str, path: str) -> list[v.FieldError]:
    if value in VARIABLE_SET_NAMES:
        return []
    return [v.not_supported(path, value, VARIABLE_SET_NAMES)]


VARIABLE_SET = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="VariableSet",
        plural="variablesets",
        singular="variableset",
        namespaced=True,
        model=VariableSet,
        short_names=("vars",),
        categories=("axle",),
        columns=(PrinterColumn("Age", ".metadata.creationTimestamp", "date"),),
        validate_object=_validate,
        name_rule=_name_rule,
        description="Typed hub-context variables of a namespace (one set, fixed name).",
    )
)
