-- Cron schedules for recurring workflows (server/src/schedules/). Times are epoch milliseconds (UTC).
-- `next_run_at` is the next slot to fire; a scheduler claims a slot by advancing it with a conditional
-- UPDATE (`WHERE name = $1 AND next_run_at = $old`), so of several processes sharing the database only
-- one fires each slot. `last_run_at` is the slot fired last; `last_instance_id` stays NULL between the
-- claim and the durable start of its instance (a crash in between is repaired with the same start key).
CREATE TABLE schedules (
    name             TEXT    PRIMARY KEY NOT NULL,
    workflow         TEXT    NOT NULL,
    cron             TEXT    NOT NULL,   -- five fields, UTC: minute hour day-of-month month day-of-week
    input            TEXT    NOT NULL,   -- the input template, JSON (placeholders: see schedules/mod.rs)
    enabled          BIGINT  NOT NULL,   -- 1 or 0; an operator's choice, kept by upserts
    next_run_at      BIGINT  NOT NULL,
    last_run_at      BIGINT,
    last_instance_id TEXT,
    updated_at       BIGINT  NOT NULL
);
