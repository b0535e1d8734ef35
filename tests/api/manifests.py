"""A minimal valid manifest of every kind, as a user would write it (the smallest body each
kind's admission accepts). Tests copy and bend these to probe one rule at a time."""

from __future__ import annotations

import copy
from typing import Any

import axle.api.kinds  # noqa: F401  (registers every kind the manifests below name)

AXLE = "axle.dev/v1alpha1"
DIGEST = "sha256:" + "ab" * 32

_CONTROL_PLANE = {"nodeCount": 3}
_DEPLOYMENT_CONFIG = {
    "nodePoolRequirements": {
        "controlPlanePool": {"nodeCount": 1, "workerNodeEligible": True},
        "workerPools": [{"name": "gpu", "gpu": {"family": "NVIDIA-H100", "gpuCount": 8}}],
    }
}


def _obj(
    api_version: str, kind: str, name: str, namespace: str | None, **body: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **body}


MINIMAL: dict[str, dict[str, Any]] = {
    "Namespace": _obj("v1", "Namespace", "team-a", None),
    "Secret": _obj("v1", "Secret", "palette-creds", "team-a", stringData={"palette": "{}"}),
    "ConfigMap": _obj("v1", "ConfigMap", "cfg", "team-a", data={"rules.yaml": "[]"}),
    "Event": _obj(
        "v1",
        "Event",
        "acme.1",
        "team-a",
        involvedObject={"kind": "Project", "name": "team-a", "namespace": "team-a"},
        reason="Ready",
        message="project is ready",
        type="Normal",
    ),
    "Role": _obj(
        "rbac.authorization.k8s.io/v1",
        "Role",
        "viewer",
        "team-a",
        rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    ),
    "ClusterRole": _obj(
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        "axle:viewer",
        None,
        rules=[{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}],
    ),
    "RoleBinding": _obj(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "viewers",
        "team-a",
        subjects=[{"kind": "Group", "name": "data-scientists"}],
        roleRef={"kind": "Role", "name": "viewer"},
    ),
    "ClusterRoleBinding": _obj(
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        "admins",
        None,
        subjects=[{"kind": "User", "name": "alice"}],
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
    ),
    "ControllerRevision": _obj(
        "apps/v1",
        "ControllerRevision",
        "chat-7d9f8c6b5a",
        "ml-prod",
        data={"spec": {"profileBundleRef": {"name": "llm-inference"}}},
        revision=1,
    ),
    "Lease": _obj(
        "coordination.k8s.io/v1",
        "Lease",
        "axle-hub",
        "axle-system",
        spec={
            "holderIdentity": "hub-1",
            "leaseDurationSeconds": 15,
            "renewTime": "2026-01-02T03:04:05.123456Z",
        },
    ),
    "Tenant": _obj(AXLE, "Tenant", "acme", None, spec={}),
    "Project": _obj(AXLE, "Project", "team-a", "team-a", spec={"tenantRef": {"name": "acme"}}),
    "Settings": _obj(
        AXLE,
        "Settings",
        "default",
        "tenant-acme",
        spec={"palette": {"secretRef": {"name": "palette-creds"}}},
    ),
    "VariableSet": _obj(
        AXLE,
        "VariableSet",
        "axle-variables",
        "team-a",
        spec={"variables": [{"name": "replicas", "variableType": "int32", "value": {"int32": 2}}]},
    ),
    "Compute": _obj(
        AXLE, "Compute", "inventory", "team-a", spec={"tagSelector": {"palette.ai": "true"}}
    ),
    "ComputeConfig": _obj(
        AXLE,
        "ComputeConfig",
        "defaults",
        "team-a",
        spec={"paletteClusterConfig": {"defaults": {"controlPlanePool": _CONTROL_PLANE}}},
    ),
    "ComputePool": _obj(
        AXLE,
        "ComputePool",
        "gpu-pool",
        "team-a",
        spec={
            "profileBundleRef": {"name": "edge-infra"},
            "clusterVariant": {"dedicated": {"paletteClusterDeploymentConfig": _DEPLOYMENT_CONFIG}},
        },
    ),
    "ComputePoolEvaluation": _obj(
        AXLE,
        "ComputePoolEvaluation",
        "fit",
        "team-a",
        spec={"computePoolRef": {"name": "gpu-pool"}},
    ),
    "ScalingPolicy": _obj(
        AXLE,
        "ScalingPolicy",
        "cpu",
        "team-a",
        spec={"cpu": {"scaleUpThreshold": 80, "scaleDownThreshold": 20, "scaleUpDuration": "5m"}},
    ),
    "ComponentDefinition": _obj(
        AXLE,
        "ComponentDefinition",
        "webservice",
        "axle-system",
        spec={"schematic": {"jsonnet": {"template": "function(parameter, context) {output: {}}"}}},
    ),
    "TraitDefinition": _obj(
        AXLE,
        "TraitDefinition",
        "gpu",
        "axle-system",
        spec={"schematic": {"kube": {"template": {"spec": {}}}}},
    ),
    "PolicyDefinition": _obj(
        AXLE,
        "PolicyDefinition",
        "topology",
        "axle-system",
        spec={"schematic": {"helm": {"chart": "topology"}}},
    ),
    "DefinitionRevision": _obj(
        AXLE,
        "DefinitionRevision",
        "webservice-v1",
        "axle-system",
        spec={
            "definitionType": "Component",
            "revision": 1,
            "revisionHash": "abc123",
            "componentDefinition": {"name": "webservice", "spec": {}},
        },
    ),
    "WorkloadProfile": _obj(
        AXLE,
        "WorkloadProfile",
        "chat",
        "team-a",
        spec={
            "type": "Application",
            "workload": {"components": [{"name": "web", "type": "webservice"}]},
        },
    ),
    "ProfileBundle": _obj(
        AXLE,
        "ProfileBundle",
        "chat-app",
        "team-a",
        spec={"type": "Application", "workloadProfiles": [{"name": "chat", "revision": 1}]},
    ),
    "Environment": _obj(
        AXLE, "Environment", "gpu-pool", "team-a", spec={"computePoolRefs": [{"name": "gpu-pool"}]}
    ),
    "AIWorkload": _obj(
        AXLE,
        "AIWorkload",
        "chat",
        "team-a",
        spec={"profileBundleRef": {"name": "chat-app"}, "computePoolRef": {"name": "gpu-pool"}},
    ),
    "WorkloadDeployment": _obj(
        AXLE,
        "WorkloadDeployment",
        "chat-web",
        "team-a",
        spec={
            "workloadProfileRef": {"name": "chat", "revision": 1},
            "environmentRef": {"name": "gpu-pool"},
        },
    ),
    "Spoke": _obj(
        AXLE,
        "Spoke",
        "gpu-pool-1",
        None,
        spec={"computePoolRef": {"name": "gpu-pool", "namespace": "team-a"}},
    ),
    "Work": _obj(
        AXLE,
        "Work",
        "chat-web",
        "spoke-gpu-pool-1",
        spec={"artifact": {"url": "oci://registry/team-a/chat-web", "digest": DIGEST}},
    ),
}


def minimal(kind: str) -> dict[str, Any]:
    """A fresh copy of `kind`'s minimal manifest."""
    return copy.deepcopy(MINIMAL[kind])
