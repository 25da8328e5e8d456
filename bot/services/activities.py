"""Union activities (工会活动): street staff (or the federation, district-wide) create one,
the members it is for are told (unless they sent /notify off), members sign up or cancel,
a full activity keeps a waitlist whose first member moves up when a place frees, staff
check members in at the door with each member's signed QR code, and staff close it when
it is over. Attending completes the member's "one activity".

Every change to an activity's places happens under a lock of the activity's row (SQLite's
write transactions are serial anyway), so sign-ups, cancellations and promotions are
decided one at a time; the database refuses more confirmed places than the capacity
(invariant 12). A check-in is one conditional UPDATE: recorded once, whoever scans.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.services.admin import _street as street_by_ref
from bot.services.announcements import announce, audience, check_need, enqueue_batched
from bot.services.audit import Actor, record
from bot.services.cards import CardSigner
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.members import active_member
from bot.services.outbox import enqueue_many
from bot.services.roles import DISTRICT_ROLES, has_role, is_staff_for
from models import (
    Activity,
    ActivitySignup,
    AnnouncementOptOut,
    Application,
    Member,
    Staff,
    Street,
)
from models.base import utcnow

SIGNUPS = ActivitySignup.__table__
TOKEN_PURPOSE = b"unionbot activity check-in v1"
# The door opens an hour before the start; a check-in is taken until the end.
DOORS_OPEN = timedelta(hours=1)
REMIND_BEFORE = timedelta(days=1)
MAX_CAPACITY = 10_000


class ActivityRefused(DomainError):
    """`code`: not_member, unknown, not_yours (another street's), not_open (closed or
    cancelled), deadline (sign-up closed), signed_up (this member is on it: `status`),
    not_signed_up, started, under_way (calling off a started one), forged, not_confirmed
    (a waiting or cancelled sign-up), too_early / too_late (outside the check-in window:
    `opens`, `ends`), checked_in (at `at` by `by`), not_over (closing before the end),
    invalid (`reason`)."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "not_member": "only members take part in activities",
        "unknown": "no such activity",
        "not_yours": "the activity is for another street's members",
        "not_open": "the activity is closed or cancelled",
        "deadline": "sign-ups have closed",
        "signed_up": "already signed up",
        "not_signed_up": "not signed up",
        "started": "the activity has started",
        "under_way": "the activity has started: it can no longer be called off",
        "forged": "not a check-in code of ours",
        "not_confirmed": "the sign-up has no confirmed place",
        "too_early": "check-in has not opened yet",
        "too_late": "check-in has ended",
        "checked_in": "already checked in",
        "not_over": "the activity is not over yet",
    }

    def __init__(self, code: str, **extra: object) -> None:
        super().__init__(str(extra.get("reason") or self.MESSAGES.get(code, code)))
        self.code, self.extra = code, extra


@dataclass(frozen=True)
class ActivityDraft:
    title: str
    place: str
    starts_at: datetime
    ends_at: datetime
    signup_deadline: datetime
    capacity: int
    street_ref: str | None = None  # a street's code or name; neither: district-wide
    description: str = ""
    street_id: int | None = None
    need: str | None = None  # one of the needs survey's: announced to who ticked it


@dataclass(frozen=True)
class ActivityView:
    id: int
    title: str
    place: str
    description: str
    street: str | None  # None: district-wide
    starts_at: datetime
    ends_at: datetime
    signup_deadline: datetime
    capacity: int
    confirmed: int
    waiting: int
    status: str
    mine: str | None = None  # this member's sign-up: confirmed, waiting, cancelled
    signup_id: int | None = None
    attended_at: datetime | None = None
    position: int | None = None  # on the waitlist, from 1
    street_id: int | None = None


@dataclass(frozen=True)
class SignUp:
    status: str  # confirmed or waiting
    position: int | None  # on the waitlist


@dataclass(frozen=True)
class CheckIn:
    activity: str
    member_number: str
    name: str
    at: datetime


