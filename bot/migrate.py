"""Database upgrades through Alembic, callable from the CLI and at bot start.

Alembic (about 10 MiB resident) is imported only when there is something to upgrade: the
database's alembic_version is compared first with the heads of migrations/versions/,
read from the revision files' `revision` and `down_revision` assignments.
"""

from __future__ import annotations

import ast
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import migrations

if TYPE_CHECKING:
    from alembic.config import Config

VERSIONS = Path(migrations.__file__).parent / "versions"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    # Config's own default is the sys.stdout of when alembic was first imported, which
    # is now lazy: whatever stdout was then (a test's captured one) may be closed since.
    config = Config(stdout=sys.stdout)
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    if revision == "head" and await at_head(url):
        return
    # env.py runs its own event loop, so it must run in a thread of its own.
    await asyncio.to_thread(upgrade, url, revision)


def _assigned(tree: ast.Module, name: str) -> Any:
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return ast.literal_eval(node.value)
    raise ValueError(f"no literal {name} = ... assignment")


def heads(versions: Path = VERSIONS) -> frozenset[str]:
    """The revisions no other revision revises, as Alembic's ScriptDirectory finds them."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in versions.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        try:
            revisions.add(_assigned(tree, "revision"))
            down = _assigned(tree, "down_revision")
        except ValueError as error:
            raise ValueError(f"{path.name}: {error}") from None
        revised.update([down] if isinstance(down, str) else down or ())
    return frozenset(revisions - revised)


async def current_revisions(url: str) -> frozenset[str]:
    """What alembic_version holds; empty when the table does not exist (a new database)."""
    from sqlalchemy import inspect, text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            exists = await connection.run_sync(
                lambda sync: inspect(sync).has_table("alembic_version")
            )
            if not exists:
                return frozenset()
            rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
            return frozenset(row[0] for row in rows)
    finally:
        await engine.dispose()


async def at_head(url: str) -> bool:
    return await current_revisions(url) == heads()
