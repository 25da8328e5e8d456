"""The bot-wide flood limits: the slots a pacer hands out keep every rule, in memory and in
the database (several processes reserving at once), on both engines."""

from __future__ import annotations

import asyncio
import itertools
import time

from bot.config import OutboxSettings
from bot.db import Database
from bot.pacing import (
    GLOBAL,
    OVERALL_SHARE,
    Limits,
    LocalPacer,
    Rule,
    SharedPacer,
    reservation,
    take_slot,
)
from tests.engines import Store

TELEGRAM = Limits(global_per_second=30, private_per_second=1, group_per_minute=20)
GROUP = -100500


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def broken_rules(slots: list[float], rules: tuple[Rule, ...]) -> list[str]:
    """Every window of each rule's period holds at most `limit` of the slots."""
    ordered = sorted(slots)
    problems = []
    for rule in rules:
        for i in range(len(ordered) - rule.limit):
            if ordered[i + rule.limit] - ordered[i] < rule.period:
                problems.append(f"{rule.limit + 1} sends within {rule.period}s at {ordered[i]}")
                break
    return problems


async def test_a_group_gets_one_a_second_and_twenty_a_minute() -> None:
    clock = Clock()
    pacer = LocalPacer(TELEGRAM, clock)
    slots = [(await pacer.reserve(GROUP)).latest for _ in range(45)]
    own = TELEGRAM.windows(GROUP)[0]
    assert broken_rules(slots, own.rules) == []
    assert slots[0] == clock.now  # a quiet group sends at once
    assert 1.0 <= slots[1] - slots[0] < 1.1  # then about one a second
    assert 60.0 <= slots[20] - slots[0] < 62.0  # the 21st waits for the first to leave
    assert slots == sorted(slots)


async def test_all_chats_together_get_thirty_a_second_evenly() -> None:
    clock = Clock()
    pacer = LocalPacer(TELEGRAM, clock)
    slots = [(await pacer.reserve(10_000 + i)).latest for i in range(120)]
    assert broken_rules(slots, TELEGRAM.windows(1)[1].rules) == []
    assert slots[0] == clock.now
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(slots)}
    assert gaps == {round(1 / (30 * OVERALL_SHARE), 6)}  # evenly spaced, never a burst
    rate = 119 / (slots[119] - slots[0])
    assert 0.95 * 30 <= rate <= 30, rate  # close to the configured rate
    # Room for the network's jitter: no 31 sends within a second even if any one of them
    # arrived 30 ms late.
    assert broken_rules(slots, (Rule(30, 1.03, slack=0.0),)) == []


async def test_new_messages_leave_part_of_a_groups_minute_to_edits() -> None:
    clock = Clock()
    pacer = LocalPacer(TELEGRAM, clock)
    for _ in range(15):  # new cards: 15 of the 20 a minute
        clock.now = (await pacer.reserve(GROUP)).latest
    clock.now += 1.1
    waits = await pacer.wait_times([GROUP], frozenset({GROUP}))
    assert waits[GROUP] > 40  # a 16th new card waits for the minute to pass ...
    assert (await pacer.wait_times([GROUP]))[GROUP] == 0.0  # ... an edit goes now
    for _ in range(5):
        clock.now = (await pacer.reserve(GROUP)).latest
    clock.now += 1.1
    assert (await pacer.wait_times([GROUP]))[GROUP] > 30  # the minute's 20 are used


async def test_a_private_chat_gets_one_a_second_and_waits_are_reported() -> None:
    clock = Clock()
    pacer = LocalPacer(TELEGRAM, clock)
    assert (await pacer.reserve(42)).latest == clock.now
    waits = await pacer.wait_times([42, 43])
    assert 1.0 <= waits[42] < 1.1 and waits[43] == 0.0
    clock.now += 2.0
    assert (await pacer.wait_times([42]))[42] == 0.0


async def test_quiet_chats_are_forgotten() -> None:
    clock = Clock()
    pacer = LocalPacer(TELEGRAM, clock)
    for i in range(5000):
        await pacer.reserve(20_000 + i)
        clock.now += 0.05
    # Forgotten in rounds (every 1,024 reservations): at most those since the last round
    # and those of the last second, and the overall window.
    assert len(pacer) <= 1024 + 25


async def test_processes_reserving_at_once_share_one_schedule(store: Store) -> None:
    from bot.migrate import upgrade_async

    await upgrade_async(store.url)
    # Faster rules than Telegram's, so that the test is short; the same code.
    limits = Limits.of(
        OutboxSettings(global_per_second=20, private_per_second=5, group_per_minute=600)
    )
    databases = [Database(store.url) for _ in range(4)]
    pacers = [SharedPacer(db, limits) for db in databases]
    slots: dict[int, list[float]] = {GROUP: [], 7: []}

    async def reserve(i: int) -> None:
        chat = GROUP if i % 2 else 7
        slot = await pacers[i % 4].reserve(chat)
        # In this process's clock the slot is known to within how long the database's
        # clock reading took (a send later than LATE after `earliest` takes a new slot).
        assert 0 <= slot.latest - slot.earliest < 0.5
        slots[chat].append(slot.planned)

    try:
        await asyncio.gather(*(reserve(i) for i in range(40)))
    finally:
        for db in databases:
            await db.dispose()
    # The schedule itself, in the database's clock, keeps every rule; the times are
    # stored to 0.1 ms.
    rounding = 0.0001
    for chat, taken in slots.items():
        rules = tuple(
            Rule(r.limit, r.widened - rounding, 0.0) for r in limits.windows(chat)[0].rules
        )
        assert broken_rules(taken, rules) == [], chat
    overall = tuple(Rule(r.limit, r.widened - rounding, 0.0) for r in limits.windows(7)[1].rules)
    assert broken_rules(slots[GROUP] + slots[7], overall) == []
    assert store.scalar("SELECT count(*) FROM send_window") == 3
    assert store.scalar("SELECT count(*) FROM send_window WHERE chat_id = ?", GLOBAL) == 1


