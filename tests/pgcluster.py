"""A throwaway PostgreSQL cluster: initdb into a temporary folder, a loopback port, stopped
and removed at the end. Used by `make test` (tests/run_engines.py) and by the benchmarks.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user (or
`nobody`) through runuser; the folder is handed to that user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "unionbot"
INSTALL_HINT = (
    "install PostgreSQL's server (Debian/Ubuntu: sudo apt-get install -y postgresql; "
    "other systems: a package that provides initdb and pg_ctl) and run make test again"
)


class PostgresMissing(RuntimeError):
    """initdb and pg_ctl are not on this machine."""


def find_bindir() -> Path:
    """The folder holding initdb and pg_ctl: PATH, then pg_config, then Debian's layout."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        bindir = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if (Path(bindir) / "initdb").exists():
            return Path(bindir)
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise PostgresMissing("PostgreSQL's initdb and pg_ctl were not found")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run_as() -> str | None:
    """The user to run the server as when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise PostgresMissing("running as root and neither a postgres nor a nobody user exists")


@dataclass
class Cluster:
    folder: Path
    port: int
    bindir: Path
    user: str | None

    @property
    def url(self) -> str:
        """An asyncpg URL of the maintenance database; tests make their own databases."""
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _cmd(self, *args: str) -> list[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        return ["runuser", "-u", self.user, "--", *command] if self.user else command

    def start(self) -> None:
        subprocess.run(
            self._cmd(
                "initdb", "-D", str(self.data), "-A", "trust", "-U", SUPERUSER,
                "-E", "UTF8", "--locale=C", "--no-sync",
            ),
            check=True, capture_output=True,
        )  # fmt: skip
        # Durability settings off: a throwaway test cluster, and many databases per run.
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=300 -c shared_buffers=64MB"
        )
        subprocess.run(
            self._cmd("pg_ctl", "-D", str(self.data), "-o", options,
                      "-l", str(self.folder / "server.log"), "-w", "-t", "60", "start"),
            check=True, capture_output=True,
        )  # fmt: skip

    def stop(self) -> None:
        subprocess.run(
            self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"),
            capture_output=True,
        )


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    bindir = find_bindir()
    user = _run_as()
    folder = Path(tempfile.mkdtemp(prefix="unionbot-pg-"))
    if user:
        shutil.chown(folder, user)
    cluster = Cluster(folder, free_port(), bindir, user)
    try:
        cluster.start()
    except subprocess.CalledProcessError as error:
        shutil.rmtree(folder, ignore_errors=True)
        output = (error.stderr or b"").decode(errors="replace").strip()
        raise RuntimeError(f"could not start PostgreSQL: {output}") from None
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
