"""Label index: `object_labels`, one row per (object, label), backfilled from `objects`.

Lists by label selector read matching keys from it instead of decoding every object of a
kind. The backfill reads the `labels` column (plain JSON even for encrypted Secrets), so it
needs no encryption key and never decodes an object body.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BATCH = 5000


def upgrade() -> None:
    table = op.create_table(
        "object_labels",
        sa.Column("api_group", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(63), nullable=False),
        sa.Column("label_key", sa.String(317), nullable=False),
        sa.Column("label_value", sa.String(63), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.PrimaryKeyConstraint(
            "api_group",
            "kind",
            "label_key",
            "label_value",
            "namespace",
            "name",
            name="pk_object_labels",
        ),
        sqlite_with_rowid=False,
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT api_group, kind, namespace, name, labels FROM objects")
    ).fetchall()
    batch: list[dict[str, str]] = []
    for group, kind, namespace, name, labels_json in rows:
        labels = json.loads(labels_json) if labels_json else {}
        if not isinstance(labels, dict):
            continue  # never written by the store (it refuses such labels); nothing to index
        for key, value in labels.items():
            if isinstance(key, str) and isinstance(value, str):
                batch.append(
                    {
                        "api_group": group,
                        "kind": kind,
                        "label_key": key,
                        "label_value": value,
                        "namespace": namespace,
                        "name": name,
                    }
                )
        if len(batch) >= _BATCH:
            op.bulk_insert(table, batch)
            batch = []
    if batch:
        op.bulk_insert(table, batch)


def downgrade() -> None:
    op.drop_table("object_labels")
