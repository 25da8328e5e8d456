"""The federation's weekly digest, claimed once per ISO week.

Revision ID: 28b97903a84c
Revises: 09a5d29ebe3d
Create Date: 2026-12-06 08:29:28.006879
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '28b97903a84c'
down_revision: str | None = '09a5d29ebe3d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('weekly_digest',
    sa.Column('week', sa.String(length=8), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('week', name=op.f('pk_weekly_digest'))
    )


def downgrade() -> None:
    op.drop_table('weekly_digest')
