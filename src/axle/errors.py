"""The error tree of axle, and how each error becomes a Kubernetes `Status`.

Every failure a user can cause is one of these, raised wherever it is detected (api
validation, store, server, controllers) and turned into a `Status` body by the server, so that
kubectl and the axle CLI print the same clear message. Kept free of third-party imports so
every layer may use it.

    ApiError                      code  reason
    ├── BadRequest                400   BadRequest
    ├── Unauthorized              401   Unauthorized
    ├── Forbidden                 403   Forbidden
    ├── NotFound                  404   NotFound
    ├── MethodNotAllowed          405   MethodNotAllowed
    ├── AlreadyExists             409   AlreadyExists
    ├── Conflict                  409   Conflict
    ├── Gone                      410   Expired (a watch or continue token older than the log)
    ├── RequestEntityTooLarge     413   RequestEntityTooLarge
    ├── UnsupportedMediaType      415   UnsupportedMediaType
    ├── Invalid                   422   Invalid (with details.causes[].field)
    ├── TooManyRequests           429   TooManyRequests
    ├── InternalError             500   InternalError
    └── ServiceUnavailable        503   ServiceUnavailable

Controllers use `TemporaryError(delay)` and `PermanentError` (not API errors) to tell the
runtime whether to retry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Cause:
    """One reason an object was refused, pointing at the offending field (`spec.gpuLimits.H100`)."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "reason": self.reason}


class ApiError(Exception):
    """An error with an HTTP code and a Kubernetes `Status` reason."""

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        name: str | None = None,
        group: str | None = None,
        causes: list[Cause] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.name = name
        self.group = group
        self.causes = list(causes or [])
        self.retry_after = retry_after

    def to_status(self) -> dict[str, Any]:
        """The `Status` body Kubernetes returns for this error."""
        details: dict[str, Any] = {}
        if self.name is not None:
            details["name"] = self.name
        if self.group is not None:
            details["group"] = self.group
        if self.kind is not None:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            status["details"] = details
        return status

    @classmethod
    def from_status(cls, status: dict[str, Any]) -> ApiError:
        """Rebuild the matching error from a `Status` body (used by the client)."""
        code = int(status.get("code") or 500)
        reason = str(status.get("reason") or "")
        err_cls = _BY_REASON.get(reason) or _BY_CODE.get(code) or ApiError
        details = status.get("details") or {}
        causes = [
            Cause(
                field=str(c.get("field", "")),
                message=str(c.get("message", "")),
                reason=str(c.get("reason", "")),
            )
            for c in details.get("causes") or []
        ]
        err = err_cls(
            str(status.get("message") or reason or f"HTTP {code}"),
            kind=details.get("kind"),
            name=details.get("name"),
            group=details.get("group"),
            causes=causes,
            retry_after=details.get("retryAfterSeconds"),
        )
        return err


class BadRequest(ApiError):
    code = 400
    reason = "BadRequest"


class Unauthorized(ApiError):
    code = 401
    reason = "Unauthorized"


class Forbidden(ApiError):
    code = 403
    reason = "Forbidden"


class NotFound(ApiError):
    code = 404
    reason = "NotFound"


class MethodNotAllowed(ApiError):
    code = 405
    reason = "MethodNotAllowed"


class AlreadyExists(ApiError):
    code = 409
    reason = "AlreadyExists"


class Conflict(ApiError):
    code = 409
    reason = "Conflict"


class Gone(ApiError):
    code = 410
    reason = "Expired"


class RequestEntityTooLarge(ApiError):
    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaType(ApiError):
    code = 415
    reason = "UnsupportedMediaType"


class Invalid(ApiError):
    code = 422
    reason = "Invalid"


class TooManyRequests(ApiError):
    code = 429
    reason = "TooManyRequests"


class InternalError(ApiError):
    code = 500
    reason = "InternalError"


class ServiceUnavailable(ApiError):
    code = 503
    reason = "ServiceUnavailable"


_ALL: list[type[ApiError]] = [
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    AlreadyExists,
    Conflict,
    Gone,
    RequestEntityTooLarge,
    UnsupportedMediaType,
    Invalid,
    TooManyRequests,
    InternalError,
    ServiceUnavailable,
]
_BY_REASON: dict[str, type[ApiError]] = {c.reason: c for c in _ALL}
# Several errors share a code; the first listed is the default for a bare code.
_BY_CODE: dict[int, type[ApiError]] = {}
for _c in _ALL:
    _BY_CODE.setdefault(_c.code, _c)


@dataclass
class TemporaryError(Exception):
    """A reconcile failed for a reason that may pass: retry after `delay` seconds."""

    message: str
    delay: float = 5.0
    reason: str = "Retrying"


@dataclass
class PermanentError(Exception):
    """A reconcile cannot succeed until the object changes: do not retry on a timer."""

    message: str
    reason: str = "Failed"
    details: dict[str, Any] = field(default_factory=dict)
