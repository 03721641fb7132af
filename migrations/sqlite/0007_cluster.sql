-- Cluster tables (see migrations/postgres/0007_cluster.sql). On SQLite there is one node per file (a lock
-- file refuses a second process), so only `cluster_nodes` and `cluster_leases` are used; the schema stays
-- the same on both backends.
CREATE TABLE cluster_nodes (
    id           TEXT   PRIMARY KEY NOT NULL,
    incarnation  TEXT   NOT NULL,
    address      TEXT   NOT NULL,
    pid          BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    stopped_at   BIGINT,
    subscribers  BIGINT NOT NULL DEFAULT 0,
    -- The node's counters as of its last heartbeat (shown on the overview): writes fenced because the
    -- instance had moved, instances taken over, instances moved here by a command.
    fenced_writes BIGINT NOT NULL DEFAULT 0,
    claimed       BIGINT NOT NULL DEFAULT 0,
    moved_in      BIGINT NOT NULL DEFAULT 0,
    -- Live runs it owned when it last counted (every few seconds): how nodes compare their shares.
    owned         BIGINT NOT NULL DEFAULT 0,
    -- Its per-service call figures and breaker states (JSON, by service name), for the Services page.
    services      TEXT   NOT NULL DEFAULT '{}'
);

CREATE TABLE cluster_leases (
    name        TEXT   PRIMARY KEY NOT NULL,
    holder      TEXT   NOT NULL,
    epoch       BIGINT NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE TABLE cluster_events (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    node   TEXT   NOT NULL,
    at     BIGINT NOT NULL,
    events TEXT   NOT NULL
);

-- Operators' settings of services, the same on every node (server/src/cluster/controls.rs).
CREATE TABLE service_controls (
    name            TEXT   PRIMARY KEY NOT NULL,
    faults          TEXT,
    faults_version  BIGINT NOT NULL DEFAULT 0,
    breaker         TEXT,
    breaker_version BIGINT NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL
);

CREATE INDEX instances_live_owner ON instances (lease_owner)
    WHERE status IN ('created', 'running', 'waiting', 'compensating', 'needs_intervention');

-- Rollups by shard (one per writer); SQLite cannot change a primary key in place, so the tables are
-- rebuilt.
CREATE TABLE workflow_rollups_sharded (
    resolution_ms BIGINT NOT NULL,
    bucket_ms     BIGINT NOT NULL,
    workflow      TEXT   NOT NULL,
    shard         TEXT   NOT NULL DEFAULT '',
    started       BIGINT NOT NULL,
    completed     BIGINT NOT NULL,
    failed        BIGINT NOT NULL,
    compensated   BIGINT NOT NULL,
    cancelled     BIGINT NOT NULL,
    interventions BIGINT NOT NULL,
    duration      TEXT   NOT NULL,
    PRIMARY KEY (resolution_ms, bucket_ms, workflow, shard)
);
INSERT INTO workflow_rollups_sharded (resolution_ms, bucket_ms, workflow, shard, started, completed, failed,
    compensated, cancelled, interventions, duration)
SELECT resolution_ms, bucket_ms, workflow, '', started, completed, failed, compensated, cancelled, interventions,
    duration FROM workflow_rollups;
DROP TABLE workflow_rollups;
ALTER TABLE workflow_rollups_sharded RENAME TO workflow_rollups;

CREATE TABLE state_rollups_sharded (
    resolution_ms         BIGINT NOT NULL,
    bucket_ms             BIGINT NOT NULL,
    workflow              TEXT   NOT NULL,
    state                 TEXT   NOT NULL,
    shard                 TEXT   NOT NULL DEFAULT '',
    entered               BIGINT NOT NULL,
    attempts              BIGINT NOT NULL,
    failures              BIGINT NOT NULL,
    retries               BIGINT NOT NULL,
    compensations         BIGINT NOT NULL,
    compensation_failures BIGINT NOT NULL,
    interventions         BIGINT NOT NULL,
    time_in_state         TEXT   NOT NULL,
    attempt_duration      TEXT   NOT NULL,
    queue_wait            TEXT   NOT NULL,
    PRIMARY KEY (resolution_ms, bucket_ms, workflow, state, shard)
);
INSERT INTO state_rollups_sharded (resolution_ms, bucket_ms, workflow, state, shard, entered, attempts, failures,
    retries, compensations, compensation_failures, interventions, time_in_state, attempt_duration, queue_wait)
SELECT resolution_ms, bucket_ms, workflow, state, '', entered, attempts, failures, retries, compensations,
    compensation_failures, interventions, time_in_state, attempt_duration, queue_wait FROM state_rollups;
DROP TABLE state_rollups;
ALTER TABLE state_rollups_sharded RENAME TO state_rollups;
