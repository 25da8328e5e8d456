"""`unionbot --help` and the commands that need no database or Bot API import neither:
each runs in a fresh interpreter (as the console script would), which then lists the
modules it loaded."""

from __future__ import annotations

import argparse
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.cli_parsers import Lazy
from bot.keys import parse_key

# Runs bot.cli as `python -m bot.cli ARGS` does, then writes sys.modules to a file.
WRAPPER = """
import json, runpy, sys
out, args = sys.argv[1], json.loads(sys.argv[2])
sys.argv = ["unionbot", *args]
try:
    runpy.run_module("bot.cli", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
with open(out, "w") as handle:
    json.dump(sorted(sys.modules), handle)
"""
HEAVY = (
    "sqlalchemy", "alembic", "aiosqlite", "asyncpg", "aiogram", "aiohttp", "pydantic",
    "PIL", "fontTools", "qrcode", "cryptography", "pypinyin", "rapidfuzz", "models",
)  # fmt: skip
LIGHT_COMMANDS = [
    ["--help"],
    ["keys", "generate"],
    ["db", "--help"],
    ["streets", "--help"],
    ["points", "add", "--help"],
    ["enterprises", "--help"],
    ["audit", "--help"],
    ["emulator", "--help"],
]


def run_cli(tmp_path: Path, args: list[str]) -> tuple[str, set[str]]:
    listing = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(listing), json.dumps(args)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout, set(json.loads(listing.read_text()))


@pytest.mark.parametrize("args", LIGHT_COMMANDS, ids=" ".join)
def test_light_commands_import_nothing_heavy(tmp_path: Path, args: list[str]) -> None:
    out, modules = run_cli(tmp_path, args)
    loaded = sorted({name.split(".")[0] for name in modules} & set(HEAVY))
    assert loaded == [], f"unionbot {' '.join(args)} imported {loaded}"
    assert out.strip()


def test_help_lists_every_command(tmp_path: Path) -> None:
    out, _ = run_cli(tmp_path, ["--help"])
    commands = subparser_choices(build_parser())
    assert len(commands) >= 12
    for name in commands:
        assert f"    {name} " in out, name


def test_keys_generate_prints_a_key(tmp_path: Path) -> None:
    out, _ = run_cli(tmp_path, ["keys", "generate"])
    assert len(parse_key(out.strip())) == 32


def test_the_heavy_list_is_what_running_the_bot_loads(tmp_path: Path) -> None:
    """The check above can fail: importing the bot loads all of HEAVY but alembic (only
    an out-of-date database needs it), pypinyin (the first employer step) and the
    database drivers (the engine)."""
    probe = "import json, sys; import bot.app; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = {name.split(".")[0] for name in json.loads(done.stdout)}
    assert set(HEAVY) - loaded <= {"alembic", "pypinyin", "aiosqlite", "asyncpg"}


def test_every_named_handler_is_a_command_that_exists() -> None:
    handlers = list(named_handlers(build_parser()))
    assert len(handlers) >= 25
    for handler in handlers:
        function = handler.resolve()
        assert inspect.iscoroutinefunction(function), handler


def subparser_choices(parser: argparse.ArgumentParser) -> list[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def named_handlers(parser: argparse.ArgumentParser) -> list[Lazy]:
    found: list[Lazy] = []
    handler = parser.get_default("handler")
    if isinstance(handler, Lazy):
        found.append(handler)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.extend(named_handlers(sub))
    return found
