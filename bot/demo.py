"""`unionbot demo`: the whole job, played through the local Bot API emulator.

Xicheng's streets and 德胜街道's reception points are seeded with staff and their groups;
26 workers of one enterprise apply through different points (one mistypes the check digit
of the id number, one cancels and starts again, one is rejected and applies again); staff
approve, and the 25th approval sends the federation its alert. The federation follows the
founding case through every stage to the founded enterprise union, moves the members
there, and each member gets a new card; the union's member list is written out. Later one
member changes jobs (the new workplace's street accepts), one keeps the membership after
losing the job, and a worker of an enterprise that already has a union is sent there. A
worker who calls an enterprise by its restaurant's name has the employer corrected by the
reviewer; the federation accepts that name as an alias, and the next worker is matched.
Then the "four ones": a member asks for the service card, which the street exports,
sends and hands out; the member claims a benefit service and staff scan its code; street
staff create an activity with three places in the chat, it is announced (not to the member
who sent /notify off), fills up, a cancellation moves the member up from the waitlist,
staff scan check-in codes at the door and close it, and its cost is booked against the
street's subsidy budget. That member's /status then shows all four items done. Last, the
federation asks /stats (the figures and two charts), exports the members register in its
group, and a staff member's view of the web dashboard is captured in headless Chromium.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from bot.app import App
from bot.db import Database
from bot.demo_data import (
    ENTERPRISE_ABBREVIATION,
    ENTERPRISE_SPELLINGS,
    FEDERATION_GROUP,
    FEDERATION_STAFF,
    GIVEN_NAMES,
    JOBS,
    REGISTRY,
    REVIEW_GROUP,
    STREET_STAFF,
    SURNAMES,
    seed_document,
)
from bot.emulator import Emulator
from bot.local import DEMO_TOKEN, DEMO_USERNAME, local_settings, running_bot
from bot.migrate import upgrade_async
from bot.money import parse_yuan, yuan
from bot.people import Person, Worker, WorkerData
from bot.pii import mask_numbers
from bot.posters import write_posters
from bot.services.activities import ActivityService
from bot.services.admin import AdminService, PointRow
from bot.services.audit import Actor
from bot.services.benefits import BenefitService
from bot.services.registry import import_registry
from bot.services.service_cards import ServiceCardService
from bot.services.subsidy import SubsidyService
from bot.timefmt import local
from bot.validation import ric_check_char, uscc_check_char
from models import (
    Activity,
    ActivitySignup,
    BenefitClaim,
    Enterprise,
    FoundingCase,
    Member,
    ThresholdAlert,
    UnionOrg,
)
from models.base import utcnow

WORKERS = 26
NEW_JOB_WORKER, JOBLESS_WORKER, FOUR_ONES_WORKER = 1, 2, 3
ACTIVITY_WORKERS, QUIET_WORKER = (4, 6, 8), 10
ACTIVITY = "冬季健步走"
NEW_EMPLOYER = "北京裕中信息技术有限公司"
UNIONISED_EMPLOYER = "北京新康物业管理有限公司"  # 是否建会 = 是 in the registry
UNION_NAME = "北京德胜数码科技有限公司工会委员会"
UNION_USCC_BODY = "81110102MA01D5UX0"  # a union's code: registration authority 8
FIRST_WORKER_ID = 100_001
LATE_WORKER_ID = FIRST_WORKER_ID + 100
# Two workers who call 北京六铺炕餐饮管理有限公司 by its restaurant's name, which the
# registry does not list: the reviewer corrects the first, the federation accepts the name.
NICKNAME_WORKER_IDS = (FIRST_WORKER_ID + 101, FIRST_WORKER_ID + 102)
NICKNAME, NICKNAMED = "老六铺炕饭庄", "北京六铺炕餐饮管理有限公司"
TYPO_WORKER, CANCELLING_WORKER, REJECTED_WORKER, ABBREVIATING_WORKER = 3, 5, 7, 9


def resident_id(n: int) -> str:
    body = f"110102{1975 + n % 25}{(n % 12) + 1:02d}{(n % 27) + 1:02d}{100 + n:03d}"
    return body + ric_check_char(body)


def worker_data(n: int) -> WorkerData:
    return WorkerData(
        name=SURNAMES[n % len(SURNAMES)] + GIVEN_NAMES[(n * 7) % len(GIVEN_NAMES)],
        resident_id=resident_id(n),
        mobile=f"+86139{10_000_000 + n * 7919:08d}",
        employer=ENTERPRISE_SPELLINGS[n % len(ENTERPRISE_SPELLINGS)],
        job=JOBS[n % len(JOBS)],
    )


def say(line: str) -> None:
    print(line, flush=True)


async def run_demo(out: Path) -> int:
    started = time.monotonic()
    out = await asyncio.to_thread(_fresh_folder, out)
    async with Emulator() as emu:
        settings = local_settings(
            emu.base_url,
            out / "unionbot.db",
            federation_chat_id=FEDERATION_GROUP,
            # The emulator enforces no flood limits and the story compresses a working week
            # into seconds: the bot may send faster than Telegram's 1 message a second into
            # a chat and 20 a minute into a group (the real limits are the defaults).
            outbox={"group_per_minute": 1200, "private_per_second": 20},
        )
        points = await _seed(settings.database.url, out)
        _people(emu)
        say(f"seeded {len(points)} reception points of 德胜街道 and 15 streets of 西城区")
        async with running_bot(settings) as app:
            await _story(emu, points)
            await _founding(emu)
            await _transfer(emu, out)
            await _member_life(emu, points)
            await _four_ones(emu, app, out)
            await _statistics(emu, out)
            await _exports_and_dashboard(emu, app, out)
            await _wait_for_outbox(emu)
            summary = await _summary(app.db)
        written = await write_posters(settings, points, out / "posters", username=DEMO_USERNAME)
        _save_cards(emu, out / "cards")
        publish_transcript(emu, out / "transcript.txt")
    say("===== result =====")
    say(summary)
    say(f"{written} posters (PNG + PDF) in {out / 'posters'}")
    say(f"member cards in {out / 'cards'} (after the transfer: {out / 'cards' / 'moved'})")
    say(f"the enterprise union's member list: {out / 'member-list.xlsx'}")
    say(f"the service-card batch: {out / 'service-card-batch.xlsx'}; a benefit's QR code: "
        f"{out / 'benefit-qr.png'}; a check-in QR code: {out / 'check-in-qr.png'}")  # fmt: skip
    say(f"the activity subsidy ledger: {out / 'subsidy-ledger.xlsx'}")
    say(f"the members register: {out / 'member-register.xlsx'}; /stats charts: "
        f"{out / 'stats-new-members.png'}, {out / 'stats-threshold.png'}; the dashboard: "
        f"{out / 'dashboard-overview.png'}")  # fmt: skip
    say(f"transcript in {out / 'transcript.txt'}")
    say(f"database: {out / 'unionbot.db'}")
    say(f"demo finished in {time.monotonic() - started:.1f} s")
    return 0


def publish_transcript(emu: Emulator, path: Path) -> None:
    """Print the chat transcript and write it to `path`, with id and mobile numbers masked
    as staff see them (110105********002X, 138****5678): the numbers are made up, but a
    demo shown on a projector should show the habit the bot keeps. The emulator's records
    stay complete."""
    transcript = mask_numbers(emu.transcript_text())
    path.write_text(transcript, encoding="utf-8")
    say("\n===== chat transcript =====")
    say(transcript)


def _fresh_folder(out: Path) -> Path:
    if out.exists():
        shutil.rmtree(out)
    (out / "cards").mkdir(parents=True)
    return out.resolve()


async def _seed(url: str, out: Path) -> list[PointRow]:
    await upgrade_async(url)
    db = Database(url)
    admin = AdminService(db)
    await admin.seed_data(seed_document(), Actor.cli("demo"))
    points = [p for p in await admin.points("DS") if p.active]
    registry = await asyncio.to_thread(_write_registry, out / "registry.csv")
    summary = await import_registry(db, registry, actor=Actor.cli("demo"))
    say(f"imported the enterprise registry: {summary.added} enterprises ({registry.name})")
    await db.dispose()
    return points


def _write_registry(path: Path) -> Path:
    """The registry as the district would hand it over: a GBK CSV with Chinese headers."""
    lines = ["统一社会信用代码,企业名称,所属街道,职工人数,是否建会"]
    for body, name, employees, has_union in REGISTRY:
        code = body + uscc_check_char(body)
        lines.append(f"{code},{name},德胜街道,{employees},{'是' if has_union else '否'}")
    path.write_text("\r\n".join(lines) + "\r\n", encoding="gbk")
    return path


def _people(emu: Emulator) -> None:
    emu.add_bot(DEMO_TOKEN, DEMO_USERNAME, "工会入会助手")
    for user_id, name in (*STREET_STAFF, *FEDERATION_STAFF):
        emu.add_user(user_id, name)
    staff_ids = [uid for uid, _ in STREET_STAFF]
    emu.add_group(REVIEW_GROUP, "德胜街道工会审核群", staff_ids, [staff_ids[0]])
    emu.add_group(FEDERATION_GROUP, "西城区总工会工作群", [FEDERATION_STAFF[0][0]])
    emu.add_bot_to_group(DEMO_TOKEN, REVIEW_GROUP, staff_ids[0])
    emu.add_bot_to_group(DEMO_TOKEN, FEDERATION_GROUP, FEDERATION_STAFF[0][0])
    for n in range(1, WORKERS + 1):
        data = worker_data(n)
        emu.add_user(FIRST_WORKER_ID + n, data.name, language_code="zh-hans")
    emu.add_user(LATE_WORKER_ID, "赵磊", language_code="zh-hans")
    for user_id, name in zip(NICKNAME_WORKER_IDS, ("孙丽", "周强"), strict=True):
        emu.add_user(user_id, name, language_code="zh-hans")


async def _story(emu: Emulator, points: list[PointRow]) -> None:
    staff = [Person(emu, uid, name) for uid, name in STREET_STAFF]
    for approvals, n in enumerate(range(1, WORKERS + 1), start=1):
        worker = Worker(emu, FIRST_WORKER_ID + n, worker_data(n).name)
        point = points[n % len(points)]
        data = worker_data(n)
        number = await _apply(worker, point.code, data, n)
        card = await emu.wait_for(REVIEW_GROUP, number, timeout=15)
        reviewer = staff[n % len(staff)]
        if n == REJECTED_WORKER:
            reasons = await reviewer.press(card, "驳回")
            await reviewer.press(reasons, "材料不完整", "已驳回")
            await emu.wait_for(worker.user_id, "未通过", timeout=15)
            say(f"  worker {n} was rejected and applies again")
            number = await _apply(worker, point.code, data, 0)
            card = await emu.wait_for(REVIEW_GROUP, number, timeout=15)
        await reviewer.press(card, "通过", "已通过")
        say(f"  {approvals:2d} approved: {data.name} via {point.name} ({data.employer})")
    alert = await emu.wait_for(FEDERATION_GROUP, "建会提示", since=0, timeout=15)
    federation = Person(emu, FEDERATION_STAFF[0][0], FEDERATION_STAFF[0][1])
    await federation.press(alert, "我来跟进", "跟进人")


def _founding_steps() -> list[tuple[str, str, str]]:
    """Each stage's button, its line on the card once recorded, and the facts typed in
    reply, dated in the recent past."""
    today = local(utcnow()).date()
    day = [(today - timedelta(days=days)).isoformat() for days in (90, 50, 30, 14)]
    union_uscc = UNION_USCC_BODY + uscc_check_char(UNION_USCC_BODY)
    return [
        ("筹备组已批准", "筹备中", f"{day[0]}\n王建国 组长\n李秀英 副组长\n张伟 成员"),
        ("会员大会已召开", "会员大会已召开", f"{day[1]}\n王建国\n王建国、李秀英、张伟、刘洋、陈静"),
        ("上级工会已批复", "上级工会已批复", f"{day[2]}\n西工发〔2026〕12号"),
        ("工会已成立", "工会已成立", f"{UNION_NAME}\n{union_uscc}\n{day[3]}\n王建国 010-66001234"),
    ]


async def _founding(emu: Emulator) -> None:
    """The federation follows the case card, stage by stage, typing each stage's facts."""
    federation = Person(emu, FEDERATION_STAFF[0][0], FEDERATION_STAFF[0][1])
    card = await emu.wait_for(FEDERATION_GROUP, "建会工作 #", since=0, timeout=15)
    card_id = card["message_id"]
    for button, recorded, facts in _founding_steps():
        card = emu.message(FEDERATION_GROUP, card_id)
        prompt = await federation.press(card, button, "请回复本条消息")
        mark = emu.mark()
        emu.send_text(federation.user_id, facts, FEDERATION_GROUP, reply_to=prompt["message_id"])
        if button == "会员大会已召开":  # Trade Union Law art. 10, asked before recording
            question = await emu.wait_for(FEDERATION_GROUP, "近亲属", since=mark, timeout=15)
            mark = emu.mark()
            await federation.press(question, "没有", wait=False)
        await emu.wait_for(
            lambda m, line=f"✅ {recorded}": m["message_id"] == card_id and line in m["text"],
            since=mark, timeout=15, kinds=("edited",),
        )  # fmt: skip
        say(f"  the federation recorded: {button}")


