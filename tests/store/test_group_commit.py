"""Writes that queue up while the writer thread is busy commit together, each undone alone.

The writer thread is held on purpose (a blocking job ahead of the writes) so that every
write of a test lands in one batch: then a failing write, a dry run and a bad write must
leave the others, their revisions (gap-free) and their events exactly as if each had run
in its own transaction.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from typing import Any

import pytest

from axle.errors import AlreadyExists, Conflict, InternalError, NotFound
from axle.store.sqlite import SqliteStore
from axle.store.watchhub import Change

from .conftest import WIDGET, next_event, widget


async def in_one_batch(store: SqliteStore, writes: list[Awaitable[Any]]) -> list[Any]:
    """Run `writes` while the writer thread is held, so that they queue and run as one batch."""
    loop = asyncio.get_running_loop()
    release = threading.Event()
    assert store._writer is not None
    held = loop.run_in_executor(store._writer, release.wait)
    tasks = [asyncio.ensure_future(w) for w in writes]
    await asyncio.sleep(0)  # each write runs up to its wait for the writer: all are queued
    assert len(store._queue) == len(writes)
    release.set()
    await held
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_batch_keeps_the_good_writes_and_undoes_the_bad(store: SqliteStore) -> None:
    base = await store.create(WIDGET, widget("base", labels={"app": "x"}))
    rev0 = await store.current_revision()
    # Every revision reaches the watch fan-out once, in order (no write of the batch is
    # mistaken for another process's and handed over twice).
    dispatched: list[int] = []
    real_dispatch = store._hub.dispatch

    def dispatch(changes: list[Change]) -> None:
        dispatched.extend(ch.revision for ch in changes)
        real_dispatch(changes)

    store._hub.dispatch = dispatch  # type: ignore[method-assign]
    w = store.watch(WIDGET, resource_version=str(rev0))
    stale_rv = str(rev0 + 50)
    stale = {**base, "metadata": {**base["metadata"], "resourceVersion": stale_rv}}
    outcomes = await in_one_batch(
        store,
        [
            store.create(WIDGET, widget("a", labels={"app": "x"})),
            store.create(WIDGET, widget("base")),  # AlreadyExists
            store.create(WIDGET, widget("dry", labels={"app": "x"}), dry_run=True),
            store.update(WIDGET, {**stale, "spec": {"v": 1}}),  # Conflict
            store.create(WIDGET, widget("b", labels={"app": "y"})),
            store.delete(WIDGET, "default", "nope"),  # NotFound
            store.update(
                WIDGET, {**base, "metadata": {**base["metadata"], "labels": {"app": "z"}}}
            ),
        ],
    )
    a, exists, dry, conflict, b, missing, relabelled = outcomes
    assert isinstance(exists, AlreadyExists)
    assert isinstance(conflict, Conflict)
    assert isinstance(missing, NotFound)
    assert dry["metadata"]["name"] == "dry"
    # The kept writes took consecutive revisions, in queue order; the others took none.
    revs = [int(o["metadata"]["resourceVersion"]) for o in (a, b, relabelled)]
    assert revs == [rev0 + 1, rev0 + 2, rev0 + 3]
    assert await store.current_revision() == rev0 + 3
    assert dispatched == [rev0 + 1, rev0 + 2, rev0 + 3]
    names = [o["metadata"]["name"] for o in (await store.list(WIDGET)).items]
    assert names == ["a", "b", "base"]
    assert [
        o["metadata"]["name"] for o in (await store.list(WIDGET, label_selector="app=x")).items
    ] == ["a"]
    assert await store.get(WIDGET, "default", "base") == relabelled
    events = [await next_event(w) for _ in range(3)]
    assert [(e.type, e.object) for e in events] == [
        ("ADDED", a),
        ("ADDED", b),
        ("MODIFIED", relabelled),
    ]
    await w.close()


async def test_a_batch_of_only_failures_and_dry_runs_writes_nothing(store: SqliteStore) -> None:
    await store.create(WIDGET, widget("base"))
    rev0 = await store.current_revision()
    outcomes = await in_one_batch(
        store,
        [
            store.create(WIDGET, widget("base")),
            store.create(WIDGET, widget("dry"), dry_run=True),
            store.delete(WIDGET, "default", "base", dry_run=True),
        ],
    )
    assert isinstance(outcomes[0], AlreadyExists)
    assert outcomes[1]["metadata"]["name"] == "dry"
    assert outcomes[2]["metadata"]["name"] == "base"
    assert await store.current_revision() == rev0
    assert [o["metadata"]["name"] for o in (await store.list(WIDGET)).items] == ["base"]


async def test_many_concurrent_writers_each_get_their_own_result(store: SqliteStore) -> None:
    made = await asyncio.gather(
        *(store.create(WIDGET, widget(f"w{i:03}", spec={"i": i})) for i in range(200))
    )
    assert sorted(int(o["metadata"]["resourceVersion"]) for o in made) == list(range(1, 201))
    for i, obj in enumerate(made):
        assert obj["spec"] == {"i": i}
        assert await store.get(WIDGET, "default", f"w{i:03}") == obj


async def test_a_write_cancelled_while_queued_never_runs(store: SqliteStore) -> None:
    """As with a job cancelled before its executor started it: nothing is written."""
    rev0 = await store.current_revision()
    loop = asyncio.get_running_loop()
    release = threading.Event()
    assert store._writer is not None
    held = loop.run_in_executor(store._writer, release.wait)
    dropped = asyncio.ensure_future(store.create(WIDGET, widget("dropped")))
    kept = asyncio.ensure_future(store.create(WIDGET, widget("kept")))
    await asyncio.sleep(0)
    assert len(store._queue) == 2
    dropped.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dropped
    release.set()
    await held
    made = await kept
    assert made["metadata"]["resourceVersion"] == str(rev0 + 1)
    assert [o["metadata"]["name"] for o in (await store.list(WIDGET)).items] == ["kept"]


async def test_a_transaction_lost_mid_batch_fails_every_write_of_it(store: SqliteStore) -> None:
    """If the transaction itself goes (here an operation ends it behind the store's back),
    no write of the batch may report success: the ones before it were undone too."""
    rev0 = await store.current_revision()

    def sabotage(tx: Any) -> None:
        tx.db.execute("ROLLBACK")

    outcomes = await in_one_batch(
        store,
        [
            store.create(WIDGET, widget("before")),
            store._run_write(sabotage),
            store.create(WIDGET, widget("after")),
        ],
    )
    assert all(isinstance(o, InternalError) for o in outcomes), outcomes
    assert await store.current_revision() == rev0
    assert (await store.list(WIDGET)).items == []
    # The store carries on.
    made = await store.create(WIDGET, widget("later"))
    assert made["metadata"]["resourceVersion"] == str(rev0 + 1)
