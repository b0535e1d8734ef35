"""The hub's artifact store: where rendered WorkloadDeployments go as OCI artifacts.

One URL (the `artifact_store` setting): `file:///PATH`, a directory of OCI image layouts that
spokes on this machine read (the default, `DATA_DIR/artifacts`), or `oci://HOST[:PORT]/REPO`,
any OCI-distribution registry (`artifact_store_insecure` for plain HTTP). Every deployment
revision is one artifact tagged `<namespace>.<deployment>.r<revision>`, so a person browsing
the store can tell them apart; spokes pull by digest, so the tag is only a label. In a
registry all of them share the one repository; under a layout directory each deployment has
its own layout, `PATH/<namespace>/<deployment>`, because a layout's tags live in one
`index.json` that every push rewrites, and ten thousand deployments in one would make each
push read and write megabytes.

Pushing is idempotent (`axle.oci.push` writes only what the store lacks and leaves a tag that
already points at the digest alone), so an unchanged render pushes nothing new. Any store
failure becomes a `TemporaryError` whose message says what to do about it: a registry that
is down is retried soon, refused credentials less often (someone has to fix them).

Layout pushes are not fsynced (`push_layout(durable=False)`): four or five fsyncs per
deployment were most of a push's cost at fleet scale, and the hub does not need them. A hub
that crashes loses nothing (the kernel holds what was written); after a power loss, a
deployment's first reconcile in the new hub process asks `intact()` before trusting the
artifact its status names, and renders and pushes it again when it is missing or torn
(renders are deterministic, so it comes back under the same digest and no Work changes);
spokes verify every blob's digest on pull in any case.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from axle.errors import TemporaryError
from axle.oci import (
    Artifact,
    InvalidReference,
    OciError,
    RegistryUnauthorized,
    RegistryUnavailable,
    build_artifact,
    parse_ref,
    push,
)
from axle.oci.layout import PushResult, has_layout_artifact, push_layout
from axle.oci.refs import TAG_RE, LayoutRef, check_tag

_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_TAG = 128
# Retry delays: an outage may pass any moment; refused credentials need a person.
UNAVAILABLE_RETRY = 5.0
UNAUTHORIZED_RETRY = 30.0
OTHER_RETRY = 15.0
# Pushes in flight at once (threads). To a registry a push mostly waits on the network, so
# many overlap; to a layout (no fsyncs) it is packing and a few small writes, mostly CPU under
# the GIL, where more threads than cores only add switching.
PUSH_THREADS = 16
LAYOUT_PUSH_THREADS = 2


def artifact_tag(namespace: str, name: str, revision: int) -> str:
    """`<namespace>.<name>.r<revision>`, made a valid OCI tag (shortened with a hash if long)."""
    tag = _TAG_UNSAFE.sub("-", f"{namespace}.{name}.r{revision}")
    if not TAG_RE.match(tag) or len(tag) > MAX_TAG:
        digest = hashlib.sha256(tag.encode()).hexdigest()[:10]
        suffix = f"-{digest}.r{revision}"
        head = tag.lstrip("._-")[: MAX_TAG - len(suffix)]
        tag = f"{head}{suffix}" if head else f"wd{suffix}"
    return tag


@dataclass(frozen=True)
class PushedArtifact:
    url: str
    digest: str
    tag: str

    def ref(self) -> dict[str, str]:
        """The `{url, digest}` a WorkloadDeployment's status and its Works carry."""
        return {"url": self.url, "digest": self.digest}


class ArtifactStore:
    """Builds and pushes rendered manifests; `url` as the `artifact_store` setting."""

    def __init__(self, url: str, *, insecure: bool = False) -> None:
        # A malformed setting fails at start-up, not at the first deployment.
        self._ref = parse_ref(url)
        if self._ref.tag is not None or self._ref.digest is not None:
            raise InvalidReference(f"artifact store {url!r}: name no tag or digest")
        threads = LAYOUT_PUSH_THREADS if isinstance(self._ref, LayoutRef) else PUSH_THREADS
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="axle-artifacts"
        )
        self.url = url
        self.insecure = insecure
        self.pushes = 0

    async def push(
        self,
        manifests: Sequence[Mapping[str, Any]],
        *,
        namespace: str,
        name: str,
        revision: int,
        source_revision: str,
        input_digest: str | None = None,
    ) -> PushedArtifact:
        """Build the artifact of `manifests` and push it; raises `TemporaryError` on failure."""
        tag = artifact_tag(namespace, name, revision)
        url = self.url_for(namespace, name)
        loop = asyncio.get_running_loop()
        build = partial(
            build_artifact,
            manifests,
            source=f"axle://{namespace}/{name}",
            revision=source_revision,
            input_digest=input_digest,
        )
        try:
            if isinstance(self._ref, LayoutRef):
                # Packing (tar + gzip) and the file writes in one trip to this store's own
                # threads: a thread hop per step costs the event loop more than the step.
                check_tag(tag)
                root = self._ref.path / namespace / name
                result = await loop.run_in_executor(
                    self._executor, _build_and_push_layout, build, root, tag
                )
                digest = result.digest
            else:
                # Packing is CPU work: off the event loop; the upload awaits the network.
                artifact = await loop.run_in_executor(self._executor, build)
                digest = await push(artifact, url, tag, insecure=self.insecure or None)
        except RegistryUnavailable as exc:
            raise TemporaryError(
                f"{_pushing(exc.message)} (retrying)",
                delay=UNAVAILABLE_RETRY,
                reason=exc.reason,
            ) from exc
        except RegistryUnauthorized as exc:
            raise TemporaryError(
                f"{_pushing(exc.message)}: check the hub's access to the artifact store "
                f"{self.url} (retrying)",
                delay=UNAUTHORIZED_RETRY,
                reason=exc.reason,
            ) from exc
        except OciError as exc:
            raise TemporaryError(
                f"{_pushing(exc.message)} (artifact store {self.url}; retrying)",
                delay=OTHER_RETRY,
                reason=exc.reason,
            ) from exc
        self.pushes += 1
        return PushedArtifact(url=url, digest=digest, tag=tag)

    async def intact(self, namespace: str, name: str, digest: str) -> bool:
        """Whether a deployment's pushed artifact `digest` is still whole in the store.

        Layout pushes skip fsyncs (module docstring), so after a power loss an artifact a
        status names may be missing or torn: this reads and verifies it. A registry keeps
        what it acknowledged, so there the answer is always yes (asking would cost a request
        per deployment for nothing)."""
        if not isinstance(self._ref, LayoutRef):
            return True
        root = self._ref.path / namespace / name
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, has_layout_artifact, root, digest
        )

    def close(self) -> None:
        """Let the push threads go (pushes in flight finish first)."""
        self._executor.shutdown(wait=False)

    def url_for(self, namespace: str, name: str) -> str:
        """Where a deployment's artifacts go: the registry repository itself, or the
        deployment's own layout directory under the store's (a layout keeps every tag in
        one index.json that each push rewrites: one per deployment keeps pushes O(1))."""
        if isinstance(self._ref, LayoutRef):
            return f"file://{self._ref.path / namespace / name}"
        return self.url


def _build_and_push_layout(build: Callable[[], Artifact], root: Path, tag: str) -> PushResult:
    return push_layout(build(), root, tag, durable=False)


def _pushing(message: str) -> str:
    """The store's message, led by what failed (the oci layer usually says it already)."""
    return (
        message
        if message.startswith("artifact push failed")
        else (f"artifact push failed: {message}")
    )
