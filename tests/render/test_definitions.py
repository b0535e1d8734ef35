"""Rendering components and applying traits: parameter validation, schematics, merging,
applicability, Kubernetes validation of the result."""

from __future__ import annotations

from typing import Any

import pytest

from axle.errors import Invalid
from axle.render import builtins, k8svalidate
from axle.render.definitions import (
    apply_trait,
    merge_patch,
    render_component,
    render_policy,
    validate_parameters,
)
from axle.render.k8svalidate import validate_object, validate_objects

CTX = {"namespace": "team-a", "appName": "demo"}


def comp(name: str) -> dict[str, Any]:
    return builtins.get("ComponentDefinition", name)


def trait(name: str) -> dict[str, Any]:
    return builtins.get("TraitDefinition", name)


def test_wrong_parameter_type_names_field_path() -> None:
    field = "spec.components[0].properties"
    with pytest.raises(Invalid) as info:
        render_component(
            comp("webservice"), "web", {"image": "x", "replicas": "3"}, CTX, field=field
        )
    assert info.value.causes[0].field == "spec.components[0].properties.replicas"
    assert "replicas" in info.value.message


def test_missing_required_parameter_names_it() -> None:
    with pytest.raises(Invalid) as info:
        render_component(comp("webservice"), "web", {}, CTX)
    assert info.value.causes[0].field == "properties.image"
    assert info.value.causes[0].reason == "FieldValueRequired"


def test_nested_parameter_error_path() -> None:
    props = {"secretRefs": [{"name": "A", "secret": "s", "key": 3}]}
    with pytest.raises(Invalid) as info:
        validate_parameters(trait("env"), props, "traits[1].properties")
    assert info.value.causes[0].field == "traits[1].properties.secretRefs[0].key"


def test_unknown_parameter_refused() -> None:
    with pytest.raises(Invalid, match="Additional properties"):
        render_component(comp("worker"), "w", {"image": "x", "imag": "y"}, CTX)


def test_defaults_filled_and_input_not_modified() -> None:
    props = {"image": "nginx"}
    out = validate_parameters(comp("webservice"), props)
    assert out == {"image": "nginx", "port": 80, "replicas": 1}
    assert props == {"image": "nginx"}


def test_validator_not_reused_across_changed_schema() -> None:
    d = comp("worker")
    validate_parameters(d, {"image": "x", "replicas": 2})
    d["spec"]["schema"]["openAPIV3Schema"]["properties"]["replicas"]["maximum"] = 1
    with pytest.raises(Invalid):
        validate_parameters(d, {"image": "x", "replicas": 2})


def test_webservice_objects_and_outputs() -> None:
    objects, outputs = render_component(comp("webservice"), "web", {"image": "nginx"}, CTX)
    assert [o["kind"] for o in objects] == ["Deployment", "Service"]
    assert outputs == {"service": objects[1]}
    assert objects[0]["metadata"] == {
        "name": "web",
        "namespace": "team-a",
        "labels": {"app.kubernetes.io/name": "web", "app.kubernetes.io/component": "webservice"},
    }
    assert validate_objects(objects) == []


def test_gpu_trait_patches_first_container() -> None:
    objects, _ = render_component(comp("webservice"), "llm", {"image": "vllm"}, CTX)
    patched, added = apply_trait(
        trait("gpu"),
        objects,
        {"count": 2, "family": "NVIDIA-H100"},
        CTX,
        component_type="webservice",
    )
    pod = patched[0]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"] == {"limits": {"nvidia.com/gpu": 2}}
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100"}
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert added == {}
    # The input objects are untouched.
    assert "resources" not in objects[0]["spec"]["template"]["spec"]["containers"][0]


