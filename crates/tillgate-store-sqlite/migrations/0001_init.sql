-- tillgate's first schema: objects as Stripe-shaped JSON documents, keys, idempotency.
CREATE TABLE accounts (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL
);

CREATE TABLE api_keys (
    key_hash TEXT PRIMARY KEY,
    account  TEXT NOT NULL REFERENCES accounts(id),
    hint     TEXT NOT NULL,
    created  INTEGER NOT NULL,
    revoked  INTEGER NOT NULL DEFAULT 0
);

-- seq orders lists (newest first) and survives updates: an upsert keeps the row.
CREATE TABLE objects (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    data    TEXT NOT NULL
);
CREATE INDEX objects_by_kind ON objects (account, kind, seq);

CREATE TABLE idempotency (
    account     TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER,
    body        TEXT,
    created     INTEGER NOT NULL,
    PRIMARY KEY (account, key)
);
