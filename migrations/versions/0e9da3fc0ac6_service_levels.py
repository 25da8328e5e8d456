"""Service levels: a street's promised review time and contact, daily digests, and
reminders of alerts nobody followed up.

Revision ID: 0e9da3fc0ac6
Revises: 289d3b34b17f
Create Date: 2026-12-06 05:56:53.286346
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0e9da3fc0ac6'
down_revision: str | None = '289d3b34b17f'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('daily_digest',
    sa.Column('street_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('waiting', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['street_id'], ['street.id'], name=op.f('fk_daily_digest_street_id_street')),
    sa.PrimaryKeyConstraint('street_id', 'day', name=op.f('pk_daily_digest'))
    )
    with op.batch_alter_table('street', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('contact', sa.String(length=100), nullable=True))

    with op.batch_alter_table('threshold_alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('threshold_alert', schema=None) as batch_op:
        batch_op.drop_column('reminded_at')

    with op.batch_alter_table('street', schema=None) as batch_op:
        batch_op.drop_column('contact')
        batch_op.drop_column('review_days')

    op.drop_table('daily_digest')
