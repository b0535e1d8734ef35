"""App and Model Deployments end to end, with processes.

One hub (`axle up --palette-sim`, its Palette simulator and spoke-agent host as child
processes) pushing artifacts to a real `docker-registry` on loopback; the quickstart applied
with `axle apply` (tenant, projects, settings, compute, the shared pool `shared-h100` of one
control plane and two 8-GPU H100 workers). The tests then act as a data scientist would, and
run in file order on that one hub (each cleans up what it made):

- the LLM example bundle as an App Deployment on the shared pool: Running with its URL, the
  artifact in the registry, `axle get aiworkloads` showing phase, pool, revision and URL;
- an upgrade (a new model) and `axle rollout undo` back to the first revision's artifact;
- an app over the project's GPU quota waits with the numbers and starts once quota frees;
- a GPU request no node can hold shows the scheduler's reason with the pool's name;
- the registry down: the next revision says so; back up: it rolls out;
- the spoke-agent host killed mid-rollout: restarted by the hub, the rollout completes;
- an app that creates its own dedicated pool, and removes it when deleted;
- a Model Deployment whose bundle a Model-as-a-Service mapping chooses, its Hugging Face
  token reaching the spoke as a Secret and never the artifact.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from axle.oci import pull
from tests.integration.hubproc import HubProcess, wait_for
from tests.integration.registryproc import RegistryProcess

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "examples" / "inventory" / "small-fleet.yaml"
API = "/apis/axle.dev/v1alpha1"
NS = "ml-prod"
AIW = f"{API}/namespaces/{NS}/aiworkloads"
WDS = f"{API}/namespaces/{NS}/workloaddeployments"
PROJECT = f"{API}/namespaces/{NS}/projects/{NS}"
MERGE = {"Content-Type": "application/merge-patch+json"}
APP_TIMEOUT = 60.0

# A one-component app whose GPU count is a variable: the quota and scheduling tests.
GPU_APP = """
apiVersion: axle.dev/v1alpha1
kind: WorkloadProfile
metadata: {name: gpu-job, namespace: ml-prod}
spec:
  type: Application
  workload:
    components:
      - name: trainer
        type: webservice
        properties: {image: "nvcr.io/nvidia/pytorch:24.05-py3", port: 8080}
        traits:
          - type: gpu
            properties: {count: "{{ .var.gpus }}"}
---
apiVersion: axle.dev/v1alpha1
kind: ProfileBundle
metadata: {name: gpu-job, namespace: ml-prod}
spec:
  type: Application
  version: "1.0.0"
  workloadProfiles: [{name: gpu-job}]
  variableSet:
    variables:
      - {name: gpus, variableType: int32, value: {int32: 1}}
