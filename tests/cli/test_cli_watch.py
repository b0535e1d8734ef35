"""`axle get -w` printing: the table first, then one aligned row per change (fake hub)."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Callable

from axle.cli.get import Query, watch
from axle.cli.printers import Out
from axle.client import Client
from tests.client.fakehub import FakeHub


async def until(check: Callable[[], bool]) -> None:
    """Poll the printed output until `check` holds (or fail after a deadline)."""
    deadline = time.monotonic() + 5.0
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the watch output"
        await asyncio.sleep(0.01)


def query(output: str = "table") -> Query:
    return Query(["tenants"], [], None, False, None, None, output)


async def test_watch_prints_table_then_rows() -> None:
    hub = FakeHub()
    hub.seed("Tenant", "acme", status={"phase": "Ready"})
    buf = io.StringIO()
    async with Client("http://fake", hub.token, transport=hub.transport()) as c:
        task = asyncio.create_task(watch(c, "tenants", [], query(), Out(buf)))
        await until(lambda: "acme" in buf.getvalue())
        hub.seed("Tenant", "beta", status={"phase": "Pending"})
        hub.update("Tenant", "beta", status={"phase": "Ready"})
        hub.remove("Tenant", "acme")
        await until(lambda: len(buf.getvalue().splitlines()) == 5)
        task.cancel()
    lines = buf.getvalue().splitlines()
    cells = [re.split(r"\s{3,}", line)[:2] for line in lines]
    assert cells == [
        ["NAME", "STATUS"],
        ["acme", "Ready"],
        ["beta", "Pending"],
        ["beta", "Ready"],
        ["acme", "Ready"],  # the DELETED event shows the object's last row, as kubectl does
    ]
    # Rows printed later line up with the header printed first.
    assert {line.index(c[1]) for line, c in zip(lines, cells, strict=True)} == {
        lines[0].index("STATUS")
    }


async def test_watch_as_names() -> None:
    hub = FakeHub()
    hub.seed("Tenant", "acme")
    buf = io.StringIO()
    async with Client("http://fake", hub.token, transport=hub.transport()) as c:
        task = asyncio.create_task(watch(c, "tenants", [], query("name"), Out(buf)))
        await until(lambda: "acme" in buf.getvalue())
        hub.seed("Tenant", "beta")
        await until(lambda: "beta" in buf.getvalue())
        task.cancel()
    assert buf.getvalue().splitlines() == ["tenant.axle.dev/acme", "tenant.axle.dev/beta"]
