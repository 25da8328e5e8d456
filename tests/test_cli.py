"""The `unionbot` command line, run in-process through bot.cli.main (it returns the exit code)."""

from __future__ import annotations

import base64
import gc
import re
import threading
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from bot.cli import main
from bot.pii import generate_key
from tests.engines import new_store, on_postgres

BOT_USERNAME = "unionbot_demo_bot"


def write_config(
    tmp_path: Path,
    *,
    drop: str | None = None,
    token: str | None = None,
    api_base: str = "http://127.0.0.1:9",  # nothing listens: the CLI must not need it
    bot_username: str = BOT_USERNAME,
    extra: str = "",
    database_url: str | None = None,
) -> Path:
    """A complete config.toml (fake token, fresh keys, the test's own database), minus
    `drop`, plus `extra` lines."""
    values = {
        "token": token or "123456:fake-token-for-tests",
        "bot_username": bot_username,
        "data_key": generate_key(),
        "lookup_key": generate_key(),
    }
    lines = [
        "[telegram]",
        f'token = "{values["token"]}"',
        f'api_base = "{api_base}"',
        f'bot_username = "{values["bot_username"]}"',
        "",
        "[database]",
        f'url = "{database_url or new_store(tmp_path, "cli").url}"',
        "",
        "[security]",
        f'data_key = "{values["data_key"]}"',
        f'lookup_key = "{values["lookup_key"]}"',
    ]
    if drop is not None:
        lines = [line for line in lines if not line.startswith(f"{drop} =")]
    lines += extra.splitlines()
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("UNIONBOT__"):
            monkeypatch.delenv(name)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def run(
    capsys: pytest.CaptureFixture[str], config: Path | None, *args: str
) -> tuple[int, str, str]:
    argv = (["--config", str(config)] if config else []) + list(args)
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def rows(out: str) -> list[list[str]]:
    return [line.split("\t") for line in out.splitlines() if line]


# --- set-up commands ---------------------------------------------------------------------------
def test_db_upgrade_then_streets_points_and_staff(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, config, "db", "upgrade")[:2] == (0, "database is up to date\n")
    if not on_postgres():
        assert (config.parent / "cli.db").exists()
    assert run(capsys, config, "db", "upgrade")[0] == 0  # idempotent

    code, out, _ = run(capsys, config, "streets", "add", "DS", "德胜街道")
    assert (code, out) == (0, "street DS 德胜街道 added\n")
    code, out, _ = run(capsys, config, "points", "add", "DS", "新街口社区", "--kind", "community")
    assert code == 0
    match = re.fullmatch(r"reception point 新街口社区: code ([A-Za-z0-9_-]{1,64})\n", out)
    assert match, out
    point_code = match.group(1)
    code, out, _ = run(
        capsys, config, "staff", "add", "123", "王芳", "--role", "street", "--street", "DS"
    )
    assert (code, out) == (0, "王芳 (123) is now street staff\n")

    code, out, _ = run(capsys, config, "streets", "list")
    assert code == 0 and rows(out) == [["DS", "德胜街道", "(no review group)"]]
    code, out, _ = run(capsys, config, "points", "list")
    assert code == 0 and rows(out) == [[point_code, "德胜街道", "community", "新街口社区"]]
    code, out, _ = run(capsys, config, "points", "list", "DS")
    assert code == 0 and len(rows(out)) == 1
    code, out, _ = run(capsys, config, "staff", "list")
    assert code == 0 and rows(out) == [["123", "王芳", "street", "德胜街道"]]

    # Adding the same things again changes nothing.
    assert run(capsys, config, "streets", "add", "ds", "德胜街道")[0] == 0
    assert run(capsys, config, "points", "add", "DS", "新街口社区")[0] == 0
    assert len(rows(run(capsys, config, "points", "list")[1])) == 1
    assert len(rows(run(capsys, config, "streets", "list")[1])) == 1


def test_unknown_street_is_a_one_line_error(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, config, "points", "add", "XX", "某社区")
    assert code == 2 and out == ""
    assert err.startswith("unionbot: ") and err.count("\n") == 1 and "XX" in err
    assert "Traceback" not in err


# --- seed files ------------------------------------------------------------------------------
SEED_TOML = """\
[[streets]]
code = "XC"
name = "新街口街道"
review_chat_id = -100123

[[streets.points]]
name = "新街口服务站"
kind = "station"
code = "xjk-station"

[[streets.points]]
name = "华远大厦"
kind = "building"

[[staff]]
telegram_user_id = 456
name = "李明"
street = "XC"

[[staff]]
telegram_user_id = 901
name = "区总工会张三"
role = "federation"
"""

