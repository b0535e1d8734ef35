"""Tests of `axle.render.pipeline`: example bundles (golden files), ordering, variables,
macro checks and errors. Regenerate the golden files with AXLE_UPDATE_GOLDEN=1."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from axle.api import kinds as _kinds  # noqa: F401  (registers the kinds admit needs)
from axle.api.admission import admit
from axle.api.registry import REGISTRY
from axle.errors import Invalid
from axle.render import builtins
from axle.render.pipeline import (
    LABEL_COMPONENT,
    LABEL_REVISION,
    LABEL_WORKLOAD,
    bundle_variables,
    render_bundle,
    render_profile,
    to_yaml,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "bundles").glob("*.yaml"))
GOLDEN = Path(__file__).parent / "golden_bundles"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _of(path: Path, kind: str) -> dict[str, Any]:
    return next(d for d in _docs(path) if d["kind"] == kind)


def _bundle_render(path: Path, values: dict[str, Any] | None = None) -> str:
    profile = _of(path, "WorkloadProfile")
    bundle = _of(path, "ProfileBundle")
    results = render_bundle(
        bundle,
        {(profile["metadata"]["name"], 1): profile},
        definitions=builtins.load(),
        values=values,
    )
    return to_yaml([m for r in results for m in r.manifests])


def _profile(components: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "WorkloadProfile",
        "metadata": {"name": "demo", "namespace": "team-a"},
        "spec": {"type": "Application", "workload": {"components": components, **extra}},
    }


def _web(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "webservice", "properties": {"image": "nginx:1"}, **extra}


def test_examples_exist() -> None:
    assert {p.stem for p in EXAMPLES} >= {"llm-inference", "jupyterlab", "ray-cluster"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_objects_are_admitted(path: Path) -> None:
    for doc in _docs(path):
        admit(REGISTRY.by_api_version(doc["apiVersion"], doc["kind"]), doc)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_golden(path: Path) -> None:
    text = _bundle_render(path)
    golden = GOLDEN / f"{path.stem}.yaml"
    if os.environ.get("AXLE_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_deterministic(path: Path) -> None:
    assert _bundle_render(path) == _bundle_render(path)


def test_labels_and_propagation() -> None:
    path = ROOT / "examples" / "bundles" / "llm-inference.yaml"
    profile = _of(path, "WorkloadProfile")
    result = render_profile(
        profile,
        definitions=builtins.load(),
        variables={"model": "m", "cacheSize": "1Gi", "host": "h.example.com"},
        revision=3,
    )
    for obj in result.manifests:
        labels = obj["metadata"]["labels"]
        assert labels[LABEL_WORKLOAD] == "llm-inference"
        assert labels[LABEL_REVISION] == "3"
        assert labels["app.kubernetes.io/part-of"] == "llm-inference"
    assert result.manifests[0]["metadata"]["labels"][LABEL_COMPONENT] == "vllm"
    assert result.outputs["definitionOutputs"]["vllm"]["service"]["kind"] == "Service"


def test_priority_ordering() -> None:
    profile = _profile(
        [
            _web("late", deploymentPriority=5),
            _web("first", deploymentPriority=0),
            _web("mid-a", deploymentPriority=2),
            _web("mid-b", deploymentPriority=2),
        ]
    )
    result = render_profile(profile, definitions=builtins.load())
    assert result.priority_groups == [
        {"priority": 0, "components": ["first"]},
        {"priority": 2, "components": ["mid-a", "mid-b"]},
        {"priority": 5, "components": ["late"]},
    ]
    order = [o["metadata"]["labels"][LABEL_COMPONENT] for o in result.manifests]
    assert order == ["first", "first", "mid-a", "mid-a", "mid-b", "mid-b", "late", "late"]


def test_var_precedence_and_locked() -> None:
    bundle = _of(ROOT / "examples" / "bundles" / "llm-inference.yaml", "ProfileBundle")
    project = [{"name": "model", "variableType": "string", "value": {"string": "project-model"}}]
    got = bundle_variables(bundle, layers=[("project", project)])
    assert got["model"] == "meta-llama/Llama-3.1-8B-Instruct"  # bundle beats project
    got = bundle_variables(bundle, layers=[("project", project)], values={"model": "cli"})
    assert got["model"] == "cli"  # deployment beats bundle
    with pytest.raises(Invalid) as info:
        bundle_variables(bundle, values={"cacheSize": "1Ti"})
    assert [c.field for c in info.value.causes] == ["variables.cacheSize"]
    assert "locked" in info.value.causes[0].message


def test_var_value_reaches_manifest() -> None:
    text = _bundle_render(ROOT / "examples" / "bundles" / "llm-inference.yaml", {"model": "X/y"})
    assert "- X/y\n" in text


def test_unknown_trait() -> None:
    profile = _profile([_web("api", traits=[{"type": "teleport"}])])
    with pytest.raises(Invalid) as info:
        render_profile(profile, definitions=builtins.load())
    assert "component 'api' trait 'teleport'" in info.value.message
    assert info.value.causes[0].field == "spec.workload.components[0].traits[0].type"


def test_trait_not_applicable() -> None:
    helm = {"name": "h", "type": "helm", "properties": {"chart": "c", "repoURL": "https://x"}}
    profile = _profile([{**helm, "traits": [{"type": "gateway", "properties": {"port": 80}}]}])
    with pytest.raises(Invalid) as info:
        render_profile(profile, definitions=builtins.load())
    assert "does not apply" in info.value.message


def test_bad_parameter_type() -> None:
    profile = _profile([{**_web("api"), "properties": {"image": "x", "replicas": "two"}}])
    with pytest.raises(Invalid) as info:
        render_profile(profile, definitions=builtins.load())
    assert info.value.causes[0].field == "spec.workload.components[0].properties.replicas"


def test_undefined_variable() -> None:
    profile = _profile([{**_web("api"), "properties": {"image": "{{ .var.nope }}"}}])
    with pytest.raises(Invalid) as info:
        render_profile(profile, definitions=builtins.load())
    assert "spec.workload.components[0].properties.image" in info.value.message


def test_spoke_macro_left_for_agent() -> None:
    ref = {"name": "addr", "pathRef": {"apiVersion": "v1", "kind": "Service", "path": ".spec"}}
    server = _web("server", definitionOutputRefs=[ref])
    client = _web("client", deploymentPriority=1)
    client["properties"] = {"image": "x", "env": {"URL": '{{ spoke ".def.server.addr" }}'}}
    result = render_profile(_profile([server, client]), definitions=builtins.load())
    envs = [
        e
        for o in result.manifests
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
        for e in c.get("env") or []
    ]
    assert {"name": "URL", "value": '{{ spoke ".def.server.addr" }}'} in envs


@pytest.mark.parametrize(
    ("macro", "priority", "expect"),
    [
        ('{{ spoke ".def.ghost.addr" }}', 1, "unknown component"),
        ('{{ spoke ".def.server.nope" }}', 1, "declares no output"),
        ('{{ spoke ".def.server.addr" }}', 0, "lower deploymentPriority"),
        ('{{ spoke ".obj.nope" }}', 1, "unknown object output"),
        ("{{ spoke .def.server.addr }}", 1, ""),
    ],
)
def test_bad_spoke_macro(macro: str, priority: int, expect: str) -> None:
    ref = {"name": "addr", "pathRef": {"apiVersion": "v1", "kind": "Service", "path": ".spec"}}
    client = _web("client", deploymentPriority=priority)
    client["properties"] = {"image": "x", "env": {"URL": macro}}
    profile = _profile([_web("server", definitionOutputRefs=[ref]), client])
    with pytest.raises(Invalid) as info:
        render_profile(profile, definitions=builtins.load())
    assert expect in info.value.message
    assert info.value.causes[0].field.startswith("spec.workload.components[1].properties.env")


def test_kubernetes_validation_error_names_component() -> None:
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": 5}}
    comp = {"name": "raw", "type": "k8s-objects", "properties": {"objects": [obj]}}
    with pytest.raises(Invalid) as info:
        render_profile(_profile([comp]), definitions=builtins.load())
    assert "component 'raw'" in info.value.message
    assert info.value.causes[0].field.startswith("spec.workload.components[0].output")


def test_bundle_missing_profile() -> None:
    bundle = _of(ROOT / "examples" / "bundles" / "jupyterlab.yaml", "ProfileBundle")
    with pytest.raises(Invalid) as info:
        render_bundle(bundle, {}, definitions=builtins.load())
    assert info.value.causes[0].field == "spec.workloadProfiles[0]"


def test_hub_macros_and_policies() -> None:
    comp = _web("api")
    comp["properties"] = {
        "image": "{{ .sys.registry }}/api:1",
        "env": {"DB": "{{ .def.db.host }}", "BUCKET": "{{ .obj.bucket }}"},
    }
    policy = {"name": "where", "type": "topology", "properties": {"clusters": ["c1"]}}
    result = render_profile(
        _profile([comp], policies=[policy]),
        definitions=builtins.load(),
        definition_outputs={"db": {"host": "db.svc"}},
        object_outputs={"bucket": "s3://b"},
        system={"registry": "reg.example.com"},
    )
    container = result.manifests[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "reg.example.com/api:1"
    assert {"name": "DB", "value": "db.svc"} in container["env"]
    assert "where" in result.policies
