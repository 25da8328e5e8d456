"""The dashboard's pages. Each one asks the server-side role check (`request[VIEWER]`,
set by the guard in bot.web.server) what it may show: a street's staff get their street
and a refusal for any other, federation staff and administrators the district and any
street. Figures come from the statistics service; no page shows an id number, a mobile
or a member's name."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy.exc import NoResultFound

from bot import timefmt
from bot.pii import mask_numbers
from bot.render.charts import new_members_png, threshold_png
from bot.render.fonts import FontStack
from bot.services.activities import ActivityService
from bot.services.audit import Actor
from bot.services.enterprises import EnterpriseService
from bot.services.errors import NotAllowed, NotFound
from bot.services.founding import FoundingService
from bot.services.stats import Period, StatsService
from bot.services.subsidy import SubsidyService
from bot.web import exports as export_files
from bot.web.figures import DashboardReads
from bot.web.sessions import DashboardAuth, LinkRefused, Viewer
from bot.web.templating import STATIC, render
from models.base import utcnow

log = logging.getLogger(__name__)

PREFIX = "/dashboard"
COOKIE = "unionbot_dashboard"
PERIODS = (
    ("this_month", "本月"),
    ("last_month", "上月"),
    ("this_year", "今年"),
    ("range", "自定义"),
)
EXPIRED_LINK = "链接已失效，请在 Telegram 中重新发送 /dashboard"
SIGNED_OUT = "您已退出网页看板。再次查看请在 Telegram 中发送 /dashboard。"
SEARCH_MAX = 100
YEARS = (2000, 2100)  # dates outside are typing errors


@dataclass
class Dashboard:
    """What the pages use, made once per web application."""

    auth: DashboardAuth
    stats: StatsService
    reads: DashboardReads
    enterprises: EnterpriseService
    founding: FoundingService
    activities: ActivityService
    subsidy: SubsidyService
    exports: export_files.Exports
    fonts: FontStack
    threshold: int
    secure: bool  # served over https: the cookie is Secure
    session_seconds: int


DASHBOARD = web.AppKey("dashboard", Dashboard)
VIEWER = web.RequestKey("viewer", Viewer)
SESSION_ID = web.RequestKey("session_id", str)


class Refusal(Exception):
    """A page that cannot be shown, answered with a polite page and this status."""

    def __init__(self, status: int, title: str, text: str) -> None:
        super().__init__(title)
        self.status, self.title, self.text = status, title, text


def forbidden() -> Refusal:
    return Refusal(403, "没有权限", "您没有权限查看这个页面：街道工作人员只能查看本街道的数据。")


def not_found() -> Refusal:
    return Refusal(404, "页面不存在", "没有找到您要的页面。")


def public(handler: Any) -> Any:
    """Served without a session (signing in, the style sheet)."""
    handler.public = True
    return handler


def context(request: web.Request) -> Dashboard:
    return request.app[DASHBOARD]


def page(request: web.Request, template: str, *, status: int = 200, **values: Any) -> web.Response:
    viewer: Viewer | None = request.get(VIEWER)
    session_id: str | None = request.get(SESSION_ID)
    csrf = context(request).auth.csrf_token(session_id) if session_id else ""
    text = render(template, viewer=viewer, csrf=csrf, prefix=PREFIX, path=request.path, **values)
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def message(request: web.Request, status: int, title: str, text: str) -> web.Response:
    return page(request, "message.html", status=status, title=title, text=text)


# ---------------------------------------------------------------------------- scope


def scope_of(request: web.Request) -> int | None:
    """The street a page is about (`?street=`), or the viewer's own scope. Another
    street than a street's staff member's own is refused here, on the server."""
    viewer: Viewer = request[VIEWER]
    raw = request.query.get("street", "")
    if not raw:
        return viewer.home
    if not raw.isdigit() or len(raw) > 12:
        raise Refusal(400, "地址有误", "街道编号不对。")
    street_id = int(raw)
    if not viewer.may_see(street_id):
        raise forbidden()
    return street_id


def period_of(request: web.Request) -> Period:
    today = timefmt.local(utcnow()).date()
    kind = request.query.get("period", "this_month")
    if kind == "last_month":
        return Period.last_month(today)
    if kind == "this_year":
        return Period.this_year(today)
    if kind == "range":
        try:
            start = date.fromisoformat(request.query.get("start", ""))
            end = date.fromisoformat(request.query.get("end", ""))
            if not (YEARS[0] <= start.year and end.year <= YEARS[1]):
                raise ValueError("out of range")
            return Period.between(start, end)
        except ValueError:
            raise Refusal(400, "日期有误", "请填写开始和结束日期（结束不早于开始）。") from None
    return Period.this_month(today)


async def common(request: web.Request, street_id: int | None) -> dict[str, Any]:
    """What every page with a scope shows: the scope's name, the streets to choose from
    (district staff), the query that keeps scope and period across links."""
    viewer: Viewer = request[VIEWER]
    d = context(request)
    if street_id is None:
        scope_name = "全区"
    else:
        name = await d.reads.street_name(street_id)
        if name is None:
            raise not_found()
        scope_name = name
    streets = await d.reads.streets() if viewer.district else []
    street_query = {"street": str(street_id)} if street_id is not None else {}
    return {
        "scope_id": street_id,
        "scope_name": scope_name,
        "streets": streets,
        "periods": PERIODS,
        "period_kind": request.query.get("period", "this_month"),
        "start": request.query.get("start", ""),
        "end": request.query.get("end", ""),
        "street_query": urlencode(street_query),
    }


# ---------------------------------------------------------------------------- pages


async def overview(request: web.Request) -> web.Response:
    return await _overview(request, scope_of(request))


async def street(request: web.Request) -> web.Response:
    street_id = int(request.match_info["street_id"])
    if not request[VIEWER].may_see(street_id):
        raise forbidden()
    return await _overview(request, street_id)


async def _overview(request: web.Request, street_id: int | None) -> web.Response:
    d = context(request)
    values = await common(request, street_id)
    period = period_of(request)
    try:
        figures = await d.stats.overview(street_id, period)
    except NoResultFound:
        raise not_found() from None
    points = []
    if street_id is not None:
        points = await d.reads.points(street_id, await d.stats.by_point(street_id, period))
    return page(
        request, "overview.html", title="总览", active="overview", figures=figures,
        period=period, points=points, threshold=d.threshold, **values,
    )  # fmt: skip


async def streets(request: web.Request) -> web.Response:
    viewer: Viewer = request[VIEWER]
    if not viewer.district:
        raise forbidden()
    d = context(request)
    period = period_of(request)
    values = await common(request, None)
    rows = await d.stats.by_street(period)
    return page(request, "streets.html", title="街道", active="streets", rows=rows,
                period=period, **values)  # fmt: skip


async def points(request: web.Request) -> web.Response:
    d = context(request)
    street_id = scope_of(request)
    values = await common(request, street_id)
    period = period_of(request)
    rows = await d.reads.points(street_id, await d.stats.by_point(street_id, period))
    return page(request, "points.html", title="接待点", active="points", rows=rows,
                period=period, **values)  # fmt: skip


async def enterprises(request: web.Request) -> web.Response:
    d = context(request)
    street_id = scope_of(request)
    values = await common(request, street_id)
    query = request.query.get("q", "").strip()[:SEARCH_MAX]
    hits = []
    if query:
        for hit in await d.enterprises.search(query, limit=20):
            info = hit.enterprise
            # A street's staff find the enterprises of their street only.
            if street_id is None or info.street_id == street_id:
                hits.append(info)
    return page(
        request, "enterprises.html", title="企业", active="enterprises", q=query, hits=hits,
        searched=bool(query), next_up=await d.stats.next_to_found(street_id, limit=15),
        gaps=await d.stats.gaps(street_id, limit=15), threshold=d.threshold, **values,
    )  # fmt: skip


async def enterprise(request: web.Request) -> web.Response:
    d = context(request)
    viewer: Viewer = request[VIEWER]
    enterprise_id = int(request.match_info["enterprise_id"])
    try:
        info = await d.enterprises.get(enterprise_id)
    except NotFound:
        raise not_found() from None
    if not viewer.district and info.street_id not in viewer.street_ids:
        raise forbidden()
    months = await d.reads.enterprise_months(enterprise_id)
    case = await d.founding.of_enterprise(enterprise_id)
    values = await common(request, info.street_id if not viewer.district else None)
    return page(
        request, "enterprise.html", title=mask_numbers(info.name), active="enterprises", info=info,
        months=months, case=case, now=utcnow(), threshold=d.threshold, **values,
    )  # fmt: skip


async def cases(request: web.Request) -> web.Response:
    d = context(request)
    street_id = scope_of(request)
    values = await common(request, street_id)
    stages = await d.stats.cases_by_stage(street_id)
    rows = await d.founding.list(include_founded=True)
    if street_id is not None:
        inside = await d.reads.enterprises_of(street_id, {c.enterprise_id for c in rows})
        rows = [c for c in rows if c.enterprise_id in inside]
    return page(request, "cases.html", title="建会工作", active="cases", stages=stages,
                rows=rows, now=utcnow(), **values)  # fmt: skip


async def activities(request: web.Request) -> web.Response:
    d = context(request)
    viewer: Viewer = request[VIEWER]
    street_id = scope_of(request)
    values = await common(request, street_id)
    try:
        listed = await d.activities.for_staff(Actor(viewer.user_id, viewer.name))
    except NotAllowed:
        raise forbidden() from None
    if street_id is not None:
        listed = [a for a in listed if a.street_id == street_id]
    year = timefmt.local(utcnow()).year
    budgets = await d.subsidy.by_street(year)
    spent = await d.subsidy.by_activity(year)
    if street_id is not None:
        budgets = [row for row in budgets if row.street == values["scope_name"]]
        spent = [row for row in spent if row.street == values["scope_name"]]
    return page(
        request, "activities.html", title="活动与经费", active="activities", listed=listed,
        budgets=budgets, spent=spent, year=year, **values,
    )  # fmt: skip


async def exports(request: web.Request) -> web.Response:
    d = context(request)
    street_id = scope_of(request)
    values = await common(request, street_id)
    return page(request, "exports.html", title="导出", active="exports",
                topics=d.exports.topics(), **values)  # fmt: skip


async def download(request: web.Request) -> web.StreamResponse:
    d = context(request)
    viewer: Viewer = request[VIEWER]
    street_id = scope_of(request)
    topic = request.match_info["topic"]
    if topic not in dict(d.exports.topics()):
        raise not_found()
    try:
        return await d.exports.stream(request, topic, street_id, Actor(viewer.user_id, viewer.name))
    except export_files.ExportFailed as failed:
        raise Refusal(failed.status, "无法导出", failed.text) from None


async def new_members_chart(request: web.Request) -> web.Response:
    d = context(request)
    rows = await d.stats.monthly_new_members(scope_of(request), months=12)
    png = await asyncio.to_thread(new_members_png, rows, d.fonts)
    return web.Response(body=png, content_type="image/png")


async def threshold_chart(request: web.Request) -> web.Response:
    d = context(request)
    progress = await d.stats.next_to_found(scope_of(request), limit=10)
    png = await asyncio.to_thread(threshold_png, progress, d.threshold, d.fonts)
    return web.Response(body=png, content_type="image/png")


# ---------------------------------------------------------------------------- signing in


@public
async def sign_in_page(request: web.Request) -> web.Response:
    """The link from the chat opens this page; the button signs in. Opening the page
    does not use the link (a preview or a prefetch would), and the sign-in is a POST
    from this site, so the SameSite=Strict cookie it sets is sent on the next page."""
    token = request.query.get("t", "")
    try:
        viewer = await context(request).auth.check_link(token) if _plausible(token) else None
    except LinkRefused as error:
        return _refused_link(request, error)
    if viewer is None:
        return message(request, 410, "链接已失效", EXPIRED_LINK)
    return page(request, "signin.html", title="登录", person=viewer.name, token=token)


@public
async def sign_in(request: web.Request) -> web.Response:
    d = context(request)
    form = await request.post()
    token = str(form.get("t", ""))
    if not _plausible(token):
        return message(request, 410, "链接已失效", EXPIRED_LINK)
    try:
        session_id, _viewer = await d.auth.redeem(token)
    except LinkRefused as error:
        return _refused_link(request, error)
    response = web.Response(status=303, headers={"Location": PREFIX + "/"})
    response.set_cookie(
        COOKIE, session_id, max_age=d.session_seconds, path="/", secure=d.secure,
        httponly=True, samesite="Strict",
    )  # fmt: skip
    return response


async def sign_out(request: web.Request) -> web.Response:
    """A POST with the session's CSRF token (checked by the guard)."""
    await context(request).auth.sign_out(request[SESSION_ID])
    request.pop(VIEWER, None)
    request.pop(SESSION_ID, None)
    response = message(request, 200, "已退出", SIGNED_OUT)
    response.del_cookie(COOKIE, path="/")
    return response


