"""The triggers that keep models.tally and the members' four-ones flags, for SQLite and
PostgreSQL, generated from one description so that the two engines count alike.

Each tally is a grouping of a source table: its key columns are expressions over a row.
A trigger adds 1 to the key of every row inserted, takes 1 from the key of every row
deleted, and on an update of a column the key depends on does both. The same expressions,
over the table instead of one row, recount a tally from the rows (`recount_sql`), which is
what `unionbot tallies check` compares with and `rebuild` writes.

The keys read two other tables' columns that never change once written: an application's
reception point and a union's kind. SQLite drops a table's triggers when a migration
rebuilds it (batch_alter_table); a migration that rebuilds one of the source tables must
call `create_statements` again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Expr = Callable[[str, str], str]  # (dialect, row) -> SQL; row is NEW, OLD or a table name


def month(column: str) -> Expr:
    """YYYY-MM of a UTC moment in Beijing time (UTC+8, no daylight saving)."""

    def sql(dialect: str, row: str) -> str:
        if dialect == "sqlite":
            return f"strftime('%Y-%m', {row}.{column}, '+8 hours')"
        return f"to_char(({row}.{column} AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM')"

    return sql


def whole_hours(start: str, end: str) -> Expr:
    """Whole hours between two moments, counted on whole seconds on both engines."""

    def sql(dialect: str, row: str) -> str:
        if dialect == "sqlite":
            return (
                f"((CAST(strftime('%s', {row}.{end}) AS INTEGER)"
                f" - CAST(strftime('%s', {row}.{start}) AS INTEGER)) / 3600)"
            )
        return (
            f"((extract(epoch FROM date_trunc('second', {row}.{end}))::bigint"
            f" - extract(epoch FROM date_trunc('second', {row}.{start}))::bigint) / 3600)::int"
        )

    return sql


def column(name: str) -> Expr:
    return lambda dialect, row: f"{row}.{name}"


def flag(condition: str) -> Expr:
    """1 or 0; `condition` names the row's columns as {r}.column."""

    def sql(dialect: str, row: str) -> str:
        text = condition.format(r=row)
        return f"({text})" if dialect == "sqlite" else f"(({text})::int)"

    return sql


def raw(template: str) -> Expr:
    return lambda dialect, row: template.format(r=row)


@dataclass(frozen=True)
class Tally:
    table: str
    source: str
    keys: tuple[tuple[str, Expr], ...]
    when: str | None  # a condition on the row ({r}.column), or None for every row
    watched: tuple[str, ...]  # the source's columns the key and condition depend on

    def condition(self, row: str) -> str:
        return "1 = 1" if self.when is None else self.when.format(r=row)


