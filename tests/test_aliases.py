"""Aliases of enterprises (brands, store and English names): imported from the registry,
added and removed by federation staff or at the command line, carried by merges, and
used by the matcher to find the enterprise a worker names."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.changes import ENTERPRISES_TOPIC
from bot.cli import main
from bot.db import Database
from bot.services.enterprises import AliasRefused, EnterpriseService, find_or_create, name_key
from bot.services.errors import NotAllowed, NotFound
from bot.services.registry import import_registry
from models import AuditEntry, Enterprise, EnterpriseAlias
from tests import engines
from tests.conftest import THRESHOLD, World
from tests.test_cli import write_config
from tests.test_merge import CLI, FEDERATION, STAFF, add_registered, service
from tests.test_registry_import import CHINESE, uscc, write_csv

HEMA = "北京盒马网络科技有限公司"
LUCKIN = "瑞幸咖啡（北京）有限公司"
LIANJIA = "北京链家房地产经纪有限公司"
HEMA_USCC = uscc("91110105MA01H7K8P")
LUCKIN_USCC = uscc("91110108MA02L5C6X")
LIANJIA_USCC = uscc("91110105MA03J4A9R")
HEADER = [*CHINESE, "别名", "英文名称"]


def registry_row(code: str, name: str, other: str, english: str) -> list[object]:
    return [code, name, "德胜街道", "", "", "", other, english]


async def stored(world: World, code: str) -> list[tuple[str, str]]:
    """(alias, source) of the enterprise with this USCC, as the database holds them."""
    async with world.db.read() as session:
        rows = await session.execute(
            select(EnterpriseAlias.alias, EnterpriseAlias.source)
            .join(Enterprise, Enterprise.id == EnterpriseAlias.enterprise_id)
            .where(Enterprise.uscc == code)
            .order_by(EnterpriseAlias.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def audits(world: World, action: str) -> int:
    async with world.db.read() as session:
        query = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
        return int(await session.scalar(query) or 0)


async def three_enterprises(world: World, tmp_path: Path) -> None:
    """盒马 with two names in one cell and an English one, 瑞幸 with one English name
    written twice, 链家 with a name too long for the column."""
    path = write_csv(
        tmp_path / "registry.csv",
        HEADER,
        [
            registry_row(HEMA_USCC, HEMA, "盒马鲜生；盒马", "Freshippo"),
            registry_row(LUCKIN_USCC, LUCKIN, "瑞幸", "Luckin Coffee / LUCKIN COFFEE"),
            registry_row(LIANJIA_USCC, LIANJIA, "链家、" + "长" * 101, ""),
        ],
        "utf-8",
    )
    summary = await import_registry(world.db, path)
    assert (summary.added, summary.aliases_added, summary.aliases_removed) == (3, 6, 0)
    assert [line for line, _ in summary.warnings] == [4]
    assert "100" in summary.warnings[0][1]
    assert ("别名", "aliases") in summary.columns and ("英文名称", "aliases") in summary.columns


# ---------------------------------------------------------------------------- registry


async def test_import_reads_every_alias_column_and_splits_cells(
    world: World, tmp_path: Path
) -> None:
    await three_enterprises(world, tmp_path)
    assert await stored(world, HEMA_USCC) == [
        ("盒马鲜生", "registry"),
        ("盒马", "registry"),
        ("Freshippo", "registry"),
    ]
    # The same name in two cases is one alias.
    assert await stored(world, LUCKIN_USCC) == [("瑞幸", "registry"), ("Luckin Coffee", "registry")]
    assert await stored(world, LIANJIA_USCC) == [("链家", "registry")]


async def test_reimport_replaces_registry_aliases_and_keeps_staff_ones(
    world: World, tmp_path: Path
) -> None:
    await three_enterprises(world, tmp_path)
    await service(world).add_alias(HEMA_USCC, "盒马超市", FEDERATION)
    async with world.db.read() as session:
        ids_before = set(await session.scalars(select(EnterpriseAlias.id)))

    again = await import_registry(world.db, tmp_path / "registry.csv")
    assert (again.aliases_added, again.aliases_removed, again.unchanged) == (0, 0, 3)
    async with world.db.read() as session:
        assert set(await session.scalars(select(EnterpriseAlias.id))) == ids_before

    changed = write_csv(
        tmp_path / "changed.csv",
        HEADER,
        [
            registry_row(HEMA_USCC, HEMA, "盒马鲜生", ""),
            # Another enterprise's alias (staff gave it to 盒马): left out, with a warning.
            registry_row(LUCKIN_USCC, LUCKIN, "盒马超市；小蓝杯", ""),
            registry_row(LIANJIA_USCC, LIANJIA, "链家；小蓝杯", ""),  # 瑞幸's, a row above
        ],
        "utf-8",
    )
    summary = await import_registry(world.db, changed)
    assert (summary.aliases_added, summary.aliases_removed) == (1, 4)
    assert await stored(world, HEMA_USCC) == [("盒马鲜生", "registry"), ("盒马超市", "staff")]
    assert await stored(world, LUCKIN_USCC) == [("小蓝杯", "registry")]
    assert await stored(world, LIANJIA_USCC) == [("链家", "registry")]
    assert [(line, note.split(" / ")[1]) for line, note in summary.warnings] == [
        (3, f"the alias '盒马超市' belongs to {HEMA} and was left out"),
        (4, "the alias '小蓝杯' belongs to an enterprise listed earlier and was left out"),
    ]
    assert "盒马超市" in (tmp_path / "changed.warnings.csv").read_text(encoding="utf-8-sig")

    # A file without a column of other names leaves them alone.
    plain = write_csv(
        tmp_path / "plain.csv", CHINESE, [[HEMA_USCC, HEMA, "德胜街道", "", "", ""]], "utf-8"
    )
    summary = await import_registry(world.db, plain)
    assert (summary.aliases_added, summary.aliases_removed) == (0, 0)
    assert await stored(world, HEMA_USCC) == [("盒马鲜生", "registry"), ("盒马超市", "staff")]


# ---------------------------------------------------------------------------- matching


async def test_suggest_finds_enterprises_by_their_aliases(world: World, tmp_path: Path) -> None:
    await three_enterprises(world, tmp_path)
    enterprises = service(world)
    hema = (await enterprises.get(HEMA_USCC)).id
    luckin = (await enterprises.get(LUCKIN_USCC)).id
    assert (await enterprises.suggest("盒马鲜生", world.street_id)).auto == hema
    assert (await enterprises.suggest("luckin coffee", world.street_id)).auto == luckin
    assert (await enterprises.suggest("Freshippo", world.street_id)).auto == hema

    # A new alias is used at once by the same service: the matcher is rebuilt.
    assert (await enterprises.suggest("Hema Fresh", world.street_id)).auto is None
    await enterprises.add_alias(hema, "Hema Fresh", FEDERATION)
    assert (await enterprises.suggest("hema fresh", world.street_id)).auto == hema
    await enterprises.remove_alias(hema, "HEMA FRESH", CLI)
    assert (await enterprises.suggest("hema fresh", world.street_id)).auto is None


# ---------------------------------------------------------------------------- service


async def test_federation_adds_and_removes_aliases_and_street_staff_cannot(
    world: World,
) -> None:
    enterprises = service(world)
    luckin = await add_registered(world, LUCKIN, LUCKIN_USCC)
    added = await enterprises.add_alias(luckin, " Luckin   Coffee ", FEDERATION)
    assert (added.alias, added.source, added.created_by_name) == (
        "Luckin Coffee",
        "staff",
        "联合会",
    )
    assert [a.alias for a in await enterprises.aliases(LUCKIN_USCC)] == ["Luckin Coffee"]

    with pytest.raises(NotAllowed):
        await enterprises.add_alias(luckin, "瑞幸", STAFF)
    with pytest.raises(NotAllowed):
        await enterprises.remove_alias(luckin, "Luckin Coffee", STAFF)
    assert await stored(world, LUCKIN_USCC) == [("Luckin Coffee", "staff")]

    removed = await enterprises.remove_alias(luckin, "luckin coffee", FEDERATION)
    assert removed.alias == "Luckin Coffee"
    assert await stored(world, LUCKIN_USCC) == []
    assert await audits(world, "enterprise.alias_added") == 1
    assert await audits(world, "enterprise.alias_removed") == 1


@pytest.mark.parametrize(
    ("aliases", "reason"),
    [
        (["   "], "empty"),
        (["（北京）"], "empty"),  # nothing left to compare
        (["长" * 101], "too_long"),
        (["LUCKIN coffee"], "duplicate"),
        (["瑞幸", "瑞幸"], "duplicate"),
        (["瑞幸", "盒马鲜生"], "taken"),  # all or none: 瑞幸 is not added either
    ],
)
async def test_refused_aliases_change_nothing(
    world: World, aliases: list[str], reason: str
) -> None:
    enterprises = service(world)
    hema = await add_registered(world, HEMA, HEMA_USCC)
    luckin = await add_registered(world, LUCKIN, LUCKIN_USCC)
    await enterprises.add_alias(hema, "盒马鲜生", FEDERATION)
    await enterprises.add_alias(luckin, "Luckin Coffee", FEDERATION)

    with pytest.raises(AliasRefused) as refused:
        await enterprises.add_aliases(luckin, aliases, FEDERATION)
    assert refused.value.reason == reason
    if reason == "taken":
        assert refused.value.other == (hema, HEMA) and HEMA in str(refused.value)
    assert await stored(world, LUCKIN_USCC) == [("Luckin Coffee", "staff")]
    assert await stored(world, HEMA_USCC) == [("盒马鲜生", "staff")]
    assert await audits(world, "enterprise.alias_added") == 2


async def test_unknown_enterprises_and_aliases_are_refused(world: World) -> None:
    enterprises = service(world)
    luckin = await add_registered(world, LUCKIN, LUCKIN_USCC)
    with pytest.raises(NotFound):
        await enterprises.add_alias(luckin + 100, "瑞幸", FEDERATION)
    with pytest.raises(NotFound):
        await enterprises.aliases(HEMA_USCC)
    with pytest.raises(AliasRefused) as refused:
        await enterprises.remove_alias(luckin, "瑞幸", FEDERATION)
    assert refused.value.reason == "missing"
    assert await audits(world, "enterprise.alias_removed") == 0


async def test_an_alias_of_a_closed_enterprise_is_free_for_another(world: World) -> None:
    enterprises = service(world)
    hema = await add_registered(world, HEMA, HEMA_USCC)
    luckin = await add_registered(world, LUCKIN, LUCKIN_USCC)
    await enterprises.add_alias(hema, "盒马鲜生", FEDERATION)
    await enterprises.set_status(hema, "closed", FEDERATION)
    await enterprises.add_alias(luckin, "盒马鲜生", FEDERATION)
    assert (await enterprises.suggest("盒马鲜生", world.street_id)).auto == luckin


async def test_a_merge_carries_the_aliases_to_the_target(world: World, tmp_path: Path) -> None:
    enterprises = service(world)
    path = write_csv(
        tmp_path / "registry.csv", HEADER, [registry_row(HEMA_USCC, HEMA, "盒马", "")], "utf-8"
    )
    await import_registry(world.db, path)
    target = (await enterprises.get(HEMA_USCC)).id
    async with world.db.transaction() as session:
        source = (await find_or_create(session, "盒马生鲜店", world.street_id)).id
    await enterprises.add_aliases(source, ["Freshippo"], FEDERATION)
    # Two enterprises with one alias: neither staff nor imports give one now, but older
    # data may hold it.
    async with world.db.transaction() as session:
        session.add(EnterpriseAlias(
            enterprise_id=source, alias="盒马", alias_key=name_key("盒马"), source="staff"
        ))  # fmt: skip

    await enterprises.merge(source, target, FEDERATION)
    assert [(a.alias, a.source) for a in await enterprises.aliases(target)] == [
        ("盒马", "registry"),
        ("Freshippo", "staff"),
    ]
    assert [a.alias for a in await enterprises.aliases(source)] == ["盒马"]  # the duplicate
    assert (await enterprises.suggest("freshippo", world.street_id)).auto == target
    async with world.db.read() as session:
        after = await session.scalar(
            select(AuditEntry.after).where(AuditEntry.action == "enterprise.merged")
        )
    assert after is not None and after["aliases_moved"] == 1
    luckin = await add_registered(world, LUCKIN, LUCKIN_USCC)
    with pytest.raises(AliasRefused, match=HEMA):  # the target's alias now
        await enterprises.add_alias(luckin, "Freshippo", CLI)


# ---------------------------------------------------------------------------- command line


async def test_the_command_line_lists_adds_and_removes_aliases(
    world: World, store: engines.Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hema = await add_registered(world, HEMA, HEMA_USCC)
    await add_registered(world, LUCKIN, LUCKIN_USCC)
    config = str(write_config(tmp_path, database_url=store.url))

    async def unionbot(*args: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(main, ["--config", config, "enterprises", "alias", *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    assert await unionbot("add", HEMA_USCC, "盒马鲜生", "Freshippo") == (
        0, f"{hema} {HEMA}: added 盒马鲜生, Freshippo\n", ""
    )  # fmt: skip
    code, out, _ = await unionbot("list", str(hema))
    lines = out.splitlines()
    assert code == 0 and lines[0] == f"{hema} {HEMA}: 2 aliases"
    assert [line.split("\t")[:2] for line in lines[1:]] == [
        ["  盒马鲜生", "staff by cli"],
        ["  Freshippo", "staff by cli"],
    ]

    code, out, err = await unionbot("add", LUCKIN_USCC, "瑞幸", "FRESHIPPO")
    assert (code, out) == (2, "")
    assert err.startswith("unionbot: ") and HEMA in err and err.count("\n") == 1
    code, out, err = await unionbot("add", "99999", "瑞幸")
    assert (code, out) == (2, "") and "99999" in err
    assert [a.alias for a in await service(world).aliases(LUCKIN_USCC)] == []

    assert await unionbot("remove", str(hema), "freshippo") == (
        0, f"{hema} {HEMA}: removed Freshippo (staff)\n", ""
    )  # fmt: skip
    code, _out, err = await unionbot("remove", str(hema), "Freshippo")
    assert code == 2 and "not an alias" in err
    assert await stored(world, HEMA_USCC) == [("盒马鲜生", "staff")]
    assert await audits(world, "enterprise.alias_added") == 1
    assert await audits(world, "enterprise.alias_removed") == 1


async def test_two_staff_adding_one_alias_at_once_add_it_once(world: World) -> None:
    """Pressed at the same moment (on PostgreSQL truly at once): one adds, the other is
    told it is already there, and the database holds it once."""
    enterprises = service(world)
    luckin = await add_registered(world, LUCKIN, LUCKIN_USCC)
    results = await asyncio.gather(
        *(enterprises.add_alias(luckin, alias, FEDERATION) for alias in ("瑞幸咖啡", "瑞幸 咖啡")),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, AliasRefused)]
    assert len(refused) == 1 and refused[0].reason == "duplicate", results
    assert await stored(world, LUCKIN_USCC) == [(next(
        r.alias for r in results if not isinstance(r, BaseException)), "staff")]  # fmt: skip


async def test_an_alias_added_by_another_process_is_matched_at_once(world: World) -> None:
    """Another process (the command line) adds an alias: a bot process that is not
    watching changes sees it on the next employer typed, not a minute later."""
    luckin = await add_registered(world, LUCKIN, LUCKIN_USCC)
    bot = service(world)
    assert world.db.changes.generation(ENTERPRISES_TOPIC) is None  # unwatched: fingerprint
    assert (await bot.suggest("小蓝杯", None)).auto is None  # the matcher is built now
    other = Database(world.db.url)
    try:
        service_there = EnterpriseService(other, threshold=THRESHOLD, federation_chat_id=None)
        await service_there.add_alias(luckin, "小蓝杯", CLI)
    finally:
        await other.dispose()
    assert (await bot.suggest("小蓝杯", None)).auto == luckin
