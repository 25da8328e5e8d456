"""Member card render time: `python -m bench.bench_card [--n 200]` (target: p95 ≤ 100 ms).

Also how late the event loop's timers fire while cards are drawn in a worker thread, as
the outbox sender draws them: what the thread holds of the GIL delays every send."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import time

from bot.render.card import CardData, render_card
from bot.render.fonts import find_font_stack

TARGET_P95_MS = 100.0
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英晓文华建国玉梅志红"
UNIONS = ("北京市西城区德胜街道工会联合会", "北京市西城区德胜街道新街口外大街企业联合工会委员会")


def make_card(i: int) -> CardData:
    """A different card for every `i`: names of 2–4 characters, two union names."""
    name = SURNAMES[i % len(SURNAMES)] + "".join(
        GIVEN[(i * 7 + k * 13) % len(GIVEN)] for k in range(1 + i % 3)
    )
    return CardData(
        union_name=UNIONS[i % len(UNIONS)],
        member_name=name,
        member_number=f"XC-DS-2024-{i:06d}",
        join_date=datetime.date(2024, 1, 1) + datetime.timedelta(days=i % 365),
        masked_id=f"1101{i % 100:02d}********{i % 10_000:04d}",
        verify_url=f"https://t.me/unionbot_demo_bot?start=v_{i:08x}AbC123-_xyz",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200, help="cards to render (default 200)")
    args = parser.parse_args(argv)

    font = find_font_stack()  # the bot's fonts: the main one and its fallbacks
    render_card(make_card(-1), font)  # warm-up: load the font and its cmap
    times_ms = []
    for i in range(args.n):
        start = time.perf_counter()
        render_card(make_card(i), font)
        times_ms.append((time.perf_counter() - start) * 1000)

    median = statistics.median(times_ms)
    p95 = statistics.quantiles(times_ms, n=100)[94] if len(times_ms) > 1 else times_ms[0]
    print(f"font   {font.primary} ({font.primary.family})")
    print(f"cards  {args.n}")
    print(f"median {median:.1f} ms")
    print(f"p95    {p95:.1f} ms   (target ≤ {TARGET_P95_MS:.0f} ms)")
    lags = asyncio.run(_loop_lag_while_drawing(font, min(args.n, 60)))
    print(
        "loop   timers late by p50 {:.2f}, p90 {:.2f}, p99 {:.2f} ms while cards are drawn"
        " in a thread".format(*(lags[int(q * (len(lags) - 1))] * 1000 for q in (0.5, 0.9, 0.99)))
    )


async def _loop_lag_while_drawing(font: object, n: int) -> list[float]:
    """Sleep 2 ms over and over while `n` cards are drawn in a worker thread."""
    lags: list[float] = []
    drawing = True

    async def probe() -> None:
        while drawing:
            start = time.perf_counter()
            await asyncio.sleep(0.002)
            lags.append(time.perf_counter() - start - 0.002)

    task = asyncio.create_task(probe())
    for i in range(n):
        await asyncio.to_thread(render_card, make_card(i), font)
    drawing = False
    await task
    return sorted(lags)


if __name__ == "__main__":
    main()
