"""The `override` policy: selection by name/type, deep-merged properties, traits merged by
type or disabled, errors with field paths, and a profile rendered with it (golden file,
regenerate with AXLE_UPDATE_GOLDEN=1) next to `topology`, which still only reports."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from axle.errors import Invalid
from axle.render import builtins
from axle.render.overrides import apply_override, merge_properties
from axle.render.pipeline import render_profile

GOLDEN = Path(__file__).parent / "golden_policies"
FIELD = "spec.workload.policies[0].properties"


def _components() -> list[dict[str, Any]]:
    return [
        {
            "name": "api",
            "type": "webservice",
            "properties": {"image": "api:1", "port": 8080, "env": {"A": "1", "B": "2"}},
            "traits": [
                {"type": "scaler", "properties": {"replicas": 2}},
                {"type": "labels", "properties": {"labels": {"team": "a"}}},
            ],
        },
        {"name": "jobs", "type": "worker", "properties": {"image": "jobs:1"}},
        {"name": "jobs2", "type": "worker", "properties": {"image": "jobs:1"}},
    ]


def test_merge_properties_is_a_json_merge_patch() -> None:
    target = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    patch = {"a": {"c": [3], "e": None}, "d": None, "f": {"g": 1}}
    assert merge_properties(target, patch) == {"a": {"b": 1, "c": [3]}, "f": {"g": 1}}
    assert target == {"a": {"b": 1, "c": [1, 2]}, "d": 1}


def test_properties_deep_merged_by_name() -> None:
    comps = _components()
    out = apply_override(
        comps,
        {"components": [{"name": "api", "properties": {"port": 9000, "env": {"B": None}}}]},
        field=FIELD,
    )
    assert out[0]["properties"] == {"image": "api:1", "port": 9000, "env": {"A": "1"}}
    assert out[1:] == comps[1:]
    assert comps == _components()  # the input is left alone


def test_type_selects_every_component_of_that_type() -> None:
    out = apply_override(
        _components(),
        {"components": [{"type": "worker", "properties": {"image": "jobs:2"}}]},
        field=FIELD,
    )
    assert [c["properties"]["image"] for c in out] == ["api:1", "jobs:2", "jobs:2"]


def test_name_and_type_must_both_match() -> None:
    with pytest.raises(Invalid) as info:
        apply_override(
            _components(), {"components": [{"name": "api", "type": "worker"}]}, field=FIELD
        )
    assert info.value.causes[0].field == f"{FIELD}.components[0]"
    assert "name 'api' and type 'worker'" in info.value.message


def test_traits_merged_added_and_disabled() -> None:
    settings = {
        "components": [
            {
                "name": "api",
                "traits": [
                    {"type": "scaler", "properties": {"replicas": 4}},
                    {"type": "labels", "disable": True},
                    {"type": "gpu", "properties": {"count": 1}},
                    {"type": "gateway", "disable": True},  # not there: nothing to remove
                ],
            }
        ]
    }
    out = apply_override(_components(), settings, field=FIELD)
    assert out[0]["traits"] == [
        {"type": "scaler", "properties": {"replicas": 4}},
        {"type": "gpu", "properties": {"count": 1}},
    ]


def test_entries_apply_in_order() -> None:
    settings = {
        "components": [
            {"name": "jobs", "properties": {"image": "jobs:2"}},
            {"type": "worker", "properties": {"image": "jobs:3"}},
        ]
    }
    out = apply_override(_components(), settings, field=FIELD)
    assert out[1]["properties"]["image"] == "jobs:3"


def _profile(policies: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "WorkloadProfile",
        "metadata": {"name": "shop", "namespace": "team-a"},
        "spec": {
            "type": "Application",
            "workload": {"components": _components(), "policies": policies},
        },
    }


PRODUCTION = {
    "name": "production",
    "type": "override",
    "properties": {
        "components": [
            {
                "name": "api",
                "properties": {"image": "api:{{ .var.tag }}", "env": {"B": None}},
                "traits": [
                    {"type": "scaler", "properties": {"replicas": 5}},
                    {"type": "labels", "disable": True},
                ],
            },
            {
                "type": "worker",
                "traits": [{"type": "resources", "properties": {"limits": {"cpu": "2"}}}],
            },
        ]
    },
}
TOPOLOGY = {"name": "where", "type": "topology", "properties": {"clusters": ["edge-1"]}}


def test_override_golden() -> None:
    result = render_profile(
        _profile([TOPOLOGY, PRODUCTION]),
        definitions=builtins.load(),
        variables={"tag": "2"},
    )
    text = result.to_yaml()
    golden = GOLDEN / "override.yaml"
    if os.environ.get("AXLE_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
    # Both policies are reported; topology is left to the deploying layer.
    assert result.policies["where"] == {"clusters": ["edge-1"], "clusterLabelSelector": {}}
    assert result.policies["production"] == PRODUCTION["properties"]


def test_override_changes_what_renders() -> None:
    catalog = builtins.load()
    plain = render_profile(_profile([]), definitions=catalog, variables={"tag": "2"})
    changed = render_profile(_profile([PRODUCTION]), definitions=catalog, variables={"tag": "2"})

    def deployment(result: Any, name: str) -> dict[str, Any]:
        return next(
            m
            for m in result.manifests
            if m["kind"] == "Deployment" and m["metadata"]["name"] == name
        )

    before, after = deployment(plain, "api"), deployment(changed, "api")
    assert before["spec"]["replicas"] == 2 and after["spec"]["replicas"] == 5
    assert before["metadata"]["labels"]["team"] == "a"
    assert "team" not in after["metadata"]["labels"]
    container = after["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "api:2"
    assert {e["name"] for e in container["env"]} == {"A"}
    for name in ("jobs", "jobs2"):
        worker = deployment(changed, name)["spec"]["template"]["spec"]["containers"][0]
        assert worker["resources"]["limits"]["cpu"] == "2"


@pytest.mark.parametrize(
    ("entry", "field", "words"),
    [
        ({"name": "web"}, f"{FIELD}.components[1]", "name 'web'"),
        ({"type": "task"}, f"{FIELD}.components[1]", "type 'task'"),
    ],
)
def test_selector_naming_no_component(entry: dict[str, Any], field: str, words: str) -> None:
    policy = {
        "name": "production",
        "type": "override",
        "properties": {"components": [{"name": "api"}, entry]},
    }
    with pytest.raises(Invalid) as info:
        render_profile(_profile([policy]), definitions=builtins.load(), variables={"tag": "1"})
    assert info.value.message.startswith("policy 'production': override selects no component")
    assert words in info.value.message
    assert "api (webservice), jobs (worker), jobs2 (worker)" in info.value.message
    assert [c.field for c in info.value.causes] == [field]


@pytest.mark.parametrize(
    ("properties", "field"),
    [
        ({}, FIELD + ".components"),
        ({"components": [{"name": "api", "replicas": 3}]}, FIELD + ".components[0]"),
        ({"components": [{"name": "api", "traits": [{"disable": True}]}]}, None),
        ({"components": [{"name": "api", "properties": [1]}]}, None),
    ],
)
def test_bad_override_properties(properties: dict[str, Any], field: str | None) -> None:
    policy = {"name": "production", "type": "override", "properties": properties}
    with pytest.raises(Invalid) as info:
        render_profile(_profile([policy]), definitions=builtins.load(), variables={"tag": "1"})
    assert info.value.message.startswith("policy 'production': PolicyDefinition 'override'")
    fields = [c.field for c in info.value.causes]
    assert all(f.startswith(FIELD) for f in fields), fields
    if field is not None:
        assert field in fields


def test_an_overridden_trait_is_checked_like_any_other() -> None:
    policy = {
        "name": "production",
        "type": "override",
        "properties": {
            "components": [{"name": "api", "traits": [{"type": "scaler", "properties": {"x": 1}}]}]
        },
    }
    with pytest.raises(Invalid) as info:
        render_profile(_profile([policy]), definitions=builtins.load(), variables={"tag": "1"})
    assert "component 'api' trait 'scaler'" in info.value.message
    assert info.value.causes[0].field.startswith("spec.workload.components[0].traits[0]")
