"""Run the store's Alembic migrations programmatically, on a connection the caller owns.

The migration scripts ship inside the package (`axle/store/migrations`), so an installed hub
upgrades its database at start-up with no `alembic.ini` on disk.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection) -> None:
    """Bring the database behind `connection` to the newest schema (inside its transaction)."""
    command.upgrade(alembic_config(connection), "head")
