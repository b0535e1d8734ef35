"""The object store: etcd-shaped persistence for every kind, the only user of SQL.

`base.Store` is the interface; `sqlite.SqliteStore` implements it on SQLite (WAL). A
PostgreSQL backend will implement the same interface. `open_store(url)` picks one by URL.
"""
