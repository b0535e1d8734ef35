"""A real OCI-distribution registry for tests: Debian's `docker-registry` on loopback.

`RegistryProcess` starts it on a free port (storage in a directory the test owns, optional
htpasswd auth), waits for `/v2/` with a deadline, and can be stopped and started again on the
same port and storage, which is how the end-to-end tests take the registry "down" and bring it
back. When the binary is missing the test fails (it does not skip): a green run must mean a
real registry was used, and `make system-deps` installs it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

START_DEADLINE = 30.0


def _binary() -> str:
    path = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not Path(path).is_file():
        pytest.fail(
            "docker-registry is not installed: run `make system-deps` (it runs"
            " `apt-get install docker-registry`); these tests need a real registry",
            pytrace=False,
        )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RegistryProcess:
    def __init__(self, root: Path, htpasswd: Path | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.storage = root / "registry-data"
        self.log = root / "registry.log"
        self.config = root / "registry.yml"
        self.proc: subprocess.Popen[bytes] | None = None
        auth = (
            f"auth:\n  htpasswd:\n    realm: axle-test\n    path: {htpasswd}\n" if htpasswd else ""
        )
        root.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            "version: 0.1\n"
            "log:\n  level: info\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n" + auth
        )

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, repo: str) -> str:
        return f"oci://{self.host}/{repo}"

    def blob_file(self, digest: str) -> Path:
        hexd = digest.removeprefix("sha256:")
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"

    def start(self) -> RegistryProcess:
        binary = _binary()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [binary, "serve", str(self.config)], stdout=out, stderr=out
            )
        deadline = time.monotonic() + START_DEADLINE
        while True:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"docker-registry exited with {self.proc.returncode}:\n{self.log.read_text()}"
                )
            with contextlib.suppress(httpx.TransportError):
                status = httpx.get(f"http://{self.host}/v2/", timeout=1).status_code
                if status in (200, 401):
                    return self
            if time.monotonic() > deadline:
                pytest.fail(
                    f"docker-registry not ready in {START_DEADLINE}s:\n{self.log.read_text()}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@contextlib.contextmanager
def run_registry(root: Path, htpasswd: Path | None = None) -> Iterator[RegistryProcess]:
    """A started registry, stopped when the block ends."""
    reg = RegistryProcess(root, htpasswd).start()
    try:
        yield reg
    finally:
        reg.stop()
