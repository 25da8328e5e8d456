"""Set-up done by administrators: streets, reception points, staff, and seed files."""

from __future__ import annotations

import csv
import re
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.changes import ORG_TOPIC
from bot.db import Database
from bot.services import outbox
from bot.services.audit import Actor, record
from bot.services.errors import DomainError, NotFound
from bot.services.unions import joint_union
from bot.union_names import joint_union_name
from models import Application, DashboardSession, ReceptionPoint, Staff, Street, UnionOrg
from models.org import POINT_KINDS, STAFF_ROLES

STREET_CODE = re.compile(r"^[A-Z][A-Z0-9]{1,7}$")
POINT_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
STREET_NAME_MAX = 60


class SetupError(DomainError):
    """Bad set-up input, with a message for the administrator."""


@dataclass(frozen=True)
class StreetRef:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class PointRow:
    code: str
    name: str
    kind: str
    street: str
    active: bool


@dataclass(frozen=True)
class Renamed:
    code: str
    old_name: str
    new_name: str
    joint_union: str  # the street's joint union's new name


@dataclass(frozen=True)
class SeedSummary:
    streets: int
    points: int
    staff: int
    renamed: tuple[Renamed, ...] = ()


def new_point_code() -> str:
    # Opaque and unguessable; "p" keeps it clear of the "v_" card-verification prefix.
    return "p" + secrets.token_urlsafe(6)


