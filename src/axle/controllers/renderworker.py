"""The render worker pool: the hub renders WorkloadDeployments in child processes, never in its own.

Definitions are user code. The Jsonnet evaluator is native code Python cannot interrupt: a
definition recursing in tail position (`f(n - 1) tailstrict`) aborts the whole process (a Go
stack overflow), one that never terminates hangs it. The hub's API server and controllers
must survive both, so renders run in a small pool of worker processes:

- workers are started with `forkserver` (or `spawn`), never a bare `fork` of the threaded
  asyncio hub; they start lazily, on the first render, so a hub that never renders pays
  nothing;
- a request is pure data (`RenderRequest`: the profile, the definitions catalog, variable
  layers, values, hub outputs, system values, context); the answer is the `RenderResult` or
  the `Invalid` error with its causes (field paths survive the process boundary as a
  Kubernetes Status);
- a worker that crashes, or that overruns the deadline, is killed and replaced; that request
  fails with a clear error (`render of team-a/llm-vllm aborted: the Jsonnet evaluator crashed
  (signal SIGABRT)` / `... timed out after 30 s`), every other request goes on;
- results are cached by the request's input digest (sha256 of its canonical JSON) in a
  bounded LRU, and concurrent identical requests share one render: unchanged inputs never
  render twice.

A render may carry a `LayoutJob`: the worker then builds the artifact of what it rendered
and pushes it to the hub's layout store itself, answering with the digest (see
`artifactstore`), so the hub neither builds nor writes it. That push is not part of the
cached outcome: a render answered from the cache, or shared with an identical request in
flight, comes back without one and its caller pushes. The deadline covers the push too
(milliseconds, against a deadline of seconds).

The definitions catalog is the bulk of a request and is the same for every deployment of a
project, so it travels to each worker once per catalog digest and is referred to by digest
afterwards (both ends keep the same small LRU of catalogs, so they always agree on what the
worker holds).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import multiprocessing
import signal
import traceback
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar

import orjson

from axle.controllers.artifactstore import LayoutJob, LayoutPushed, push_in_worker
from axle.errors import ApiError, Invalid
from axle.render.result import Catalog, RenderResult

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
# Catalogs a worker keeps (and the parent remembers it keeps); a project's catalog is reused
# by all of its deployments, so a handful covers a busy hub.
CATALOGS_PER_WORKER = 16

# Safe to import before forking: none of them loads the Go runtime of `_gojsonnet`.
FORKSERVER_PRELOAD = (
    "yaml",
    "jsonschema",
    "axle.render.k8svalidate",
    "axle.render.variables",
    "axle.render.macros",
    "axle.controllers.artifactstore",
)

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A bounded mapping that forgets the least recently used entry first."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


def canonical(value: Any) -> bytes:
    """Sorted-keys compact JSON: equal values give equal bytes on any host."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def sha256_of(value: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical(value)).hexdigest()


def catalog_digest(catalog: Catalog) -> str:
    """The digest of a definitions catalog (kind -> name -> definition)."""
    return sha256_of({k: dict(v) for k, v in catalog.items()})


