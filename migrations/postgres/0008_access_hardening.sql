-- Access hardening (issue 14): API tokens belong to a person, and failed sign-ins are counted per
-- username and client address.

-- The person a token acts for: the user who created it or, for a token created with another token,
-- that token's owner. While the owner is disabled the token is suspended (refused); enabling them
-- restores it. Existing tokens get their creator, or the owner of the token that created them.
ALTER TABLE api_tokens ADD COLUMN owner_id TEXT REFERENCES users (id);
UPDATE api_tokens SET owner_id = (SELECT u.id FROM users u WHERE u.username = api_tokens.created_by);
UPDATE api_tokens SET owner_id = (
    SELECT t.owner_id FROM api_tokens t
    WHERE 'token:' || t.name = api_tokens.created_by AND t.created_at <= api_tokens.created_at
    ORDER BY t.created_at DESC LIMIT 1
) WHERE owner_id IS NULL;
CREATE INDEX api_tokens_owner ON api_tokens (owner_id);

-- Failed sign-ins by (username, client address), what the sign-in throttle counts. The audit trail
-- keeps every failure for people; these rows are pruned once they are older than the throttle's window.
CREATE TABLE sign_in_failures (
    username TEXT   NOT NULL,
    client   TEXT   NOT NULL,   -- the client's address (an IPv6 client's /64), or 'unknown'
    at       BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_key ON sign_in_failures (username, client, at);
CREATE INDEX sign_in_failures_at ON sign_in_failures (at);
