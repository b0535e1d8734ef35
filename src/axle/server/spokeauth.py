"""Authentication of spoke agents by their spoke credential, and revocation that locks them out.

A spoke agent exchanges its bootstrap token for a credential (`spokejoin.py`); the hub keeps
only the credential's SHA-256, in the Secret `axle-system/spoke-credential-<name>`.
`SpokeTokenAuthenticator` holds an in-memory map digest -> spoke built from those Secrets
(list, then watch, like the RBAC authorizer), so authenticating a spoke is one hash and one
dict lookup. A valid credential authenticates as
`UserInfo("system:spoke:<name>", ("system:spokes", "system:authenticated"))`.

Revocation: deleting the credential Secret (which the Spoke controller does when
`spec.hubAcceptsClient` turns false), or replacing it by a new join, removes the old digest
from the map as soon as the watch delivers the change, so the next request with it is 401.
Watch streams opened with the old credential are closed at that moment too: they are wrapped
by `guard()`, which ends a stream as if its client had disconnected once its credential's
revocation event fires. Event-driven rather than a periodic re-check, because a revoked agent
must not keep receiving Works, and a watch may otherwise stay open for an hour.

`ChainAuthenticator` tries authenticators in order (the tokens file first, then spokes), so
spokes need no entry in `tokens.yaml`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

import axle.api.kinds  # noqa: F401  (registers Secret)
from axle.api.meta import SYSTEM_NAMESPACE
from axle.api.registry import REGISTRY, KindInfo
from axle.api.spoketokens import (
    SPOKE_CREDENTIAL_TYPE,
    SPOKE_USER_PREFIX,
    SPOKES_GROUP,
    credential_entry,
    sha256_hex,
    spoke_user,
)
from axle.errors import Unauthorized
from axle.server.auth import AUTHENTICATED_GROUP, UserInfo
from axle.server.storemirror import StoreMirror
from axle.store.base import Obj, Store

log = logging.getLogger(__name__)

_CREDENTIALS = f"type={SPOKE_CREDENTIAL_TYPE}"


class _Authenticator(Protocol):
    def authenticate(self, authorization_header: str | None) -> UserInfo: ...


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, None for anything else."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    token = rest.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


class ChainAuthenticator:
    """The first authenticator that accepts a request's token wins; 401 if none does."""

    def __init__(self, *authenticators: _Authenticator) -> None:
        self.authenticators: Sequence[_Authenticator] = authenticators

    def authenticate(self, authorization_header: str | None) -> UserInfo:
        for authenticator in self.authenticators:
            try:
                return authenticator.authenticate(authorization_header)
            except Unauthorized:
                continue
        raise Unauthorized("Unauthorized")


class SpokeTokenAuthenticator(StoreMirror):
    """Maps spoke credentials to spoke users, following the credential Secrets in the store."""

    mirror_name = "spoke credentials"

    def __init__(self, store: Store, *, secret_kind: KindInfo | None = None) -> None:
        super().__init__(
            store,
            secret_kind or REGISTRY.by_group_kind("", "Secret"),
            namespace=SYSTEM_NAMESPACE,
            field_selector=_CREDENTIALS,
        )
        # Secret name -> (digest, spoke), and digest -> spoke for the lookup.
        self._entries: dict[str, tuple[str, str]] = {}
        self._by_digest: dict[str, str] = {}
        # digest -> event set when that credential stops being valid (guards watch streams).
        self._revoked: dict[str, asyncio.Event] = {}
        self.synced = asyncio.Event()

    # --- the mirror (`StoreMirror`: list, then watch) -----------------------------------

    def _load(self, items: list[Obj]) -> None:
        entries: dict[str, tuple[str, str]] = {}
        for obj in items:
            entry = credential_entry(obj)
            if entry is not None:
                entries[obj["metadata"]["name"]] = entry
        for name in set(self._entries) | set(entries):
            self._set(name, entries.get(name))
        self.synced.set()

    def _apply(self, type_: str, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        self._set(name, None if type_ == "DELETED" else credential_entry(obj))

    def _set(self, name: str, entry: tuple[str, str] | None) -> None:
        """Make Secret `name` record `entry` (None: nothing), revoking what it replaced."""
        old = self._entries.get(name)
        if old == entry:
            return
        if old is not None:
            del self._entries[name]
            if self._by_digest.get(old[0]) == old[1]:
                del self._by_digest[old[0]]
            event = self._revoked.pop(old[0], None)
            if event is not None:
                event.set()
            log.info("spoke %s: credential revoked", old[1])
        if entry is not None:
            self._entries[name] = entry
            self._by_digest[entry[0]] = entry[1]

    # --- requests -----------------------------------------------------------------------

    def spoke_of(self, token: str) -> str | None:
        """The spoke a credential currently belongs to, if any."""
        return self._by_digest.get(sha256_hex(token))

    def authenticate(self, authorization_header: str | None) -> UserInfo:
        """The spoke user of a request's credential; `Unauthorized` otherwise."""
        token = bearer_token(authorization_header)
        spoke = self.spoke_of(token) if token else None
        if spoke is None:
            raise Unauthorized("Unauthorized")
        return UserInfo(spoke_user(spoke), (SPOKES_GROUP, AUTHENTICATED_GROUP))

    def guard(
        self, user: UserInfo, authorization_header: str | None, response: Response
    ) -> Response:
        """`response` (a watch stream), ended when the spoke credential it was opened with is
        revoked. Other users' responses are returned unchanged."""
        if not user.name.startswith(SPOKE_USER_PREFIX):
            return response
        token = bearer_token(authorization_header)
        if token is None:
            return response
        digest = sha256_hex(token)
        event = asyncio.Event()
        if digest in self._by_digest:
            event = self._revoked.setdefault(digest, event)
        else:  # revoked between authentication and now
            event.set()
        return RevocableResponse(response, event)


class RevocableResponse(Response):
    """A streaming response that ends, as on a client disconnect, once `revoked` is set.

    The inner response (a watch stream) already ends cleanly when its `receive` says
    `http.disconnect`, so revocation is delivered through that same path: the stream's writer
    stops, the store watch is closed, and the chunked body is terminated properly.
    """

    def __init__(self, inner: Response, revoked: asyncio.Event) -> None:
        self.inner = inner
        self.revoked = revoked
        self.status_code = inner.status_code
        self.background = None
        self.raw_headers = inner.raw_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        revoked = self.revoked

        async def guarded_receive() -> Message:
            if revoked.is_set():
                return {"type": "http.disconnect"}
            incoming = asyncio.ensure_future(receive())
            waiter = asyncio.ensure_future(revoked.wait())
            try:
                await asyncio.wait({incoming, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                if not incoming.done():
                    incoming.cancel()
            if incoming.done() and not incoming.cancelled():
                return incoming.result()
            return {"type": "http.disconnect"}

        await self.inner(scope, guarded_receive, send)
