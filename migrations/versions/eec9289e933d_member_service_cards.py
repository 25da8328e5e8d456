"""Member service cards (会员服务卡): requests, batches for the city federation, and the
members' needs survey.

Revision ID: eec9289e933d
Revises: b0be77d918ea
Create Date: 2026-12-06 06:52:42.560711
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'eec9289e933d'
down_revision: str | None = 'b0be77d918ea'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('service_card_batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=60), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['street_id'], ['street.id'], name=op.f('fk_service_card_batch_street_id_street')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_card_batch')),
    sa.UniqueConstraint('number', name=op.f('uq_service_card_batch_number'))
    )
    op.create_table('needs_survey',
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('needs', sa.JSON(), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_by', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_needs_survey_member_id_member')),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_needs_survey'))
    )
    op.create_table('service_card_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('collected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('collected_by', sa.String(length=60), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['service_card_batch.id'], name=op.f('fk_service_card_request_batch_id_service_card_batch')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_service_card_request_member_id_member')),
    sa.ForeignKeyConstraint(['street_id'], ['street.id'], name=op.f('fk_service_card_request_street_id_street')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_card_request')),
    sa.UniqueConstraint('member_id', name=op.f('uq_service_card_request_member_id'))
    )


def downgrade() -> None:
    op.drop_table('service_card_request')
    op.drop_table('needs_survey')
    op.drop_table('service_card_batch')