async def _transfer(emu: Emulator, out: Path) -> None:
    """The members move to the founded union; its member list is kept."""
    federation = Person(emu, FEDERATION_STAFF[0][0], FEDERATION_STAFF[0][1])
    card = await emu.wait_for(FEDERATION_GROUP, "待转入企业工会", since=0, timeout=15)
    card = emu.message(FEDERATION_GROUP, card["message_id"])
    mark = emu.mark()
    await federation.press(card, "会籍接转", wait=False)
    done = await emu.wait_for(
        lambda m: "document" in m and m["chat"]["id"] == FEDERATION_GROUP, since=mark, timeout=60
    )
    data = emu.file_bytes(done["document"]["file_id"])
    await asyncio.to_thread((out / "member-list.xlsx").write_bytes, data)
    say("  the members moved to the enterprise union; its member list arrived")


async def _member_life(emu: Emulator, points: list[PointRow]) -> None:
    """Membership follows the job: a new job, a lost one, and an employer with a union."""
    mover = Worker(emu, FIRST_WORKER_ID + NEW_JOB_WORKER, worker_data(NEW_JOB_WORKER).name)
    choice = await mover.say("/transfer", "发生了什么变化")
    await mover.press(choice, "我换了新工作", "新工作单位")
    confirm = await mover.say(NEW_EMPLOYER, "确认提交")
    mark = emu.mark()
    await mover.press(confirm, "确认", wait=False)
    card = await emu.wait_for(REVIEW_GROUP, "会籍接转申请", since=mark, timeout=15)
    reviewer = Person(emu, STREET_STAFF[0][0], STREET_STAFF[0][1])
    mark = emu.mark()
    await reviewer.press(card, "✅ 接收", wait=False)
    await emu.wait_for(mover.user_id, "会籍已转入", since=mark, timeout=15)
    say(f"  worker {NEW_JOB_WORKER} moved to {NEW_EMPLOYER}; the street accepted")

    jobless = Worker(emu, FIRST_WORKER_ID + JOBLESS_WORKER, worker_data(JOBLESS_WORKER).name)
    choice = await jobless.say("/transfer", "发生了什么变化")
    confirm = await jobless.press(choice, "保留会籍", "确认保留会籍")
    await jobless.press(confirm, "确认", "已为您保留会籍")
    say(f"  worker {JOBLESS_WORKER} lost the job and keeps the membership (保留会籍)")

    late = Worker(emu, LATE_WORKER_ID, "赵磊")
    await _to_employer_step(late, points[0].code, 99)
    told = await late.say(UNIONISED_EMPLOYER, "已经建立了工会")
    await late.press(told, "不申请了", "本单位工会")
    say(f"  a worker of {UNIONISED_EMPLOYER} was sent to that enterprise's own union")
    await _learned_alias(emu, points)