@dataclass(frozen=True)
class Attendee:
    member_number: str
    name: str
    status: str
    attended_at: datetime | None


def validate(draft: ActivityDraft, now: datetime) -> None:
    """The same rules for the chat dialogue and the command line."""

    def refuse(reason: str) -> None:
        raise ActivityRefused("invalid", reason=reason)

    if not draft.title.strip() or len(draft.title.strip()) > 60:
        refuse("the title must have 1 to 60 characters")
    if not draft.place.strip() or len(draft.place.strip()) > 100:
        refuse("the place must have 1 to 100 characters")
    if not 1 <= draft.capacity <= MAX_CAPACITY:
        refuse(f"the capacity must be between 1 and {MAX_CAPACITY}")
    if draft.starts_at <= now:
        refuse("the activity must start in the future")
    if draft.ends_at <= draft.starts_at:
        refuse("the activity must end after it starts")
    if not now < draft.signup_deadline <= draft.starts_at:
        refuse("the sign-up deadline must be in the future and not after the start")


class ActivityService:
    def __init__(self, db: Database, signer: CardSigner) -> None:
        """`signer`: a CardSigner with TOKEN_PURPOSE (bot.app.load_keys makes it)."""
        self.db = db
        self.signer = signer

    # ------------------------------------------------------------------------ staff

    async def create(self, draft: ActivityDraft, actor: Actor, now: datetime | None = None) -> int:
        """Create and announce. Street staff create for their own street; federation staff
        (and the command line) for any street or the whole district."""
        now = now or utcnow()
        validate(draft, now)
        async with self.db.transaction() as session:
            street_id = draft.street_id
            if draft.street_ref is not None:
                street_id = (await street_by_ref(session, draft.street_ref)).id
            await _require_staff(session, actor, street_id)
            activity = Activity(
                street_id=street_id, title=draft.title.strip(), place=draft.place.strip(),
                description=draft.description.strip(), starts_at=draft.starts_at,
                ends_at=draft.ends_at, signup_deadline=draft.signup_deadline,
                capacity=draft.capacity, need=check_need(draft.need), confirmed=0,
                status="open",
                created_by_user_id=actor.user_id, created_by_name=actor.name[:60],
            )  # fmt: skip
            session.add(activity)
            await session.flush()
            users = await audience(session, street_id, activity.need)
            announced = await announce(
                session, users, "activity_announced", activity_id=activity.id
            )
            after = {"title": activity.title, "capacity": activity.capacity,
                     "street": draft.street_ref, "announced": announced}  # fmt: skip
            await record(session, actor, "activity.created", "activity", activity.id, after=after)
            return activity.id

    async def street_of(self, actor: Actor) -> int | None:
        """The street a street-staff member works for; None for federation staff."""
        async with self.db.read() as session:
            return await _staff_street(session, actor)

    async def close(self, activity_id: int, actor: Actor, now: datetime | None = None) -> int:
        """After the end: attendance becomes final (the cost may then be booked). The
        number who attended."""
        now = now or utcnow()
        async with self.db.transaction() as session:
            activity = await _locked(session, activity_id)
            await _require_staff(session, actor, activity.street_id)
            if activity.status != "open":
                raise ActivityRefused("not_open")
            if now < activity.ends_at:
                raise ActivityRefused("not_over")
            activity.status, activity.closed_at = "closed", now
            attended = await _attended(session, activity_id)
            await record(session, actor, "activity.closed", "activity", activity_id,
                         after={"attended": attended})  # fmt: skip
            return attended

    async def call_off(
        self, activity_id: int, actor: Actor, reason: str, now: datetime | None = None
    ) -> int:
        """Cancel the whole activity before it starts (weather, the place unavailable):
        everyone signed up or waiting is told. The number told."""
        now = now or utcnow()
        reason = reason.strip()
        if not reason:
            raise ActivityRefused("invalid", reason="say why the activity is cancelled")
        async with self.db.transaction() as session:
            activity = await _locked(session, activity_id)
            await _require_staff(session, actor, activity.street_id)
            if activity.status != "open":
                raise ActivityRefused("not_open")
            if now >= activity.starts_at:
                raise ActivityRefused("under_way")
            activity.status, activity.closed_at = "cancelled", now
            rows = await session.execute(
                select(SIGNUPS.c.id, Member.telegram_user_id)
                .join(Member, Member.id == SIGNUPS.c.member_id)
                .where(SIGNUPS.c.activity_id == activity_id,
                       SIGNUPS.c.status.in_(("confirmed", "waiting")),
                       Member.status == "active", Member.telegram_user_id.is_not(None))
            )  # fmt: skip
            messages = [
                (user, "activity_called_off", {"signup_id": signup}) for signup, user in rows
            ]
            told = await enqueue_batched(session, messages)
            await record(session, actor, "activity.cancelled_by_staff", "activity", activity_id,
                         after={"reason": reason[:200], "told": told})  # fmt: skip
            return told

    async def attendance(
        self, activity_id: int, actor: Actor
    ) -> tuple[ActivityView, list[Attendee]]:
        """Who signed up and who came (staff of the activity's street, or the federation)."""
        async with self.db.read() as session:
            activity = await session.get(Activity, activity_id)
            if activity is None:
                raise ActivityRefused("unknown")
            await _require_staff(session, actor, activity.street_id)
            rows = await session.execute(
                select(Member.number, Application.name, SIGNUPS.c.status, SIGNUPS.c.attended_at)
                .join(Member, Member.id == SIGNUPS.c.member_id)
                .join(Application, Application.id == Member.application_id)
                .where(SIGNUPS.c.activity_id == activity_id, SIGNUPS.c.status != "cancelled")
                .order_by(SIGNUPS.c.status, SIGNUPS.c.queued_at, SIGNUPS.c.id)
            )
            people = [Attendee(*row) for row in rows]
            return (await _views(session, [activity]))[0], people

    async def for_staff(self, actor: Actor, now: datetime | None = None) -> list[ActivityView]:
        """Open activities and those ended in the last 30 days, of the person's street (the
        district's and every street's for federation staff)."""
        now = now or utcnow()
        async with self.db.read() as session:
            street_id = await _staff_street(session, actor)
            query = select(Activity).where(
                or_(Activity.status == "open", Activity.ends_at >= now - timedelta(days=30))
            )
            if street_id is not None:
                query = query.where(Activity.street_id == street_id)
            activities = list(await session.scalars(query.order_by(Activity.starts_at)))
            return await _views(session, activities)

    async def send_reminders(self, now: datetime) -> int:
        """The day before: every confirmed member of an activity starting within a day is
        reminded, once (the activity's reminder is claimed by a conditional UPDATE)."""
        async with self.db.transaction() as session:
            due = list(
                await session.scalars(
                    update(Activity)
                    .where(Activity.status == "open", Activity.reminded_at.is_(None),
                           Activity.starts_at > now, Activity.starts_at <= now + REMIND_BEFORE)
                    .values(reminded_at=now)
                    .returning(Activity.id)
                )
            )  # fmt: skip
            if not due:
                return 0
            rows = await session.execute(
                select(SIGNUPS.c.id, Member.telegram_user_id)
                .join(Member, Member.id == SIGNUPS.c.member_id)
                .where(SIGNUPS.c.activity_id.in_(due), SIGNUPS.c.status == "confirmed",
                       Member.status == "active", Member.telegram_user_id.is_not(None))
            )  # fmt: skip
            messages = [(user, "activity_reminder", {"signup_id": signup}) for signup, user in rows]
            return await enqueue_batched(session, messages)

    # ------------------------------------------------------------------------ members

    async def for_member(self, user_id: int, now: datetime | None = None) -> list[ActivityView]:
        """Activities the member may sign up for, and those they are on, not yet over."""
        now = now or utcnow()
        async with self.db.read() as session:
            member = await _member(session, user_id)
            mine = select(SIGNUPS.c.activity_id).where(SIGNUPS.c.member_id == member.id)
            activities = list(
                await session.scalars(
                    select(Activity)
                    .where(Activity.ends_at > now, Activity.status == "open")
                    .where(or_(Activity.street_id.is_(None),
                               Activity.street_id == member.street_id,
                               Activity.id.in_(mine)))
                    .order_by(Activity.starts_at, Activity.id)
                )
            )  # fmt: skip
            return await _views(session, activities, member.id)

    async def sign_up(self, user_id: int, activity_id: int, now: datetime | None = None) -> SignUp:
        now = now or utcnow()
        try:
            async with self.db.transaction() as session:
                member = await _member(session, user_id)
                activity = await _locked(session, activity_id)
                if activity.street_id not in (None, member.street_id):
                    raise ActivityRefused("not_yours")
                if activity.status != "open":
                    raise ActivityRefused("not_open")
                if now >= activity.signup_deadline:
                    raise ActivityRefused("deadline")
                signup = await session.scalar(
                    select(ActivitySignup).where(
                        ActivitySignup.activity_id == activity_id,
                        ActivitySignup.member_id == member.id,
                    )
                )
                if signup is not None and signup.status != "cancelled":
                    raise ActivityRefused("signed_up", status=signup.status)
                if signup is None:
                    signup = ActivitySignup(activity_id=activity_id, member_id=member.id)
                    session.add(signup)
                # Under the activity's lock: a free place is free, and nobody waits for it
                # (a cancellation gives its place to the first waiting member at once).
                confirmed = activity.confirmed < activity.capacity
                if confirmed:
                    activity.confirmed += 1
                signup.status = "confirmed" if confirmed else "waiting"
                signup.queued_at, signup.cancelled_at = now, None
                signup.confirmed_at = now if confirmed else None
                await session.flush()
                await record(session, Actor(user_id, "member"), "activity.signed_up", "activity",
                             activity_id, after={"member": member.number,
                                                 "status": signup.status})  # fmt: skip
                position = None if confirmed else await _position(session, signup)
                return SignUp(signup.status, position)
        except IntegrityError:  # the same member's two presses at once: the first counts
            raise ActivityRefused("signed_up") from None

    async def cancel(self, user_id: int, activity_id: int, now: datetime | None = None) -> None:
        """Give up a place (or leave the waitlist); a freed place goes to the first waiting
        member, who is told."""
        now = now or utcnow()
        async with self.db.transaction() as session:
            member = await _member(session, user_id)
            activity = await _locked(session, activity_id)
            signup = await session.scalar(
                select(ActivitySignup).where(
                    ActivitySignup.activity_id == activity_id,
                    ActivitySignup.member_id == member.id,
                    ActivitySignup.status != "cancelled",
                )
            )
            if signup is None:
                raise ActivityRefused("not_signed_up")
            if activity.status != "open":
                raise ActivityRefused("not_open")
            if now >= activity.starts_at:
                raise ActivityRefused("started")
            was = signup.status
            signup.status, signup.cancelled_at = "cancelled", now
            promoted = None
            if was == "confirmed":
                promoted = await session.scalar(
                    select(ActivitySignup)
                    .where(ActivitySignup.activity_id == activity_id,
                           ActivitySignup.status == "waiting")
                    .order_by(ActivitySignup.queued_at, ActivitySignup.id)
                    .limit(1)
                )  # fmt: skip
                if promoted is None:
                    activity.confirmed -= 1
                else:
                    promoted.status, promoted.confirmed_at = "confirmed", now
            await session.flush()
            after = {"member": member.number, "was": was}
            if promoted is not None:
                promoted_member = await session.get_one(Member, promoted.member_id)
                after["promoted"] = promoted_member.number
                if promoted_member.telegram_user_id is not None:
                    await enqueue_many(session, [(promoted_member.telegram_user_id,
                                                  "activity_promoted",
                                                  {"signup_id": promoted.id})])  # fmt: skip
            await record(session, Actor(user_id, "member"), "activity.cancelled", "activity",
                         activity_id, after=after)  # fmt: skip

    def check_in_token(self, signup_id: int) -> str:
        return self.signer.token(signup_id)

    async def check_in(self, token: str, actor: Actor, now: datetime | None = None) -> CheckIn:
        """Staff scanned a member's code at the door: recorded once, within the window,
        by staff of the activity's street (of the member's street for a district-wide
        one) or the federation's."""
        now = now or utcnow()
        signup_id = self.signer.member_id(token)
        if signup_id is None:
            raise ActivityRefused("forged")
        async with self.db.transaction() as session:
            row = (
                await session.execute(
                    select(ActivitySignup, Activity, Member.number, Member.street_id,
                           Application.name)
                    .join(Activity, Activity.id == ActivitySignup.activity_id)
                    .join(Member, Member.id == ActivitySignup.member_id)
                    .join(Application, Application.id == Member.application_id)
                    .where(ActivitySignup.id == signup_id)
                )
            ).first()  # fmt: skip
            if row is None:
                raise ActivityRefused("forged")
            signup, activity, number, member_street, name = row
            await _require_staff(session, actor, activity.street_id or member_street)
            if activity.status != "open":
                raise ActivityRefused("not_open")
            if signup.status != "confirmed":
                raise ActivityRefused("not_confirmed")
            opens = activity.starts_at - DOORS_OPEN
            if now < opens:
                raise ActivityRefused("too_early", opens=opens)
            if now > activity.ends_at:
                raise ActivityRefused("too_late", ends=activity.ends_at)
            done = await session.execute(
                update(SIGNUPS)
                .where(SIGNUPS.c.id == signup_id, SIGNUPS.c.attended_at.is_(None))
                .values(attended_at=now, checked_in_by_user_id=actor.user_id,
                        checked_in_by_name=actor.name[:60])
            )  # fmt: skip
            if not done.rowcount:  # type: ignore[attr-defined]
                raise ActivityRefused("checked_in", at=signup.attended_at,
                                      by=signup.checked_in_by_name)  # fmt: skip
            await record(session, actor, "activity.checked_in", "activity", activity.id,
                         after={"member": number})  # fmt: skip
            return CheckIn(activity.title, number, name, now)

    # ------------------------------------------------------------------------ announcements

    async def set_announcements(self, user_id: int, on: bool) -> None:
        """/notify on|off: whether this person is told about new activities and benefits."""
        async with self.db.transaction() as session:
            row = await session.get(AnnouncementOptOut, user_id)
            if on and row is not None:
                await session.delete(row)
            elif not on and row is None:
                session.add(AnnouncementOptOut(telegram_user_id=user_id, since=utcnow()))

    async def announcements_on(self, user_id: int) -> bool:
        async with self.db.read() as session:
            return await session.get(AnnouncementOptOut, user_id) is None


