"""`unionbot menus sync`, and the menu refresh that the set-up commands run after a change.

The set-up commands work without Telegram (the database is what counts): when Telegram
cannot be reached they say so on stderr, and the bot sets the menus when it next starts.
"""

from __future__ import annotations

import argparse
import sys

from bot.db import Database

CLI_TIMEOUT = 10  # seconds per Bot API call: a set-up command should not hang


async def menus_sync(args: argparse.Namespace) -> int:
    from bot.cli import database_of

    async with database_of(args) as db:
        return 0 if await refresh(args, db, force=args.force, quiet=False) else 1


async def refresh(
    args: argparse.Namespace, db: Database, *, force: bool = False, quiet: bool = True
) -> bool:
    """Sync the menus after a set-up change; True if Telegram took every list."""
    from bot.app import make_bot
    from bot.cli import settings_of
    from bot.commands import CommandMenus, MenusUnavailable
    from bot.services.menus import MenuService

    settings = settings_of(args)
    bot = make_bot(settings)
    menus = CommandMenus(
        bot,
        MenuService(db),
        federation_chat_id=settings.federation.chat_id,
        request_timeout=CLI_TIMEOUT,
    )
    try:
        report = await menus.sync(force=force)
    except MenusUnavailable as error:
        print(
            f"command menus not updated ({error}); the bot sets them when it starts, "
            "or run: unionbot menus sync",
            file=sys.stderr,
        )
        return False
    finally:
        await bot.session.close()
    if report.failed:
        print(f"command menus refused by Telegram: {', '.join(report.failed)}", file=sys.stderr)
    if not quiet or report.set or report.deleted:
        print(
            f"command menus: {report.set} set, {report.deleted} deleted, "
            f"{report.unchanged} unchanged"
        )
    return not report.failed