async def _learned_alias(emu: Emulator, points: list[PointRow]) -> None:
    """A worker types the restaurant's name; the reviewer changes the employer on the
    card, the federation accepts the name as an alias, and the next worker is matched."""
    first = Worker(emu, NICKNAME_WORKER_IDS[0], "孙丽")
    job = await _employer_typed(first, points[1].code, 201, NICKNAME)
    summary = await first.press(job, "跳过", "请核对")
    received = await first.submit(summary)  # type: ignore[arg-type]
    number = received["text"].split("申请编号 ")[1].split("。")[0]
    card = await emu.wait_for(REVIEW_GROUP, number, timeout=15)
    reviewer = Person(emu, STREET_STAFF[1][0], STREET_STAFF[1][1])
    choices = await reviewer.employer_choices(card, "六铺炕")
    mark = emu.mark()
    await reviewer.press(choices, NICKNAMED, "已将申请")
    proposal = await emu.wait_for(FEDERATION_GROUP, "别名建议", since=mark, timeout=15)
    await reviewer.press(emu.message(REVIEW_GROUP, card["message_id"]), "通过", "已通过")
    say(f"  a worker typed {NICKNAME!r}; the reviewer changed the employer to {NICKNAMED}")
    federation = Person(emu, FEDERATION_STAFF[0][0], FEDERATION_STAFF[0][1])
    await federation.press(proposal, "采用为别名", "已采用为别名")
    second = Worker(emu, NICKNAME_WORKER_IDS[1], "周强")
    await _employer_typed(second, points[2].code, 202, NICKNAME, f"已识别工作单位：{NICKNAMED}")
    await second.say("/cancel", "已取消")
    say(f"  the federation accepted {NICKNAME!r} as an alias: the next worker was matched")


