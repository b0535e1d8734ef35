"""A dedicated ComputePool end to end, with processes: hub + Palette simulator + spoke agent.

`axle up --palette-sim` (the simulator provisioning at once), the quickstart applied with
`axle apply`, then a dedicated pool of 1 control-plane + 2 H100 hosts: it goes Running, its
hosts are `in-use` in Compute, the Spoke (whose agent the hub started as its agent-host child
process) reports 16 GPUs; deleting the pool deletes the Palette cluster and frees the hosts.
A second test kills the hub with SIGKILL while the pool provisions and restarts it: the pool
reaches Running with one Palette cluster and no host reserved twice.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from axle.api.meta import get_condition
from tests.integration.hubproc import HubProcess, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "examples" / "inventory" / "small-fleet.yaml"
API = "/apis/axle.dev/v1alpha1"
COMPUTE = f"{API}/namespaces/ml-prod/computes/fleet"
POOLS = f"{API}/namespaces/ml-prod/computepools"

DEDICATED = {
    "apiVersion": "axle.dev/v1alpha1",
    "kind": "ComputePool",
    "metadata": {"name": "train", "namespace": "ml-prod"},
    "spec": {
        "profileBundleRef": {"name": "edge-infra", "namespace": "ml-prod"},
        "clusterVariant": {
            "dedicated": {
                "paletteClusterDeploymentConfig": {
                    "nodePoolRequirements": {
                        "controlPlanePool": {"nodeCount": 1, "workerNodeEligible": True},
                        "workerPools": [
                            {
                                "name": "h100",
                                "nodeCount": 2,
                                "gpu": {"family": "NVIDIA-H100", "gpuCount": 8},
                            }
                        ],
                    },
                    "deletionPolicy": "delete",
                }
            }
        },
    },
}


def machines(compute: dict[str, Any]) -> dict[str, str]:
    status = compute.get("status") or {}
    return {
        m["name"]: m["state"]
        for group in [*status.get("controlPlaneCompute", []), *status.get("workerCompute", [])]
        for m in group.get("machines", [])
    }


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_hub(data: Path, provisioning: str = "0", sim_port: int = 0) -> HubProcess:
    return HubProcess(
        data,
        (
            "--palette-sim",
            "--inventory",
            str(INVENTORY),
            "--palette-sim-port",
            str(sim_port),
            "--compute-sync-seconds",
            "1",
            "--palette-sim-provisioning-seconds",
            provisioning,
        ),
    ).start()


def apply_quickstart(hub: HubProcess, tmp_path: Path) -> str:
    """The quickstart without its shared pool (the quota leaves room for one 16-GPU pool)."""
    m = re.search(r"Palette simulator serving on (\S+)", hub.output())
    assert m, hub.output()
    sim = m.group(1)
    quickstart = tmp_path / "quickstart"
    shutil.copytree(ROOT / "examples" / "quickstart", quickstart)
    settings = quickstart / "10-shared-settings.yaml"
    settings.write_text(settings.read_text().replace("http://127.0.0.1:8700", sim))
    pool_file = quickstart / "50-pool.yaml"
    docs = [d for d in yaml.safe_load_all(pool_file.read_text()) if d["kind"] != "ComputePool"]
    pool_file.write_text(yaml.safe_dump_all(docs))
    env = {**os.environ, "AXLE_SERVER": hub.url, "AXLE_TOKEN": hub.token}
    subprocess.run(
        [sys.executable, "-m", "axle.cli.main", "apply", "-f", str(quickstart)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return sim


def create_pool(http: httpx.Client) -> None:
    def ready_project() -> bool:
        p = http.get(f"{API}/namespaces/ml-prod/projects/ml-prod").json()
        synced = get_condition(http.get(COMPUTE).json(), "Synced") or {}
        return (p.get("status") or {}).get("phase") == "Ready" and synced.get("status") == "True"

    wait_for(ready_project, timeout=30, what="project Ready and Compute synced")
    r = http.post(POOLS, json=DEDICATED)
    assert r.status_code == 201, r.text


def pool_phase(http: httpx.Client, phase: str, timeout: float = 60) -> dict[str, Any]:
    last: list[Any] = [None]

    def check() -> dict[str, Any] | None:
        p = http.get(f"{POOLS}/train").json()
        last[0] = p.get("status")
        return p if (p.get("status") or {}).get("phase") == phase else None

    try:
        return wait_for(check, timeout=timeout, what=f"pool train {phase}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last status: {last[0]}") from None


def palette_clusters(sim: str) -> list[str]:
    r = httpx.post(
        f"{sim}/v1/dashboard/spectroclusters/search",
        headers={"ApiKey": "sim-api-key"},
        json={},
        timeout=5,
    )
    r.raise_for_status()
    return [c["metadata"]["name"] for c in r.json()["items"]]


def test_dedicated_pool_with_a_real_agent(tmp_path: Path) -> None:
    hub = start_hub(tmp_path / "data")
    try:
        sim = apply_quickstart(hub, tmp_path)
        with hub.client() as http:
            create_pool(http)
            pool = pool_phase(http, "Running")
            reserved = {m["name"] for m in pool["status"]["reservedMachines"]}
            assert len(reserved) == 3
            [cluster] = pool["status"]["clusters"]
            spoke = http.get(f"{API}/spokes/{cluster['name']}").json()
            assert (get_condition(spoke, "Joined") or {}).get("status") == "True"

            def gpus() -> bool:
                s = http.get(f"{API}/spokes/{cluster['name']}").json()
                return ((s.get("status") or {}).get("capacity") or {}).get("nvidia.com/gpu") == 16

            wait_for(gpus, timeout=30, what="the spoke reporting 16 GPUs")
            wait_for(
                lambda: all(machines(http.get(COMPUTE).json())[n] == "in-use" for n in reserved),
                timeout=15,
                what="the reserved hosts in-use",
            )
            assert palette_clusters(sim) == [cluster["name"]]

            assert http.delete(f"{POOLS}/train").status_code == 200
            wait_for(
                lambda: http.get(f"{POOLS}/train").status_code == 404,
                timeout=60,
                what="the pool gone",
            )
            assert palette_clusters(sim) == []
            wait_for(
                lambda: all(machines(http.get(COMPUTE).json())[n] == "available" for n in reserved),
                timeout=15,
                what="the hosts available again",
            )
            assert http.get(f"{API}/spokes/{cluster['name']}").status_code == 404
    finally:
        assert hub.stop() == 0, hub.output()


def test_sigkill_during_provisioning(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # A fixed simulator port: the restarted hub's simulator must answer where the Secret says.
    sim_port = _free_port()
    hub = start_hub(data, provisioning="3", sim_port=sim_port)
    try:
        sim = apply_quickstart(hub, tmp_path)
        with hub.client() as http:
            create_pool(http)
            pool_phase(http, "Provisioning", timeout=30)
            wait_for(lambda: palette_clusters(sim), timeout=15, what="the Palette cluster")
        assert hub.proc is not None
        children = _children(hub.proc.pid)
        hub.proc.send_signal(signal.SIGKILL)
        hub.proc.wait()
        hub.proc = None
        # Its Palette simulator outlives a SIGKILLed hub; stop it so that the restarted hub's
        # own simulator is the only one writing the state file.
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        # The restarted hub starts its own simulator on the same state file and port.
        for pid in children:
            deadline = time.monotonic() + 10
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        hub = start_hub(data, provisioning="3", sim_port=sim_port)
        with hub.client() as http:
            pool = pool_phase(http, "Running", timeout=90)
            assert len(palette_clusters(sim)) == 1
            leases = http.get(
                "/apis/coordination.k8s.io/v1/namespaces/axle-system/leases",
                params={"labelSelector": "axle.dev/host-claim=true"},
            ).json()["items"]
            hosts = [lease["metadata"]["name"] for lease in leases]
            assert len(hosts) == len(set(hosts)) == 3
            assert {m["id"] for m in pool["status"]["reservedMachines"]} == {
                lease["metadata"]["name"].removeprefix("host-") for lease in leases
            }
    finally:
        assert hub.stop() == 0, hub.output()
