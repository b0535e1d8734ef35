"""A real `axle up` process for integration tests: start, wait for its URL, stop, restart.

The hub runs exactly as a user runs it (the CLI entry point, a data dir, port 0), its output
collected by a reader thread so the test can show it when something fails.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

URL_RE = re.compile(r"hub serving on (https?://[0-9.]+:[0-9]+)")
T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll `predicate` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the condition may raise until it holds
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}: {last_exc}")


class HubProcess:
    def __init__(self, data_dir: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.extra_args = extra_args
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.lines: list[str] = []

    @property
    def token(self) -> str:
        return (self.data_dir / "admin-token").read_text().strip()

    def start(self, port: int = 0) -> HubProcess:
        cmd = [
            sys.executable,
            "-m",
            "axle.cli.main",
            "up",
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(port),
            *self.extra_args,
        ]
        self.lines = []
        self.url = ""
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        found = threading.Event()

        def reader() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line)
                if not self.url:
                    m = URL_RE.search(line)
                    if m:
                        self.url = m.group(1)
                        found.set()
            found.set()

        threading.Thread(target=reader, daemon=True).start()
        found.wait(30)
        if not self.url:
            self.stop()
            raise AssertionError("hub did not start:\n" + "".join(self.lines))
        wait_for(
            lambda: httpx.get(self.url + "/healthz", timeout=2).status_code == 200,
            what="hub /healthz",
        )
        return self

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                print("hub did not stop within 20 s of SIGTERM; its output:\n" + self.output())
        code = self.proc.returncode
        self.proc = None
        return code

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=10,
        )

    def output(self) -> str:
        return "".join(self.lines)


def obj(
    api_version: str, kind: str, name: str, namespace: str | None = None, **fields: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **fields}