@dataclass(frozen=True)
class RenderRequest:
    """Everything one render reads, as plain data.

    `profile` is a WorkloadProfile in wire shape (a DefinitionRevision snapshot's content);
    `layers` are the VariableSet layers lowest first (system, project, bundle) as
    `(name, variables)`; `values` the deployment's own values (they win); the hub outputs and
    `system` feed the hub-context macros; `context` sets `name`, `namespace`, ...; `what`
    names the render in error messages (`<namespace>/<deployment>`). `definitions_digest`
    may be given when the caller already knows the catalog's digest (it must be the digest
    of exactly `definitions`); otherwise it is computed.
    """

    what: str
    profile: Mapping[str, Any]
    definitions: Catalog
    layers: Sequence[tuple[str, Sequence[Mapping[str, Any]]]] = ()
    values: Mapping[str, Any] = field(default_factory=dict)
    definition_outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    object_outputs: Mapping[str, Any] = field(default_factory=dict)
    system: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    revision: int | None = None
    definitions_digest: str | None = None

    def body(self) -> dict[str, Any]:
        """The request without its catalog (which travels by digest)."""
        return {
            "profile": self.profile,
            "layers": [[name, list(variables)] for name, variables in self.layers],
            "values": dict(self.values),
            "definitionOutputs": dict(self.definition_outputs),
            "objectOutputs": dict(self.object_outputs),
            "system": dict(self.system),
            "context": dict(self.context),
            "revision": self.revision,
        }

    def catalog_digest(self) -> str:
        return self.definitions_digest or catalog_digest(self.definitions)

    def digest(self) -> str:
        """The input digest: sha256 of the canonical JSON of the whole request.

        Computed once per request (the controller and the pool both ask; serializing the
        profile and variables again was a visible part of a reconcile)."""
        known: str | None = self.__dict__.get("_digest")
        if known is None:
            known = sha256_of({"request": self.body(), "definitions": self.catalog_digest()})
            # A frozen dataclass: the memo goes around __setattr__ (the fields never change).
            object.__setattr__(self, "_digest", known)
        return known


# --- the child side -------------------------------------------------------------------------


def _render(body: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    from axle.render.pipeline import render_profile
    from axle.render.variables import resolve_variables

    variables = resolve_variables(
        [(str(name), list(vs)) for name, vs in body["layers"]], body["values"] or None
    )
    result = render_profile(
        body["profile"],
        definitions=catalog,
        variables=variables,
        definition_outputs=body["definitionOutputs"],
        object_outputs=body["objectOutputs"],
        system=body["system"],
        context=body["context"],
        revision=body["revision"],
    )
    return result_to_dict(result)


def result_to_dict(result: RenderResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "revision": result.revision,
        "manifests": result.manifests,
        "priority_groups": result.priority_groups,
        "outputs": result.outputs,
        "policies": result.policies,
        "notes": result.notes,
    }


def result_from_dict(data: Mapping[str, Any]) -> RenderResult:
    return RenderResult(
        name=str(data["name"]),
        revision=int(data["revision"]),
        manifests=list(data["manifests"]),
        priority_groups=list(data["priority_groups"]),
        outputs=dict(data["outputs"]),
        policies=dict(data.get("policies") or {}),
        notes=list(data.get("notes") or []),
    )


def worker_main(conn: Connection) -> None:
    """A worker's loop: keep catalogs, render requests, answer each with one message."""
    # Ctrl-C on the hub reaches the whole process group; the hub stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    catalogs: Lru[str, Catalog] = Lru(CATALOGS_PER_WORKER)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] == "catalog":
            catalogs.put(message[1], message[2])
            continue
        _, body, digest, job = message
        catalog = catalogs.get(digest)
        try:
            if catalog is None:  # the parent mirrors our LRU, so this is a bug, not input
                raise RuntimeError(f"catalog {digest} not sent to this worker")
            result = _render(body, catalog)
            pushed = None if job is None else push_in_worker(job, result["manifests"])
            answer: tuple[str, Any, LayoutPushed | None] = ("ok", result, pushed)
        except ApiError as err:
            answer = ("api", err.to_status(), None)
        except Exception as err:  # reported to the parent, which raises it as Invalid
            trace = f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=3)}"
            answer = ("exc", trace, None)
        try:
            conn.send(answer)
        except (EOFError, OSError):
            return


# --- the parent side ------------------------------------------------------------------------


class _Crashed(Exception):
    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


class _TimedOut(Exception):
    pass


