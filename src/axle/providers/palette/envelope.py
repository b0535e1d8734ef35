"""Palette's error envelope `v1Error {code, message, details, ref}` -> `ProviderError`s.

The spec declares no error responses per operation, only the `v1Error` schema; the notes
say to treat every non-2xx body as that shape. Servers and proxies in front of them do not
always comply (an HTML 502 page from a load balancer), so a body that is not the envelope
still yields a readable message: the status line and the start of the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from axle.providers.base import (
    InvalidCredentials,
    InvalidRequest,
    NotFound,
    ProviderError,
    RateLimited,
    ServerError,
)

_SNIPPET = 200


@dataclass(frozen=True)
class PaletteErrorBody:
    """The decoded `v1Error`; every field optional (servers fill what they have)."""

    code: str | None = None
    message: str | None = None
    details: Any = None
    ref: str | None = None

    def describe(self) -> str:
        """`code: message (ref r)`, leaving out what is absent."""
        text = self.message or ""
        if self.code and self.code not in text:
            text = f"{self.code}: {text}" if text else self.code
        if self.ref:
            text = f"{text} (ref {self.ref})" if text else f"ref {self.ref}"
        return text


def parse_error_body(response: httpx.Response) -> PaletteErrorBody | None:
    """The envelope in `response`, or None when the body is not one."""
    try:
        data = response.json()
    except ValueError:
        return None
    if not isinstance(data, dict) or not ({"code", "message"} & data.keys()):
        return None

    def text(key: str) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        return value if isinstance(value, str) else str(value)

    return PaletteErrorBody(
        code=text("code"), message=text("message"), details=data.get("details"), ref=text("ref")
    )


def _server_says(response: httpx.Response) -> str:
    body = parse_error_body(response)
    if body is not None and body.describe():
        return body.describe()
    snippet = " ".join(response.text.split())[:_SNIPPET]
    return snippet or "(empty body)"


def error_for(
    response: httpx.Response,
    *,
    base_url: str,
    operation: str,
    retry_after: float | None = None,
    attempts: int = 1,
) -> ProviderError:
    """The `ProviderError` a non-2xx response stands for (not raised: the caller decides)."""
    status = response.status_code
    request = f"{response.request.method} {response.request.url.path}"
    says = _server_says(response)
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    if status == 401:
        return InvalidCredentials(
            f"Palette at {base_url} rejected the API key (HTTP 401 on {request}): {says}",
            status=status,
        )
    if status == 403:
        return InvalidCredentials(
            f"Palette at {base_url} refused the API key access (HTTP 403 on {request}; "
            f"is the key valid for this tenant and project?): {says}",
            status=status,
        )
    if status == 404:
        return NotFound(
            f"Palette {operation}: not found (HTTP 404 on {request}): {says}", status=404
        )
    if status == 429:
        wait = f"; retry after {retry_after:g}s" if retry_after is not None else ""
        return RateLimited(
            f"Palette at {base_url} is rate limiting {operation}{tried}{wait}: {says}",
            status=status,
            retry_after=retry_after,
        )
    if status >= 500:
        return ServerError(
            f"Palette at {base_url} failed {operation}{tried} (HTTP {status} on {request}): {says}",
            status=status,
        )
    return InvalidRequest(
        f"Palette refused {operation} (HTTP {status} on {request}): {says}", status=status
    )