SEED_CSV = """\
record,street,code,name,kind,review_chat_id,telegram_user_id,role
street,,JR,金融街街道,,-100200,,
point,JR,jr-tower,金融大厦,building,,,
point,JR,,丰盛社区,community,,,
staff,JR,,赵六,,,789,street
"""


def test_seed_from_toml(config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    seed = tmp_path / "seed.toml"
    seed.write_text(SEED_TOML, encoding="utf-8")
    code, out, _ = run(capsys, config, "seed", str(seed))
    assert (code, out) == (0, "seeded 1 streets, 2 points, 2 staff\n")

    assert rows(run(capsys, config, "streets", "list")[1]) == [["XC", "新街口街道", "-100123"]]
    points = rows(run(capsys, config, "points", "list")[1])
    assert [p[1:] for p in points] == [
        ["新街口街道", "station", "新街口服务站"],
        ["新街口街道", "building", "华远大厦"],
    ]
    assert points[0][0] == "xjk-station"
    staff = rows(run(capsys, config, "staff", "list")[1])
    assert sorted(staff) == [
        ["456", "李明", "street", "新街口街道"],
        ["901", "区总工会张三", "federation", "-"],
    ]

    # Seeding is idempotent.
    assert run(capsys, config, "seed", str(seed))[0] == 0
    assert len(rows(run(capsys, config, "points", "list")[1])) == 2


def test_seed_from_csv(config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    seed = tmp_path / "seed.csv"
    seed.write_text(SEED_CSV, encoding="utf-8-sig")  # Excel writes a BOM
    code, out, _ = run(capsys, config, "seed", str(seed))
    assert (code, out) == (0, "seeded 1 streets, 2 points, 1 staff\n")
    assert rows(run(capsys, config, "streets", "list")[1]) == [["JR", "金融街街道", "-100200"]]
    points = rows(run(capsys, config, "points", "list", "JR")[1])
    assert points[0][0] == "jr-tower"
    assert [p[3] for p in points] == ["金融大厦", "丰盛社区"]
    assert rows(run(capsys, config, "staff", "list")[1]) == [
        ["789", "赵六", "street", "金融街街道"]
    ]


BAD_CSVS = {
    "unknown record": "record,street,code,name\noffice,,JR,金融街街道\n",
    "point before its street": "record,street,code,name\npoint,JR,,金融大厦\n",
    "bad street code": "record,street,code,name\nstreet,,jr street,金融街街道\n",
    "bad point kind": (
        "record,street,code,name,kind\nstreet,,JR,金融街街道,\npoint,JR,,金融大厦,tower\n"
    ),
    "staff of an unknown street": (
        "record,street,name,telegram_user_id,role\nstaff,ZZ,赵六,789,street\n"
    ),
    "user id not a number": (
        "record,street,code,name,telegram_user_id\nstreet,,JR,金融街街道,\nstaff,JR,,赵六,zhao6\n"
    ),
    "missing name column": "record,street,code\nstreet,,JR\n",
    "short row": "record,street,code,name,kind\nstreet,,JR\n",
    "not UTF-8": "GBK",
}


@pytest.mark.parametrize("case", BAD_CSVS)
def test_bad_csv_is_a_one_line_error(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    seed = tmp_path / "bad.csv"
    if BAD_CSVS[case] == "GBK":  # what Excel on a Chinese Windows saves by default
        seed.write_bytes("record,street,code,name\nstreet,,JR,金融街街道\n".encode("gbk"))
    else:
        seed.write_text(BAD_CSVS[case], encoding="utf-8")
    code, out, err = run(capsys, config, "seed", str(seed))
    assert code == 2, (code, out, err)
    assert err.startswith("unionbot: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    # Nothing of a bad file is loaded: the seed is one transaction.
    assert run(capsys, config, "streets", "list")[1] == ""


BAD_TOMLS = {
    "street without a name": '[[streets]]\ncode = "JR"\n',
    "staff without a user id": '[[staff]]\nname = "赵六"\nrole = "federation"\n',
    "syntax error": "[[streets]\ncode = ",
}


@pytest.mark.parametrize("case", BAD_TOMLS)
def test_bad_toml_is_a_one_line_error(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    seed = tmp_path / "bad.toml"
    seed.write_text(BAD_TOMLS[case], encoding="utf-8")
    code, out, err = run(capsys, config, "seed", str(seed))
    assert code == 2, (code, out, err)
    assert err.startswith("unionbot: ") and "Traceback" not in err
    assert run(capsys, config, "streets", "list")[1] == ""


def test_seed_file_of_another_kind_or_missing(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = tmp_path / "seed.json"
    other.write_text("{}", encoding="utf-8")
    code, _, err = run(capsys, config, "seed", str(other))
    assert code == 2 and ".toml or .csv" in err and err.count("\n") == 1
    code, _, err = run(capsys, config, "seed", str(tmp_path / "nowhere.toml"))
    assert code == 2 and "not found" in err and err.count("\n") == 1


# --- posters ---------------------------------------------------------------------------------
def test_posters_have_a_png_and_a_pdf_per_point_with_a_readable_qr(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(capsys, config, "streets", "add", "DS", "德胜街道")[0] == 0
    codes = []
    for name, kind in (("新街口社区", "community"), ("德胜科技园/A座", "building")):
        out = run(capsys, config, "points", "add", "DS", name, "--kind", kind)[1]
        codes.append(out.rsplit("code ", 1)[1].strip())
    retired = run(capsys, config, "points", "add", "DS", "旧服务站", "--kind", "station")[1]
    assert run(capsys, config, "points", "retire", retired.rsplit("code ", 1)[1].strip())[0] == 0

    out_dir = tmp_path / "posters"
    code, out, err = run(capsys, config, "points", "posters", "--out", str(out_dir))
    assert code == 0, err
    assert out == f"2 posters written to {out_dir}/\n"
    pngs = sorted(out_dir.glob("*.png"))
    pdfs = sorted(out_dir.glob("*.pdf"))
    assert len(pngs) == 2 and len(pdfs) == 2
    assert {p.stem for p in pngs} == {p.stem for p in pdfs}
    assert all(p.parent == out_dir for p in pngs)  # "/" in a point name makes no folder

    links = set()
    for png in pngs:
        image = Image.open(png)
        decoded = zxingcpp.read_barcodes(image)
        assert len(decoded) == 1, png.name
        links.add(decoded[0].text)
    assert links == {f"https://t.me/{BOT_USERNAME}?start={c}" for c in codes}
    for pdf in pdfs:
        assert pdf.read_bytes().startswith(b"%PDF-")


# --- configuration errors ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("drop", "named"),
    [
        ("lookup_key", "security.lookup_key"),
        ("data_key", "security.data_key"),
        ("token", "telegram.token"),
    ],
)
def test_missing_config_key_is_named_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], drop: str, named: str
) -> None:
    config = write_config(tmp_path, drop=drop)
    code, out, err = run(capsys, config, "streets", "list")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("unionbot: ")
    assert named in err and "missing" in err
    assert "Traceback" not in err


def test_other_config_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, token="not-a-token")
    code, _, err = run(capsys, config, "db", "upgrade")
    assert code == 2 and "telegram.token" in err and err.count("\n") == 1
    code, _, err = run(capsys, tmp_path / "absent.toml", "db", "upgrade")
    assert code == 2 and "config file not found" in err and err.count("\n") == 1


# --- resources ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command", [("db", "upgrade"), ("streets", "list"), ("staff", "list")], ids=" ".join
)
def test_commands_close_their_database_connections(
    config: Path, capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    # An engine that is never disposed keeps aiosqlite worker threads alive after
    # asyncio.run() has closed the loop; when they are finally collected they raise
    # "RuntimeError: Event loop is closed" in their thread.
    before = set(threading.enumerate())
    gc.disable()  # only an explicit close may end them, not a lucky garbage collection
    try:
        run(capsys, config, *command)
        started = [
            thread
            for thread in set(threading.enumerate()) - before
            if "_connection_worker_thread" in thread.name
        ]
        for thread in started:
            thread.join(timeout=1)
        assert not [t.name for t in started if t.is_alive()], "database connections left open"
    finally:
        gc.enable()


# --- keys and help ---------------------------------------------------------------------------
def test_keys_generate_prints_a_32_byte_urlsafe_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, None, "keys", "generate")
    assert code == 0
    key = out.strip()
    assert out == key + "\n"
    # No padding: the same output also serves as a webhook secret (A-Z a-z 0-9 _ -).
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", key)
    assert len(base64.urlsafe_b64decode(key + "=")) == 32
    assert run(capsys, None, "keys", "generate")[1].strip() != key


def test_no_arguments_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, None)
    assert code == 2
    assert out.startswith("usage: unionbot")
    for command in ("run", "db", "keys", "streets", "points", "staff", "seed"):
        assert command in out
