"""Alias proposals learned from staff corrections; the employer as the worker typed it
and the branch they named, on the application.

Revision ID: 369ea30e8fc7
Revises: 9ca1bcfcfa5a
Create Date: 2026-12-06 14:24:42.130216
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models import tally_triggers

revision: str = '369ea30e8fc7'
down_revision: str | None = '9ca1bcfcfa5a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('alias_proposal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enterprise_id', sa.Integer(), nullable=False),
    sa.Column('alias', sa.String(length=100), nullable=False),
    sa.Column('alias_key', sa.String(length=120), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('origin_ref', sa.String(length=24), nullable=False),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('proposed_by_name', sa.String(length=60), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by_user_id', sa.BigInteger(), nullable=True),
    sa.Column('decided_by_name', sa.String(length=60), nullable=True),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_alias_proposal_enterprise_id_enterprise')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alias_proposal')),
    sa.UniqueConstraint('enterprise_id', 'alias_key', name=op.f('uq_alias_proposal_enterprise_id_alias_key'))
    )
    with op.batch_alter_table('alias_proposal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alias_proposal_enterprise_id'), ['enterprise_id'], unique=False)

    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('employer_typed', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('employer_branch', sa.String(length=40), nullable=True))



def downgrade() -> None:
    # SQLite rebuilds the table to drop a column, and the rebuild drops its triggers.
    dialect = op.get_bind().dialect.name
    for statement in tally_triggers.drop_statements(dialect):
        op.execute(statement)
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_column('employer_branch')
        batch_op.drop_column('employer_typed')
    for statement in tally_triggers.create_statements(dialect):
        op.execute(statement)

    with op.batch_alter_table('alias_proposal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alias_proposal_enterprise_id'))

    op.drop_table('alias_proposal')
