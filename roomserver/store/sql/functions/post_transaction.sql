-- The one way to write a ledger transaction: a unique idempotency key and entries that the
-- entries trigger checks (sum zero) and posts (running balances, never negative).
CREATE OR REPLACE FUNCTION post_transaction(
    p_kind text, p_idempotency_key text, p_accounts bigint[], p_amounts bigint[]
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_tx bigint;
BEGIN
    INSERT INTO ledger_transactions (kind, idempotency_key)
    VALUES (p_kind, p_idempotency_key)
    RETURNING tx_id INTO v_tx;
    INSERT INTO entries (tx_id, account_id, amount)
    SELECT v_tx, e.account_id, e.amount
      FROM unnest(p_accounts, p_amounts) AS e (account_id, amount)
     WHERE e.amount <> 0;
    RETURN v_tx;
END
$$;
