"""send_window_reserve(): a shared send-window reservation in one round trip (PostgreSQL)

Revision ID: c51f0a7e2d94
Revises: e9dd2ca7786a
Create Date: 2026-12-06 04:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c51f0a7e2d94"
down_revision: str | None = "e9dd2ca7786a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The reservation bot.pacing.SharedPacer makes for every send, as bot/send_windows.py
# describes it (next_slot, trimmed, _without), run where the rows are: called as one
# statement, it is its own transaction. The windows `keys` (sorted: locked in that order,
# no deadlock) with their `spans` and `keeps`; the rules as parallel arrays (rule_keys
# names each rule's window); `at_least` seconds after the database's clock; `given_back`
# a slot to take out first (or NULL). Times are stored with four decimals, and the slot
# is returned as stored, so that giving it back finds it. (Slices are written "[1 : j]":
# op.execute reads ":j" as a bind parameter.)
RESERVE = """
CREATE FUNCTION send_window_reserve(
    keys bigint[], spans float8[], keeps int[],
    rule_keys bigint[], rule_limits int[], rule_widened float8[],
    at_least float8, given_back float8
) RETURNS TABLE (slot float8, now float8, started float8)
LANGUAGE plpgsql AS $$
DECLARE
    texts text[] := array_fill(''::text, ARRAY[array_length(keys, 1)]);
    kept float8[];
    locked record;
    i int;
    j int;
    n int;
    next float8;
BEGIN
    FOR locked IN
        INSERT INTO send_window (chat_id, times) SELECT unnest(keys), ''
        ON CONFLICT (chat_id) DO UPDATE SET chat_id = excluded.chat_id
        RETURNING send_window.chat_id, send_window.times
    LOOP
        texts[array_position(keys, locked.chat_id)] := locked.times;
    END LOOP;
    now := extract(epoch FROM clock_timestamp());
    started := extract(epoch FROM statement_timestamp());
    next := now + at_least;
    FOR i IN 1 .. array_length(keys, 1) LOOP
        kept := string_to_array(texts[i], ',')::float8[];  -- '' is no times
        j := array_position(kept, given_back);
        IF j IS NOT NULL THEN
            kept := kept[1 : j - 1] || kept[j + 1 :];
        END IF;
        n := coalesce(array_length(kept, 1), 0);
        IF n > 0 THEN
            next := greatest(next, kept[n]);
        END IF;
        FOR j IN 1 .. array_length(rule_keys, 1) LOOP
            IF rule_keys[j] = keys[i] AND n >= rule_limits[j] THEN
                next := greatest(next, kept[n - rule_limits[j] + 1] + rule_widened[j]);
            END IF;
        END LOOP;
        texts[i] := array_to_string(kept, ',');
    END LOOP;
    slot := round(next::numeric, 4)::float8;
    UPDATE send_window AS w SET times = coalesce((
        SELECT string_agg(round(t::numeric, 4)::text, ',' ORDER BY o)
        FROM (
            SELECT t, o
            FROM unnest(string_to_array(v.times, ',')::float8[] || slot) WITH ORDINALITY AS a(t, o)
            WHERE t > now - v.span
            ORDER BY o DESC LIMIT v.keep
        ) AS last
    ), '')
    FROM unnest(keys, texts, spans, keeps) AS v(chat_id, times, span, keep)
    WHERE w.chat_id = v.chat_id;
    RETURN NEXT;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(RESERVE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION send_window_reserve(bigint[], float8[], int[], bigint[], int[], "
            "float8[], float8, float8)"
        )
