-- Agent-style wallet bet: debit the bet and credit the win in one transaction, once per
-- (agent, transaction_id); refused after a rollback tombstone of that id.
CREATE OR REPLACE FUNCTION wallet_make_bet(
    p_agent_id text, p_transaction_id text, p_round_id text, p_player_id text,
    p_currency text, p_bet bigint, p_win bigint, p_game_id text, p_session_id text,
    p_request_hash bytea
) RETURNS TABLE (status text, response jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    v_hash bytea;
    v_stored jsonb;
    v_player players%ROWTYPE;
    v_cash_id bigint;
    v_balance bigint;
    v_house_id bigint;
    v_tx bigint;
    v_response jsonb;
BEGIN
    PERFORM lock_business_id('wallet', p_agent_id, p_transaction_id);
    IF EXISTS (SELECT 1 FROM wallet_rollbacks r
                WHERE r.agent_id = p_agent_id AND r.transaction_id = p_transaction_id) THEN
        RETURN QUERY SELECT 'TRANSACTION_ROLLED_BACK'::text, NULL::jsonb;
        RETURN;
    END IF;
    SELECT b.request_hash, b.response INTO v_hash, v_stored FROM wallet_bets b
     WHERE b.agent_id = p_agent_id AND b.transaction_id = p_transaction_id;
    IF FOUND THEN
        IF v_hash = p_request_hash THEN
            RETURN QUERY SELECT 'REPLAY'::text, v_stored;
        ELSE
            RETURN QUERY SELECT 'IDEMPOTENCY_MISMATCH'::text, NULL::jsonb;
        END IF;
        RETURN;
    END IF;
    SELECT * INTO v_player FROM players pl WHERE pl.player_id = p_player_id;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'PLAYER_NOT_FOUND'::text, NULL::jsonb;
        RETURN;
    END IF;
    IF v_player.currency <> p_currency THEN
        RETURN QUERY SELECT 'CURRENCY_MISMATCH'::text, NULL::jsonb;
        RETURN;
    END IF;
    IF p_bet > 0 AND v_player.self_excluded THEN
        RETURN QUERY SELECT 'RG_BLOCKED'::text, NULL::jsonb;
        RETURN;
    END IF;
    v_cash_id := lock_player_cash(p_player_id, p_currency);
    v_balance := (SELECT a.balance FROM accounts a WHERE a.account_id = v_cash_id);
    IF v_balance < p_bet THEN
        RETURN QUERY SELECT 'INSUFFICIENT_FUNDS'::text, NULL::jsonb;
        RETURN;
    END IF;
    v_house_id := ledger_account('house_cash', 'house', p_currency, p_currency);
    v_tx := post_transaction('wallet_bet',
                             ledger_key('wallet_bet', p_agent_id, p_transaction_id),
                             ARRAY[v_cash_id, v_house_id, v_house_id, v_cash_id],
                             ARRAY[-p_bet, p_bet, -p_win, p_win]);
    v_response := jsonb_build_object(
        'transaction_id', p_transaction_id, 'balance', v_balance - p_bet + p_win,
        'currency', p_currency);
    INSERT INTO wallet_bets (agent_id, transaction_id, round_id, player_id, currency, bet, win,
                             game_id, session_id, request_hash, response, tx_id)
    VALUES (p_agent_id, p_transaction_id, p_round_id, p_player_id, p_currency, p_bet, p_win,
            p_game_id, p_session_id, p_request_hash, v_response, v_tx);
    RETURN QUERY SELECT 'OK'::text, v_response;
END
$$;
