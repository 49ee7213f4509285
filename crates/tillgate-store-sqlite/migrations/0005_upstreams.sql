-- Upstream connections (issue 13): one provider account per tillgate account. The API key is
-- stored only encrypted (sealed by the gateway's master key, which is not in this database).
CREATE TABLE upstream_connections (
    account        TEXT PRIMARY KEY,
    provider       TEXT NOT NULL,
    sealed_key     BLOB NOT NULL,
    key_hint       TEXT NOT NULL,
    stripe_account TEXT,
    api_base       TEXT NOT NULL,
    created        INTEGER NOT NULL
);
