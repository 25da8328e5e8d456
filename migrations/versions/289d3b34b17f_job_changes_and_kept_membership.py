"""Job changes (动态接转) and kept membership (保留会籍).

Revision ID: 289d3b34b17f
Revises: d00010bc1423
Create Date: 2026-12-06 05:50:39.729241
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '289d3b34b17f'
down_revision: str | None = 'd00010bc1423'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('job_change_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('employer_text', sa.String(length=100), nullable=False),
    sa.Column('from_enterprise_id', sa.Integer(), nullable=False),
    sa.Column('to_enterprise_id', sa.Integer(), nullable=False),
    sa.Column('from_union_id', sa.Integer(), nullable=False),
    sa.Column('to_union_id', sa.Integer(), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by_user_id', sa.BigInteger(), nullable=True),
    sa.Column('decided_by_name', sa.String(length=60), nullable=True),
    sa.ForeignKeyConstraint(['from_enterprise_id'], ['enterprise.id'], name=op.f('fk_job_change_request_from_enterprise_id_enterprise')),
    sa.ForeignKeyConstraint(['from_union_id'], ['union_org.id'], name=op.f('fk_job_change_request_from_union_id_union_org')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_job_change_request_member_id_member')),
    sa.ForeignKeyConstraint(['street_id'], ['street.id'], name=op.f('fk_job_change_request_street_id_street')),
    sa.ForeignKeyConstraint(['to_enterprise_id'], ['enterprise.id'], name=op.f('fk_job_change_request_to_enterprise_id_enterprise')),
    sa.ForeignKeyConstraint(['to_union_id'], ['union_org.id'], name=op.f('fk_job_change_request_to_union_id_union_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_change_request'))
    )
    with op.batch_alter_table('job_change_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_change_request_member_id'), ['member_id'], unique=False)
        batch_op.create_index('uq_job_change_request_open_member', ['member_id'], unique=True, sqlite_where=sa.text("status = 'submitted'"), postgresql_where=sa.text("status = 'submitted'"))

    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kept_since', sa.DateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_column('kept_since')

    with op.batch_alter_table('job_change_request', schema=None) as batch_op:
        batch_op.drop_index('uq_job_change_request_open_member', sqlite_where=sa.text("status = 'submitted'"), postgresql_where=sa.text("status = 'submitted'"))
        batch_op.drop_index(batch_op.f('ix_job_change_request_member_id'))

    op.drop_table('job_change_request')
