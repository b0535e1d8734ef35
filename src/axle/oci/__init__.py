"""Flux-compatible OCI artifacts: packaging, push and pull.

    artifact = build_artifact(manifests, source="axle://team-a/llm", revision="llm@3")
    digest = await push(artifact, "oci://127.0.0.1:5000/team-a/llm", "c1")   # or file:///dir
    objects = await pull("oci://127.0.0.1:5000/team-a/llm", digest)          # verified

See `artifact` (the format), `refs` (URLs), `layout` and `registry` (the two stores) and
`transfer` (the functions above).
"""

from axle.oci.artifact import (
    CONFIG_MEDIA_TYPE,
    CONTENT_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    Artifact,
    build_artifact,
    read_artifact,
)
from axle.oci.errors import (
    ArtifactNotFound,
    DigestMismatch,
    InvalidArtifact,
    InvalidReference,
    OciError,
    RegistryUnauthorized,
    RegistryUnavailable,
)
from axle.oci.layout import PushResult
from axle.oci.refs import LayoutRef, RegistryRef, parse_ref
from axle.oci.registry import Credentials
from axle.oci.transfer import fetch, pull, push, push_detailed, resolve

__all__ = [
    "CONFIG_MEDIA_TYPE",
    "CONTENT_MEDIA_TYPE",
    "MANIFEST_MEDIA_TYPE",
    "Artifact",
    "ArtifactNotFound",
    "Credentials",
    "DigestMismatch",
    "InvalidArtifact",
    "InvalidReference",
    "LayoutRef",
    "OciError",
    "PushResult",
    "RegistryRef",
    "RegistryUnauthorized",
    "RegistryUnavailable",
    "build_artifact",
    "fetch",
    "parse_ref",
    "pull",
    "push",
    "push_detailed",
    "read_artifact",
    "resolve",
]
