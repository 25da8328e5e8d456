"""The `unionbot` command line.

Only the grammar (bot/cli_parsers.py) is imported up front; a command imports what it
uses when it runs, so `unionbot --help` or `unionbot keys generate` loads no database
driver, Bot API client, image library or cryptography (tests/test_cli_imports.py).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bot import cli_parsers
from bot.confirm import NotConfirmed

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.db import Database


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return asyncio.run(args.handler(args))
    except reported_errors() as error:  # evaluated only when something was raised
        print(f"unionbot: {error}", file=sys.stderr)
        return 2
    except NotConfirmed as refused:
        print(f"unionbot: {refused}", file=sys.stderr)
        return refused.status
    except KeyboardInterrupt:
        return 130


def reported_errors() -> tuple[type[BaseException], ...]:
    """What a command reports in one line rather than a traceback. Each comes from a
    module the failing command had loaded already."""
    from bot.config import ConfigError
    from bot.render.fonts import FontNotFoundError
    from bot.services.errors import DomainError

    return ConfigError, FontNotFoundError, DomainError, ValueError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unionbot", description="工会单体入会助手 — individual trade-union membership bot"
    )
    parser.add_argument("--config", type=Path, default=None, help="config file (config.toml)")
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(title="commands")

    run = commands.add_parser("run", help="run the bot (long polling, or --webhook)")
    run.add_argument("--webhook", action="store_true", help="receive updates by webhook")
    run.add_argument(
        "--standby",
        action="store_true",
        help="if another process already polls for this bot, wait and take over when it stops",
    )
    run.set_defaults(handler=cmd_run)

    demo = commands.add_parser("demo", help="play the whole story against the local emulator")
    demo.add_argument("--out", type=Path, default=Path("demo-output"))
    demo.set_defaults(handler=cmd_demo)

    db = commands.add_parser("db", help="database maintenance").add_subparsers(title="db")
    db.add_parser("upgrade", help="apply migrations").set_defaults(handler=cmd_db_upgrade)

    keys = commands.add_parser("keys", help="key material").add_subparsers(title="keys")
    keys.add_parser("generate", help="print a new random 32-byte key").set_defaults(
        handler=cmd_keys_generate
    )
    cli_parsers.add_admin_commands(commands)
    cli_parsers.add_enterprise_commands(commands)
    cli_parsers.add_case_commands(commands)
    cli_parsers.add_union_commands(commands)
    cli_parsers.add_service_card_commands(commands)
    cli_parsers.add_benefit_commands(commands)
    cli_parsers.add_activity_commands(commands)
    cli_parsers.add_subsidy_commands(commands)
    cli_parsers.add_audit_commands(commands)
    cli_parsers.add_menus_commands(commands)
    cli_parsers.add_emulator_commands(commands)
    cli_parsers.add_export_commands(commands)
    cli_parsers.add_tallies_commands(commands)
    return parser


def settings_of(args: argparse.Namespace) -> Settings:
    from bot.config import load_settings
    from bot.startup import keep_out_of_logs

    settings = load_settings(args.config)
    telegram = settings.telegram
    keep_out_of_logs(telegram.token.get_secret_value(), telegram.webhook.secret.get_secret_value())
    return settings


@asynccontextmanager
async def database_of(args: argparse.Namespace) -> AsyncIterator[Database]:
    """The configured database, upgraded, and closed again when the command is done."""
    from bot.db import Database
    from bot.migrate import upgrade_async

    settings = settings_of(args)
    await upgrade_async(settings.database.url)
    db = Database(settings.database.url)
    try:
        yield db
    finally:
        await db.dispose()


async def cmd_run(args: argparse.Namespace) -> int:
    from bot.lean_aiogram import import_lazily, warm_up

    import_lazily()  # before anything imports aiogram
    from bot.app import build_app
    from bot.instances import AnotherInstanceRunning
    from bot.runner import serve

    settings = settings_of(args)
    webhook = args.webhook or settings.telegram.mode == "webhook"
    app = await build_app(settings, webhook=webhook)
    warm_up()
    # What start-up loaded (modules, dictionaries, fonts) lives as long as the process:
    # out of the collector's full scans, which took 0.25-0.37 s each during a burst of
    # sends and held every send due meanwhile past its slot. Collected first: frozen
    # garbage is never freed (reading the fonts' cmaps leaves ~20 MiB of cycles).
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.getLogger(__name__).info(
        "@%s running (%s); Ctrl-C to stop", app.me.username, "webhook" if webhook else "polling"
    )
    try:
        await serve(app, stop, webhook=webhook, standby=args.standby)
    except AnotherInstanceRunning as error:
        print(f"unionbot: {error}", file=sys.stderr)
        return 1
    finally:
        await app.close()
    return 1 if app.instance.failed else 0


async def cmd_demo(args: argparse.Namespace) -> int:
    from bot.lean_aiogram import import_lazily

    import_lazily()
    from bot.demo import run_demo

    return await run_demo(args.out)


async def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bot.migrate import upgrade_async

    settings = settings_of(args)
    await upgrade_async(settings.database.url)
    print("database is up to date")
    return 0


async def cmd_keys_generate(_args: argparse.Namespace) -> int:
    from bot.keys import generate_key

    print(generate_key())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
