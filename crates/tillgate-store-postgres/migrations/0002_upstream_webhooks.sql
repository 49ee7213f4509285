-- The signing secret (whsec_…) of the webhook endpoint the upstream delivers this account's events
-- to, sealed like the API key; NULL when the gateway only reads the events list.
ALTER TABLE upstream_connections ADD COLUMN sealed_webhook_secret BYTEA;
