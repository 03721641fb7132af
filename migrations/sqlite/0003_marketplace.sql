-- The simulated marketplace services' own state (server/src/marketplace). Same SQL on both backends:
-- integers are BIGINT (money in minor units, times in epoch milliseconds, rates in basis points), JSON is
-- TEXT, booleans are BIGINT 0/1.

-- Every applied call, by service and idempotency key, with its outcome ('ok' or 'rejected') and result,
-- written in the same transaction as the call's state change.
CREATE TABLE sim_calls (
    service         TEXT   NOT NULL,
    idempotency_key TEXT   NOT NULL,
    action          TEXT   NOT NULL,
    outcome         TEXT   NOT NULL,
    result          TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (service, idempotency_key)
);

-- accounts: buyers and sellers (status pending, active, suspended, closed).
CREATE TABLE sim_accounts (
    id         TEXT   PRIMARY KEY NOT NULL,
    kind       TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    email      TEXT   NOT NULL,
    status     TEXT   NOT NULL,
    reason     TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- identity: successful verifications (refusals are kept in sim_calls).
CREATE TABLE sim_verifications (
    id         TEXT   PRIMARY KEY NOT NULL,
    subject_id TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    status     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sim_verifications_subject ON sim_verifications (subject_id);

-- credit: checks and limits.
CREATE TABLE sim_credit_checks (
    id         TEXT   PRIMARY KEY NOT NULL,
    buyer_id   TEXT   NOT NULL,
    score      BIGINT NOT NULL,
    min_score  BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE sim_credit_limits (
    buyer_id    TEXT   PRIMARY KEY NOT NULL,
    limit_minor BIGINT NOT NULL,
    status      TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- campaigns and bidding: campaigns, their bid criteria, and buyers reserved for calls.
CREATE TABLE sim_campaigns (
    id                 TEXT   PRIMARY KEY NOT NULL,
    buyer_id           TEXT   NOT NULL,
    name               TEXT   NOT NULL,
    daily_budget_minor BIGINT NOT NULL,
    status             TEXT   NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE TABLE sim_bids (
    campaign_id    TEXT   PRIMARY KEY NOT NULL,
    vertical       TEXT   NOT NULL,
    region         TEXT   NOT NULL,
    bid_minor      BIGINT NOT NULL,
    min_duration_s BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE TABLE sim_reservations (
    call_id     TEXT   PRIMARY KEY NOT NULL,
    campaign_id TEXT   NOT NULL,
    buyer_id    TEXT   NOT NULL,
    bid_minor   BIGINT NOT NULL,
    status      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- telephony: call connections, seller integrations, test calls.
CREATE TABLE sim_connections (
    call_id       TEXT   PRIMARY KEY NOT NULL,
    seller_id     TEXT   NOT NULL,
    caller_number TEXT   NOT NULL,
    buyer_id      TEXT,
    status        TEXT   NOT NULL,
    connected_at  BIGINT,
    ended_at      BIGINT,
    duration_s    BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);
CREATE TABLE sim_integrations (
    seller_id  TEXT   PRIMARY KEY NOT NULL,
    endpoint   TEXT   NOT NULL,
    status     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE sim_test_calls (
    id         TEXT   PRIMARY KEY NOT NULL,
    seller_id  TEXT   NOT NULL,
    number     TEXT   NOT NULL,
    passed     BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- quality monitoring: evaluated metrics and alerts.
CREATE TABLE sim_quality (
    id         TEXT   PRIMARY KEY NOT NULL,
    seller_id  TEXT   NOT NULL,
    call_id    TEXT,
    metric     TEXT   NOT NULL,
    value      BIGINT NOT NULL,
    threshold  BIGINT NOT NULL,
    breached   BIGINT NOT NULL,
    action     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE sim_alerts (
    id         TEXT   PRIMARY KEY NOT NULL,
    seller_id  TEXT   NOT NULL,
    metric     TEXT   NOT NULL,
    message    TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

-- billing: one meter per call (running, stopped, rated, cancelled).
CREATE TABLE sim_meters (
    call_id      TEXT   PRIMARY KEY NOT NULL,
    buyer_id     TEXT   NOT NULL,
    seller_id    TEXT   NOT NULL,
    rate_minor   BIGINT NOT NULL,
    status       TEXT   NOT NULL,
    started_at   BIGINT NOT NULL,
    stopped_at   BIGINT,
    duration_s   BIGINT NOT NULL DEFAULT 0,
    charge_minor BIGINT
);

-- ledger: balances per ledger account, postings of entries that sum to zero, charges, fund
-- reservations for payouts, dispute credits, invoices and settlement batches.
CREATE TABLE sim_balances (
    account_id     TEXT   PRIMARY KEY NOT NULL,
    owner_id       TEXT   NOT NULL,
    kind           TEXT   NOT NULL,   -- buyer, seller, platform, external
    allow_negative BIGINT NOT NULL,   -- 1 for buyers (a receivable) and the outside world
    available      BIGINT NOT NULL,
    reserved       BIGINT NOT NULL,
    status         TEXT   NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE TABLE sim_postings (
    id         TEXT   PRIMARY KEY NOT NULL,
    kind       TEXT   NOT NULL,
    reference  TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE sim_entries (
    posting_id TEXT   NOT NULL,
    seq        BIGINT NOT NULL,
    account_id TEXT   NOT NULL,
    bucket     TEXT   NOT NULL,       -- available or reserved
    amount     BIGINT NOT NULL,       -- signed minor units
    PRIMARY KEY (posting_id, seq)
);
CREATE INDEX sim_entries_account ON sim_entries (account_id);
CREATE TABLE sim_charges (
    id            TEXT   PRIMARY KEY NOT NULL,
    buyer_id      TEXT   NOT NULL,
    seller_id     TEXT   NOT NULL,
    amount_minor  BIGINT NOT NULL,
    fee_minor     BIGINT NOT NULL,
    status        TEXT   NOT NULL,    -- posted, reversed
    occurred_at   BIGINT NOT NULL,
    settlement_id TEXT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX sim_charges_occurred ON sim_charges (occurred_at);
CREATE TABLE sim_fund_reservations (
    payout_id    TEXT   PRIMARY KEY NOT NULL,
    account_id   TEXT   NOT NULL,
    amount_minor BIGINT NOT NULL,
    status       TEXT   NOT NULL,     -- reserved, released, paid
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE TABLE sim_credits (
    id           TEXT   PRIMARY KEY NOT NULL,
    buyer_id     TEXT   NOT NULL,
    seller_id    TEXT   NOT NULL,
    amount_minor BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE TABLE sim_invoices (
    id            TEXT   PRIMARY KEY NOT NULL,
    settlement_id TEXT   NOT NULL,
    buyer_id      TEXT   NOT NULL,
    amount_minor  BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE TABLE sim_settlements (
    id            TEXT   PRIMARY KEY NOT NULL,
    day           TEXT   NOT NULL,
    charge_count  BIGINT NOT NULL,
    gross_minor   BIGINT NOT NULL,
    fee_minor     BIGINT NOT NULL,
    credit_minor  BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- payments: bank accounts and payouts (initiated, cancelled, completed).
CREATE TABLE sim_bank_accounts (
    seller_id      TEXT   PRIMARY KEY NOT NULL,
    routing_number TEXT   NOT NULL,
    account_last4  TEXT   NOT NULL,
    tax_id         TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE TABLE sim_payouts (
    id           TEXT   PRIMARY KEY NOT NULL,
    seller_id    TEXT   NOT NULL,
    amount_minor BIGINT NOT NULL,
    transfer_ref TEXT   NOT NULL,
    status       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- compliance, contracts, notifications.
CREATE TABLE sim_compliance (
    id         TEXT   PRIMARY KEY NOT NULL,
    subject_id TEXT   NOT NULL,
    kind       TEXT   NOT NULL,       -- screening or review
    status     TEXT   NOT NULL,       -- clear, needs_review, approved, rejected
    detail     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE sim_contracts (
    id               TEXT   PRIMARY KEY NOT NULL,
    party_id         TEXT   NOT NULL,
    revenue_share_bp BIGINT NOT NULL,
    status           TEXT   NOT NULL, -- drafted, signed, voided
    signer           TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE TABLE sim_notifications (
    id         TEXT   PRIMARY KEY NOT NULL,
    recipient  TEXT   NOT NULL,
    channel    TEXT   NOT NULL,
    template   TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

-- disputes: the dispute desk's cases and their audit trail.
CREATE TABLE sim_disputes (
    id           TEXT   PRIMARY KEY NOT NULL,
    call_id      TEXT   NOT NULL,
    buyer_id     TEXT   NOT NULL,
    seller_id    TEXT   NOT NULL,
    amount_minor BIGINT NOT NULL,
    reason       TEXT   NOT NULL,
    evidence     TEXT   NOT NULL,
    status       TEXT   NOT NULL,     -- submitted, manual_review, investigating, approved, denied
    decision     TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE TABLE sim_audit (
    id         TEXT   PRIMARY KEY NOT NULL,
    subject_id TEXT   NOT NULL,
    event      TEXT   NOT NULL,
    detail     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
