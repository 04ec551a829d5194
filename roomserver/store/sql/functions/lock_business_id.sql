-- A serialisation point for one business id (a wallet transaction, a bet, a result), held to
-- commit; its name is a ledger_key, so ids containing ':' cannot share a lock by accident.
-- Callers name a kind and the id's parts: lock_business_id('wallet', agent_id, transaction_id).
CREATE OR REPLACE FUNCTION lock_business_id(p_kind text, VARIADIC p_parts text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(ledger_key(p_kind, VARIADIC p_parts), 0));
END
$$;
