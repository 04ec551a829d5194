-- Each INSERT into entries, whoever writes it: every transaction in it sums to zero, every entry
-- names an existing ledger transaction and account, and the running balances of the accounts it
-- touches move with it (the CHECK on accounts refuses a negative balance). One query checks all
-- the rows of the statement at once (foreign keys would query once per row).
CREATE OR REPLACE FUNCTION post_entries() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_tx bigint;
    v_total numeric;
    v_tx_exists boolean;
    v_accounts_exist boolean;
BEGIN
    SELECT d.tx_id, d.total, d.tx_exists, d.accounts_exist
      INTO v_tx, v_total, v_tx_exists, v_accounts_exist
      FROM (SELECT n.tx_id, sum(n.amount) AS total,
                   EXISTS (SELECT FROM ledger_transactions t WHERE t.tx_id = n.tx_id) AS tx_exists,
                   bool_and(EXISTS (SELECT FROM accounts a WHERE a.account_id = n.account_id))
                       AS accounts_exist
              FROM new_entries n GROUP BY n.tx_id) d
     WHERE d.total <> 0 OR NOT d.tx_exists OR NOT d.accounts_exist
     LIMIT 1;
    IF FOUND THEN
        IF NOT v_tx_exists THEN
            RAISE EXCEPTION 'ledger transaction % does not exist', v_tx
                USING ERRCODE = 'foreign_key_violation';
        ELSIF NOT v_accounts_exist THEN
            RAISE EXCEPTION 'ledger transaction % names an account that does not exist', v_tx
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RAISE EXCEPTION 'ledger transaction % does not sum to zero', v_tx
            USING ERRCODE = 'check_violation';
    END IF;
    UPDATE accounts a SET balance = a.balance + d.delta
      FROM (SELECT account_id, sum(amount) AS delta FROM new_entries GROUP BY account_id) d
     WHERE a.account_id = d.account_id AND a.kind NOT IN ('house_cash', 'house_chips');
    RETURN NULL;
END
$$;
