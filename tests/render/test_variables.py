"""Variable resolution across layers: precedence, locking, required, types, CLI coercion."""

from __future__ import annotations

from typing import Any

import pytest

from axle.errors import Invalid
from axle.render.macros import MacroError, resolve_hub
from axle.render.variables import canonical_type, coerce, parse_assignments, resolve_variables


def var(name: str, type_name: str, value: Any = None, **flags: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "variableType": type_name, **flags}
    if value is not None:
        out["value"] = {type_name: value}
    return out


SYSTEM = [
    var("registry", "string", "ghcr.io", locked=True),
    var("replicas", "int32", 1),
    var("gpuFamily", "string", "H100"),
]
PROJECT = [var("replicas", "int32", 2), var("token", "string", validationMode="required")]


def causes(err: Invalid) -> list[tuple[str, str]]:
    return [(c.field, c.message) for c in err.causes]


def test_precedence_deployment_over_project_over_system() -> None:
    layers = [("system", SYSTEM), ("project", PROJECT)]
    assert resolve_variables(layers, {"token": "t"}) == {
        "registry": "ghcr.io",
        "replicas": 2,
        "gpuFamily": "H100",
        "token": "t",
    }
    got = resolve_variables(layers, {"token": "t", "replicas": "5", "gpuFamily": "A100"})
    assert got["replicas"] == 5
    assert got["gpuFamily"] == "A100"


def test_locked_cannot_be_overridden_by_higher_layer() -> None:
    with pytest.raises(Invalid) as info:
        resolve_variables([("system", SYSTEM), ("bundle", [var("registry", "string", "x")])])
    ((field, message),) = causes(info.value)
    assert field == "variables.registry"
    assert "locked by layer 'system'" in message
    assert "'bundle'" in message


def test_locked_cannot_be_overridden_by_deployment() -> None:
    with pytest.raises(Invalid) as info:
        resolve_variables([("system", SYSTEM)], {"registry": "docker.io"}, values_layer="--var")
    ((field, message),) = causes(info.value)
    assert field == "variables.registry"
    assert "locked by layer 'system'" in message
    assert "'--var'" in message


def test_locked_may_be_redeclared_without_value() -> None:
    got = resolve_variables([("system", SYSTEM), ("project", [var("registry", "string")])])
    assert got["registry"] == "ghcr.io"


def test_required_without_value() -> None:
    with pytest.raises(Invalid) as info:
        resolve_variables([("system", SYSTEM), ("project", PROJECT)])
    assert causes(info.value) == [
        ("variables.token", "variable 'token' is required and has no value")
    ]
    assert info.value.causes[0].reason == "FieldValueRequired"


def test_undeclared_deployment_value() -> None:
    with pytest.raises(Invalid) as info:
        resolve_variables([("system", SYSTEM)], {"nope": "1"})
    assert [f for f, _ in causes(info.value)] == ["variables.nope"]


def test_all_errors_reported_together() -> None:
    with pytest.raises(Invalid) as info:
        resolve_variables([("system", SYSTEM), ("project", PROJECT)], {"replicas": "two"})
    assert sorted(f for f, _ in causes(info.value)) == ["variables.replicas", "variables.token"]


def test_type_mismatch_between_layers() -> None:
    with pytest.raises(Invalid) as info:
        resolve_variables([("system", SYSTEM), ("project", [var("replicas", "string", "x")])])
    ((field, message),) = causes(info.value)
    assert field == "variables.replicas"
    assert "int32" in message


@pytest.mark.parametrize(
    ("type_name", "raw", "expected"),
    [
        ("int32", "2", 2),
        ("int", " -7 ", -7),
        ("integer", "9", 9),
        ("int64", str(2**40), 2**40),
        ("bool", "true", True),
        ("boolean", "False", False),
        ("float64", "1.5", 1.5),
        ("number", "3", 3.0),
        ("string", " keep spaces ", " keep spaces "),
        ("list", '["a", 1]', ["a", 1]),
        ("map", '{"a": 1}', {"a": 1}),
        ("object", "{}", {}),
    ],
)
def test_coerce_good(type_name: str, raw: str, expected: Any) -> None:
    canonical = canonical_type(type_name)
    assert canonical is not None
    assert coerce(raw, canonical) == expected


@pytest.mark.parametrize(
    ("type_name", "raw"),
    [
        ("int32", "2.5"),
        ("int32", str(2**31)),
        ("int64", "abc"),
        ("bool", "yes"),
        ("float64", "nan"),
        ("float32", "1e39"),
        ("float64", "x"),
        ("list", '{"a": 1}'),
        ("map", "[1]"),
        ("map", "{nope"),
    ],
)
def test_coerce_bad(type_name: str, raw: str) -> None:
    with pytest.raises(ValueError):
        coerce(raw, type_name)


def test_cli_value_of_wrong_type_is_field_error() -> None:
    with pytest.raises(Invalid) as info:
        resolve_variables([("system", SYSTEM)], {"replicas": "lots"})
    ((field, message),) = causes(info.value)
    assert field == "variables.replicas"
    assert "not an integer" in message


def test_typed_deployment_values() -> None:
    layers = [("project", [var("n", "int64"), var("f", "float64"), var("on", "bool")])]
    assert resolve_variables(layers, {"n": 3, "f": 2, "on": False}) == {
        "n": 3,
        "f": 2.0,
        "on": False,
    }
    with pytest.raises(Invalid):
        resolve_variables(layers, {"n": True})
    with pytest.raises(Invalid):
        resolve_variables(layers, {"on": 1})


@pytest.mark.parametrize(
    ("variable", "field"),
    [
        ({"name": "x", "variableType": "decimal"}, "variables.x"),
        ({"variableType": "string"}, "variables[0]"),
        ({"name": "x", "variableType": "int32", "value": {"string": "1"}}, "variables.x.value"),
        ({"name": "x", "variableType": "int32", "value": {"int32": "1"}}, "variables.x.value"),
        ({"name": "x", "variableType": "int32", "value": {"int32": 2**31}}, "variables.x.value"),
        ({"name": "x", "variableType": "int32", "value": 5}, "variables.x.value"),
    ],
)
def test_bad_declarations(variable: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as info:
        resolve_variables([("project", [variable])])
    assert [c.field for c in info.value.causes] == [field]


def test_optional_without_value_is_unknown_to_macros() -> None:
    values = resolve_variables([("project", [var("opt", "string"), var("n", "int32", 4)])])
    assert values == {"n": 4}
    empty: dict[str, Any] = {}
    assert (
        resolve_hub(
            "{{ .var.n }}",
            variables=values,
            definition_outputs=empty,
            object_outputs=empty,
            system={},
        )
        == 4
    )
    with pytest.raises(MacroError, match="unknown variable 'opt'"):
        resolve_hub(
            "{{ .var.opt }}",
            variables=values,
            definition_outputs=empty,
            object_outputs=empty,
            system={},
        )


def test_parse_assignments() -> None:
    assert parse_assignments(["replicas=2", "url=a=b", "empty="]) == {
        "replicas": "2",
        "url": "a=b",
        "empty": "",
    }
    with pytest.raises(Invalid):
        parse_assignments(["novalue"])
    with pytest.raises(Invalid):
        parse_assignments(["=1"])
