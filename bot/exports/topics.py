"""What each export holds: per topic, its sheets as a statement over the rows and a
conversion of a chunk of those rows into what people read (Chinese labels, Beijing dates,
personal numbers masked unless asked for in full). The service (bot/exports/__init__.py)
counts, audits and streams them; nothing here holds more than one chunk.

Labels are Chinese whatever the reader's language: the files are the union's records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import aliased

from bot import timefmt
from bot.pii import PiiCipher, mask_mobile, mask_numbers, mask_resident_id
from bot.xlsx import Chunk, Percent
from models import (
    Activity,
    ActivitySignup,
    Application,
    Enterprise,
    FoundingCase,
    Member,
    ReceptionPoint,
    Street,
    UnionOrg,
)

GENDERS = {"male": "男", "female": "女"}
MEMBER_STATUSES = {"active": "在册", "kept": "保留", "transferred": "已转出", "ended": "终止"}
APPLICATION_STATUSES = {
    "submitted": "审核中", "approved": "已通过", "rejected": "未通过", "withdrawn": "已撤回",
}  # fmt: skip
REJECT_REASONS = {
    "incomplete": "材料不完整", "outside_area": "不属于本街道受理范围", "duplicate": "重复申请",
    "other": "其他原因",
}  # fmt: skip
CHANNELS = {"qr": "扫码申请", "online": "线上申请", "assisted": "纸质申请"}
ENTERPRISE_STATUSES = {"active": "正常", "closed": "已注销或停业", "moved_out": "已迁出"}
CASE_STAGES = {
    "following": "跟进中", "preparing": "筹备中", "assembly": "会员大会已召开",
    "approved": "上级工会已批复", "founded": "工会已成立",
}  # fmt: skip
PAUSE_REASONS = {
    "refused": "企业拒绝", "closed": "企业注销或停业", "moved_out": "企业迁出",
    "too_few": "会员人数不足", "other": "其他原因",
}  # fmt: skip
ACTIVITY_STATUSES = {"open": "进行中", "closed": "已结束", "cancelled": "已取消"}
SIGNUP_STATUSES = {"confirmed": "已确认", "waiting": "候补", "cancelled": "已取消"}
DISTRICT = "全区"
YES, NO = "是", "否"


@dataclass(frozen=True)
class Scope:
    """Whose rows, and how they are shown."""

    cipher: PiiCipher
    threshold: int
    street_id: int | None  # None: the whole district
    year: int | None  # Beijing calendar year of the topic's own date
    full_ids: bool
    now: datetime


@dataclass(frozen=True)
class Part:
    """One sheet: its rows are `statement`'s, each chunk converted by `convert`."""

    title: str
    headers: tuple[str, ...]
    statement: Select[Any]
    convert: Callable[[Chunk], Chunk]


# ---------------------------------------------------------------------------- members

MEMBER_HEADERS = (
    "会员编号", "姓名", "性别", "出生日期", "身份证号", "手机号", "工作单位", "所属工会",
    "街道", "受理点", "入会日期", "状态", "保留会籍日期", "终止日期",
)  # fmt: skip


def members(scope: Scope) -> list[Part]:
    """会员名册: every member (active, kept, transferred to an enterprise union, ended)."""
    m, a = Member, Application
    statement = (
        select(m.number, a.name, a.gender, a.birth_date, a.ric_cipher, a.mobile_cipher,
               a.anonymised_at, a.channel, Enterprise.name, UnionOrg.name, UnionOrg.kind,
               Street.name, ReceptionPoint.name, m.joined_at, m.status, m.kept_since,
               m.ended_at)
        .join(a, a.id == m.application_id)
        .join(Enterprise, Enterprise.id == m.enterprise_id)
        .join(UnionOrg, UnionOrg.id == m.union_org_id)
        .join(Street, Street.id == m.street_id)
        .outerjoin(ReceptionPoint, ReceptionPoint.id == a.point_id)
        .order_by(m.number)
    )  # fmt: skip
    if scope.street_id is not None:
        statement = statement.where(m.street_id == scope.street_id)
    statement = _in_year(statement, m.joined_at, scope.year)
    show = _Shown(scope)

    def convert(rows: Chunk) -> Chunk:
        out = []
        for (number, name, gender, birth, ric, mobile, erased, channel, employer, union,
             kind, street, point, joined, status, kept, ended) in rows:  # fmt: skip
            out.append((
                number, show.text(name), GENDERS.get(gender, ""),
                None if erased else birth,
                show.resident_id(None if erased else ric),
                show.mobile(None if erased else mobile),
                show.text(employer), union, street, point or CHANNELS.get(channel, channel),
                _day(joined), MEMBER_STATUSES[member_status(status, kept, kind)],
                _day(kept), _day(ended),
            ))  # fmt: skip
        return out

    return [Part("会员名册", MEMBER_HEADERS, statement, convert)]