"""


class Deployment:
    """The hub, its registry and the user's CLI, shared by the tests of this file."""

    def __init__(self, hub: HubProcess, registry: RegistryProcess, tmp: Path) -> None:
        self.hub = hub
        self.registry = registry
        self.tmp = tmp
        self.http = hub.client()

    def axle(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "AXLE_SERVER": self.hub.url, "AXLE_TOKEN": self.hub.token}
        proc = subprocess.run(
            [sys.executable, "-m", "axle.cli.main", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"axle {' '.join(args)}: {proc.returncode}\n{proc.stdout}{proc.stderr}"
            )
        return proc

    def apply_text(self, text: str, name: str) -> None:
        path = self.tmp / f"{name}.yaml"
        path.write_text(text)
        self.axle("apply", "-f", str(path))

    def app(
        self, name: str, bundle: str, variables: dict[str, Any] | None = None, **spec: Any
    ) -> None:
        body = {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "AIWorkload",
            "metadata": {
                "name": name,
                "namespace": NS,
                "labels": {"axle.dev/aiworkload-type": "application"},
            },
            "spec": {
                "profileBundleRef": {"name": bundle},
                **({"variables": variables} if variables else {}),
                **(spec or {"computePoolRef": {"name": "shared-h100"}}),
            },
        }
        self.apply_text(yaml.safe_dump(body), f"aiw-{name}")

    def get(self, name: str) -> dict[str, Any]:
        resp = self.http.get(f"{AIW}/{name}")
        resp.raise_for_status()
        return dict(resp.json())

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.get(name).get("status") or {})

    def wait_phase(
        self, name: str, phase: str, timeout: float = APP_TIMEOUT, **match: Any
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            st = self.status(name)
            if st.get("phase") != phase:
                return None
            return st if all(st.get(k) == v for k, v in match.items()) else None

        try:
            return wait_for(reached, timeout=timeout, interval=0.2, what=f"{name} {phase}")
        except AssertionError as err:
            raise AssertionError(
                f"{err}\nlast status: {json.dumps(self.status(name), indent=1)}"
            ) from None

    def wait_message(self, name: str, *parts: str, timeout: float = APP_TIMEOUT) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            st = self.status(name)
            msg = str(st.get("message") or "")
            return st if all(p in msg for p in parts) else None

        try:
            return wait_for(found, timeout=timeout, interval=0.2, what=f"{name} message {parts}")
        except AssertionError as err:
            raise AssertionError(
                f"{err}\nlast status: {json.dumps(self.status(name), indent=1)}"
            ) from None

    def delete(self, name: str, timeout: float = APP_TIMEOUT) -> None:
        self.http.delete(f"{AIW}/{name}")
        wait_for(
            lambda: self.http.get(f"{AIW}/{name}").status_code == 404,
            timeout=timeout,
            interval=0.2,
            what=f"aiworkload {name} gone",
        )

    def wds(self, app: str) -> list[dict[str, Any]]:
        items = self.http.get(WDS, params={"labelSelector": f"axle.dev/aiworkload={app}"}).json()
        return list(items.get("items") or [])

    def digests(self, app: str) -> list[str]:
        return sorted(
            str(((wd.get("status") or {}).get("artifact") or {}).get("digest"))
            for wd in self.wds(app)
        )

    def project_usage(self) -> dict[str, int]:
        return dict((self.http.get(PROJECT).json().get("status") or {}).get("gpuUsage") or {})


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("aiworkloads")
    registry = RegistryProcess(tmp / "registry").start()
    hub = HubProcess(
        tmp / "data",
        (
            "--palette-sim",
            "--inventory",
            str(INVENTORY),
            "--palette-sim-port",
            "0",
            "--palette-sim-provisioning-seconds",
            "0",
            "--compute-sync-seconds",
            "1",
            "--artifact-store",
            registry.url("axle"),
            "--artifact-store-insecure",
        ),
    ).start()
    try:
        sim = re.search(r"Palette simulator serving on (\S+)", hub.output())
        assert sim, hub.output()
        quickstart = tmp / "quickstart"
        shutil.copytree(ROOT / "examples" / "quickstart", quickstart)
        settings = quickstart / "10-shared-settings.yaml"
        settings.write_text(settings.read_text().replace("http://127.0.0.1:8700", sim.group(1)))
        dep = Deployment(hub, registry, tmp)
        dep.axle("apply", "-f", str(quickstart))
        wait_for(
            lambda: (
                (
                    dep.http.get(f"{API}/namespaces/{NS}/computepools/shared-h100")
                    .json()
                    .get("status")
                    or {}
                ).get("phase")
                == "Running"
            ),
            timeout=60,
            interval=0.2,
            what="shared pool Running",
        )
        yield dep
    finally:
        code = hub.stop()
        registry.stop()
        if code not in (0, -signal.SIGTERM):
            print(hub.output())


def test_app_on_the_shared_pool_runs_with_its_url(env: Deployment) -> None:
    env.axle("apply", "-f", str(ROOT / "examples" / "bundles" / "llm-inference.yaml"), "-n", NS)
    env.axle("apply", "-f", str(ROOT / "examples" / "apps" / "chat.yaml"))
    st = env.wait_phase("chat", "Running")
    assert st["computePool"] == "shared-h100"
    assert st["revision"] == 1
    assert st["url"] == "http://chat.ml-prod.example.com/"
    assert {c["name"]: (c["ready"], c["desired"]) for c in st["components"]} == {
        "vllm": (1, 1),
        "webui": (1, 1),
    }
    # The artifact is in the real registry, by digest.
    (digest,) = env.digests("chat")
    wd = env.wds("chat")[0]
    url = wd["status"]["artifact"]["url"]
    assert url.startswith(f"oci://{env.registry.host}/")
    repo = url.removeprefix(f"oci://{env.registry.host}/").split(":")[0].split("@")[0]
    manifest = httpx.get(
        f"http://{env.registry.host}/v2/{repo}/manifests/{digest}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert manifest.status_code == 200
    # The GPU the vLLM server requests is charged to the project (shared pool: per workload).
    # The project's status shows usage coalesced, up to half a second after the reservation.
    wait_for(
        lambda: env.project_usage().get("NVIDIA-H100") == 1,
        timeout=10,
        interval=0.1,
        what="project usage 1 NVIDIA-H100",
    )
    table = env.axle("get", "aiworkloads", "-n", NS).stdout.splitlines()
    assert table[0].split() == ["NAME", "TYPE", "PHASE", "POOL", "REVISION", "URL", "AGE"]
    assert table[1].split()[:6] == [
        "chat",
        "application",
        "Running",
        "shared-h100",
        "1",
        "http://chat.ml-prod.example.com/",
    ]


def test_upgrade_then_rollback_redeploys_the_first_artifact(env: Deployment) -> None:
    (first,) = env.digests("chat")
    env.http.patch(
        f"{AIW}/chat",
        headers=MERGE,
        content=json.dumps({"spec": {"variables": {"model": "meta-llama/Llama-3.1-8B-Instruct"}}}),
    ).raise_for_status()
    env.wait_phase("chat", "Running", revision=2)
    (second,) = env.digests("chat")
    assert second != first
    history = env.axle("rollout", "history", "chat", "-n", NS).stdout
    revisions = [line.split()[0] for line in history.splitlines() if line[:1].isdigit()]
    assert revisions == ["1", "2"], history
    out = env.axle("rollout", "undo", "chat", "-n", NS).stdout
    assert "rolled back to revision 1" in out
    env.wait_phase("chat", "Running", revision=3)
    assert env.digests("chat") == [first]


def test_over_quota_app_waits_and_starts_when_quota_frees(env: Deployment) -> None:
    env.apply_text(GPU_APP, "gpu-job")
    env.http.patch(
        PROJECT, headers=MERGE, content=json.dumps({"spec": {"gpuLimits": {"NVIDIA-H100": 4}}})
    ).raise_for_status()
    try:
        env.app("big", "gpu-job", {"gpus": 3})
        env.wait_phase("big", "Running")
        env.app("late", "gpu-job", {"gpus": 2})
        st = env.wait_message("late", "GPU quota", "2 NVIDIA-H100")
        assert st["phase"] == "Pending"
        assert not st.get("gpuReservation")
        env.delete("big")
        env.wait_phase("late", "Running")
        env.delete("late")
    finally:
        env.http.patch(
            PROJECT, headers=MERGE, content=json.dumps({"spec": {"gpuLimits": {"NVIDIA-H100": 24}}})
        )


def test_a_gpu_request_no_node_can_hold_shows_the_schedulers_reason(env: Deployment) -> None:
    env.apply_text(GPU_APP, "gpu-job")
    env.app("huge", "gpu-job", {"gpus": 9})
    st = env.wait_message("huge", "Insufficient nvidia.com/gpu", "shared-h100", "needs 9")
    assert st["phase"] in ("Deploying", "Degraded")
    assert "trainer" in st["message"]
    env.delete("huge")


def test_registry_down_then_up_recovers(env: Deployment) -> None:
    env.registry.stop()
    try:
        env.http.patch(
            f"{AIW}/chat",
            headers=MERGE,
            content=json.dumps({"spec": {"variables": {"host": "chat2.ml-prod.example.com"}}}),
        ).raise_for_status()
        st = env.wait_message("chat", "registry")
        assert st["phase"] != "Failed"
    finally:
        env.registry.start()
    env.wait_phase("chat", "Running", url="http://chat2.ml-prod.example.com/", timeout=90)


def test_agent_host_killed_mid_rollout_resumes(env: Deployment) -> None:
    pid_file = env.hub.data_dir / "spokes" / "agent-host.pid"
    pid = int(pid_file.read_text().split()[0])
    env.http.patch(
        f"{AIW}/chat",
        headers=MERGE,
        content=json.dumps({"spec": {"variables": {"host": "chat3.ml-prod.example.com"}}}),
    ).raise_for_status()
    os.kill(pid, signal.SIGKILL)
    env.wait_phase("chat", "Running", url="http://chat3.ml-prod.example.com/", timeout=90)
    new_pid = int(pid_file.read_text().split()[0])
    assert new_pid != pid


def test_app_with_its_own_dedicated_pool_removes_it_on_delete(env: Deployment) -> None:
    env.apply_text(GPU_APP, "gpu-job")
    config = {
        "nodePoolRequirements": {
            "controlPlanePool": {"nodeCount": 1, "workerNodeEligible": True},
            "workerPools": [
                {"name": "h100", "nodeCount": 1, "gpu": {"family": "NVIDIA-H100", "gpuCount": 8}}
            ],
        },
        "deletionPolicy": "delete",
    }
    env.app("solo", "gpu-job", {"gpus": 2}, paletteClusterDeploymentConfig=config)
    st = env.wait_phase("solo", "Running", timeout=90)
    pool = st["computePool"]
    pools = f"{API}/namespaces/{NS}/computepools"
    assert env.http.get(f"{pools}/{pool}").status_code == 200
    env.delete("solo", timeout=90)
    wait_for(
        lambda: env.http.get(f"{pools}/{pool}").status_code == 404, timeout=60, what="pool gone"
    )


def test_two_workloads_with_one_object_name_conflict_clearly(env: Deployment) -> None:
    # The model bundle's server component is also called `vllm`: in one namespace on one
    # spoke its Deployment would be chat's. The second workload says so; chat keeps running.
    env.axle("apply", "-f", str(ROOT / "examples" / "bundles" / "model-vllm.yaml"))
    clash = {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "AIWorkload",
        "metadata": {
            "name": "clash",
            "namespace": NS,
            "labels": {"axle.dev/aiworkload-type": "model"},
        },
        "spec": {
            "profileBundleRef": {"name": "model-vllm"},
            "computePoolRef": {"name": "shared-h100"},
            "variables": {"host": "clash.ml-prod.example.com"},
        },
    }
    env.apply_text(yaml.safe_dump(clash), "aiw-clash")
    st = env.wait_message("clash", "Deployment ml-prod/vllm belongs to Work", "(workload chat)")
    assert st["phase"] == "Degraded"
    assert env.status("chat")["phase"] == "Running"
    env.delete("clash")


def test_model_deployment_through_a_maas_mapping(env: Deployment) -> None:
    # Deleting chat prunes its objects from the spoke and releases its GPU.
    env.delete("chat")
    wait_for(lambda: not env.project_usage(), timeout=30, interval=0.2, what="quota released")
    env.axle("apply", "-f", str(ROOT / "examples" / "bundles" / "model-vllm.yaml"))
    mapping = {
        "name": "hf-vllm",
        "source": "huggingFace",
        "filters": {"organizations": ["Qwen"]},
        "profileBundleRef": {"name": "model-vllm"},
    }
    env.http.patch(
        PROJECT, headers=MERGE, content=json.dumps({"spec": {"modelAsAServiceMappings": [mapping]}})
    ).raise_for_status()
    body = {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "AIWorkload",
        "metadata": {
            "name": "qwen",
            "namespace": NS,
            "labels": {"axle.dev/aiworkload-type": "model"},
        },
        "spec": {
            "model": {"source": "huggingFace", "name": "Qwen/Qwen2.5-0.5B-Instruct"},
            "computePoolRef": {"name": "shared-h100"},
            "variables": {"host": "qwen.ml-prod.example.com"},
        },
    }
    env.apply_text(yaml.safe_dump(body), "aiw-qwen")
    st = env.wait_phase("qwen", "Running")
    assert st["bundle"]["name"] == "model-vllm"
    assert st["bundle"]["mapping"] == "hf-vllm"
    assert st["url"] == "http://qwen.ml-prod.example.com/"
    (wd,) = env.wds("qwen")
    assert wd["spec"]["variables"]["model"] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert [r["targetName"] for r in wd["spec"]["secretRefs"]] == ["model-credentials"]
    # The token reached the spoke's hub namespace as a Secret the agent copies; it is in no
    # manifest of the artifact.
    artifact = wd["status"]["artifact"]
    manifests = asyncio.run(pull(artifact["url"], artifact["digest"]))
    text = json.dumps(manifests)
    assert "hf_example_read_only_token" not in text
    assert "model-credentials" in text
    works = env.http.get(
        f"{API}/works",
        params={"labelSelector": "axle.dev/workloaddeployment=" + wd["metadata"]["name"]},
    ).json()["items"]
    assert works and all(w["spec"]["secretRefs"] for w in works)
    spoke_ns = works[0]["metadata"]["namespace"]
    copies = env.http.get(f"/api/v1/namespaces/{spoke_ns}/secrets").json()["items"]
    assert any(c["metadata"]["name"] == works[0]["spec"]["secretRefs"][0]["name"] for c in copies)
    env.delete("qwen")
