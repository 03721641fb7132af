-- Several switchboard nodes on one database (server/src/cluster/).
--
-- A node registers itself in `cluster_nodes` and renews one heartbeat per interval (times come from the
-- database clock, epoch ms). An instance's lease is (instances.lease_owner, instances.lease_epoch): it
-- lasts while its owner's heartbeat is fresh, so renewing costs one write per node, not one per instance
-- (instances.lease_expires_at is no longer used). A node takes over instances whose owner is gone, bumping
-- the epoch; every transition commit checks owner and epoch under a row lock (fencing).
CREATE TABLE cluster_nodes (
    id           TEXT   PRIMARY KEY NOT NULL,   -- --node-id, by default host:port
    incarnation  TEXT   NOT NULL,               -- random per process start
    address      TEXT   NOT NULL,               -- where its console and API listen
    pid          BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    stopped_at   BIGINT,                        -- set by a graceful shutdown (its leases were handed back)
    subscribers  BIGINT NOT NULL DEFAULT 0,     -- open event streams: other nodes publish to the feed while > 0
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

-- Named leases with a fencing epoch; 'leader' runs schedules, SLA checks and demo traffic.
CREATE TABLE cluster_leases (
    name        TEXT   PRIMARY KEY NOT NULL,
    holder      TEXT   NOT NULL,
    epoch       BIGINT NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- The live feed between nodes: one row per group commit (or per other announcement) holding its live
-- events as a JSON array; NOTIFY switchboard_events wakes the readers, the rows are the truth. Pruned
-- after a few minutes by the leader.
CREATE TABLE cluster_events (
    id     BIGSERIAL PRIMARY KEY,
    node   TEXT   NOT NULL,
    at     BIGINT NOT NULL,
    events TEXT   NOT NULL
);

-- Operators' settings of services, the same on every node (server/src/cluster/controls.rs): simulated
-- faults and the last breaker action. Each node applies a row's change once, by its version.
CREATE TABLE service_controls (
    name            TEXT   PRIMARY KEY NOT NULL,
    faults          TEXT,                       -- FaultSettings as JSON; NULL: never set
    faults_version  BIGINT NOT NULL DEFAULT 0,
    breaker         TEXT,                       -- 'trip' or 'reset'; NULL: never acted on
    breaker_version BIGINT NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL
);

-- Finding the work of a node that is gone: live instances by owner.
CREATE INDEX instances_live_owner ON instances (lease_owner)
    WHERE status IN ('created', 'running', 'waiting', 'compensating', 'needs_intervention');

-- Rollups get one row per writer (shard): each node adds only to its own rows, so several nodes count
-- exactly without waiting on each other; readers add the shards up. '' is the single-node shard.
ALTER TABLE workflow_rollups ADD COLUMN shard TEXT NOT NULL DEFAULT '';
ALTER TABLE workflow_rollups DROP CONSTRAINT workflow_rollups_pkey;
ALTER TABLE workflow_rollups ADD PRIMARY KEY (resolution_ms, bucket_ms, workflow, shard);
ALTER TABLE state_rollups ADD COLUMN shard TEXT NOT NULL DEFAULT '';
ALTER TABLE state_rollups DROP CONSTRAINT state_rollups_pkey;
ALTER TABLE state_rollups ADD PRIMARY KEY (resolution_ms, bucket_ms, workflow, state, shard);
