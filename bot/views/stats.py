"""The figures as staff read them in a group chat: /stats and the weekly digest."""

from __future__ import annotations

from html import escape

from bot.i18n import translate as _
from bot.pii import mask_numbers
from bot.services.stats import Overview, Progress, Ratio, StageFigures, StreetFigures

MAX_STREETS = 30  # rows of a digest, within Telegram's 4096 characters
STAGE_NAMES = {
    "following": "跟进中", "preparing": "筹备中", "assembly": "会员大会", "approved": "上级批复",
    "founded": "工会成立",
}  # fmt: skip


def percent(ratio: Ratio) -> str:
    value = ratio.percent
    if value is None:
        return "—"
    return f"{value:.1f}%（{ratio.numerator}/{ratio.denominator}）"


def hours(value: float | None) -> str:
    if value is None:
        return "—"
    return (
        _("{n} 小时").format(n=f"{value:.1f}")
        if value < 48
        else _("{n} 天").format(n=f"{value / 24:.1f}")
    )


def overview_text(figures: Overview) -> str:
    apps = figures.applications
    total = sum(apps.values())
    lines = [
        _("📊 <b>{scope} · {period}</b>").format(
            scope=escape(figures.scope), period=escape(figures.period.label)
        ),
        _("会员：在册 {active}（其中保留会籍 {kept}，已转入企业工会 {moved}），"
          "已终止 {ended}").format(
            active=figures.members_active, kept=figures.members_kept,
            moved=figures.members_transferred, ended=figures.members_ended,
        ),
        _("本期新会员 {new}；本期申请 {total}（通过 {ok}，未通过 {no}，待审核 {wait}）").format(
            new=figures.new_members, total=total, ok=apps.get("approved", 0),
            no=apps.get("rejected", 0), wait=apps.get("submitted", 0),
        ),
        _("审核用时：本期决定 {n} 件，中位数 {median}，90% 在 {p90} 内").format(
            n=figures.review.decided, median=hours(figures.review.median_hours),
            p90=hours(figures.review.p90_hours),
        ),
        _("建会率（企业库在册企业中已建会）：{coverage}").format(coverage=percent(figures.coverage)),
        _("个人会员占职工数（仅本系统会员，有职工人数的企业）：{share}").format(
            share=percent(figures.member_share)
        ),
        _("接近建会人数的企业 {near} 家；进行中的建会工作 {cases} 项").format(
            near=figures.near_threshold, cases=figures.open_cases
        ),
        _("“四个一”：服务卡 {card}，普惠服务 {benefit}，活动 {activity}，"
          "四项全部完成 {all}").format(
            card=figures.service_cards, benefit=figures.benefits, activity=figures.activities,
            all=figures.four_ones_all,
        ),
    ]  # fmt: skip
    return "\n".join(lines)


def streets_lines(rows: list[StreetFigures]) -> list[str]:
    """A line per street (the federation's view)."""
    lines = [
        _("<b>各街道</b>：在册 / 本期新会员 / 待审核 / 审核用时中位数（承诺 N 个工作日） / 建会率")
    ]
    for row in rows:
        lines.append(
            f"{escape(row.name)}：{row.members_active} / {row.new_members} / {row.waiting} / "
            f"{hours(row.review.median_hours)}（{row.promised_days}）/ {percent(row.coverage)}"
        )
    return lines


def next_lines(progress: list[Progress]) -> list[str]:
    if not progress:
        return []
    lines = [_("<b>接近建会人数的企业</b>")]
    for p in progress:
        days = (
            _("，首位会员 {n} 天前入会").format(n=p.days_since_first) if p.days_since_first else ""
        )
        lines.append(f"{escape(mask_numbers(p.name))}：{p.members}/{p.threshold}{days}")
    return lines


def stuck_lines(stages: list[StageFigures]) -> list[str]:
    open_stages = [s for s in stages if s.stage != "founded" and s.cases]
    if not open_stages:
        return []
    lines = [_("<b>建会工作</b>")]
    for s in open_stages:
        lines.append(
            _("{stage}：{n} 项（暂停 {paused}），在此阶段中位数 {days} 天").format(
                stage=STAGE_NAMES.get(s.stage, s.stage), n=s.cases, paused=s.paused,
                days=f"{s.median_days_in_stage:.0f}" if s.median_days_in_stage else "0",
            )
        )  # fmt: skip
    return lines


def usage_text() -> str:
    return _(
        "用法：/stats（本月），/stats 上月，/stats 本年，/stats 2026-01-01 2026-06-30。"
        "在街道审核群中显示本街道，在区总工会群中显示全区和各街道。"
    )


def weekly_text(figures: Overview, streets: list[StreetFigures], nearest: list[Progress],
                stages: list[StageFigures], idle_days: int) -> str:  # fmt: skip
    blocks = [
        _("📅 <b>区总工会周报</b>"),
        overview_text(figures),
        "\n".join(streets_lines(streets[:MAX_STREETS])),
        _("……另有 {n} 个街道，见 /stats 或网页看板。").format(n=len(streets) - MAX_STREETS)
        if len(streets) > MAX_STREETS
        else "",
        "\n".join(next_lines(nearest)),
        "\n".join(stuck_lines(stages)),
    ]
    stuck = [
        s for s in stages if s.stage != "founded" and (s.median_days_in_stage or 0) > idle_days
    ]
    if stuck:
        blocks.append(
            _("⚠️ 有建会工作在同一阶段已超过 {n} 天，请在 /cases 中查看。").format(n=idle_days)
        )
    return "\n\n".join(b for b in blocks if b)
