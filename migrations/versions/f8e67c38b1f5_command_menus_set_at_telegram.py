"""command menus set at Telegram (per-chat command scopes, applied as a diff)

Revision ID: f8e67c38b1f5
Revises: b7d2f4a9c1e3
Create Date: 2026-12-02 00:26:21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f8e67c38b1f5"
down_revision: str | None = "b7d2f4a9c1e3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "command_menu",
        sa.Column("bot_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("scope_key", sa.String(length=120), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bot_id", "scope_key", name=op.f("pk_command_menu")),
    )


def downgrade() -> None:
    op.drop_table("command_menu")
