"""What can go wrong moving an artifact, in words a data scientist can act on.

Every failure in `axle.oci` is an `OciError`. The spoke agent and the controllers need one bit
beyond the message: whether waiting may help (`retryable`: a registry that is down or an
artifact not pushed yet) or not (a digest that does not match, credentials that are refused,
a malformed artifact or URL). `reason` is a CamelCase word for conditions and Events.

    OciError
    ├── ArtifactNotFound       retryable  the tag, manifest or a blob is not there
    ├── DigestMismatch                    content does not hash to the digest asked for
    ├── RegistryUnauthorized              the registry refused the credentials (401/403)
    ├── RegistryUnavailable    retryable  connection refused, timeout, 5xx, 429
    ├── InvalidArtifact                   not a Flux artifact (media types, tar, YAML)
    └── InvalidReference                  a URL, tag or digest axle cannot parse
"""

from __future__ import annotations

from typing import ClassVar


class OciError(Exception):
    """Base of every artifact push/pull failure."""

    reason: ClassVar[str] = "ArtifactError"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ArtifactNotFound(OciError):
    """The tag, manifest or blob does not exist where the URL points."""

    reason = "ArtifactNotFound"
    retryable = True


class DigestMismatch(OciError):
    """Content fetched does not hash to the digest that was asked for."""

    reason = "DigestMismatch"

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(
            f"artifact pull failed: {what} digest mismatch: expected {expected}, got {actual}"
            " (the content was altered in the store or in transit)"
        )
        self.expected = expected
        self.actual = actual


class RegistryUnauthorized(OciError):
    """The registry refused the request for want of (valid) credentials."""

    reason = "RegistryUnauthorized"


class RegistryUnavailable(OciError):
    """The registry could not be reached or failed on its side."""

    reason = "RegistryUnavailable"
    retryable = True


class InvalidArtifact(OciError):
    """The content is not a Flux-compatible axle artifact."""

    reason = "InvalidArtifact"


class InvalidReference(OciError):
    """An artifact URL, tag or digest that does not parse."""

    reason = "InvalidReference"
