-- The engine's durable state. Times are epoch milliseconds (BIGINT), JSON is TEXT: the same SQL runs on
-- both backends. The journal is append-only (triggers refuse UPDATE and DELETE); `instances.state` and the
-- status columns are caches of it, rewritten on every transition.

CREATE TABLE definitions (
    name         TEXT    NOT NULL,
    version      BIGINT  NOT NULL,
    description  TEXT    NOT NULL,
    body         TEXT    NOT NULL,   -- the definition as registered, JSON
    content_hash TEXT    NOT NULL,   -- of the body without its version: an unchanged body is no new version
    created_at   BIGINT  NOT NULL,
    created_by   TEXT    NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE instances (
    id               TEXT    PRIMARY KEY NOT NULL,
    workflow         TEXT    NOT NULL,
    version          BIGINT  NOT NULL,
    status           TEXT    NOT NULL,   -- running, waiting, compensating, needs_intervention, completed, …
    current_state    TEXT,               -- the state(s) it is in, comma-separated
    paused           BIGINT  NOT NULL DEFAULT 0,
    error            TEXT,               -- why it failed or is blocked, for people and for search
    state            TEXT    NOT NULL,   -- the engine's instance, JSON
    start_key        TEXT,               -- workflow + idempotency key of the start request
    journal_seq      BIGINT  NOT NULL,   -- journal rows written so far
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    finished_at      BIGINT,
    -- Leases, for several processes on one PostgreSQL: who drives the instance, until when, and a
    -- fencing epoch that grows with every new owner.
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    lease_epoch      BIGINT  NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX instances_start_key ON instances (start_key);
CREATE INDEX instances_workflow_id ON instances (workflow, id);
CREATE INDEX instances_status_id ON instances (status, id);
CREATE INDEX instances_created ON instances (created_at);

-- Business keys (buyer, seller, call, payout ids) by which people find instances.
CREATE TABLE instance_keys (
    instance_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (instance_id, name)
);
CREATE INDEX instance_keys_value ON instance_keys (value);

-- One row per applied event, with what it caused (the engine's journal entries, JSON).
CREATE TABLE journal (
    instance_id TEXT   NOT NULL,
    seq         BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    event       TEXT   NOT NULL,
    actor       TEXT,
    reason      TEXT,
    entries     TEXT   NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
CREATE FUNCTION journal_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only';
END;
$$;
CREATE TRIGGER journal_is_append_only BEFORE UPDATE OR DELETE ON journal
FOR EACH ROW EXECUTE FUNCTION journal_is_append_only();

-- One row per finished attempt of a task or a compensation.
CREATE TABLE steps (
    instance_id     TEXT    NOT NULL,
    step_id         TEXT    NOT NULL,
    attempt         BIGINT  NOT NULL,
    kind            TEXT    NOT NULL,   -- task or compensation
    workflow        TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    service         TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    scheduled_at    BIGINT  NOT NULL,   -- when the transition asking for it was durable
    started_at      BIGINT  NOT NULL,   -- when the call went out (queue wait = started - scheduled)
    finished_at     BIGINT  NOT NULL,
    duration_ms     BIGINT  NOT NULL,
    outcome         TEXT    NOT NULL,   -- succeeded, retryable, permanent, timeout, circuit_open
    error           TEXT,
    PRIMARY KEY (instance_id, step_id, attempt, kind)
);
CREATE INDEX steps_workflow_state ON steps (workflow, state, finished_at);

-- Durable timers: waits, retry back-off, workflow deadlines.
CREATE TABLE timers (
    id          TEXT   PRIMARY KEY NOT NULL,
    instance_id TEXT   NOT NULL,
    fire_at     BIGINT NOT NULL,
    purpose     TEXT   NOT NULL
);
CREATE INDEX timers_fire_at ON timers (fire_at);

-- Work for people: human tasks, exhausted retries, failed compensations.
CREATE TABLE interventions (
    id             TEXT   PRIMARY KEY NOT NULL,
    instance_id    TEXT   NOT NULL,
    workflow       TEXT   NOT NULL,
    kind           TEXT   NOT NULL,
    state          TEXT   NOT NULL,
    decisions      TEXT   NOT NULL,   -- JSON array of the decisions allowed
    assignee_group TEXT,
    priority       TEXT   NOT NULL,
    due_at         BIGINT,
    reason         TEXT   NOT NULL,
    status         TEXT   NOT NULL,   -- open or closed
    opened_at      BIGINT NOT NULL,
    closed_at      BIGINT
);
CREATE INDEX interventions_status ON interventions (status, opened_at);
CREATE INDEX interventions_instance ON interventions (instance_id);
