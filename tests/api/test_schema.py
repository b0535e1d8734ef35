"""OpenAPI schemas derived from the models: self-contained, OpenAPI 3.0 shaped, stable."""

from __future__ import annotations

import json
from typing import Any

import pytest

from axle.api.kinds import all_kinds
from axle.api.registry import REGISTRY, KindInfo
from axle.api.schema import definition_name, openapi_components, openapi_schema


def _walk(node: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(node, dict):
        out.append(node)
        for value in node.values():
            out.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            out.extend(_walk(value))
    return out


@pytest.mark.parametrize("info", all_kinds(), ids=lambda i: i.kind)
def test_schema_is_self_contained_openapi_3_0(info: KindInfo) -> None:
    schema = openapi_schema(info)
    text = json.dumps(schema)
    assert "$ref" not in text and "$defs" not in text
    for node in _walk(schema):
        assert node.get("type") != "null"
        assert "const" not in node and "title" not in node
        assert not ("default" in node and node["default"] is None)
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": info.group, "version": info.version, "kind": info.kind}
    ]
    assert schema["properties"]["kind"]["enum"] == [info.kind]
    assert schema["properties"]["apiVersion"]["enum"] == [info.api_version]


def test_tenant_schema_details() -> None:
    schema = openapi_schema(REGISTRY.lookup("tenant"))
    spec = schema["properties"]["spec"]
    assert spec["additionalProperties"] is False
    limits = spec["properties"]["gpuLimits"]
    assert limits["type"] == "object" and limits["additionalProperties"] == {
        "minimum": 0,
        "type": "integer",
    }
    assert spec["properties"]["settingsRef"]["nullable"] is True
    assert spec["properties"]["settingsRef"]["required"] == ["name"]
    status = schema["properties"]["status"]
    assert status["properties"]["phase"]["enum"] == ["Ready", "NotReady", "Deleting"]


def test_free_form_fields_preserve_unknown_fields() -> None:
    schema = openapi_schema(REGISTRY.lookup("workloadprofile"))
    component = schema["properties"]["spec"]["properties"]["workload"]["properties"]["components"][
        "items"
    ]
    assert component["properties"]["properties"]["x-kubernetes-preserve-unknown-fields"] is True


def test_schemas_are_deterministic_and_named_like_kubernetes() -> None:
    first = json.dumps(openapi_components(all_kinds()))
    second = json.dumps(openapi_components(list(reversed(all_kinds()))))
    assert first == second
    assert definition_name(REGISTRY.lookup("secret")) == "io.k8s.api.core.v1.Secret"
    assert definition_name(REGISTRY.lookup("roles")) == "io.k8s.api.rbac.v1.Role"
    assert definition_name(REGISTRY.lookup("leases")) == "io.k8s.api.coordination.v1.Lease"
    assert definition_name(REGISTRY.lookup("cp")) == "dev.axle.v1alpha1.ComputePool"
    assert list(openapi_components(all_kinds())) == sorted(definition_name(i) for i in all_kinds())
