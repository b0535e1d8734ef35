"""The object store: etcd-shaped persistence for every kind, the only user of SQL.

`base.Store` is the interface; `sqlite.SqliteStore` implements it on SQLite (WAL). A
PostgreSQL backend will implement the same interface. `open_store(url)` picks one by URL.
"""

from __future__ import annotations

from pathlib import Path

from axle.store.base import ListResult, Obj, Store, StoreEvent, Watch

__all__ = ["ListResult", "Obj", "Store", "StoreEvent", "Watch", "open_store", "sqlite_path"]


def sqlite_path(url: str) -> Path:
    """The file of a `sqlite:///path` URL (`sqlite:////abs` and `sqlite:///rel` both work)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ValueError(f"not a sqlite URL: {url!r} (expected sqlite:///PATH)")
    path = url[len(prefix) :]
    if not path or path == ":memory:":
        raise ValueError(
            f"the store needs a database file, not {url!r}: watches and other processes share it"
        )
    return Path(path)


def open_store(
    url: str,
    *,
    encryption_key: bytes | None = None,
    watch_log_revisions: int | None = None,
) -> Store:
    """A store for `url` (not started: call `await store.start()`).

    Supported: `sqlite:///relative/path.db` and `sqlite:////absolute/path.db` (a
    `sqlite:///` URL whose path starts with `/` is taken as absolute too).
    """
    scheme = url.partition(":")[0].lower()
    if scheme == "sqlite":
        from axle.store.sqlite import SqliteStore

        kwargs = {} if watch_log_revisions is None else {"watch_log_revisions": watch_log_revisions}
        return SqliteStore(sqlite_path(url), encryption_key=encryption_key, **kwargs)
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        raise ValueError(f"store URL {url!r}: PostgreSQL is not supported yet; use sqlite:///PATH")
    raise ValueError(f"store URL {url!r}: unsupported scheme {scheme!r}; use sqlite:///PATH")
