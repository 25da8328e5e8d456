"""Key check values: what each data key and the lookup key made of a constant at first
use, so a start with a different key is refused

Revision ID: 574d0d54b056
Revises: f8e67c38b1f5
Create Date: 2026-12-02 00:22:58
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "574d0d54b056"
down_revision: str | None = "f8e67c38b1f5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "key_check",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("key_id", sa.String(length=255), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key_id", name=op.f("pk_key_check")),
    )


def downgrade() -> None:
    op.drop_table("key_check")
