"""kubectl's own patches against a running hub: client-side apply, server-side apply, patch.

The unit tests check the patch and apply functions against recorded kubectl bodies; these
check the whole path with the real kubectl, whose patch format depends on what the hub
publishes (OpenAPI patch strategies) and whose error output depends on the Status it gets.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.hubproc import HubProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    proc = HubProcess(tmp_path_factory.mktemp("hub") / "data").start()
    try:
        yield proc
    finally:
        proc.stop()


def kubectl(
    hub: HubProcess, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    cmd = ["kubectl", "--kubeconfig", str(Path(hub.data_dir) / "kubeconfig"), *args]
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed: {done.stderr}")
    return done


def get(hub: HubProcess, *what: str) -> dict[str, Any]:
    out = kubectl(hub, "get", *what, "-o", "json", "--show-managed-fields").stdout
    obj: dict[str, Any] = json.loads(out)
    return obj


def configmap(name: str, finalizers: list[str], data: dict[str, str]) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "finalizers": finalizers},
            "data": data,
        }
    )


def test_client_side_apply_removes_what_the_manifest_drops(hub: HubProcess) -> None:
    kubectl(
        hub, "apply", "-f", "-", stdin=configmap("csa", ["x.io/a", "x.io/b"], {"a": "1", "b": "2"})
    )
    kubectl(
        hub, "apply", "-f", "-", stdin=configmap("csa", ["x.io/b", "x.io/c"], {"a": "1", "c": "3"})
    )
    obj = get(hub, "configmap", "csa", "-n", "default")
    assert obj["data"] == {"a": "1", "c": "3"}
    assert obj["metadata"]["finalizers"] == ["x.io/b", "x.io/c"]
    [entry] = obj["metadata"]["managedFields"]
    assert entry["manager"] == "kubectl-client-side-apply"
    assert entry["operation"] == "Update"
    assert set(entry["fieldsV1"]["f:metadata"]["f:finalizers"]) == {".", 'v:"x.io/b"', 'v:"x.io/c"'}
    kubectl(
        hub,
        "patch",
        "configmap",
        "csa",
        "-n",
        "default",
        "--type",
        "json",
        "-p",
        '[{"op": "remove", "path": "/metadata/finalizers"}]',
    )


def test_server_side_apply_conflict_and_force(hub: HubProcess) -> None:
    kubectl(hub, "apply", "--server-side", "-f", "-", stdin=configmap("ssa", [], {"k": "v"}))
    again = kubectl(
        hub,
        "apply",
        "--server-side",
        "--field-manager=other",
        "-f",
        "-",
        stdin=configmap("ssa", [], {"k": "w"}),
        check=False,
    )
    assert again.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .data.k' in again.stderr
    kubectl(
        hub,
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=other",
        "-f",
        "-",
        stdin=configmap("ssa", [], {"k": "w"}),
    )
    obj = get(hub, "configmap", "ssa", "-n", "default")
    assert obj["data"] == {"k": "w"}
    managers = {e["manager"]: e for e in obj["metadata"]["managedFields"]}
    assert managers["other"]["fieldsV1"] == {"f:data": {"f:k": {}}}


def test_strategic_patch_of_an_axle_kind_is_refused_like_a_custom_resource(hub: HubProcess) -> None:
    tenant = {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": "patchme"},
        "spec": {"displayName": "Patch Me", "tenantRoleMapping": {"groups": ["g"]}},
    }
    kubectl(hub, "apply", "-f", "-", stdin=json.dumps(tenant))
    refused = kubectl(
        hub, "patch", "tenant", "patchme", "-p", '{"spec":{"displayName":"X"}}', check=False
    )
    assert refused.returncode != 0
    assert "application/strategic-merge-patch+json is not supported" in refused.stderr
    kubectl(
        hub, "patch", "tenant", "patchme", "--type", "merge", "-p", '{"spec":{"displayName":"X"}}'
    )
    assert get(hub, "tenant", "patchme")["spec"]["displayName"] == "X"
