"""Enterprises' own unions (name, contact) and applications that chose the joint union
although the employer has one.

Revision ID: 929cae5bc945
Revises: c51f0a7e2d94
Create Date: 2026-12-06 05:17:38.286535
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '929cae5bc945'
down_revision: str | None = 'c51f0a7e2d94'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('employer_has_union', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('enterprise', schema=None) as batch_op:
        batch_op.add_column(sa.Column('union_name', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('union_contact', sa.String(length=100), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('enterprise', schema=None) as batch_op:
        batch_op.drop_column('union_contact')
        batch_op.drop_column('union_name')

    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_column('employer_has_union')

