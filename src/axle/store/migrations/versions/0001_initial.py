"""Initial store schema: objects, change log, owner-reference index, meta counters.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "objects",
        sa.Column("api_group", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(63), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("uid", sa.String(36), nullable=False),
        sa.Column("resource_version", sa.BigInteger, nullable=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("deletion_timestamp", sa.String(32), nullable=True),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("api_group", "kind", "namespace", "name", name="pk_objects"),
    )
    op.create_index("ix_objects_uid", "objects", ["uid"], unique=True)
    op.create_index("ix_objects_deleting", "objects", ["deletion_timestamp"])
    op.create_table(
        "change_log",
        sa.Column("revision", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("api_group", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(63), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("prev_body", sa.LargeBinary, nullable=True),
    )
    op.create_index("ix_change_log_kind_revision", "change_log", ["api_group", "kind", "revision"])
    op.create_table(
        "owner_refs",
        sa.Column("owner_uid", sa.String(36), nullable=False),
        sa.Column("api_group", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(63), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.PrimaryKeyConstraint(
            "owner_uid", "api_group", "kind", "namespace", "name", name="pk_owner_refs"
        ),
    )
    op.create_index(
        "ix_owner_refs_dependent", "owner_refs", ["api_group", "kind", "namespace", "name"]
    )
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(meta, [{"key": "revision", "value": 0}, {"key": "compacted", "value": 0}])


def downgrade() -> None:
    op.drop_table("meta")
    op.drop_index("ix_owner_refs_dependent", table_name="owner_refs")
    op.drop_table("owner_refs")
    op.drop_index("ix_change_log_kind_revision", table_name="change_log")
    op.drop_table("change_log")
    op.drop_index("ix_objects_deleting", table_name="objects")
    op.drop_index("ix_objects_uid", table_name="objects")
    op.drop_table("objects")
