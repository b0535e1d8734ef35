"""The audit log: one JSON line per request, private, flushed promptly, never bodies."""

from __future__ import annotations

import json
import re
import stat
import time
from pathlib import Path

import pytest

from axle.server.audit import AuditLog
from axle.server.auth import UserInfo

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_lines_have_every_field(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    with AuditLog(path) as log:
        alice = UserInfo("alice", ("team-a", "system:authenticated"))
        log.record(alice, "create", "projects", "team-a", "p1", 201, group="axle.dev")
        log.record(None, "get", "secrets", "default", None, 401)
        log.record(
            alice, "update", "tenants", None, "acme", 200, group="axle.dev", subresource="status"
        )
    lines = read_lines(path)
    assert len(lines) == 3
    first = lines[0]
    assert TIME_RE.match(str(first.pop("time")))
    assert first == {
        "user": "alice",
        "groups": ["team-a", "system:authenticated"],
        "verb": "create",
        "group": "axle.dev",
        "resource": "projects",
        "subresource": None,
        "namespace": "team-a",
        "name": "p1",
        "code": 201,
    }
    assert lines[1]["user"] is None and lines[1]["groups"] == [] and lines[1]["code"] == 401
    assert lines[2]["subresource"] == "status" and lines[2]["namespace"] is None


def test_file_is_private_and_appended(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "audit.log"
    with AuditLog(path) as log:
        log.record(None, "get", "pods", None, None, 401)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    with AuditLog(path) as log:  # a restarted hub appends, and tightens the mode
        log.record(None, "list", "pods", None, None, 401)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [line["verb"] for line in read_lines(path)] == ["get", "list"]


def test_lines_reach_the_file_without_close(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(path, flush_interval=0.01)
    try:
        log.record(UserInfo("bob", ()), "delete", "configmaps", "ns", "c", 200)
        deadline = time.monotonic() + 5
        while not path.read_text() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert read_lines(path)[0]["user"] == "bob"
    finally:
        log.close()


def test_flush_writes_now_and_close_is_final(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(path, flush_interval=3600)
    log.record(None, "get", "pods", None, None, 401)
    log.flush()
    assert len(read_lines(path)) == 1
    log.close()
    log.close()  # idempotent
    with pytest.raises(RuntimeError):
        log.record(None, "get", "pods", None, None, 401)


def test_signature_has_no_body_parameter() -> None:
    # The audit log must never see request bodies (Secrets): record() takes none.
    import inspect

    params = set(inspect.signature(AuditLog.record).parameters)
    assert params == {
        "self",
        "user",
        "verb",
        "resource",
        "namespace",
        "name",
        "code",
        "group",
        "subresource",
    }
