"""SpokeTokenAuthenticator and ChainAuthenticator on their own, over the real SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.responses import Response

import axle.api.kinds  # noqa: F401
from axle.api import spoketokens as st
from axle.api.registry import REGISTRY
from axle.errors import Unauthorized
from axle.server.auth import UserInfo
from axle.server.spokeauth import (
    ChainAuthenticator,
    RevocableResponse,
    SpokeTokenAuthenticator,
    bearer_token,
)
from axle.store import open_store
from tests.server.test_spoke_join import eventually

SECRET = REGISTRY.by_group_kind("", "Secret")
NAMESPACE = REGISTRY.by_group_kind("", "Namespace")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Any]:
    s = open_store(f"sqlite:///{tmp_path / 'axle.db'}", encryption_key=b"k" * 32)
    await s.start()
    await s.create(
        NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "axle-system"}}
    )
    try:
        yield s
    finally:
        await s.close()


def header(token: str) -> str:
    return f"Bearer {token}"


async def test_existing_credentials_load_at_start_and_changes_follow(store: Any) -> None:
    first = st.new_spoke_credential()
    await store.create(SECRET, st.credential_secret("a", first))
    opaque = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "other", "namespace": "axle-system"},
        "data": {"token-sha256": "eA==", "spoke": "eA=="},
    }
    await store.create(SECRET, opaque)  # not a credential: ignored
    auth = SpokeTokenAuthenticator(store)
    await auth.start()
    try:
        user = auth.authenticate(header(first))
        assert user == UserInfo("system:spoke:a", ("system:spokes", "system:authenticated"))
        with pytest.raises(Unauthorized):
            auth.authenticate(header("x"))
        with pytest.raises(Unauthorized):
            auth.authenticate(None)

        second = st.new_spoke_credential()
        await store.create(SECRET, st.credential_secret("b", second))
        await eventually(lambda: auth.spoke_of(second) == "b", what="b's credential")

        # A stream guarded with a's credential ends when that credential is replaced.
        guarded = auth.guard(user, header(first), Response(b""))
        assert isinstance(guarded, RevocableResponse) and not guarded.revoked.is_set()
        current = await store.get(SECRET, "axle-system", "spoke-credential-a")
        replaced = st.credential_secret("a", st.new_spoke_credential())
        replaced["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        await store.update(SECRET, replaced)
        await asyncio.wait_for(guarded.revoked.wait(), 10)
        assert auth.spoke_of(first) is None
        assert auth.spoke_of(second) == "b"
    finally:
        await auth.stop()


async def test_guard_leaves_other_users_alone_and_closes_already_revoked(store: Any) -> None:
    auth = SpokeTokenAuthenticator(store)
    await auth.start()
    try:
        plain = Response(b"")
        assert auth.guard(UserInfo("admin", ("system:masters",)), header("t"), plain) is plain
        late = auth.guard(UserInfo("system:spoke:a", ("system:spokes",)), header("gone"), plain)
        assert isinstance(late, RevocableResponse) and late.revoked.is_set()
    finally:
        await auth.stop()


async def test_revocable_response_ends_like_a_disconnect() -> None:
    received: list[dict[str, Any]] = []
    revoked = asyncio.Event()

    class Inner(Response):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            received.append(await receive())

    async def never() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    async def send(message: Any) -> None:
        return None

    task = asyncio.create_task(RevocableResponse(Inner(b""), revoked)({}, never, send))
    await asyncio.sleep(0)
    assert not task.done()
    revoked.set()
    await asyncio.wait_for(task, 5)
    assert received == [{"type": "http.disconnect"}]


def test_chain_tries_in_order() -> None:
    class Fixed:
        def __init__(self, token: str, name: str) -> None:
            self.token, self.name = token, name

        def authenticate(self, authorization_header: str | None) -> UserInfo:
            if bearer_token(authorization_header) != self.token:
                raise Unauthorized("Unauthorized")
            return UserInfo(self.name, ())

    chain = ChainAuthenticator(Fixed("a", "first"), Fixed("b", "second"), Fixed("a", "shadowed"))
    assert chain.authenticate("Bearer a").name == "first"
    assert chain.authenticate("bearer b").name == "second"
    with pytest.raises(Unauthorized):
        chain.authenticate("Bearer c")
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer two words") is None
