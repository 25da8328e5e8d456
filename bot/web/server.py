"""The dashboard's aiohttp application, served by the bot process itself: mounted under
/dashboard/ on the webhook's listener (webhook mode), or on a listener of its own
(`dashboard.listen_host:listen_port`, polling). Every response carries the security
headers; every page but signing in and the style sheet needs a live session whose person
holds a staff role now."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from bot.services.stats import StatsService
from bot.services.subsidy import SubsidyService
from bot.web import exports as export_files
from bot.web import pages
from bot.web.figures import DashboardReads
from bot.web.pages import (
    COOKIE,
    DASHBOARD,
    PREFIX,
    SESSION_ID,
    VIEWER,
    Dashboard,
    Refusal,
    message,
)
from bot.web.sessions import DashboardAuth, SessionEnded

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
MAX_BODY = 16 * 1024  # the only forms are signing in and out


def make_dashboard(app: App) -> Dashboard:
    settings = app.settings
    threshold = settings.federation.founding_threshold
    auth: DashboardAuth = app.dispatcher["dashboard"]
    return Dashboard(
        auth=auth,
        stats=app.dispatcher.workflow_data.get("stats")
        or StatsService(app.db, threshold, settings.service.review_days),
        reads=DashboardReads(app.db),
        enterprises=app.dispatcher["enterprises"],
        founding=app.dispatcher["founding"],
        activities=app.dispatcher["activities"],
        subsidy=SubsidyService(app.db),
        exports=export_files.Exports(app),
        fonts=app.dispatcher["fonts"],
        threshold=threshold,
        secure=settings.dashboard.secure,
        session_seconds=int(settings.dashboard.session_lifetime.total_seconds()),
    )


def dashboard_app(dashboard: Dashboard) -> web.Application:
    """The application mounted at /dashboard."""
    sub = web.Application(middlewares=[_answer_errors, _guard], client_max_size=MAX_BODY)
    sub[DASHBOARD] = dashboard
    sub.on_response_prepare.append(_security_headers)
    pages.add_routes(sub.router)
    return sub


def mount(root: web.Application, app: App) -> None:
    """Serve the dashboard under /dashboard/ of `root` (the webhook's application)."""
    root.router.add_get(PREFIX, _to_dashboard)  # before the sub-application, which would 404
    root.add_subapp(PREFIX, dashboard_app(make_dashboard(app)))


@contextlib.asynccontextmanager
async def own_listener(app: App) -> AsyncIterator[str | None]:
    """Polling mode: the dashboard on `dashboard.listen_host:listen_port` while the
    context lasts (its address); nothing when it is not enabled."""
    settings = app.settings.dashboard
    if not settings.enabled:
        yield None
        return
    async with listening(app, settings.listen_host, settings.listen_port) as address:
        log.info("the dashboard listens on %s", address)
        yield address


@contextlib.asynccontextmanager
async def listening(
    app: App, host: str, port: int, *, secure: bool | None = None
) -> AsyncIterator[str]:
    """The dashboard on a listener of its own while the context lasts; yields its
    address (port 0: a free port). `secure` overrides the cookie's Secure flag."""
    dashboard = make_dashboard(app)
    if secure is not None:
        dashboard = dataclasses.replace(dashboard, secure=secure)
    root = web.Application(client_max_size=MAX_BODY)
    root.on_response_prepare.append(_security_headers)
    root.router.add_get("/", _to_dashboard)
    root.router.add_get(PREFIX, _to_dashboard)
    root.add_subapp(PREFIX, dashboard_app(dashboard))
    runner = web.AppRunner(root, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0]
        yield f"http://{host}:{bound[1]}"
    finally:
        await runner.cleanup()


async def _to_dashboard(request: web.Request) -> web.Response:
    raise web.HTTPFound(PREFIX + "/")


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    # Pages hold figures; only the style sheet may be kept.
    response.headers.setdefault("Cache-Control", "no-store")


@web.middleware
async def _answer_errors(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Refusal as refusal:
        return message(request, refusal.status, refusal.title, refusal.text)
    except web.HTTPNotFound:
        return message(request, 404, "页面不存在", "没有找到您要的页面。")
    except web.HTTPMethodNotAllowed:
        return message(request, 405, "不支持的操作", "这个页面不支持这样打开。")
    except web.HTTPException:
        raise
    except Exception as error:
        # The type only: a page's data must not reach the log.
        log.error("dashboard %s failed: %s", request.path, type(error).__name__, exc_info=True)
        return message(request, 500, "出错了", "抱歉，系统暂时出了点问题，请稍后再试。")


@web.middleware
async def _guard(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """A live session and a staff role now, checked on the server for every request."""
    route_handler = request.match_info.handler
    if getattr(route_handler, "public", False):
        return await handler(request)
    if request.match_info.http_exception is not None:
        raise request.match_info.http_exception
    auth = request.app[DASHBOARD].auth
    session_id = request.cookies.get(COOKIE, "")
    try:
        if not session_id or len(session_id) > 100:
            raise SessionEnded("unknown")
        viewer = await auth.viewer(session_id)
    except SessionEnded as ended:
        if ended.reason == "revoked":
            response = message(
                request, 403, "会话已结束",
                "您的工作人员角色已被撤销，网页看板的登录已结束。",
            )  # fmt: skip
        else:
            response = message(
                request, 401, "请先登录",
                "请在 Telegram 中向机器人发送 /dashboard，打开收到的登录链接。",
            )  # fmt: skip
        if session_id:
            response.del_cookie(COOKIE, path="/")
        return response
    request[VIEWER] = viewer
    request[SESSION_ID] = session_id
    if request.method == "POST":
        form = await request.post()
        if not auth.csrf_ok(session_id, str(form.get("csrf", ""))):
            return message(request, 403, "请求无效", "页面已过期，请刷新后再试。")
    return await handler(request)
