"""Founding cases (建会工作), and enterprise unions' own USCC, founding date and contact.

Revision ID: 938f97e3e6c7
Revises: 929cae5bc945
Create Date: 2026-12-06 05:23:28.352540
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '938f97e3e6c7'
down_revision: str | None = '929cae5bc945'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('founding_case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enterprise_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=12), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('pause_reason', sa.String(length=12), nullable=True),
    sa.Column('pause_note', sa.String(length=200), nullable=True),
    sa.Column('owner_user_id', sa.BigInteger(), nullable=True),
    sa.Column('owner_name', sa.String(length=60), nullable=True),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stage_since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('touched_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reminded_stage_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminded_idle_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['threshold_alert.id'], name=op.f('fk_founding_case_alert_id_threshold_alert')),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_founding_case_enterprise_id_enterprise')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_founding_case')),
    sa.UniqueConstraint('enterprise_id', name=op.f('uq_founding_case_enterprise_id'))
    )
    with op.batch_alter_table('union_org', schema=None) as batch_op:
        batch_op.add_column(sa.Column('uscc', sa.String(length=18), nullable=True))
        batch_op.add_column(sa.Column('founded_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('contact', sa.String(length=100), nullable=True))
        batch_op.create_index('uq_union_org_enterprise', ['enterprise_id'], unique=True, sqlite_where=sa.text("kind = 'enterprise'"), postgresql_where=sa.text("kind = 'enterprise'"))
        batch_op.create_unique_constraint(batch_op.f('uq_union_org_uscc'), ['uscc'])



def downgrade() -> None:
    with op.batch_alter_table('union_org', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_union_org_uscc'), type_='unique')
        batch_op.drop_index('uq_union_org_enterprise', sqlite_where=sa.text("kind = 'enterprise'"), postgresql_where=sa.text("kind = 'enterprise'"))
        batch_op.drop_column('contact')
        batch_op.drop_column('founded_on')
        batch_op.drop_column('uscc')

    op.drop_table('founding_case')