def test_gpu_trait_on_cronjob() -> None:
    props = {"image": "x", "schedule": "@daily"}
    objects, _ = render_component(comp("cron-task"), "nightly", props, CTX)
    patched, _ = apply_trait(trait("gpu"), objects, {"count": 1}, CTX, component_type="cron-task")
    pod = patched[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": 1}
    assert validate_objects(patched) == []


def test_trait_not_applicable() -> None:
    objects, _ = render_component(comp("task"), "job", {"image": "x"}, CTX)
    with pytest.raises(Invalid, match="does not apply to component type 'task'") as info:
        apply_trait(
            trait("scaler"),
            objects,
            {"replicas": 2},
            CTX,
            component_type="task",
            field="spec.components[0].traits[0]",
        )
    assert info.value.causes[0].field == "spec.components[0].traits[0]"
    with pytest.raises(Invalid, match="gateway"):
        apply_trait(trait("gateway"), objects, {"port": 80}, CTX, component_type="task")


def test_trait_outputs_are_appended() -> None:
    objects, _ = render_component(comp("webservice"), "web", {"image": "x"}, CTX)
    out, added = apply_trait(
        trait("storage"),
        objects,
        {"pvc": [{"name": "cache", "mountPath": "/c", "size": "1Gi"}]},
        CTX,
        component_type="webservice",
    )
    assert [o["kind"] for o in out] == ["Deployment", "Service", "PersistentVolumeClaim"]
    assert added["pvc-cache"]["metadata"] == {"name": "web-cache", "namespace": "team-a"}
    assert validate_objects(out) == []


def test_merge_patch_rules() -> None:
    target = {
        "a": {"b": 1, "c": 2},
        "containers": [{"name": "x", "image": "i"}],
        "tolerations": [{"key": "k"}],
    }
    patch = {
        "a": {"c": None, "d": 3},
        "containers": [{"name": "x", "env": []}, {"name": "y"}],
        "tolerations": [{"key": "k"}, {"key": "g"}],
    }
    assert merge_patch(target, patch) == {
        "a": {"b": 1, "d": 3},
        "containers": [{"name": "x", "image": "i", "env": []}, {"name": "y"}],
        "tolerations": [{"key": "k"}, {"key": "g"}],
    }


KUBE_DEF = {
    "apiVersion": "axle.dev/v1alpha1",
    "kind": "ComponentDefinition",
    "metadata": {"name": "redis", "namespace": "axle-system"},
    "spec": {
        "schematic": {
            "kube": {
                "template": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "redis"},
                    "spec": {
                        "selector": {"matchLabels": {"app": "redis"}},
                        "template": {
                            "metadata": {"labels": {"app": "redis"}},
                            "spec": {"containers": [{"name": "redis", "image": "redis:7"}]},
                        },
                    },
                },
                "parameters": [
                    {"name": "replicas", "fieldPaths": ["spec.replicas"], "type": "number"},
                    {
                        "name": "image",
                        "fieldPaths": ["spec.template.spec.containers[0].image"],
                        "required": True,
                        "type": "string",
                    },
                ],
            }
        }
    },
}


def test_kube_schematic_sets_field_paths() -> None:
    objects, outputs = render_component(KUBE_DEF, "redis", {"image": "redis:8", "replicas": 2}, CTX)
    assert objects[0]["spec"]["replicas"] == 2
    assert objects[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "redis:8"
    assert outputs == {}
    assert KUBE_DEF["spec"]["schematic"]["kube"]["template"]["spec"].get("replicas") is None  # type: ignore[index]
    validate_object(objects[0])


def test_kube_schematic_parameter_types() -> None:
    with pytest.raises(Invalid) as info:
        render_component(KUBE_DEF, "redis", {"replicas": "2"}, CTX)
    fields = {c.field for c in info.value.causes}
    assert fields == {"properties.image", "properties.replicas"}


def test_helm_schematic() -> None:
    d = {
        "kind": "ComponentDefinition",
        "metadata": {"name": "podinfo"},
        "spec": {
            "schematic": {
                "helm": {
                    "chart": "podinfo",
                    "version": "6.7.1",
                    "repository": {"url": "oci://ghcr.io/stefanprodan/charts"},
                    "values": {"replicaCount": 1, "ui": {"color": "red"}},
                }
            }
        },
    }
    objects, outputs = render_component(d, "web", {"values": {"ui": {"color": "blue"}}}, CTX)
    release, source = objects
    assert release["kind"] == "HelmRelease"
    assert release["spec"]["values"] == {"replicaCount": 1, "ui": {"color": "blue"}}
    assert release["spec"]["chartRef"] == {"kind": "OCIRepository", "name": "web"}
    assert source["spec"]["url"] == "oci://ghcr.io/stefanprodan/charts/podinfo"
    assert outputs == {"source": source}


def test_policies() -> None:
    topo = builtins.get("PolicyDefinition", "topology")
    assert render_policy(topo, {"clusters": ["edge"]}, CTX) == {
        "clusters": ["edge"],
        "clusterLabelSelector": {},
    }
    with pytest.raises(Invalid) as info:
        render_policy(topo, {"clusters": "edge"}, CTX, field="spec.policies[0].properties")
    assert info.value.causes[0].field == "spec.policies[0].properties.clusters"


def test_k8s_validation_names_object_and_field() -> None:
    objects, _ = render_component(comp("webservice"), "web", {"image": "x"}, CTX)
    objects[0]["spec"]["replicas"] = "x"
    with pytest.raises(Invalid) as info:
        validate_objects(objects)
    assert info.value.causes[0].field == "manifests[0].spec.replicas"
    assert "Deployment 'web'" in info.value.message


def test_k8s_validation_refuses_unknown_field() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "dat": {}}
    with pytest.raises(Invalid, match="dat"):
        validate_object(obj)


