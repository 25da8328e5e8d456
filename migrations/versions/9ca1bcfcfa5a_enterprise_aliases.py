"""Enterprise aliases: brands, short and English names workers use, for the matcher.

Revision ID: 9ca1bcfcfa5a
Revises: d320cbb63546
Create Date: 2026-12-06 12:23:00.712599
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '9ca1bcfcfa5a'
down_revision: str | None = 'd320cbb63546'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('enterprise_alias',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enterprise_id', sa.Integer(), nullable=False),
    sa.Column('alias', sa.String(length=100), nullable=False),
    sa.Column('alias_key', sa.String(length=120), nullable=False),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_name', sa.String(length=60), nullable=True),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_enterprise_alias_enterprise_id_enterprise')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enterprise_alias')),
    sa.UniqueConstraint('enterprise_id', 'alias_key', name=op.f('uq_enterprise_alias_enterprise_id_alias_key'))
    )
    with op.batch_alter_table('enterprise_alias', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enterprise_alias_enterprise_id'), ['enterprise_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('enterprise_alias', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enterprise_alias_enterprise_id'))

    op.drop_table('enterprise_alias')
