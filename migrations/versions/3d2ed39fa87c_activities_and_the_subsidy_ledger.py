"""Activities (places, sign-ups with a waitlist, check-ins), the announcement opt-out, and
the activity subsidy: yearly budgets and an append-only ledger in fen.

Revision ID: 3d2ed39fa87c
Revises: 16237bd73fdf
Create Date: 2026-12-06 08:00:36.395788
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '3d2ed39fa87c'
down_revision: str | None = '16237bd73fdf'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('announcement_opt_out',
    sa.Column('telegram_user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('telegram_user_id', name=op.f('pk_announcement_opt_out'))
    )
    op.create_table('activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=60), nullable=False),
    sa.Column('place', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signup_deadline', sa.DateTime(timezone=True), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('confirmed', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_by_user_id', sa.BigInteger(), nullable=True),
    sa.Column('created_by_name', sa.String(length=60), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('capacity >= 1', name=op.f('ck_activity_capacity')),
    sa.CheckConstraint('confirmed >= 0 AND confirmed <= capacity', name=op.f('ck_activity_places')),
    sa.ForeignKeyConstraint(['street_id'], ['street.id'], name=op.f('fk_activity_street_id_street')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity'))
    )
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_street_id'), ['street_id'], unique=False)

    op.create_table('subsidy_budget',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_fen >= 0', name=op.f('ck_subsidy_budget_not_negative')),
    sa.ForeignKeyConstraint(['street_id'], ['street.id'], name=op.f('fk_subsidy_budget_street_id_street')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subsidy_budget')),
    sa.UniqueConstraint('street_id', 'year', name=op.f('uq_subsidy_budget_street_id_year'))
    )
    op.create_table('subsidy_posting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('reverses_id', sa.Integer(), nullable=True),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('attendees', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_user_id', sa.BigInteger(), nullable=True),
    sa.Column('created_by_name', sa.String(length=60), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_subsidy_posting_activity_id_activity')),
    sa.ForeignKeyConstraint(['reverses_id'], ['subsidy_posting.id'], name=op.f('fk_subsidy_posting_reverses_id_subsidy_posting')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subsidy_posting')),
    sa.UniqueConstraint('reverses_id', name=op.f('uq_subsidy_posting_reverses_id'))
    )
    with op.batch_alter_table('subsidy_posting', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subsidy_posting_activity_id'), ['activity_id'], unique=False)

    op.create_table('activity_signup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_in_by_user_id', sa.BigInteger(), nullable=True),
    sa.Column('checked_in_by_name', sa.String(length=60), nullable=True),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_activity_signup_activity_id_activity')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_activity_signup_member_id_member')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_signup')),
    sa.UniqueConstraint('activity_id', 'member_id', name=op.f('uq_activity_signup_activity_id_member_id'))
    )
    with op.batch_alter_table('activity_signup', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_signup_member_id'), ['member_id'], unique=False)
        batch_op.create_index('ix_activity_signup_queue', ['activity_id', 'status', 'queued_at'], unique=False)

    op.create_table('subsidy_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('posting_id', sa.Integer(), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_subsidy_entry_member_id_member')),
    sa.ForeignKeyConstraint(['posting_id'], ['subsidy_posting.id'], name=op.f('fk_subsidy_entry_posting_id_subsidy_posting')),
    sa.ForeignKeyConstraint(['street_id'], ['street.id'], name=op.f('fk_subsidy_entry_street_id_street')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subsidy_entry'))
    )
    with op.batch_alter_table('subsidy_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subsidy_entry_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subsidy_entry_posting_id'), ['posting_id'], unique=False)
        batch_op.create_index('ix_subsidy_entry_street_year', ['street_id', 'year'], unique=False)

    _protect_ledger()


# The ledger is never rewritten (invariant 13): a correction is a reversing posting.
LEDGER = ("subsidy_posting", "subsidy_entry")
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER {table}_no_{verb} BEFORE {verb.upper()} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
    for table in LEDGER
    for verb in ("update", "delete")
]
POSTGRES_FUNCTION = """
CREATE FUNCTION subsidy_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql
"""
POSTGRES_TRIGGERS = [
    statement
    for table in LEDGER
    for statement in (
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION subsidy_ledger_append_only()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION subsidy_ledger_append_only()",
    )
]


def _protect_ledger() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        for statement in POSTGRES_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table('subsidy_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_subsidy_entry_street_year')
        batch_op.drop_index(batch_op.f('ix_subsidy_entry_posting_id'))
        batch_op.drop_index(batch_op.f('ix_subsidy_entry_member_id'))

    op.drop_table('subsidy_entry')
    with op.batch_alter_table('activity_signup', schema=None) as batch_op:
        batch_op.drop_index('ix_activity_signup_queue')
        batch_op.drop_index(batch_op.f('ix_activity_signup_member_id'))

    op.drop_table('activity_signup')
    with op.batch_alter_table('subsidy_posting', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subsidy_posting_activity_id'))

    op.drop_table('subsidy_posting')
    op.drop_table('subsidy_budget')
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_street_id'))

    op.drop_table('activity')
    op.drop_table('announcement_opt_out')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS subsidy_ledger_append_only()")
