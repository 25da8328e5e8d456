"""Administrator commands that change names or cannot be undone: renames are explicit and
audited (the street's joint union follows), seeds say what they renamed, and merges and
overwrites are shown and confirmed at the terminal or with --yes."""

from __future__ import annotations

import asyncio
import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.confirm import NotConfirmed, confirm
from tests.conftest import World
from tests.engines import Store, new_store
from tests.test_cli import rows, run, write_config
from tests.test_merge import approve_one
from tests.test_registry_import import BYTEDANCE, HUACHUANG

PROVISIONAL_NAME = "今日头条（北京）有限公司"


@pytest.fixture(autouse=True)
def _no_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("UNIONBOT__"):
            monkeypatch.delenv(name)


@pytest.fixture
def cli_store(tmp_path: Path) -> Store:
    return new_store(tmp_path, "cli")


@pytest.fixture
def config(tmp_path: Path, cli_store: Store) -> Path:
    return write_config(tmp_path, database_url=cli_store.url)


class Terminal(io.StringIO):
    """What a person types at a terminal."""

    def isatty(self) -> bool:
        return True


def one_line(err: str) -> bool:
    return err.startswith("unionbot: ") and err.count("\n") == 1 and "Traceback" not in err


def joint_unions(store: Store) -> list[tuple[str, str]]:
    return store.sql(
        "SELECT s.code, u.name FROM union_org u JOIN street s ON s.id = u.street_id "
        "WHERE u.kind = 'joint' ORDER BY s.code"
    )


# --- streets ---------------------------------------------------------------------------------
def test_adding_an_existing_code_with_another_name_is_refused_and_renames_nothing(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(capsys, config, "streets", "add", "DS", "德胜街道")[1] == "street DS 德胜街道 added\n"
    )
    code, out, _ = run(capsys, config, "streets", "add", "ds", "德胜街道")
    assert (code, out) == (0, "street DS 德胜街道 already exists; nothing changed\n")

    code, out, err = run(capsys, config, "streets", "add", "DS", "德胜街道办事处")
    assert code == 2 and out == "" and one_line(err)
    assert "already exists" in err and "unionbot streets rename DS 德胜街道办事处" in err
    assert rows(run(capsys, config, "streets", "list")[1]) == [
        ["DS", "德胜街道", "(no review group)"]
    ]

    code, _, err = run(capsys, config, "streets", "add", "XC", "德胜街道")
    assert code == 2 and one_line(err) and "already exists (code DS)" in err


