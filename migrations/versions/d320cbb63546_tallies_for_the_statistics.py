"""Tallies for the statistics: running counts kept by triggers (models/tally.py).

The members' four-ones flags are set from the rows and the tallies counted from the rows
before the triggers exist, so that an existing database starts with exact counts.

Revision ID: d320cbb63546
Revises: aff6e25d36ba
Create Date: 2026-12-06 11:23:13.276161
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models import tally_triggers

revision: str = 'd320cbb63546'
down_revision: str | None = 'aff6e25d36ba'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('tally_application',
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=False),
    sa.Column('point_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('month', 'street_id', 'point_id', 'status', name=op.f('pk_tally_application')),
    sqlite_with_rowid=False,
    )
    op.create_table('tally_joined',
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('month', 'street_id', name=op.f('pk_tally_joined')),
    sqlite_with_rowid=False,
    )
    op.create_table('tally_member',
    sa.Column('street_id', sa.Integer(), nullable=False),
    sa.Column('point_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('kept', sa.SmallInteger(), nullable=False),
    sa.Column('transferred', sa.SmallInteger(), nullable=False),
    sa.Column('card', sa.SmallInteger(), nullable=False),
    sa.Column('benefit', sa.SmallInteger(), nullable=False),
    sa.Column('activity', sa.SmallInteger(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('street_id', 'point_id', 'status', 'kept', 'transferred', 'card', 'benefit', 'activity', name=op.f('pk_tally_member')),
    sqlite_with_rowid=False,
    )
    op.create_table('tally_review',
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=False),
    sa.Column('hours', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('month', 'street_id', 'hours', name=op.f('pk_tally_review')),
    sqlite_with_rowid=False,
    )
    op.create_table('tally_registry',
    sa.Column('street_id', sa.Integer(), nullable=False),
    sa.Column('has_union', sa.SmallInteger(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('street_id', 'has_union', name=op.f('pk_tally_registry')),
    sqlite_with_rowid=False,
    )
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.create_index('ix_application_decided', ['decided_at', 'street_id', 'status', 'submitted_at'], unique=False)
        batch_op.create_index('ix_application_submitted', ['submitted_at', 'street_id', 'point_id', 'status'], unique=False)

    # Added in place (no table rebuild on SQLite), before the triggers are created.
    for flag in ('card_done', 'benefit_done', 'activity_done'):
        op.add_column('member', sa.Column(flag, sa.Boolean(), server_default=sa.false(),
                                          nullable=False))
    op.create_index('ix_member_joined', 'member', ['joined_at', 'street_id'], unique=False)
    dialect = op.get_bind().dialect.name
    for statement in tally_triggers.rebuild_statements(dialect):
        op.execute(statement)
    for statement in tally_triggers.create_statements(dialect):
        op.execute(statement)


def downgrade() -> None:
    for statement in tally_triggers.drop_statements(op.get_bind().dialect.name):
        op.execute(statement)
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_index('ix_member_joined')
        batch_op.drop_column('activity_done')
        batch_op.drop_column('benefit_done')
        batch_op.drop_column('card_done')

    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_index('ix_application_submitted')
        batch_op.drop_index('ix_application_decided')

    op.drop_table('tally_registry')
    op.drop_table('tally_review')
    op.drop_table('tally_member')
    op.drop_table('tally_joined')
    op.drop_table('tally_application')
