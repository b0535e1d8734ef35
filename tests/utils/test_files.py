"""replace_file: atomic, owner-only by default, directory made, nothing left on failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from axle.utils.files import replace_file


def test_writes_whole_file_with_mode_and_makes_the_directory(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "state.json"
    replace_file(target, '{"x": 1}')
    assert target.read_text() == '{"x": 1}'
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    replace_file(target, b"second", 0o644)
    assert target.read_bytes() == b"second"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(target.parent) == ["state.json"]  # no temporary file left


def test_a_failed_write_leaves_the_old_content_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    replace_file(target, "old")

    def refuse(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        replace_file(target, "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["state.json"]