async def test_a_missed_slot_is_given_back() -> None:
    """A send that woke too late takes the next slot; its own missed one no longer counts,
    so that the chat (one a second) is not pushed a second further back."""
    clock = Clock()
    pacer = LocalPacer(TELEGRAM, clock)
    missed = await pacer.reserve(42)
    clock.now += 0.5  # the event loop was busy
    again = await pacer.reserve(42, replacing=missed)
    assert again.latest == clock.now
    assert 1.0 <= (await pacer.wait_times([42]))[42] < 1.1  # one send counted, not two


async def test_a_missed_slot_is_given_back_in_the_database(store: Store) -> None:
    from bot.migrate import upgrade_async

    await upgrade_async(store.url)
    db = Database(store.url)
    try:
        pacer = SharedPacer(db, TELEGRAM)
        missed = await pacer.reserve(42)
        await asyncio.sleep(0.2)
        again = await pacer.reserve(42, replacing=missed)
        assert again.latest - missed.latest < 0.5  # not pushed a second back
        assert store.scalar("SELECT times FROM send_window WHERE chat_id = 42").count(",") == 0
    finally:
        await db.dispose()


async def test_a_slot_taken_by_another_send_passes_the_turn_on(store: Store) -> None:
    """Two sends into one chat at once: the second waits for the chat's next second
    without holding up sends into other chats."""
    from bot.migrate import upgrade_async

    await upgrade_async(store.url)
    db = Database(store.url)
    try:
        for pacer in (LocalPacer(TELEGRAM), SharedPacer(db, TELEGRAM)):
            chat = 50 if isinstance(pacer, LocalPacer) else 51
            sent: list[tuple[int, float]] = []

            async def send(chat_id: int, pacer=pacer, sent=sent) -> None:
                await take_slot(pacer, chat_id)
                sent.append((chat_id, time.monotonic()))

            await pacer.wait_times([chat])  # the first use opens the database connection
            await asyncio.gather(send(chat), send(chat), *(send(1000 + i) for i in range(5)))
            into_chat = [at for c, at in sent if c == chat]
            others = [at for c, at in sent if c != chat]
            assert into_chat[1] - into_chat[0] >= 1.0
            # Not behind the chat's second: every other chat's send went well before it
            # (a loaded machine stretches the reservations, not the chat's second).
            assert max(others) < into_chat[1] - 0.25, sent
    finally:
        await db.dispose()


async def test_the_stores_reservation_is_the_pacers_decision(store: Store) -> None:
    """The reservation as the store makes it (on PostgreSQL the database function
    send_window_reserve) equals bot.pacing.reservation on the same windows: the slot, and
    the times kept, through the rules' look-backs, a slot given back, the trimming of old
    times and the overall window's spacing."""
    from bot.migrate import upgrade_async

    await upgrade_async(store.url)
    db = Database(store.url)
    limits = Limits(global_per_second=3, private_per_second=1, group_per_minute=4)
    try:
        windows_store = SharedPacer(db, limits).store
        for case, (chat, back, lead, ago) in enumerate(
            [
                (GROUP, 0, 0.0, [70.0, 30.0, 20.0, 10.0, 1.5, 0.4]),  # the minute's rule
                (GROUP, 2, 0.05, [50.0, 40.0, 30.0, 20.0, -0.3]),  # a slot given back
                (7, 0, 0.01, [3.0, 0.9, 0.5, 0.2, -0.1, -0.2]),  # overall: 3 a second
                (8, None, 0.0, []),  # a chat and overall window never used
            ]
        ):
            windows = limits.windows(chat)
            _, now = await windows_store.read([GLOBAL])
            seeded = {
                windows[0].key: [round(now - a, 4) for a in ago],
                GLOBAL: [round(now - a - 0.05, 4) for a in ago[-3:]],
            }
            if chat == 8:
                seeded = {8: [], GLOBAL: []}
            await windows_store.change(
                sorted({chat, GLOBAL}), lambda locked, seeded=seeded: (seeded, None)
            )
            given_back = seeded[chat][back] if back is not None else None
            slot, locked = await windows_store.reserve(windows, lead, given_back)
            stored, _ = await windows_store.read(sorted({chat, GLOBAL}))
            expected, expected_slot = reservation(seeded, windows, locked.now, lead, given_back)
            assert abs(slot - expected_slot) <= 0.00005, case
            assert slot >= locked.now + lead - 0.00005, case
            assert {key: [round(t, 4) for t in times] for key, times in stored.items()} == {
                key: [round(t, 4) for t in times] for key, times in expected.items()
            }, case
            await windows_store.change(
                sorted({chat, GLOBAL}), lambda locked, chat=chat: ({GLOBAL: [], chat: []}, None)
            )
    finally:
        await db.dispose()