def test_streets_rename_renames_the_joint_union_too_and_is_audited(
    config: Path, cli_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    store = cli_store
    assert run(capsys, config, "streets", "add", "DS", "德胜街道")[0] == 0
    assert run(capsys, config, "streets", "add", "XC", "新街口街道")[0] == 0
    assert joint_unions(store) == [("DS", "德胜街道工会联合会"), ("XC", "新街口街道工会联合会")]

    code, out, err = run(capsys, config, "streets", "rename", "ds", "德胜街道办事处")
    assert code == 0, err
    assert out == (
        "street DS renamed: 德胜街道 → 德胜街道办事处 (joint union: 德胜街道办事处工会联合会)\n"
    )
    assert rows(run(capsys, config, "streets", "list")[1])[0][:2] == ["DS", "德胜街道办事处"]
    assert joint_unions(store) == [
        ("DS", "德胜街道办事处工会联合会"),
        ("XC", "新街口街道工会联合会"),
    ]
    [(before, after)] = store.sql(
        "SELECT before, after FROM audit_log WHERE action = 'street.renamed'"
    )
    as_dict = [json.loads(v) if isinstance(v, str) else v for v in (before, after)]
    assert as_dict == [
        {"name": "德胜街道", "joint_union": "德胜街道工会联合会"},
        {"name": "德胜街道办事处", "joint_union": "德胜街道办事处工会联合会"},
    ]

    for args, said in [
        (("streets", "rename", "DS", "德胜街道办事处"), "nothing changed"),
        (("streets", "rename", "DS", "新街口街道"), "already exists (code XC)"),
        (("streets", "rename", "ZZ", "某街道"), "ZZ"),
        (("streets", "rename", "DS", " "), "street name"),
    ]:
        code, out, err = run(capsys, config, *args)
        assert code == 2 and out == "" and one_line(err) and said in err, (args, err)
    assert store.scalar("SELECT count(*) FROM audit_log WHERE action = 'street.renamed'") == 1


SEED = """\
[[streets]]
code = "XC"
name = "{name}"
"""


def test_a_seed_file_may_rename_but_says_so(
    config: Path, cli_store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = cli_store
    seed = tmp_path / "seed.toml"
    seed.write_text(SEED.format(name="新街口"), encoding="utf-8")
    assert run(capsys, config, "seed", str(seed))[1] == "seeded 1 streets, 0 points, 0 staff\n"
    assert run(capsys, config, "seed", str(seed))[1] == "seeded 1 streets, 0 points, 0 staff\n"

    seed.write_text(SEED.format(name="新街口街道"), encoding="utf-8")
    code, out, err = run(capsys, config, "seed", str(seed))
    assert code == 0, err
    assert out.splitlines() == [
        "seeded 1 streets, 0 points, 0 staff",
        "street XC renamed: 新街口 → 新街口街道 (joint union: 新街口街道工会联合会)",
    ]
    assert joint_unions(store) == [("XC", "新街口街道工会联合会")]


def test_a_review_chat_must_be_a_group(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, config, "streets", "add", "DS", "德胜街道")[0] == 0
    code, out, err = run(capsys, config, "streets", "set-chat", "DS", "123456")
    assert code == 2 and out == "" and one_line(err) and "negative" in err
    assert rows(run(capsys, config, "streets", "list")[1]) == [
        ["DS", "德胜街道", "(no review group)"]
    ]


# --- confirmation ------------------------------------------------------------------------------
def test_confirm_asks_a_terminal_and_refuses_without_one() -> None:
    confirm(["x"], yes=True, stdin=io.StringIO(""))  # --yes: nothing asked
    with pytest.raises(NotConfirmed) as caught:
        confirm(["x"], yes=False, stdin=io.StringIO("yes\n"))  # a pipe cannot confirm
    assert caught.value.status == 2 and "--yes" in str(caught.value)
    shown = io.StringIO()
    confirm(["merge this", "into that"], yes=False, stdin=Terminal("yes\n"), stdout=shown)
    assert shown.getvalue().startswith("merge this\ninto that\n")
    for answer in ("no\n", "\n", ""):
        with pytest.raises(NotConfirmed) as caught:
            confirm(["x"], yes=False, stdin=Terminal(answer), stdout=io.StringIO())
        assert caught.value.status == 1


async def _merge_world(world: World, store: Store, tmp_path: Path) -> tuple[Path, int, Path]:
    for seq in range(3):
        await approve_one(world, seq, PROVISIONAL_NAME)
    registry = tmp_path / "registry.csv"
    registry.write_text(
        f"统一社会信用代码,企业名称,所属街道\n{BYTEDANCE},北京字节跳动科技有限公司,德胜街道\n",
        encoding="utf-8",
    )
    config = write_config(tmp_path, database_url=store.url)
    provisional = store.scalar("SELECT id FROM enterprise WHERE provisional = ?", True)
    return config, provisional, registry


def _state(store: Store, enterprise_id: int) -> tuple[object, ...]:
    return store.sql(
        "SELECT merged_into_id, member_count FROM enterprise WHERE id = ?", enterprise_id
    )[0]


async def test_merge_shows_both_and_asks(
    world: World,
    store: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, provisional, registry = await _merge_world(world, store, tmp_path)
    # main() runs an event loop of its own: it gets a thread of its own here.
    imported = await asyncio.to_thread(run, capsys, config, "enterprises", "import", str(registry))
    assert imported[0] == 0, imported
    target = store.scalar("SELECT id FROM enterprise WHERE uscc = ?", BYTEDANCE)
    merge = ("enterprises", "merge", str(provisional), BYTEDANCE)

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # a script: nobody to ask
    code, out, err = await asyncio.to_thread(run, capsys, config, *merge)
    assert code == 2 and out == "" and one_line(err) and "--yes" in err
    assert _state(store, provisional) == (None, 3)

    monkeypatch.setattr("sys.stdin", Terminal("no\n"))
    code, out, err = await asyncio.to_thread(run, capsys, config, *merge)
    assert code == 1 and "not confirmed" in err
    lines = out.splitlines()
    assert lines[0] == "merge:"
    assert lines[1] == (
        f"  from #{provisional} {PROVISIONAL_NAME} (provisional, no USCC, 德胜街道): 3 members"
    )
    assert lines[2] == (
        f"  into #{target} 北京字节跳动科技有限公司 (registered, {BYTEDANCE}, 德胜街道): 0 members"
    )
    assert "cannot be undone" in out
    assert _state(store, provisional) == (None, 3)

    monkeypatch.setattr("sys.stdin", Terminal("yes\n"))
    code, out, err = await asyncio.to_thread(run, capsys, config, *merge)
    assert code == 0, err
    assert "3 members and 3 applications moved" in out
    assert _state(store, provisional) == (target, 0)
    assert _state(store, target) == (None, 3)


async def test_merge_with_yes_asks_nothing_and_a_refused_merge_is_not_asked(
    world: World,
    store: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, provisional, registry = await _merge_world(world, store, tmp_path)
    assert (await asyncio.to_thread(run, capsys, config, "enterprises", "import", str(registry)))[
        0
    ] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, out, err = await asyncio.to_thread(
        run, capsys, config, "enterprises", "merge", str(provisional), BYTEDANCE, "--yes"
    )
    assert code == 0, err
    assert "merge:" not in out and out.startswith(f"merged {provisional} ")
    code, out, err = await asyncio.to_thread(
        run, capsys, config, "enterprises", "merge", str(provisional), BYTEDANCE
    )
    assert code == 2 and one_line(err) and "already merged" in err  # not asked first


def test_merge_at_a_real_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The program in its own process, its input a pseudo-terminal a person types into."""
    config = write_config(tmp_path)
    assert run(capsys, config, "streets", "add", "DS", "德胜街道")[0] == 0
    registry = tmp_path / "registry.csv"
    second = HUACHUANG
    registry.write_text(
        "统一社会信用代码,企业名称,所属街道\n"
        f"{BYTEDANCE},北京字节跳动科技有限公司,德胜街道\n{second},北京华创信息技术有限公司,德胜街道\n",
        encoding="utf-8",
    )
    assert run(capsys, config, "enterprises", "import", str(registry))[0] == 0

    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIONBOT__")}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "enterprises", "merge",
         second, BYTEDANCE],
        stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + 60
    try:
        while b"Type yes" not in screen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                try:
                    screen += os.read(master, 4096)
                except OSError:  # the program ended and closed the terminal
                    break
        assert b"Type yes" in screen, screen
        assert "北京华创信息技术有限公司".encode() in screen
        os.write(master, b"yes\n")
        assert process.wait(timeout=60) == 0
        while select.select([master], [], [], 0.2)[0]:
            try:
                screen += os.read(master, 4096)
            except OSError:
                break
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    assert b"merged " in screen


# --- audit export ------------------------------------------------------------------------------
def test_an_audit_export_over_an_existing_file_asks_first(
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert run(capsys, config, "streets", "add", "DS", "德胜街道")[0] == 0
    target = tmp_path / "audit.csv"
    assert run(capsys, config, "audit", "--csv", str(target))[0] == 0  # a new file: no question
    target.write_text("my notes", encoding="utf-8")

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, out, err = run(capsys, config, "audit", "--csv", str(target))
    assert code == 2 and out == "" and one_line(err) and "--yes" in err
    assert target.read_text(encoding="utf-8") == "my notes"

    monkeypatch.setattr("sys.stdin", Terminal("yes\n"))
    code, out, _ = run(capsys, config, "audit", "--csv", str(target))
    assert code == 0 and "exists and will be overwritten" in out
    assert target.read_text(encoding="utf-8-sig").startswith("id,")

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert run(capsys, config, "audit", "--csv", str(target), "--yes")[0] == 0
