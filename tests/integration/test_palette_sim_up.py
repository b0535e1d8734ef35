"""`axle up --palette-sim`: the quickstart on such a hub yields a Compute listing the fleet.

Everything runs as a user runs it: `axle up` (which starts `axle sim palette` as its own
process), `axle apply -f` of the quickstart (its Palette Secret pointed at this simulator's
port), and the simulator's admin API to break a host.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from axle.api.meta import get_condition
from tests.integration.hubproc import HubProcess, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "examples" / "inventory" / "small-fleet.yaml"
COMPUTE = "/apis/axle.dev/v1alpha1/namespaces/ml-prod/computes/fleet"


def _machines(compute: dict[str, Any]) -> dict[str, str]:
    status = compute.get("status") or {}
    return {
        m["name"]: m["state"]
        for group in [*status.get("controlPlaneCompute", []), *status.get("workerCompute", [])]
        for m in group.get("machines", [])
    }


def test_quickstart_on_a_palette_sim_hub_lists_the_fleet(tmp_path: Path) -> None:
    hub = HubProcess(
        tmp_path / "data",
        (
            "--palette-sim",
            "--inventory",
            str(INVENTORY),
            "--palette-sim-port",
            "0",
            "--compute-sync-seconds",
            "1",
        ),
    ).start()
    try:
        sim_url = re.search(r"Palette simulator serving on (\S+)", hub.output())
        assert sim_url, hub.output()
        sim = sim_url.group(1)
        quickstart = tmp_path / "quickstart"
        shutil.copytree(ROOT / "examples" / "quickstart", quickstart)
        # This test is about the inventory: without the quickstart's pool no host gets
        # reserved while it counts (pools have their own tests).
        for pool in quickstart.glob("*pool*.yaml"):
            pool.unlink()
        settings = quickstart / "10-shared-settings.yaml"
        settings.write_text(settings.read_text().replace("http://127.0.0.1:8700", sim))
        env = {**os.environ, "AXLE_SERVER": hub.url, "AXLE_TOKEN": hub.token}
        subprocess.run(
            [sys.executable, "-m", "axle.cli.main", "apply", "-f", str(quickstart)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        with hub.client() as http:

            def synced() -> dict[str, Any] | None:
                c = http.get(COMPUTE).json()
                cond = get_condition(c, "Synced") or {}
                return c if cond.get("status") == "True" else None

            compute = wait_for(synced, timeout=30, what="Compute synced")
            machines = _machines(compute)
            # 3 CPU control-plane hosts, 4x 8xH100, 4x 8xA100 (one unhealthy), 2x 4xL40S; the
            # untagged host of the inventory is not there.
            assert len(machines) == 13, machines
            assert machines["gpu-a100-01"] == "unhealthy"
            assert sum(state == "available" for state in machines.values()) == 12
            assert compute["status"]["totalMachines"] == 13
            assert compute["status"]["availableMachines"] == 12
            victim = "gpu-h100-02"
            available = 12
            r = httpx.patch(
                f"{sim}/admin/hosts/{victim}",
                json={"health": "unhealthy", "message": "GPU 3 fell off the bus"},
            )
            assert r.status_code == 200, r.text
            wait_for(
                lambda: _machines(http.get(COMPUTE).json())[victim] == "unhealthy",
                timeout=15,
                what=f"{victim} unhealthy in the Compute status",
            )
            got = http.get(COMPUTE).json()
            assert got["status"]["availableMachines"] == available - 1
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "axle.cli.main",
                "get",
                "compute",
                "fleet",
                "-n",
                "ml-prod",
                "-o",
                "wide",
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        assert re.search(rf"{victim}\s+AMD64\s+\d+\s+\S+\s+\S+\s+\d+\s+unhealthy", out), out
    finally:
        assert hub.stop() == 0
    # Stopping the hub stopped its simulator: nothing answers there any more.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{sim}/v1/users/info", timeout=2)
    state = json.loads((tmp_path / "data" / "palette-sim.json").read_text())
    assert state  # the simulator kept its state in the hub's data dir


def test_the_simulator_dies_with_a_killed_hub(tmp_path: Path) -> None:
    """A hub killed with SIGKILL takes its simulator along (no orphan on the state file)."""
    import signal

    hub = HubProcess(
        tmp_path / "data",
        ("--palette-sim", "--inventory", str(INVENTORY), "--palette-sim-port", "0"),
    ).start()
    m = re.search(r"Palette simulator serving on (\S+)", hub.output())
    assert m, hub.output()
    sim = m.group(1)
    assert httpx.get(f"{sim}/admin/requests", timeout=5).status_code == 200
    assert hub.proc is not None
    hub.proc.send_signal(signal.SIGKILL)
    hub.proc.wait()

    def gone() -> bool:
        try:
            httpx.get(f"{sim}/admin/requests", timeout=1)
        except httpx.HTTPError:
            return True
        return False

    wait_for(gone, timeout=15, what="the simulator to stop after its hub was killed")
    hub.proc = None
