"""A union's member list (会员名册) for its own records: masked resident id numbers,
unless the person asking may see them in full, which is then audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func, select

from bot import timefmt
from bot.db import Database
from bot.pii import PiiCipher, mask_resident_id
from bot.services.audit import Actor, record
from bot.services.errors import NotFound
from bot.xlsx import Sheet, workbook
from models import Application, Member, MembershipEvent, UnionOrg

HEADERS = ("会员编号", "姓名", "性别", "入会日期", "转入日期", "身份证号")


@dataclass(frozen=True)
class RosterRow:
    number: str
    name: str
    gender: str
    joined_on: date
    moved_in: date | None  # when the membership moved to this union (Beijing date)
    resident_id: str  # masked unless asked for in full


async def roster(
    db: Database, cipher: PiiCipher, union_id: int, *, full_ids: bool = False,
    actor: Actor | None = None,
) -> tuple[str, list[RosterRow]]:  # fmt: skip
    """(the union's name, its active members by number). Full id numbers need an
    `actor`, and are audited."""
    if full_ids and actor is None:
        raise ValueError("full id numbers are given to a named actor only")
    async with db.read() as session:
        union = await session.get(UnionOrg, union_id)
        if union is None:
            raise NotFound("union")
        moved_in = (
            select(MembershipEvent.member_id, func.max(MembershipEvent.at).label("at"))
            .where(MembershipEvent.to_union_id == union_id)
            .group_by(MembershipEvent.member_id)
            .subquery()
        )
        rows = await session.execute(
            select(Member, Application.name, Application.gender, Application.ric_cipher,
                   moved_in.c.at)
            .join(Application, Application.id == Member.application_id)
            .outerjoin(moved_in, moved_in.c.member_id == Member.id)
            .where(Member.union_org_id == union_id, Member.status == "active")
            .order_by(Member.number)
        )  # fmt: skip
        result = []
        for member, name, gender, ric_cipher, at in rows:
            resident_id = cipher.decrypt(ric_cipher, context="ric")
            result.append(
                RosterRow(
                    member.number,
                    name,
                    "男" if gender == "male" else "女",
                    timefmt.local(member.joined_at).date(),
                    timefmt.local(moved).date() if (moved := _aware(at)) else None,
                    resident_id if full_ids else mask_resident_id(resident_id),
                )
            )
    if full_ids and actor is not None:
        async with db.transaction() as session:
            await record(
                session, actor, "roster.full_ids", "union_org", union_id,
                after={"members": len(result)},
            )  # fmt: skip
    return union.name, result


def roster_xlsx(rows: list[RosterRow]) -> bytes:
    return workbook(
        [
            Sheet(
                "会员名册",
                HEADERS,
                [
                    (r.number, r.name, r.gender, r.joined_on, r.moved_in, r.resident_id)
                    for r in rows
                ],
            )
        ]
    )


def _aware(value: object) -> datetime | None:
    # An aggregate bypasses the column type: SQLite hands back text or naive values.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
