"""/mydata and /delete: the worker sees their own data, and deleting it really erases it.

Service tests on a real SQLite file, then the whole thing through the bot and the emulator.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.i18n import build_i18n
from bot.people import WorkerData, find_button
from bot.services.audit import Actor
from bot.services.errors import AlreadyDecided
from bot.services.privacy import (
    ERASED_NAME,
    PrivacyService,
    StaleConfirmation,
    form_key,
)
from bot.views import privacy as view
from models import (
    Application,
    AuditEntry,
    Enterprise,
    FsmRecord,
    Member,
    OutboxMessage,
    UserPreference,
)
from models.base import utcnow
from tests.conftest import World, make_draft, make_resident_id
from tests.engines import Store
from tests.live import REVIEW_GROUP, Live, live_bot

STAFF = Actor(501, "审核员501")
ME, OTHER = 1001, 1002
FAST_OUTBOX = {"private_per_second": 100.0, "group_per_minute": 6000.0, "poll_interval": 0.05}


def render(data: object, locale: str = "zh") -> str:
    i18n = build_i18n()
    with i18n.context(), i18n.use_locale(locale):
        return "\n".join(view.mydata_messages(data))  # type: ignore[arg-type]


async def submit(world: World, user_id: int, seq: int, **changes: str) -> tuple[int, str]:
    draft = make_draft(world, seq)
    for name, value in changes.items():
        setattr(draft, name, value)
    number = (await world.intake.submit(user_id, draft)).number
    async with world.db.read() as session:
        app_id = await session.scalar(select(Application.id).where(Application.number == number))
    return int(app_id), number


async def application(world: World, number: str) -> Application:
    async with world.db.read() as session:
        return await session.scalar(select(Application).where(Application.number == number))


async def audit_actions(world: World) -> list[str]:
    async with world.db.read() as session:
        return list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


async def give_form_and_language(world: World, user_id: int) -> None:
    """A half-filled form and a language choice, as the running bot would store them."""
    blob = world.cipher.encrypt(json.dumps({"name": "张三"}), context="fsm")
    async with world.db.transaction() as session:
        session.add(FsmRecord(key=form_key(user_id), state="Form:mobile", data_cipher=blob))
        session.add(UserPreference(telegram_user_id=user_id, locale="en"))


# --- /mydata ------------------------------------------------------------------------------
async def test_mydata_shows_own_values_and_nothing_of_others(
    world: World, privacy: PrivacyService
) -> None:
    mine = make_draft(world, 11)
    app_id, number = await submit(world, ME, 11, employer="<b>星光</b>科技有限公司", job="工程师")
    await submit(world, OTHER, 22, name="李四")
    await world.review.approve(app_id, STAFF, None)
    await give_form_and_language(world, ME)

    data = await privacy.my_data(ME)
    (app,) = data.applications
    assert (app.number, app.status) == (number, "approved")
    assert app.resident_id == mine.resident_id and app.mobile == mine.mobile
    assert app.street == "德胜街道" and app.notice_version == "2026-11"
    assert [m.status for m in data.memberships] == ["active"]
    assert data.language == "en" and data.form is not None
    assert data.form.fields == {"name": "张三"}
    assert data.audit_entries >= 2  # submitted (by them) and approved (about them)

    text = render(data)
    assert mine.resident_id in text and mine.mobile.removeprefix("+86") in text
    assert "&lt;b&gt;星光&lt;/b&gt;" in text and "<b>星光" not in text
    assert number in text and "DS-" in text and "工程师" in text
    other = make_draft(world, 22)
    for secret in (other.resident_id, other.mobile.removeprefix("+86"), "李四"):
        assert secret not in text


async def test_mydata_of_a_stranger_is_empty(privacy: PrivacyService) -> None:
    data = await privacy.my_data(4242)
    assert data.empty
    assert "没有保存" in render(data)


def test_long_data_is_split_into_messages_telegram_accepts() -> None:
    blocks = ["x" * 1500] * 5
    messages = view.pack(blocks)
    assert len(messages) == 3 and all(len(m) <= view.MESSAGE_LIMIT for m in messages)
    assert "\n\n".join(messages) == "\n\n".join(blocks)


# --- /delete of a pending application -----------------------------------------------------
async def test_delete_withdraws_a_pending_application_and_edits_its_card(
    world: World, privacy: PrivacyService
) -> None:
    draft = make_draft(world, 31)
    app_id, number = await submit(world, ME, 31)
    async with world.db.transaction() as session:  # the sender posted the review card
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.kind == "review_card")
            .values(status="sent", sent_message_id=77)
        )

    result = await privacy.delete(ME, Actor(ME, "data subject"))
    assert result.withdrawn == (number,) and result.anonymised == (number,)
    assert result.ended == ()

    erased = await application(world, number)
    assert erased.status == "withdrawn" and erased.anonymised_at is not None
    assert erased.telegram_user_id is None and erased.name == ERASED_NAME
    assert world.cipher.decrypt(erased.ric_cipher, context="ric") == ""
    assert world.cipher.decrypt(erased.mobile_cipher, context="mobile") == ""
    async with world.db.read() as session:
        edits = list(
            await session.execute(
                select(OutboxMessage.chat_id, OutboxMessage.payload).where(
                    OutboxMessage.kind == "review_card_edit"
                )
            )
        )
    assert edits == [(REVIEW_GROUP, {"application_id": app_id, "message_id": 77})]
    actions = await audit_actions(world)
    assert actions[-2:] == ["application.withdrawn", "privacy.deleted"]

    # Staff can no longer decide it, and the person may apply again.
    with pytest.raises(AlreadyDecided):
        await world.review.approve(app_id, STAFF, None)
    await world.intake.check_person(draft.resident_id)
    assert (await privacy.my_data(ME)).empty


# --- /delete of a member ------------------------------------------------------------------
async def test_delete_ends_membership_recounts_and_leaves_nothing_on_disk(
    world: World, privacy: PrivacyService, store: Store
) -> None:
    draft = make_draft(world, 41)
    app_id, number = await submit(world, ME, 41)
    other_id, _ = await submit(world, OTHER, 42)
    await world.review.approve(app_id, STAFF, None)
    await world.review.approve(other_id, STAFF, None)
    await give_form_and_language(world, ME)
    before = await application(world, number)
    old_hash, old_ric, old_mobile = before.ric_hash, before.ric_cipher, before.mobile_cipher

    result = await privacy.delete(ME, Actor(ME, "data subject"))
    assert result.withdrawn == () and len(result.ended) == 1
    assert result.form_deleted and result.language_deleted

    async with world.db.read() as session:
        member = await session.scalar(select(Member).where(Member.application_id == app_id))
        count = await session.scalar(select(Enterprise.member_count))
        leftovers = await session.scalar(
            select(func.count()).select_from(FsmRecord).where(FsmRecord.key == form_key(ME))
        )
        language = await session.get(UserPreference, ME)
        ended_entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "member.ended")
        )
    assert member.status == "ended" and member.ended_at is not None
    assert member.telegram_user_id is None and member.ric_hash != old_hash
    assert count == 1 and leftovers == 0 and language is None
    assert ended_entry.subject_id == member.number and ended_entry.after["count"] == 1

    erased = await application(world, number)
    assert erased.status == "approved" and erased.name == ERASED_NAME
    assert world.cipher.decrypt(erased.ric_cipher, context="ric") == ""
    assert world.cipher.decrypt(erased.mobile_cipher, context="mobile") == ""

    # Nothing of the person is left in the files: no plaintext, hash or old ciphertext.
    # (PostgreSQL: in the database's own files; its write-ahead log, shared by the
    # cluster and recycled on its own schedule, only ever held ciphertexts and hashes.)
    content = store.stored_bytes(with_log=store.is_sqlite)
    for secret in (draft.resident_id, draft.mobile, draft.mobile.removeprefix("+86")):
        assert secret.encode() not in content
        assert secret.encode() not in store.stored_bytes()  # never in plain text anywhere
    for leftover in (old_hash.encode(), bytes(old_ric), bytes(old_mobile)):
        assert leftover not in content
    # The other member's data is untouched.
    (others,) = (await privacy.my_data(OTHER)).applications
    assert others.resident_id == make_draft(world, 42).resident_id

    # The person can apply again, and is counted again once approved.
    again_id, _ = await submit(world, ME, 41)
    approval = await world.review.approve(again_id, STAFF, None)
    assert approval.enterprise_count == 2


async def test_audit_entries_of_a_deletion_hold_no_personal_data(
    world: World, privacy: PrivacyService
) -> None:
    draft = make_draft(world, 51)
    app_id, _ = await submit(world, ME, 51)
    await world.review.approve(app_id, STAFF, None)
    await privacy.delete(ME, Actor(ME, "data subject"))
    async with world.db.read() as session:
        entries = list(await session.scalars(select(AuditEntry)))
    dumped = json.dumps([[e.subject_id, e.before, e.after] for e in entries], ensure_ascii=False)
    for secret in (draft.resident_id, draft.mobile, draft.mobile[3:], draft.name):
        assert secret not in dumped


async def test_freed_space_does_not_keep_erased_values(
    world: World, privacy: PrivacyService, store: Store
) -> None:
    if store.is_sqlite:
        # Freed space is zeroed, so earlier versions of erased rows do not linger.
        async with world.db.writer.connect() as connection:
            assert (await connection.exec_driver_sql("PRAGMA secure_delete")).scalar() == 1
        return
    # PostgreSQL never zeroes freed space: the erased tables are rewritten into new files.
    files = "SELECT relname, relfilenode FROM pg_class WHERE relname IN ('application', 'member')"
    await submit(world, ME, 91)
    before = dict(store.sql(files))
    await privacy.delete(ME, Actor(ME, "data subject"))
    after = dict(store.sql(files))
    assert set(after) == {"application", "member"}
    assert all(after[name] != before[name] for name in after), (before, after)


async def test_nothing_to_delete_writes_no_audit_entry(
    world: World, privacy: PrivacyService
) -> None:
    before = await audit_actions(world)
    result = await privacy.delete(4242, Actor(4242, "data subject"))
    assert result.nothing and await audit_actions(world) == before


# --- confirmation tokens -----------------------------------------------------------------
async def test_forged_stale_or_reused_confirmations_change_nothing(
    world: World, privacy: PrivacyService
) -> None:
    app_id, number = await submit(world, ME, 61)
    actor = Actor(ME, "data subject")
    plan = await privacy.deletion_plan(ME)
    assert plan.pending == (number,) and not plan.nothing

    forged = [
        "",
        "zz.0000",
        plan.token[:-1] + ("0" if plan.token[-1] != "0" else "1"),
        (await privacy.deletion_plan(OTHER)).token,  # someone else's
    ]
    for token in forged:
        with pytest.raises(StaleConfirmation):
            await privacy.delete(ME, actor, confirm=token)
    with pytest.raises(StaleConfirmation):  # expired
        await privacy.delete(ME, actor, confirm=plan.token, now=utcnow() + timedelta(minutes=45))

    await world.review.approve(app_id, STAFF, None)  # the situation changed since the plan
    with pytest.raises(StaleConfirmation):
        await privacy.delete(ME, actor, confirm=plan.token)
    assert (await application(world, number)).anonymised_at is None

    fresh = await privacy.deletion_plan(ME)
    assert fresh.members and not fresh.pending
    assert (await privacy.delete(ME, actor, confirm=fresh.token)).ended
    with pytest.raises(StaleConfirmation):  # pressed twice
        await privacy.delete(ME, actor, confirm=fresh.token)


# --- through the bot ----------------------------------------------------------------------
async def _apply(live: Live, user_id: int, seq: int) -> tuple[WorkerData, str]:
    data = WorkerData("王小明", make_resident_id(seq), "+8613812345678", "北京星光科技有限公司")
    received = await live.worker(user_id, "王小明").apply(live.point_code, data)
    number = received["text"].split("申请编号 ")[1].split("。")[0].strip()
    return data, number


async def test_mydata_and_delete_of_a_member_end_to_end(tmp_path: Path) -> None:
    async with live_bot(tmp_path, outbox=FAST_OUTBOX) as live:
        data, number = await _apply(live, ME, 71)
        card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
        await live.staff().press(card, "通过", "已通过")
        await live.emu.wait_for(lambda m: "photo" in m and m["chat"]["id"] == ME, since=0)
        worker = live.worker(ME)

        shown = await worker.say("/mydata", "我们保存的关于您的信息")
        assert data.resident_id in shown["text"] and "13812345678" in shown["text"]
        assert "DS-" in shown["text"] and number in shown["text"]

        plan = await worker.say("/delete", "确认后将")
        assert "终止您的会员资格" in plan["text"]
        # A forged confirmation (a modified client) is refused and changes nothing.
        answered = len(live.emu.callback_answers())
        live.emu.press_button(ME, ME, plan["message_id"], "pv:confirm:1.bogus", forge=True)
        await _wait_answer(live, answered, "已失效")
        async with live.app.db.read() as session:
            assert await session.scalar(select(Member.status)) == "active"

        done = await worker.press(plan, "确认删除", "已删除您的信息")
        assert done is not None and not done.get("reply_markup")
        async with live.app.db.read() as session:
            member = await session.scalar(select(Member))
            count = await session.scalar(select(Enterprise.member_count))
        assert member.status == "ended" and count == 0

        await worker.say("/mydata", "没有保存")
        content = live.store.stored_bytes()
        assert data.resident_id.encode() not in content and b"13812345678" not in content
        await worker.say("/start " + live.point_code, "个人信息处理说明")  # may apply again
        assert not live.emu.internal_errors


async def test_delete_of_a_pending_application_end_to_end(tmp_path: Path) -> None:
    async with live_bot(tmp_path, outbox=FAST_OUTBOX) as live:
        _, number = await _apply(live, ME, 81)
        card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
        worker = live.worker(ME)

        plan = await worker.say("/delete", "确认后将")
        assert number in plan["text"] and "撤回" in plan["text"]
        cancelled = await worker.press(plan, "取消", "已取消")
        assert cancelled is not None and not cancelled.get("reply_markup")
        assert (await worker.say("/status", number))["text"].count("审核中") == 1

        plan = await worker.say("/delete", "确认后将")
        mark = live.emu.mark()
        await worker.press(plan, "确认删除", "已撤回申请")
        edited = await live.emu.wait_for(
            lambda m: m["chat"]["id"] == REVIEW_GROUP and m["message_id"] == card["message_id"],
            since=mark,
            kinds=("edited",),
        )
        assert not edited.get("reply_markup")  # staff can no longer press approve
        answered = len(live.emu.callback_answers())
        approve = find_button(card, "通过")  # an old client still showing the buttons
        live.emu.press_button(501, REVIEW_GROUP, card["message_id"], approve, forge=True)
        await _wait_answer(live, answered, "")
        async with live.app.db.read() as session:
            assert await session.scalar(select(func.count()).select_from(Member)) == 0
        assert not live.emu.internal_errors


async def _wait_answer(live: Live, after: int, text: str) -> dict:
    """The first callback answer after the first `after` ones that contains `text`."""
    for _ in range(500):
        answers = live.emu.callback_answers()[after:]
        found = [a for a in answers if text in (a.get("text") or "")]
        if found:
            return found[0]
        await asyncio.sleep(0.01)
    raise TimeoutError(f"no callback answer with {text!r}")


def test_confirm_button_carries_the_token() -> None:
    i18n = build_i18n()
    with i18n.context(), i18n.use_locale("zh"):
        keyboard = view.confirm_keyboard("1a2b.abcdef")
    data = find_button({"reply_markup": keyboard.model_dump()}, "确认删除")
    assert view.PrivacyCb.unpack(data).token == "1a2b.abcdef" and len(data) <= 64
