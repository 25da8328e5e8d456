"""Membership transfers (会籍接转) and membership events, the events append-only.

Revision ID: d00010bc1423
Revises: 938f97e3e6c7
Create Date: 2026-12-06 05:36:07.188449
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'd00010bc1423'
down_revision: str | None = '938f97e3e6c7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('membership_transfer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enterprise_id', sa.Integer(), nullable=False),
    sa.Column('to_union_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('moved', sa.Integer(), nullable=False),
    sa.Column('started_by_user_id', sa.BigInteger(), nullable=True),
    sa.Column('started_by_name', sa.String(length=60), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('report_chat_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['founding_case.id'], name=op.f('fk_membership_transfer_case_id_founding_case')),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_membership_transfer_enterprise_id_enterprise')),
    sa.ForeignKeyConstraint(['to_union_id'], ['union_org.id'], name=op.f('fk_membership_transfer_to_union_id_union_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_membership_transfer')),
    sa.UniqueConstraint('to_union_id', name=op.f('uq_membership_transfer_to_union_id'))
    )
    op.create_table('membership_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('from_union_id', sa.Integer(), nullable=True),
    sa.Column('to_union_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=24), nullable=False),
    sa.Column('transfer_id', sa.Integer(), nullable=True),
    sa.Column('actor_user_id', sa.BigInteger(), nullable=True),
    sa.Column('actor_name', sa.String(length=60), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['from_union_id'], ['union_org.id'], name=op.f('fk_membership_event_from_union_id_union_org')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_membership_event_member_id_member')),
    sa.ForeignKeyConstraint(['to_union_id'], ['union_org.id'], name=op.f('fk_membership_event_to_union_id_union_org')),
    sa.ForeignKeyConstraint(['transfer_id'], ['membership_transfer.id'], name=op.f('fk_membership_event_transfer_id_membership_transfer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_membership_event'))
    )
    with op.batch_alter_table('membership_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_membership_event_member_id'), ['member_id'], unique=False)


    _protect_events()


# Membership events are never rewritten (invariant 10): the database refuses.
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER membership_event_no_{verb} BEFORE {verb.upper()} ON membership_event "
    "BEGIN SELECT RAISE(ABORT, 'membership_event is append-only'); END"
    for verb in ("update", "delete")
]
POSTGRES_FUNCTION = """
CREATE FUNCTION membership_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'membership_event is append-only';
END;
$$ LANGUAGE plpgsql
"""
POSTGRES_TRIGGERS = (
    "CREATE TRIGGER membership_event_append_only BEFORE UPDATE OR DELETE ON membership_event "
    "FOR EACH ROW EXECUTE FUNCTION membership_event_append_only()",
    "CREATE TRIGGER membership_event_no_truncate BEFORE TRUNCATE ON membership_event "
    "FOR EACH STATEMENT EXECUTE FUNCTION membership_event_append_only()",
)


def _protect_events() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        for statement in POSTGRES_TRIGGERS:
            op.execute(statement)


def _unprotect_events() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS membership_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS membership_event_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS membership_event_append_only ON membership_event")
        op.execute("DROP TRIGGER IF EXISTS membership_event_no_truncate ON membership_event")
        op.execute("DROP FUNCTION IF EXISTS membership_event_append_only()")


def downgrade() -> None:
    _unprotect_events()
    with op.batch_alter_table('membership_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_membership_event_member_id'))

    op.drop_table('membership_event')
    op.drop_table('membership_transfer')