TALLIES = (
    Tally(
        "tally_application", "application",
        (("month", month("submitted_at")), ("street_id", column("street_id")),
         ("point_id", raw("coalesce({r}.point_id, 0)")), ("status", column("status"))),
        None, ("submitted_at", "street_id", "point_id", "status"),
    ),
    Tally(
        "tally_review", "application",
        (("month", month("decided_at")), ("street_id", column("street_id")),
         ("hours", whole_hours("submitted_at", "decided_at"))),
        "{r}.status IN ('approved', 'rejected') AND {r}.decided_at IS NOT NULL",
        ("status", "decided_at", "submitted_at", "street_id"),
    ),
    Tally(
        "tally_joined", "member",
        (("month", month("joined_at")), ("street_id", column("street_id"))),
        None, ("joined_at", "street_id"),
    ),
    Tally(
        "tally_member", "member",
        (("street_id", column("street_id")),
         ("point_id", raw("coalesce((SELECT a.point_id FROM application a"
                          " WHERE a.id = {r}.application_id), 0)")),
         ("status", column("status")),
         ("kept", flag("{r}.kept_since IS NOT NULL")),
         ("transferred", flag("coalesce((SELECT u.kind = 'enterprise' FROM union_org u"
                              " WHERE u.id = {r}.union_org_id), false)")),
         ("card", flag("{r}.card_done")), ("benefit", flag("{r}.benefit_done")),
         ("activity", flag("{r}.activity_done"))),
        None,
        ("street_id", "application_id", "status", "kept_since", "union_org_id", "card_done",
         "benefit_done", "activity_done"),
    ),
    Tally(
        "tally_registry", "enterprise",
        (("street_id", raw("coalesce({r}.street_id, 0)")), ("has_union", flag("{r}.has_union"))),
        "NOT {r}.provisional AND {r}.status = 'active'",
        ("street_id", "has_union", "provisional", "status"),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Flag:
    """A member's flag: whether any row of `source` for the member meets `done`."""

    column: str
    source: str
    done: str  # the source's column that, when set, means done

    def exists(self, member: str) -> str:
        return (
            f"EXISTS (SELECT 1 FROM {self.source} x WHERE x.member_id = {member}"
            f" AND x.{self.done} IS NOT NULL)"
        )

    def refresh(self, member: str) -> str:
        return (
            f"UPDATE member SET {self.column} = {self.exists(member)}"
            f" WHERE id = {member} AND {self.column} <> {self.exists(member)}"
        )


FLAGS = (
    Flag("card_done", "service_card_request", "collected_at"),
    Flag("benefit_done", "benefit_claim", "redeemed_at"),
    Flag("activity_done", "activity_signup", "attended_at"),
)


def _bump(tally: Tally, dialect: str, row: str, sign: int) -> str:
    names = ", ".join(name for name, _ in tally.keys)
    values = ", ".join(expr(dialect, row) for _, expr in tally.keys)
    alias = " AS t" if dialect == "postgresql" else ""
    current = "t.n" if dialect == "postgresql" else "n"
    return (
        f"INSERT INTO {tally.table}{alias} ({names}, n) SELECT {values}, {sign}"
        f" WHERE {tally.condition(row)}"
        f" ON CONFLICT ({names}) DO UPDATE SET n = {current} + excluded.n"
    )


def _sources() -> dict[str, list[Tally]]:
    sources: dict[str, list[Tally]] = {}
    for tally in TALLIES:
        sources.setdefault(tally.source, []).append(tally)
    return sources


def _watched(tallies: list[Tally]) -> str:
    return ", ".join(dict.fromkeys(c for tally in tallies for c in tally.watched))


@dataclass(frozen=True)
class _Trigger:
    """A row trigger: `on_old` for the row before a change (OLD), `on_new` for the row
    after it (NEW), each a few statements; on an update of `watched`, both."""

    name: str
    table: str
    watched: str
    on_old: str
    on_new: str
    # PostgreSQL: run at the commit. Concurrent decisions in one street and month share
    # tally rows; a row lock taken at the commit is held for the commit only, not for the
    # rest of the transaction (bench_approvals measures it).
    deferred: bool = False


def _triggers(dialect: str) -> list[_Trigger]:
    triggers = [
        _Trigger(
            f"tally_{source}", source, _watched(tallies),
            "; ".join(_bump(t, dialect, "OLD", -1) for t in tallies),
            "; ".join(_bump(t, dialect, "NEW", 1) for t in tallies),
            deferred=True,
        )
        for source, tallies in _sources().items()
    ]  # fmt: skip
    triggers += [
        _Trigger(f"flag_{f.column}", f.source, f"{f.done}, member_id",
                 f.refresh("OLD.member_id"), f.refresh("NEW.member_id"))
        for f in FLAGS
    ]  # fmt: skip
    return triggers


_SQLITE_EVENTS = ("insert", "delete", "update")  # one SQLite trigger each, named after it


def create_statements(dialect: str) -> list[str]:
    """The triggers (and on PostgreSQL their functions), in an order that creates them."""
    statements = []
    for t in _triggers(dialect):
        if dialect == "sqlite":
            for event, body in (("INSERT", t.on_new), ("DELETE", t.on_old),
                                (f"UPDATE OF {t.watched}", f"{t.on_old}; {t.on_new}")):  # fmt: skip
                name = f"{t.name}_{event.split()[0].lower()}"
                statements.append(
                    f"CREATE TRIGGER {name} AFTER {event} ON {t.table} BEGIN {body}; END"
                )
            continue
        statements.append(
            f"CREATE FUNCTION {t.name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n"
            f"  IF TG_OP IN ('UPDATE', 'DELETE') THEN {t.on_old}; END IF;\n"
            f"  IF TG_OP IN ('UPDATE', 'INSERT') THEN {t.on_new}; END IF;\n"
            f"  RETURN NULL;\n"
            f"END $$"
        )
        kind, timing = ("CONSTRAINT TRIGGER", " DEFERRABLE INITIALLY DEFERRED") if t.deferred \
            else ("TRIGGER", "")  # fmt: skip
        statements.append(
            f"CREATE {kind} {t.name} AFTER INSERT OR DELETE OR UPDATE OF {t.watched}"
            f" ON {t.table}{timing} FOR EACH ROW EXECUTE FUNCTION {t.name}()"
        )
    return statements


def drop_statements(dialect: str) -> list[str]:
    statements = []
    for t in _triggers(dialect):
        if dialect == "sqlite":
            statements += [f"DROP TRIGGER IF EXISTS {t.name}_{e}" for e in _SQLITE_EVENTS]
        else:
            statements += [f"DROP TRIGGER IF EXISTS {t.name} ON {t.table}",
                           f"DROP FUNCTION IF EXISTS {t.name}()"]  # fmt: skip
    return statements


def recount_sql(tally: Tally, dialect: str) -> str:
    """The tally counted from the rows: SELECT key columns..., n."""
    keys = ", ".join(f"{expr(dialect, tally.source)} AS {name}" for name, expr in tally.keys)
    groups = ", ".join(str(i) for i in range(1, len(tally.keys) + 1))
    return (
        f"SELECT {keys}, count(*) AS n FROM {tally.source}"
        f" WHERE {tally.condition(tally.source)} GROUP BY {groups}"
    )


def refresh_flags_sql() -> list[str]:
    """Set every member's flags from the rows (touching only the members whose differ)."""
    return [
        f"UPDATE member SET {f.column} = {f.exists('member.id')}"
        f" WHERE {f.column} <> {f.exists('member.id')}"
        for f in FLAGS
    ]


def rebuild_statements(dialect: str) -> list[str]:
    """Flags from the rows, then every tally recounted. On PostgreSQL the tally triggers
    are deferred to the commit: made immediate first, so that no change queued before
    (or by the flags' refresh) lands on the recounted tallies."""
    statements = ["SET CONSTRAINTS ALL IMMEDIATE"] if dialect == "postgresql" else []
    statements += refresh_flags_sql()
    for tally in TALLIES:
        names = ", ".join(name for name, _ in tally.keys)
        statements.append(f"DELETE FROM {tally.table}")
        statements.append(f"INSERT INTO {tally.table} ({names}, n) {recount_sql(tally, dialect)}")
    return statements
