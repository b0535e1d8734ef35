"""The artifact transport everyone calls: `push` and `pull` by URL, registry or layout alike.

`axle.oci.push(artifact, url, tag)` stores an artifact and returns its manifest digest;
`axle.oci.pull(url, digest)` returns the Kubernetes objects of the artifact with that digest,
after verifying the manifest and every blob against their digests. The URL says where
(`axle.oci.refs`): `oci://HOST/REPO` for a registry, `file:///PATH` or `oci-layout://PATH`
for a layout directory. Pulling is always by digest: a tag in the URL is ignored by `pull`, so
what the hub recorded is exactly what a spoke applies.

Layout I/O blocks, so it runs in a worker thread; registry I/O is async httpx.
"""

from __future__ import annotations

import asyncio
from typing import Any

from axle.oci.artifact import Artifact
from axle.oci.digests import check_digest
from axle.oci.errors import InvalidReference
from axle.oci.layout import PushResult, fetch_layout, push_layout, resolve_layout
from axle.oci.refs import LayoutRef, RegistryRef, check_tag, parse_ref
from axle.oci.registry import Credentials, RegistryClient


async def push(
    artifact: Artifact,
    url: str,
    tag: str,
    *,
    credentials: Credentials | None = None,
    insecure: bool | None = None,
) -> str:
    """Store `artifact` at `url` under `tag`; return its manifest digest.

    Content already present is not written again, and a tag already at this digest is left
    alone, so pushing an unchanged artifact changes nothing.
    """
    result = await push_detailed(artifact, url, tag, credentials=credentials, insecure=insecure)
    return result.digest


async def push_detailed(
    artifact: Artifact,
    url: str,
    tag: str,
    *,
    credentials: Credentials | None = None,
    insecure: bool | None = None,
) -> PushResult:
    """`push`, also saying which blobs were written and whether the tag moved."""
    ref = parse_ref(url)
    check_tag(tag)
    if ref.digest is not None:
        raise InvalidReference(f"cannot push to {url!r}: a push URL names no digest")
    if ref.tag is not None and ref.tag != tag:
        raise InvalidReference(
            f"cannot push to {url!r} with tag {tag!r}: the URL names tag {ref.tag!r}"
        )
    if isinstance(ref, LayoutRef):
        return await asyncio.to_thread(push_layout, artifact, ref.path, tag)
    async with _client(ref, credentials, insecure) as client:
        return await client.push(ref.repository, artifact, tag)


async def fetch(
    url: str,
    digest: str,
    *,
    credentials: Credentials | None = None,
    insecure: bool | None = None,
) -> Artifact:
    """The verified artifact with manifest `digest` at `url` (annotations included)."""
    ref = parse_ref(url)
    check_digest(digest, what="manifest digest")
    if ref.digest is not None and ref.digest != digest:
        raise InvalidReference(
            f"cannot pull {url!r} as {digest}: the URL names another digest, {ref.digest}"
        )
    if isinstance(ref, LayoutRef):
        return await asyncio.to_thread(fetch_layout, ref.path, digest)
    async with _client(ref, credentials, insecure) as client:
        return await client.fetch(ref.repository, digest)


async def pull(
    url: str,
    digest: str,
    *,
    credentials: Credentials | None = None,
    insecure: bool | None = None,
) -> list[dict[str, Any]]:
    """The Kubernetes objects of the artifact with manifest `digest` at `url`, in apply order.

    Raises `DigestMismatch` if the manifest or any blob does not hash to its digest,
    `ArtifactNotFound`, `RegistryUnauthorized` or `RegistryUnavailable` as the store answers.
    """
    artifact = await fetch(url, digest, credentials=credentials, insecure=insecure)
    return await asyncio.to_thread(artifact.manifests)


async def resolve(
    url: str,
    tag: str | None = None,
    *,
    credentials: Credentials | None = None,
    insecure: bool | None = None,
) -> str:
    """The manifest digest a tag points at (`tag`, or the tag in `url`)."""
    ref = parse_ref(url)
    name = tag or ref.tag
    if name is None:
        raise InvalidReference(f"cannot resolve {url!r}: no tag given")
    check_tag(name)
    if isinstance(ref, LayoutRef):
        return await asyncio.to_thread(resolve_layout, ref.path, name)
    async with _client(ref, credentials, insecure) as client:
        return await client.resolve(ref.repository, name)


def _client(
    ref: RegistryRef, credentials: Credentials | None, insecure: bool | None
) -> RegistryClient:
    return RegistryClient(ref.host, credentials=credentials, insecure=insecure)
