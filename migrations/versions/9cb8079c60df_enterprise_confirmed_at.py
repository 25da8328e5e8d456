"""Enterprise confirmed_at: provisional enterprises are offered to workers only once staff
have confirmed them

Revision ID: 9cb8079c60df
Revises: 574d0d54b056
Create Date: 2026-12-02 00:26:45
"""

import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "9cb8079c60df"
down_revision: str | None = "574d0d54b056"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A name with seven digits in a row is a phone or id number some worker typed (the form
# refuses those now): such an enterprise stays unconfirmed even if staff approved it.
_NUMBER = re.compile(r"[0-9]{7}")
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015+().·/_,，、]")


def upgrade() -> None:
    with op.batch_alter_table("enterprise", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
    _confirm_the_approved()


def _confirm_the_approved() -> None:
    """Staff approving an application that names a provisional enterprise confirms it from
    now on; applications approved before this revision count the same."""
    bind = op.get_bind()
    true = "true" if bind.dialect.name == "postgresql" else "1"
    rows = bind.execute(
        sa.text(
            "SELECT DISTINCT e.id, e.name FROM enterprise e "
            "JOIN application a ON a.enterprise_id = e.id "
            f"WHERE e.provisional = {true} AND e.merged_into_id IS NULL "
            "AND a.status = 'approved'"
        )
    ).all()
    confirmed = [
        row.id
        for row in rows
        if not _NUMBER.search(_SEPARATORS.sub("", unicodedata.normalize("NFKC", row.name)))
    ]
    if not confirmed:
        return
    enterprise = sa.table(
        "enterprise", sa.column("id", sa.Integer), sa.column("confirmed_at", sa.DateTime(True))
    )
    bind.execute(
        sa.update(enterprise)
        .where(enterprise.c.id.in_(confirmed))
        .values(confirmed_at=datetime.now(UTC))
    )


def downgrade() -> None:
    with op.batch_alter_table("enterprise", schema=None) as batch_op:
        batch_op.drop_column("confirmed_at")
