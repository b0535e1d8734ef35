"""What lives on disk: restarts, migrations, encryption of Secrets, the key file, URLs."""

from __future__ import annotations

import base64
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from axle.errors import InternalError
from axle.store import open_store, sqlite_path
from axle.store.crypto import KEY_FILE, load_or_create_key
from axle.store.migrate import MIGRATIONS_DIR
from axle.store.schema import metadata
from axle.store.sqlite import SqliteStore

from .conftest import GADGET, SECRET, WIDGET, gadget, next_event, widget

CLEAR = "s3cr3t-clear-value-that-must-not-be-on-disk"


async def test_restart_keeps_everything_and_revisions_keep_increasing(tmp_path: Path) -> None:
    path = tmp_path / "axle.db"
    first = SqliteStore(path)
    await first.start()
    a = await first.create(WIDGET, widget("a", spec={"v": 1}))
    g = await first.create(GADGET, gadget("g", metadata={"finalizers": ["keep"]}))
    g = await first.delete(GADGET, None, "g")
    rev = await first.current_revision()
    await first.close()

    second = SqliteStore(path)
    await second.start()
    try:
        assert await second.current_revision() == rev
        assert await second.get(WIDGET, "default", "a") == a
        assert await second.get(GADGET, None, "g") == g
        # History survives too: a watch resumes across the restart.
        w = second.watch(WIDGET, resource_version="0")
        assert (await next_event(w)).object == a
        b = await second.create(WIDGET, widget("b"))
        assert int(b["metadata"]["resourceVersion"]) == rev + 1
        assert (await next_event(w)).object == b
        await w.close()
        w = second.watch(WIDGET, resource_version=str(rev - 3))
        assert (await next_event(w)).object == a
        await w.close()
    finally:
        await second.close()


def test_migrations_build_the_schema_without_drift(tmp_path: Path) -> None:
    from axle.store.migrate import upgrade

    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.begin() as conn:
        upgrade(conn)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        assert {"objects", "change_log", "owner_refs", "meta", "alembic_version"} <= tables
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0001"
    # Upgrading again is a no-op.
    with engine.begin() as conn:
        upgrade(conn)
    engine.dispose()


def test_migration_scripts_ship_as_package_data() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["axle"]
    root = MIGRATIONS_DIR.parents[1]
    shipped = {p for g in globs for p in root.glob(g)}
    needed = {p for p in MIGRATIONS_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert needed <= shipped, sorted(str(p) for p in needed - shipped)


def _database_bytes(directory: Path) -> bytes:
    """Every byte of the database, its WAL and shared-memory files."""
    return b"".join(p.read_bytes() for p in directory.iterdir() if p.name.startswith("axle.db"))


async def test_secrets_are_encrypted_at_rest(tmp_path: Path) -> None:
    path = tmp_path / "axle.db"
    key = os.urandom(32)
    s = SqliteStore(path, encryption_key=key)
    await s.start()
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "default", "labels": {"team": "a"}},
        "stringData": {"password": CLEAR},
        "data": {"token": base64.b64encode(CLEAR.encode()).decode()},
    }
    created = await s.create(SECRET, secret)
    updated = await s.update(SECRET, {**created, "stringData": {"password": CLEAR + "2"}})
    assert (await s.get(SECRET, "default", "creds")) == updated
    assert [
        o["metadata"]["name"] for o in (await s.list(SECRET, label_selector="team=a")).items
    ] == ["creds"]
    w = s.watch(SECRET, resource_version="1")
    assert (await next_event(w)).object == updated
    await w.close()
    # A non-Secret kind is stored in clear (the check below would catch a no-op cipher).
    await s.create(WIDGET, widget("plain", spec={"note": "visible-marker"}))
    await s.close()

    raw = _database_bytes(tmp_path)
    assert CLEAR.encode() not in raw
    assert base64.b64encode(CLEAR.encode()) not in raw
    assert b"visible-marker" in raw
    con = sqlite3.connect(path)
    assert con.execute("SELECT labels FROM objects WHERE kind='Secret'").fetchone() == (
        '{"team":"a"}',
    )
    con.close()

    # Without the key the Secret cannot be read, and says why.
    keyless = SqliteStore(path)
    await keyless.start()
    try:
        with pytest.raises(InternalError, match="no encryption key"):
            await keyless.get(SECRET, "default", "creds")
    finally:
        await keyless.close()
    wrong = SqliteStore(path, encryption_key=os.urandom(32))
    await wrong.start()
    try:
        with pytest.raises(InternalError, match="wrong encryption key"):
            await wrong.get(SECRET, "default", "creds")
    finally:
        await wrong.close()


async def test_paginated_secrets_rebuild_old_versions_from_encrypted_history(
    tmp_path: Path,
) -> None:
    s = SqliteStore(tmp_path / "axle.db", encryption_key=os.urandom(32))
    await s.start()
    try:
        made = [
            await s.create(
                SECRET,
                {"metadata": {"name": f"s{i}", "namespace": "ns"}, "stringData": {"v": str(i)}},
            )
            for i in range(4)
        ]
        page = await s.list(SECRET, "ns", limit=2)
        changed = await s.update(SECRET, {**made[3], "stringData": {"v": "new"}})
        await s.delete(SECRET, "ns", "s2")
        rest = await s.list(SECRET, "ns", limit=2, continue_token=page.continue_token)
        assert rest.items == made[2:]
        assert (await s.get(SECRET, "ns", "s3")) == changed
    finally:
        await s.close()


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path, None)
    assert len(key) == 32
    mode = stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode)
    assert mode == 0o600
    assert load_or_create_key(tmp_path, None) == key
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_or_create_key(tmp_path, None)


def test_env_key_wins(tmp_path: Path) -> None:
    raw = os.urandom(32)
    assert load_or_create_key(tmp_path, base64.b64encode(raw).decode()) == raw
    assert load_or_create_key(tmp_path, base64.urlsafe_b64encode(raw).decode()) == raw
    phrase = load_or_create_key(tmp_path, "correct horse battery staple")
    assert len(phrase) == 32 and phrase == load_or_create_key(
        tmp_path, "correct horse battery staple"
    )
    assert not (tmp_path / KEY_FILE).exists()


def test_open_store_urls(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/x.db")
    assert isinstance(store, SqliteStore) and store.path == tmp_path / "x.db"
    assert sqlite_path("sqlite:///rel/x.db") == Path("rel/x.db")
    assert sqlite_path("sqlite:////abs/x.db") == Path("/abs/x.db")
    with pytest.raises(ValueError, match="PostgreSQL is not supported yet"):
        open_store("postgresql://u@h/db")
    with pytest.raises(ValueError, match="unsupported scheme 'mysql'"):
        open_store("mysql://h/db")
    with pytest.raises(ValueError, match="needs a database file"):
        open_store("sqlite:///:memory:")
