-- Which cluster instance holds each idempotency claim in flight: a claim of an instance that died
-- (no heartbeat within a lease, or restarted under its id) is handed back as interrupted, so a
-- retry through another instance resumes it instead of being told 409 for good.
ALTER TABLE idempotency ADD COLUMN instance TEXT;
CREATE INDEX idempotency_in_flight_by_instance ON idempotency (instance) WHERE status IS NULL;
