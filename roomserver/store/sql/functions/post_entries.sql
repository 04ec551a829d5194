-- Each INSERT into entries: every transaction in it sums to zero, and the running balances of
-- the accounts it touches move with it (the CHECK on accounts refuses a negative balance).
CREATE OR REPLACE FUNCTION post_entries() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unbalanced bigint;
BEGIN
    SELECT tx_id INTO unbalanced FROM new_entries GROUP BY tx_id HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not sum to zero', unbalanced
            USING ERRCODE = 'check_violation';
    END IF;
    UPDATE accounts a SET balance = a.balance + d.delta
      FROM (SELECT account_id, sum(amount) AS delta FROM new_entries GROUP BY account_id) d
     WHERE a.account_id = d.account_id AND a.kind NOT IN ('house_cash', 'house_chips');
    RETURN NULL;
END
$$;
