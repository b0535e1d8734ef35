"""Shared objects for the oci tests: a small, realistic set of rendered manifests."""

from __future__ import annotations

from typing import Any

import pytest


def sample_manifests(replicas: int = 1) -> list[dict[str, Any]]:
    """A namespace, a Deployment and a Service, in apply order, as render would give them."""
    labels = {"app.kubernetes.io/name": "vllm", "axle.dev/workload": "llm"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "vllm", "namespace": "team-a", "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "vllm",
                                "image": "vllm/vllm-openai:v0.6.0",
                                "args": ["--model", "meta-llama/Llama-3.1-8B", "--port", "8000"],
                                "resources": {"limits": {"nvidia.com/gpu": 1}},
                            }
                        ]
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "vllm", "namespace": "team-a"},
            "spec": {"selector": labels, "ports": [{"port": 8000, "targetPort": 8000}]},
        },
    ]


@pytest.fixture
def manifests() -> list[dict[str, Any]]:
    return sample_manifests()
