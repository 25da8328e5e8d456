"""The employer step's whole service call, `EnterpriseService.suggest()`, database
included, on a registry of ~3,000 enterprises (bench/bench_matching.py makes it).

Two ways, in alternated rounds in one run:
- watched: the bot's way; the matcher is kept until the registry changes (bot/changes.py),
  so a call reads nothing from the database unless the text is a USCC;
- unwatched: a process that cannot know of changes (a command-line tool, or a broken
  watch); each call checks the registry's fingerprint with a query first.

    python -m bench.bench_suggest [--queries 2000] [--rounds 3] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.bench_matching import make_queries, make_registry
from bot.db import Database
from bot.migrate import upgrade_async
from bot.services.audit import Actor
from bot.services.enterprises import EnterpriseService
from bot.services.registry import import_registry


async def _timed(service: EnterpriseService, texts: list[str]) -> list[float]:
    timings = []
    for text in texts:
        started = time.perf_counter()
        await service.suggest(text, None)
        timings.append(time.perf_counter() - started)
    return timings


async def main(queries: int, rounds: int, database: str | None) -> None:
    rng = random.Random(7)
    companies = make_registry(3000, rng)
    texts = [text for _, _, text, _ in make_queries(companies, rng, queries)]
    with tempfile.TemporaryDirectory() as folder:
        url = database or f"sqlite+aiosqlite:///{Path(folder) / 'suggest.db'}"
        await upgrade_async(url)
        registry = Path(folder) / "registry.csv"
        with registry.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["企业名称", "职工人数"])
            writer.writerows([c.name, 50] for c in companies)
        watched_db, unwatched_db = Database(url), Database(url)
        try:
            await import_registry(
                unwatched_db, registry, actor=Actor.cli("bench"), require_uscc=False
            )
            await watched_db.changes.watch()
            ways = {
                "watched": EnterpriseService(watched_db, threshold=25, federation_chat_id=None),
                "unwatched": EnterpriseService(unwatched_db, threshold=25, federation_chat_id=None),
            }
            for service in ways.values():  # warm: the matcher built, pinyin memoised
                await _timed(service, texts[:50])
            medians: dict[str, list[float]] = {name: [] for name in ways}
            every: dict[str, list[float]] = {name: [] for name in ways}
            order = list(ways)
            for round_ in range(rounds):
                for name in order if round_ % 2 == 0 else reversed(order):
                    timings = await _timed(ways[name], texts)
                    medians[name].append(statistics.median(timings))
                    every[name].extend(timings)
        finally:
            await watched_db.dispose()
            await unwatched_db.dispose()
    engine = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
    print(f"suggest() on {engine}, {len(companies)} enterprises, {len(texts)} queries a round")
    for name in ways:
        ms = sorted(t * 1000 for t in every[name])
        rounds_ms = ", ".join(f"{m * 1000:.3f}" for m in medians[name])
        print(
            f"  {name:>9}: median {statistics.median(ms):.3f} ms "
            f"(rounds {rounds_ms}), p99 {ms[int(len(ms) * 0.99)]:.3f} ms"
        )
    ratio = statistics.median(every["unwatched"]) / statistics.median(every["watched"])
    print(f"  unwatched / watched: {ratio:.2f}x")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", help="a PostgreSQL URL (default: a SQLite file)")
    args = parser.parse_args()
    asyncio.run(main(args.queries, args.rounds, args.database))


if __name__ == "__main__":
    cli()
