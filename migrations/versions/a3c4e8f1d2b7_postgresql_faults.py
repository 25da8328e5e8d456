"""PostgreSQL faults: wider outbox columns, one joint union per street, one provisional
enterprise per name, an audit log that cannot be replaced or truncated

Revision ID: a3c4e8f1d2b7
Revises: 6f2b47b67984
Create Date: 2026-12-01 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a3c4e8f1d2b7"
down_revision: str | None = "6f2b47b67984"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column(
            "kind", existing_type=sa.String(length=16), type_=sa.String(length=32)
        )
        batch_op.alter_column(
            "status", existing_type=sa.String(length=8), type_=sa.String(length=12)
        )

    _one_joint_union_per_street()
    with op.batch_alter_table("union_org", schema=None) as batch_op:
        batch_op.create_index(
            "uq_union_org_joint_street",
            ["street_id"],
            unique=True,
            sqlite_where=sa.text("kind = 'joint'"),
            postgresql_where=sa.text("kind = 'joint'"),
        )

    _one_provisional_enterprise_per_name()
    with op.batch_alter_table("enterprise", schema=None) as batch_op:
        batch_op.create_index(
            "uq_enterprise_provisional_name_key",
            ["name_key"],
            unique=True,
            sqlite_where=sa.text("provisional = 1 AND merged_into_id IS NULL"),
            postgresql_where=sa.text("provisional AND merged_into_id IS NULL"),
        )

    if dialect == "sqlite":
        # INSERT OR REPLACE deletes the old row without firing delete triggers.
        op.execute(
            "CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log "
            "WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id) "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        )
    elif dialect == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )


def _one_joint_union_per_street() -> None:
    """Keep the oldest joint union of each street (members of the others move to it), and
    give every street that has none its joint union."""
    op.execute(
        "UPDATE member SET union_org_id = (SELECT min(keep.id) FROM union_org keep "
        "JOIN union_org dup ON dup.street_id = keep.street_id AND keep.kind = 'joint' "
        "WHERE dup.id = member.union_org_id) "
        "WHERE union_org_id IN (SELECT id FROM union_org WHERE kind = 'joint')"
    )
    op.execute(
        "DELETE FROM union_org WHERE kind = 'joint' AND id NOT IN "
        "(SELECT min(id) FROM union_org WHERE kind = 'joint' GROUP BY street_id)"
    )
    op.execute(
        "INSERT INTO union_org (kind, name, street_id, created_at) "
        "SELECT 'joint', street.name || '工会联合会', street.id, CURRENT_TIMESTAMP FROM street "
        "WHERE NOT EXISTS (SELECT 1 FROM union_org u WHERE u.kind = 'joint' "
        "AND u.street_id = street.id)"
    )


DUPLICATE = (
    "SELECT e.id FROM enterprise e WHERE e.provisional = {true} AND e.merged_into_id IS NULL "
    "AND EXISTS (SELECT 1 FROM enterprise first WHERE first.name_key = e.name_key "
    "AND first.provisional = {true} AND first.merged_into_id IS NULL AND first.id < e.id)"
)
KEEPER = (
    "(SELECT min(k.id) FROM enterprise k, enterprise d WHERE d.id = {table}.enterprise_id "
    "AND k.name_key = d.name_key AND k.provisional = {true} AND k.merged_into_id IS NULL)"
)


def _one_provisional_enterprise_per_name() -> None:
    """Duplicates made by simultaneous first workers are merged into the oldest one."""
    true = "true" if op.get_bind().dialect.name == "postgresql" else "1"
    duplicates = DUPLICATE.format(true=true)
    for table in ("member", "application"):
        op.execute(
            f"UPDATE {table} SET enterprise_id = {KEEPER.format(table=table, true=true)} "
            f"WHERE enterprise_id IN ({duplicates})"
        )
    op.execute(
        f"UPDATE enterprise SET merged_into_id = (SELECT min(k.id) FROM enterprise k "
        f"WHERE k.name_key = enterprise.name_key AND k.provisional = {true} "
        f"AND k.merged_into_id IS NULL), member_count = 0 "
        f"WHERE id IN (SELECT id FROM ({duplicates}) AS dup)"
    )
    op.execute(
        "UPDATE enterprise SET member_count = (SELECT count(DISTINCT m.ric_hash) FROM member m "
        "WHERE m.enterprise_id = enterprise.id AND m.status = 'active')"
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_replace")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
    with op.batch_alter_table("enterprise", schema=None) as batch_op:
        batch_op.drop_index("uq_enterprise_provisional_name_key")
    with op.batch_alter_table("union_org", schema=None) as batch_op:
        batch_op.drop_index("uq_union_org_joint_street")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column(
            "status", existing_type=sa.String(length=12), type_=sa.String(length=8)
        )
        batch_op.alter_column(
            "kind", existing_type=sa.String(length=32), type_=sa.String(length=16)
        )
