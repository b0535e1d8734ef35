"""Alembic environment of the store: runs migrations on the connection the store hands over.

The store calls Alembic programmatically with an open connection (in `config.attributes`)
whose transaction already holds SQLite's write lock, so two hub processes starting on one
database file migrate one after the other instead of racing. Run from the command line
(`alembic -c ...`), it opens `sqlalchemy.url` itself.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from axle.store.schema import metadata

config = context.config


def _url() -> str:
    """`-x url=...` on the command line wins over the ini file's `sqlalchemy.url`."""
    return context.get_x_argument(as_dictionary=True).get("url") or (
        config.get_main_option("sqlalchemy.url") or ""
    )


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url())
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run()
