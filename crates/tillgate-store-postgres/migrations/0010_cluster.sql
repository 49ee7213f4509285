-- Several gateway instances on one database: the instances and their heartbeats, one lease per
-- reader with an expiry and a fencing number, and the database's own refusal of a reader write
-- that does not carry its reader's current lease. Times are the database's clock
-- (clock_timestamp()), never an instance's.
CREATE TABLE instances (
    id           TEXT PRIMARY KEY,
    -- Where other instances forward requests for this instance's readers (http://host:port).
    address      TEXT NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    -- Set by a graceful shutdown: the instance hands its leases over and takes no new ones.
    leaving      BOOLEAN NOT NULL DEFAULT FALSE
);

-- What an instance presents when it forwards a request to another (`Tillgate-Cluster-Secret`).
CREATE TABLE cluster_secret (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    secret   TEXT NOT NULL
);

-- Every new owner of a lease draws the next number: fences only grow, across readers and time.
CREATE SEQUENCE lease_fences;

CREATE TABLE reader_leases (
    reader     TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    fence      BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
-- An instance's renewal (every heartbeat) and its count in `cluster status`.
CREATE INDEX reader_leases_by_owner ON reader_leases (owner);

-- The name of the transaction-local setting that says which fence a transaction holds for a reader.
CREATE FUNCTION tillgate_fence_setting(reader TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE AS $$ SELECT 'tillgate.fence_' || md5(reader) $$;

-- Called first in a transaction that changes a reader's state: refuses it (SQLSTATE TG409) unless
-- `owner` holds the reader's lease under `fence` and the lease has not expired by the database's
-- clock, then records the fence for the row check below. Holding the row lock until commit means
-- no takeover can commit between this check and the write.
CREATE FUNCTION tillgate_hold_fence(p_reader TEXT, p_owner TEXT, p_fence BIGINT) RETURNS VOID
    LANGUAGE plpgsql AS $$
DECLARE
    lease reader_leases%ROWTYPE;
BEGIN
    SELECT * INTO lease FROM reader_leases WHERE reader = p_reader FOR SHARE;
    IF NOT FOUND OR lease.owner <> p_owner OR lease.fence <> p_fence
       OR lease.expires_at <= clock_timestamp() THEN
        RAISE EXCEPTION 'stale lease for reader %: % holds fence % (offered % by %)',
            p_reader, coalesce(lease.owner, 'nobody'), coalesce(lease.fence, 0), p_fence, p_owner
            USING ERRCODE = 'TG409';
    END IF;
    PERFORM set_config(tillgate_fence_setting(p_reader), p_owner || ':' || p_fence, true);
END $$;

-- Every write of a leased reader's record must come from a transaction that presented that lease:
-- an instance cannot skip the check by leaving the fence out.
CREATE FUNCTION tillgate_fenced_reader_row() RETURNS TRIGGER
    LANGUAGE plpgsql AS $$
DECLARE
    lease reader_leases%ROWTYPE;
BEGIN
    SELECT * INTO lease FROM reader_leases WHERE reader = NEW.id;
    IF FOUND AND coalesce(current_setting(tillgate_fence_setting(NEW.id), true), '')
                 <> lease.owner || ':' || lease.fence THEN
        RAISE EXCEPTION 'reader % is leased to % (fence %): write refused', NEW.id, lease.owner,
            lease.fence USING ERRCODE = 'TG409';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER objects_fenced_readers
    BEFORE INSERT OR UPDATE ON objects
    FOR EACH ROW WHEN (NEW.kind = 'terminal.reader')
    EXECUTE FUNCTION tillgate_fenced_reader_row();

-- Several dispatchers (one per instance) share the outbox: an endpoint's head delivery is claimed
-- until this time (ms) while one of them sends it, so no two send for one endpoint at once and
-- none sends an event twice. A dispatcher that dies mid-send loses its claim when it runs out.
ALTER TABLE webhook_endpoints ADD COLUMN claimed_until BIGINT NOT NULL DEFAULT 0;
