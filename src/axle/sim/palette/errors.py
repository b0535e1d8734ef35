"""Errors the simulator answers with, in Palette's `v1Error` envelope.

Palette reports every failure as `{code, message, details, ref}` whatever the status, so the
simulator raises `PaletteError(status, code, message)` wherever it detects one and a single
exception handler renders it. `ref` is a per-response id, as Palette's are, so a client can
quote it in logs. The codes are the simulator's own (the spec declares none); they are listed
in docs/palette-simulator.md.
"""

from __future__ import annotations

import uuid
from typing import Any


class PaletteError(Exception):
    """A failure answered as `v1Error` with this HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "ref": uuid.uuid4().hex[:24],
        }


def bad_request(message: str, code: str = "InvalidRequest", **details: Any) -> PaletteError:
    return PaletteError(400, code, message, details=details)


def not_found(kind: str, uid: str) -> PaletteError:
    return PaletteError(
        404, "ResourceNotFound", f"{kind} '{uid}' not found", details={"kind": kind, "uid": uid}
    )


def conflict(message: str, code: str = "Conflict", **details: Any) -> PaletteError:
    return PaletteError(409, code, message, details=details)
