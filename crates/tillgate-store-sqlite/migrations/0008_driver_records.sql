-- Each terminal driver's durable record of one reader (tillgate_drivers::records): the payment or
-- refund in flight written before its command leaves, the last booking seen, the idempotency keys
-- of upstream writes. One JSON document per (driver, reader), replaced whole by every save.
CREATE TABLE driver_records (
    driver     TEXT NOT NULL,
    reader     TEXT NOT NULL,
    data       TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (driver, reader)
);
