"""Which database engine the suite runs on, and a fresh database for each test.

`UNIONBOT_TEST_ENGINE=sqlite` (the default) gives each test a SQLite file in its tmp_path.
`UNIONBOT_TEST_ENGINE=postgresql` gives each test its own database on a PostgreSQL server:
`UNIONBOT_TEST_PG` names the server's maintenance database (an asyncpg URL); without it the
session starts a throwaway cluster itself (see conftest). New databases are copied from a
template that is migrated once per session, and dropped when the test ends.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

ENGINE = os.environ.get("UNIONBOT_TEST_ENGINE", "sqlite")
if ENGINE not in ("sqlite", "postgresql"):
    raise RuntimeError(f"UNIONBOT_TEST_ENGINE must be sqlite or postgresql, not {ENGINE!r}")
# One template per test session: several sessions may share one server.
TEMPLATE = f"unionbot_template_{os.getpid()}"

_names = itertools.count(1)
_created: list[str] = []


def on_postgres() -> bool:
    return ENGINE == "postgresql"


def server_url() -> str:
    url = os.environ.get("UNIONBOT_TEST_PG")
    if not url:
        raise RuntimeError("UNIONBOT_TEST_PG is not set (the session should have set it)")
    return url


@dataclass
class Store:
    """One test's database: its URL for the bot, and plain SQL for the test's own checks
    (a separate connection, as an administrator would look at it)."""

    url: str
    path: Path | None = None  # the SQLite file
    name: str | None = None  # the PostgreSQL database
    _pg: Any = field(default=None, repr=False)

    @property
    def is_sqlite(self) -> bool:
        return self.path is not None

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run `query` (with ? placeholders) and return its rows; autocommit."""
        if self.path is not None:
            connection = sqlite3.connect(self.path, timeout=30)
            try:
                rows = connection.execute(query, params).fetchall()
                connection.commit()
                return rows
            finally:
                connection.close()
        with _pg_connect(self.url) as connection:
            cursor = connection.execute(query.replace("%", "%%").replace("?", "%s"), params)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

    def scalar(self, query: str, *params: Any) -> Any:
        rows = self.sql(query, *params)
        return rows[0][0] if rows else None

    def files(self, *, with_log: bool = True) -> list[Path]:
        """The files that hold this database as an attacker with the disk sees them: the
        SQLite file and its write-ahead log; on PostgreSQL, after a checkpoint, the
        database's folder and (with_log) the cluster's write-ahead log, which PostgreSQL
        recycles on its own schedule."""
        if self.path is not None:
            return [p for p in (self.path, self.path.with_name(self.path.name + "-wal"))
                    if p.exists()]  # fmt: skip
        self.sql("CHECKPOINT")
        data = Path(self.scalar("SHOW data_directory"))
        oid = self.scalar("SELECT oid FROM pg_database WHERE datname = current_database()")
        folders = [data / "base" / str(oid)] + ([data / "pg_wal"] if with_log else [])
        return sorted(p for folder in folders for p in folder.iterdir() if p.is_file())

    def stored_bytes(self, *, with_log: bool = True) -> bytes:
        return b"".join(_read_if_there(path) for path in self.files(with_log=with_log))

    def table_bytes(self, table: str) -> bytes:
        """The raw pages (free space included) of a table, its indexes and (PostgreSQL)
        its TOAST table, once every committed page is in the main files."""
        if self.path is not None:
            return _sqlite_table_bytes(self.path, table)
        self.sql("CHECKPOINT")
        data = Path(self.scalar("SHOW data_directory"))
        relations = self.sql(
            "SELECT pg_relation_filepath(c.oid) FROM pg_class c WHERE c.oid = ?::regclass "
            "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = ?::regclass) "
            "OR c.oid = (SELECT reltoastrelid FROM pg_class WHERE oid = ?::regclass)",
            table, table, table,
        )  # fmt: skip
        parts = []
        for (relative,) in relations:
            if relative:
                parts += sorted((data / relative).parent.glob(Path(relative).name + "*"))
        return b"".join(p.read_bytes() for p in parts if p.is_file())


def _read_if_there(path: Path) -> bytes:
    """A file's bytes; none when the server removed it since it was listed (PostgreSQL
    replaces files such as pg_internal.init while it runs)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _sqlite_table_bytes(path: Path, table: str) -> bytes:
    connection = sqlite3.connect(path, timeout=30)
    try:
        connection.execute("PRAGMA wal_checkpoint(FULL)")
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        names = [table] + [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,)
            )
        ]
        pages = sorted(
            {
                row[0]
                for name in names
                for row in connection.execute("SELECT pageno FROM dbstat WHERE name = ?", (name,))
            }
        )
    finally:
        connection.close()
    raw = path.read_bytes()
    return b"".join(raw[(p - 1) * page_size : p * page_size] for p in pages)


def new_store(tmp_path: Path, name: str = "unionbot", *, migrated: bool = True) -> Store:
    """A new, empty database for this test: migrated to head on PostgreSQL (copied from
    the template); on SQLite a file that the caller migrates (upgrade is cheap there)."""
    if not on_postgres():
        path = tmp_path / f"{name}.db"
        return Store(f"sqlite+aiosqlite:///{path}", path=path)
    database = f"t{next(_names)}_{os.getpid()}_{name}".lower()[:60]
    template = TEMPLATE if migrated else "template0"
    admin_sql(f'CREATE DATABASE "{database}" TEMPLATE {template}')
    _created.append(database)
    url = make_url(server_url()).set(database=database)
    return Store(url.render_as_string(hide_password=False), name=database)


def created_count() -> int:
    return len(_created)


def drop_template() -> None:
    admin_sql(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')


def drop_created(since: int = 0) -> None:
    """Drop the databases made since `since` (a test's own, not those of fixtures shared
    by a module, which were made before it started); the cluster outlives tests."""
    while len(_created) > since:
        admin_sql(f'DROP DATABASE IF EXISTS "{_created.pop()}" WITH (FORCE)')


def prepare_template() -> None:
    """Create and migrate the template every test database is copied from."""
    from bot.migrate import upgrade

    admin_sql(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
    admin_sql(f'CREATE DATABASE "{TEMPLATE}"')
    url = make_url(server_url()).set(database=TEMPLATE)
    upgrade(url.render_as_string(hide_password=False))


def admin_sql(statement: str) -> None:
    with _pg_connect(server_url()) as connection:
        connection.execute(statement)


def _pg_connect(url: str) -> Any:
    import psycopg

    parsed = make_url(url)
    return psycopg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        dbname=parsed.database,
        autocommit=True,
    )
