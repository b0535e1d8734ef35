"""`axle up` and `axle get -w` as real processes: clean SIGTERM exit, private admin token, and a
watch that prints rows as objects change."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.integration.hubproc import HubProcess, wait_for

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_up_prints_how_to_connect_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    data = tmp_path / "data"
    hub = HubProcess(data).start()
    try:
        out = "".join(hub.lines)
        token_path = (data / "admin-token").resolve()
        assert f"axle hub serving on {hub.url}" in out
        assert f'axle login --server {hub.url} --token "$(cat {token_path})"' in out
        assert f'export AXLE_SERVER={hub.url} AXLE_TOKEN="$(cat {token_path})"' in out
        assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
        with hub.client() as http:
            assert http.get("/version").status_code == 200
    finally:
        assert hub.proc is not None
        hub.proc.send_signal(sig)
        code = hub.proc.wait(timeout=20)
    assert code == 0, hub.output()
    wait_for(lambda: "axle hub stopped" in hub.output(), what="the goodbye line")


def test_get_watch_streams_rows(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data", ("--no-controllers",)).start()
    env = {
        **os.environ,
        "AXLE_SERVER": hub.url,
        "AXLE_TOKEN": hub.token,
        "AXLE_CONFIG": str(tmp_path / "cfg"),
        "PYTHONUNBUFFERED": "1",
    }
    axle = [sys.executable, "-m", "axle.cli.main"]
    watcher: subprocess.Popen[str] | None = None
    try:
        subprocess.run(
            [*axle, "apply", "-f", "-"],
            input="apiVersion: v1\nkind: Namespace\nmetadata: {name: w}\n",
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: w}\n"
        subprocess.run(
            [*axle, "apply", "-f", "-"],
            input=cm % "first",
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        watcher = subprocess.Popen(
            [*axle, "get", "configmaps", "-n", "w", "-w"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        lines: list[str] = []

        def read() -> None:
            assert watcher.stdout is not None
            for line in watcher.stdout:
                lines.append(line.rstrip("\n"))

        threading.Thread(target=read, daemon=True).start()
        wait_for(lambda: any(line.startswith("first") for line in lines), what="initial table")
        assert lines[0].split()[0] == "NAME"
        subprocess.run(
            [*axle, "apply", "-f", "-"],
            input=cm % "second",
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        wait_for(
            lambda: any(line.startswith("second") for line in lines),
            what="a row for the new object",
        )
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=10)
    finally:
        if watcher is not None and watcher.poll() is None:
            watcher.kill()
        hub.stop()
