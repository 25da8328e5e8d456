"""The composition root: the only place that knows config, services, handlers and transport."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram import methods as methods_
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.storage.base import BaseEventIsolation
from aiogram.fsm.storage.memory import DisabledEventIsolation
from aiogram.methods.base import Response
from aiogram.types import ErrorEvent, TelegramObject, User
from aiogram.utils.i18n import I18nMiddleware

from bot.commands import CommandMenus
from bot.config import ConfigError, Settings
from bot.db import Database
from bot.exports import ExportService
from bot.fsm_storage import DatabaseStorage
from bot.handoff import OutboxHandoff
from bot.i18n import CatalogI18n, build_i18n, pick_locale
from bot.i18n import translate as _
from bot.inbox import Inbox, UpdateProcessor
from bot.instances import Instance
from bot.keycheck import check_keys
from bot.locks import Locks, open_locks
from bot.migrate import upgrade_async
from bot.outbox_views import OutboxViews, ViewContext
from bot.pacing import make_pacer
from bot.pii import KeyFormatError, LookupHasher, PiiCipher, parse_key
from bot.render.fonts import FontStack, find_font_stack
from bot.sender import OutboxSender
from bot.services.activities import TOKEN_PURPOSE as ACTIVITY_TOKENS
from bot.services.activities import ActivityService
from bot.services.alerts import AlertService
from bot.services.alias_proposals import AliasProposalService
from bot.services.benefits import TOKEN_PURPOSE as BENEFIT_TOKENS
from bot.services.benefits import BenefitService
from bot.services.binding import BindingService
from bot.services.cards import CardService, CardSigner
from bot.services.enterprises import EnterpriseService
from bot.services.founding import FoundingService
from bot.services.four_ones import CompletionService
from bot.services.intake import IntakeService
from bot.services.job_changes import JobChangeService
from bot.services.membership import MembershipService
from bot.services.menus import MenuService
from bot.services.preferences import PreferenceService
from bot.services.privacy import PrivacyService
from bot.services.review import ReviewService
from bot.services.service_cards import ServiceCardService
from bot.services.service_levels import ServiceLevels
from bot.services.stats import StatsService
from bot.services.subsidy import SubsidyService
from bot.services.weekly_digest import WeeklyDigests
from bot.startup import identify
from bot.transport import PacedRequests, ReplyDeferred
from bot.web.sessions import DashboardAuth
from handlers import build_router

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Keys:
    cipher: PiiCipher
    hasher: LookupHasher
    signer: CardSigner
    # Benefit redemption and activity check-in codes: the same key material, a sub-key
    # each, so one kind of code never passes as another.
    benefit_signer: CardSigner
    activity_signer: CardSigner


def load_keys(settings: Settings) -> Keys:
    """Parse the key material, naming the key that is wrong (never printing it)."""
    security = settings.security

    def parse(name: str, text: str) -> bytes:
        try:
            return parse_key(text)
        except KeyFormatError as error:
            raise ConfigError(f"config key security.{name} is invalid: {error}") from None

    keys = {
        key_id: parse(f"old_data_keys.{key_id}", value.get_secret_value())
        for key_id, value in security.old_data_keys.items()
    }
    keys[security.data_key_id] = parse("data_key", security.data_key.get_secret_value())
    lookup = parse("lookup_key", security.lookup_key.get_secret_value())
    return Keys(
        PiiCipher(keys, security.data_key_id), LookupHasher(lookup), CardSigner(lookup),
        CardSigner(lookup, BENEFIT_TOKENS), CardSigner(lookup, ACTIVITY_TOKENS),
    )  # fmt: skip


class LocaleMiddleware(I18nMiddleware):
    def __init__(self, i18n: CatalogI18n, preferences: PreferenceService) -> None:
        super().__init__(i18n=i18n)
        self.preferences = preferences

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        user: User | None = data.get("event_from_user")
        if user is None:
            return self.i18n.default_locale
        chosen = await self.preferences.locale_of(user.id)
        return pick_locale(chosen, user.language_code, self.i18n.default_locale)


def pin_response_types() -> list[type]:
    """aiogram parametrises Response[...] for every API call, and pydantic keeps those
    classes in a weak cache, so they are rebuilt again and again (about a tenth of the
    bot's CPU under load). Holding them strongly makes the cache hit."""
    methods = (
        methods_.GetUpdates, methods_.GetMe, methods_.SendMessage, methods_.SendPhoto,
        methods_.EditMessageText, methods_.EditMessageReplyMarkup, methods_.AnswerCallbackQuery,
        methods_.SetMyCommands, methods_.DeleteWebhook, methods_.SetWebhook,
    )  # fmt: skip
    return [Response[method.__returning__] for method in methods]  # type: ignore[misc]


@dataclass
class App:
    settings: Settings
    db: Database
    bot: Bot
    me: User
    dispatcher: Dispatcher
    sender: OutboxSender
    processor: UpdateProcessor
    inbox: Inbox
    pinned: list[type]
    instance: Instance
    locks: Locks

    @property
    def webhook(self) -> bool:
        return self.instance.mode == "webhook"

    async def close(self) -> None:
        await self.processor.drain()
        await self.dispatcher.storage.close()
        await self.bot.session.close()
        await self.locks.close()
        await self.db.dispose()


def make_bot(settings: Settings) -> Bot:
    api = TelegramAPIServer.from_base(settings.telegram.api_base.rstrip("/"))
    return Bot(
        settings.telegram.token.get_secret_value(),
        session=AiohttpSession(api=api),
        default=DefaultBotProperties(parse_mode="HTML", link_preview_is_disabled=True),
    )


async def build_app(
    settings: Settings,
    *,
    fonts: FontStack | None = None,
    events_isolation: BaseEventIsolation | None = None,
    migrate: bool = True,
    webhook: bool = False,
) -> App:
    keys = load_keys(settings)
    fonts = fonts or find_font_stack(
        settings.render.cjk_font, settings.render.cjk_font_index, settings.render.fallback_fonts
    )
    if migrate:
        await upgrade_async(settings.database.url)
    await check_keys(settings, keys.cipher, keys.hasher)  # a wrong key stops here, named
    db = Database(
        settings.database.url, echo=settings.database.echo, pool_size=settings.database.pool_size
    )
    try:
        return await _assemble(settings, db, keys, fonts, events_isolation, webhook)
    except BaseException:
        await db.dispose()  # its reading thread and watch would keep the process alive
        raise


async def _assemble(
    settings: Settings,
    db: Database,
    keys: Keys,
    fonts: FontStack,
    events_isolation: BaseEventIsolation | None,
    webhook: bool,
) -> App:
    await db.changes.watch()  # the bot caches what staff change (bot/changes.py)
    bot = make_bot(settings)
    me = await identify(bot, settings)  # one clear line, never the token, when it fails
    locks = open_locks(db)
    instance = Instance(db, locks, me.id, "webhook" if webhook else "polling")
    # Every call that sends into a chat waits for the bot-wide flood limits.
    pacer = make_pacer(db, settings.outbox)
    bot.session.middleware(PacedRequests(pacer, OutboxHandoff(db, keys.cipher)))
    i18n = build_i18n(settings.i18n.default_locale)
    threshold = settings.federation.founding_threshold

    preferences = PreferenceService(db)
    service_levels = ServiceLevels(
        db, settings.service, federation_chat_id=settings.federation.chat_id
    )
    cards = CardService(db, keys.cipher, keys.signer)
    storage = DatabaseStorage(db, keys.cipher)
    dispatcher = Dispatcher(
        storage=storage,
        # The update processor already handles one person's updates one at a time.
        events_isolation=events_isolation or DisabledEventIsolation(),
    )
    dispatcher.workflow_data.update(
        intake=IntakeService(db, keys.cipher, keys.hasher),
        review=ReviewService(
            db, federation_chat_id=settings.federation.chat_id, threshold=threshold
        ),
        alerts=AlertService(db),
        founding=FoundingService(db, federation_chat_id=settings.federation.chat_id),
        membership=MembershipService(db, federation_chat_id=settings.federation.chat_id),
        service_levels=service_levels,
        service_cards=ServiceCardService(db, keys.cipher),
        subsidy=SubsidyService(db),
        benefits=BenefitService(db, keys.benefit_signer),
        activities=ActivityService(db, keys.activity_signer),
        four_ones=CompletionService(db),
        exports=ExportService(db, keys.cipher, threshold),
        stats=StatsService(db, threshold, settings.service.review_days),
        weekly_digests=WeeklyDigests(
            db,
            settings.federation.chat_id,
            settings.federation.weekly_digest_day,
            settings.federation.weekly_digest_at,
        ),
        job_changes=JobChangeService(
            db, threshold=threshold, federation_chat_id=settings.federation.chat_id
        ),
        cards=cards,
        preferences=preferences,
        i18n=i18n,
        enterprises=EnterpriseService(
            db, threshold=threshold, federation_chat_id=settings.federation.chat_id
        ),
        alias_proposals=AliasProposalService(db),
        privacy=PrivacyService(
            db,
            keys.cipher,
            keys.hasher,
            threshold=threshold,
            federation_chat_id=settings.federation.chat_id,
            form_cache=storage,
        ),
        binding=BindingService(db, keys.hasher),
        dashboard=DashboardAuth(db, keys.hasher, settings.dashboard.session_lifetime),
        menus=CommandMenus(bot, MenuService(db), federation_chat_id=settings.federation.chat_id),
        settings=settings,
        # The name check asks the fonts the cards are drawn with.
        fonts=fonts,
    )
    LocaleMiddleware(i18n, preferences).setup(dispatcher)
    dispatcher.include_router(build_router())
    dispatcher.errors.register(_on_error)

    views = OutboxViews(
        ViewContext(
            db=db,
            cipher=keys.cipher,
            cards=cards,
            signer=keys.signer,
            i18n=i18n,
            fonts=fonts,
            bot_username=me.username or "",
            threshold=threshold,
            staff_locale=settings.i18n.default_locale,
            preferences=preferences,
            service_levels=service_levels,
            case_idle_days=settings.federation.case_idle_days,
        )
    )
    sender = OutboxSender(
        db, bot, views, settings.outbox, pacer, federation_chat_id=settings.federation.chat_id
    )
    db.on_commit("outbox", sender.wake)  # new rows go out without waiting for a poll
    inbox = Inbox(db, me.id, keys.cipher, storage.save, owner=instance.id)
    processor = UpdateProcessor(dispatcher, bot, inbox, storage)
    processor.is_alive = instance.is_alive
    # Webhook workers on PostgreSQL may get one person's updates in different processes.
    processor.cross_process = webhook and not db.is_sqlite
    return App(
        settings, db, bot, me, dispatcher, sender, processor, inbox, pin_response_types(),
        instance, locks,
    )  # fmt: skip


async def _on_error(event: ErrorEvent) -> bool:
    if isinstance(event.exception, ReplyDeferred):  # the outbox delivers it later
        log.warning("update %s: %s", event.update.update_id, event.exception)
        return True
    # The exception text and traceback, not the update: updates carry personal data.
    log.error(
        "update %s failed: %s",
        event.update.update_id,
        type(event.exception).__name__,
        exc_info=event.exception,
    )
    message = event.update.message
    if message is not None and message.chat.type == "private":
        await message.answer(_("抱歉，系统暂时出了点问题，请稍后再试。您填写的信息不会丢失。"))
    elif event.update.callback_query is not None:
        await event.update.callback_query.answer(_("抱歉，系统暂时出了点问题，请稍后再试。"))
    return True
