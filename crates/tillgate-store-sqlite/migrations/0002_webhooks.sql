-- Webhooks: endpoints with their secrets and event cursors, deliveries, and the attempt log.

-- An endpoint's `cursor` is the objects.seq up to which committed events have been turned into
-- deliveries; `paused_until` (Unix ms) holds back all its deliveries while the receiver is down.
CREATE TABLE webhook_endpoints (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    account      TEXT NOT NULL,
    created      INTEGER NOT NULL,
    secret       TEXT NOT NULL,
    cursor       INTEGER NOT NULL,
    paused_until INTEGER NOT NULL DEFAULT 0,
    deleted      INTEGER NOT NULL DEFAULT 0,
    data         TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_by_account ON webhook_endpoints (account, seq);

-- One row per (endpoint, event); `event_seq` orders an endpoint's deliveries.
CREATE TABLE webhook_deliveries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    endpoint        TEXT NOT NULL,
    account         TEXT NOT NULL,
    event           TEXT NOT NULL,
    event_seq       INTEGER NOT NULL,
    event_type      TEXT NOT NULL,
    created_ms      INTEGER NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    UNIQUE (endpoint, event)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint, event_seq)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint, seq);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event);

CREATE TABLE webhook_attempts (
    delivery    TEXT NOT NULL,
    n           INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    status_code INTEGER,
    duration_ms INTEGER NOT NULL,
    error       TEXT,
    PRIMARY KEY (delivery, n)
);
