"""Real bot processes for the tests (and benchmarks) that span several of them: each one is
`unionbot run` in a subprocess with its own config file, talking HTTP to the emulator that
runs in the test process; a small round-robin reverse proxy stands in front of webhook
workers, as nginx would."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.config import Settings

SECRET = "webhook-secret-for-the-tests"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    """A config.toml from {section: {key: value or {subsection...}}}."""
    lines: list[str] = []

    def table(name: str, values: dict[str, Any]) -> None:
        lines.append(f"[{name}]")
        nested = {k: v for k, v in values.items() if isinstance(v, dict)}
        for key, value in values.items():
            if not isinstance(value, dict) and value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
        for key, value in nested.items():
            table(f"{name}.{key}", value)

    for name, values in sections.items():
        table(name, values)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def config_sections(settings: Settings) -> dict[str, dict[str, Any]]:
    """The settings the test built (fresh keys, emulator, test database) as TOML sections."""
    security = settings.security
    return {
        "telegram": {
            "token": settings.telegram.token.get_secret_value(),
            "api_base": settings.telegram.api_base,
            "bot_username": settings.telegram.bot_username,
        },
        "database": {"url": settings.database.url},
        "federation": {
            "chat_id": settings.federation.chat_id,
            "founding_threshold": settings.federation.founding_threshold,
        },
        "security": {
            "data_key": security.data_key.get_secret_value(),
            "lookup_key": security.lookup_key.get_secret_value(),
        },
        "outbox": settings.outbox.model_dump(),
    }


@dataclass
class BotProcess:
    """One `unionbot run`."""

    name: str
    config: Path
    log: Path
    args: list[str] = field(default_factory=list)
    port: int | None = None  # webhook workers: where they listen
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> BotProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNIONBOT__")}
        handle = self.log.open("ab")
        command = [sys.executable, "-m", "bot.cli", "--config", str(self.config), "run",
                   *self.args]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
        handle.close()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as when the machine loses power."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            assert self.process is not None
            self.process.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.process is None:
            return None
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    async def wait_for_log(self, text: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if not self.alive():
                raise AssertionError(f"{self.name} exited: {self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no {text!r} in {timeout}s: "
                                     f"{self.output()[-3000:]}")  # fmt: skip
            await asyncio.sleep(0.05)

    async def wait_listening(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        assert self.port is not None
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise AssertionError(f"{self.name} exited: {self.output()[-3000:]}")
            with contextlib.suppress(OSError):
                _reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} does not listen: {self.output()[-3000:]}")
            await asyncio.sleep(0.05)


class RoundRobinProxy:
    """Forwards each webhook POST to the next worker; a worker that does not answer is
    skipped (as nginx's upstream fail-over does)."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.port = free_port()
        self._next = itertools.count()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.forwarded: dict[int, int] = dict.fromkeys(ports, 0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> RoundRobinProxy:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("content-type", "x-telegram-bot-api-secret-token")}  # fmt: skip
        assert self._session is not None
        for _ in range(len(self.ports)):
            port = self.ports[next(self._next) % len(self.ports)]
            try:
                async with self._session.post(
                    f"http://127.0.0.1:{port}{request.path}", data=body, headers=headers
                ) as response:
                    self.forwarded[port] += 1
                    return web.Response(status=response.status, body=await response.read())
            except aiohttp.ClientError:
                continue
        return web.Response(status=502, text="no worker answered")


@contextlib.asynccontextmanager
async def stopped_at_exit(*processes: BotProcess) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for process in processes:
            process.stop()


def run_scripts_at_once(script: str, argvs: list[list[str]], timeout: float = 180.0) -> list[str]:
    """`python -c script` once per argv, in processes of their own that start their work
    at the same instant: sys.argv[1] is that moment (time.time(), a few seconds ahead, so
    that every process has started and connected by then), their own arguments follow.
    Their standard outputs, each process having exited with 0."""
    start = time.time() + 4.0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    processes = [
        subprocess.Popen([sys.executable, "-c", script, str(start), *argv],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for argv in argvs
    ]  # fmt: skip
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, err[-2000:]
        outputs.append(out)
    return outputs
