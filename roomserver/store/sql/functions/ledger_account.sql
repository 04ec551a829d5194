-- An account, created on first use.
CREATE OR REPLACE FUNCTION ledger_account(p_kind text, p_owner_id text, p_scope text, p_currency text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT a.account_id INTO v_id FROM accounts a
     WHERE a.kind = p_kind AND a.owner_id = p_owner_id AND a.scope = p_scope;
    IF v_id IS NULL THEN
        INSERT INTO accounts (kind, owner_id, scope, currency)
        VALUES (p_kind, p_owner_id, p_scope, p_currency)
        ON CONFLICT (kind, owner_id, scope) DO NOTHING;
        SELECT a.account_id INTO STRICT v_id FROM accounts a
         WHERE a.kind = p_kind AND a.owner_id = p_owner_id AND a.scope = p_scope;
    END IF;
    RETURN v_id;
END
$$;
