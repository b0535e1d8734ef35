"""`SqliteStore`: the store on one SQLite file (WAL), SQL derived from SQLAlchemy Core.

Threads. SQLite allows one writer at a time, so every write runs on ONE dedicated writer
thread with its own connection: writes are serialized without locks in Python, in
`BEGIN IMMEDIATE` transactions (which also serialize against other processes on the file),
and the event loop never blocks on SQL. Writes queue for that thread; those that queued up
while it was busy run in one transaction (group commit), each inside a SAVEPOINT so that a
failing or dry-run write is undone alone, and every caller is answered after the COMMIT that
made its write durable. COMMIT is most of a write's cost, so under load this roughly halves
CPU per write without weakening durability. Reads (get, list, watch replay) run on a
separate reader thread and connection; WAL lets them proceed while a write is in flight, and
each read is one transaction, so it sees one consistent snapshot. All of it runs SQL that
`statements` compiled once from the Core tables, on the DB-API connection: per-call Core
statement building cost more than SQLite itself.

Lists. A label selector with an equality term (`k=v`, `k in (..)`, or `k`) is answered from
the label index (`object_labels`), so a list reads and decodes only the matching objects;
the remaining terms are judged on the small `labels` column before any body is decoded.

Revisions. One counter in `meta` hands out revisions; every revision is exactly one
change-log row written in the same transaction as the object row, so the change log is a
gap-free history. The writer thread is also the *sequencer* of the in-process watch fan-out:
after each commit it hands the committed changes to the event loop, in commit order. Changes
committed by another process are noticed either when a local write's revision skips ahead
(the writer then reads the missing rows inside its transaction, before its own) or by a cheap
`PRAGMA data_version` poll, and are dispatched the same way, so watchers see one ordered
stream whatever process wrote.

Garbage collection runs after commit, in this process, as ordinary writes on the writer
thread: a removal or a foreground deletion queues the owner's uid, and a worker deletes (or
orphans, or waits for) its dependents. A pass at start-up re-queues owners that vanished and
deletions that were in progress, so a crash between the two steps leaves no orphan behind.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import contextlib
import dataclasses
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    select,
)
from sqlalchemy.pool import NullPool

from axle.api.meta import now_rfc3339
from axle.api.registry import REGISTRY, KindInfo, UnknownKind
from axle.errors import ApiError, BadRequest, Gone, InternalError, ServiceUnavailable
from axle.store import migrate, rules
from axle.store import statements as sql
from axle.store.base import ListResult, Obj, Propagation, StoreEvent, Watch
from axle.store.crypto import Cipher
from axle.store.schema import objects, owner_refs
from axle.store.selectors import (
    FieldSelector,
    LabelSelector,
    parse_field_selector,
    parse_label_selector,
)
from axle.store.watchhub import Change, ChangeType, Watcher, WatchFilter, WatchHub

log = logging.getLogger(__name__)

T = TypeVar("T")
Key = tuple[str, str, str, str]  # (group, kind, namespace, name)

_REPLAY_CHUNK = 1000
# At most this many queued writes share one transaction: bounds how long the write lock is
# held (other processes on the file wait for it) and how much one failed COMMIT undoes.
_MAX_BATCH = 128
_GENERATE_NAME_TRIES = 8


def _is_secret(group: str, kind: str) -> bool:
    return group == "" and kind == "Secret"


def _copy_json(info: KindInfo, obj: Obj) -> Obj:
    """A private deep copy of a caller's object; also proves it is plain JSON."""
    try:
        value: Obj = orjson.loads(orjson.dumps(obj))
    except TypeError as exc:
        raise BadRequest(f"a {info.kind} must be plain JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest(f"a {info.kind} must be a JSON object")
    return value


def _with_own_metadata(obj: Obj) -> Obj:
    """A copy of `obj` whose top level and metadata may be changed (by assignment); deeper
    values are shared with `obj`."""
    return {**obj, "metadata": dict(obj["metadata"])}


def _typed(info: KindInfo, obj: Obj) -> Obj:
    """The object with the kind's canonical `apiVersion` and `kind`, placed first."""
    rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    return {"apiVersion": info.api_version, "kind": info.kind, **rest}


def _info_for(group: str, kind: str, namespace: str) -> KindInfo:
    """The KindInfo of a dependent found by garbage collection (only its key is known)."""
    try:
        return REGISTRY.by_group_kind(group, kind)
    except UnknownKind:
        return KindInfo(
            group=group,
            version="v1",
            kind=kind,
            plural=kind.lower() + "s",
            singular=kind.lower(),
            namespaced=bool(namespace),
        )


@dataclass
class _Row:
    """A stored object as the writer loaded it."""

    group: str
    kind: str
    namespace: str
    name: str
    uid: str
    resource_version: int
    generation: int
    labels: str  # the `labels` column: what the label index holds for this object
    stored: bytes  # the body as stored (ciphertext for Secrets)
    plain: bytes  # the body as JSON

    @property
    def key(self) -> Key:
        return (self.group, self.kind, self.namespace, self.name)

    def obj(self) -> Obj:
        """A fresh copy of the stored object, the caller's to change."""
        value: Obj = orjson.loads(self.plain)
        return value

    @cached_property
    def current(self) -> Obj:
        """The stored object decoded once per transaction, shared: never change it."""
        return self.obj()


class _Codec:
    """Body bytes <-> stored bytes: Secrets are encrypted when a key is configured."""

    def __init__(self, key: bytes | None) -> None:
        self.cipher = Cipher(key) if key is not None else None

    @staticmethod
    def _aad(group: str, kind: str, namespace: str, name: str) -> bytes:
        return f"{group}/{kind}/{namespace}/{name}".encode()

    def seal(self, group: str, kind: str, namespace: str, name: str, plain: bytes) -> bytes:
        if self.cipher is None or not _is_secret(group, kind):
            return plain
        return self.cipher.encrypt(plain, self._aad(group, kind, namespace, name))

    def open(self, group: str, kind: str, namespace: str, name: str, stored: bytes) -> bytes:
        if not _is_secret(group, kind) or stored[:1] == b"{":
            return stored
        if self.cipher is None:
            raise InternalError(
                "a Secret is stored encrypted but the store has no encryption key; start the "
                "hub with the key it was written with"
            )
        try:
            return self.cipher.decrypt(stored, self._aad(group, kind, namespace, name))
        except ValueError as exc:
            raise InternalError(str(exc)) from None


class _Tx:
    """One write on the writer thread (alone in its transaction, or in a SAVEPOINT of a
    batch): the primitives every write is made of. `last_rev` is the revision the write
    starts from (the previous write's in the same batch).

    Statements run on the DB-API connection with SQL compiled once (see `statements`)."""

    def __init__(self, store: SqliteStore, db: sqlite3.Connection, last_rev: int) -> None:
        self.store = store
        self.db = db
        self.codec = store._codec
        self.last_rev = last_rev
        self.changes: list[Change] = []
        self.hints: list[str] = []
        self.gap = False

    # -- revisions -----------------------------------------------------------------------

    def next_revision(self) -> int:
        rev: int = self.db.execute(sql.NEXT_REVISION).fetchone()[0]
        if rev != self.last_rev + 1:
            # Another process wrote since we last looked: sequence its changes before ours.
            foreign = self.store._read_changes(self.db, self.last_rev, rev - 1)
            if len(foreign) != rev - 1 - self.last_rev:
                self.gap = True
            self.changes.extend(foreign)
        self.last_rev = rev
        return rev

    # -- reads ---------------------------------------------------------------------------

    def load(self, group: str, kind: str, namespace: str, name: str) -> _Row | None:
        row = self.db.execute(
            sql.LOAD_OBJECT, {"g": group, "k": kind, "ns": namespace, "n": name}
        ).fetchone()
        if row is None:
            return None
        uid, rv, generation, labels, stored = row
        plain = self.codec.open(group, kind, namespace, name, stored)
        return _Row(group, kind, namespace, name, uid, rv, generation, labels, stored, plain)

    def exists(self, group: str, kind: str, namespace: str, name: str) -> bool:
        params = {"g": group, "k": kind, "ns": namespace, "n": name}
        return self.db.execute(sql.OBJECT_EXISTS, params).fetchone() is not None

    def alive(self, uid: str) -> bool:
        return self.db.execute(sql.UID_ALIVE, {"uid": uid}).fetchone() is not None

    def load_uid(self, uid: str) -> _Row | None:
        row = self.db.execute(sql.KEY_OF_UID, {"uid": uid}).fetchone()
        return None if row is None else self.load(*row)

    def dependents(self, uid: str) -> list[Key]:
        return [tuple(r) for r in self.db.execute(sql.DEPENDENTS, {"uid": uid})]

    # -- writes --------------------------------------------------------------------------

    def _log(
        self, rev: int, type_: ChangeType, key: Key, stored: bytes, prev: bytes | None
    ) -> None:
        self.db.execute(
            sql.INSERT_CHANGE,
            {
                "rv": rev,
                "type": type_,
                "g": key[0],
                "k": key[1],
                "ns": key[2],
                "n": key[3],
                "body": stored,
                "prev": prev,
            },
        )

    def _set_owner_refs(self, key: Key, uids: Iterable[str]) -> None:
        owners = list(dict.fromkeys(uids))
        self.db.executemany(
            sql.INSERT_OWNER_REF,
            [{"uid": u, "g": key[0], "k": key[1], "ns": key[2], "n": key[3]} for u in owners],
        )
        # A dependent written with an owner that no longer exists is garbage at once.
        self.hints.extend(u for u in owners if not self.alive(u))

    def clear_owner_refs(self, key: Key) -> None:
        self.db.execute(
            sql.DELETE_OWNER_REFS, {"g": key[0], "k": key[1], "ns": key[2], "n": key[3]}
        )

    def _index_labels(self, statement: str, key: Key, labels: dict[str, str]) -> None:
        """Insert (or delete) label-index rows of `key`, one per label."""
        if labels:
            g, k, ns, n = key
            self.db.executemany(
                statement,
                [
                    {"g": g, "k": k, "lk": lk, "lv": lv, "ns": ns, "n": n}
                    for lk, lv in labels.items()
                ],
            )

    def _reindex_labels(self, key: Key, old_json: str, new_json: str) -> None:
        """Bring the label index from the labels `old_json` to `new_json` (the column texts)."""
        if new_json == old_json:
            return  # the common update (status, spec): labels untouched, nothing to do
        old: dict[str, str] = orjson.loads(old_json)
        new: dict[str, str] = orjson.loads(new_json)
        gone = {lk: lv for lk, lv in old.items() if new.get(lk) != lv}
        added = {lk: lv for lk, lv in new.items() if old.get(lk) != lv}
        self._index_labels(sql.DELETE_LABEL, key, gone)
        self._index_labels(sql.INSERT_LABEL, key, added)

    def insert(self, key: Key, obj: Obj) -> Obj:
        rev = self.next_revision()
        md = obj["metadata"]
        md["resourceVersion"] = str(rev)
        plain = orjson.dumps(obj)
        stored = self.codec.seal(*key, plain)
        labels = md.get("labels") or {}
        self.db.execute(
            sql.INSERT_OBJECT,
            {
                "g": key[0],
                "k": key[1],
                "ns": key[2],
                "n": key[3],
                "uid": md["uid"],
                "rv": rev,
                "gen": md.get("generation", 1),
                "labels": orjson.dumps(labels).decode(),
                "dts": None,
                "body": stored,
            },
        )
        self._index_labels(sql.INSERT_LABEL, key, labels)
        self._log(rev, "ADDED", key, stored, None)
        owners = rules.owner_uids(obj)
        if owners:
            self._set_owner_refs(key, owners)
        self.changes.append(Change(rev, "ADDED", *key, plain, None))
        return obj

    def replace(self, row: _Row, obj: Obj) -> Obj:
        rev = self.next_revision()
        md = obj["metadata"]
        md["resourceVersion"] = str(rev)
        plain = orjson.dumps(obj)
        stored = self.codec.seal(*row.key, plain)
        labels_json = orjson.dumps(md.get("labels") or {}).decode()
        self.db.execute(
            sql.UPDATE_OBJECT,
            {
                "g": row.group,
                "k": row.kind,
                "ns": row.namespace,
                "n": row.name,
                "rv": rev,
                "gen": md.get("generation", row.generation),
                "labels": labels_json,
                "dts": md.get("deletionTimestamp"),
                "body": stored,
            },
        )
        self._reindex_labels(row.key, row.labels, labels_json)
        self._log(rev, "MODIFIED", row.key, stored, row.stored)
        old_owners = rules.owner_uids(row.current)
        new_owners = rules.owner_uids(obj)
        if old_owners != new_owners:
            self.clear_owner_refs(row.key)
            self._set_owner_refs(row.key, new_owners)
        self.changes.append(Change(rev, "MODIFIED", *row.key, plain, row.plain))
        return obj

    def remove(self, row: _Row, obj: Obj) -> Obj:
        rev = self.next_revision()
        obj["metadata"]["resourceVersion"] = str(rev)
        plain = orjson.dumps(obj)
        stored = self.codec.seal(*row.key, plain)
        self.db.execute(
            sql.DELETE_OBJECT, {"g": row.group, "k": row.kind, "ns": row.namespace, "n": row.name}
        )
        # The index holds the labels as stored, whatever `obj` (the final state) says.
        self._index_labels(sql.DELETE_LABEL, row.key, orjson.loads(row.labels))
        self.clear_owner_refs(row.key)
        self._log(rev, "DELETED", row.key, stored, row.stored)
        self.changes.append(Change(rev, "DELETED", *row.key, plain, row.plain))
        # Its dependents may now be garbage; its owners may be waiting for it (foreground).
        self.hints.append(row.uid)
        self.hints.extend(rules.owner_uids(obj))
        return obj


@dataclass
class _Pending:
    """A write queued for the writer thread, and its outcome once it has run."""

    op: Callable[[_Tx], Any]
    dry_run: bool
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None

    def fail(self, error: BaseException, cause: BaseException | None = None) -> None:
        if cause is not None:
            error.__cause__ = cause
        self.error = error


class SqliteStore:
    """The `Store` on a SQLite file. Create, `await start()`, use, `await close()`."""

    def __init__(
        self,
        path: str | Path,
        *,
        encryption_key: bytes | None = None,
        poll_interval: float = 0.1,
        watch_log_revisions: int = 100_000,
        compact_interval: float = 60.0,
        watch_queue_size: int = 10_000,
    ) -> None:
        self.path = Path(path)
        self._codec = _Codec(encryption_key)
        self._poll_interval = poll_interval
        self._watch_log_revisions = watch_log_revisions
        self._compact_interval = compact_interval
        self._watch_queue_size = watch_queue_size
        self._hub = WatchHub()
        self._last_rev = 0
        # The newest revision handed to the watch hub (event loop only): a watch without a
        # revision snapshots the state at this revision, so it starts exactly when called.
        self._dispatched_rev = 0
        self._data_version: int | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._engine: Engine | None = None
        self._wconn: Connection | None = None
        self._rconn: Connection | None = None
        self._wdb: sqlite3.Connection | None = None
        self._rdb: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: builtins.list[asyncio.Task[None]] = []
        self._gc_queue: asyncio.Queue[str] = asyncio.Queue()
        self._gc_pending: set[str] = set()
        # Writes waiting for the writer thread (see `_drain`), and whether a drain is queued
        # or running there; both shared by the event loop and the writer thread.
        self._queue: collections.deque[_Pending] = collections.deque()
        self._queue_lock = threading.Lock()
        self._draining = False
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._engine = self._make_engine()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="axle-store-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="axle-store-reader")
        await self._loop.run_in_executor(self._writer, self._open_writer)
        await self._loop.run_in_executor(self._reader, self._open_reader)
        self._dispatched_rev = self._last_rev
        for coro in (self._poll_loop(), self._gc_loop(), self._compact_loop()):
            self._tasks.append(self._loop.create_task(coro))
        for uid in await self._loop.run_in_executor(self._reader, self._gc_candidates):
            self._queue_gc(uid)

    def _make_engine(self) -> Engine:
        engine = create_engine(
            f"sqlite:///{self.path}",
            poolclass=NullPool,
            connect_args={"check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Transactions are begun explicitly (see _on_begin): pysqlite's implicit BEGIN
            # would be DEFERRED, and a deferred transaction that later writes can fail with
            # SQLITE_BUSY instead of waiting for the lock.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.execute("PRAGMA foreign_keys=OFF")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql(conn.info.get("begin", "BEGIN"))

        return engine

    def _open_writer(self) -> None:
        assert self._engine is not None
        conn = self._engine.connect()
        # Migrations hold the write lock, so two processes starting at once take turns.
        conn.info["begin"] = "BEGIN IMMEDIATE"
        with conn.begin():
            migrate.upgrade(conn)
        self._wconn = conn
        self._wdb = _dbapi(conn)
        self._last_rev = _meta_value(self._wdb, "revision")
        self._data_version = self._pragma_data_version()

    def _open_reader(self) -> None:
        assert self._engine is not None
        conn = self._engine.connect()
        conn.info["begin"] = "BEGIN"
        self._rconn = conn
        self._rdb = _dbapi(conn)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._hub.close_all()
        loop = asyncio.get_running_loop()
        if self._writer is not None:
            await loop.run_in_executor(self._writer, self._close_conn, "_wconn")
            self._writer.shutdown(wait=True)
        if self._reader is not None:
            await loop.run_in_executor(self._reader, self._close_conn, "_rconn")
            self._reader.shutdown(wait=True)
        if self._engine is not None:
            self._engine.dispose()

    def _close_conn(self, attr: str) -> None:
        conn = getattr(self, attr)
        if conn is not None:
            conn.close()
            setattr(self, attr, None)
        self._wdb = None if attr == "_wconn" else self._wdb
        self._rdb = None if attr == "_rconn" else self._rdb

    # -- thread plumbing -----------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed or self._writer is None:
            raise ServiceUnavailable("the store is not running")

    async def _run_write(self, op: Callable[[_Tx], T], dry_run: bool = False) -> T:
        """Queue `op` for the writer thread; answered once the transaction holding it has
        committed (or with its error, or at once for a dry run, which is rolled back)."""
        self._check_open()
        assert self._loop is not None and self._writer is not None
        future: asyncio.Future[T] = self._loop.create_future()
        with self._queue_lock:
            self._queue.append(_Pending(op, dry_run, future))
            if not self._draining:
                self._draining = True
                self._writer.submit(self._drain)
        return await future

    def _drain(self) -> None:
        """On the writer thread: run the queued writes, one batch per transaction, until no
        more wait. Writes that queued up while the previous transaction ran commit together:
        one COMMIT (the costly step of a write) and one wake-up of the event loop for all."""
        while True:
            with self._queue_lock:
                if not self._queue:
                    self._draining = False
                    return
                count = min(len(self._queue), _MAX_BATCH)
                batch = [self._queue.popleft() for _ in range(count)]
            try:
                outcome = self._write_batch(batch)
            except BaseException as exc:  # never leave a caller waiting
                log.exception("store: a write batch failed")
                for p in batch:
                    p.error = exc if isinstance(exc, ApiError) else InternalError(str(exc))
                outcome = ([], [], False)
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._finish_batch, batch, *outcome)

    def _write_batch(
        self, batch: builtins.list[_Pending]
    ) -> tuple[builtins.list[Change], builtins.list[str], bool]:
        """Run a batch of writes in one transaction; each runs inside a SAVEPOINT (when there
        are several), so a failing or dry-run write is undone alone. Fills in each write's
        result or error, and returns the committed changes, GC hints and gap flag."""
        db = self._wdb
        assert db is not None
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            for p in batch:
                p.fail(_busy(exc))
            return [], [], False
        savepoints = len(batch) > 1
        last_rev = self._last_rev
        changes: builtins.list[Change] = []
        hints: builtins.list[str] = []
        gap = False
        kept: builtins.list[_Pending] = []
        try:
            for p in batch:
                if p.future.cancelled():
                    # Its caller gave up while it waited in the queue: it never runs (as a job
                    # cancelled before an executor started it). One already running completes.
                    continue
                tx = _Tx(self, db, last_rev)
                if savepoints:
                    db.execute("SAVEPOINT axle_write")
                try:
                    p.result = p.op(tx)
                except sqlite3.Error as exc:
                    p.fail(_busy(exc), cause=exc)
                except BaseException as exc:
                    p.fail(exc)
                keep = p.error is None and not p.dry_run
                if savepoints:
                    if not keep:
                        db.execute("ROLLBACK TO axle_write")
                    db.execute("RELEASE axle_write")
                if keep:
                    kept.append(p)
                    last_rev = tx.last_rev
                    changes += tx.changes
                    hints += tx.hints
                    gap = gap or tx.gap
            if not kept:
                db.execute("ROLLBACK")  # dry runs and failures only: nothing to keep
                return [], [], False
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            # The transaction itself failed (a savepoint, or the commit, or SQLite undid it
            # after an error): nothing of it stands, and writes not yet run never will.
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            for p in batch:
                if p.error is None:
                    p.result = None
                    p.fail(_busy(exc), cause=exc)
            return [], [], False
        self._last_rev = last_rev
        return changes, hints, gap

    def _finish_batch(
        self,
        batch: builtins.list[_Pending],
        changes: builtins.list[Change],
        hints: builtins.list[str],
        gap: bool,
    ) -> None:
        """On the event loop: fan the batch's events out, then answer its callers, so that a
        caller resuming after its write finds the events already dispatched."""
        if changes or hints or gap:
            self._after_commit(changes, hints, gap)
        for p in batch:
            if p.future.done():
                continue  # its caller was cancelled (after the write had started, it stands)
            if p.error is not None:
                p.future.set_exception(p.error)
            else:
                p.future.set_result(p.result)

    async def _run_read_raw(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A read on the reader's DB-API connection, in one read transaction."""
        self._check_open()
        assert self._loop is not None and self._reader is not None
        return await self._loop.run_in_executor(self._reader, self._read_raw, fn)

    def _read_raw(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = self._rdb
        assert db is not None
        try:
            db.execute("BEGIN")
            try:
                return fn(db)
            finally:
                db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _busy(exc) from None

    def _after_commit(
        self, changes: builtins.list[Change], hints: builtins.list[str], gap: bool
    ) -> None:
        """On the event loop, in commit order: fan events out, queue garbage collection."""
        if gap:
            # Some changes are lost to this process: no watcher may see the events after them.
            self._hub.fail_all(
                lambda: Gone(
                    "watch closed: changes from another process were compacted before this "
                    "process saw them; list again"
                )
            )
        if changes:
            self._dispatched_rev = changes[-1].revision
            self._hub.dispatch(changes)
        for uid in hints:
            self._queue_gc(uid)

    def _pragma_data_version(self) -> int:
        assert self._wdb is not None
        return int(self._wdb.execute("PRAGMA data_version").fetchone()[0])

    def _read_changes(
        self,
        db: sqlite3.Connection,
        after: int,
        until: int | None = None,
        *,
        kind: tuple[str, str] | None = None,
        namespace: str | None = None,
        limit: int = -1,
    ) -> builtins.list[Change]:
        """Change-log rows after `after` (to `until`, or of one kind), decrypted, in order."""
        if kind is None:
            params: dict[str, Any] = {
                "after": after,
                "until": until if until is not None else 2**62,
            }
            cursor = db.execute(sql.CHANGES_BETWEEN, params)
        elif namespace is None:
            params = {"g": kind[0], "k": kind[1], "after": after, "limit": limit}
            cursor = db.execute(sql.KIND_CHANGES, params)
        else:
            params = {"g": kind[0], "k": kind[1], "ns": namespace, "after": after, "limit": limit}
            cursor = db.execute(sql.KIND_NS_CHANGES, params)
        out: builtins.list[Change] = []
        codec = self._codec
        for rev, type_, g, k, ns, n, body, prev in cursor:
            prev_plain = None if prev is None else codec.open(g, k, ns, n, prev)
            out.append(Change(rev, type_, g, k, ns, n, codec.open(g, k, ns, n, body), prev_plain))
        return out

    # -- background tasks ----------------------------------------------------------------

    async def _poll_loop(self) -> None:
        """Notice commits by other processes on the same file and dispatch them."""
        assert self._loop is not None and self._writer is not None
        while True:
            await asyncio.sleep(self._poll_interval)
            try:
                await self._loop.run_in_executor(self._writer, self._poll)
            except Exception:
                log.exception("store: polling for changes from other processes failed")

    def _poll(self) -> None:
        version = self._pragma_data_version()
        if version == self._data_version:
            return
        self._data_version = version
        db = self._wdb
        assert db is not None and self._loop is not None
        changes = self._read_changes(db, self._last_rev)  # one statement: one snapshot
        if not changes:
            return
        gap = changes[0].revision != self._last_rev + 1
        self._last_rev = changes[-1].revision
        self._loop.call_soon_threadsafe(self._after_commit, changes, [], gap)

    async def _compact_loop(self) -> None:
        while True:
            await asyncio.sleep(self._compact_interval)
            try:
                await self.compact(self._watch_log_revisions)
            except Exception:
                log.exception("store: compaction failed")

    def _queue_gc(self, uid: str) -> None:
        if uid not in self._gc_pending:
            self._gc_pending.add(uid)
            self._gc_queue.put_nowait(uid)

    async def _gc_loop(self) -> None:
        while True:
            uid = await self._gc_queue.get()
            self._gc_pending.discard(uid)
            try:
                await self._run_write(partial(self._gc_tx, uid))
            except ApiError as exc:
                log.warning("store: garbage collection of dependents of %s: %s", uid, exc)
                if isinstance(exc, ServiceUnavailable):
                    await asyncio.sleep(0.5)
                    self._queue_gc(uid)
            except Exception:
                log.exception("store: garbage collection of dependents of %s failed", uid)

    def _gc_candidates(self, conn: Connection | None = None) -> builtins.list[str]:
        """Owners whose dependents need attention: vanished owners and pending deletions."""
        conn = conn or self._rconn
        assert conn is not None
        with conn.begin():
            missing = conn.execute(
                select(owner_refs.c.owner_uid)
                .distinct()
                .where(owner_refs.c.owner_uid.not_in(select(objects.c.uid)))
            ).scalars()
            deleting = conn.execute(
                select(objects.c.uid).where(objects.c.deletion_timestamp.is_not(None))
            ).scalars()
            return [*missing, *deleting]

    def _gc_tx(self, uid: str, tx: _Tx) -> None:
        owner = tx.load_uid(uid)
        if owner is None:
            self._gc_orphans(tx, uid)
            return
        obj = owner.obj()
        md = obj["metadata"]
        if not md.get("deletionTimestamp"):
            return
        finalizers = list(md.get("finalizers") or [])
        if rules.ORPHAN_FINALIZER in finalizers:
            for key in tx.dependents(uid):
                self._drop_owner_ref(tx, key, {uid})
            finalizers.remove(rules.ORPHAN_FINALIZER)
        elif rules.FOREGROUND_FINALIZER in finalizers:
            for key in tx.dependents(uid):
                dep = tx.load(*key)
                if dep is None:
                    tx.clear_owner_refs(key)
                    continue
                if not dep.current["metadata"].get("deletionTimestamp"):
                    self._delete_row(tx, _info_for(*key[:3]), dep, "Foreground")
            if tx.dependents(uid):
                return  # wait: each dependent's removal queues this owner again
            finalizers.remove(rules.FOREGROUND_FINALIZER)
        else:
            return
        md["finalizers"] = finalizers
        if not finalizers:
            md.pop("finalizers")
            tx.remove(owner, obj)
        else:
            tx.replace(owner, obj)

    def _gc_orphans(self, tx: _Tx, uid: str) -> None:
        """The owner `uid` is gone: delete its dependents unless another owner lives."""
        for key in tx.dependents(uid):
            dep = tx.load(*key)
            if dep is None:
                tx.clear_owner_refs(key)
                continue
            refs = rules.owner_uids(dep.current)
            dead = {u for u in refs if not tx.alive(u)}
            if len(dead) < len(set(refs)):
                self._drop_owner_ref(tx, key, dead)
            elif not dep.current["metadata"].get("deletionTimestamp"):
                self._delete_row(tx, _info_for(*key[:3]), dep, "Background")

    @staticmethod
    def _drop_owner_ref(tx: _Tx, key: Key, uids: set[str]) -> None:
        dep = tx.load(*key)
        if dep is None:
            tx.clear_owner_refs(key)
            return
        obj = dep.obj()
        md = obj["metadata"]
        refs = [r for r in md.get("ownerReferences") or [] if r.get("uid") not in uids]
        if refs:
            md["ownerReferences"] = refs
        else:
            md.pop("ownerReferences", None)
        tx.replace(dep, obj)

    # -- writes --------------------------------------------------------------------------

    async def create(self, info: KindInfo, obj: Obj, *, dry_run: bool = False) -> Obj:
        obj = _copy_json(info, obj)
        return await self._run_write(partial(self._create_tx, info, obj), dry_run)

    def _create_tx(self, info: KindInfo, obj: Obj, tx: _Tx) -> Obj:
        md = rules.metadata_of(info, obj)
        name = md.get("name")
        prefix = md.get("generateName")
        if not name and not prefix:
            raise rules.invalid(
                info, "", "metadata.name", "Required value: name or generateName is required"
            )
        if name is not None and not isinstance(name, str):
            raise rules.invalid(info, "", "metadata.name", "must be a string")
        if md.get("deletionTimestamp"):
            raise rules.invalid(
                info,
                name or "",
                "metadata.deletionTimestamp",
                "Forbidden: may not be set when creating an object",
            )
        ns = rules.object_namespace(info, md, name or str(prefix))
        obj = _typed(info, obj)
        for drop in ("resourceVersion", "deletionGracePeriodSeconds", "selfLink"):
            md.pop(drop, None)
        md["uid"] = rules.new_uid()
        md["creationTimestamp"] = now_rfc3339()
        md["generation"] = 1
        if not name:
            for _ in range(_GENERATE_NAME_TRIES):
                name = rules.generate_name(str(prefix))
                if not tx.exists(info.group, info.kind, ns, name):
                    break
            else:
                raise rules.already_exists(info, str(name))
        elif tx.exists(info.group, info.kind, ns, name):
            raise rules.already_exists(info, name)
        md["name"] = name
        return tx.insert((info.group, info.kind, ns, name), obj)

    async def update(
        self,
        info: KindInfo,
        obj: Obj,
        *,
        subresource: Literal["status"] | None = None,
        dry_run: bool = False,
    ) -> Obj:
        if subresource not in (None, "status"):
            raise BadRequest(f"unknown subresource {subresource!r}")
        if subresource == "status" and not info.has_status:
            raise BadRequest(f"{rules.resource_name(info)} has no status subresource")
        obj = _copy_json(info, obj)
        return await self._run_write(partial(self._update_tx, info, obj, subresource), dry_run)

    def _update_tx(
        self, info: KindInfo, obj: Obj, subresource: Literal["status"] | None, tx: _Tx
    ) -> Obj:
        md = rules.metadata_of(info, obj)
        name = md.get("name")
        if not isinstance(name, str) or not name:
            raise rules.invalid(info, "", "metadata.name", "Required value: name is required")
        ns = rules.object_namespace(info, md, name)
        row = tx.load(info.group, info.kind, ns, name)
        if row is None:
            raise rules.not_found(info, name)
        want = rules.parse_resource_version(md.get("resourceVersion"))
        if want is not None and want != row.resource_version:
            raise rules.conflict(info, name)
        if md.get("uid") and md["uid"] != row.uid:
            raise rules.conflict(
                info,
                name,
                f"Precondition failed: UID in precondition: {md['uid']}, UID in object meta: "
                f"{row.uid}",
            )
        old = row.current  # read-only here; returned as is when nothing changes
        old_md = old["metadata"]
        if subresource == "status":
            # Only `status` (and metadata's bookkeeping) changes: a copy of the top level and
            # of metadata, sharing the rest with the stored object, saves decoding it again.
            new = _with_own_metadata(old)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
            # The server records who wrote the status in managedFields (an entry with
            # `subresource: status`); keep that bookkeeping, and nothing else of metadata.
            if "managedFields" in md:
                new["metadata"]["managedFields"] = md["managedFields"]
        else:
            new = _typed(info, obj)
            for kept in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ):
                if kept in old_md:
                    md[kept] = old_md[kept]
                else:
                    md.pop(kept, None)
            if info.namespaced:
                md["namespace"] = ns
            md.pop("selfLink", None)
            if info.has_status:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            if rules.spec_part(new) != rules.spec_part(old):
                md["generation"] = row.generation + 1
            if old_md.get("deletionTimestamp"):
                added = set(md.get("finalizers") or []) - set(old_md.get("finalizers") or [])
                if added:
                    raise rules.invalid(
                        info,
                        name,
                        "metadata.finalizers",
                        "Forbidden: no new finalizers can be added if the object is being "
                        f"deleted, found new finalizers {sorted(added)}",
                    )
        new["metadata"]["resourceVersion"] = str(row.resource_version)
        if new == old:
            return old
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return tx.remove(row, new)
        return tx.replace(row, new)

    async def delete(
        self,
        info: KindInfo,
        namespace: str | None,
        name: str,
        *,
        uid: str | None = None,
        resource_version: str | None = None,
        propagation: Propagation = "Background",
        dry_run: bool = False,
    ) -> Obj:
        if propagation not in ("Background", "Foreground", "Orphan"):
            raise BadRequest(
                f"unsupported propagationPolicy {propagation!r}: must be Background, "
                "Foreground or Orphan"
            )
        rv = rules.parse_resource_version(resource_version)
        ns = rules.key_namespace(info, namespace)
        if info.namespaced and not ns:
            raise BadRequest(f"a namespace is required to delete {rules.resource_name(info)}")
        return await self._run_write(
            partial(self._delete_tx, info, ns, name, uid, rv, propagation), dry_run
        )

    def _delete_tx(
        self,
        info: KindInfo,
        ns: str,
        name: str,
        uid: str | None,
        rv: int | None,
        propagation: Propagation,
        tx: _Tx,
    ) -> Obj:
        row = tx.load(info.group, info.kind, ns, name)
        if row is None:
            raise rules.not_found(info, name)
        if uid is not None and uid != row.uid:
            raise rules.conflict(
                info,
                name,
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: {row.uid}",
            )
        if rv is not None and rv != row.resource_version:
            raise rules.conflict(info, name)
        return self._delete_row(tx, info, row, propagation)

    def _delete_row(self, tx: _Tx, info: KindInfo, row: _Row, propagation: Propagation) -> Obj:
        # Only metadata changes (by assignment): copy that, share the rest with `row.current`.
        obj = _with_own_metadata(row.current)
        md = obj["metadata"]
        if md.get("deletionTimestamp"):
            return obj  # already being deleted: deletion is idempotent
        finalizers = list(md.get("finalizers") or [])
        if not finalizers:
            if propagation == "Background":
                return tx.remove(row, obj)
            if propagation == "Orphan":
                for key in tx.dependents(row.uid):
                    self._drop_owner_ref(tx, key, {row.uid})
                return tx.remove(row, obj)
            if not tx.dependents(row.uid):
                return tx.remove(row, obj)
        if propagation == "Foreground":
            finalizers.append(rules.FOREGROUND_FINALIZER)
        elif propagation == "Orphan":
            finalizers.append(rules.ORPHAN_FINALIZER)
        md["finalizers"] = finalizers
        md["deletionTimestamp"] = now_rfc3339()
        md["deletionGracePeriodSeconds"] = 0
        result = tx.replace(row, obj)
        if propagation != "Background":
            tx.hints.append(row.uid)
        return result

    async def compact(self, keep_revisions: int) -> int:
        if keep_revisions < 0:
            raise BadRequest("keep_revisions must not be negative")
        return await self._run_write(partial(self._compact_tx, keep_revisions))

    def _compact_tx(self, keep: int, tx: _Tx) -> int:
        current = _meta_value(tx.db, "revision")
        compacted = _meta_value(tx.db, "compacted")
        cutoff = current - keep
        if cutoff <= compacted:
            return 0
        removed = tx.db.execute(sql.COMPACT, {"cutoff": cutoff}).rowcount
        tx.db.execute(sql.SET_COMPACTED, {"value": cutoff})
        return int(removed)

    # -- reads ---------------------------------------------------------------------------

    async def current_revision(self) -> int:
        return await self._run_read_raw(lambda db: _meta_value(db, "revision"))

    async def get(self, info: KindInfo, namespace: str | None, name: str) -> Obj:
        ns = rules.key_namespace(info, namespace)
        body = await self._run_read_raw(partial(self._get_body, info.group, info.kind, ns, name))
        if body is None:
            raise rules.not_found(info, name)
        value: Obj = orjson.loads(body)
        return value

    def _get_body(
        self, group: str, kind: str, ns: str, name: str, db: sqlite3.Connection
    ) -> bytes | None:
        row = db.execute(sql.OBJECT_BODY, {"g": group, "k": kind, "ns": ns, "n": name}).fetchone()
        return None if row is None else self._codec.open(group, kind, ns, name, row[0])

    async def list(
        self,
        info: KindInfo,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector)
        if limit is not None and limit < 0:
            raise BadRequest(f"invalid limit {limit}: must not be negative")
        token = rules.decode_continue(continue_token) if continue_token else None
        ns = (namespace or None) if info.namespaced else None
        query = _ListQuery(info.group, info.kind, ns, labels, fields, limit or None, token)
        return await self._run_read_raw(partial(self._list_tx, query))

    def _list_tx(self, q: _ListQuery, db: sqlite3.Connection) -> ListResult:
        current = _meta_value(db, "revision")
        if q.token is not None:
            revision, start_ns, start_name = q.token
            if revision < _meta_value(db, "compacted"):
                raise rules.gone_continue()
            start: tuple[str, str] | None = (start_ns, start_name)
        else:
            revision, start = current, None
        # Keys changed since the snapshot: their state at `revision` is the body before their
        # first later change (absent if that change created them).
        first_change: dict[tuple[str, str], tuple[str, bytes | None]] = {}
        exists_now: dict[tuple[str, str], bool] = {}
        if revision < current:
            params: dict[str, Any] = {"g": q.group, "k": q.kind, "rev": revision}
            if q.namespace is None:
                cursor = db.execute(sql.KIND_CHANGES_SINCE, params)
            else:
                params["ns"] = q.namespace
                cursor = db.execute(sql.KIND_NS_CHANGES_SINCE, params)
            for namespace, name, type_, prev in cursor:
                key = (namespace, name)
                if start is not None and key <= start:
                    continue
                if key not in first_change:
                    first_change[key] = (type_, prev)
                exists_now[key] = type_ != "DELETED"
        historical = sorted(
            (key, prev)
            for key, (type_, prev) in first_change.items()
            if type_ != "ADDED" and prev is not None
        )

        plan = _ListPlan.of(q, start, db)
        rows: Iterator[ListRow] = (
            iter(()) if plan.sql is None else db.execute(plan.sql, plan.params)
        )
        if first_change:
            # Rows changed since the snapshot come from `historical` instead.
            rows = (r for r in rows if (r[0], r[1]) not in first_change)

        codec, group, kind = self._codec, q.group, q.kind
        secret = _is_secret(group, kind)
        selector = None if q.labels.empty else q.labels
        fields = None if q.fields.empty else q.fields
        items: builtins.list[Obj] = []
        last_key: tuple[str, str] | None = None
        more = False
        for namespace, name, labels_json, stored in _merge(rows, historical):
            obj: Obj | None = None
            if selector is not None and (labels_json is None or not plan.exact):
                # Rows whose labels SQL fully decided skip this. The others are judged on the
                # labels column (small), so a row that fails is never decoded; rebuilt past
                # rows have no column, so their body is decoded (once) to judge them.
                if labels_json is None:
                    obj = orjson.loads(codec.open(group, kind, namespace, name, stored))
                    labels = ((obj or {}).get("metadata") or {}).get("labels")
                else:
                    labels = orjson.loads(labels_json)
                if not selector.matches(labels):
                    continue
            if obj is None:
                plain = codec.open(group, kind, namespace, name, stored) if secret else stored
                obj = orjson.loads(plain)
                assert obj is not None
            if fields is not None and not fields.matches(obj):
                continue
            if q.limit is not None and len(items) >= q.limit:
                more = True
                break
            items.append(obj)
            last_key = (namespace, name)
        if not more or last_key is None:
            return ListResult(items, str(revision))
        remaining = None
        if selector is None and fields is None:
            remaining = self._count_after(db, q, last_key, first_change, exists_now)
        return ListResult(
            items,
            str(revision),
            continue_token=rules.encode_continue(revision, *last_key),
            remaining_item_count=remaining,
        )

    @staticmethod
    def _count_after(
        db: sqlite3.Connection,
        q: _ListQuery,
        last_key: tuple[str, str],
        first_change: dict[tuple[str, str], tuple[str, bytes | None]],
        exists_now: dict[tuple[str, str], bool],
    ) -> int:
        params = {"g": q.group, "k": q.kind, "after_ns": last_key[0], "after_n": last_key[1]}
        if q.namespace is None:
            count: int = db.execute(sql.COUNT_AFTER, params).fetchone()[0]
        else:
            params["ns"] = q.namespace
            count = db.execute(sql.NS_COUNT_AFTER, params).fetchone()[0]
        for key, (type_, _prev) in first_change.items():
            if key <= last_key:
                continue
            count -= 1 if exists_now[key] else 0  # counted above, but judged by its past
            count += 1 if type_ != "ADDED" else 0  # existed at the snapshot
        return count

    # -- watch ---------------------------------------------------------------------------

    def watch(
        self,
        info: KindInfo,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
    ) -> Watch:
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector)
        rv = rules.parse_resource_version(resource_version)
        self._check_open()
        if asyncio.get_running_loop() is not self._loop:
            # Events are handed over on the loop that started the store.
            raise RuntimeError("watch the store from the event loop that started it")
        ns = (namespace or None) if info.namespaced else None
        w = Watcher(
            self._hub,
            info.group,
            info.kind,
            WatchFilter(ns, labels, fields),
            self._watch_queue_size,
        )
        # Without a revision: the objects as of the last change this process has dispatched,
        # so that every later change arrives as an event, whenever the replay task runs.
        query = _ListQuery(info.group, info.kind, ns, labels, fields, None, None)
        snapshot_at = None if rv else self._dispatched_rev
        w.start(partial(self._replay, info, query, rv or None, snapshot_at))
        return w

    async def _replay(
        self,
        info: KindInfo,
        query: _ListQuery,
        rv: int | None,
        snapshot_at: int | None,
        w: Watcher,
    ) -> None:
        ns = query.namespace
        if snapshot_at is not None:
            at = dataclasses.replace(query, token=(snapshot_at, "", ""))
            snapshot = await self._run_read_raw(partial(self._list_tx, at))
            for item in snapshot.items:
                item_rv = int(item["metadata"]["resourceVersion"])
                await w.deliver(StoreEvent("ADDED", item, item_rv), advance=False)
            w.last_rev = snapshot_at
        elif rv is not None:
            w.last_rev = rv
        start = w.last_rev
        while not w.closed:
            after = w.last_rev
            chunk = await self._run_read_raw(partial(self._replay_chunk, info, ns, after, start))
            for change in chunk:
                ev = w.filter.event_for(change)
                if ev is not None:
                    await w.deliver(ev)
                w.last_rev = max(w.last_rev, change.revision)
            if len(chunk) < _REPLAY_CHUNK:
                return

    def _replay_chunk(
        self, info: KindInfo, ns: str | None, after: int, start: int, db: sqlite3.Connection
    ) -> builtins.list[Change]:
        compacted = _meta_value(db, "compacted")
        if after < compacted:
            raise rules.gone_watch(start, compacted)
        return self._read_changes(
            db, after, kind=(info.group, info.kind), namespace=ns, limit=_REPLAY_CHUNK
        )


@dataclass(frozen=True)
class _ListQuery:
    group: str
    kind: str
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    limit: int | None
    token: tuple[int, str, str] | None


ListRow = tuple[str, str, str | None, bytes]  # (namespace, name, labels column, stored body)


@dataclass(frozen=True)
class _ListPlan:
    """How one list reads its current rows: which compiled SQL with which parameters, and
    whether that SQL alone decides the label selector (`exact`: every requirement is `=` or
    `in`, all answered from the label index, so matching rows need no label check)."""

    sql: str | None  # None: no current row can follow the continue key
    params: dict[str, Any]
    exact: bool

    @classmethod
    def of(cls, q: _ListQuery, start: tuple[str, str] | None, db: sqlite3.Connection) -> _ListPlan:
        params: dict[str, Any] = {"g": q.group, "k": q.kind}
        if q.namespace is not None:
            params["ns"] = q.namespace
            # In one namespace a page starts after a name (see `list_objects`); a key from
            # another namespace (a token of another list) leaves all or none of this one.
            if start is not None and start[0] != q.namespace:
                if start[0] > q.namespace:
                    return cls(None, params, exact=True)
                start = None
        if start is not None:
            params["after_ns"], params["after_n"] = start
        # `metadata.name=x` is the key column: one row instead of the kind (still re-checked).
        name = next(
            (r.value for r in q.fields.requirements if r.op == "=" and r.path == _NAME_PATH),
            None,
        )
        if name is not None:
            params["name"] = name
        # Label terms the index answers: `k=v` and `k in (...)`. The most selective drives
        # the read and the rest are index lookups per candidate. Without one, a term that
        # needs the key (`k`, `k>n`, `k<n`) drives by key; with none at all (only `!=`,
        # `notin`, `!k`), every object of the kind is read and judged by its labels.
        sets = [
            (r.key, tuple(dict.fromkeys(r.values)))
            for r in q.labels.requirements
            if r.op in ("=", "in")
        ]
        if len(sets) > 1:
            sets.sort(key=lambda term: _selectivity(db, q, *term))
        driver: int | None = None
        for i, (label, values) in enumerate(sets):
            params[f"lk{i}"] = label
            params.update({f"lv{i}_{j}": v for j, v in enumerate(values)})
        if sets:
            driver = len(sets[0][1])
        else:
            keyed = [r.key for r in q.labels.requirements if r.op in ("exists", "gt", "lt")]
            if keyed:
                driver, params["lk0"] = 0, keyed[0]
        statement = sql.list_objects(
            q.namespace is not None,
            start is not None,
            name is not None,
            driver,
            tuple(len(values) for _, values in sets[1:]),
        )
        exact = bool(sets) and len(sets) == len(q.labels.requirements)
        return cls(statement, params, exact)


_NAME_PATH = ("metadata", "name")
# How far a probe counts a label term's rows: past this, a term is "not selective" and the
# candidates tie (a probe costs at most this many index steps).
_PROBE_CAP = 64


def _selectivity(db: sqlite3.Connection, q: _ListQuery, label: str, values: tuple[str, ...]) -> int:
    """Rows of the label index carrying one of `values` of `label` (counted to a cap)."""
    params: dict[str, Any] = {"g": q.group, "k": q.kind, "lk": label}
    params.update({f"lv_{j}": v for j, v in enumerate(values)})
    if q.namespace is not None:
        params["ns"] = q.namespace
    statement = sql.label_probe(q.namespace is not None, len(values), _PROBE_CAP)
    count: int = db.execute(statement, params).fetchone()[0]
    return count


def _merge(
    current: Iterator[ListRow], historical: list[tuple[tuple[str, str], bytes]]
) -> Iterator[ListRow]:
    """Merge two key-sorted streams (current rows, rebuilt past rows) into one, by key."""
    hist = iter(historical)
    h = next(hist, None)
    if h is None:
        yield from current
        return
    for row in current:
        while h is not None and h[0] < (row[0], row[1]):
            yield h[0][0], h[0][1], None, h[1]
            h = next(hist, None)
        yield row
    while h is not None:
        yield h[0][0], h[0][1], None, h[1]
        h = next(hist, None)


def _busy(exc: sqlite3.Error) -> ApiError:
    """A SQLite failure as an API error: lock timeouts are retryable, the rest internal."""
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
        return ServiceUnavailable("the store is busy; retry shortly", retry_after=1)
    return InternalError(f"store error: {exc}")


def _dbapi(conn: Connection) -> sqlite3.Connection:
    """The sqlite3 connection under a SQLAlchemy one (the hot paths run on it directly)."""
    raw = conn.connection.dbapi_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


def _meta_value(db: sqlite3.Connection, key: str) -> int:
    return int(db.execute(sql.META_VALUE, {"key": key}).fetchone()[0])
