"""`unionbot emulator`: the Bot API emulator as a program, started and stopped as an
administrator would, and the bot run against it as the README's "Trying it on one machine"
says."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bot import emulator_cli, local
from tests.test_cli import run, write_config
from tests.threaded_emulator import unused_port

TOKEN = "7000000321:SECRET-emulator-cli-token"
SECRET = TOKEN.split(":", 1)[1]
USERNAME = "xicheng_union_bot"


@pytest.fixture(autouse=True)
def _no_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("UNIONBOT__"):
            monkeypatch.delenv(name)


class Program:
    """A `unionbot` process whose output is collected line by line as it comes."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNIONBOT__")}
        env["PYTHONUNBUFFERED"] = "1"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while text not in self.output:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self._reader.join(2)
                raise AssertionError(f"no {text!r} in the output:\n{self.output}")
            time.sleep(0.05)

    def stop(self, sig: signal.Signals, within: float = 20) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=within)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@contextmanager
def program(args: list[str], cwd: Path) -> Iterator[Program]:
    started = Program(args, cwd)
    try:
        yield started
    finally:
        started.kill()


def call(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# --- the command -------------------------------------------------------------------------------
def test_the_emulator_serves_the_configured_bot_and_stops_on_sigint(tmp_path: Path) -> None:
    port = unused_port()
    config = write_config(tmp_path, token=TOKEN, bot_username=USERNAME)
    with program(["--config", str(config), "emulator", "--port", str(port)], tmp_path) as emu:
        emu.wait_for("Ctrl-C stops it")
        base = f"http://127.0.0.1:{port}"
        status, body = call(f"{base}/bot{TOKEN}/getMe")
        assert status == 200 and body["result"]["username"] == USERNAME
        assert call(f"{base}/bot{local.DEMO_TOKEN}/getMe")[0] == 401
        # A person acts through the control API, and the chat is printed as it happens.
        status, body = call(f"{base}/_emulator/send_text", {"user_id": 100001, "text": "/start"})
        assert status == 200 and body["ok"]
        emu.wait_for("[张伟 (private)] 张伟: /start")
        assert emu.stop(signal.SIGINT) == 0
    out = emu.output
    assert f'api_base = "{base}"' in out and f"UNIONBOT__TELEGRAM__API_BASE={base}" in out
    assert f"{base}/_emulator/send_text" in out
    assert "telegram.token of" in out and SECRET not in out
    assert out.rstrip().endswith("emulator stopped")


def test_options_give_the_bot_without_a_config_file_and_sigterm_stops(tmp_path: Path) -> None:
    port = unused_port()
    args = ["emulator", "--port", str(port), "--token", TOKEN, "--username", "x_bot", "--quiet"]
    with program(args, tmp_path) as emu:  # tmp_path holds no config.toml
        emu.wait_for("Ctrl-C stops it")
        status, body = call(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe")
        assert status == 200 and body["result"]["username"] == "x_bot"
        assert emu.stop(signal.SIGTERM) == 0
    assert SECRET not in emu.output and "changed membership" not in emu.output


def test_without_config_or_options_it_serves_the_demo_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = emulator_cli_args([])
    assert emulator_cli.bot_identity(args) == (
        local.DEMO_TOKEN,
        local.DEMO_USERNAME,
        "the demo token",
    )
    # The command keeps its own copy so that `unionbot --help` stays light.
    assert (emulator_cli.DEMO_TOKEN, emulator_cli.DEMO_USERNAME) == (
        local.DEMO_TOKEN,
        local.DEMO_USERNAME,
    )


def emulator_cli_args(argv: list[str]) -> Any:
    from bot.cli import build_parser

    return build_parser().parse_args(["emulator", *argv])


def test_a_port_in_use_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, out, err = run(capsys, None, "emulator", "--port", str(port), "--token", TOKEN)
    assert code == 2 and out == ""
    assert err.startswith(f"unionbot: cannot listen on 127.0.0.1:{port}") and err.count("\n") == 1


def test_the_seed_file_sets_the_database_up_for_the_emulators_people(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = tmp_path / "emulator-seed.toml"
    code, out, _ = run(capsys, None, "emulator", "--seed-file", str(seed))
    assert code == 0 and str(seed) in out
    config = write_config(tmp_path)
    code, out, err = run(capsys, config, "seed", str(seed))
    assert code == 0, err
    assert out == "seeded 1 streets, 2 points, 4 staff\n"
    points = run(capsys, config, "points", "list")[1]
    assert "ds-station\t德胜街道" in points and "xinkang\t德胜街道" in points


# --- the README's steps --------------------------------------------------------------------------
def test_trying_the_bot_on_one_machine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Terminal 1: `unionbot emulator`. Terminal 2: seed, then `unionbot run` with
    telegram.api_base pointing at it. A worker's /start gets the privacy notice."""
    port = unused_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, token=TOKEN, api_base=base, bot_username=USERNAME)
    seed = tmp_path / "emulator-seed.toml"
    assert run(capsys, None, "emulator", "--seed-file", str(seed))[0] == 0
    assert run(capsys, config, "seed", str(seed))[0] == 0
    with program(["--config", str(config), "emulator", "--port", str(port)], tmp_path) as emu:
        emu.wait_for("Ctrl-C stops it")
        with program(["--config", str(config), "run"], tmp_path) as bot:
            bot.wait_for("running (polling)")
            sent = {"user_id": 100002, "text": "/start ds-station"}
            assert call(f"{base}/_emulator/send_text", sent)[0] == 200
            status, body = call(
                f"{base}/_emulator/wait_for",
                {"match": 100002, "text": "个人信息处理说明", "timeout": 30},
            )
            assert status == 200, body
            assert body["result"]["chat"]["id"] == 100002
            emu.wait_for("[李娜 (private)] 工会入会助手")
            assert bot.stop(signal.SIGTERM) == 0
        assert emu.stop(signal.SIGINT) == 0
    assert SECRET not in bot.output and SECRET not in emu.output
