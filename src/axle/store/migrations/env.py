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


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run()
