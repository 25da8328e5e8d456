"""The exports page's downloads: the Excel files of bot.exports, as masked as the screen
(the service masks numbers for everyone but the command line, checks who may have which
street, and audits each export). The workbook is written to a temporary file on disk and
sent from there in chunks, so a large export does not sit in memory."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from typing import IO, TYPE_CHECKING
from urllib.parse import quote

from aiohttp import web

from bot import timefmt
from bot.exports import TITLES, TOPICS, ExportRefused, ExportService
from bot.services.audit import Actor
from bot.services.errors import NotAllowed, NotFound
from models.base import utcnow

if TYPE_CHECKING:
    from bot.app import App

CHUNK = 64 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ExportFailed(Exception):
    """An export the service refused: `status` and a sentence for the page."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


class Exports:
    def __init__(self, app: App) -> None:
        self.service: ExportService = app.dispatcher["exports"]

    @staticmethod
    def topics() -> list[tuple[str, str]]:
        return [(topic, TITLES[topic]) for topic in TOPICS]

    async def stream(
        self, request: web.Request, topic: str, street_id: int | None, actor: Actor
    ) -> web.StreamResponse:
        with tempfile.TemporaryFile(prefix="unionbot-export-") as file:
            try:
                await self.service.write(topic, file, actor=actor, street_id=street_id)
            except NotAllowed:
                raise ExportFailed(403, "您没有权限导出这些数据。") from None
            except NotFound:
                raise ExportFailed(404, "没有这个街道。") from None
            except ExportRefused:
                raise ExportFailed(400, "没有这项导出。") from None
            size = await asyncio.to_thread(_rewind, file)
            stamp = timefmt.local(utcnow()).strftime("%Y%m%d")
            name = f"{TITLES[topic]}-{stamp}.xlsx"
            response = web.StreamResponse(
                headers={
                    "Content-Type": XLSX,
                    "Content-Length": str(size),
                    "Content-Disposition": (
                        f'attachment; filename="{topic}-{stamp}.xlsx"; '
                        f"filename*=UTF-8''{quote(name)}"
                    ),
                }
            )
            await response.prepare(request)
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                await response.write(chunk)
            with contextlib.suppress(ConnectionResetError):
                await response.write_eof()
            return response


def _rewind(file: IO[bytes]) -> int:
    size = file.seek(0, 2)
    file.seek(0)
    return size