class _Worker:
    """One worker process and the parent's end of its pipe (one request at a time)."""

    def __init__(self, ctx: Any) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.process: BaseProcess = ctx.Process(
            target=worker_main, args=(child,), daemon=True, name="axle-render-worker"
        )
        self.process.start()
        child.close()
        self.conn: Connection = parent
        self.catalogs: Lru[str, bool] = Lru(CATALOGS_PER_WORKER)

    def alive(self) -> bool:
        return self.process.is_alive()

    async def exchange(
        self,
        body: dict[str, Any],
        digest: str,
        catalog: Catalog,
        deadline: float,
        job: LayoutJob | None = None,
    ) -> tuple[str, Any, LayoutPushed | None]:
        """Send one request (and the catalog if the worker lacks it) and wait for the answer
        on the event loop (a reader on the pipe: no thread per render)."""
        loop = asyncio.get_running_loop()
        try:
            if digest not in self.catalogs:
                self.conn.send(("catalog", digest, {k: dict(v) for k, v in catalog.items()}))
            self.catalogs.put(digest, True)
            self.conn.send(("render", body, digest, job))
            readable: asyncio.Future[None] = loop.create_future()
            fd = self.conn.fileno()

            def wake() -> None:
                if not readable.done():
                    readable.set_result(None)

            loop.add_reader(fd, wake)
            try:
                async with asyncio.timeout(deadline):
                    await readable
            except TimeoutError:
                self.kill()
                raise _TimedOut() from None
            finally:
                loop.remove_reader(fd)
            # The answer is one message the worker writes at once: reading it blocks only
            # for as long as it takes to arrive (a dead worker reads as EOF at once).
            answer: tuple[str, Any, LayoutPushed | None] = self.conn.recv()
            return answer
        except (EOFError, OSError):
            self.process.join(timeout=5)
            raise _Crashed(self._how()) from None

    def _how(self) -> str:
        code = self.process.exitcode
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return f"signal {signal.Signals(-code).name}"
        return f"exit code {code}"

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        self.process.join(timeout=5)
        with contextlib.suppress(Exception):
            self.conn.close()


@dataclass
class PoolStats:
    renders: int = 0
    cache_hits: int = 0
    crashes: int = 0
    timeouts: int = 0
    workers_started: int = 0
    pushes: int = 0


