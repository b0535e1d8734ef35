"""Built-in definitions: admitted by the api kinds, golden renders, determinism.

Golden files (`golden/<definition>.yaml`) hold the objects each built-in renders for a fixed
input; regenerate them with `AXLE_UPDATE_GOLDEN=1 pytest tests/render/test_builtins.py` and
review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from axle.api.admission import admit
from axle.api.definitions import COMPONENT_DEFINITION, POLICY_DEFINITION, TRAIT_DEFINITION
from axle.errors import Invalid
from axle.render import builtins
from axle.render.definitions import (
    apply_trait,
    find_definition,
    render_component,
    render_policy,
)
from axle.render.k8svalidate import validate_objects

GOLDEN = Path(__file__).parent / "golden"
CTX = {"namespace": "team-a", "appName": "demo", "appRevision": "demo-v1", "appRevisionNum": 1}
CATALOG = builtins.load()
INFO = {
    "ComponentDefinition": COMPONENT_DEFINITION,
    "TraitDefinition": TRAIT_DEFINITION,
    "PolicyDefinition": POLICY_DEFINITION,
}

COMPONENT_INPUTS: dict[str, dict[str, Any]] = {
    "webservice": {
        "image": "ghcr.io/acme/api:1.2",
        "port": 8080,
        "replicas": 2,
        "args": ["--log=info"],
        "env": {"MODE": "prod"},
    },
    "worker": {"image": "ghcr.io/acme/consumer:3", "cmd": ["consume"], "env": {"QUEUE": "jobs"}},
    "task": {"image": "ghcr.io/acme/migrate:1", "cmd": ["migrate", "up"], "backoffLimit": 2},
    "cron-task": {"image": "ghcr.io/acme/backup:2", "schedule": "0 3 * * *"},
    "helm": {
        "chart": "ray-cluster",
        "version": "1.1.0",
        "repoURL": "https://ray-project.github.io/kuberay-helm/",
        "values": {"worker": {"replicas": 2}},
    },
    "k8s-objects": {
        "objects": [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "a"},
                "data": {"k": "v"},
            },
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "b"}},
        ]
    },
}

# Each trait is applied to a webservice rendered from COMPONENT_INPUTS.
TRAIT_INPUTS: dict[str, dict[str, Any]] = {
    "gpu": {"count": 2, "family": "NVIDIA-H100-80GB-HBM3"},
    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
    "scaler": {"replicas": 3},
    "env": {
        "env": {"LOG": "debug"},
        "secretRefs": [{"name": "HF_TOKEN", "secret": "hf", "key": "t"}],
    },
    "labels": {"labels": {"team": "research"}},
    "annotations": {"annotations": {"owner": "ml@example.com"}},
    "storage": {
        "pvc": [
            {"name": "models", "mountPath": "/models", "size": "100Gi", "storageClassName": "fast"}
        ],
        "emptyDir": [{"name": "scratch", "mountPath": "/scratch", "medium": "Memory"}],
    },
    "gateway": {"host": "api.example.com", "port": 8080, "className": "nginx", "tlsSecret": "tls"},
    "affinity": {
        "nodeSelector": {"topology.kubernetes.io/zone": "us-east-1a"},
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}
        ],
    },
}

POLICY_INPUTS: dict[str, dict[str, Any]] = {
    "topology": {"clusters": ["edge-1"], "clusterLabelSelector": {"region": "us-east"}},
    "override": {"components": [{"name": "api", "properties": {"replicas": 5}}]},
}


def dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=True, default_flow_style=False)


def render(kind: str, name: str) -> Any:
    definition = CATALOG[kind][name]
    if kind == "ComponentDefinition":
        objects, _ = render_component(definition, name, COMPONENT_INPUTS[name], CTX)
        return objects
    if kind == "TraitDefinition":
        base, _ = render_component(
            CATALOG["ComponentDefinition"]["webservice"], "api", COMPONENT_INPUTS["webservice"], CTX
        )
        objects, _ = apply_trait(
            definition, base, TRAIT_INPUTS[name], CTX, component_type="webservice"
        )
        return objects
    return render_policy(definition, POLICY_INPUTS[name], CTX)


ALL = [(kind, name) for kind in sorted(CATALOG) for name in sorted(CATALOG[kind])]


def test_catalog_is_complete() -> None:
    assert set(CATALOG["ComponentDefinition"]) == set(COMPONENT_INPUTS)
    assert set(CATALOG["TraitDefinition"]) == set(TRAIT_INPUTS)
    assert set(CATALOG["PolicyDefinition"]) == set(POLICY_INPUTS)


@pytest.mark.parametrize(("kind", "name"), ALL)
def test_admitted_by_api(kind: str, name: str) -> None:
    manifest = CATALOG[kind][name]
    stored = admit(INFO[kind], manifest)
    assert stored["metadata"]["namespace"] == "axle-system"
    assert stored["spec"]["schematic"] == manifest["spec"]["schematic"]


@pytest.mark.parametrize(("kind", "name"), ALL)
def test_golden(kind: str, name: str) -> None:
    text = dump(render(kind, name))
    path = GOLDEN / f"{name}.yaml"
    if os.environ.get("AXLE_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with AXLE_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("kind", "name"), ALL)
def test_output_passes_kubernetes_validation(kind: str, name: str) -> None:
    if kind == "PolicyDefinition":
        return
    notes = validate_objects(render(kind, name))
    # Only the helm component renders kinds without shipped schemas (Flux CRDs).
    assert (notes != []) == (name == "helm")


@pytest.mark.parametrize(("kind", "name"), ALL)
def test_deterministic(kind: str, name: str) -> None:
    first = render(kind, name)
    second = render(kind, name)
    assert dump(first) == dump(second)
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    # Dict insertion order is stable too, so even unsorted serialisation is byte-identical.
    assert json.dumps(first) == json.dumps(second)


def test_load_returns_copies() -> None:
    first = builtins.load()
    first["ComponentDefinition"]["webservice"]["spec"] = {}
    assert builtins.load()["ComponentDefinition"]["webservice"]["spec"] != {}


def test_unknown_trait() -> None:
    with pytest.raises(Invalid, match="unknown trait 'autoscale'") as info:
        find_definition(
            CATALOG, "TraitDefinition", "autoscale", field="spec.components[0].traits[0].type"
        )
    assert info.value.causes[0].field == "spec.components[0].traits[0].type"
    assert find_definition(CATALOG, "TraitDefinition", "gpu")["metadata"]["name"] == "gpu"


def test_k8s_objects_keeps_order_beyond_ten() -> None:
    objs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}} for i in range(12)
    ]
    rendered, _ = render_component(
        CATALOG["ComponentDefinition"]["k8s-objects"], "x", {"objects": objs}, CTX
    )
    assert [o["metadata"]["name"] for o in rendered] == [f"c{i}" for i in range(12)]


_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=20)


@settings(max_examples=50, deadline=None)
@given(
    image=_text.filter(bool),
    port=st.integers(1, 65535),
    replicas=st.integers(0, 100),
    env=st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True), _text, max_size=4),
    gpus=st.integers(1, 8),
)
def test_render_is_deterministic_for_any_input(
    image: str, port: int, replicas: int, env: dict[str, str], gpus: int
) -> None:
    props = {"image": image, "port": port, "replicas": replicas, "env": env}

    def once() -> str:
        objects, _ = render_component(
            CATALOG["ComponentDefinition"]["webservice"], "web", props, CTX
        )
        objects, _ = apply_trait(
            CATALOG["TraitDefinition"]["gpu"],
            objects,
            {"count": gpus},
            CTX,
            component_type="webservice",
        )
        validate_objects(objects)
        return json.dumps(objects)

    first = once()
    assert first == once()
    assert json.loads(first)[0]["spec"]["replicas"] == replicas