# ---------------------------------------------------------------------------- helpers


async def _member(session: AsyncSession, user_id: int) -> Member:
    member = await active_member(session, user_id)
    if member is None:
        raise ActivityRefused("not_member")
    return member


async def _locked(session: AsyncSession, activity_id: int) -> Activity:
    """The activity's row, locked until the transaction ends (PostgreSQL; SQLite's write
    transactions are serial)."""
    activity = await session.scalar(
        select(Activity)
        .where(Activity.id == activity_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if activity is None:
        raise ActivityRefused("unknown")
    return activity


async def _staff_street(session: AsyncSession, actor: Actor) -> int | None:
    """None for federation staff, administrators and the command line; the street of a
    street's staff member; NotAllowed for anyone else."""
    if actor.user_id is None or await has_role(session, actor.user_id, DISTRICT_ROLES):
        return None
    street_id = await session.scalar(
        select(Staff.street_id).where(
            Staff.telegram_user_id == actor.user_id, Staff.active.is_(True),
            Staff.role == "street",
        ).limit(1)
    )  # fmt: skip
    if street_id is None:
        raise NotAllowed()
    return street_id


async def _require_staff(session: AsyncSession, actor: Actor, street_id: int | None) -> None:
    """Federation staff act on anything; a street's staff on their street's activities
    (a district-wide one, street_id None, is the federation's)."""
    if street_id is None:
        allowed = actor.user_id is None or await has_role(session, actor.user_id, DISTRICT_ROLES)
    else:
        allowed = await is_staff_for(session, actor, street_id)
    if not allowed:
        raise NotAllowed()


async def _attended(session: AsyncSession, activity_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count()).where(
                SIGNUPS.c.activity_id == activity_id, SIGNUPS.c.attended_at.is_not(None)
            )
        )
        or 0
    )


