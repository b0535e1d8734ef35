"""Which condition transitions of a Work become Events, and which cluster changes are echoes."""

from __future__ import annotations

from typing import Any

from axle.spoke.agent import _not_newer, _notable


def cond(type_: str, status: str, reason: str) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": f"{type_} {reason}"}


def test_routine_progress_records_nothing() -> None:
    warned: set[str] = set()
    waiting = [cond("Applied", "False", "WaitingForGroup"), cond("Available", "Unknown", "P")]
    done = [cond("Applied", "True", "Applied"), cond("Available", "True", "Available")]
    assert _notable([], waiting, warned) == []
    assert _notable(waiting, done, warned) == []
    assert _notable([], done, warned) == []


def test_failures_warn_and_recoveries_say_so_after_intermediate_steps() -> None:
    warned: set[str] = set()
    failed = [cond("Applied", "False", "ArtifactPullFailed")]
    assert [t for t, _ in _notable([], failed, warned)] == ["Warning"]
    assert _notable(failed, failed, warned) == []  # the same failure again: no new Event
    waiting = [cond("Applied", "False", "WaitingForGroup")]
    assert _notable(failed, waiting, warned) == []
    done = [cond("Applied", "True", "Applied")]
    found = _notable(waiting, done, warned)
    assert [(t, c["reason"]) for t, c in found] == [("Normal", "Applied")]
    assert warned == set()
    degraded = [cond("Available", "False", "Degraded")]
    assert [t for t, _ in _notable([], degraded, warned)] == ["Warning"]


def test_resource_versions_order_only_when_numeric() -> None:
    assert _not_newer("5", "5") and _not_newer("4", "5") and not _not_newer("6", "5")
    assert _not_newer("abc", "abc") and not _not_newer("abc", "abd")
