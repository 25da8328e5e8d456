"""Enterprises named by workers: normalising names so the same employer is counted once."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from models import Enterprise, Member

_PREFIXES = ("北京市", "北京")
_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "集团公司", "公司")
_NOISE = re.compile(r"[\s()（）\[\]【】·.,，。\-_'\"“”]+")


def name_key(name: str) -> str:
    """A comparison key: width-folded, lower-case, without brackets, spaces, the city
    prefix and the legal-form suffix ("北京字节跳动科技有限公司" → "字节跳动科技")."""
    key = unicodedata.normalize("NFKC", name).lower()
    key = _NOISE.sub("", key)
    for prefix in _PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix) + 1:
            key = key[len(prefix) :]
            break
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix) + 1:
            key = key[: -len(suffix)]
            break
    return key


async def find_or_create(session: AsyncSession, name: str, street_id: int | None) -> Enterprise:
    key = name_key(name)
    found = await session.scalar(
        select(Enterprise).where(Enterprise.name_key == key).order_by(Enterprise.id).limit(1)
    )
    if found is not None:
        return found
    enterprise = Enterprise(name=name, name_key=key, street_id=street_id, provisional=True)
    session.add(enterprise)
    await session.flush()
    return enterprise


async def recount(session: AsyncSession, enterprise_id: int) -> int:
    """Invariant 2: the count is the number of distinct active members, recomputed."""
    members, enterprises = Member.__table__, Enterprise.__table__  # Core: hot path
    distinct_members = (
        select(func.count(func.distinct(members.c.ric_hash)))
        .where(members.c.enterprise_id == enterprise_id, members.c.status == "active")
        .scalar_subquery()
    )
    result = await session.execute(
        update(enterprises)
        .where(enterprises.c.id == enterprise_id)
        .values(member_count=distinct_members)
        .returning(enterprises.c.member_count)
    )
    return int(result.scalar_one())


class EnterpriseService:
    """The enterprise registry: search, matching workers' employers, status, merges."""

    def __init__(self, db: Database, *, threshold: int, federation_chat_id: int | None) -> None:
        self.db = db
        self.threshold = threshold
        self.federation_chat_id = federation_chat_id
