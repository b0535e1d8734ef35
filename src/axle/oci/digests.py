"""Content digests (`sha256:<hex>`) and the checks every pulled byte goes through.

OCI content is addressed by digest; axle only produces and accepts sha256, the algorithm every
registry and Flux support. Verification lives in one place so that the layout store, the
registry client and `read_artifact` all fail the same way (`DigestMismatch` naming expected
and actual digest).
"""

from __future__ import annotations

import hashlib
import re

from axle.oci.errors import DigestMismatch, InvalidReference

DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


def sha256_digest(data: bytes) -> str:
    """The OCI digest of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str, *, what: str = "digest") -> str:
    """Return `digest` if it is a well-formed sha256 digest, else raise `InvalidReference`."""
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise InvalidReference(
            f"invalid {what} {digest!r}: expected 'sha256:' followed by 64 lowercase hex digits"
        )
    return digest


def verify(data: bytes, expected: str, *, what: str) -> bytes:
    """Return `data` if it hashes to `expected`, else raise `DigestMismatch` naming `what`."""
    actual = sha256_digest(data)
    if actual != expected:
        raise DigestMismatch(what, expected, actual)
    return data
