"""Per-kind defaulting and validation: each rule of each kind, with a case it accepts and a
case it refuses (and the field path the refusal names)."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from axle.api.admission import admit
from axle.api.registry import REGISTRY
from axle.errors import Invalid
from tests.api.manifests import MINIMAL, minimal


def ok(
    kind: str, obj: dict[str, Any] | None = None, old: dict[str, Any] | None = None
) -> dict[str, Any]:
    info = REGISTRY.by_api_version(MINIMAL[kind]["apiVersion"], kind)
    return admit(info, obj if obj is not None else minimal(kind), old)


def refused(kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, str]:
    """The causes of the refusal, as {field: message}."""
    info = REGISTRY.by_api_version(MINIMAL[kind]["apiVersion"], kind)
    with pytest.raises(Invalid) as exc:
        admit(info, obj, old)
    return {c.field: c.message for c in exc.value.causes}


def with_spec(kind: str, **spec: Any) -> dict[str, Any]:
    obj = minimal(kind)
    obj["spec"].update(spec)
    return obj


# --- Tenant ------------------------------------------------------------------------------


def test_tenant_defaults() -> None:
    obj = minimal("Tenant")
    del obj["spec"]
    out = ok("Tenant", obj)
    assert out["spec"] == {"tenantRoleMapping": {"groups": []}, "gpuLimits": {}}
    out = ok("Tenant", with_spec("Tenant", settingsRef={"name": "default"}))
    assert out["spec"]["settingsRef"] == {"name": "default", "namespace": "tenant-acme"}
    out = ok("Tenant", with_spec("Tenant", settingsRef={"name": "s", "namespace": "shared"}))
    assert out["spec"]["settingsRef"]["namespace"] == "shared"


def test_tenant_full_spec() -> None:
    out = ok(
        "Tenant",
        with_spec(
            "Tenant",
            displayName="Acme Corp",
            tenantRoleMapping={"groups": ["acme-admins"]},
            gpuLimits={"NVIDIA-H100": 16, "NVIDIA-A100": 0},
        ),
    )
    assert out["spec"]["gpuLimits"] == {"NVIDIA-H100": 16, "NVIDIA-A100": 0}


def test_tenant_rules() -> None:
    assert "spec.tenantRoleMapping.groups[1]" in refused(
        "Tenant", with_spec("Tenant", tenantRoleMapping={"groups": ["a", "a"]})
    )
    assert "spec.gpuLimits[NVIDIA H100]" in refused(
        "Tenant", with_spec("Tenant", gpuLimits={"NVIDIA H100": 1})
    )
    long = minimal("Tenant")
    long["metadata"]["name"] = "a" * 57  # tenant-<name> would exceed 63 characters
    assert "must be no more than 56 characters" in refused("Tenant", long)["metadata.name"]
    long["metadata"]["name"] = "a" * 56
    ok("Tenant", long)
    assert "spec.settingsRef.name" in refused(
        "Tenant", with_spec("Tenant", settingsRef={"name": "Bad Name"})
    )


# --- Project -----------------------------------------------------------------------------


def test_project_defaults_and_full_spec() -> None:
    out = ok("Project")
    assert out["spec"]["roleMapping"] == {"viewer": [], "editor": [], "admin": []}
    full = with_spec(
        "Project",
        displayName="Team A 2",
        description="research",
        tags=["gpu", "llm"],
        roleMapping={"viewer": ["v"], "editor": ["e"], "admin": ["a"]},
        settingsRef={"name": "team-a"},
        computeConfigRef={"name": "defaults"},
        gpuLimits={"NVIDIA-H100": 4},
    )
    assert ok("Project", full)["spec"]["computeConfigRef"] == {"name": "defaults"}


@pytest.mark.parametrize("namespace", ["axle-system", "tenant-acme", "spoke-gpu-pool-1"])
def test_project_may_not_live_in_system_or_tenant_namespaces(namespace: str) -> None:
    obj = minimal("Project")
    obj["metadata"]["namespace"] = namespace
    assert refused("Project", obj)["metadata.namespace"].startswith("Forbidden:")


def test_project_name_need_not_equal_namespace() -> None:
    obj = minimal("Project")
    obj["metadata"]["name"] = "research"
    ok("Project", obj)


def test_project_rules() -> None:
    assert "spec.displayName" in refused("Project", with_spec("Project", displayName="Team-A!"))
    assert "spec.tags[1]" in refused("Project", with_spec("Project", tags=["x", "x"]))
    assert "spec.roleMapping.admin[1]" in refused(
        "Project", with_spec("Project", roleMapping={"admin": ["g", "g"]})
    )
    assert "spec.gpuLimits.NVIDIA-H100" in refused(
        "Project", with_spec("Project", gpuLimits={"NVIDIA-H100": -2})
    )


def test_project_tenant_ref_is_immutable() -> None:
    stored = ok("Project")
    moved = copy.deepcopy(stored)
    moved["spec"]["tenantRef"] = {"name": "other"}
    assert "field is immutable" in refused("Project", moved, stored)["spec.tenantRef"]
    relabelled = copy.deepcopy(stored)
    relabelled["spec"]["displayName"] = "New Name"
    ok("Project", relabelled, stored)


# --- Settings ----------------------------------------------------------------------------


def test_settings_defaults_secret_keys() -> None:
    obj = with_spec(
        "Settings",
        huggingFace={"secretRef": {"name": "hf"}},
        ngc={"secretRef": {"name": "ngc", "key": "k"}},
    )
    spec = ok("Settings", obj)["spec"]
    assert spec["palette"]["secretRef"] == {"name": "palette-creds", "key": "palette"}
    assert spec["huggingFace"]["secretRef"]["key"] == "token"
    assert spec["ngc"]["secretRef"]["key"] == "k"


def test_settings_rules() -> None:
    obj = minimal("Settings")
    obj["metadata"]["name"] = "my.settings"  # a subdomain, but not a DNS label
    assert "metadata.name" in refused("Settings", obj)
    assert "spec.vault" in refused(
        "Settings", with_spec("Settings", vault={"secretRef": {"name": "x"}})
    )
    assert "spec.palette.secretRef.key" in refused(
        "Settings", with_spec("Settings", palette={"secretRef": {"name": "p", "key": "a/b"}})
    )
    stored = ok("Settings")
    stored["status"] = {
        "effectiveSettings": {
            "palette": {
                "source": {"namespace": "tenant-acme", "name": "default"},
                "secretRef": {
                    "name": "palette-creds",
                    "namespace": "tenant-acme",
                    "key": "palette",
                },
            }
        }
    }
    info = REGISTRY.lookup("settings")
    written = admit(info, stored, stored, subresource="status")["status"]
    assert written["effectiveSettings"] == stored["status"]["effectiveSettings"]


# --- Secret, ConfigMap, Namespace, Event -------------------------------------------------


def test_secret_string_data_is_merged_into_data() -> None:
    obj = minimal("Secret")
    obj["data"] = {"palette": base64.b64encode(b"old").decode(), "other": "eA=="}
    out = ok("Secret", obj)
    assert "stringData" not in out
    assert base64.b64decode(out["data"]["palette"]) == b"{}"
    assert out["data"]["other"] == "eA=="
    assert out["type"] == "Opaque"


def test_secret_rules() -> None:
    obj = minimal("Secret")
    obj["data"] = {"k": "not base64!"}
    assert "data[k]" in refused("Secret", obj)
    obj = minimal("Secret")
    obj["stringData"] = {"a/b": "x"}
    assert "data" in refused("Secret", obj)
    tls = minimal("Secret")
    tls["type"] = "kubernetes.io/tls"
    tls["stringData"] = {"tls.crt": "c"}
    assert refused("Secret", tls) == {"data[tls.key]": "Required value"}
    tls["stringData"]["tls.key"] = "k"
    ok("Secret", tls)


def test_secret_type_and_immutable_data() -> None:
    stored = ok("Secret")
    changed = copy.deepcopy(stored)
    changed["type"] = "kubernetes.io/basic-auth"
    changed["data"]["username"] = "dQ=="
    assert "type" in refused("Secret", changed, stored)
    frozen = copy.deepcopy(stored)
    frozen["immutable"] = True
    frozen = ok("Secret", frozen, stored)
    edit = copy.deepcopy(frozen)
    edit["data"]["palette"] = "eA=="
    assert "data" in refused("Secret", edit, frozen)
    thaw = copy.deepcopy(frozen)
    thaw["immutable"] = False
    assert "immutable" in refused("Secret", thaw, frozen)
    ok("Secret", copy.deepcopy(frozen), frozen)


def test_config_map_rules() -> None:
    obj = minimal("ConfigMap")
    obj["binaryData"] = {"rules.yaml": "eA=="}
    assert "data" in refused("ConfigMap", obj)
    obj = minimal("ConfigMap")
    obj["data"] = {"..bad": "x"}
    assert "data" in refused("ConfigMap", obj)
    stored = minimal("ConfigMap")
    stored["immutable"] = True
    stored = ok("ConfigMap", stored)
    edit = copy.deepcopy(stored)
    edit["data"] = {"rules.yaml": "- x"}
    assert "data" in refused("ConfigMap", edit, stored)


def test_namespace_phase_and_name() -> None:
    out = ok("Namespace")
    assert out["status"] == {"phase": "Active", "conditions": []}
    obj = minimal("Namespace")
    obj["metadata"]["name"] = "a.b"
    assert "metadata.name" in refused("Namespace", obj)
    obj = minimal("Namespace")
    obj["spec"] = {"finalizers": ["kubernetes"]}
    assert ok("Namespace", obj)["spec"] == {"finalizers": ["kubernetes"]}


def test_event_rules_and_defaults() -> None:
    assert ok("Event")["count"] == 1
    obj = minimal("Event")
    obj["involvedObject"]["namespace"] = "elsewhere"
    assert "involvedObject.namespace" in refused("Event", obj)
    obj = minimal("Event")
    obj["type"] = "Bad"
    assert refused("Event", obj)["type"].startswith("Unsupported value")
    obj = minimal("Event")
    obj["lastTimestamp"] = "yesterday"
    assert "lastTimestamp" in refused("Event", obj)
    obj = minimal("Event")
    del obj["involvedObject"]
    assert refused("Event", obj) == {"involvedObject": "Required value"}


# --- RBAC, Lease -------------------------------------------------------------------------


def test_role_rules() -> None:
    obj = minimal("Role")
    obj["rules"] = [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]
    assert "rules[0].nonResourceURLs" in refused("Role", obj)
    obj["rules"] = [{"resources": ["pods"], "verbs": ["get"]}]
    assert refused("Role", obj) == {
        "rules[0].apiGroups": "Required value: resource rules must supply at least one api group"
    }
    obj["rules"] = [{"apiGroups": [""], "resources": ["pods"], "verbs": []}]
    assert "rules[0].verbs" in refused("Role", obj)
    cr = minimal("ClusterRole")
    cr["rules"] = [
        {"apiGroups": [""], "resources": ["pods"], "nonResourceURLs": ["/x"], "verbs": ["get"]}
    ]
    assert "rules[0].nonResourceURLs" in refused("ClusterRole", cr)


def test_bindings_default_subject_groups_and_keep_role_ref() -> None:
    out = ok("RoleBinding")
    assert out["subjects"][0]["apiGroup"] == "rbac.authorization.k8s.io"
    assert out["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    changed = copy.deepcopy(out)
    changed["roleRef"]["name"] = "editor"
    assert "cannot change roleRef" in refused("RoleBinding", changed, out)["roleRef"]
    sa = minimal("ClusterRoleBinding")
    sa["subjects"] = [{"kind": "ServiceAccount", "name": "agent"}]
    assert "subjects[0].namespace" in refused("ClusterRoleBinding", sa)
    sa["subjects"][0]["namespace"] = "spoke-a"
    assert ok("ClusterRoleBinding", sa)["subjects"][0]["apiGroup"] == ""
    crb = minimal("ClusterRoleBinding")
    crb["roleRef"]["kind"] = "Role"
    assert "roleRef.kind" in refused("ClusterRoleBinding", crb)
    bad = minimal("RoleBinding")
    bad["subjects"] = [{"kind": "Robot", "name": "r"}]
    assert "subjects[0].kind" in refused("RoleBinding", bad)


def test_lease_rules() -> None:
    assert "spec.renewTime" in refused("Lease", with_spec("Lease", renewTime="now"))
    assert "spec.leaseDurationSeconds" in refused(
        "Lease", with_spec("Lease", leaseDurationSeconds=0)
    )


# --- VariableSet -------------------------------------------------------------------------


def _var(**kw: Any) -> dict[str, Any]:
    return {"name": "x", "variableType": "string", "value": {"string": "v"}, **kw}


def test_variable_set_defaults_and_types() -> None:
    spec = ok(
        "VariableSet",
        with_spec(
            "VariableSet",
            variables=[_var(), _var(name="on", variableType="bool", value={"bool": True})],
        ),
    )["spec"]
    assert spec["variables"][0]["validationMode"] == "optional"
    assert spec["variables"][0]["inputType"] == "text"
    assert spec["variables"][1]["value"] == {"bool": True}


@pytest.mark.parametrize(
    ("var", "path"),
    [
        (_var(value={"int32": 1}), "spec.variables[0].value"),
        (_var(value={"string": "a", "int32": 1}), "spec.variables[0].value"),
        (_var(variableType="int32", value={"int32": 2**31}), "spec.variables[0].value.int32"),
        (_var(locked=True, validationMode="required"), "spec.variables[0].locked"),
        (_var(name="1abc"), "spec.variables[0].name"),
        (_var(variableType="uint8"), "spec.variables[0].variableType"),
        (_var(description="d" * 1025), "spec.variables[0].description"),
    ],
)
def test_variable_rules(var: dict[str, Any], path: str) -> None:
    assert path in refused("VariableSet", with_spec("VariableSet", variables=[var]))


def test_variable_set_name_and_duplicates() -> None:
    assert "spec.variables[1].name" in refused(
        "VariableSet", with_spec("VariableSet", variables=[_var(), _var()])
    )
    obj = minimal("VariableSet")
    obj["metadata"]["name"] = "mural-variables"
    ok("VariableSet", obj)
    obj["metadata"]["name"] = "my-vars"
    assert refused("VariableSet", obj)["metadata.name"].startswith("Unsupported value")


# --- Compute, ComputeConfig, ComputePool, evaluation, scaling ----------------------------


def test_compute_spec_and_status() -> None:
    stored = ok("Compute")
    stored["status"] = {
        "workerCompute": [
            {
                "architecture": "AMD64",
                "cpuCount": 64,
                "instances": 1,
                "gpu": {"family": "NVIDIA-H100", "gpuCount": 8},
                "machines": [{"id": "edge-5db0", "state": "available"}],
            }
        ]
    }
    info = REGISTRY.lookup("compute")
    assert (
        admit(info, stored, stored, subresource="status")["status"]["workerCompute"][0]["instances"]
        == 1
    )
    stored["status"]["workerCompute"][0]["machines"][0]["state"] = "broken"
    with pytest.raises(Invalid):
        admit(info, stored, stored, subresource="status")
    assert "spec.tagSelector[bad key!]" in refused(
        "Compute", with_spec("Compute", tagSelector={"bad key!": "x"})
    )


def test_compute_config_node_count_rules() -> None:
    def cc(**cp: Any) -> dict[str, Any]:
        return with_spec(
            "ComputeConfig", paletteClusterConfig={"defaults": {"controlPlanePool": cp}}
        )

    ok("ComputeConfig", cc(nodeCount=5))
    ok("ComputeConfig", cc(nodeCount=1, workerNodeEligible=True))
    causes = refused("ComputeConfig", cc(nodeCount=2))
    assert causes["spec.paletteClusterConfig.defaults.controlPlanePool.nodeCount"].startswith(
        'Unsupported value: 2: supported values: "1", "3", "5"'
    )
    assert "spec.paletteClusterConfig.defaults.controlPlanePool.workerNodeEligible" in refused(
        "ComputeConfig", cc(nodeCount=1)
    )
    assert "spec.paletteClusterConfig.defaults.controlPlanePool.nodeCount" in refused(
        "ComputeConfig", cc()
    )


def test_compute_pool_rules() -> None:
    pool = minimal("ComputePool")
    dedicated = pool["spec"]["clusterVariant"]["dedicated"]
    both = copy.deepcopy(pool)
    both["spec"]["clusterVariant"]["shared"] = copy.deepcopy(dedicated)
    assert "spec.clusterVariant.shared" in refused("ComputePool", both)
    neither = copy.deepcopy(pool)
    neither["spec"]["clusterVariant"] = {"workerResourceGroups": {"gpu": "true"}}
    assert "spec.clusterVariant" in refused("ComputePool", neither)
    short = copy.deepcopy(pool)
    short["metadata"]["name"] = "ab"
    assert "metadata.name" in refused("ComputePool", short)
    dup = copy.deepcopy(pool)
    workers = dup["spec"]["clusterVariant"]["dedicated"]["paletteClusterDeploymentConfig"][
        "nodePoolRequirements"
    ]["workerPools"]
    workers.append(copy.deepcopy(workers[0]))
    assert any(f.endswith("workerPools[1].name") for f in refused("ComputePool", dup))
    vip = copy.deepcopy(pool)
    vip["spec"]["clusterVariant"]["dedicated"]["paletteClusterDeploymentConfig"]["edge"] = {
        "vip": "10.0.0.300"
    }
    assert any(f.endswith("edge.vip") for f in refused("ComputePool", vip))
    out = ok("ComputePool")
    assert out["spec"]["cloudType"] == "edge-native"
    assert dedicated["paletteClusterDeploymentConfig"].get("deletionPolicy") is None
    assert (
        out["spec"]["clusterVariant"]["dedicated"]["paletteClusterDeploymentConfig"][
            "deletionPolicy"
        ]
        == "delete"
    )


def test_compute_pool_variant_is_immutable() -> None:
    stored = ok("ComputePool")
    switched = copy.deepcopy(stored)
    switched["spec"]["clusterVariant"] = {"shared": stored["spec"]["clusterVariant"]["dedicated"]}
    assert "field is immutable" in refused("ComputePool", switched, stored)["spec.clusterVariant"]
    resized = copy.deepcopy(stored)
    resized["spec"]["clusterVariant"]["dedicated"]["paletteClusterDeploymentConfig"][
        "nodePoolRequirements"
    ]["workerPools"][0]["nodeCount"] = 2
    ok("ComputePool", resized, stored)


def test_compute_pool_evaluation_rules() -> None:
    pool_spec = minimal("ComputePool")["spec"]
    ok(
        "ComputePoolEvaluation",
        {**minimal("ComputePoolEvaluation"), "spec": {"computePool": pool_spec}},
    )
    both = with_spec("ComputePoolEvaluation", computePool=pool_spec)
    assert "spec.computePool" in refused("ComputePoolEvaluation", both)
    assert "spec.computePool" in refused(
        "ComputePoolEvaluation", {**minimal("ComputePoolEvaluation"), "spec": {}}
    )


def test_scaling_policy_rules() -> None:
    gpu = [{"family": "NVIDIA-H100", "scaleUpThreshold": 90, "scaleDownThreshold": 10}]
    ok(
        "ScalingPolicy",
        with_spec(
            "ScalingPolicy",
            gpu=gpu,
            gpuResourceBounds=[{"family": "NVIDIA-H100", "maxGPUCount": 16}],
        ),
    )
    assert "spec.cpu" in refused("ScalingPolicy", {**minimal("ScalingPolicy"), "spec": {}})
    assert "spec.cpu.scaleDownThreshold" in refused(
        "ScalingPolicy",
        with_spec("ScalingPolicy", cpu={"scaleUpThreshold": 50, "scaleDownThreshold": 60}),
    )
    assert "spec.gpuResourceBounds[0].family" in refused(
        "ScalingPolicy", with_spec("ScalingPolicy", gpuResourceBounds=[{"family": "NVIDIA-A100"}])
    )
    assert "spec.cooldownDuration" in refused(
        "ScalingPolicy", with_spec("ScalingPolicy", cooldownDuration="15 min")
    )
    assert "spec.cpuResourceBounds.minCPUCount" in refused(
        "ScalingPolicy",
        with_spec("ScalingPolicy", cpuResourceBounds={"minCPUCount": 8, "maxCPUCount": 4}),
    )


# --- definitions, profiles, bundles ------------------------------------------------------


def test_definition_schematic_rules() -> None:
    two = with_spec(
        "ComponentDefinition", schematic={"jsonnet": {"template": "{}"}, "helm": {"chart": "x"}}
    )
    assert "spec.schematic.helm" in refused("ComponentDefinition", two)
    assert "spec.schematic" in refused(
        "TraitDefinition", with_spec("TraitDefinition", schematic={})
    )
    schema = with_spec("PolicyDefinition", schema={"openAPIV3Schema": {"type": "string"}})
    assert "spec.schema.openAPIV3Schema.type" in refused("PolicyDefinition", schema)
    good = with_spec(
        "ComponentDefinition",
        schema={"openAPIV3Schema": {"type": "object", "properties": {"image": {"type": "string"}}}},
        definitionOutputRefs=[
            {
                "name": "host",
                "pathRef": {"apiVersion": "v1", "kind": "Service", "path": ".spec.clusterIP"},
            }
        ],
    )
    assert ok("ComponentDefinition", good)["spec"]["schema"]["openAPIV3Schema"]["type"] == "object"
    bad_path = copy.deepcopy(good)
    bad_path["spec"]["definitionOutputRefs"][0]["pathRef"]["path"] = "spec.clusterIP"
    assert "spec.definitionOutputRefs[0].pathRef.path" in refused("ComponentDefinition", bad_path)


def test_definition_revision_rules() -> None:
    stored = ok("DefinitionRevision")
    edited = copy.deepcopy(stored)
    edited["spec"]["revisionHash"] = "other"
    assert refused("DefinitionRevision", edited, stored)["spec"].startswith("Forbidden")
    wrong = with_spec("DefinitionRevision", definitionType="Trait")
    causes = refused("DefinitionRevision", wrong)
    assert {"spec.traitDefinition", "spec.componentDefinition"} <= set(causes)


def test_workload_profile_rules() -> None:
    stored = ok("WorkloadProfile")
    assert stored["spec"]["workload"]["components"][0]["deploymentPriority"] == 0
    edited = copy.deepcopy(stored)
    edited["spec"]["description"] = "changed"
    assert "cannot be edited" in refused("WorkloadProfile", edited, stored)["spec"]
    dup = minimal("WorkloadProfile")
    dup["spec"]["workload"]["components"] *= 2
    assert "spec.workload.components[1].name" in refused("WorkloadProfile", dup)
    empty = minimal("WorkloadProfile")
    empty["spec"]["workload"]["components"] = []
    assert "spec.workload.components" in refused("WorkloadProfile", empty)
    outputs = minimal("WorkloadProfile")
    ref = {
        "name": "ip",
        "pathRef": {"apiVersion": "v1", "kind": "Service", "path": ".spec.clusterIP"},
    }
    outputs["spec"]["workload"]["components"][0]["definitionOutputRefs"] = [ref, ref]
    assert "spec.workload.components[0].definitionOutputRefs[1].name" in refused(
        "WorkloadProfile", outputs
    )


def test_profile_bundle_rules() -> None:
    infra = {"name": "edge", "type": "Infrastructure"}
    full = {"name": "edge-full", "type": "Full"}
    ok(
        "ProfileBundle",
        {
            **minimal("ProfileBundle"),
            "spec": {"type": "Infrastructure", "clusterProfiles": [infra]},
        },
    )
    two = {
        **minimal("ProfileBundle"),
        "spec": {"type": "Infrastructure", "clusterProfiles": [infra, full]},
    }
    assert "spec.clusterProfiles[1].type" in refused("ProfileBundle", two)
    assert "spec.clusterProfiles" in refused(
        "ProfileBundle",
        {
            **minimal("ProfileBundle"),
            "spec": {"type": "Fullstack", "workloadProfiles": [{"name": "w"}]},
        },
    )
    assert "spec.workloadProfiles" in refused(
        "ProfileBundle", {**minimal("ProfileBundle"), "spec": {"type": "Application"}}
    )
    inline = with_spec(
        "ProfileBundle", variableSet={"variables": [_var(locked=True, validationMode="required")]}
    )
    assert "spec.variableSet.variables[0].locked" in refused("ProfileBundle", inline)


def test_spectrocloud_v1beta1_profile_bundle_is_accepted() -> None:
    manifest = {
        "apiVersion": "spectrocloud.com/v1beta1",
        "kind": "ProfileBundle",
        "metadata": {"name": "llm-stack", "namespace": "team-a"},
        "spec": {
            "type": "Fullstack",
            "clusterProfiles": [
                {"name": "edge-gpu", "type": "Full"},
                {"name": "gpu-operator", "type": "Add-on"},
            ],
            "workloadProfiles": [{"name": "vllm", "revision": 2}],
            "variableSet": {
                "variables": [
                    {"name": "model", "variableType": "string", "value": {"string": "llama"}}
                ]
            },
            "workloadProfileDependencies": {
                "helmRepositories": [{"name": "vllm", "url": "https://charts.example.com"}]
            },
        },
    }
    out = admit(REGISTRY.by_api_version(manifest["apiVersion"], "ProfileBundle"), manifest)
    assert out["apiVersion"] == "axle.dev/v1alpha1"
    assert out["spec"]["workloadProfiles"] == [{"name": "vllm", "revision": 2}]


# --- environments, workloads, spokes -----------------------------------------------------


def test_environment_rules() -> None:
    assert "spec.topology" in refused("Environment", {**minimal("Environment"), "spec": {}})
    byop = {**minimal("Environment"), "spec": {"topology": {"type": "topology-ocm-byop"}}}
    assert "spec.topology.properties.placementRef" in refused("Environment", byop)
    placement = {
        "type": "topology-ocm",
        "properties": {
            "hubNamespace": "managed-cluster-set-global",
            "placement": {
                "numberOfClusters": 3,
                "predicates": [
                    {
                        "requiredClusterSelector": {
                            "labelSelector": {"matchLabels": {"region": "us-east-2"}}
                        }
                    }
                ],
            },
            "manifestWorkReplicaSet": {"rolloutStrategy": {"type": "All", "all": {}}},
        },
    }
    ok("Environment", {**minimal("Environment"), "spec": {"topology": placement}})
    bad = copy.deepcopy(placement)
    bad["properties"]["placement"]["predicates"][0]["requiredClusterSelector"]["labelSelector"] = {
        "matchExpressions": [{"key": "region", "operator": "In"}]
    }
    assert any(
        f.endswith("matchExpressions[0].values")
        for f in refused("Environment", {**minimal("Environment"), "spec": {"topology": bad}})
    )


def test_ai_workload_type_label() -> None:
    out = ok("AIWorkload")
    assert out["metadata"]["labels"] == {"axle.dev/aiworkload-type": "application"}
    model = minimal("AIWorkload")
    model["metadata"]["labels"] = {"palette.ai/aiworkload-type": "model"}
    out = ok("AIWorkload", model)
    assert out["metadata"]["labels"]["axle.dev/aiworkload-type"] == "model"
    switched = copy.deepcopy(out)
    switched["metadata"]["labels"]["axle.dev/aiworkload-type"] = "application"
    assert "metadata.labels[axle.dev/aiworkload-type]" in refused("AIWorkload", switched, out)
    odd = minimal("AIWorkload")
    odd["metadata"]["labels"] = {"axle.dev/aiworkload-type": "game"}
    assert "metadata.labels[axle.dev/aiworkload-type]" in refused("AIWorkload", odd)


def test_ai_workload_pool_choice() -> None:
    dedicated = minimal("ComputePool")["spec"]["clusterVariant"]["dedicated"][
        "paletteClusterDeploymentConfig"
    ]
    both = with_spec("AIWorkload", paletteClusterDeploymentConfig=dedicated)
    assert "spec.paletteClusterDeploymentConfig" in refused("AIWorkload", both)
    only_dedicated = minimal("AIWorkload")
    del only_dedicated["spec"]["computePoolRef"]
    only_dedicated["spec"]["paletteClusterDeploymentConfig"] = dedicated
    only_dedicated["spec"]["model"] = {"source": "huggingFace", "name": "meta-llama/Llama-3-8B"}
    ok("AIWorkload", only_dedicated)
    neither = minimal("AIWorkload")
    del neither["spec"]["computePoolRef"]
    assert "spec.computePoolRef" in refused("AIWorkload", neither)


def test_workload_deployment_and_work() -> None:
    wd = minimal("WorkloadDeployment")
    del wd["spec"]["environmentRef"]
    assert refused("WorkloadDeployment", wd) == {"spec.environmentRef": "Required value"}
    work = minimal("Work")
    work["metadata"]["namespace"] = "team-a"
    assert "metadata.namespace" in refused("Work", work)
    work = minimal("Work")
    work["spec"]["artifact"]["digest"] = "sha256:nothex"
    assert "spec.artifact.digest" in refused("Work", work)
    assert ok("Work")["spec"]["deleteOption"] == {"propagationPolicy": "Foreground"}


def test_spoke_defaults_and_name_limit() -> None:
    out = ok("Spoke")
    assert out["spec"]["hubAcceptsClient"] is True and out["spec"]["leaseDurationSeconds"] == 60
    long = minimal("Spoke")
    long["metadata"]["name"] = "s" * 58  # spoke-<name> would exceed 63 characters
    assert "metadata.name" in refused("Spoke", long)
