"""Benefit services (普惠服务): the catalogue with quotas, and members' claims.

Revision ID: 16237bd73fdf
Revises: eec9289e933d
Create Date: 2026-12-06 06:56:12.266235
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '16237bd73fdf'
down_revision: str | None = 'eec9289e933d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('benefit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=60), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('provider', sa.String(length=60), nullable=False),
    sa.Column('quota', sa.Integer(), nullable=False),
    sa.Column('claimed', sa.Integer(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=False),
    sa.Column('first_only', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['street_id'], ['street.id'], name=op.f('fk_benefit_street_id_street')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit'))
    )
    op.create_table('benefit_claim',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('benefit_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('redeemed_by_user_id', sa.BigInteger(), nullable=True),
    sa.Column('redeemed_by_name', sa.String(length=60), nullable=True),
    sa.ForeignKeyConstraint(['benefit_id'], ['benefit.id'], name=op.f('fk_benefit_claim_benefit_id_benefit')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_benefit_claim_member_id_member')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_claim')),
    sa.UniqueConstraint('benefit_id', 'member_id', name=op.f('uq_benefit_claim_benefit_id_member_id'))
    )
    with op.batch_alter_table('benefit_claim', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_benefit_claim_member_id'), ['member_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('benefit_claim', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_benefit_claim_member_id'))

    op.drop_table('benefit_claim')
    op.drop_table('benefit')