async def _employer_typed(
    worker: Worker, point_code: str, n: int, employer: str, expect: str = "岗位或职务"
) -> dict:
    """A worker's form up to the employer, answered with `employer` ("以上都不是" if
    buttons are offered); the bot's next message, which holds `expect`."""
    await _to_employer_step(worker, point_code, n)
    reply = await worker.say(employer, "请")
    if "以上都不是" in str(reply.get("reply_markup")):
        reply = await worker.press(reply, "以上都不是", expect)  # type: ignore[assignment]
    elif expect not in reply["text"]:
        reply = await worker.emu.wait_for(worker.user_id, expect, timeout=15)
    return reply


async def _to_employer_step(worker: Worker, point_code: str, n: int) -> None:
    """A worker (person number `n`) through the form until the bot asks the employer."""
    notice = await worker.open_form(point_code)
    await worker.consent(notice)
    await worker.say(worker.name, "身份证号")
    await worker.say(resident_id(n), "手机号")
    await worker.share_contact(f"8613910{n:06d}", "工作单位")


async def _four_ones(emu: Emulator, app: App, out: Path) -> None:
    """One member's service card and benefit service, from asking to done."""
    member = Worker(emu, FIRST_WORKER_ID + FOUR_ONES_WORKER, worker_data(FOUR_ONES_WORKER).name)
    offer = await member.say("/servicecard", "京卡")
    survey = await member.press(offer, "申领会员服务卡", "可多选")
    ticked = await member.press(survey, "技能培训")
    await member.press(ticked, "完成", "已记录您的需求")
    cards: ServiceCardService = app.dispatcher["service_cards"]
    street = Actor(STREET_STAFF[0][0], STREET_STAFF[0][1])
    batch = await cards.make_batch("DS", street)
    await asyncio.to_thread((out / "service-card-batch.xlsx").write_bytes, batch.workbook)
    await cards.mark(batch.number, "sent", street)
    mark = emu.mark()
    await cards.mark(batch.number, "arrived", street)
    await emu.wait_for(member.user_id, "已到达", since=mark, timeout=15)
    situation = await cards.situation(member.user_id)
    await cards.collected(situation.member_number, street)
    say(f"  worker {FOUR_ONES_WORKER} asked for the service card; batch {batch.number} went out "
        "and came back; the card was collected")  # fmt: skip

    benefits: BenefitService = app.dispatcher["benefits"]
    today = local(utcnow()).date()
    period = (today, today + timedelta(days=30))
    await benefits.add("免费健康体检", "德胜社区卫生服务中心", 20, *period, Actor.cli("demo"),
                       street_ref="DS")  # fmt: skip
    offer = await member.say("/benefits", "免费健康体检")
    mark = emu.mark()
    await member.press(offer, "领取", wait=False)
    qr = await emu.wait_for(
        lambda m: "核销码" in m.get("caption", "") and m["chat"]["id"] == member.user_id,
        since=mark, timeout=15,
    )  # fmt: skip
    image = emu.file_bytes(qr["photo"][-1]["file_id"])
    await asyncio.to_thread((out / "benefit-qr.png").write_bytes, image)
    payload = await _benefit_code(app, member.user_id, benefits)
    scanner = Person(emu, STREET_STAFF[0][0], STREET_STAFF[0][1])
    await scanner.say(f"/start {payload}", "已核销")
    say(f"  worker {FOUR_ONES_WORKER} claimed a benefit; staff scanned the code")
    await _activity(emu, app, out, member)
    status = await member.say("/status", "“四个一”会员服务：")
    done = status["text"].count("✅")
    say(f"  worker {FOUR_ONES_WORKER}'s /status: {done} of the four items done")


