"""`unionbot tallies check|rebuild`: the statistics' running counts against the rows."""

from __future__ import annotations

import argparse

SHOWN = 20  # differences listed; the count says how many there are


async def tallies_check(args: argparse.Namespace) -> int:
    from bot.cli import database_of
    from bot.services.tallies import TallyService

    async with database_of(args) as db:
        print("counting the rows ...", flush=True)
        differences = await TallyService(db).check()
    if not differences:
        print("the tallies agree with the rows")
        return 0
    print(f"tally rows that differ from a count of the rows: {len(differences)}")
    for d in differences[:SHOWN]:
        print(f"  {d.tally} {d.key}: counted {d.counted}, kept {d.kept}")
    if len(differences) > SHOWN:
        print(f"  ... and {len(differences) - SHOWN} more")
    print("run `unionbot tallies rebuild` to recount them (safe while the bot runs)")
    return 1


async def tallies_rebuild(args: argparse.Namespace) -> int:
    from bot.cli import database_of
    from bot.services.tallies import TallyService

    async with database_of(args) as db:
        print("recounting the tallies from the rows ...", flush=True)
        await TallyService(db).rebuild()
    print("done: the tallies are counted from the rows")
    return 0