class AdminService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_street(self, code: str, name: str, actor: Actor) -> bool:
        """Add a street with its joint union; False if it exists with this very name. A
        different name for an existing code is refused: renaming is `rename_street`."""
        code, name = _street_code(code), _street_name(name)
        async with self.db.transaction() as session:
            street = await session.scalar(select(Street).where(Street.code == code))
            if street is not None and street.name == name:
                return False
            if street is not None:
                raise SetupError(
                    f"street {code} already exists, named {street.name}; to rename it: "
                    f"unionbot streets rename {code} {name}"
                )
            await self._upsert_street(session, code, name, None, actor)
            return True

    async def rename_street(self, code: str, name: str, actor: Actor) -> Renamed:
        """Rename a street and its joint union (<name>工会联合会), in one transaction."""
        code, name = _street_code(code), _street_name(name)
        async with self.db.transaction() as session:
            street = await session.scalar(select(Street).where(Street.code == code))
            if street is None:
                raise NotFound(f"street {code}")
            if street.name == name:
                raise SetupError(f"street {code} is already named {name}; nothing changed")
            await _check_name_free(session, name, code)
            return await _rename(session, street, name, actor)

    async def _upsert_street(
        self, session: AsyncSession, code: str, name: str, chat_id: int | None, actor: Actor
    ) -> tuple[Street, Renamed | None]:
        street = await session.scalar(select(Street).where(Street.code == code))
        renamed = None
        if street is None:
            await _check_name_free(session, name, code)
            street = Street(code=code, name=name, review_chat_id=chat_id)
            session.add(street)
            await session.flush()
            Database.flag(session, ORG_TOPIC)
            await joint_union(session, street)
            await record(session, actor, "street.added", "street", code, after={"name": name})
        elif street.name != name:
            await _check_name_free(session, name, code)
            renamed = await _rename(session, street, name, actor)
        if chat_id is not None and street.review_chat_id != chat_id:
            await self._bind(session, street, chat_id, actor)
        return street, renamed

    async def set_service(
        self, street_ref: str, actor: Actor, *, review_days: int | None = None,
        contact: str | None = None,
    ) -> tuple[int | None, str | None]:  # fmt: skip
        """What the street promises waiting workers: its review time in working days
        (0: the configured default) and its contact. (review days, contact) as stored."""
        if review_days is not None and not 0 <= review_days <= 60:
            raise SetupError(f"review days {review_days}: between 1 and 60, or 0 for the default")
        if contact is not None:
            contact = " ".join(contact.split())[:100]
        async with self.db.transaction() as session:
            street = await _street(session, street_ref)
            before = {"review_days": street.review_days, "contact": street.contact}
            if review_days is not None:
                street.review_days = review_days or None
            if contact is not None:
                street.contact = contact or None  # "" clears it
            await record(
                session, actor, "street.service", "street", street.code, before=before,
                after={"review_days": street.review_days, "contact": street.contact},
            )  # fmt: skip
            return street.review_days, street.contact

    async def set_review_chat(self, street_ref: str, chat_id: int, actor: Actor) -> int:
        """Make `chat_id` the street's review group; re-send the cards still waiting."""
        async with self.db.transaction() as session:
            street = await _street(session, street_ref)
            return await self._bind(session, street, chat_id, actor)

    async def _bind(self, session: AsyncSession, street: Street, chat_id: int, actor: Actor) -> int:
        if chat_id >= 0:
            raise SetupError(
                f"review chat {chat_id}: group chat ids are negative (e.g. -1001234567890)"
            )
        await record(
            session,
            actor,
            "street.review_chat",
            "street",
            street.code,
            before={"chat": street.review_chat_id},
            after={"chat": chat_id},
        )
        street.review_chat_id = chat_id
        own_group = (
            select(UnionOrg.id)
            .where(UnionOrg.id == Application.union_org_id, UnionOrg.review_chat_id.is_not(None))
            .exists()
        )
        waiting = list(
            await session.scalars(
                select(Application.id).where(
                    Application.street_id == street.id,
                    Application.status == "submitted",
                    ~own_group,  # decided in an enterprise union's own group
                )
            )
        )
        for application_id in waiting:
            await outbox.enqueue(session, chat_id, "review_card", application_id=application_id)
        return len(waiting)

    # --- enterprise unions' own review groups ------------------------------------------

    async def set_union_review_chat(self, union_id: int, chat_id: int, actor: Actor) -> int:
        """Make `chat_id` the enterprise union's review group; its waiting applications
        are posted there (and decided only there from now on)."""
        async with self.db.transaction() as session:
            union = await _enterprise_union_org(session, union_id)
            return await self.bind_union(session, union, chat_id, actor)

    async def bind_union(
        self, session: AsyncSession, union: UnionOrg, chat_id: int, actor: Actor
    ) -> int:
        if chat_id >= 0:
            raise SetupError(
                f"review chat {chat_id}: group chat ids are negative (e.g. -1001234567890)"
            )
        await record(
            session, actor, "union.review_chat", "union_org", union.id,
            before={"chat": union.review_chat_id}, after={"chat": chat_id},
        )  # fmt: skip
        union.review_chat_id = chat_id
        waiting = list(
            await session.scalars(
                select(Application.id).where(
                    Application.union_org_id == union.id, Application.status == "submitted"
                )
            )
        )
        for application_id in waiting:
            await outbox.enqueue(session, chat_id, "review_card", application_id=application_id)
        Database.flag(session, ORG_TOPIC)
        return len(waiting)

    async def add_union_staff(self, user_id: int, name: str, union_id: int, actor: Actor) -> None:
        """A reviewer of an enterprise union founded through the bot (role "union")."""
        async with self.db.transaction() as session:
            union = await _enterprise_union_org(session, union_id)
            staff = await session.scalar(
                select(Staff).where(
                    Staff.telegram_user_id == user_id, Staff.role == "union",
                    Staff.union_org_id == union.id,
                )
            )  # fmt: skip
            if staff is None:
                session.add(Staff(telegram_user_id=user_id, name=name, role="union",
                                  union_org_id=union.id))  # fmt: skip
                await record(
                    session, actor, "staff.added", "staff", user_id,
                    after={"role": "union", "union": union.id, "name": name},
                )  # fmt: skip
            elif not staff.active or staff.name != name:
                await record(
                    session, actor, "staff.updated", "staff", user_id,
                    before={"active": staff.active, "name": staff.name},
                    after={"active": True, "name": name},
                )  # fmt: skip
                staff.active, staff.name = True, name

    async def add_point(
        self, street_ref: str, name: str, kind: str, actor: Actor, code: str | None = None
    ) -> str:
        async with self.db.transaction() as session:
            street = await _street(session, street_ref)
            point = await self._upsert_point(session, street, name, kind, code, actor)
            return point.code

    async def _upsert_point(
        self,
        session: AsyncSession,
        street: Street,
        name: str,
        kind: str,
        code: str | None,
        actor: Actor,
    ) -> ReceptionPoint:
        if kind not in POINT_KINDS:
            raise SetupError(f"point kind {kind!r}: one of {', '.join(POINT_KINDS)}")
        if code is not None and (not POINT_CODE.match(code) or code.startswith("v_")):
            raise SetupError(f"point code {code!r}: 1–64 of A-Z a-z 0-9 _ -, not starting v_")
        point = await session.scalar(
            select(ReceptionPoint).where(
                ReceptionPoint.street_id == street.id, ReceptionPoint.name == name
            )
        )
        Database.flag(session, ORG_TOPIC)  # the update path's copy of the points
        if point is None:
            point = ReceptionPoint(
                street_id=street.id, name=name, kind=kind, code=code or new_point_code()
            )
            session.add(point)
            await session.flush()
            await record(
                session,
                actor,
                "point.added",
                "reception_point",
                point.code,
                after={"street": street.code, "name": name, "kind": kind},
            )
        else:
            point.kind = kind
            point.active = True
        return point

    async def retire_point(self, code: str, actor: Actor) -> None:
        async with self.db.transaction() as session:
            point = await session.scalar(select(ReceptionPoint).where(ReceptionPoint.code == code))
            if point is None:
                raise NotFound(f"reception point {code}")
            point.active = False
            Database.flag(session, ORG_TOPIC)
            await record(session, actor, "point.retired", "reception_point", code)

    async def points(self, street_ref: str | None = None) -> list[PointRow]:
        async with self.db.read() as session:
            query = select(ReceptionPoint, Street.name).join(
                Street, Street.id == ReceptionPoint.street_id
            )
            if street_ref:
                street = await _street(session, street_ref)
                query = query.where(Street.id == street.id)
            rows = await session.execute(query.order_by(Street.id, ReceptionPoint.id))
            return [PointRow(p.code, p.name, p.kind, s, p.active) for p, s in rows]

    async def streets(self) -> list[Street]:
        async with self.db.read() as session:
            return list(await session.scalars(select(Street).order_by(Street.id)))

    async def add_staff(
        self, user_id: int, name: str, role: str, street_ref: str | None, actor: Actor
    ) -> None:
        async with self.db.transaction() as session:
            await self._upsert_staff(session, user_id, name, role, street_ref, actor)

    async def _upsert_staff(
        self,
        session: AsyncSession,
        user_id: int,
        name: str,
        role: str,
        street_ref: str | None,
        actor: Actor,
    ) -> None:
        if role not in STAFF_ROLES:
            raise SetupError(f"role {role!r}: one of {', '.join(STAFF_ROLES)}")
        if role == "union":
            raise SetupError("an enterprise union's staff are added with --union (its id)")
        if (role == "street") != (street_ref is not None):
            raise SetupError("street staff need a street; other roles take none")
        street_id = (await _street(session, street_ref)).id if street_ref else None
        staff = await session.scalar(
            select(Staff).where(
                Staff.telegram_user_id == user_id, Staff.role == role, Staff.street_id == street_id
            )
        )
        if staff is None:
            session.add(Staff(telegram_user_id=user_id, name=name, role=role, street_id=street_id))
            await record(
                session,
                actor,
                "staff.added",
                "staff",
                user_id,
                after={"role": role, "street": street_ref, "name": name},
            )
        elif not staff.active or staff.name != name:
            await record(
                session,
                actor,
                "staff.updated",
                "staff",
                user_id,
                before={"active": staff.active, "name": staff.name},
                after={"active": True, "name": name},
            )
            staff.active, staff.name = True, name

    async def remove_staff(self, user_id: int, actor: Actor) -> int:
        async with self.db.transaction() as session:
            return len(await self.withdraw_roles(session, user_id, None, actor))

    async def withdraw_roles(
        self, session: AsyncSession, user_id: int, role: str | None, actor: Actor
    ) -> list[Staff]:
        """Deactivate a person's roles (one role, or all), audited, in the caller's
        transaction."""
        query = select(Staff).where(Staff.telegram_user_id == user_id, Staff.active.is_(True))
        if role is not None:
            query = query.where(Staff.role == role)
        rows = list(await session.scalars(query))
        for staff in rows:
            staff.active = False
            await record(
                session,
                actor,
                "staff.removed",
                "staff",
                user_id,
                before={"role": staff.role, "street_id": staff.street_id},
            )
        if rows:  # signed out of the web dashboard everywhere, whatever roles remain
            await session.execute(
                delete(DashboardSession).where(DashboardSession.user_id == user_id)
            )
        return rows

    async def staff(self) -> list[tuple[Staff, str | None]]:
        async with self.db.read() as session:
            rows = await session.execute(
                select(Staff, Street.name)
                .outerjoin(Street, Street.id == Staff.street_id)
                .order_by(Staff.role, Staff.id)
            )
            return [(staff, street) for staff, street in rows]

    async def seed(self, path: Path, actor: Actor) -> SeedSummary:
        """Load streets, their points and staff from TOML or CSV, in one transaction."""
        return await self.seed_data(read_seed(path), actor)

    async def seed_data(self, data: dict[str, Any], actor: Actor) -> SeedSummary:
        try:
            return await self._seed(data, actor)
        except KeyError as missing:
            raise SetupError(f"seed data: an entry lacks the key {missing}") from None
        except (TypeError, ValueError, AttributeError) as error:
            raise SetupError(f"seed data: a value has the wrong form ({error})") from None

    async def _seed(self, data: dict[str, Any], actor: Actor) -> SeedSummary:
        counts = {"streets": 0, "points": 0, "staff": 0}
        renamed: list[Renamed] = []
        async with self.db.transaction() as session:
            for item in data.get("streets", []):
                code = _street_code(str(item["code"]))
                chat = item.get("review_chat_id")
                street, rename = await self._upsert_street(
                    session,
                    code,
                    _street_name(str(item["name"])),
                    int(chat) if chat else None,
                    actor,
                )
                renamed += [rename] if rename is not None else []
                counts["streets"] += 1
                for point in item.get("points", []):
                    await self._upsert_point(
                        session,
                        street,
                        point["name"],
                        point.get("kind", "community"),
                        point.get("code"),
                        actor,
                    )
                    counts["points"] += 1
            for person in data.get("staff", []):
                await self._upsert_staff(
                    session,
                    int(person["telegram_user_id"]),
                    person["name"],
                    person.get("role", "street"),
                    person.get("street"),
                    actor,
                )
                counts["staff"] += 1
        return SeedSummary(**counts, renamed=tuple(renamed))