def test_k8s_validation_unknown_kind_passes_with_note() -> None:
    obj = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "r"},
    }
    note = validate_object(obj)
    assert note is not None and "HelmRelease r" in note


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"spec": {"replicas": "x"}},
        {"spec": {"replica": 1}},
        {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
        {"metadata": {"labels": {"a": 1}}},
        {"spec": {"replicas": 2.0}},
    ],
)
def test_fast_and_reference_validators_agree(change: dict[str, Any]) -> None:
    # The compiled validator only decides that an object is valid; the reference one must
    # agree, or an error would be let through.
    objects, _ = render_component(comp("webservice"), "web", {"image": "x"}, CTX)
    obj = merge_patch(objects[0], change)
    version = k8svalidate.default_version()
    fast = k8svalidate.fast_validator_for("apps/v1", "Deployment", version)
    reference = k8svalidate.validator_for("apps/v1", "Deployment", version)
    assert fast is not None and reference is not None
    assert fast.is_valid(obj) == reference.is_valid(obj)


def test_k8s_validation_requires_kind() -> None:
    with pytest.raises(Invalid, match="no apiVersion or kind"):
        validate_object({"metadata": {"name": "x"}})


@pytest.mark.parametrize(
    ("allowed", "ok"),
    [
        (["*"], True),
        (["webservice"], True),
        (["Deployment"], True),
        (["deployments.apps"], True),
        (["jobs.batch"], False),
        (["worker"], False),
    ],
)
def test_applies_to_forms(allowed: list[str], ok: bool) -> None:
    objects, _ = render_component(comp("webservice"), "web", {"image": "x"}, CTX)
    t = trait("scaler")
    t["spec"]["appliesToWorkloads"] = allowed
    if ok:
        out, _ = apply_trait(t, objects, {"replicas": 4}, CTX, component_type="webservice")
        assert out[0]["spec"]["replicas"] == 4
    else:
        with pytest.raises(Invalid, match="does not apply"):
            apply_trait(t, objects, {"replicas": 4}, CTX, component_type="webservice")


def test_revision_snapshot_shape_is_accepted() -> None:
    snapshot = {"name": "worker", "spec": comp("worker")["spec"]}
    with pytest.raises(Invalid, match="'worker'"):
        render_component(snapshot, "w", {"image": 1}, CTX)


def test_a_schema_ref_never_reads_a_file_or_url(tmp_path: Any) -> None:
    # Neither validator retrieves a `$ref` outside the schema: a clear error, nothing read.
    target = tmp_path / "schema.json"
    target.write_text('{"type": "object"}')
    definition = comp("webservice")
    definition["metadata"] = {"name": "reffy"}
    definition["spec"]["schema"] = {"openAPIV3Schema": {"$ref": target.as_uri()}}
    with pytest.raises(Invalid) as info:
        validate_parameters(definition, {"image": "x"})
    assert "refers to" in info.value.message and target.as_uri() in info.value.message
    assert info.value.causes[0].field == "spec.schema.openAPIV3Schema"


def test_a_schema_ref_inside_the_schema_works() -> None:
    definition = comp("webservice")
    definition["metadata"] = {"name": "local-ref"}
    definition["spec"]["schema"] = {
        "openAPIV3Schema": {
            "$defs": {"port": {"type": "integer"}},
            "type": "object",
            "properties": {"port": {"$ref": "#/$defs/port"}},
        }
    }
    assert validate_parameters(definition, {"port": 80}) == {"port": 80}
    with pytest.raises(Invalid) as info:
        validate_parameters(definition, {"port": "x"})
    assert info.value.causes[0].field == "properties.port"
