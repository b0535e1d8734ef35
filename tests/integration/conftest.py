from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.hubproc import HubProcess


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    proc = HubProcess(tmp_path / "data").start()
    try:
        yield proc
    finally:
        proc.stop()