def _street_code(code: str) -> str:
    code = code.strip().upper()
    if not STREET_CODE.match(code):
        raise SetupError(f"street code {code!r}: 2–8 capital letters or digits, e.g. DS")
    return code


def _street_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > STREET_NAME_MAX:
        raise SetupError(f"street name: 1–{STREET_NAME_MAX} characters, e.g. 德胜街道")
    return name


async def _check_name_free(session: AsyncSession, name: str, code: str) -> None:
    other = await session.scalar(select(Street.code).where(Street.name == name))
    if other is not None and other != code:
        raise SetupError(f"a street named {name} already exists (code {other})")


async def _rename(session: AsyncSession, street: Street, name: str, actor: Actor) -> Renamed:
    """The street and its joint union take the new name; audited as street.renamed."""
    union_id, _created = await joint_union(session, street)
    union = await session.get(UnionOrg, union_id)
    old_name, old_union = street.name, union.name if union is not None else None
    street.name = name
    Database.flag(session, ORG_TOPIC)
    new_union = joint_union_name(name)
    if union is not None:
        union.name = new_union
    await record(
        session,
        actor,
        "street.renamed",
        "street",
        street.code,
        before={"name": old_name, "joint_union": old_union},
        after={"name": name, "joint_union": new_union},
    )
    return Renamed(street.code, old_name, name, new_union)


