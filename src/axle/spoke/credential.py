"""The spoke credential: joining the hub with a bootstrap token, and keeping what it returns.

A bootstrap token works once, so the credential it buys is written to the agent's state dir
(`credential.json`, mode 0600, atomically) and a restarted agent reuses it instead of
joining again. The join is the hub's `POST .../spokes/{name}/join` (no Authorization header:
the bootstrap token in the body is the proof); 401 means the token was used, expired or
never existed, which no retry can fix, while an unreachable hub is retried by the caller.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from axle import __version__
from axle.client import Client, tls_context
from axle.client.errors import ConnectionFailed
from axle.errors import ApiError, Unauthorized
from axle.spoke.files import write_private

CREDENTIAL_FILE = "credential.json"
JOIN_PATH = "/apis/axle.dev/v1alpha1/spokes/{name}/join"


class JoinRefused(Exception):
    """The hub refused the bootstrap token (used, expired or unknown); the message says so."""


class CredentialRejected(Exception):
    """The hub refused the stored spoke credential (revoked): the agent cannot go on."""


@dataclass(frozen=True)
class Credential:
    """What a join returns: who the agent is on the hub and the token that proves it."""

    hub: str
    spoke: str
    namespace: str
    token: str
    leaseDurationSeconds: int = 60  # the wire name, as the hub returns it


def load(state_dir: Path) -> Credential | None:
    """The credential of an earlier join in `state_dir`, or None."""
    try:
        data = json.loads((state_dir / CREDENTIAL_FILE).read_text())
    except (OSError, ValueError):
        return None
    try:
        return Credential(
            hub=str(data["hub"]),
            spoke=str(data["spoke"]),
            namespace=str(data["namespace"]),
            token=str(data["token"]),
            leaseDurationSeconds=int(data.get("leaseDurationSeconds") or 60),
        )
    except (KeyError, TypeError, ValueError):
        return None


def save(state_dir: Path, credential: Credential) -> Path:
    """Write the credential to `state_dir` (mode 0600); returns its path."""
    path = state_dir / CREDENTIAL_FILE
    write_private(path, json.dumps(asdict(credential), indent=2))
    return path


async def join(
    hub: str,
    spoke: str,
    bootstrap_token: str,
    *,
    ca_file: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    request_timeout: float = 30.0,
) -> Credential:
    """Exchange a bootstrap token for a spoke credential.

    Raises JoinRefused on 401 (the token cannot be used), the client's ConnectionFailed when
    the hub cannot be reached (worth retrying), and other ApiErrors as the hub reports them.
    """
    hub = hub.rstrip("/")
    # With a transport (the host's shared pools) httpx builds no TLS context of its own.
    verify: ssl.SSLContext | bool = tls_context(ca_file) if ca_file else True
    async with httpx.AsyncClient(
        base_url=hub,
        transport=transport,
        verify=verify,
        timeout=request_timeout,
        headers={"User-Agent": f"axle-spoke-agent/{__version__}"},
    ) as http:
        try:
            resp = await http.post(
                JOIN_PATH.format(name=spoke), json={"bootstrapToken": bootstrap_token}
            )
        except httpx.TransportError as exc:
            raise ConnectionFailed(
                f"cannot reach the axle hub at {hub}: {exc or type(exc).__name__}", server=hub
            ) from exc
    if resp.status_code >= 400:
        err: ApiError = Client.error_from_response(resp)
        if isinstance(err, Unauthorized):
            raise JoinRefused(
                f"the hub at {hub} refused the bootstrap token for spoke {spoke!r}"
                f" ({err.message}); bootstrap tokens work once and expire: ask for a new one"
            )
        raise err
    body: dict[str, Any] = resp.json()
    return Credential(
        hub=hub,
        spoke=str(body.get("spoke") or spoke),
        namespace=str(body.get("namespace") or f"spoke-{spoke}"),
        token=str(body["token"]),
        leaseDurationSeconds=int(body.get("leaseDurationSeconds") or 60),
    )
