"""The one GPU-limit rule admission and the Project controller share."""

from __future__ import annotations

from axle.api.quota import gpu_limit_excess


def test_within_and_over_the_tenant_limit() -> None:
    tenant = {"NVIDIA-H100": 32, "NVIDIA-A100": 16}
    assert gpu_limit_excess({"NVIDIA-H100": 32}, tenant) == []
    assert gpu_limit_excess({"NVIDIA-H100": 33, "NVIDIA-A100": 4}, tenant) == [
        ("NVIDIA-H100", 33, 32)
    ]


def test_a_family_the_tenant_does_not_list_is_not_limited() -> None:
    assert gpu_limit_excess({"NVIDIA-L40S": 100}, {"NVIDIA-H100": 8}) == []
    assert gpu_limit_excess({"NVIDIA-L40S": 100}, {}) == []


def test_zero_is_a_real_limit() -> None:
    assert gpu_limit_excess({"NVIDIA-H100": 1}, {"NVIDIA-H100": 0}) == [("NVIDIA-H100", 1, 0)]
