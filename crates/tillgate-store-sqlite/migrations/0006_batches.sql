-- Daily reconciliation: a reader's charges since its previous batch, and its batches newest first.
CREATE INDEX objects_charges_by_reader
    ON objects (account, json_extract(data, '$.tillgate.reader'), created) WHERE kind = 'charge';
CREATE INDEX objects_batches_by_reader
    ON objects (account, json_extract(data, '$.reader'), created) WHERE kind = 'tillgate.batch';
