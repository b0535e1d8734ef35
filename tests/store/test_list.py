"""Lists: ordering, selectors, and paginated lists that show one snapshot across pages."""

from __future__ import annotations

import random

import pytest

from axle.errors import BadRequest, Gone
from axle.store.sqlite import SqliteStore

from .conftest import GADGET, WIDGET, gadget, widget


async def test_list_sorted_by_namespace_then_name(store: SqliteStore) -> None:
    for ns, name in [("b", "x"), ("a", "z"), ("a", "y"), ("c", "a")]:
        await store.create(WIDGET, widget(name, ns=ns))
    result = await store.list(WIDGET)
    keys = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in result.items]
    assert keys == [("a", "y"), ("a", "z"), ("b", "x"), ("c", "a")]
    assert result.resource_version == str(await store.current_revision())
    assert result.continue_token is None
    only_a = await store.list(WIDGET, "a")
    assert [o["metadata"]["name"] for o in only_a.items] == ["y", "z"]


async def test_list_label_and_field_selectors(store: SqliteStore) -> None:
    await store.create(
        WIDGET, widget("a", labels={"app": "web", "tier": "front"}, status={"phase": "Ready"})
    )
    await store.create(WIDGET, widget("b", labels={"app": "web", "tier": "back"}))
    await store.create(WIDGET, widget("c", ns="other", labels={"app": "db"}))
    await store.create(WIDGET, widget("d"))

    async def names(**kw: str) -> list[str]:
        return [o["metadata"]["name"] for o in (await store.list(WIDGET, **kw)).items]  # type: ignore[arg-type]

    assert await names(label_selector="app=web") == ["a", "b"]
    assert await names(label_selector="app!=web") == ["d", "c"]
    assert await names(label_selector="app in (web,db),tier!=back") == ["a", "c"]
    assert await names(label_selector="!app") == ["d"]
    assert await names(label_selector="tier") == ["a", "b"]
    assert await names(field_selector="metadata.name=b") == ["b"]
    assert await names(field_selector="metadata.namespace!=default") == ["c"]
    assert await names(field_selector="status.phase=Ready") == ["a"]
    assert await names(label_selector="app=web", field_selector="metadata.name!=a") == ["b"]
    with pytest.raises(BadRequest, match="unable to parse"):
        await store.list(WIDGET, label_selector="app in web")
    with pytest.raises(BadRequest, match="invalid field selector"):
        await store.list(WIDGET, field_selector="metadata.name")


async def test_pagination_walks_everything_once(store: SqliteStore) -> None:
    for i in range(25):
        await store.create(GADGET, gadget(f"g{i:02}"))
    seen: list[str] = []
    token = None
    counts = []
    while True:
        page = await store.list(GADGET, limit=10, continue_token=token)
        seen += [o["metadata"]["name"] for o in page.items]
        counts.append(page.remaining_item_count)
        token = page.continue_token
        if token is None:
            break
    assert seen == [f"g{i:02}" for i in range(25)]
    assert counts == [15, 5, None]


async def test_pagination_shows_the_first_pages_snapshot(store: SqliteStore) -> None:
    rng = random.Random(7)
    for i in range(40):
        await store.create(WIDGET, widget(f"w{i:02}", spec={"v": 0}))
    snapshot = {o["metadata"]["name"]: o for o in (await store.list(WIDGET)).items}
    first = await store.list(WIDGET, limit=7)
    pages = [first]
    token = first.continue_token
    n = 100
    while token is not None:
        # Writes between pages: create, modify, delete, recreate, ahead of and behind the cursor.
        for _ in range(5):
            op = rng.choice(["create", "update", "delete"])
            if op == "create":
                await store.create(WIDGET, widget(f"w{n:03}", spec={"v": 1}))
                n += 1
                continue
            current = [o["metadata"]["name"] for o in (await store.list(WIDGET)).items]
            name = rng.choice(current)
            if op == "update":
                obj = await store.get(WIDGET, "default", name)
                await store.update(WIDGET, {**obj, "spec": {"v": obj["spec"]["v"] + 1}})
            else:
                await store.delete(WIDGET, "default", name)
                if rng.random() < 0.5:
                    await store.create(WIDGET, widget(name, spec={"v": 99}))
        page = await store.list(WIDGET, limit=7, continue_token=token)
        assert page.resource_version == first.resource_version
        pages.append(page)
        token = page.continue_token
    listed = [o for p in pages for o in p.items]
    assert [o["metadata"]["name"] for o in listed] == sorted(snapshot)
    assert listed == [snapshot[name] for name in sorted(snapshot)]
    assert [p.remaining_item_count for p in pages[:-1]] == [
        40 - 7 * (i + 1) for i in range(len(pages) - 1)
    ]


async def test_pagination_with_selector_fills_pages(store: SqliteStore) -> None:
    for i in range(30):
        await store.create(WIDGET, widget(f"w{i:02}", labels={"even": str(i % 2 == 0).lower()}))
    page = await store.list(WIDGET, label_selector="even=true", limit=4)
    assert [o["metadata"]["name"] for o in page.items] == ["w00", "w02", "w04", "w06"]
    assert page.remaining_item_count is None  # unknown with selectors, as in Kubernetes
    names = [o["metadata"]["name"] for o in page.items]
    while page.continue_token:
        page = await store.list(
            WIDGET, label_selector="even=true", limit=4, continue_token=page.continue_token
        )
        names += [o["metadata"]["name"] for o in page.items]
    assert names == [f"w{i:02}" for i in range(0, 30, 2)]


async def test_expired_continue_token_is_gone(store: SqliteStore) -> None:
    for i in range(5):
        await store.create(GADGET, gadget(f"g{i}"))
    page = await store.list(GADGET, limit=2)
    for i in range(5):
        await store.create(GADGET, gadget(f"h{i}"))
    assert await store.compact(2) == 8
    with pytest.raises(Gone) as exc:
        await store.list(GADGET, limit=2, continue_token=page.continue_token)
    assert exc.value.message.startswith("The provided continue parameter is too old")
    assert exc.value.to_status()["code"] == 410


async def test_bad_continue_token_is_bad_request(store: SqliteStore) -> None:
    with pytest.raises(BadRequest, match="invalid continue token"):
        await store.list(GADGET, limit=2, continue_token="not-a-token!")
