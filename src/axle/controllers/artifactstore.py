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
spokes verify every blob's digest on pull in any case. The files every layout holds alike
(`oci-layout` and the Flux config blob `{}`) are kept once, in `PATH/.shared`, and each new
layout's are hard links to them: creating and writing small files is what a push costs the
kernel most (see `axle.oci.layout`).

A layout store is written by the render worker that rendered the deployment (`LayoutJob`,
`push_in_worker`): the worker builds the artifact from the manifests it holds and writes
the layout, and the hub only learns the digest. Building (YAML, tar, gzip) and creating a
layout's directories and files was most of the hub's CPU per deployment after the render
itself, on top of a trip to a push thread and the manifests' way back from the worker. The
worker is as trusted as the hub's threads (same user, same machine, the same functions); a
push it could not make is reported as this store's own failure would be, and a render the
worker did not push (answered from the pool's cache, or shared with an identical request)
is pushed here as before.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
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

log = logging.getLogger(__name__)

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
# Under a layout store's directory, next to the namespaces' (no namespace starts with a dot):
# the files every layout holds alike, which each layout links to (`push_layout(shared=)`).
SHARED_DIR = ".shared"


@dataclass(frozen=True)
class LayoutJob:
    """A layout push a render worker makes right after the render (see the module
    docstring): where, under which tag, and the artifact's annotations."""

    root: str
    tag: str
    source: str
    revision: str
    input_digest: str | None
    # The store's directory of files alike in every layout (`push_layout(shared=...)`).
    shared: str | None = None


@dataclass(frozen=True)
class LayoutPushed:
    """What became of a `LayoutJob`: the manifest digest pushed, or the push's failure
    (the `OciError`'s message and reason); neither when the worker could not tell (the hub
    then pushes itself)."""

    digest: str | None = None
    error: str | None = None
    reason: str | None = None


def push_in_worker(job: LayoutJob, manifests: Sequence[Mapping[str, Any]]) -> LayoutPushed:
    """Build and push a render's artifact, in the render worker (see `LayoutJob`)."""
    try:
        artifact = build_artifact(
            manifests, source=job.source, revision=job.revision, input_digest=job.input_digest
        )
        return LayoutPushed(
            digest=push_layout(
                artifact,
                Path(job.root),
                job.tag,
                durable=False,
                shared=None if job.shared is None else Path(job.shared),
            ).digest
        )
    except OciError as exc:
        return LayoutPushed(error=exc.message, reason=exc.reason)
    except Exception:  # a bug, not the store: the hub pushes itself and reports what it meets
        log.exception("render worker: pushing %s to %s failed", job.tag, job.root)
        return LayoutPushed()


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

    def layout_job(
        self,
        *,
        namespace: str,
        name: str,
        revision: int,
        source_revision: str,
        input_digest: str | None = None,
    ) -> LayoutJob | None:
        """The push of a deployment's artifact for a render worker to make (a layout store;
        None for a registry, or a tag this store refuses: `push` then says why)."""
        if not isinstance(self._ref, LayoutRef):
            return None
        tag = artifact_tag(namespace, name, revision)
        try:
            check_tag(tag)
        except OciError:
            return None
        return LayoutJob(
            root=str(self._ref.path / namespace / name),
            tag=tag,
            source=_source(namespace, name),
            shared=str(self._ref.path / SHARED_DIR),
            revision=source_revision,
            input_digest=input_digest,
        )

    async def push(
        self,
        manifests: Sequence[Mapping[str, Any]],
        *,
        namespace: str,
        name: str,
        revision: int,
        source_revision: str,
        input_digest: str | None = None,
        pushed: LayoutPushed | None = None,
    ) -> PushedArtifact:
        """Build the artifact of `manifests` and push it; raises `TemporaryError` on failure.

        `pushed`: what a render worker made of this deployment's `layout_job` (the same
        arguments); a push it made is taken as is, a failure it reports is raised as this
        store's own, and anything else is pushed here."""
        tag = artifact_tag(namespace, name, revision)
        url = self.url_for(namespace, name)
        if pushed is not None and pushed.digest is not None:
            self.pushes += 1
            return PushedArtifact(url=url, digest=pushed.digest, tag=tag)
        if pushed is not None and pushed.error is not None:
            raise _failed(self.url, pushed.error, pushed.reason or OciError.reason)
        loop = asyncio.get_running_loop()
        build = partial(
            build_artifact,
            manifests,
            source=_source(namespace, name),
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
                    self._executor,
                    _build_and_push_layout,
                    build,
                    root,
                    tag,
                    self._ref.path / SHARED_DIR,
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
            raise _failed(self.url, exc.message, exc.reason) from exc
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


def _build_and_push_layout(
    build: Callable[[], Artifact], root: Path, tag: str, shared: Path
) -> PushResult:
    return push_layout(build(), root, tag, durable=False, shared=shared)


def _source(namespace: str, name: str) -> str:
    """The artifact's `org.opencontainers.image.source`."""
    return f"axle://{namespace}/{name}"


def _failed(store: str, message: str, reason: str) -> TemporaryError:
    """A push failure other than the registry's availability or credentials."""
    return TemporaryError(
        f"{_pushing(message)} (artifact store {store}; retrying)", delay=OTHER_RETRY, reason=reason
    )


def _pushing(message: str) -> str:
    """The store's message, led by what failed (the oci layer usually says it already)."""
    return (
        message
        if message.startswith("artifact push failed")
        else (f"artifact push failed: {message}")
    )
