"""A running bot with the web dashboard on a port of its own, a second street, and the
way staff get a sign-in link: /dashboard through the emulator."""

from __future__ import annotations

import contextlib
import random
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.people import WorkerData
from bot.services.admin import AdminService
from bot.services.audit import Actor
from tests.conftest import make_resident_id
from tests.live import REVIEW_GROUP, Live, live_bot

OTHER_STREET = "西长安街街道"
OTHER_POINT = "西单大悦城"
LINK = re.compile(r"(https?://\S+/dashboard/signin\?t=[A-Za-z0-9_-]+)")


def free_port() -> int:
    """A port free now, outside the ephemeral range when that is known (a port from
    bind(0) could be taken by an outgoing connection before the dashboard listens)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    candidates = random.sample(range(10_000, low), min(50, low - 10_000)) if low > 10_050 else []
    for port in [*candidates, 0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise RuntimeError("no free port")


@contextlib.asynccontextmanager
async def dashboard_bot(tmp_path: Path, **sections: Any) -> AsyncIterator[tuple[Live, str, int]]:
    """The bot with `[dashboard]` enabled: (live, the dashboard's address, the other
    street's id). Street staff of 德胜街道 must never see 西长安街街道."""
    port = free_port()
    address = f"http://127.0.0.1:{port}"
    dashboard = {"enabled": True, "listen_port": port, "public_url": address}
    async with live_bot(tmp_path, dashboard=dashboard, **sections) as live:
        admin = AdminService(live.app.db)
        cli = Actor.cli("test")
        await admin.add_street("XC", OTHER_STREET, cli)
        await admin.add_point("XC", OTHER_POINT, "building", cli)
        other = next(s.id for s in await admin.streets() if s.code == "XC")
        yield live, address, other


async def sign_in_link(live: Live, user_id: int, *, in_group: bool = False) -> str:
    """/dashboard sent by `user_id` (in the review group, or privately); the link that
    arrives in their private chat."""
    person = live.staff(user_id)
    live.emu.open_private_chat(user_id)
    mark = live.emu.mark()
    if in_group:
        said = await person.say("/dashboard", "私信", chat_id=REVIEW_GROUP)
        assert not LINK.search(said["text"]), "a sign-in link was posted in a group"
    else:
        await person.say("/dashboard", "登录链接")
    private = await live.emu.wait_for(user_id, "登录链接", since=mark)
    found = LINK.search(private["text"])
    assert found, private["text"]
    return found.group(1)


async def approved_member(live: Live, user_id: int = 1001, seq: int = 7) -> None:
    """One worker applies at 德胜街道's point and is approved: figures to show."""
    worker = live.worker(user_id, "王小明")
    data = WorkerData("王小明", make_resident_id(seq), "+8613812345678", "北京字节跳动科技有限公司")
    received = await worker.apply(live.point_code, data)
    number = received["text"].split("申请编号 ")[1].split("。")[0]
    card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
    await live.staff().press(card, "通过", "已通过")
    await live.emu.wait_for(user_id, "恭喜", since=0)
