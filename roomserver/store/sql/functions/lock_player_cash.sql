-- The player's cash account in a currency, locked; NULL when the player is unknown.
CREATE OR REPLACE FUNCTION lock_player_cash(p_player_id text, p_currency text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM players pl WHERE pl.player_id = p_player_id) THEN
        RETURN NULL;
    END IF;
    v_id := ledger_account('player_cash', p_player_id, p_currency, p_currency);
    PERFORM 1 FROM accounts a WHERE a.account_id = v_id FOR UPDATE;
    RETURN v_id;
END
$$;
