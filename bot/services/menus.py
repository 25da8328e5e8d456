"""What the bot's command menus depend on, and which menus it has set at Telegram.

The menus themselves (which commands, in which chat) are drawn up at the Telegram edge,
bot/commands.py; this service only reads the facts (bound review groups, active staff
roles) and keeps the record of what was set, so a change is applied as a diff.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from bot.db import Database, dialect_insert
from models import CommandMenu, Staff, Street, UnionOrg
from models.base import utcnow


@dataclass(frozen=True)
class MenuFacts:
    review_chats: tuple[int, ...]  # every street's and enterprise union's review group
    roles: dict[int, frozenset[str]]  # active staff: Telegram user id -> roles


class MenuService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def facts(self) -> MenuFacts:
        async with self.db.read() as session:
            chats = await session.scalars(
                select(Street.review_chat_id)
                .where(Street.review_chat_id.is_not(None))
                .order_by(Street.id)
            )
            unions = await session.scalars(
                select(UnionOrg.review_chat_id)
                .where(UnionOrg.review_chat_id.is_not(None))
                .order_by(UnionOrg.id)
            )
            review_chats = tuple(int(c) for c in chats) + tuple(int(c) for c in unions)
            rows = await session.execute(
                select(Staff.telegram_user_id, Staff.role).where(Staff.active.is_(True))
            )
            roles: dict[int, set[str]] = defaultdict(set)
            for user_id, role in rows:
                roles[int(user_id)].add(role)
        return MenuFacts(review_chats, {u: frozenset(r) for u, r in roles.items()})

    async def applied(self, bot_id: int) -> dict[str, tuple[dict[str, Any], str]]:
        """scope key -> (scope, digest of its commands) for every menu this bot has set."""
        async with self.db.read() as session:
            rows = await session.scalars(select(CommandMenu).where(CommandMenu.bot_id == bot_id))
            return {row.scope_key: (dict(row.scope), row.digest) for row in rows}

    async def record(self, bot_id: int, key: str, scope: dict[str, Any], digest: str) -> None:
        async with self.db.transaction() as session:
            now = utcnow()
            insert = dialect_insert(session)(CommandMenu.__table__).values(
                bot_id=bot_id, scope_key=key, scope=scope, digest=digest, updated_at=now
            )
            await session.execute(
                insert.on_conflict_do_update(
                    index_elements=["bot_id", "scope_key"],
                    set_={"scope": scope, "digest": digest, "updated_at": now},
                )
            )

    async def forget(self, bot_id: int, key: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                delete(CommandMenu).where(
                    CommandMenu.bot_id == bot_id, CommandMenu.scope_key == key
                )
            )
