"""Enterprise unions' own review groups and staff: bind codes for a union, the union
staff role, and applications addressed to an enterprise union.

Revision ID: b0be77d918ea
Revises: 0e9da3fc0ac6
Create Date: 2026-12-06 06:00:04.769847
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'b0be77d918ea'
down_revision: str | None = '0e9da3fc0ac6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('union_org_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_application_union_org_id_union_org'), 'union_org', ['union_org_id'], ['id'])

    with op.batch_alter_table('bind_code', schema=None) as batch_op:
        batch_op.add_column(sa.Column('union_org_id', sa.Integer(), nullable=True))
        batch_op.alter_column('street_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.create_foreign_key(batch_op.f('fk_bind_code_union_org_id_union_org'), 'union_org', ['union_org_id'], ['id'])

    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('union_org_id', sa.Integer(), nullable=True))
        batch_op.create_index('uq_staff_union_member', ['telegram_user_id', 'union_org_id'], unique=True, sqlite_where=sa.text("role = 'union'"), postgresql_where=sa.text("role = 'union'"))
        batch_op.create_foreign_key(batch_op.f('fk_staff_union_org_id_union_org'), 'union_org', ['union_org_id'], ['id'])

    with op.batch_alter_table('union_org', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_chat_id', sa.BigInteger(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_union_org_review_chat_id'), ['review_chat_id'])



def downgrade() -> None:
    with op.batch_alter_table('union_org', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_union_org_review_chat_id'), type_='unique')
        batch_op.drop_column('review_chat_id')

    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_staff_union_org_id_union_org'), type_='foreignkey')
        batch_op.drop_index('uq_staff_union_member', sqlite_where=sa.text("role = 'union'"), postgresql_where=sa.text("role = 'union'"))
        batch_op.drop_column('union_org_id')

    with op.batch_alter_table('bind_code', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_bind_code_union_org_id_union_org'), type_='foreignkey')
        batch_op.alter_column('street_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('union_org_id')

    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_application_union_org_id_union_org'), type_='foreignkey')
        batch_op.drop_column('union_org_id')

