-- Each terminal driver's durable record of one reader (tillgate_drivers::records): the payment or
-- refund in flight written before its command leaves, the last booking seen, the idempotency keys
-- of upstream writes. One JSON document per (driver, reader), replaced whole by every save. In the
-- database, not in files of one host, so an instance that takes a reader over reads what the dead
-- owner wrote.
CREATE TABLE driver_records (
    driver     TEXT NOT NULL,
    reader     TEXT NOT NULL,
    data       JSONB NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (driver, reader)
);

-- A deposed owner must not overwrite what the reader's new owner relies on: a record of a leased
-- reader is written only by a transaction that presented the reader's current lease
-- (tillgate_hold_fence of 0010_cluster.sql, which also refuses an expired or stale one).
CREATE FUNCTION tillgate_fenced_driver_record() RETURNS TRIGGER
    LANGUAGE plpgsql AS $$
DECLARE
    lease reader_leases%ROWTYPE;
BEGIN
    SELECT * INTO lease FROM reader_leases WHERE reader = NEW.reader;
    IF FOUND AND coalesce(current_setting(tillgate_fence_setting(NEW.reader), true), '')
                 <> lease.owner || ':' || lease.fence THEN
        RAISE EXCEPTION 'reader % is leased to % (fence %): its % record write refused',
            NEW.reader, lease.owner, lease.fence, NEW.driver USING ERRCODE = 'TG409';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER driver_records_fenced
    BEFORE INSERT OR UPDATE ON driver_records
    FOR EACH ROW EXECUTE FUNCTION tillgate_fenced_driver_record();
