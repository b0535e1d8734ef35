"""`axle describe aiworkload`: the status as a data scientist reads it."""

from __future__ import annotations

from typing import Any

from axle.cli.describe import describe
from axle.cli.workloads import is_aiworkload, status_lines


def _aiw(status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "AIWorkload",
        "metadata": {"name": "chat", "namespace": "ml-prod"},
        "spec": {"profileBundleRef": {"name": "llm-inference"}},
        "status": status,
    }


def test_running_workload_shows_components_endpoints_and_deployments() -> None:
    obj = _aiw(
        {
            "phase": "Running",
            "computePool": "shared-h100",
            "revision": 2,
            "bundle": {"name": "llm-inference", "version": "1.0.0"},
            "url": "http://chat.ml-prod.example.com/",
            "gpuRequests": {"NVIDIA-H100": 1},
            "gpuReservation": {"NVIDIA-H100": 1},
            "components": [
                {"name": "vllm", "workloadDeployment": "chat-llm", "ready": 1, "desired": 1},
                {"name": "webui", "workloadDeployment": "chat-llm", "ready": 1, "desired": 1},
            ],
            "endpoints": [{"name": "webui", "url": "http://chat.ml-prod.example.com/"}],
            "workloadDeployments": [
                {"name": "chat-llm", "profile": "llm-inference", "revision": 1, "phase": "Running"}
            ],
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Running", "message": "all ready"}
            ],
        }
    )
    assert is_aiworkload(obj)
    text = describe(obj, [])
    assert "Phase:            Running" in text
    assert "Bundle:           llm-inference@1.0.0" in text
    assert "GPU Reservation:  1 NVIDIA-H100" in text
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if "COMPONENT" in line)
    assert lines[header].split() == ["COMPONENT", "READY", "WORKLOAD", "DEPLOYMENT", "MESSAGE"]
    assert lines[header + 1].split() == ["vllm", "1/1", "chat-llm"]
    assert any(line.split() == ["webui", "http://chat.ml-prod.example.com/"] for line in lines)
    assert any(line.split() == ["chat-llm", "llm-inference", "1", "Running"] for line in lines)
    # The conditions table is still there, once.
    assert text.count("Conditions:") == 1


def test_pending_workload_says_why_and_shows_none_for_the_rest() -> None:
    lines = status_lines(
        {
            "phase": "Pending",
            "message": "waiting for GPU quota: needs 2 NVIDIA-H100, project ml-prod has 1 free",
            "bundle": {"name": "vllm-hf", "mapping": "hf-llms"},
        },
        1,
    )
    text = "\n".join(lines)
    assert "Message:          waiting for GPU quota: needs 2 NVIDIA-H100" in text
    assert "URL:              <none>" in text
    assert "chosen by Model-as-a-Service mapping hf-llms" in text
    assert "Components:" not in text


def test_other_kinds_are_not_aiworkloads() -> None:
    assert not is_aiworkload({"apiVersion": "axle.dev/v1alpha1", "kind": "Compute"})
    assert not is_aiworkload({"apiVersion": "example.com/v1", "kind": "AIWorkload"})