async def _activity(emu: Emulator, app: App, out: Path, member: Worker) -> None:
    """An activity with three places: created in the dialogue, announced, full, a
    cancellation moves the waitlist up, members check in by QR, staff close it."""
    organiser = Person(emu, STREET_STAFF[0][0], STREET_STAFF[0][1])
    quiet = Worker(emu, FIRST_WORKER_ID + QUIET_WORKER, worker_data(QUIET_WORKER).name)
    await quiet.say("/notify off", "已关闭")
    await organiser.say("/newactivity", "请输入活动名称")
    await organiser.say(ACTIVITY, "活动地点")
    await organiser.say("德胜街道职工之家", "活动时间")
    day = local(utcnow() + timedelta(days=2)).date()
    await organiser.say(f"{day} 14:00-16:00", "名额")
    prompt = await organiser.say("3", "报名截止时间")
    audience = await organiser.press(prompt, "活动开始时截止", "通知哪些会员")
    summary = await organiser.press(audience, "所有会员", "请确认")  # type: ignore[arg-type]
    mark = emu.mark()
    await organiser.press(summary, "发布", "已发布")  # type: ignore[arg-type]
    keen = [Worker(emu, FIRST_WORKER_ID + n, worker_data(n).name) for n in ACTIVITY_WORKERS]
    for person in (*keen, member):
        await emu.wait_for(person.user_id, "新的工会活动", since=mark, timeout=15)
    say(f"  {ACTIVITY} announced to 德胜街道's members (not to worker {QUIET_WORKER}, who "
        "sent /notify off)")  # fmt: skip
    for person in (*keen, member):
        announced = await emu.wait_for(person.user_id, "新的工会活动", since=mark, timeout=15)
        await person.press(announced, "我要报名")
    say(f"  workers {', '.join(map(str, ACTIVITY_WORKERS))} took the three places; worker "
        f"{FOUR_ONES_WORKER} is first on the waitlist")  # fmt: skip
    mine = await keen[0].say("/activities", ACTIVITY)
    mark = emu.mark()
    await keen[0].press(mine, "取消报名", wait=False)
    await emu.wait_for(member.user_id, "递补成功", since=mark, timeout=15)
    say(f"  worker {ACTIVITY_WORKERS[0]} cancelled; worker {FOUR_ONES_WORKER} moved up and "
        "was told")  # fmt: skip
    # The story skips to the afternoon of the activity.
    await _move_activity(app, utcnow() + timedelta(minutes=30))
    for person in (member, keen[1]):
        payload = await _check_in_code(app, emu, person, out if person is member else None)
        await organiser.say(f"/start {payload}", "签到成功")
    say("  at the door staff scanned two members' check-in QR codes")
    await _move_activity(app, utcnow() - timedelta(hours=2))  # and on to its end
    sheet = await organiser.say("/activity 1", "已签到 2")
    await organiser.press(sheet, "结束活动", "签到名单已确定")
    say("  staff closed the activity: 2 of 3 attended")
    # The federation sets the street's yearly budget; the finance office books the cost.
    ledger = SubsidyService(app.db)
    federation = Actor(FEDERATION_STAFF[0][0], FEDERATION_STAFF[0][1])
    await ledger.set_budget("DS", local(utcnow()).year, parse_yuan("20000"), federation)
    posting = await ledger.book(1, parse_yuan("301.00"), federation, note="场地与饮用水")
    shares = ", ".join(yuan(share.amount_fen) for share in posting.shares)
    data = await ledger.ledger_xlsx()
    await asyncio.to_thread((out / "subsidy-ledger.xlsx").write_bytes, data)
    say(f"  the cost {yuan(posting.amount_fen)} was booked against 德胜街道's budget of "
        f"{yuan(parse_yuan('20000'))}, shared by the {posting.attendees} who came "
        f"({shares})")  # fmt: skip
    federation_staff = Person(emu, FEDERATION_STAFF[0][0], FEDERATION_STAFF[0][1])
    await federation_staff.say("/fourones", "四个一", chat_id=FEDERATION_GROUP)
    say("  /fourones in the federation group: the four ones completed, per street")


