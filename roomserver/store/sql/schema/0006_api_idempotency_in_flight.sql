-- Side-API idempotency keys are reserved before the request runs, and the response is kept as
-- the exact bytes sent.
--
-- A request with X-Idempotency-Key first inserts its row "in flight" (status_code NULL, with a
-- reservation id and a lease); concurrent retries find that row and wait for the response
-- instead of running the request again. When the request succeeds its row gets the status and
-- the body's bytes; when it fails the row is deleted, so a retry runs it afresh. A reservation
-- whose request died (the node was killed) is taken over by a retry once its lease has run out.
--
-- Rows written before this migration keep their jsonb response and are replayed from it.

ALTER TABLE api_idempotency
    ALTER COLUMN status_code DROP NOT NULL,
    ALTER COLUMN response DROP NOT NULL,
    ADD COLUMN response_body bytea,
    ADD COLUMN reservation uuid,
    ADD COLUMN lease_until timestamptz,
    ADD CONSTRAINT api_idempotency_in_flight_or_done CHECK (
        (status_code IS NULL AND reservation IS NOT NULL AND lease_until IS NOT NULL)
        OR (status_code IS NOT NULL AND reservation IS NULL
            AND (response_body IS NOT NULL OR response IS NOT NULL)));
