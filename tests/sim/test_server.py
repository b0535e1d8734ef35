"""The simulator on a real socket: `serve()` in process on port 0, and `axle sim palette` as a
process (integration) that stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from axle.sim.palette import SimConfig, serve
from tests.sim.conftest import HEADERS, SMALL_FLEET, tag_filter


async def test_serve_on_port_zero_reports_the_url_and_answers(tmp_path: Path) -> None:
    urls: list[str] = []
    config = SimConfig(
        inventory=SMALL_FLEET, port=0, state_file=tmp_path / "s.json", tick_seconds=0.05
    )
    task = asyncio.create_task(serve(config, on_ready=urls.append))
    try:
        deadline = time.monotonic() + 10
        while not urls:
            assert time.monotonic() < deadline and not task.done()
            await asyncio.sleep(0.01)
        (url,) = urls
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url) and not url.endswith(":0")
        async with httpx.AsyncClient(base_url=url, headers=HEADERS) as c:
            r = await c.post(
                "/v1/dashboard/edgehosts/search", json=tag_filter(), params={"limit": 5}
            )
            assert r.status_code == 200 and r.json()["listmeta"]["count"] == 13
            assert (await c.get("/v1/users/info", headers={"ApiKey": "x"})).status_code == 401
            assert (await c.get("/admin/requests")).json()["total"] == 2
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert (tmp_path / "s.json").exists()


@pytest.mark.integration
def test_axle_sim_palette_process(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    axle = Path(sys.executable).with_name("axle")
    proc = subprocess.Popen(
        [
            str(axle),
            "sim",
            "palette",
            "--inventory",
            str(SMALL_FLEET),
            "--port",
            "0",
            "--state-file",
            str(state),
            "--provisioning-seconds",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"serving on (http://\S+)", line)
        assert match, line + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        url = match.group(1)
        with httpx.Client(base_url=url, headers=HEADERS, timeout=10) as c:
            r = c.get("/v1/edgehosts/metadata")
            assert r.status_code == 200 and len(r.json()["edgeHosts"]) == 14
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Palette simulator stopped" in out
    assert state.exists()


@pytest.mark.integration
def test_axle_sim_palette_reports_a_bad_inventory(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiKeys: []\nprojects: [{name: p, uid: p}]\nhosts: [{name: h, cpuCores: 0, memoryMB: 1}]\n"
    )
    axle = Path(sys.executable).with_name("axle")
    proc = subprocess.run(
        [str(axle), "sim", "palette", "--inventory", str(bad), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "apiKeys" in proc.stderr and "hosts[0].cpuCores" in proc.stderr
