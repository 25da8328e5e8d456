"""Declarative base, naming convention and column types shared by all models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, int: Integer}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always returns timezone-aware values (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ValueTooLong(ValueError):
    """A value longer than its column: a bug at the boundary that should have checked it."""


class Bounded(TypeDecorator[str]):
    """A VARCHAR(n) that refuses longer values on every engine.

    PostgreSQL refuses them and SQLite silently stores them, so without this a value that
    fits in tests on SQLite fails in production on PostgreSQL. Inputs are checked (or
    display names truncated) where they enter; this is the backstop.
    """

    impl = String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)

    @property
    def limit(self) -> int:
        return int(self.impl.length)  # type: ignore[attr-defined]

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is not None and len(value) > self.limit:
            raise ValueTooLong(f"{len(value)} characters for a column of {self.limit}")
        return value


class ChatId(TypeDecorator[int]):
    """Telegram chat and user ids exceed 32 bits."""

    impl = BigInteger
    cache_ok = True


@compiles(BigInteger, "sqlite")
def _sqlite_bigint(_type: Any, _compiler: Any, **_kw: Any) -> str:
    # SQLite only auto-increments INTEGER PRIMARY KEY; its INTEGER is 64-bit anyway.
    return "INTEGER"
