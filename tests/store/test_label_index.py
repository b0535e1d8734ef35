"""The label index answers label selectors exactly as a scan of every object would.

Property-style and seeded: random objects, random writes (label changes, status writes,
deletions through finalizers, garbage collection) and random selectors, each list checked
against a model of what the store holds, judged by `LabelSelector.matches` (the semantics of
`Store.list`). Pages with `continue` tokens are checked against the model as it was at the
first page, and after every phase the index table must equal what the objects' `labels`
columns say. A database written at schema 0001 (no index) is migrated and checked the same.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from axle.store.migrate import alembic_config
from axle.store.selectors import parse_label_selector
from axle.store.sqlite import SqliteStore

from .conftest import GADGET, WIDGET, eventually, gadget, next_event, owner_ref, widget

Key = tuple[str, str]
Model = dict[Key, dict[str, Any]]

NAMESPACES = ["ns1", "ns2", "ns3"]
LABEL_KEYS = ["app", "tier", "axle.dev/aiworkload", "n"]
WORDS = ["a", "b", "c"]
NUMBERS = ["1", "2", "3"]


def values_of(key: str) -> list[str]:
    return NUMBERS if key == "n" else WORDS


def random_labels(rng: random.Random) -> dict[str, str]:
    labels: dict[str, str] = {}
    for key in rng.sample(LABEL_KEYS, len(LABEL_KEYS)):  # random order: the JSON text varies
        if rng.random() < 0.55:
            labels[key] = rng.choice([*values_of(key), ""])
    return labels


def random_requirement(rng: random.Random) -> str:
    key = rng.choice(LABEL_KEYS)
    values = values_of(key)
    op = rng.choice(["=", "==", "!=", "in", "notin", "exists", "!", ">", "<"])
    if op in ("=", "=="):
        return f"{key}{op}{rng.choice([*values, ''])}"
    if op == "!=":
        return f"{key}!={rng.choice(values)}"
    if op in ("in", "notin"):
        return f"{key} {op} ({','.join(rng.sample(values, rng.randint(1, 3)))})"
    if op == "exists":
        return key
    if op == "!":
        return f"!{key}"
    return f"{key}{op}{rng.randint(0, 3)}"


def random_selector(rng: random.Random) -> str:
    return ",".join(random_requirement(rng) for _ in range(rng.randint(1, 3)))


def key_of(obj: dict[str, Any]) -> Key:
    return (obj["metadata"]["namespace"], obj["metadata"]["name"])


def expected(model: Model, namespace: str | None, selector: str) -> list[dict[str, Any]]:
    sel = parse_label_selector(selector)
    return [
        model[k]
        for k in sorted(model)
        if (namespace is None or k[0] == namespace)
        and sel.matches(model[k]["metadata"].get("labels"))
    ]


def index_matches_columns(path: Path) -> None:
    """The label index holds exactly one row per label of every stored object."""
    con = sqlite3.connect(path)
    try:
        indexed = set(
            con.execute(
                "SELECT api_group, kind, namespace, name, label_key, label_value FROM object_labels"
            )
        )
        derived = {
            (g, k, ns, n, lk, lv)
            for g, k, ns, n, labels in con.execute(
                "SELECT api_group, kind, namespace, name, labels FROM objects"
            )
            for lk, lv in json.loads(labels).items()
        }
    finally:
        con.close()
    assert indexed == derived


async def list_all(
    store: SqliteStore, namespace: str | None, selector: str, limit: int | None = None
) -> list[dict[str, Any]]:
    page = await store.list(WIDGET, namespace, label_selector=selector, limit=limit)
    items = list(page.items)
    while page.continue_token:
        page = await store.list(
            WIDGET,
            namespace,
            label_selector=selector,
            limit=limit,
            continue_token=page.continue_token,
        )
        items += page.items
    return items


async def random_write(store: SqliteStore, model: Model, rng: random.Random) -> None:
    """One random write, mirrored in the model (the model holds what the store returned)."""
    op = rng.choice(["create", "create", "labels", "status", "reorder", "delete", "finish"])
    if op == "create" or not model:
        ns, name = rng.choice(NAMESPACES), f"w{rng.randint(0, 40):02}"
        if (ns, name) in model:
            return
        extra: dict[str, Any] = {"spec": {"i": rng.randint(0, 9)}}
        if rng.random() < 0.3:
            extra["metadata"] = {"finalizers": ["test/keep"]}
        made = await store.create(WIDGET, widget(name, ns, labels=random_labels(rng), **extra))
        model[key_of(made)] = made
        return
    key = rng.choice(sorted(model))
    current = model[key]
    md = current["metadata"]
    if op == "labels":
        new = {**current, "metadata": {**md, "labels": random_labels(rng)}}
        model[key] = await store.update(WIDGET, new)
    elif op == "status":
        model[key] = await store.update(
            WIDGET, {**current, "status": {"n": rng.randint(0, 9)}}, subresource="status"
        )
    elif op == "reorder":
        # The same labels in another order: a different column text, the same index rows.
        labels = dict(reversed(list((md.get("labels") or {}).items())))
        model[key] = await store.update(WIDGET, {**current, "metadata": {**md, "labels": labels}})
    elif op == "delete":
        result = await store.delete(WIDGET, key[0], key[1])
        if result["metadata"].get("finalizers"):
            model[key] = result
        else:
            del model[key]
    elif op == "finish" and md.get("deletionTimestamp"):
        # Dropping the last finalizer removes the object; change its labels in the same
        # update, so the removal must clear the labels the index holds, not the new ones.
        new = {**current, "metadata": {**md, "finalizers": [], "labels": random_labels(rng)}}
        await store.update(WIDGET, new)
        del model[key]


async def check_selectors(
    store: SqliteStore, model: Model, rng: random.Random, rounds: int
) -> None:
    for _ in range(rounds):
        selector = random_selector(rng)
        namespace = rng.choice([None, *NAMESPACES])
        want = expected(model, namespace, selector)
        got = (await store.list(WIDGET, namespace, label_selector=selector)).items
        assert got == want, selector
        paged = await list_all(store, namespace, selector, limit=rng.randint(1, 4))
        assert paged == want, selector


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_selectors_match_a_scan_through_random_writes(store: SqliteStore, seed: int) -> None:
    rng = random.Random(seed)
    model: Model = {}
    for _phase in range(4):
        for _ in range(60):
            await random_write(store, model, rng)
        await check_selectors(store, model, rng, rounds=40)
        index_matches_columns(store.path)


@pytest.mark.parametrize("seed", [4, 5])
async def test_continue_pages_show_the_first_pages_snapshot(store: SqliteStore, seed: int) -> None:
    rng = random.Random(seed)
    model: Model = {}
    for _ in range(120):
        await random_write(store, model, rng)
    for _ in range(15):
        selector = random_selector(rng)
        namespace = rng.choice([None, *NAMESPACES])
        want = expected(model, namespace, selector)
        limit = rng.randint(1, 3)
        page = await store.list(WIDGET, namespace, label_selector=selector, limit=limit)
        items = list(page.items)
        while page.continue_token:
            # Writes between pages change labels, create, delete: the pages still show the
            # snapshot of the first page, read from the change log where objects moved.
            for _ in range(rng.randint(0, 6)):
                await random_write(store, model, rng)
            page = await store.list(
                WIDGET,
                namespace,
                label_selector=selector,
                limit=limit,
                continue_token=page.continue_token,
            )
            items += page.items
        assert items == want, selector
    index_matches_columns(store.path)


async def test_terms_pick_the_selective_driver_and_combine(store: SqliteStore) -> None:
    for i in range(30):
        labels = {"tier": "gpu", "axle.dev/aiworkload": f"wl{i:02}", "n": str(i % 3)}
        await store.create(WIDGET, widget(f"w{i:02}", labels=labels))

    async def names(selector: str, ns: str | None = "default") -> list[str]:
        items = (await store.list(WIDGET, ns, label_selector=selector)).items
        return [o["metadata"]["name"] for o in items]

    assert await names("tier=gpu,axle.dev/aiworkload=wl07") == ["w07"]
    assert await names("axle.dev/aiworkload in (wl03,wl04),tier=gpu,n!=0") == ["w04"]
    assert await names("axle.dev/aiworkload in (wl03,wl04,wl03),n in (0,1)") == ["w03", "w04"]
    assert await names("tier=gpu,tier=cpu") == []
    assert await names("n,n>1,axle.dev/aiworkload notin (wl02)") == [
        f"w{i:02}" for i in range(5, 30, 3)
    ]
    assert await names("axle.dev/aiworkload=wl07", ns="other") == []
    assert await names("axle.dev/aiworkload=wl07", ns=None) == ["w07"]
    # A field selector on the name narrows in SQL and is still judged with the labels.
    page = await store.list(
        WIDGET, label_selector="tier=gpu", field_selector="metadata.name=w05,spec.x!=1"
    )
    assert [o["metadata"]["name"] for o in page.items] == ["w05"]
    page = await store.list(WIDGET, field_selector="metadata.name=w05,metadata.name=w06")
    assert page.items == []


async def test_watch_snapshot_by_label_comes_from_the_index(store: SqliteStore) -> None:
    a = await store.create(WIDGET, widget("a", labels={"app": "x"}))
    await store.create(WIDGET, widget("b", labels={"app": "y"}))
    w = store.watch(WIDGET, label_selector="app=x")
    assert (await next_event(w)).object == a
    c = await store.create(WIDGET, widget("c", labels={"app": "x"}))
    ev = await next_event(w)
    assert (ev.type, ev.object) == ("ADDED", c)
    await w.close()


async def test_garbage_collection_clears_the_index(store: SqliteStore) -> None:
    owner = await store.create(GADGET, gadget("owner"))
    for i in range(5):
        await store.create(
            WIDGET,
            widget(
                f"dep{i}",
                labels={"app": "dep", "i": str(i)},
                metadata={"ownerReferences": [owner_ref(owner)]},
            ),
        )
    assert len((await store.list(WIDGET, label_selector="app=dep")).items) == 5
    await store.delete(GADGET, None, "owner")

    async def collected() -> None:
        assert (await store.list(WIDGET, label_selector="app=dep")).items == []

    await eventually(collected)
    index_matches_columns(store.path)


async def test_a_database_from_schema_0001_is_backfilled(tmp_path: Path) -> None:
    path = tmp_path / "axle.db"
    rng = random.Random(11)
    model: Model = {}
    first = SqliteStore(path)
    await first.start()
    try:
        for _ in range(150):
            await random_write(first, model, rng)
    finally:
        await first.close()
    # Back to the schema before the index: the table is gone, the objects are as they were.
    command.downgrade(alembic_config(url=f"sqlite:///{path}"), "0001")
    con = sqlite3.connect(path)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    con.close()
    assert "object_labels" not in tables

    second = SqliteStore(path)
    await second.start()
    try:
        index_matches_columns(path)
        await check_selectors(second, model, rng, rounds=60)
        for _ in range(40):
            await random_write(second, model, rng)
        await check_selectors(second, model, rng, rounds=30)
        index_matches_columns(path)
    finally:
        await second.close()


@pytest.mark.parametrize("selector", [None, "app=a", "app in (a,b)", "app!=c"])
async def test_a_continue_key_from_another_namespace(
    store: SqliteStore, selector: str | None
) -> None:
    """Pages start strictly after the token's (namespace, name), whichever list made it."""
    for ns in NAMESPACES:
        for i in range(4):
            await store.create(WIDGET, widget(f"w{i}", ns, labels={"app": "ab"[i % 2]}))
    token = (await store.list(WIDGET, limit=6)).continue_token  # stops at (ns2, w1)
    assert token is not None
    sel = parse_label_selector(selector)

    async def names(ns: str) -> list[tuple[str, str]]:
        page = await store.list(WIDGET, ns, label_selector=selector, continue_token=token)
        return [key_of(o) for o in page.items]

    def want(ns: str) -> list[tuple[str, str]]:
        return [
            (ns, f"w{i}")
            for i in range(4)
            if (ns, f"w{i}") > ("ns2", "w1") and sel.matches({"app": "ab"[i % 2]})
        ]

    for ns in NAMESPACES:
        assert await names(ns) == want(ns), ns
