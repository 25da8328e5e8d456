"""Turning an outbox row into the Bot API call to make, at send time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from aiogram.methods.base import TelegramMethod
from aiogram.types import InlineKeyboardMarkup
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import workdays
from bot.db import Database
from bot.handoff import unseal
from bot.i18n import CatalogI18n
from bot.i18n import translate as _
from bot.pii import PiiCipher, mask_mobile, mask_resident_id
from bot.render.card import CardData, render_card_async
from bot.render.charts import new_members_png
from bot.render.fonts import FontStack
from bot.services.activities import activity_view, signup_view
from bot.services.alias_proposals import proposal_view
from bot.services.benefits import benefit_view
from bot.services.cards import CardFacts, CardService, CardSigner
from bot.services.errors import NotFound
from bot.services.founding import CaseView
from bot.services.founding import case_view as read_case
from bot.services.job_changes import RequestView, request_view
from bot.services.membership import events_of, transfer_view
from bot.services.preferences import PreferenceService
from bot.services.rosters import roster, roster_xlsx
from bot.services.service_levels import ServiceLevels
from bot.services.stats import Period, StatsService
from bot.timefmt import BEIJING, local
from bot.views import activity as activity_text
from bot.views import alert as alert_view
from bot.views import alias as alias_text
from bot.views import benefit as benefit_text
from bot.views import case as case_view
from bot.views import delivery as delivery_view
from bot.views import job_change as job_view
from bot.views import review as review_view
from bot.views import service as service_view
from bot.views import stats as stats_view
from bot.views import worker as worker_view
from models import (
    AnnouncementOptOut,
    Application,
    Enterprise,
    Member,
    ReceptionPoint,
    Street,
    ThresholdAlert,
    UnionOrg,
)
from models.base import utcnow

T = TypeVar("T")
# Announcements a member may refuse with /notify off.
ANNOUNCEMENTS = frozenset({"activity_announced", "benefit_announced"})


class Gone(Exception):
    """What the row refers to no longer exists; there is nothing to send."""


@dataclass(frozen=True)
class Outgoing:
    text: str
    reply_markup: InlineKeyboardMarkup | None = None
    edit_message_id: int | None = None
    photo: bytes | None = None
    document: tuple[str, bytes] | None = None  # (file name, content)
    # A ready method call (a handler's reply handed over): sent as it is.
    method: TelegramMethod[Any] | None = None


@dataclass(frozen=True)
class ViewContext:
    db: Database
    cipher: PiiCipher
    cards: CardService
    signer: CardSigner
    i18n: CatalogI18n
    fonts: FontStack
    bot_username: str
    threshold: int
    staff_locale: str
    preferences: PreferenceService
    service_levels: ServiceLevels
    case_idle_days: int = 30


class OutboxViews:
    def __init__(self, context: ViewContext) -> None:
        self.c = context

    async def render(self, chat_id: int, kind: str, payload: dict[str, Any]) -> Outgoing:
        if kind in ANNOUNCEMENTS and await self._opted_out(chat_id):
            raise Gone()  # /notify off after the announcement was queued
        locale = await self._locale(chat_id)
        with self.c.i18n.context(), self.c.i18n.use_locale(locale):
            return await getattr(self, f"_{kind}")(**payload)

    async def _opted_out(self, chat_id: int) -> bool:
        async with self.c.db.read() as session:
            return await session.get(AnnouncementOptOut, chat_id) is not None

    async def _locale(self, chat_id: int) -> str:
        if chat_id < 0:  # groups: staff read the default language
            return self.c.staff_locale
        chosen = await self.c.preferences.locale_of(chat_id)  # cached per process
        if chosen is not None:
            return chosen
        async with self.c.db.read() as session:
            language = await session.scalar(
                select(Application.language)
                .where(Application.telegram_user_id == chat_id)
                .order_by(Application.id.desc())
                .limit(1)
            )
        return language or self.c.i18n.default_locale

    # --- staff -----------------------------------------------------------------------
    async def _review_card(self, application_id: int) -> Outgoing:
        card = await self._review_data(application_id)
        markup = review_view.review_keyboard(application_id) if card.status == "submitted" else None
        return Outgoing(review_view.review_card_text(card, _today()), markup)

    async def _review_card_edit(self, application_id: int, message_id: int) -> Outgoing:
        """The card as it stands now: decided cards lose their buttons, cards still
        waiting (e.g. after staff fixed the employer) keep them."""
        card = await self._review_data(application_id)
        text = review_view.review_card_text(card, _today())
        markup = review_view.review_keyboard(application_id) if card.status == "submitted" else None
        return Outgoing(text, markup, edit_message_id=message_id)

    async def _review_data(self, application_id: int) -> review_view.ReviewCardData:
        async with self.c.db.read() as session:
            row = (
                await session.execute(
                    select(Application, Enterprise, Street, ReceptionPoint.name)
                    .join(Enterprise, Enterprise.id == Application.enterprise_id)
                    .join(Street, Street.id == Application.street_id)
                    .outerjoin(ReceptionPoint, ReceptionPoint.id == Application.point_id)
                    .where(Application.id == application_id)
                )
            ).first()
        if row is None:
            raise Gone()
        application, enterprise, street, point_name = row
        return review_view.ReviewCardData(
            application_id=application.id,
            number=application.number,
            name=application.name,
            masked_id=mask_resident_id(
                self.c.cipher.decrypt(application.ric_cipher, context="ric")
            ),
            masked_mobile=mask_mobile(
                self.c.cipher.decrypt(application.mobile_cipher, context="mobile")
            ),
            gender=application.gender,
            birth_date=application.birth_date,
            employer=enterprise.name,
            enterprise_count=enterprise.member_count,
            threshold=self.c.threshold,
            provisional=enterprise.provisional,
            # As the enterprise is now: a merge or a registry import may have changed it;
            # an application for the enterprise union founded through the bot is no
            # "joint union anyway" case.
            own_union=(enterprise.union_name or "")
            if enterprise.has_union and application.union_org_id is None
            else None,
            union_name=await self._union_name(application.union_org_id),
            street_name=street.name,
            point_name=point_name,
            submitted_at=application.submitted_at,
            status=application.status,
            decided_by=application.decided_by_name,
            decided_at=application.decided_at,
            reject_reason=application.reject_reason,
            reject_note=application.reject_note,
            assisted_by=application.assisted_by_name,
            channel=application.channel,
            typed=application.employer_typed,
            branch=application.employer_branch,
        )

    async def _union_name(self, union_id: int | None) -> str | None:
        if union_id is None:
            return None
        async with self.c.db.read() as session:
            return await session.scalar(select(UnionOrg.name).where(UnionOrg.id == union_id))

    # --- worker ----------------------------------------------------------------------
    async def _application_received(self, application_id: int) -> Outgoing:
        async with self.c.db.read() as session:
            row = (
                await session.execute(
                    select(Application.number, Street.name)
                    .join(Street, Street.id == Application.street_id)
                    .where(Application.id == application_id)
                )
            ).first()
        if row is None:
            raise Gone()
        return Outgoing(worker_view.received_text(row[0], row[1]))

    async def _approved(self, member_id: int) -> Outgoing:
        async with self.c.db.read() as session:
            row = (
                await session.execute(
                    select(Application.number, Member.number, UnionOrg.name)
                    .join(Member, Member.application_id == Application.id)
                    .join(UnionOrg, UnionOrg.id == Member.union_org_id)
                    .where(Member.id == member_id)
                )
            ).first()
        if row is None:
            raise Gone()
        return Outgoing(worker_view.approved_text(*row))

    async def _rejected(self, application_id: int) -> Outgoing:
        async with self.c.db.read() as session:
            application = await session.get(Application, application_id)
        if application is None:
            raise Gone()
        return Outgoing(
            worker_view.rejected_text(
                application.number, application.reject_reason, application.reject_note
            )
        )

    async def _member_card(self, member_id: int) -> Outgoing:
        facts = await self.c.cards.facts(member_id)
        if facts is None or not facts.active:
            raise Gone()
        photo = await render_member_card(facts, self.c)
        return Outgoing(worker_view.card_caption(facts), photo=photo)

    async def _membership_moved(self, member_id: int) -> Outgoing:
        async with self.c.db.read() as session:
            member = await session.get(Member, member_id)
            if member is None or member.status != "active":
                raise Gone()
            union = await session.get_one(UnionOrg, member.union_org_id)
            history = await events_of(session, member_id)
        last = history[-1] if history else None
        source = last.from_union if last else None
        corrected = last is not None and last.reason == "correction"
        return Outgoing(worker_view.moved_text(member.number, source, union.name, corrected))

    async def _job_change_received(self, request_id: int) -> Outgoing:
        return Outgoing(job_view.received_text(await self._job_change(request_id)))

    async def _job_change_decided(self, request_id: int) -> Outgoing:
        return Outgoing(job_view.decided_text(await self._job_change(request_id)))

    async def _job_change_card(self, request_id: int) -> Outgoing:
        request = await self._job_change(request_id)
        return Outgoing(job_view.card_text(request), job_view.card_keyboard(request))

    async def _job_change_card_edit(self, request_id: int, message_id: int) -> Outgoing:
        request = await self._job_change(request_id)
        return Outgoing(
            job_view.card_text(request), job_view.card_keyboard(request),
            edit_message_id=message_id,
        )  # fmt: skip

    async def _job_change(self, request_id: int) -> RequestView:
        return await self._read(request_view, request_id)

    async def _service_card_arrived(self, member_id: int) -> Outgoing:
        async with self.c.db.read() as session:
            member = await session.get(Member, member_id)
            if member is None or member.status != "active":
                raise Gone()
            street = await session.get_one(Street, member.street_id)
        return Outgoing(worker_view.service_card_arrived_text(street.name, street.contact))

    async def _activity_announced(self, activity_id: int) -> Outgoing:
        activity = await self._read(activity_view, activity_id)
        if activity.status != "open" or activity.signup_deadline <= utcnow():
            raise Gone()  # too late to sign up: no point announcing it
        return Outgoing(
            activity_text.announcement_text(activity), activity_text.join_keyboard(activity.id)
        )

    async def _activity_called_off(self, signup_id: int) -> Outgoing:
        activity = await self._read(signup_view, signup_id)
        contact = None
        if activity.street_id is not None:
            async with self.c.db.read() as session:
                contact = (await session.get_one(Street, activity.street_id)).contact
        return Outgoing(activity_text.called_off_text(activity, contact))

    async def _benefit_announced(self, benefit_id: int) -> Outgoing:
        benefit = await self._read(benefit_view, benefit_id)
        if benefit.left <= 0 or benefit.valid_to < local(utcnow()).date():
            raise Gone()  # nothing left to claim
        return Outgoing(
            benefit_text.announcement_text(benefit), benefit_text.claim_keyboard(benefit.id)
        )

    async def _activity_promoted(self, signup_id: int) -> Outgoing:
        activity = await self._read(signup_view, signup_id)
        if activity.mine != "confirmed" or activity.status != "open":
            raise Gone()  # cancelled again meanwhile
        return Outgoing(activity_text.promoted_text(activity))

    async def _activity_reminder(self, signup_id: int) -> Outgoing:
        activity = await self._read(signup_view, signup_id)
        if activity.mine != "confirmed" or activity.status != "open":
            raise Gone()
        return Outgoing(activity_text.reminder_text(activity))

    async def _reply(self, sealed: str, edits: int | None = None) -> Outgoing:
        return Outgoing("", method=unseal(self.c.cipher, sealed))

    # --- staff: what could not be delivered ------------------------------------------
    async def _delivery_failed(
        self,
        failed_kind: str,
        reason: str,
        application_id: int | None = None,
        chat: int | None = None,
    ) -> Outgoing:
        if chat is not None:
            return Outgoing(delivery_view.to_federation_text(failed_kind, reason, chat))
        number = None
        if application_id is not None:
            async with self.c.db.read() as session:
                number = await session.scalar(
                    select(Application.number).where(Application.id == application_id)
                )
        return Outgoing(delivery_view.to_street_text(failed_kind, reason, number))

    # --- federation ------------------------------------------------------------------
    async def _case_card(self, case_id: int) -> Outgoing:
        case = await self._case(case_id)
        return Outgoing(case_view.case_text(case, utcnow()), case_view.case_keyboard(case))

    async def _case_card_edit(self, case_id: int, message_id: int) -> Outgoing:
        case = await self._case(case_id)
        return Outgoing(
            case_view.case_text(case, utcnow()),
            case_view.case_keyboard(case),
            edit_message_id=message_id,
        )

    async def _transfer_done(self, transfer_id: int) -> Outgoing:
        """The outcome and the receiving union's member list, masked (a group reads it)."""
        transfer = await self._read(transfer_view, transfer_id)
        name, rows = await roster(self.c.db, self.c.cipher, transfer.to_union_id)
        data = await asyncio.to_thread(roster_xlsx, rows)
        return Outgoing(
            case_view.transfer_done_text(name, transfer.moved, len(rows)),
            document=(f"会员名册-{name}.xlsx", data),
        )

    async def _review_digest(self, street_id: int, day: str) -> Outgoing:
        waiting = await self.c.service_levels.waiting(street_id, utcnow())
        if not waiting:  # decided meanwhile
            raise Gone()
        async with self.c.db.read() as session:
            street = await session.get_one(Street, street_id)
        promised = self.c.service_levels.promised_days(street)
        after = self.c.service_levels.settings.digest_after_days
        return Outgoing(service_view.digest_text(waiting, after, promised))

    async def _alert_reminder(self, alert_id: int) -> Outgoing:
        async with self.c.db.read() as session:
            alert = await session.get(ThresholdAlert, alert_id)
            if alert is None or alert.followed_by_name is not None:
                raise Gone()  # followed up meanwhile
            enterprise = await session.get_one(Enterprise, alert.enterprise_id)
        days = workdays.workdays_between(local(alert.created_at).date(), local(utcnow()).date())
        return Outgoing(
            service_view.alert_reminder_text(alert_id, enterprise.name, alert.member_count, days),
            service_view.alert_reminder_keyboard(alert_id),
        )

    async def _weekly_digest(self, week: str, since: str, until: str) -> Outgoing:
        stats = self._stats()
        period = Period.between(date.fromisoformat(since), date.fromisoformat(until))
        text = stats_view.weekly_text(
            await stats.overview(None, period), await stats.by_street(period),
            await stats.next_to_found(None, limit=5), await stats.cases_by_stage(None),
            self.c.case_idle_days,
        )  # fmt: skip
        return Outgoing(text)

    async def _weekly_digest_chart(self, week: str) -> Outgoing:
        months = await self._stats().monthly_new_members(None, months=12)
        png = await asyncio.to_thread(new_members_png, months, self.c.fonts)
        return Outgoing(_("每月新会员（近 12 个月，按街道）"), photo=png)

    def _stats(self) -> StatsService:
        return StatsService(self.c.db, self.c.threshold, self.c.service_levels.settings.review_days)

    async def _case_reminder(self, case_id: int, why: str) -> Outgoing:
        return Outgoing(case_view.reminder_text(await self._case(case_id), why, utcnow()))

    async def _case(self, case_id: int) -> CaseView:
        return await self._read(read_case, case_id)

    async def _read(self, view: Callable[[AsyncSession, int], Awaitable[T]], ident: int) -> T:
        """A service's view of a row; Gone when the row no longer exists."""
        try:
            async with self.c.db.read() as session:
                return await view(session, ident)
        except NotFound:
            raise Gone() from None

    async def _alias_proposal(self, proposal_id: int) -> Outgoing:
        proposal = await self._read(proposal_view, proposal_id)
        return Outgoing(alias_text.proposal_text(proposal), alias_text.proposal_keyboard(proposal))

    async def _alias_proposal_edit(self, proposal_id: int, message_id: int) -> Outgoing:
        proposal = await self._read(proposal_view, proposal_id)
        return Outgoing(alias_text.proposal_text(proposal), None, edit_message_id=message_id)

    async def _threshold_alert(self, alert_id: int) -> Outgoing:
        data = await self._alert_data(alert_id)
        return Outgoing(alert_view.alert_text(data), alert_view.alert_keyboard(data))

    async def _alert_followed_edit(self, alert_id: int, message_id: int) -> Outgoing:
        data = await self._alert_data(alert_id)
        return Outgoing(alert_view.alert_text(data), None, edit_message_id=message_id)

    async def _alert_data(self, alert_id: int) -> alert_view.AlertData:
        async with self.c.db.read() as session:
            alert = await session.get(ThresholdAlert, alert_id)
            if alert is None:
                raise Gone()
            enterprise = await session.get_one(Enterprise, alert.enterprise_id)
            active = (Member.enterprise_id == enterprise.id, Member.status == "active")
            unions = list(
                await session.scalars(
                    select(UnionOrg.name)
                    .join(Member, Member.union_org_id == UnionOrg.id)
                    .where(*active)
                    .group_by(UnionOrg.name)
                    .order_by(UnionOrg.name)
                )
            )
            points = [
                (name, channel, int(count))
                for name, channel, count in await session.execute(
                    select(ReceptionPoint.name, Application.channel, func.count(Member.id))
                    .select_from(Member)
                    .join(Application, Application.id == Member.application_id)
                    .outerjoin(ReceptionPoint, ReceptionPoint.id == Application.point_id)
                    .where(*active)
                    .group_by(ReceptionPoint.name, Application.channel)
                    .order_by(func.count(Member.id).desc(), ReceptionPoint.name)
                )
            ]
            first, last = (
                await session.execute(
                    select(func.min(Member.joined_at), func.max(Member.joined_at)).where(*active)
                )
            ).one()
        return alert_view.AlertData(
            alert_id=alert.id,
            enterprise=enterprise.name,
            uscc=enterprise.uscc,
            member_count=enterprise.member_count,
            threshold=alert.threshold,
            unions=unions,
            points=points,
            first_joined=_aware(first) or alert.created_at,
            last_joined=_aware(last) or alert.created_at,
            followed_by=alert.followed_by_name,
            followed_at=alert.followed_at,
        )


async def render_member_card(facts: CardFacts, context: ViewContext) -> bytes:
    verify_url = (
        f"https://t.me/{context.bot_username}?start=v_{context.signer.token(facts.member_id)}"
    )
    data = CardData(
        union_name=facts.union_name,
        member_name=facts.name,
        member_number=facts.member_number,
        join_date=facts.joined_at.astimezone(BEIJING).date(),
        masked_id=facts.masked_id,
        verify_url=verify_url,
    )
    return await render_card_async(data, context.fonts)


def _today() -> date:
    return utcnow().astimezone(BEIJING).date()


def _aware(value: Any) -> datetime | None:
    # Aggregates bypass the column type, so SQLite hands back naive or text values.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
