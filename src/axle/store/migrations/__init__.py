"""Alembic migration chain of the store schema (`versions/`), run by `axle.store.migrate`."""
