"""Printing helpers: ages like kubectl, cell text, YAML, why a deletion is held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from axle.cli.delete import held_because
from axle.cli.describe import title
from axle.cli.printers import age, cell_text, clean, to_yaml

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "delta,shown",
    [
        (timedelta(seconds=5), "5s"),
        (timedelta(minutes=3, seconds=2), "3m2s"),
        (timedelta(minutes=45), "45m"),
        (timedelta(hours=4), "4h"),
        (timedelta(days=2), "2d"),
        (timedelta(days=3, hours=5), "3d5h"),
    ],
)
def test_age(delta: timedelta, shown: str) -> None:
    stamp = (NOW - delta).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert age(stamp, NOW) == shown


def test_cells() -> None:
    assert cell_text(None) == "<none>"
    assert cell_text(True) == "true"
    assert cell_text(["a", "b"]) == "a,b"
    assert cell_text("2m", {"type": "date"}) == "2m"  # already humanized by the hub
    assert cell_text(3) == "3"


def test_yaml_is_clean_block_style() -> None:
    obj = {
        "metadata": {"name": "x", "managedFields": [{"manager": "m"}]},
        "data": {"script": "line1\nline2\n"},
    }
    text = to_yaml(clean(obj))
    assert "managedFields" not in text
    assert "script: |" in text
    assert yaml.safe_load(text)["data"]["script"] == "line1\nline2\n"


def test_titles() -> None:
    assert title("gpuLimits") == "GPU Limits"
    assert title("memoryMiB") == "Memory MiB"
    assert title("apiVersion") == "API Version"
    assert title("podCIDR") == "Pod CIDR"
    assert title("tenantRoleMapping") == "Tenant Role Mapping"
    assert title("NVIDIA-H100") == "NVIDIA-H100"
    assert title("uid") == "UID"


def test_held_because() -> None:
    obj = {
        "metadata": {"finalizers": ["axle.dev/tenant"]},
        "status": {
            "phase": "Deleting",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ProjectsRemain",
                    "message": "projects remain: a, b",
                }
            ],
        },
    }
    assert held_because(obj) == (
        "finalizers: axle.dev/tenant; Ready=False ProjectsRemain: projects remain: a, b"
    )
    assert held_because({"metadata": {}, "status": {"phase": "Deleting"}}) == "phase Deleting"


def test_describe_never_prints_secret_values() -> None:
    from axle.cli.describe import describe

    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "n"},
        "type": "Opaque",
        "data": {"token": "c3VwZXItc2VjcmV0"},  # "super-secret"
    }
    text = describe(secret, [])
    assert "Data:\n  token:  12 bytes" in text  # data keys are shown as written
    assert "c3VwZXItc2VjcmV0" not in text and "super-secret" not in text
