"""Activities and benefits may be for the members who ticked one need in the needs survey
(their announcements go to them, and to those who have not answered it).

Revision ID: 09a5d29ebe3d
Revises: 3d2ed39fa87c
Create Date: 2026-12-06 08:14:21.872303
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '09a5d29ebe3d'
down_revision: str | None = '3d2ed39fa87c'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('need', sa.String(length=20), nullable=True))

    with op.batch_alter_table('benefit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('need', sa.String(length=20), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('benefit', schema=None) as batch_op:
        batch_op.drop_column('need')

    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.drop_column('need')