def member_status(status: str, kept_since: datetime | None, union_kind: str) -> str:
    """ended (终止); kept (保留会籍, out of work or retired); transferred (the membership is
    with an enterprise union, named in 所属工会); active (在册, in the joint union)."""
    if status != "active":
        return "ended"
    if kept_since is not None:
        return "kept"
    return "transferred" if union_kind == "enterprise" else "active"


# ---------------------------------------------------------------------------- applications

APPLICATION_HEADERS = (
    "申请编号", "状态", "姓名", "身份证号", "手机号", "提交时间", "审核时间", "审核人",
    "未通过原因", "街道", "受理点", "渠道", "填写的工作单位", "门店或分支", "企业", "会员编号",
)  # fmt: skip


def applications(scope: Scope) -> list[Part]:
    """入会申请: every application; names as on the review cards, numbers masked."""
    a = Application
    statement = (
        select(a.number, a.status, a.name, a.ric_cipher, a.mobile_cipher, a.anonymised_at,
               a.submitted_at, a.decided_at, a.decided_by_name, a.reject_reason, Street.name,
               ReceptionPoint.name, a.channel, a.assisted_by_name,
               # As the worker typed it (kept since 2026-12), else the name the form settled.
               func.coalesce(a.employer_typed, a.employer_text), a.employer_branch,
               Enterprise.name, Member.number)
        .join(Street, Street.id == a.street_id)
        .join(Enterprise, Enterprise.id == a.enterprise_id)
        .outerjoin(ReceptionPoint, ReceptionPoint.id == a.point_id)
        .outerjoin(Member, Member.application_id == a.id)
        .order_by(a.number)
    )  # fmt: skip
    if scope.street_id is not None:
        statement = statement.where(a.street_id == scope.street_id)
    statement = _in_year(statement, a.submitted_at, scope.year)
    show = _Shown(scope)

    def convert(rows: Chunk) -> Chunk:
        out = []
        for (number, status, name, ric, mobile, erased, submitted, decided, decided_by,
             reason, street, point, channel, assisted_by, typed, branch, enterprise,
             member) in rows:  # fmt: skip
            way = CHANNELS.get(channel, channel)
            if channel == "assisted" and assisted_by:
                way = f"{way}（{assisted_by}代录）"
            out.append((
                number, APPLICATION_STATUSES.get(status, status), show.text(name),
                show.resident_id(None if erased else ric), show.mobile(None if erased else mobile),
                submitted, decided, decided_by, REJECT_REASONS.get(reason or "", reason),
                street, point, way, show.text(typed), show.text(branch), show.text(enterprise),
                member,
            ))  # fmt: skip
        return out

    return [Part("入会申请", APPLICATION_HEADERS, statement, convert)]


# ---------------------------------------------------------------------------- enterprises

ENTERPRISE_HEADERS = (
    "企业编号", "企业名称", "统一社会信用代码", "街道", "来源", "状态", "职工人数", "已建会",
    "工会名称", "单体会员", "建会门槛", "进度", "尚差人数", "首位会员入会日期",
    "距首位会员天数", "建会工作",
)  # fmt: skip


