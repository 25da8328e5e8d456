"""Server-rendered pages: Jinja2 with autoescaping on, templates shipped in the package."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bot import timefmt
from bot.money import yuan
from bot.pii import mask_numbers

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

STAGE_LABELS = {
    "following": "跟进中",
    "preparing": "筹备中",
    "assembly": "会员大会已召开",
    "approved": "上级工会已批复",
    "founded": "工会已成立",
}
APPLICATION_LABELS = {
    "submitted": "待审核",
    "approved": "已通过",
    "rejected": "已驳回",
    "withdrawn": "已撤回",
}
ACTIVITY_LABELS = {"open": "报名中", "closed": "已结束", "cancelled": "已取消"}
ENTERPRISE_LABELS = {"active": "在营", "closed": "已注销", "moved_out": "已迁出"}


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def hours(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} 小时" if value < 48 else f"{value / 24:.1f} 天"


def moment(value: datetime | None) -> str:
    return "—" if value is None else timefmt.minute(value)


def day(value: datetime | date | None) -> str:
    return "—" if value is None else timefmt.day(value)


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Names typed by workers (a provisional enterprise) may hold an id or mobile number.
    env.filters.update(percent=percent, hours=hours, moment=moment, day=day, yuan=yuan,
                       masked=mask_numbers)  # fmt: skip
    env.globals.update(
        stage_label=lambda s: STAGE_LABELS.get(s, s),
        application_label=lambda s: APPLICATION_LABELS.get(s, s),
        activity_label=lambda s: ACTIVITY_LABELS.get(s, s),
        enterprise_label=lambda s: ENTERPRISE_LABELS.get(s, s),
    )
    return env


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context)