@public
async def stylesheet(request: web.Request) -> web.Response:
    css = (STATIC / "dashboard.css").read_text(encoding="utf-8")
    response = web.Response(text=css, content_type="text/css", charset="utf-8")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def _plausible(token: str) -> bool:
    return 20 <= len(token) <= 100 and token.replace("-", "").replace("_", "").isalnum()


def _refused_link(request: web.Request, error: LinkRefused) -> web.Response:
    if error.reason == "not_staff":
        return message(request, 403, "无法登录", "您已不是工作人员，无法登录网页看板。")
    return message(request, 410, "链接已失效", EXPIRED_LINK)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", overview)
    router.add_get(r"/streets", streets)
    router.add_get(r"/streets/{street_id:\d{1,12}}", street)
    router.add_get("/points", points)
    router.add_get("/enterprises", enterprises)
    router.add_get(r"/enterprises/{enterprise_id:\d{1,12}}", enterprise)
    router.add_get("/cases", cases)
    router.add_get("/activities", activities)
    router.add_get("/exports", exports)
    router.add_get(r"/exports/{topic:[a-z_]{1,32}}.xlsx", download)
    router.add_get("/charts/new-members.png", new_members_chart)
    router.add_get("/charts/threshold.png", threshold_chart)
    router.add_get("/signin", sign_in_page)
    router.add_post("/signin", sign_in)
    router.add_post("/signout", sign_out)
    router.add_get("/static/dashboard.css", stylesheet)
