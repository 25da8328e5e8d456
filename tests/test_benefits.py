"""Benefit services (普惠服务) on a real database and through the bot: never more claims
than the quota (50 members claiming the last 10 places at once), a redemption code used
once (two scans at once), forged and replayed codes, scans by non-staff."""

from __future__ import annotations

import asyncio
import io
from datetime import date, timedelta
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from bot.people import WorkerData
from bot.pii import generate_key, parse_key
from bot.services.audit import Actor
from bot.services.benefits import TOKEN_PURPOSE, BenefitRefused, BenefitService
from bot.services.cards import CardSigner
from bot.services.errors import NotAllowed
from bot.services.service_cards import ServiceCardService
from models import Benefit, BenefitClaim, Member
from tests.conftest import World, make_members, make_resident_id
from tests.live import REVIEW_GROUP, STAFF_IDS, live_bot

STAFF = Actor(501, "审核员501")
TODAY = date(2026, 12, 6)


LOOKUP = parse_key(generate_key())


@pytest.fixture
def benefits(world: World) -> BenefitService:
    return BenefitService(world.db, CardSigner(LOOKUP, TOKEN_PURPOSE))


async def _members(world: World, count: int) -> list[int]:
    return await make_members(world, count, STAFF)


async def _benefit(benefits: BenefitService, quota: int, **extra: object) -> int:
    return await benefits.add(
        "免费健康体检", "德胜社区卫生服务中心", quota, TODAY - timedelta(days=1),
        TODAY + timedelta(days=30), Actor.cli("test"), **extra,  # type: ignore[arg-type]
    )  # fmt: skip


async def test_fifty_members_claim_the_last_ten_places(
    world: World, benefits: BenefitService
) -> None:
    users = await _members(world, 50)
    benefit = await _benefit(benefits, 10)
    results = await asyncio.gather(
        *(benefits.claim(user, benefit, TODAY) for user in users), return_exceptions=True
    )
    tokens = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, BenefitRefused)]
    assert len(tokens) == 10 and len(refused) == 40
    assert {r.code for r in refused} == {"full"}
    async with world.db.read() as session:
        claims = await session.scalar(select(func.count(BenefitClaim.id)))
        taken = await session.scalar(select(Benefit.claimed))
    assert claims == taken == 10


async def test_a_code_is_redeemed_once_and_only_by_staff(
    world: World, benefits: BenefitService
) -> None:
    (user,) = await _members(world, 1)
    benefit = await _benefit(benefits, 5)
    token = await benefits.claim(user, benefit, TODAY)
    with pytest.raises(BenefitRefused) as caught:
        await benefits.claim(user, benefit, TODAY)  # the same member again
    assert caught.value.code == "claimed" and caught.value.extra["token"] == token
    with pytest.raises(NotAllowed):
        await benefits.redeem(token, Actor(4242, "路人"))
    forged = token[:-1] + ("x" if token[-1] != "x" else "y")
    with pytest.raises(BenefitRefused) as caught:
        await benefits.redeem(forged, STAFF)
    assert caught.value.code == "forged"
    card_token = CardSigner(LOOKUP).token(1)  # same key material: a card's code is no benefit's
    with pytest.raises(BenefitRefused):
        await benefits.redeem(card_token, STAFF)
    results = await asyncio.gather(
        benefits.redeem(token, STAFF), benefits.redeem(token, Actor(502, "审核员502")),
        return_exceptions=True,
    )  # fmt: skip
    assert sorted(type(r).__name__ for r in results) == ["BenefitRefused", "Redemption"]
    with pytest.raises(BenefitRefused) as caught:
        await benefits.redeem(token, STAFF)  # replayed
    assert caught.value.code == "redeemed"
    async with world.db.read() as session:
        member_id = await session.scalar(select(Member.id))
    items = await ServiceCardService(world.db, world.cipher).four_ones(member_id)
    assert items.benefit_on is not None  # "one benefit service" is done


async def test_who_may_claim(world: World, benefits: BenefitService) -> None:
    first, second = await _members(world, 2)
    only_first_timers = await _benefit(benefits, 5, first_only=True)
    other = await _benefit(benefits, 5)
    await benefits.claim(first, other, TODAY)
    with pytest.raises(BenefitRefused) as caught:
        await benefits.claim(first, only_first_timers, TODAY)
    assert caught.value.code == "had_one"
    await benefits.claim(second, only_first_timers, TODAY)
    with pytest.raises(BenefitRefused) as caught:
        await benefits.claim(second, other, TODAY + timedelta(days=60))
    assert caught.value.code == "expired"
    with pytest.raises(BenefitRefused) as caught:
        await benefits.claim(4242, other, TODAY)
    assert caught.value.code == "not_member"
    offered = await benefits.for_member(first, TODAY)
    assert {b.id for b in offered} == {only_first_timers, other}


async def test_claim_and_redeem_through_the_bot(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        worker = live.worker(2201, "王五")
        data = WorkerData("王五", make_resident_id(220), "+8613900002201", "西城区老张早点铺")
        received = await worker.apply(live.point_code, data)
        number = received["text"].split("申请编号 ")[1].split("。")[0]
        card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
        await live.staff().press(card, "通过", "已通过")
        service: BenefitService = live.app.dispatcher["benefits"]
        today = date.today()
        period = (today - timedelta(days=1), today + timedelta(days=30))
        await service.add("免费健康体检", "德胜社区卫生服务中心", 3, *period, Actor.cli("test"))
        offer = await worker.say("/benefits", "免费健康体检")
        assert "剩余 3 个名额" in offer["text"]
        mark = live.emu.mark()
        await worker.press(offer, "领取", wait=False)
        photo = await live.emu.wait_for(
            lambda m: "核销码" in m.get("caption", "") and m["chat"]["id"] == worker.user_id,
            since=mark,
        )
        image = Image.open(io.BytesIO(live.emu.file_bytes(photo["photo"][-1]["file_id"])))
        link = zxingcpp.read_barcodes(image)[0].text
        payload = link.split("start=")[1]
        assert payload.startswith("b_")
        stranger = live.worker(2202, "路人")
        refused = await stranger.say(f"/start {payload}", "只有")
        assert "工作人员" in refused["text"]
        staff = live.staff(STAFF_IDS[0])
        done = await staff.say(f"/start {payload}", "已核销")
        assert "免费健康体检" in done["text"]
        again = await staff.say(f"/start {payload}", "已于")
        assert "使用" in again["text"]
        status = await worker.say("/status", "“四个一”会员服务：")
        assert "✅ 一项普惠制服务" in status["text"]
        assert not live.emu.internal_errors


def test_benefits_add_at_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_cli import run, write_config

    config = write_config(tmp_path)
    run(capsys, config, "streets", "add", "DS", "德胜街道")
    code, out, _ = run(
        capsys, config, "benefits", "add", "免费健康体检", "--provider", "德胜社区卫生服务中心",
        "--quota", "10", "--from", "2026-12-01", "--to", "2026-12-31", "--street", "DS",
    )  # fmt: skip
    assert (code, out) == (
        0, "benefit 1 added: 免费健康体检, 10 places for DS; announced to its members\n"
    )  # fmt: skip
    code, _, err = run(
        capsys, config, "benefits", "add", "体检", "--provider", "中心", "--quota", "1",
        "--from", "2026-12-31", "--to", "2026-12-01",
    )  # fmt: skip
    assert code == 2 and "period" in err
