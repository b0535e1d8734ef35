"""Output declarations (notes §13): definition outputs and object outputs.

A definition output names a field of an object a component or trait creates on the spoke
(`pathRef` = apiVersion, kind, JSONPath-like path, optional label filter); an object output
names a field of an existing object anywhere. Macros read them (`{{ spoke ".def.C.O" }}`,
`{{ .obj.O }}`), so their names are identifiers and unique where they are declared.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator

from axle.api import validation as v
from axle.api.common import NonEmptyStr
from axle.api.meta import Model

_OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _output_name(value: str) -> str:
    if not _OUTPUT_NAME.match(value):
        raise ValueError("must start with a letter or '_' followed by letters, digits, '_' or '-'")
    return value


def _field_path(value: str) -> str:
    if not value.startswith("."):
        raise ValueError(
            "must be a field path starting with '.', e.g. .status.loadBalancer.ingress[0].ip"
        )
    return value


OutputName = Annotated[str, AfterValidator(_output_name)]
FieldPath = Annotated[str, AfterValidator(_field_path)]


class PathRef(Model):
    apiVersion: NonEmptyStr
    kind: NonEmptyStr
    path: FieldPath
    # Picks one object when the workload creates several of the same kind.
    labels: dict[str, str] | None = None


class DefinitionOutputRef(Model):
    name: OutputName
    pathRef: PathRef
    # Leave the value out of the change hash that triggers redeploys.
    skipHash: bool | None = None


class ObjectPathRef(Model):
    apiVersion: NonEmptyStr
    kind: NonEmptyStr
    name: NonEmptyStr
    namespace: str | None = None
    path: FieldPath


class ObjectOutputRef(Model):
    name: OutputName
    pathRef: ObjectPathRef


def output_refs_errors(refs: list[dict[str, Any]] | None, path: str) -> list[v.FieldError]:
    return v.unique_by(refs or [], path)
