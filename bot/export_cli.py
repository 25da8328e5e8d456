"""`unionbot export TOPIC --xlsx FILE [--street CODE] [--full-ids] [--year YEAR]`: the
federation's and the streets' Excel exports at a terminal. The command line acts as the
administrator: the whole district by default, one street with --street, full resident id
and mobile numbers with --full-ids (members and applications; audited like every export).
Progress goes to stderr; the file appears only once complete."""

from __future__ import annotations

import argparse
import os
import sys
import time

from bot.services.audit import Actor

ACTOR = Actor.cli()
PROGRESS_EVERY = 10_000  # rows


async def export(args: argparse.Namespace) -> int:
    from bot.app import load_keys
    from bot.cli import database_of, settings_of
    from bot.exports import TITLES, ExportService

    target = args.xlsx
    if not target.parent.is_dir():
        print(f"unionbot: no folder {target.parent} to write {target.name} in", file=sys.stderr)
        return 2
    settings = settings_of(args)
    keys = load_keys(settings)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    started = time.monotonic()
    shown = [0]

    def progress(written: int, total: int) -> None:
        if written - shown[0] >= PROGRESS_EVERY or (written == total and shown[0]):
            shown[0] = written
            print(f"{args.topic}: {written:,} of {total:,} rows", file=sys.stderr, flush=True)

    async with database_of(args) as db:
        service = ExportService(db, keys.cipher, settings.federation.founding_threshold)
        street = await service.street(args.street) if args.street else None
        try:
            rows = await service.write(
                args.topic, partial, actor=ACTOR, street_id=street.id if street else None,
                full_ids=args.full_ids, year=args.year, progress=progress,
            )  # fmt: skip
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    os.replace(partial, target)
    scope = street.name if street else "全区"
    if args.year:
        scope += f", {args.year}"
    if args.full_ids:
        numbers = "full id and mobile numbers (audited)"
    elif args.topic in ("members", "applications"):
        numbers = "id and mobile numbers masked"
    else:
        numbers = "no id numbers"
    seconds = time.monotonic() - started
    print(f"{TITLES[args.topic]} ({scope}): {rows:,} rows written to {target} "
          f"({numbers}; {seconds:.1f} s)")  # fmt: skip
    return 0
