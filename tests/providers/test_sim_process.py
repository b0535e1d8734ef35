"""The client against `axle sim palette` run as a separate process, as `axle up` will run it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from pathlib import Path

import pytest

from axle.providers.base import InvalidCredentials
from tests.providers.conftest import SMALL_FLEET, SimHandle

pytestmark = pytest.mark.integration

AXLE = Path(sys.executable).parent / "axle"


async def test_client_against_the_simulator_process(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        str(AXLE),
        "sim",
        "palette",
        "--inventory",
        str(SMALL_FLEET),
        "--port",
        "0",
        "--state-file",
        str(tmp_path / "state.json"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    handle: SimHandle | None = None
    try:
        assert proc.stdout is not None
        url = None
        async with asyncio.timeout(30):
            while url is None:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    err = await proc.stderr.read() if proc.stderr else b""
                    pytest.fail(f"simulator exited early: {err.decode()}")
                match = re.search(r"serving on (http://\S+)", line)
                url = match.group(1) if match else None
        handle = SimHandle(url)
        client, sleeps = handle.client()
        await client.check_credentials()
        hosts = await client.list_hosts({"palette.ai": "true"})
        assert len(hosts) == 13
        assert sum(h.gpu_count for h in hosts) == 4 * 8 + 4 * 8 + 2 * 4
        bad, _ = handle.client(api_key="nope")
        with pytest.raises(InvalidCredentials):
            await bad.check_credentials()
        assert bad.requests_made == 1 and sleeps.delays == []
    finally:
        if handle is not None:
            await handle.close()
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        async with asyncio.timeout(30):
            await proc.wait()
