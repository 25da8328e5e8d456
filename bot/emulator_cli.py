"""`unionbot emulator`: the project's local Bot API emulator as a program of its own, so the
real bot can be tried on one machine without Telegram (which is blocked in mainland China).

It serves one bot (token and username from the config file when there is one, or given as
options), a few people and two groups, prints how to point the bot at it and how to act as
a person through its control API (`/_emulator/...`, JSON over HTTP), then prints the chats
as they happen until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tomllib
from typing import TYPE_CHECKING

from bot.config import DEFAULT_CONFIG_PATH, load_settings
from bot.demo_data import FEDERATION_GROUP, FEDERATION_STAFF, REVIEW_GROUP, STREET_STAFF

if TYPE_CHECKING:  # the emulator and the bot are imported when the command runs
    from bot.emulator import Emulator

# The same demo bot as `unionbot demo` (bot/local.py); repeated so `unionbot --help` does
# not import the whole bot.
DEMO_TOKEN = "7000000001:unionbot-local-emulator-token"
DEMO_USERNAME = "unionbot_demo_bot"

WORKERS = ((100001, "张伟"), (100002, "李娜"), (100003, "王强"))
REVIEW_TITLE = "德胜街道工会审核群"
FEDERATION_TITLE = "西城区总工会工作群"
# The reception points of the seed file, with fixed codes so `/start CODE` can be typed.
POINTS = (("德胜街道工会服务站", "station", "ds-station"), ("新康社区", "community", "xinkang"))


def bot_identity(args: argparse.Namespace) -> tuple[str, str, str]:
    """(token, username, where the token came from): options, then the config file (if
    there is one), then the demo bot's."""
    token, username, source = args.token, args.username, "--token"
    path = args.config or DEFAULT_CONFIG_PATH
    wanted = token is None or username is None
    if wanted and (args.config is not None or path.exists()):
        telegram = load_settings(args.config).telegram
        if token is None:
            token, source = telegram.token.get_secret_value(), f"telegram.token of {path}"
        username = username or telegram.bot_username.lstrip("@") or DEMO_USERNAME
    if token is None:
        token, source = DEMO_TOKEN, "the demo token"
    return token, username or DEMO_USERNAME, source


def populate(emu: Emulator, token: str, username: str) -> None:
    emu.add_bot(token, username, "工会入会助手")
    for user_id, name in (*STREET_STAFF, *FEDERATION_STAFF, *WORKERS):
        emu.add_user(user_id, name)
    staff = [user_id for user_id, _ in STREET_STAFF]
    federation = [user_id for user_id, _ in FEDERATION_STAFF]
    emu.add_group(REVIEW_GROUP, REVIEW_TITLE, staff, [staff[0]])
    emu.add_group(FEDERATION_GROUP, FEDERATION_TITLE, federation, [federation[0]])
    emu.add_bot_to_group(token, REVIEW_GROUP, staff[0])
    emu.add_bot_to_group(token, FEDERATION_GROUP, federation[0])


def seed_text() -> str:
    """A `unionbot seed` file for the emulator's people: 德胜街道, its review group, two
    reception points and the staff."""
    lines = ["[[streets]]", 'code = "DS"', 'name = "德胜街道"', f"review_chat_id = {REVIEW_GROUP}"]
    for name, kind, code in POINTS:
        lines += [
            "",
            "[[streets.points]]",
            f'name = "{name}"',
            f'kind = "{kind}"',
            f'code = "{code}"',
        ]
    for user_id, name in STREET_STAFF:
        lines += ["", "[[staff]]", f"telegram_user_id = {user_id}", f'name = "{name}"']
        lines += ['role = "street"', 'street = "DS"']
    for user_id, name in FEDERATION_STAFF:
        lines += ["", "[[staff]]", f"telegram_user_id = {user_id}", f'name = "{name}"']
        lines += ['role = "federation"']
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # what is written must read back
    return text


def instructions(base_url: str, username: str, source: str, token: str) -> str:
    shown = f"{source} ({DEMO_TOKEN})" if token == DEMO_TOKEN else source  # never a real one
    people = ", ".join(f"{uid} {name}" for uid, name in WORKERS)
    staff = ", ".join(f"{uid} {name}" for uid, name in STREET_STAFF)
    federation = ", ".join(f"{uid} {name}" for uid, name in FEDERATION_STAFF)
    control = f"{base_url}/_emulator"
    return f"""\
Bot API emulator on {base_url} for @{username}; token: {shown}. Ctrl-C stops it.

Point the bot at it (in another terminal), in config.toml:
    [telegram]
    api_base = "{base_url}"
    [federation]
    chat_id = {FEDERATION_GROUP}
  or for one run:  UNIONBOT__TELEGRAM__API_BASE={base_url} unionbot run
  Set the database up for these people once:
    unionbot emulator --seed-file emulator-seed.toml && unionbot seed emulator-seed.toml

People (user ids): workers {people}
  street staff {staff} in group {REVIEW_GROUP} {REVIEW_TITLE}
  federation staff {federation} in group {FEDERATION_GROUP} {FEDERATION_TITLE}

Act as a person through the control API (POST a JSON object, get JSON back):
    curl -s {control}/send_text -d '{{"user_id": {WORKERS[0][0]}, "text": "/start ds-station"}}'
    curl -s {control}/messages -d '{{"chat_id": {WORKERS[0][0]}}}'
    curl -s {control}/press_button -d '{{"user_id": {WORKERS[0][0]}, "chat_id": \
{WORKERS[0][0]}, "message_id": 2, "data": "<callback_data of a button>"}}'
    curl -s {control}/send_contact -d '{{"user_id": {WORKERS[0][0]}, "phone_number": \
"8613812345678"}}'
    curl -s {control}/transcript
  A private chat's id is the person's user id; buttons and their callback_data are in
  each message's reply_markup (see `messages`).
"""


async def run_emulator(args: argparse.Namespace) -> int:
    if args.seed_file is not None:
        args.seed_file.write_text(seed_text(), encoding="utf-8")
        print(f"seed file written: {args.seed_file} (load it with: unionbot seed {args.seed_file})")
        return 0
    from bot.emulator import Emulator

    token, username, source = bot_identity(args)
    emu = Emulator(args.host, args.port)
    populate(emu, token, username)
    try:
        await emu.start()
    except OSError as error:
        reason = error.strerror or str(error)
        print(
            f"unionbot: cannot listen on {args.host}:{args.port} ({reason}); "
            "choose another with --port",
            file=sys.stderr,
        )
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(instructions(emu.base_url, username, source, token), flush=True)
    follower = None if args.quiet else asyncio.create_task(_follow(emu, stop))
    try:
        await stop.wait()
    finally:
        if follower is not None:
            follower.cancel()
        await emu.stop()
    print("emulator stopped", flush=True)
    return 0


async def _follow(emu: Emulator, stop: asyncio.Event) -> None:
    """Print the transcript's new events as they come."""
    from bot.emulator.transcript import render_event

    shown = 0
    while not stop.is_set():
        events = emu.world.transcript.events
        for event in events[shown:]:
            print(render_event(event), flush=True)
        shown = len(events)
        await emu.world.changes.wait(1.0)
