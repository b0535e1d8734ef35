"""A just-joined agent waits for its access (403) instead of dying; a 401 is still final."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from axle.errors import Forbidden, Unauthorized
from axle.spoke import credential as cred
from axle.spoke.agent import SpokeAgent
from tests.spoke.fakecluster import FakeCluster


class _Client:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    async def get(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return {}


def _agent(tmp_path: Path, client: _Client) -> SpokeAgent:
    agent = SpokeAgent(
        hub="http://127.0.0.1:1",
        spoke="gpu-a",
        cluster=FakeCluster(),
        state_dir=tmp_path,
        bootstrap_token="unused",
    )
    agent.client = client  # type: ignore[assignment]
    return agent


async def test_forbidden_after_the_join_is_waited_out(tmp_path: Path) -> None:
    client = _Client([Forbidden("spokes is forbidden"), Forbidden("spokes is forbidden")])
    await _agent(tmp_path, client)._check_credential()
    assert client.calls == 3


async def test_unauthorized_is_final(tmp_path: Path) -> None:
    client = _Client([Unauthorized("bad token")])
    with pytest.raises(cred.CredentialRejected):
        await _agent(tmp_path, client)._check_credential()
    assert client.calls == 1
