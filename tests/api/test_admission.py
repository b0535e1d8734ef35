"""`admit()` and `normalize_api_version()`: the generic semantics every kind shares
(normalization, type meta, metadata rules, status handling, error shape, purity)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from axle.api.admission import admit, loc_to_path, normalize_api_version
from axle.api.registry import REGISTRY, KindInfo
from axle.errors import BadRequest, Invalid
from tests.api.manifests import MINIMAL, minimal


def info(kind: str) -> KindInfo:
    return REGISTRY.by_api_version(MINIMAL[kind]["apiVersion"], kind)


def invalid(
    kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None, **kw: Any
) -> Invalid:
    with pytest.raises(Invalid) as exc:
        admit(info(kind), obj, old, **kw)
    return exc.value


def fields(err: Invalid) -> list[str]:
    return [c.field for c in err.causes]


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_every_kind_admits_its_minimal_manifest(kind: str) -> None:
    obj = minimal(kind)
    before = copy.deepcopy(obj)
    out = admit(info(kind), obj)
    assert obj == before, "admit must not modify its input"
    assert out is not obj
    assert out["kind"] == kind and out["metadata"]["name"] == obj["metadata"]["name"]
    # Admitting the admitted object again changes nothing (a kubectl round trip is stable).
    assert admit(info(kind), out) == out
    # And an update with the same body is accepted.
    assert admit(info(kind), out, out) == out


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_every_kind_refuses_an_invalid_name(kind: str) -> None:
    obj = minimal(kind)
    obj["metadata"]["name"] = "Bad/Name"
    err = invalid(kind, obj)
    assert "metadata.name" in fields(err)


def test_error_message_and_causes_read_like_kubernetes() -> None:
    obj = minimal("Tenant")
    obj["spec"] = {"gpuLimits": {"H100": -1}}
    err = invalid("Tenant", obj)
    assert err.message == (
        'Tenant.axle.dev "acme" is invalid: spec.gpuLimits.H100: Invalid value: -1: '
        "must be greater than or equal to 0"
    )
    assert err.kind == "Tenant" and err.name == "acme" and err.group == "axle.dev"
    (cause,) = err.causes
    assert (cause.field, cause.reason) == ("spec.gpuLimits.H100", "FieldValueInvalid")
    status = err.to_status()
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "spec.gpuLimits.H100"


def test_several_errors_are_listed_together() -> None:
    obj = minimal("Project")
    obj["metadata"]["name"] = "Team_A"
    obj["spec"] = {"roleMapping": {"viewer": [""]}}
    err = invalid("Project", obj)
    assert set(fields(err)) == {"spec.tenantRef", "spec.roleMapping.viewer[0]", "metadata.name"}
    assert err.message.startswith('Project.axle.dev "Team_A" is invalid: [')
    reasons = {c.field: c.reason for c in err.causes}
    assert reasons["spec.tenantRef"] == "FieldValueRequired"


def test_unknown_field_is_refused_with_its_path() -> None:
    obj = minimal("Project")
    obj["spec"]["roleMapping"] = {"viewer": ["a"], "owner": ["b"]}
    err = invalid("Project", obj)
    assert fields(err) == ["spec.roleMapping.owner"]
    assert "field not declared in schema" in err.causes[0].message


def test_unknown_top_level_field_is_refused() -> None:
    obj = minimal("Secret")
    obj["extra"] = 1
    assert fields(invalid("Secret", obj)) == ["extra"]


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"gpuLimits": {"NVIDIA-H100": "8"}}, "spec.gpuLimits.NVIDIA-H100"),
        ({"gpuLimits": {"NVIDIA-H100": True}}, "spec.gpuLimits.NVIDIA-H100"),
        ({"gpuLimits": {"NVIDIA-H100": 1.5}}, "spec.gpuLimits.NVIDIA-H100"),
        ({"tenantRoleMapping": {"groups": "admins"}}, "spec.tenantRoleMapping.groups"),
        ({"tenantRoleMapping": {"groups": [7]}}, "spec.tenantRoleMapping.groups[0]"),
        ({"displayName": 5}, "spec.displayName"),
        ({"settingsRef": "default"}, "spec.settingsRef"),
    ],
)
def test_wrong_types_are_refused_with_their_path(patch: dict[str, Any], path: str) -> None:
    obj = minimal("Tenant")
    obj["spec"] = patch
    err = invalid("Tenant", obj)
    assert fields(err) == [path]
    assert "must be of type" in err.causes[0].message


def test_enum_values_are_not_supported_values() -> None:
    obj = minimal("ProfileBundle")
    obj["spec"]["type"] = "Game"
    (cause,) = invalid("ProfileBundle", obj).causes
    assert cause.reason == "FieldValueNotSupported"
    assert cause.message.startswith('Unsupported value: "Game": supported values: "Infrastructure"')


def test_wrong_kind_or_version_is_a_bad_request() -> None:
    obj = minimal("Tenant")
    obj["kind"] = "Project"
    with pytest.raises(BadRequest):
        admit(info("Tenant"), obj)
    obj = minimal("Tenant")
    obj["apiVersion"] = "axle.dev/v2"
    with pytest.raises(BadRequest):
        admit(info("Tenant"), obj)
    with pytest.raises(BadRequest):
        admit(info("Tenant"), minimal("Tenant"), subresource="scale")
    with pytest.raises(BadRequest):
        admit(info("Tenant"), minimal("Tenant"), subresource="status")  # no old object


def test_missing_type_meta_is_filled_in() -> None:
    obj = minimal("Tenant")
    del obj["apiVersion"], obj["kind"]
    out = admit(info("Tenant"), obj)
    assert (out["apiVersion"], out["kind"]) == ("axle.dev/v1alpha1", "Tenant")


@pytest.mark.parametrize("version", ["v1alpha1", "v1beta1"])
def test_spectrocloud_manifests_are_normalized(version: str) -> None:
    obj = minimal("ProfileBundle")
    obj["apiVersion"] = f"spectrocloud.com/{version}"
    out = admit(info("ProfileBundle"), obj)
    assert out["apiVersion"] == "axle.dev/v1alpha1"
    assert obj["apiVersion"] == f"spectrocloud.com/{version}"


def test_normalize_api_version_only_touches_axle_kinds() -> None:
    pb = {"apiVersion": "spectrocloud.com/v1beta1", "kind": "ProfileBundle"}
    out = normalize_api_version(pb)
    assert out == {"apiVersion": "axle.dev/v1alpha1", "kind": "ProfileBundle"} and pb[
        "apiVersion"
    ].startswith("spectro")
    for untouched in (
        {"apiVersion": "spectrocloud.com/v1beta1", "kind": "Widget"},
        {"apiVersion": "spectrocloud.com/v9", "kind": "ProfileBundle"},
        {"apiVersion": "v1", "kind": "Secret"},
        {"kind": "Secret"},
    ):
        assert normalize_api_version(untouched) == untouched


def test_namespace_is_required_iff_namespaced() -> None:
    obj = minimal("Project")
    del obj["metadata"]["namespace"]
    assert fields(invalid("Project", obj)) == ["metadata.namespace"]
    obj = minimal("Project")
    obj["metadata"]["namespace"] = "Team A"
    assert fields(invalid("Project", obj)) == ["metadata.namespace"]
    # Kubernetes clears a cluster-scoped object's namespace instead of refusing it.
    tenant = minimal("Tenant")
    tenant["metadata"]["namespace"] = "default"
    assert "namespace" not in admit(info("Tenant"), tenant)["metadata"]


def test_name_or_generate_name() -> None:
    obj = minimal("Secret")
    del obj["metadata"]["name"]
    err = invalid("Secret", obj)
    assert fields(err) == ["metadata.name"] and err.causes[0].reason == "FieldValueRequired"
    obj["metadata"]["generateName"] = "creds-"
    assert admit(info("Secret"), obj)["metadata"]["generateName"] == "creds-"
    obj["metadata"]["generateName"] = "Creds-"
    assert fields(invalid("Secret", obj)) == ["metadata.generateName"]


def test_labels_annotations_finalizers_owner_references() -> None:
    obj = minimal("ConfigMap")
    obj["metadata"].update(
        labels={"palette.ai/tenant": "acme"},
        annotations={"kubectl.kubernetes.io/last-applied-configuration": "{}"},
        finalizers=["axle.dev/tenant"],
        ownerReferences=[
            {"apiVersion": "v1", "kind": "Namespace", "name": "x", "uid": "1", "controller": True}
        ],
    )
    admit(info("ConfigMap"), obj)
    bad = copy.deepcopy(obj)
    bad["metadata"]["labels"] = {"app": "not valid!"}
    assert fields(invalid("ConfigMap", bad)) == ["metadata.labels"]
    bad = copy.deepcopy(obj)
    bad["metadata"]["finalizers"] = ["a/b/c"]
    assert fields(invalid("ConfigMap", bad)) == ["metadata.finalizers[0]"]
    bad = copy.deepcopy(obj)
    bad["metadata"]["ownerReferences"] *= 2
    assert fields(invalid("ConfigMap", bad)) == ["metadata.ownerReferences"]
    bad = copy.deepcopy(obj)
    bad["metadata"]["labels"] = {"app": 3}
    assert fields(invalid("ConfigMap", bad)) == ["metadata.labels.app"]


def test_server_set_metadata_round_trips() -> None:
    obj = minimal("Tenant")
    obj["metadata"].update(
        uid="7f9c",
        resourceVersion="42",
        generation=3,
        creationTimestamp="2026-01-02T03:04:05Z",
        managedFields=[
            {
                "manager": "kubectl-client-side-apply",
                "operation": "Update",
                "apiVersion": "axle.dev/v1alpha1",
                "time": "2026-01-02T03:04:05Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {".": {}, "f:gpuLimits": {}}},
            }
        ],
    )
    out = admit(info("Tenant"), obj)
    assert out["metadata"]["managedFields"] == obj["metadata"]["managedFields"]
    assert {k: out["metadata"][k] for k in ("uid", "resourceVersion", "generation")} == {
        "uid": "7f9c",
        "resourceVersion": "42",
        "generation": 3,
    }


def test_create_discards_status_and_update_keeps_the_stored_one() -> None:
    obj = minimal("Tenant")
    obj["status"] = {"phase": "Ready"}
    created = admit(info("Tenant"), obj)
    assert "status" not in created
    stored = {**created, "status": {"phase": "Ready", "conditions": []}}
    update = copy.deepcopy(stored)
    update["status"] = {"phase": "Deleting"}
    update["spec"]["gpuLimits"] = {"NVIDIA-H100": 8}
    out = admit(info("Tenant"), update, stored)
    assert out["status"]["phase"] == "Ready"
    assert out["spec"]["gpuLimits"] == {"NVIDIA-H100": 8}


def test_status_subresource_changes_only_status() -> None:
    stored = admit(info("Tenant"), minimal("Tenant"))
    stored["metadata"]["resourceVersion"] = "5"
    write = copy.deepcopy(stored)
    write["metadata"]["resourceVersion"] = "4"
    write["spec"]["gpuLimits"] = {"NVIDIA-H100": 99}
    write["status"] = {
        "phase": "Ready",
        "projects": 2,
        "gpuUsage": {"NVIDIA-H100": 4},
        "extra": "kept",
    }
    out = admit(info("Tenant"), write, stored, subresource="status")
    assert out["spec"] == stored["spec"]
    assert out["status"]["phase"] == "Ready" and out["status"]["extra"] == "kept"
    assert out["metadata"]["resourceVersion"] == "4"  # the client's, for compare-and-swap
    write["status"] = {"phase": "Sleeping"}
    err = invalid("Tenant", write, stored, subresource="status")
    assert fields(err) == ["status.phase"]


def test_status_write_ignores_spec_rules_of_the_stored_object() -> None:
    # A stored object that a newer rule would refuse can still have its status written.
    stored = admit(info("Project"), minimal("Project"))
    stored["spec"]["displayName"] = "not valid!"
    write = {**copy.deepcopy(stored), "status": {"phase": "Ready"}}
    assert admit(info("Project"), write, stored, subresource="status")["status"]["phase"] == "Ready"


def test_name_and_namespace_are_immutable() -> None:
    stored = admit(info("Project"), minimal("Project"))
    renamed = copy.deepcopy(stored)
    renamed["metadata"]["name"] = "team-b"
    assert fields(invalid("Project", renamed, stored)) == ["metadata.name"]
    moved = copy.deepcopy(stored)
    moved["metadata"]["namespace"] = "team-b"
    assert "metadata.namespace" in fields(invalid("Project", moved, stored))
    stored["metadata"]["uid"] = "1"
    other = copy.deepcopy(stored)
    other["metadata"]["uid"] = "2"
    assert fields(invalid("Project", other, stored)) == ["metadata.uid"]


def test_body_must_be_an_object() -> None:
    with pytest.raises(BadRequest):
        admit(info("Tenant"), [])  # type: ignore[arg-type]
    obj = minimal("Tenant")
    obj["metadata"] = "acme"
    assert fields(invalid("Tenant", obj)) == ["metadata"]


def test_loc_to_path() -> None:
    assert loc_to_path(("spec", "roleMapping", "viewer", 0)) == "spec.roleMapping.viewer[0]"
    assert loc_to_path(("spec", "gpuLimits", "H100")) == "spec.gpuLimits.H100"
    assert (
        loc_to_path(("metadata", "labels", "example.com/x", "[key]"))
        == "metadata.labels[example.com/x]"
    )


def test_null_means_absent_but_free_form_nulls_are_kept() -> None:
    obj = minimal("Tenant")
    obj["spec"] = None
    obj["metadata"].update(labels=None, creationTimestamp=None)
    out = admit(info("Tenant"), obj)
    assert out["metadata"] == {"name": "acme"}
    assert out["spec"]["gpuLimits"] == {}
    wp = minimal("WorkloadProfile")
    wp["spec"]["workload"]["components"][0]["properties"] = {"values": {"drop": None}}
    out = admit(info("WorkloadProfile"), wp)
    assert out["spec"]["workload"]["components"][0]["properties"] == {"values": {"drop": None}}
    obj = minimal("Project")
    obj["spec"]["tenantRef"] = None
    assert fields(invalid("Project", obj)) == ["spec.tenantRef"]


def test_status_write_over_an_object_the_schema_no_longer_accepts() -> None:
    stored = admit(info("Tenant"), minimal("Tenant"))
    stored["spec"]["retiredField"] = True  # stored before a schema change removed the field
    write = {**copy.deepcopy(stored), "status": {"phase": "Ready"}}
    out = admit(info("Tenant"), write, stored, subresource="status")
    assert out["status"] == {"phase": "Ready"} and out["spec"]["retiredField"] is True
    write["status"] = {"phase": 3}
    assert fields(invalid("Tenant", write, stored, subresource="status")) == ["status.phase"]
