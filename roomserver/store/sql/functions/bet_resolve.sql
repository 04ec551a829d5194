-- Settle (capture the hold, credit the win) or roll back (release the hold): exactly once.
CREATE OR REPLACE FUNCTION bet_resolve(
    p_agent_id text, p_bet_id text, p_kind text, p_round_id text, p_win bigint,
    p_request_hash bytea
) RETURNS TABLE (status text, response jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    v_hold bet_holds%ROWTYPE;
    v_done bet_resolutions%ROWTYPE;
    v_cash_id bigint;
    v_held_id bigint;
    v_house_id bigint;
    v_tx bigint;
    v_balance bigint;
    v_response jsonb;
BEGIN
    PERFORM lock_business_id('bet', p_agent_id, p_bet_id);
    SELECT * INTO v_hold FROM bet_holds h WHERE h.agent_id = p_agent_id AND h.bet_id = p_bet_id;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'BET_NOT_FOUND'::text, NULL::jsonb;
        RETURN;
    END IF;
    SELECT * INTO v_done FROM bet_resolutions r
     WHERE r.agent_id = p_agent_id AND r.bet_id = p_bet_id;
    IF FOUND THEN
        IF v_done.kind <> p_kind THEN
            RETURN QUERY SELECT CASE v_done.kind WHEN 'settle' THEN 'ALREADY_SETTLED'
                                ELSE 'ALREADY_ROLLED_BACK' END, NULL::jsonb;
        ELSIF v_done.request_hash = p_request_hash THEN
            RETURN QUERY SELECT 'REPLAY'::text, v_done.response;
        ELSE
            RETURN QUERY SELECT 'IDEMPOTENCY_MISMATCH'::text, NULL::jsonb;
        END IF;
        RETURN;
    END IF;
    IF p_round_id IS NOT NULL AND p_round_id <> v_hold.round_id THEN
        RETURN QUERY SELECT 'ROUND_MISMATCH'::text, NULL::jsonb;
        RETURN;
    END IF;
    v_cash_id := lock_player_cash(v_hold.player_id, v_hold.currency);
    v_held_id := ledger_account('player_held', v_hold.player_id, v_hold.currency, v_hold.currency);
    IF p_kind = 'settle' THEN
        v_house_id := ledger_account('house_cash', 'house', v_hold.currency, v_hold.currency);
        v_tx := post_transaction(
            'bet_settle', ledger_key('bet_settle', p_agent_id, p_bet_id),
            ARRAY[v_held_id, v_house_id, v_house_id, v_cash_id],
            ARRAY[-v_hold.amount, v_hold.amount, -p_win, p_win]);
    ELSE
        v_tx := post_transaction(
            'bet_rollback', ledger_key('bet_rollback', p_agent_id, p_bet_id),
            ARRAY[v_held_id, v_cash_id], ARRAY[-v_hold.amount, v_hold.amount]);
    END IF;
    v_balance := (SELECT a.balance FROM accounts a WHERE a.account_id = v_cash_id);
    v_response := jsonb_build_object(
        'status', CASE p_kind WHEN 'settle' THEN 'settled' ELSE 'rolled_back' END,
        'hold_id', v_hold.hold_id, 'bet_id', p_bet_id, 'round_id', v_hold.round_id,
        'amount', v_hold.amount, 'win', p_win, 'balance', v_balance,
        'currency', v_hold.currency);
    INSERT INTO bet_resolutions (agent_id, bet_id, kind, win, request_hash, response, tx_id)
    VALUES (p_agent_id, p_bet_id, p_kind, p_win, p_request_hash, v_response, v_tx);
    RETURN QUERY SELECT 'OK'::text, v_response;
END
$$;
