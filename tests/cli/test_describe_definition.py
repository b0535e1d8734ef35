"""`axle describe` of definitions (parameters table, applies-to, latest revision) and the
revision columns of `axle get`, against a real in-process hub with its controllers running;
plus the parameter flattening on its own."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from axle.cli.definitions import parameter_rows
from tests.cli.conftest import Axle
from tests.client.hubthread import HubThread


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubThread]:
    h = HubThread(tmp_path_factory.mktemp("hub") / "data").start()
    try:
        yield h
    finally:
        h.stop()


@pytest.fixture
def real(hub: HubThread, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> HubThread:
    monkeypatch.setenv("AXLE_SERVER", hub.url)
    monkeypatch.setenv("AXLE_TOKEN", hub.token)
    return hub


def poll(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def row(text: str, name: str) -> list[str]:
    for line in text.splitlines():
        cells = re.split(r"\s{3,}", line.strip())
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row {name!r} in:\n{text}")


def test_describe_webservice_prints_its_parameters(real: HubThread, axle: Axle) -> None:
    def described() -> str | None:
        r = axle("describe", "componentdefinition", "webservice", "-n", "axle-system")
        return r.stdout if r.exit_code == 0 and "Latest Revision:  1" in r.stdout else None

    out = poll(described, "webservice installed and at revision 1")
    assert "Parameters:" in out
    assert row(out, "Name")[:5] == ["Name", "Type", "Required", "Default", "Description"]
    assert row(out, "image") == ["image", "string", "yes", "Container image."]
    assert row(out, "port")[:4] == ["port", "integer", "no", "80"]
    assert row(out, "replicas") == ["replicas", "integer", "no", "1"]
    assert row(out, "env")[:3] == ["env", "map[string]string", "no"]
    assert "(webservice-v1)" in out


def test_describe_trait_says_what_it_applies_to(real: HubThread, axle: Axle) -> None:
    def described() -> str | None:
        r = axle("describe", "traitdefinition", "gpu", "-n", "axle-system")
        return r.stdout if r.exit_code == 0 and "Latest Revision:  1" in r.stdout else None

    out = poll(described, "gpu trait at revision 1")
    assert re.search(r"^Applies To:  \S", out, re.M)
    assert "Parameters:" in out


def test_get_componentdefinitions_shows_revisions(real: HubThread, axle: Axle) -> None:
    def listed() -> str | None:
        r = axle("get", "componentdefinitions", "-A")
        ok = r.exit_code == 0 and row(r.stdout, "axle-system")[1:2] == ["cron-task"]
        return r.stdout if ok and "REVISION" in r.stdout.splitlines()[0] else None

    out = poll(listed, "componentdefinitions listed")
    header = re.split(r"\s{2,}", out.splitlines()[0].strip())
    col = header.index("REVISION")
    web = next(ln for ln in out.splitlines() if " webservice " in f" {ln} ")
    cells = re.split(r"\s{2,}", web.strip())

    def revised() -> bool:
        r = axle("get", "componentdefinitions", "-A")
        line = next(ln for ln in r.stdout.splitlines() if " webservice " in f" {ln} ")
        return re.split(r"\s{2,}", line.strip())[col] == "1"

    assert cells[1] == "webservice"
    poll(revised, "webservice revision column")


def test_parameter_rows_flatten_nested_objects() -> None:
    schema = {
        "type": "object",
        "required": ["resources"],
        "properties": {
            "resources": {
                "type": "object",
                "required": ["cpu"],
                "properties": {
                    "cpu": {"type": "string", "default": "1", "description": "CPU  request."},
                    "limits": {"type": "object", "properties": {"memory": {"type": "string"}}},
                },
            },
            "ports": {
                "type": "array",
                "items": {"type": "object", "properties": {"port": {"type": "integer"}}},
            },
            "mode": {"enum": ["a", "b"]},
        },
    }
    assert parameter_rows(schema) == [
        ["resources", "object", "yes", "", ""],
        ["resources.cpu", "string", "yes", '"1"', "CPU request."],
        ["resources.limits", "object", "no", "", ""],
        ["resources.limits.memory", "string", "no", "", ""],
        ["ports", "[]object", "no", "", ""],
        ["ports[].port", "integer", "no", "", ""],
        ["mode", "enum", "no", "", "(one of: a, b)"],
    ]