async def _statistics(emu: Emulator, out: Path) -> None:
    """The federation's /stats: the district's figures, a row per street, and the charts."""
    federation = Person(emu, FEDERATION_STAFF[0][0], FEDERATION_STAFF[0][1])
    before = len([m for m in emu.messages(FEDERATION_GROUP) if "photo" in m])
    await federation.say("/stats", "全区", chat_id=FEDERATION_GROUP)
    await _wait_for_outbox(emu)  # the charts follow the text
    charts = [m for m in emu.messages(FEDERATION_GROUP) if "photo" in m][before:]
    for name, chart in zip(("stats-new-members.png", "stats-threshold.png"), charts, strict=False):
        image = emu.file_bytes(chart["photo"][-1]["file_id"])
        await asyncio.to_thread((out / name).write_bytes, image)
    say(f"  /stats in the federation group: the district's figures and {len(charts)} charts "
        f"({out / 'stats-new-members.png'}, {out / 'stats-threshold.png'})")  # fmt: skip


async def _exports_and_dashboard(emu: Emulator, app: App, out: Path) -> None:
    """The federation exports the members register in its group (masked), and a staff
    member's view of the web dashboard is captured in a real browser."""
    federation = Person(emu, FEDERATION_STAFF[0][0], FEDERATION_STAFF[0][1])
    mark = emu.mark()
    await federation.say("/export members", chat_id=FEDERATION_GROUP)
    sent = await emu.wait_for(
        lambda m: "document" in m and m["chat"]["id"] == FEDERATION_GROUP, since=mark,
        timeout=60,
    )  # fmt: skip
    data = emu.file_bytes(sent["document"]["file_id"])
    await asyncio.to_thread((out / "member-register.xlsx").write_bytes, data)
    say(f"  /export members in the federation group: {out / 'member-register.xlsx'} (masked)")
    try:
        from bot.web.screenshot import screenshot_overview

        await screenshot_overview(app, FEDERATION_STAFF[0][0], out / "dashboard-overview.png")
    except Exception as error:  # no browser here: the demo goes on without the picture
        say(f"  (no dashboard screenshot: {type(error).__name__}: {error}; "
            "scripts/system_packages.sh installs chromium)")  # fmt: skip
    else:
        say(f"  the dashboard's overview, signed in through a one-time link: "
            f"{out / 'dashboard-overview.png'}")  # fmt: skip