async def _position(session: AsyncSession, signup: ActivitySignup) -> int:
    ahead = await session.scalar(
        select(func.count()).where(
            SIGNUPS.c.activity_id == signup.activity_id,
            SIGNUPS.c.status == "waiting",
            or_(SIGNUPS.c.queued_at < signup.queued_at,
                (SIGNUPS.c.queued_at == signup.queued_at) & (SIGNUPS.c.id < signup.id)),
        )
    )  # fmt: skip
    return int(ahead or 0) + 1


async def _views(
    session: AsyncSession, activities: Iterable[Activity], member_id: int | None = None
) -> list[ActivityView]:
    activities = list(activities)
    ids = [a.id for a in activities]
    if not ids:
        return []
    waiting: dict[int, int] = {
        activity_id: int(count)
        for activity_id, count in await session.execute(
            select(SIGNUPS.c.activity_id, func.count())
            .where(SIGNUPS.c.activity_id.in_(ids), SIGNUPS.c.status == "waiting")
            .group_by(SIGNUPS.c.activity_id)
        )
    }
    street_ids = {a.street_id for a in activities if a.street_id is not None}
    streets: dict[int, str] = {
        street_id: name
        for street_id, name in await session.execute(
            select(Street.id, Street.name).where(Street.id.in_(street_ids))
        )
    }
    mine: dict[int, ActivitySignup] = {}
    if member_id is not None:
        for signup in await session.scalars(
            select(ActivitySignup).where(
                ActivitySignup.activity_id.in_(ids), ActivitySignup.member_id == member_id
            )
        ):
            mine[signup.activity_id] = signup
    views = []
    for a in activities:
        signup = mine.get(a.id)
        position = None
        if signup is not None and signup.status == "waiting":
            position = await _position(session, signup)
        views.append(ActivityView(
            a.id, a.title, a.place, a.description,
            streets.get(a.street_id) if a.street_id is not None else None,
            a.starts_at, a.ends_at, a.signup_deadline, a.capacity, a.confirmed,
            int(waiting.get(a.id, 0)), a.status,
            signup.status if signup else None, signup.id if signup else None,
            signup.attended_at if signup else None, position, a.street_id,
        ))  # fmt: skip
    return views


async def activity_view(session: AsyncSession, activity_id: int) -> ActivityView:
    """An outbox view's read of an activity (NotFound when it is gone)."""
    activity = await session.get(Activity, activity_id)
    if activity is None:
        raise NotFound()
    return (await _views(session, [activity]))[0]


async def signup_view(session: AsyncSession, signup_id: int) -> ActivityView:
    """An activity as the member of this sign-up sees it (NotFound when it is gone)."""
    signup = await session.get(ActivitySignup, signup_id)
    if signup is None:
        raise NotFound()
    activity = await session.get_one(Activity, signup.activity_id)
    return (await _views(session, [activity], signup.member_id))[0]
