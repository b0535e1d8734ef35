"""`axle get compute` (-o wide: one row per machine) and `axle describe compute`.

The views are pure functions of the object (tested on an inventory from `group_hosts`), and
end to end: a real hub and the Palette simulator (each in a thread of its own) with a tenant,
project, Settings and Compute applied through the CLI, as a user would.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from axle.cli.compute import group_heading, machine_rows, memory_text, status_lines
from axle.controllers.inventory import group_hosts
from axle.providers.base import Host
from axle.sim.palette import SimConfig, serve
from tests.cli.conftest import Axle
from tests.cli.test_cli_hub import poll
from tests.client.hubthread import HubThread
from tests.controllers.test_compute_inventory import fleet

ROOT = Path(__file__).resolve().parents[2]
SMALL_FLEET = ROOT / "examples" / "inventory" / "small-fleet.yaml"


def compute_obj(hosts: list[Host]) -> dict[str, Any]:
    inv = group_hosts(hosts)
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Compute",
        "metadata": {"name": "fleet", "namespace": "ml-prod"},
        "spec": {},
        "status": {
            **inv.status_fields(),
            "lastSyncTime": "2026-01-02T03:04:05Z",
            "settings": {"namespace": "acme-shared", "name": "acme-palette"},
        },
    }


def test_memory_text() -> None:
    assert memory_text(65536) == "64Gi"
    assert memory_text(81559) == "79.6Gi"
    assert memory_text(2 * 1024 * 1024) == "2Ti"
    assert memory_text(512) == "512Mi"
    assert memory_text(None) == "-"


def test_one_row_per_machine() -> None:
    hosts = fleet()
    rows = machine_rows(compute_obj(hosts))
    assert len(rows) == 13
    assert rows[0] == ["fleet", "cp-1", "AMD64", "16", "64Gi", "-", "0", "available", "-"]
    sick = next(r for r in rows if r[1] == "a100-4")
    assert sick == ["fleet", "a100-4", "AMD64", "64", "1Ti", "A100", "8", "unhealthy", "-"]
    assert machine_rows(compute_obj(hosts), with_namespace=True)[0][0] == "ml-prod"


def test_a_machine_under_both_roles_is_one_row() -> None:
    both = Host(**{**vars(fleet()[0]), "tags": {"axle.dev/compute-role": "both"}})
    assert len(machine_rows(compute_obj([both]))) == 1


def test_describe_sections() -> None:
    lines = status_lines(compute_obj(fleet())["status"])
    text = "\n".join(lines)
    assert re.search(r"^  Settings:\s+acme-shared/acme-palette$", text, re.M)
    assert re.search(r"^  Machines:\s+13 total, 12 available, 0 in use, 1 unhealthy$", text, re.M)
    assert re.search(r"NVIDIA-A100\s+24\s+0\s+8\s+32", text)
    assert "  Control Plane Candidates:" in lines
    assert "    AMD64, 16 CPU, 64Gi memory, palette.ai=true: 3 machines, 3 available" in lines
    assert (
        "    8x NVIDIA A100 (40Gi each), AMD64, 64 CPU, 1Ti memory, palette.ai=true: "
        "4 machines, 3 available"
    ) in lines
    assert re.search(r"a100-4\s+edge-a100-4\s+unhealthy\s+-\s+10\.0\.0\.6\s+gpu 3 fell off", text)
    assert group_heading({"instances": 0}) == "?, ? CPU, - memory: 0 machines, 0 available"


# --- end to end: hub + simulator + CLI --------------------------------------------------------


class SimThread:
    """The Palette simulator on a free port, in a thread with its own event loop."""

    def __init__(self) -> None:
        self.url: Future[str] = Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._main, name="palette-sim", daemon=True)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        config = SimConfig(inventory=SMALL_FLEET, port=0, tick_seconds=0)

        async def body() -> None:
            self._task = asyncio.current_task()  # type: ignore[assignment]
            await serve(config, on_ready=self.url.set_result)

        try:
            loop.run_until_complete(body())
        except asyncio.CancelledError:
            pass
        finally:
            loop.close()

    def start(self) -> SimThread:
        self._thread.start()
        self.url.result(timeout=20)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=20)


@pytest.fixture(scope="module")
def sim() -> Iterator[str]:
    s = SimThread().start()
    try:
        yield s.url.result()
    finally:
        s.stop()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubThread]:
    h = HubThread(tmp_path_factory.mktemp("hub") / "data").start()
    try:
        yield h
    finally:
        h.stop()


MANIFESTS = """
apiVersion: v1
kind: Namespace
metadata: {{name: acme-shared, labels: {{axle.dev/tenant: acme}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: palette-credentials, namespace: acme-shared}}
stringData:
  palette: >-
    {{"apiKey": "sim-api-key", "hostUrl": "{url}", "tenant": "acme",
    "defaultProjectID": "acme-default"}}
---
apiVersion: axle.dev/v1alpha1
kind: Settings
metadata: {{name: acme-palette, namespace: acme-shared}}
spec: {{palette: {{secretRef: {{name: palette-credentials}}}}}}
---
apiVersion: axle.dev/v1alpha1
kind: Tenant
metadata: {{name: acme}}
spec:
  tenantRoleMapping: {{groups: [acme-platform]}}
  settingsRef: {{name: acme-palette, namespace: acme-shared}}
---
apiVersion: axle.dev/v1alpha1
kind: Project
metadata: {{name: ml-prod, namespace: ml-prod}}
spec: {{tenantRef: {{name: acme}}}}
---
apiVersion: axle.dev/v1alpha1
kind: Compute
metadata: {{name: fleet, namespace: ml-prod}}
spec: {{}}
"""


def test_get_and_describe_compute_against_the_simulator(
    hub: HubThread,
    sim: str,
    axle: Axle,
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("AXLE_SERVER", hub.url)
    monkeypatch.setenv("AXLE_TOKEN", hub.token)
    manifest = tmp_path / "fleet.yaml"
    manifest.write_text(MANIFESTS.format(url=sim))
    applied = axle("apply", "-f", str(manifest))
    assert applied.exit_code == 0, applied.output

    def listed() -> dict[str, Any] | None:
        r = axle("get", "compute", "fleet", "-n", "ml-prod", "-o", "json")
        obj = json.loads(r.stdout) if r.exit_code == 0 else {}
        return obj if (obj.get("status") or {}).get("totalMachines") else None

    poll(listed, "the Compute inventory")

    table = axle("get", "compute", "-n", "ml-prod")
    assert table.exit_code == 0, table.output
    header, row = table.stdout.splitlines()
    assert re.split(r"\s{3,}", header) == ["NAME", "AVAILABLE", "TOTAL", "GPUS", "SYNCED", "AGE"]
    cells = re.split(r"\s{3,}", row)
    assert cells[:5] == ["fleet", "12", "13", "24/32 A100, 32/32 H100, 8/8 L40S", "True"]

    wide = axle("get", "compute", "-n", "ml-prod", "-o", "wide")
    assert wide.exit_code == 0, wide.output
    lines = wide.stdout.splitlines()
    assert re.split(r"\s{3,}", lines[0]) == [
        "NAME",
        "HOST",
        "ARCH",
        "CPU",
        "MEMORY",
        "GPU",
        "GPUS",
        "STATE",
        "USED BY",
    ]
    rows = {re.split(r"\s{3,}", line)[1]: re.split(r"\s{3,}", line) for line in lines[1:]}
    assert len(rows) == 13 and "build-runner-01" not in rows
    assert rows["gpu-a100-01"] == [
        "fleet",
        "gpu-a100-01",
        "AMD64",
        "64",
        "1Ti",
        "A100",
        "8",
        "unhealthy",
        "-",
    ]
    assert rows["cp-01"][5:8] == ["-", "0", "available"]
    assert rows["gpu-h100-03"][4:8] == ["2Ti", "H100", "8", "available"]

    all_ns = axle("get", "computes", "-A", "-o", "wide")
    assert all_ns.stdout.splitlines()[0].startswith("NAMESPACE")

    described = axle("describe", "compute", "fleet", "-n", "ml-prod")
    assert described.exit_code == 0, described.output
    text = described.stdout
    assert re.search(r"Settings:\s+acme-shared/acme-palette", text)
    assert re.search(r"Machines:\s+13 total, 12 available, 0 in use, 1 unhealthy", text)
    assert "Control Plane Candidates:" in text and "Worker Candidates:" in text
    assert "8x NVIDIA H100 (79.6Gi each), AMD64, 112 CPU, 2Ti memory" in text
    assert re.search(r"gpu-a100-01\s+\S+\s+unhealthy\s+-\s+10\.10\.2\.11\s+GPU 3: Xid 79", text)
    assert re.search(r"Synced\s+True\s+InventoryListed", text)
    assert re.search(r"Normal\s+Synced", text)  # the first inventory's Event


QUICKSTART = ROOT / "examples" / "quickstart"


@pytest.fixture
def fresh_hub(tmp_path: Path) -> Iterator[HubThread]:
    h = HubThread(tmp_path / "data").start()
    try:
        yield h
    finally:
        h.stop()


def test_the_quickstart_compute_lists_the_simulated_fleet(
    fresh_hub: HubThread, sim: str, axle: Axle, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AXLE_SERVER", fresh_hub.url)
    monkeypatch.setenv("AXLE_TOKEN", fresh_hub.token)
    applied = axle("apply", "-f", str(QUICKSTART))
    assert applied.exit_code == 0, applied.output
    assert "computeconfig.axle.dev/edge-defaults created" in applied.stdout
    assert "compute.axle.dev/fleet created" in applied.stdout
    # The quickstart's Secret names the simulator `axle up --palette-sim` starts on port 8700;
    # point it at this test's simulator instead.
    secret = MANIFESTS.format(url=sim).split("---")[1]
    assert axle("apply", "-f", "-", input=secret).exit_code == 0

    def listed() -> dict[str, Any] | None:
        r = axle("get", "compute", "fleet", "-n", "ml-prod", "-o", "json")
        obj = json.loads(r.stdout) if r.exit_code == 0 else {}
        return obj if (obj.get("status") or {}).get("totalMachines") == 13 else None

    obj = poll(listed, "the quickstart Compute inventory", timeout=60)
    # ml-prod's own Settings carry only Hugging Face: Palette comes from the tenant's.
    assert obj["status"]["settings"] == {"namespace": "ml-prod", "name": "ml-prod-settings"}
    assert obj["status"]["gpuSummary"] == "24/32 A100, 32/32 H100, 8/8 L40S"

    def resolved() -> bool:
        r = axle("get", "projects", "-A", "-o", "json")
        items = json.loads(r.stdout)["items"] if r.exit_code == 0 else []
        conds = [
            c
            for p in items
            for c in (p.get("status") or {}).get("conditions") or []
            if c["type"] == "ComputeConfigResolved"
        ]
        return len(conds) == 2 and all(c["status"] == "True" for c in conds)

    poll(resolved, "both projects' ComputeConfigResolved")
    table = axle("get", "computeconfigs", "-A").stdout.splitlines()
    assert re.split(r"\s{3,}", table[0])[:4] == [
        "NAMESPACE",
        "NAME",
        "CONTROL PLANE NODES",
        "ARCHITECTURE",
    ]
    rows = sorted(re.split(r"\s{3,}", line)[:4] for line in table[1:])
    assert rows == [
        ["ml-prod", "edge-defaults", "3", "AMD64"],
        ["ml-research", "edge-defaults", "1", "AMD64"],
    ]