async def _move_activity(app: App, start: datetime) -> None:
    async with app.db.transaction() as session:
        await session.execute(
            update(Activity).values(starts_at=start, ends_at=start + timedelta(hours=2),
                                    signup_deadline=start)
        )  # fmt: skip


async def _check_in_code(app: App, emu: Emulator, person: Worker, out: Path | None) -> str:
    """The member shows the QR code; what the staff's phone camera reads from it is the
    start parameter of its link (the tests decode the image itself)."""
    listing = await person.say("/activities", ACTIVITY)
    mark = emu.mark()
    await person.press(listing, "签到码", wait=False)
    qr = await emu.wait_for(
        lambda m: "签到码" in m.get("caption", "") and m["chat"]["id"] == person.user_id,
        since=mark, timeout=15,
    )  # fmt: skip
    if out is not None:
        image = emu.file_bytes(qr["photo"][-1]["file_id"])
        await asyncio.to_thread((out / "check-in-qr.png").write_bytes, image)
    async with app.db.read() as session:
        signup_id = await session.scalar(
            select(ActivitySignup.id)
            .join(Member, Member.id == ActivitySignup.member_id)
            .where(Member.telegram_user_id == person.user_id, ActivitySignup.status == "confirmed")
        )
    activities: ActivityService = app.dispatcher["activities"]
    return f"a_{activities.check_in_token(signup_id or 0)}"


async def _benefit_code(app: App, user_id: int, benefits: BenefitService) -> str:
    """What the staff's phone camera reads from the member's QR code (the start
    parameter of its link; the tests decode the image itself)."""
    async with app.db.read() as session:
        claim_id = await session.scalar(
            select(BenefitClaim.id)
            .join(Member, Member.id == BenefitClaim.member_id)
            .where(Member.telegram_user_id == user_id)
        )
    return f"b_{benefits.signer.token(claim_id)}"