def enterprises(scope: Scope) -> list[Part]:
    """企业与建会进度: each enterprise (merged ones are in the one they were merged into),
    the individual members counted toward founding (Enterprise.member_count: active, not
    kept) against the threshold, and how long ago the first of those joined."""
    e = Enterprise
    counted = (
        select(Member.enterprise_id.label("enterprise_id"),
               func.min(Member.joined_at).label("first_joined"))
        .where(Member.status == "active", Member.kept_since.is_(None))
        .group_by(Member.enterprise_id)
        .subquery()
    )  # fmt: skip
    union = aliased(UnionOrg)
    statement = (
        select(e.id, e.name, e.uscc, Street.name, e.provisional, e.status, e.employees,
               e.has_union, union.name, e.union_name, e.member_count, counted.c.first_joined,
               FoundingCase.stage, FoundingCase.paused)
        .outerjoin(Street, Street.id == e.street_id)
        .outerjoin(union, and_(union.enterprise_id == e.id, union.kind == "enterprise"))
        .outerjoin(counted, counted.c.enterprise_id == e.id)
        .outerjoin(FoundingCase, FoundingCase.enterprise_id == e.id)
        .where(e.merged_into_id.is_(None))
        .order_by(e.member_count.desc(), e.id)
    )  # fmt: skip
    if scope.street_id is not None:
        statement = statement.where(e.street_id == scope.street_id)
    show, threshold, today = _Shown(scope), scope.threshold, timefmt.local(scope.now).date()

    def convert(rows: Chunk) -> Chunk:
        out = []
        for (eid, name, uscc, street, provisional, status, employees, has_union, founded,
             union_name, count, first, stage, paused) in rows:  # fmt: skip
            unionised = bool(has_union) or founded is not None
            first_day = _day(first)
            case_text = CASE_STAGES.get(stage, stage) if stage else None
            if case_text and paused:
                case_text += "（暂缓）"
            out.append((
                eid, show.text(name), uscc, street, "临时（职工填写）" if provisional else "名录",
                ENTERPRISE_STATUSES.get(status, status), employees, YES if unionised else NO,
                founded or union_name, count, threshold,
                None if unionised else Percent(count / threshold),
                None if unionised else max(threshold - count, 0),
                first_day, (today - first_day).days if first_day else None, case_text,
            ))  # fmt: skip
        return out

    return [Part("企业与建会进度", ENTERPRISE_HEADERS, statement, convert)]


# ---------------------------------------------------------------------------- cases

CASE_HEADERS = (
    "编号", "企业", "统一社会信用代码", "街道", "单体会员", "阶段", "暂缓", "暂缓原因",
    "负责人", "开始日期", "本阶段开始", "本阶段天数", "最近变更",
)  # fmt: skip


def cases(scope: Scope) -> list[Part]:
    """建会工作: each founding case, its stage and how long it has been there."""
    c = FoundingCase
    statement = (
        select(c.id, Enterprise.name, Enterprise.uscc, Street.name, Enterprise.member_count,
               c.stage, c.paused, c.pause_reason, c.pause_note, c.owner_name, c.opened_at,
               c.stage_since, c.touched_at)
        .join(Enterprise, Enterprise.id == c.enterprise_id)
        .outerjoin(Street, Street.id == Enterprise.street_id)
        .order_by(c.id)
    )  # fmt: skip
    if scope.street_id is not None:
        statement = statement.where(Enterprise.street_id == scope.street_id)
    statement = _in_year(statement, c.opened_at, scope.year)
    show, today = _Shown(scope), timefmt.local(scope.now).date()

    def convert(rows: Chunk) -> Chunk:
        out = []
        for (cid, name, uscc, street, count, stage, paused, reason, note, owner, opened,
             since, touched) in rows:  # fmt: skip
            why = PAUSE_REASONS.get(reason or "", reason) if paused else None
            if paused and reason == "other" and note:
                why = f"{why}：{note}"
            since_day = _day(since)
            out.append((
                cid, show.text(name), uscc, street, count, CASE_STAGES.get(stage, stage),
                YES if paused else NO, why, owner, _day(opened), since_day,
                (today - since_day).days if since_day else None, touched,
            ))  # fmt: skip
        return out

    return [Part("建会工作", CASE_HEADERS, statement, convert)]


# ---------------------------------------------------------------------------- activities

ACTIVITY_HEADERS = (
    "活动编号", "活动", "街道", "地点", "开始时间", "结束时间", "报名截止", "名额", "已确认",
    "候补", "已签到", "状态", "创建人",
)  # fmt: skip
SIGNUP_HEADERS = (
    "活动编号", "活动", "会员编号", "姓名", "报名状态", "报名时间", "确认时间", "取消时间",
    "签到时间", "签到人",
)  # fmt: skip