class RenderPool:
    """A pool of `size` render worker processes with an LRU cache of results by input digest.

    `await pool.render(request, deadline=30)` returns the `RenderResult` or raises `Invalid`
    (the render's own error with its causes, or a crash/timeout of the worker). Call
    `await pool.close()` to stop the workers.
    """

    def __init__(
        self,
        size: int = 2,
        *,
        cache_size: int = 512,
        start_method: str = "forkserver",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if start_method == "fork":
            raise ValueError("render workers must not be forked from the threaded hub")
        self.size = max(1, size)
        self.timeout = timeout
        self.stats = PoolStats()
        self._mp = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            # The forkserver imports the pure-Python part of the render stack once, so each
            # worker forks from it warm. Never the Jsonnet evaluator: a Go runtime does not
            # survive fork (its threads are gone), and a forked copy deadlocks instead of
            # failing, so each worker loads it for itself.
            self._mp.set_forkserver_preload(list(FORKSERVER_PRELOAD))
        # Results hold every rendered manifest, so this stays small: the WorkloadDeployment
        # controller remembers what it shipped per deployment and does not ask again for
        # unchanged inputs; the cache is for requests repeated soon (and remembered crashes).
        self._cache: Lru[str, tuple[str, Any]] = Lru(cache_size)
        self._inflight: dict[str, asyncio.Future[tuple[str, Any]]] = {}
        self._idle: asyncio.Queue[_Worker | None] | None = None
        self._workers: set[_Worker] = set()
        self._closed = False

    def _ensure_started(self) -> asyncio.Queue[_Worker | None]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self.size):
                # A slot: the worker process itself starts on first use.
                self._idle.put_nowait(None)
        return self._idle

    def cached(self, digest: str) -> bool:
        return digest in self._cache

    async def render(
        self, request: RenderRequest, *, deadline: float | None = None
    ) -> RenderResult:
        """Render `request` in a worker (or answer from the cache); raises `Invalid`."""
        outcome, _ = await self._render(request, deadline, None)
        return _unwrap(outcome)

    async def render_and_push(
        self, request: RenderRequest, job: LayoutJob, *, deadline: float | None = None
    ) -> tuple[RenderResult, LayoutPushed | None]:
        """`render`, and the worker pushes the artifact as `job` says (module docstring):
        what became of the push, or None when the result did not come from a render of
        this call (cached or shared) and nothing was pushed."""
        outcome, pushed = await self._render(request, deadline, job)
        return _unwrap(outcome), pushed

    async def _render(
        self, request: RenderRequest, deadline: float | None, job: LayoutJob | None
    ) -> tuple[tuple[str, Any], LayoutPushed | None]:
        digest = request.digest()
        outcome = self._cache.get(digest)
        if outcome is not None:
            self.stats.cache_hits += 1
            return outcome, None
        shared = self._inflight.get(digest)
        if shared is not None:
            return await asyncio.shield(shared), None
        fut: asyncio.Future[tuple[str, Any]] = asyncio.get_running_loop().create_future()
        self._inflight[digest] = fut
        try:
            outcome, pushed = await self._run(
                request, digest, deadline if deadline is not None else self.timeout, job
            )
            fut.set_result(outcome)
        except BaseException as exc:
            fut.set_exception(exc)
            # Nobody else may be waiting: keep asyncio from warning about an unread error.
            fut.exception()
            raise
        finally:
            del self._inflight[digest]
        return outcome, pushed

    async def _run(
        self, request: RenderRequest, digest: str, deadline: float, job: LayoutJob | None
    ) -> tuple[tuple[str, Any], LayoutPushed | None]:
        if self._closed:
            raise RuntimeError("the render pool is closed")
        idle = self._ensure_started()
        worker = await idle.get()
        try:
            if worker is None or not worker.alive():
                if worker is not None:
                    self._drop(worker)
                # Starting a process blocks for a moment: not on the event loop.
                worker = await asyncio.to_thread(_Worker, self._mp)
                self._workers.add(worker)
                self.stats.workers_started += 1
        except BaseException:
            idle.put_nowait(None)
            raise
        try:
            kind, value, pushed = await worker.exchange(
                request.body(), request.catalog_digest(), request.definitions, deadline, job
            )
        except _TimedOut:
            self.stats.timeouts += 1
            self._drop(worker)
            idle.put_nowait(None)
            # Not cached: a busy machine may finish it next time.
            raise Invalid(
                f"render of {request.what} timed out after {deadline:g} s: a definition's "
                "Jsonnet may never terminate"
            ) from None
        except _Crashed as exc:
            self.stats.crashes += 1
            self._drop(worker)
            idle.put_nowait(None)
            outcome: tuple[str, Any] = (
                "crash",
                f"render of {request.what} aborted: the Jsonnet evaluator crashed ({exc.how}), "
                "e.g. unbounded recursion in tail position (tailstrict)",
            )
            # The same input crashes the same way: remember it rather than crash again.
            self._cache.put(digest, outcome)
            return outcome, None
        except BaseException:
            self._drop(worker)
            idle.put_nowait(None)
            raise
        idle.put_nowait(worker)
        self.stats.renders += 1
        if pushed is not None and pushed.digest is not None:
            self.stats.pushes += 1
        outcome = (kind, value)
        self._cache.put(digest, outcome)
        return outcome, pushed

    def _drop(self, worker: _Worker) -> None:
        self._workers.discard(worker)
        worker.kill()

    @property
    def workers(self) -> int:
        """Worker processes currently running."""
        return sum(1 for w in self._workers if w.alive())

    async def close(self) -> None:
        self._closed = True
        workers, self._workers = list(self._workers), set()
        for worker in workers:
            await asyncio.to_thread(worker.kill)
        self._idle = None


def _unwrap(outcome: tuple[str, Any]) -> RenderResult:
    kind, value = outcome
    if kind == "ok":
        return result_from_dict(value)
    if kind == "api":
        err = ApiError.from_status(value)
        if isinstance(err, Invalid):
            raise err
        raise Invalid(err.message, causes=err.causes)
    if kind == "crash":
        raise Invalid(str(value))
    raise Invalid(f"render failed: {value}")
