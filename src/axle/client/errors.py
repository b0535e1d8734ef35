"""Errors the client raises on its own, before or instead of a server answer.

They subclass the `axle.errors.ApiError` classes with the matching meaning (so callers catch one
tree), and carry `client_side = True` so the CLI can print them as `error: ...` the way kubectl
prints local failures, instead of `Error from server (...)`.
"""

from __future__ import annotations

from axle.errors import ApiError, BadRequest, NotFound, ServiceUnavailable


class ClientSideError:
    """Marker: the failure was found by the client, not reported by the server."""

    client_side = True


def is_client_side(err: ApiError) -> bool:
    return bool(getattr(err, "client_side", False))


class UnknownResource(ClientSideError, NotFound):
    """What the user typed names no resource type the server's discovery lists."""


class ConnectionFailed(ClientSideError, ServiceUnavailable):
    """The hub could not be reached at all (refused, DNS, TLS, timeout)."""

    def __init__(self, message: str, *, server: str) -> None:
        super().__init__(message)
        self.server = server


class ManifestError(ClientSideError, BadRequest):
    """A manifest file could not be read or is not a Kubernetes object; names file and document."""


class ConfigError(ClientSideError, BadRequest):
    """The contexts file is unreadable or names a context that does not exist."""
