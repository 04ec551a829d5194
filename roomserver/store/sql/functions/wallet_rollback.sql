-- Reverse a bet once. A round is settled once a makeBet in it credited a win; its bets can no
-- longer be rolled back. An unknown transaction id leaves a tombstone.
CREATE OR REPLACE FUNCTION wallet_rollback(
    p_agent_id text, p_transaction_id text, p_rollback_transaction_id text
) RETURNS TABLE (status text, response jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    v_stored jsonb;
    v_bet wallet_bets%ROWTYPE;
    v_cash_id bigint;
    v_balance bigint;
    v_tx bigint;
    v_response jsonb;
BEGIN
    PERFORM lock_business_id('wallet', p_agent_id, p_transaction_id);
    SELECT r.response INTO v_stored FROM wallet_rollbacks r
     WHERE r.agent_id = p_agent_id AND r.transaction_id = p_transaction_id;
    IF FOUND THEN
        RETURN QUERY SELECT 'REPLAY'::text, v_stored;
        RETURN;
    END IF;
    SELECT * INTO v_bet FROM wallet_bets b
     WHERE b.agent_id = p_agent_id AND b.transaction_id = p_transaction_id;
    IF NOT FOUND THEN
        v_response := jsonb_build_object(
            'transaction_id', p_transaction_id,
            'rollback_transaction_id', p_rollback_transaction_id,
            'status', 'tombstoned', 'balance', NULL, 'currency', NULL);
        INSERT INTO wallet_rollbacks (agent_id, transaction_id, rollback_transaction_id, response)
        VALUES (p_agent_id, p_transaction_id, p_rollback_transaction_id, v_response);
        RETURN QUERY SELECT 'OK'::text, v_response;
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM wallet_bets b
                WHERE b.agent_id = p_agent_id AND b.round_id = v_bet.round_id AND b.win > 0) THEN
        RETURN QUERY SELECT 'ROUND_SETTLED'::text, NULL::jsonb;
        RETURN;
    END IF;
    v_cash_id := lock_player_cash(v_bet.player_id, v_bet.currency);
    v_tx := post_transaction(
        'wallet_rollback', ledger_key('wallet_rollback', p_agent_id, p_transaction_id),
        ARRAY[v_cash_id, ledger_account('house_cash', 'house', v_bet.currency, v_bet.currency)],
        ARRAY[v_bet.bet, -v_bet.bet]);
    v_balance := (SELECT a.balance FROM accounts a WHERE a.account_id = v_cash_id);
    v_response := jsonb_build_object(
        'transaction_id', p_transaction_id,
        'rollback_transaction_id', p_rollback_transaction_id,
        'status', 'rolled_back', 'balance', v_balance, 'currency', v_bet.currency);
    INSERT INTO wallet_rollbacks (agent_id, transaction_id, rollback_transaction_id, response, tx_id)
    VALUES (p_agent_id, p_transaction_id, p_rollback_transaction_id, v_response, v_tx);
    RETURN QUERY SELECT 'OK'::text, v_response;
END
$$;
