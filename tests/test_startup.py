"""Start-up errors an administrator meets first: the Bot API unreachable (Telegram is blocked
in mainland China), a malformed address, a wrong token. Each is one line on stderr naming
the setting, the exit status is not 0, and the token never appears in output or logs."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app import make_bot
from bot.config import load_settings
from bot.startup import BotApiUnreachable, identify, keep_out_of_logs
from tests.test_cli import run, write_config
from tests.threaded_emulator import emulator_thread, silent_server, unused_port

TOKEN = "7000000123:SECRET-token-for-startup-tests"
SECRET = TOKEN.split(":", 1)[1]
USERNAME = "unionbot_startup_bot"


@pytest.fixture(autouse=True)
def _no_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("UNIONBOT__"):
            monkeypatch.delenv(name)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_one_line_without_token(err: str, named: str) -> None:
    assert err.startswith("unionbot: ") and err.count("\n") == 1, err
    assert named in err, err
    assert "Traceback" not in err
    assert TOKEN not in err and SECRET not in err


def assert_no_token_in_logs(logs: pytest.LogCaptureFixture) -> None:
    assert SECRET not in logs.text
    for record in logs.records:  # formatted lines and tracebacks alike
        assert SECRET not in record.getMessage()
        assert SECRET not in (record.exc_text or "")


def unionbot(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real program in a process of its own: stderr then holds its log lines too."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIONBOT__")}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


# --- the Bot API cannot be reached ---------------------------------------------------------
def test_run_with_nothing_listening_is_one_line_naming_api_base(tmp_path: Path) -> None:
    port = unused_port()
    config = write_config(tmp_path, token=TOKEN, api_base=f"http://127.0.0.1:{port}")
    result = unionbot(config, "run")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert_one_line_without_token(result.stderr, "telegram.api_base")
    assert f"http://127.0.0.1:{port}" in result.stderr and "connection refused" in result.stderr
    assert "Unclosed" not in result.stderr


def test_run_against_a_host_that_does_not_resolve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], logs: pytest.LogCaptureFixture
) -> None:
    config = write_config(tmp_path, token=TOKEN, api_base="http://bot-api.invalid")
    code, out, err = run(capsys, config, "run")
    assert code == 2 and out == ""
    assert_one_line_without_token(err, "telegram.api_base")
    assert "cannot be resolved" in err
    assert_no_token_in_logs(logs)


async def test_an_address_that_never_answers_times_out_with_one_line(tmp_path: Path) -> None:
    with silent_server() as port:
        settings = load_settings(
            write_config(tmp_path, token=TOKEN, api_base=f"http://127.0.0.1:{port}")
        )
        bot = make_bot(settings)
        with pytest.raises(BotApiUnreachable) as caught:
            await identify(bot, settings, within=1)
    message = str(caught.value)
    assert message.startswith("telegram.api_base: ") and "no answer within 1 s" in message
    assert SECRET not in message and "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert bot.session._session is None or bot.session._session.closed


@pytest.mark.parametrize(
    "api_base",
    ["htp:/bad url", "api.telegram.org", f"https://api.telegram.org/bot{TOKEN}"],
)
def test_run_with_a_malformed_api_base_is_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    logs: pytest.LogCaptureFixture,
    api_base: str,
) -> None:
    config = write_config(tmp_path, token=TOKEN, api_base=api_base)
    code, out, err = run(capsys, config, "run")
    assert code == 2 and out == ""
    assert_one_line_without_token(err, "telegram.api_base")
    assert_no_token_in_logs(logs)


# --- the Bot API answers, but not as hoped -----------------------------------------------------
def test_a_wrong_token_is_one_line_naming_the_token_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], logs: pytest.LogCaptureFixture
) -> None:
    with emulator_thread({"7000000999:the-token-the-emulator-knows": USERNAME}) as emu:
        config = write_config(tmp_path, token=TOKEN, api_base=emu.base_url)
        code, out, err = run(capsys, config, "run")
    assert code == 2 and out == ""
    assert_one_line_without_token(err, "telegram.token")
    assert "401" in err
    assert_no_token_in_logs(logs)


def test_an_address_that_is_no_bot_api_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], logs: pytest.LogCaptureFixture
) -> None:
    with emulator_thread({TOKEN: USERNAME}) as emu:
        config = write_config(tmp_path, token=TOKEN, api_base=f"{emu.base_url}/not-the-api")
        code, out, err = run(capsys, config, "run")
    assert code == 2 and out == ""
    assert_one_line_without_token(err, "telegram.api_base")
    assert "does not answer like a Bot API server" in err
    assert_no_token_in_logs(logs)


# --- posters ---------------------------------------------------------------------------------
def _with_a_point(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    assert run(capsys, config, "streets", "add", "DS", "德胜街道")[0] == 0
    assert run(capsys, config, "points", "add", "DS", "新街口社区")[0] == 0


def test_posters_with_the_api_down_use_the_configured_username(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], logs: pytest.LogCaptureFixture
) -> None:
    config = write_config(
        tmp_path, token=TOKEN, api_base=f"http://127.0.0.1:{unused_port()}", bot_username="@x_bot"
    )
    _with_a_point(capsys, config)
    code, out, err = run(capsys, config, "points", "posters", "--out", str(tmp_path / "p"))
    assert code == 0, err
    assert out == f"1 posters written to {tmp_path / 'p'}/\n"
    assert "using telegram.bot_username @x_bot" in err and err.count("\n") == 1
    assert SECRET not in err
    assert_no_token_in_logs(logs)


def test_posters_with_the_api_down_and_no_username_say_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], logs: pytest.LogCaptureFixture
) -> None:
    config = write_config(
        tmp_path, token=TOKEN, api_base=f"http://127.0.0.1:{unused_port()}", bot_username=""
    )
    _with_a_point(capsys, config)
    code, out, err = run(capsys, config, "points", "posters", "--out", str(tmp_path / "p"))
    assert code == 2 and out == ""
    assert_one_line_without_token(err, "telegram.bot_username")
    assert "cannot be asked" in err
    assert not (tmp_path / "p").exists()
    assert_no_token_in_logs(logs)


def test_posters_ask_the_api_and_refuse_a_username_of_another_bot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with emulator_thread({TOKEN: USERNAME}) as emu:
        config = write_config(tmp_path, token=TOKEN, api_base=emu.base_url, bot_username="")
        _with_a_point(capsys, config)
        code, _, err = run(capsys, config, "points", "posters", "--out", str(tmp_path / "p"))
        assert code == 0, err
        assert err == ""
        wrong = write_config(
            tmp_path, token=TOKEN, api_base=emu.base_url, bot_username="someone_else_bot"
        )
        code, out, err = run(capsys, wrong, "points", "posters", "--out", str(tmp_path / "q"))
    assert code == 2 and out == ""
    assert_one_line_without_token(err, "telegram.bot_username")
    assert f"@{USERNAME}" in err


# --- logs ------------------------------------------------------------------------------------
def test_the_token_is_kept_out_of_every_log_line(logs: pytest.LogCaptureFixture) -> None:
    keep_out_of_logs(TOKEN)
    try:
        log = logging.getLogger("tests.startup")
        log.warning("calling %s", f"http://x/bot{TOKEN}/getMe")
        try:
            raise RuntimeError(f"failed: http://x/bot{TOKEN}/getUpdates")
        except RuntimeError:
            log.exception("polling failed")
    finally:
        keep_out_of_logs()
    assert "calling http://x/bot<token>/getMe" in logs.text
    assert "polling failed" in logs.text
    assert_no_token_in_logs(logs)


def test_the_emulator_thread_really_serves(tmp_path: Path) -> None:
    # The tests above rely on this: a real answer for the token the emulator knows.
    with emulator_thread({TOKEN: USERNAME}) as emu:
        settings = load_settings(write_config(tmp_path, token=TOKEN, api_base=emu.base_url))

        async def ask() -> str | None:
            bot = make_bot(settings)
            try:
                return (await identify(bot, settings)).username
            finally:
                await bot.session.close()

        assert asyncio.run(ask()) == USERNAME
