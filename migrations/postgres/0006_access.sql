-- Who may use the console and what they did: users, server-side sessions, API tokens, the audit trail,
-- and the intervention inbox's assignment and resolution columns.
-- Session ids and API tokens are stored only as SHA-256 hashes; the secret lives in the cookie or client.

CREATE TABLE users (
    id                  TEXT   PRIMARY KEY NOT NULL,
    username            TEXT   NOT NULL UNIQUE,
    display_name        TEXT   NOT NULL,
    role                TEXT   NOT NULL,   -- support, manager, reviewer or admin
    password_hash       TEXT   NOT NULL,   -- argon2id, PHC string
    created_at          BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL,
    disabled_at         BIGINT
);

CREATE TABLE sessions (
    id_hash      TEXT   PRIMARY KEY NOT NULL,
    user_id      TEXT   NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,   -- the absolute expiry; idle expiry is last_seen_at + the idle limit
    ended_at     BIGINT,
    remote       TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id           TEXT   PRIMARY KEY NOT NULL,
    name         TEXT   NOT NULL,
    token_hash   TEXT   NOT NULL UNIQUE,
    role         TEXT   NOT NULL,
    created_by   TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

-- Every operator action, written in the transaction of the change. Append-only.
CREATE TABLE audit_log (
    id          TEXT   PRIMARY KEY NOT NULL,   -- UUIDv7: sorts by time
    at          BIGINT NOT NULL,
    actor       TEXT   NOT NULL,
    action      TEXT   NOT NULL,               -- e.g. instance.cancel, intervention.claim, user.create
    target_kind TEXT   NOT NULL,               -- instance, intervention, sla_target, definition, user, token, session
    target_id   TEXT   NOT NULL,
    instance_id TEXT,
    reason      TEXT,
    before      TEXT,                          -- JSON
    after       TEXT,                          -- JSON
    outcome     TEXT   NOT NULL                -- ok, or why it was refused (failed sign-ins)
);
CREATE INDEX audit_at ON audit_log (at);
CREATE INDEX audit_instance ON audit_log (instance_id);
CREATE INDEX audit_target ON audit_log (target_kind, target_id);
CREATE INDEX audit_actor ON audit_log (actor, at);
CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END;
$$;
CREATE TRIGGER audit_is_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();

ALTER TABLE interventions ADD COLUMN assignee TEXT;
ALTER TABLE interventions ADD COLUMN assigned_at BIGINT;
ALTER TABLE interventions ADD COLUMN resolved_by TEXT;
ALTER TABLE interventions ADD COLUMN resolution TEXT;   -- JSON: the decision or resolution, and the reason
CREATE INDEX interventions_assignee ON interventions (assignee, status);
