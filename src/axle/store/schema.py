"""The SQL schema of the store, as SQLAlchemy Core tables.

One definition serves three purposes: the SQL the store issues, the Alembic migrations (whose
`env.py` compares against this metadata, so drift between code and migrations is detectable),
and the tests. Columns hold what queries need to find and filter rows (key, uid, labels,
revision); the object itself is an opaque `body` blob (JSON, or ciphertext for Secrets) so
the store never needs to understand a kind's schema.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Every live object. The primary key is the object's key; `namespace` is '' for cluster-scoped
# kinds so that the key never holds NULL (NULLs are distinct in SQL unique constraints).
objects = Table(
    "objects",
    metadata,
    Column("api_group", String(253), nullable=False),
    Column("kind", String(63), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("name", String(253), nullable=False),
    Column("uid", String(36), nullable=False),
    Column("resource_version", BigInteger, nullable=False),
    Column("generation", BigInteger, nullable=False),
    Column("labels", Text, nullable=False),
    # Set while the object waits for finalizers: the start-up garbage-collection pass finds
    # deletions a crash interrupted without decoding every body.
    Column("deletion_timestamp", String(32), nullable=True),
    Column("body", LargeBinary, nullable=False),
    PrimaryKeyConstraint("api_group", "kind", "namespace", "name", name="pk_objects"),
    Index("ix_objects_uid", "uid", unique=True),
    Index("ix_objects_deleting", "deletion_timestamp"),
)

# The change log that watches replay from and that paginated lists rebuild snapshots from.
# `prev_body` is the object before the change (NULL for ADDED): it lets a label-selector
# watch tell "stopped matching" from "changed", and a list page rebuild the object as it was
# at an older revision without keeping every historical version.
change_log = Table(
    "change_log",
    metadata,
    Column("revision", Integer, primary_key=True, autoincrement=False),
    Column("type", String(16), nullable=False),
    Column("api_group", String(253), nullable=False),
    Column("kind", String(63), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("name", String(253), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("prev_body", LargeBinary, nullable=True),
    Index("ix_change_log_kind_revision", "api_group", "kind", "revision"),
)

# ownerReferences, inverted: which objects name a given owner uid. Garbage collection walks
# it from an owner to its dependents without scanning every object.
owner_refs = Table(
    "owner_refs",
    metadata,
    Column("owner_uid", String(36), nullable=False),
    Column("api_group", String(253), nullable=False),
    Column("kind", String(63), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("name", String(253), nullable=False),
    PrimaryKeyConstraint(
        "owner_uid", "api_group", "kind", "namespace", "name", name="pk_owner_refs"
    ),
    Index("ix_owner_refs_dependent", "api_group", "kind", "namespace", "name"),
)

# Labels, inverted: one row per (object, label). A list with an equality selector (`k=v`,
# `k in (a,b)`, `k`) reads the matching keys from here instead of decoding every object of
# the kind. The key order serves both scopes: `k=v` in one namespace is one contiguous range
# already sorted by name, and `k=v` across namespaces one range sorted by (namespace, name),
# the order lists return. WITHOUT ROWID: the primary key is the whole row, so the table is
# its own index. Rows are written in the transaction that writes the object, from the same
# `labels` the object row holds.
object_labels = Table(
    "object_labels",
    metadata,
    Column("api_group", String(253), nullable=False),
    Column("kind", String(63), nullable=False),
    Column("label_key", String(317), nullable=False),
    Column("label_value", String(63), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("name", String(253), nullable=False),
    PrimaryKeyConstraint(
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

# Store-wide counters: `revision` (the last revision handed out) and `compacted` (change-log
# entries at or below it are gone).
meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)
