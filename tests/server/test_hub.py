"""`serve()` in process: start-up on port 0 reports the real URL, HTTP and HTTPS share the
port, cancellation ends open watches and closes everything, a restart keeps the data."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from axle.server.hub import serve
from axle.settings import HubSettings


async def _start(settings: HubSettings) -> tuple[asyncio.Task[None], str]:
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(settings, on_ready=ready.set_result))
    done, _ = await asyncio.wait({task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises what went wrong
    assert ready in done, "hub did not report ready"
    return task, ready.result()


async def test_serve_on_port_zero_http_and_https_and_clean_stop(tmp_path: Path) -> None:
    settings = HubSettings(data_dir=tmp_path / "data", port=0, controllers=False)
    task, url = await _start(settings)
    data = settings.data_dir
    token = (data / "admin-token").read_text().strip()
    assert (data / "admin-token").stat().st_mode & 0o777 == 0o600
    assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(base_url=url, headers=headers) as c:
            r = await c.post(
                "/apis/axle.dev/v1alpha1/tenants",
                json={
                    "apiVersion": "axle.dev/v1alpha1",
                    "kind": "Tenant",
                    "metadata": {"name": "kept"},
                },
            )
            assert r.status_code == 201, r.text
        kubeconfig = yaml.safe_load((data / "kubeconfig").read_text())
        https_url = kubeconfig["clusters"][0]["cluster"]["server"]
        assert https_url == url.replace("http://", "https://")
        ctx = ssl.create_default_context(cafile=str(data / "ca.crt"))
        async with httpx.AsyncClient(base_url=https_url, headers=headers, verify=ctx) as c:
            assert (await c.get("/apis/axle.dev/v1alpha1/tenants/kept")).status_code == 200

        # An open watch ends when the hub stops, instead of holding the shutdown open.
        first_line: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def watch() -> list[str]:
            out: list[str] = []
            async with (
                httpx.AsyncClient(base_url=url, headers=headers) as c,
                c.stream("GET", "/apis/axle.dev/v1alpha1/tenants?watch=1", timeout=30) as resp,
            ):
                async for line in resp.aiter_lines():
                    if line:
                        out.append(line)
                        if not first_line.done():
                            first_line.set_result(line)
            return out

        watcher = asyncio.create_task(watch())
        # The initial ADDED event shows the stream is open.
        await asyncio.wait_for(first_line, 10)
    finally:
        task.cancel()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 30)
    lines = await asyncio.wait_for(watcher, 10)
    assert [json.loads(line)["type"] for line in lines] == ["ADDED"]

    # A restart on the same data dir keeps the object and the admin token.
    task, url = await _start(settings)
    try:
        async with httpx.AsyncClient(base_url=url, headers=headers) as c:
            r = await c.get("/apis/axle.dev/v1alpha1/tenants/kept")
            assert r.status_code == 200, r.text
    finally:
        task.cancel()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 30)


@pytest.mark.integration
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_process_stops_cleanly_on_signal_with_a_watch_open(
    tmp_path: Path, sig: signal.Signals
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "axle.server.hub", "--data-dir", str(tmp_path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            m = re.search(r"http://[0-9.]+:[0-9]+", line)
            if m:
                url = m.group(0)
                break
        assert url, "hub did not report its URL"
        token = (tmp_path / "admin-token").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(base_url=url, headers=headers, timeout=30) as c,
            c.stream("GET", "/api/v1/namespaces?watch=1") as resp,
        ):
            lines = resp.iter_lines()
            assert json.loads(next(lines))["type"] == "ADDED"  # the stream is open
            proc.send_signal(sig)
            rest = list(lines)  # ends when the hub closes the stream
        # The stream ended (the controllers may have updated a namespace meanwhile).
        assert {json.loads(line)["type"] for line in rest if line} <= {"ADDED", "MODIFIED"}
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
