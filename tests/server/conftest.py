"""Fixtures for the API server tests: a real store in a temp dir, the real security pieces,
and the app behind httpx (in-process ASGI for request/response tests, a real uvicorn on port
0 where streaming matters)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

import axle.api.kinds  # noqa: F401
from axle.api.registry import REGISTRY
from axle.server.app import build_app
from axle.server.audit import AuditLog
from axle.server.auth import TokenAuthenticator, add_user, ensure_admin_token
from axle.server.hub import bind_socket
from axle.server.namespaces import NamespaceIndex
from axle.server.rbac import RBACAuthorizer
from axle.settings import HubSettings
from axle.store import open_store


async def _open_store(tmp_path: Path) -> Any:
    return open_store(f"sqlite:///{tmp_path / 'axle.db'}", encryption_key=b"k" * 32)


class Hub:
    """The app and what it was built from, for one test."""

    def __init__(self, tmp_path: Path, store: Any, settings: HubSettings) -> None:
        self.tmp_path = tmp_path
        self.store = store
        self.settings = settings
        self.admin_token = ensure_admin_token(tmp_path)
        self.authenticator = TokenAuthenticator.from_data_dir(tmp_path)
        self.authorizer = RBACAuthorizer(store)
        self.audit = AuditLog(tmp_path / "audit.log", flush_interval=0.05)
        self.namespaces = NamespaceIndex(store)
        self.app = build_app(
            settings,
            store,
            self.authenticator,
            self.authorizer,
            self.audit,
            bookmark_seconds=0.2,
            namespaces=self.namespaces,
        )
        self.base_url = "http://hub"

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token or self.admin_token}"},
            timeout=10,
        )

    def user(self, name: str, groups: list[str]) -> str:
        token = add_user(self.tmp_path, name, groups)
        self.authenticator._maybe_reload(force=True)
        return token

    @property
    def api(self) -> Any:
        return self.app.state.api


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    store = await _open_store(tmp_path)
    await store.start()
    settings = HubSettings(data_dir=tmp_path, max_body_bytes=64 * 1024, controllers=False)
    h = Hub(tmp_path, store, settings)
    await h.authorizer.start()
    await h.namespaces.start()
    try:
        yield h
    finally:
        h.api.watches.close_all()
        await h.namespaces.stop()
        await h.authorizer.stop()
        h.audit.close()
        await store.close()


@pytest.fixture
async def client(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    async with hub.client() as c:
        yield c


@pytest.fixture
async def served(hub: Hub) -> AsyncIterator[str]:
    """The app on a real uvicorn at 127.0.0.1:<free port>; yields its base URL."""
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        hub.app, log_level="warning", lifespan="off", ws="none", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not server.started:
        assert loop.time() < deadline and not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        hub.api.watches.close_all()
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


def ns_obj(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def cm(name: str, ns: str = "default", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": dict(data),
    }


def tenant(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name},
        "spec": spec,
    }


__all__ = ["REGISTRY", "Hub", "cm", "ns_obj", "tenant"]