def activities(scope: Scope) -> list[Part]:
    """活动与签到: the activities with their places, and every sign-up with its check-in.
    A street's export holds the street's own activities (district-wide ones are the
    federation's: their figures count every street's members)."""
    s = ActivitySignup
    tally = (
        select(s.activity_id.label("activity_id"),
               func.sum(case((s.status == "waiting", 1), else_=0)).label("waiting"),
               func.count(s.attended_at).label("attended"))
        .group_by(s.activity_id)
        .subquery()
    )  # fmt: skip
    listed = (
        select(Activity.id, Activity.title, Street.name, Activity.place, Activity.starts_at,
               Activity.ends_at, Activity.signup_deadline, Activity.capacity,
               Activity.confirmed, tally.c.waiting, tally.c.attended, Activity.status,
               Activity.created_by_name)
        .outerjoin(Street, Street.id == Activity.street_id)
        .outerjoin(tally, tally.c.activity_id == Activity.id)
        .order_by(Activity.starts_at, Activity.id)
    )  # fmt: skip
    signups = (
        select(Activity.id, Activity.title, Member.number, Application.name, s.status,
               s.queued_at, s.confirmed_at, s.cancelled_at, s.attended_at,
               s.checked_in_by_name)
        .join(Activity, Activity.id == s.activity_id)
        .join(Member, Member.id == s.member_id)
        .join(Application, Application.id == Member.application_id)
        .order_by(Activity.starts_at, Activity.id, s.queued_at, s.id)
    )  # fmt: skip
    if scope.street_id is not None:
        listed = listed.where(Activity.street_id == scope.street_id)
        signups = signups.where(Activity.street_id == scope.street_id)
    listed = _in_year(listed, Activity.starts_at, scope.year)
    signups = _in_year(signups, Activity.starts_at, scope.year)
    show = _Shown(scope)

    def convert_listed(rows: Chunk) -> Chunk:
        return [
            (aid, title, street or DISTRICT, place, starts, ends, deadline, capacity,
             confirmed, int(waiting or 0), int(attended or 0),
             ACTIVITY_STATUSES.get(status, status), by)
            for (aid, title, street, place, starts, ends, deadline, capacity, confirmed,
                 waiting, attended, status, by) in rows
        ]  # fmt: skip

    def convert_signups(rows: Chunk) -> Chunk:
        return [
            (aid, title, number, show.text(name), SIGNUP_STATUSES.get(status, status), queued,
             confirmed, cancelled, attended, by)
            for (aid, title, number, name, status, queued, confirmed, cancelled, attended,
                 by) in rows
        ]  # fmt: skip

    return [
        Part("活动", ACTIVITY_HEADERS, listed, convert_listed),
        Part("报名与签到", SIGNUP_HEADERS, signups, convert_signups),
    ]


BUILDERS: dict[str, Callable[[Scope], list[Part]]] = {
    "members": members,
    "applications": applications,
    "enterprises": enterprises,
    "cases": cases,
    "activities": activities,
}


# ---------------------------------------------------------------------------- helpers


class _Shown:
    """Personal numbers as this export shows them: masked (as staff see them on screen)
    unless the export is one of full numbers. Free text a worker typed (a name, an
    employer) may hold a number typed in the wrong field: masked too."""

    def __init__(self, scope: Scope) -> None:
        self.cipher, self.full = scope.cipher, scope.full_ids

    def resident_id(self, blob: bytes | None) -> str:
        if blob is None:
            return ""
        number = self.cipher.decrypt(blob, context="ric")
        return number if self.full or not number else mask_resident_id(number)

    def mobile(self, blob: bytes | None) -> str:
        if blob is None:
            return ""
        number = self.cipher.decrypt(blob, context="mobile")
        return number.removeprefix("+86") if self.full else mask_mobile(number)

    def text(self, value: str | None) -> str | None:
        if value is None or self.full:
            return value
        return mask_numbers(value)


def _in_year(statement: Select[Any], column: Any, year: int | None) -> Select[Any]:
    if year is None:
        return statement
    start = datetime(year, 1, 1, tzinfo=timefmt.BEIJING)
    end = datetime(year + 1, 1, 1, tzinfo=timefmt.BEIJING)
    return statement.where(column >= start, column < end)


def _day(moment: datetime | str | None) -> date | None:
    """A moment's Beijing date (an aggregate may come back from SQLite as text)."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return timefmt.local(moment).date()
