-- Monitoring (server/src/monitoring/). Rollups are what the monitoring queries read instead of scanning
-- instances: one row per workflow type (workflow_rollups) or state of it (state_rollups) and time bucket,
-- at three resolutions (resolution_ms 60000, 3600000, 86400000; buckets aligned to the epoch, UTC). They
-- are written in the same transaction as the transitions they count. Duration columns hold a
-- DurationSketch in its text form (v1;count;sum;min;max;index:count,...), milliseconds.
CREATE TABLE workflow_rollups (
    resolution_ms BIGINT NOT NULL,
    bucket_ms     BIGINT NOT NULL,
    workflow      TEXT   NOT NULL,
    started       BIGINT NOT NULL,
    completed     BIGINT NOT NULL,
    failed        BIGINT NOT NULL,
    compensated   BIGINT NOT NULL,
    cancelled     BIGINT NOT NULL,
    interventions BIGINT NOT NULL,
    duration      TEXT   NOT NULL,   -- creation to completion, of instances completed in the bucket
    PRIMARY KEY (resolution_ms, bucket_ms, workflow)
);

CREATE TABLE state_rollups (
    resolution_ms         BIGINT NOT NULL,
    bucket_ms             BIGINT NOT NULL,
    workflow              TEXT   NOT NULL,
    state                 TEXT   NOT NULL,
    entered               BIGINT NOT NULL,
    attempts              BIGINT NOT NULL,   -- finished task attempts
    failures              BIGINT NOT NULL,   -- of which failed
    retries               BIGINT NOT NULL,   -- of which not the first attempt
    compensations         BIGINT NOT NULL,   -- finished compensation attempts
    compensation_failures BIGINT NOT NULL,
    interventions         BIGINT NOT NULL,
    time_in_state         TEXT   NOT NULL,   -- entering to leaving, per exit
    attempt_duration      TEXT   NOT NULL,   -- per task attempt
    queue_wait            TEXT   NOT NULL,   -- asked for to sent, per task attempt
    PRIMARY KEY (resolution_ms, bucket_ms, workflow, state)
);

-- SLA targets per workflow type, editable by managers. `metric` names what is measured over the
-- trailing `window_ms` (see monitoring/sla.rs); durations are milliseconds, rates fractions (0.95).
CREATE TABLE sla_targets (
    id                TEXT   NOT NULL PRIMARY KEY,
    workflow          TEXT   NOT NULL,
    metric            TEXT   NOT NULL,
    threshold         DOUBLE PRECISION NOT NULL,
    window_ms         BIGINT NOT NULL,
    open_intervention BIGINT NOT NULL,   -- 1: a breach also opens an intervention
    description       TEXT   NOT NULL,
    updated_at        BIGINT NOT NULL,
    updated_by        TEXT   NOT NULL,
    UNIQUE (workflow, metric, window_ms)
);

-- Breaches: one row from the check that found a target broken until the check that found it met again
-- (recovered_at). An open breach is one with recovered_at NULL.
CREATE TABLE sla_breaches (
    id              TEXT   PRIMARY KEY NOT NULL,
    target_id       TEXT   NOT NULL,
    workflow        TEXT   NOT NULL,
    metric          TEXT   NOT NULL,
    threshold       DOUBLE PRECISION NOT NULL,
    actual          DOUBLE PRECISION NOT NULL,
    window_ms       BIGINT NOT NULL,
    breached_at     BIGINT NOT NULL,
    recovered_at    BIGINT,
    intervention_id TEXT
);
CREATE INDEX sla_breaches_target ON sla_breaches (target_id, recovered_at);
CREATE INDEX sla_breaches_time ON sla_breaches (breached_at);
