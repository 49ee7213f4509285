-- tillgate on PostgreSQL: objects as Stripe-shaped JSONB documents, keys, idempotency, the webhook
-- outbox, dashboard users and upstream connections; the same tables as the SQLite store's
-- migrations 0001-0006, folded into one, with an index for every query that runs on a timer or per
-- payment. Expression indexes use `data #>> '{…}'`, the form `sql.rs` writes in every query.
CREATE TABLE accounts (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL
);

CREATE TABLE api_keys (
    key_hash TEXT PRIMARY KEY,
    account  TEXT NOT NULL REFERENCES accounts(id),
    hint     TEXT NOT NULL,
    created  BIGINT NOT NULL,
    revoked  BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX api_keys_by_account ON api_keys (account);

-- seq orders lists (newest first) and survives updates: an upsert keeps the row. Writers of this
-- table hold the advisory lock `writer::OBJECTS_LOCK` for their transaction, so seq values commit
-- in order and the outbox's cursor never skips an event.
CREATE TABLE objects (
    seq     BIGSERIAL PRIMARY KEY,
    account TEXT NOT NULL,
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    data    JSONB NOT NULL
);
CREATE INDEX objects_by_kind ON objects (account, kind, seq);
-- Across accounts: the readers at start, the alert rules every second.
CREATE INDEX objects_by_kind_only ON objects (kind, seq);

-- The capture-expiry sweep (across accounts) and the dashboard's status filter (per account).
CREATE INDEX objects_payment_intents_by_status
    ON objects ((data #>> '{status}'), account) WHERE kind = 'payment_intent';
-- Firing alerts, every second.
CREATE INDEX objects_alerts_by_status
    ON objects ((data #>> '{status}'), account) WHERE kind = 'alert';
-- Charge.list(payment_intent=…) and Refund.list(payment_intent=…), asked for after every payment.
CREATE INDEX objects_charges_by_payment_intent
    ON objects ((data #>> '{payment_intent}'), account) WHERE kind = 'charge';
CREATE INDEX objects_refunds_by_payment_intent
    ON objects ((data #>> '{payment_intent}'), account) WHERE kind = 'refund';
-- A reader's event log (its page, its diagnosis) and the retention purge.
CREATE INDEX objects_reader_events_by_reader
    ON objects ((data #>> '{reader}'), account) WHERE kind = 'terminal.reader_event';
CREATE INDEX objects_reader_events_by_created
    ON objects (created) WHERE kind = 'terminal.reader_event';
-- Daily reconciliation: a reader's charges since its previous batch, and its batches.
CREATE INDEX objects_charges_by_reader
    ON objects ((data #>> '{tillgate,reader}'), account, created) WHERE kind = 'charge';
CREATE INDEX objects_batches_by_reader
    ON objects ((data #>> '{reader}'), account, created) WHERE kind = 'tillgate.batch';
-- What an interrupted idempotent request already did (its retry looks).
CREATE INDEX objects_events_by_idempotency_key
    ON objects ((data #>> '{request,idempotency_key}'), account) WHERE kind = 'event';

-- status NULL: in flight; 0: interrupted (its process died); else the HTTP status answered.
CREATE TABLE idempotency (
    account     TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      BIGINT,
    body        TEXT,
    created     BIGINT NOT NULL,
    PRIMARY KEY (account, key)
);
CREATE INDEX idempotency_by_created ON idempotency (created);
CREATE INDEX idempotency_in_flight ON idempotency (account) WHERE status IS NULL;

-- Webhooks: endpoints with their secrets and event cursors (objects.seq), deliveries, attempts.
CREATE TABLE webhook_endpoints (
    seq          BIGSERIAL PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    account      TEXT NOT NULL,
    created      BIGINT NOT NULL,
    secret       TEXT NOT NULL,
    cursor       BIGINT NOT NULL,
    paused_until BIGINT NOT NULL DEFAULT 0,
    deleted      BOOLEAN NOT NULL DEFAULT FALSE,
    data         JSONB NOT NULL
);
CREATE INDEX webhook_endpoints_by_account ON webhook_endpoints (account, seq);

CREATE TABLE webhook_deliveries (
    seq             BIGSERIAL PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    endpoint        TEXT NOT NULL,
    account         TEXT NOT NULL,
    event           TEXT NOT NULL,
    event_seq       BIGINT NOT NULL,
    event_type      TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    UNIQUE (endpoint, event)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint, event_seq)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_pending_by_created ON webhook_deliveries (created_ms)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint, seq);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event);
CREATE INDEX webhook_deliveries_by_created ON webhook_deliveries (created_ms);

CREATE TABLE webhook_attempts (
    delivery    TEXT NOT NULL,
    n           BIGINT NOT NULL,
    at_ms       BIGINT NOT NULL,
    status_code BIGINT,
    duration_ms BIGINT NOT NULL,
    error       TEXT,
    PRIMARY KEY (delivery, n)
);

-- Dashboard: users (Argon2id hashes only), sessions (SHA-256 of the cookie token only), audit log.
CREATE TABLE dashboard_users (
    id            TEXT PRIMARY KEY,
    account       TEXT NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    locations     TEXT NOT NULL DEFAULT '[]',
    lang          TEXT,
    created       BIGINT NOT NULL
);
CREATE INDEX dashboard_users_by_account ON dashboard_users (account, email);

CREATE TABLE dashboard_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES dashboard_users(id),
    csrf       TEXT NOT NULL,
    created    BIGINT NOT NULL,
    expires    BIGINT NOT NULL
);

CREATE TABLE audit_log (
    seq     BIGSERIAL PRIMARY KEY,
    account TEXT NOT NULL,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT,
    detail  TEXT NOT NULL,
    ip      TEXT NOT NULL
);
CREATE INDEX audit_log_by_account ON audit_log (account, seq);

-- Upstream connections: the API key only sealed by the gateway's master key (not in this database).
CREATE TABLE upstream_connections (
    account        TEXT PRIMARY KEY,
    provider       TEXT NOT NULL,
    sealed_key     BYTEA NOT NULL,
    key_hint       TEXT NOT NULL,
    stripe_account TEXT,
    api_base       TEXT NOT NULL,
    created        BIGINT NOT NULL
);
