-- Indexes for what runs often or on a timer, so that no query scans the whole objects table as
-- the database grows (a full scan of a large file every second or minute stalled the soak).
-- Each is partial: only rows of its kind pay for it on write. Queries name the kind as a literal so
-- that SQLite can use them.

-- The capture-expiry sweep and the dashboard's status filter.
CREATE INDEX objects_payment_intents_by_status
    ON objects (account, json_extract(data, '$.status')) WHERE kind = 'payment_intent';

-- Charge.list(payment_intent=…) and Refund.list(payment_intent=…), asked for after every payment.
CREATE INDEX objects_charges_by_payment_intent
    ON objects (account, json_extract(data, '$.payment_intent')) WHERE kind = 'charge';
CREATE INDEX objects_refunds_by_payment_intent
    ON objects (account, json_extract(data, '$.payment_intent')) WHERE kind = 'refund';

-- A reader's event log (its page, its diagnosis) and the retention purge.
CREATE INDEX objects_reader_events_by_reader
    ON objects (account, json_extract(data, '$.reader')) WHERE kind = 'terminal.reader_event';
CREATE INDEX objects_reader_events_by_created
    ON objects (created) WHERE kind = 'terminal.reader_event';

-- Idempotency keys expire after 24 hours.
CREATE INDEX idempotency_by_created ON idempotency (created);

-- The webhook log's retention purge.
CREATE INDEX webhook_deliveries_by_created ON webhook_deliveries (created_ms);