async def _apply(worker: Worker, point_code: str, data: WorkerData, n: int) -> str:
    notice = await worker.open_form(point_code)
    await worker.consent(notice)
    if n == CANCELLING_WORKER:
        await worker.say(data.name, "身份证号")
        await worker.say("/cancel", "已取消")
        say(f"  worker {n} cancelled and starts again")
        notice = await worker.open_form(point_code)
        await worker.consent(notice)
    if n == TYPO_WORKER:
        await worker.say(data.name, "身份证号")
        wrong = data.resident_id[:-1] + ("0" if data.resident_id[-1] != "0" else "1")
        await worker.say(wrong, "校验位")
        say(f"  worker {n} mistyped the id number and was asked again")
        await worker.say(data.resident_id, "手机号")
        await worker.share_contact(data.mobile.removeprefix("+"), "工作单位")
        question = await worker.say(data.employer, "岗位")
        summary = await (
            worker.say(data.job, "请核对") if data.job else worker.press(question, "跳过", "请核对")
        )
    elif n == ABBREVIATING_WORKER:
        await worker.say(data.name, "身份证号")
        await worker.say(data.resident_id, "手机号")
        await worker.share_contact(data.mobile.removeprefix("+"), "工作单位")
        offer = await worker.say(ENTERPRISE_ABBREVIATION, "请")
        if "请选择您的工作单位" in offer["text"]:
            say(f"  worker {n} typed {ENTERPRISE_ABBREVIATION!r} and picked from the registry")
            question = await worker.press(offer, ENTERPRISE_SPELLINGS[0], "岗位")
        else:
            question = await worker.emu.wait_for(worker.user_id, "岗位或职务", timeout=15)
        summary = await (
            worker.say(data.job, "请核对") if data.job else worker.press(question, "跳过", "请核对")
        )
    else:
        summary = await worker.fill(data)
    received = await worker.submit(summary)  # type: ignore[arg-type]
    return received["text"].split("申请编号 ")[1].split("。")[0]


async def _wait_for_outbox(emu: Emulator, quiet: float = 1.0) -> None:
    """Let the sender finish: stop when the bot has been silent for `quiet` seconds."""
    seen = -1
    while seen != len(emu.world.bot_events):
        seen = len(emu.world.bot_events)
        await asyncio.sleep(quiet)


async def _summary(db: Database) -> str:
    async with db.read() as session:
        members = await session.scalar(select(func.count(Member.id)))
        kept = await session.scalar(
            select(func.count(Member.id)).where(Member.kept_since.is_not(None))
        )
        enterprises = list(
            await session.execute(
                select(Enterprise.name, Enterprise.member_count).where(Enterprise.member_count > 0)
            )
        )
        alerts = await session.scalar(select(func.count(ThresholdAlert.id)))
        followed = await session.scalar(select(ThresholdAlert.followed_by_name))
        cases = list(await session.scalars(select(FoundingCase.stage)))
        unions = list(
            await session.execute(
                select(UnionOrg.name, func.count(Member.id))
                .join(Member, Member.union_org_id == UnionOrg.id)
                .where(Member.status == "active")
                .group_by(UnionOrg.name)
            )
        )
    lines = [f"members: {members} ({kept} keeping their membership while out of work)"]
    lines += [f"enterprise {name}: {_members(count)}" for name, count in enterprises]
    lines.append(f"federation alerts: {alerts} (followed up by {followed})")
    lines.append(f"founding cases: {', '.join(cases) or 'none'}")
    lines += [f"union {name}: {_members(count)}" for name, count in unions]
    return "\n".join(lines)


def _save_cards(emu: Emulator, folder: Path) -> None:
    """Every worker's cards, as delivered: the first one (the joint union's), and the one
    after the transfer (the enterprise union's) in `moved/`."""
    (folder / "moved").mkdir(exist_ok=True)
    for n in range(1, WORKERS + 1):
        photos = [m for m in emu.messages(FIRST_WORKER_ID + n) if "photo" in m]
        for where, message in zip((folder, folder / "moved"), photos, strict=False):
            data = emu.file_bytes(message["photo"][-1]["file_id"])
            (where / f"member-card-{n:02d}.png").write_bytes(data)


def _members(count: int) -> str:
    return f"{count} member" if count == 1 else f"{count} members"