async def _street(session: AsyncSession, ref: str) -> Street:
    """A street by code ("DS") or name ("德胜街道")."""
    street = await session.scalar(
        select(Street).where((Street.code == ref.upper()) | (Street.name == ref))
    )
    if street is None:
        raise NotFound(f"street {ref}")
    return street


async def _enterprise_union_org(session: AsyncSession, union_id: int) -> UnionOrg:
    union = await session.get(UnionOrg, union_id)
    if union is None or union.kind != "enterprise":
        raise NotFound(f"enterprise union {union_id}")
    return union


def read_seed(path: Path) -> dict[str, Any]:
    """TOML ([[streets]] with [[streets.points]], [[staff]]) or CSV (one row per record:
    record=street|point|staff, street, code, name, kind, review_chat_id, telegram_user_id, role)."""
    if not path.exists():
        raise SetupError(f"seed file not found: {path}")
    if path.suffix.lower() == ".toml":
        try:
            return tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise SetupError(f"{path}: {error}") from None
    if path.suffix.lower() == ".csv":
        return _seed_from_csv(path)
    raise SetupError(f"{path}: seed files are .toml or .csv")


CSV_REQUIRED = {
    "street": ("code", "name"),
    "point": ("street", "name"),
    "staff": ("telegram_user_id", "name"),
}


def _seed_from_csv(path: Path) -> dict[str, Any]:
    streets: dict[str, dict[str, Any]] = {}
    staff: list[dict[str, Any]] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            kind = _cell(row, "record")
            if kind not in CSV_REQUIRED:
                raise SetupError(f"{path}:{line}: record must be street, point or staff")
            for column in CSV_REQUIRED[kind]:
                if not _cell(row, column):
                    raise SetupError(f"{path}:{line}: a {kind} row needs '{column}'")
            if kind == "street":
                streets[_cell(row, "code").upper()] = {
                    "code": _cell(row, "code"),
                    "name": _cell(row, "name"),
                    "review_chat_id": _cell(row, "review_chat_id") or None,
                    "points": [],
                }
            elif kind == "point":
                street = streets.get(_cell(row, "street").upper())
                if street is None:
                    raise SetupError(f"{path}:{line}: point before its street row")
                street["points"].append(
                    {
                        "name": _cell(row, "name"),
                        "kind": _cell(row, "kind") or "community",
                        "code": _cell(row, "code") or None,
                    }
                )
            else:
                staff.append(
                    {
                        "telegram_user_id": _cell(row, "telegram_user_id"),
                        "name": _cell(row, "name"),
                        "role": _cell(row, "role") or "street",
                        "street": _cell(row, "street") or None,
                    }
                )
    return {"streets": list(streets.values()), "staff": staff}


def _cell(row: dict[str | None, Any], column: str) -> str:
    """A cell's text; missing columns and short rows read as empty."""
    value = row.get(column)
    return value.strip() if isinstance(value, str) else ""
