-- Dashboard: users (Argon2id hashes only), sessions (SHA-256 of the cookie token only), audit log.
CREATE TABLE dashboard_users (
    id            TEXT PRIMARY KEY,
    account       TEXT NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    locations     TEXT NOT NULL DEFAULT '[]',
    lang          TEXT,
    created       INTEGER NOT NULL
);

CREATE TABLE dashboard_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES dashboard_users(id),
    csrf       TEXT NOT NULL,
    created    INTEGER NOT NULL,
    expires    INTEGER NOT NULL
);

CREATE TABLE audit_log (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT,
    detail  TEXT NOT NULL,
    ip      TEXT NOT NULL
);
CREATE INDEX audit_log_by_account ON audit_log (account, seq);
