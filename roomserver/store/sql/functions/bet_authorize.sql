-- Two-phase wallet, step one: hold a bet's stake (cash -> held), once per (agent, bet_id).
CREATE OR REPLACE FUNCTION bet_authorize(
    p_agent_id text, p_bet_id text, p_round_id text, p_player_id text, p_session_id text,
    p_amount bigint, p_request_hash bytea
) RETURNS TABLE (status text, response jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    v_hash bytea;
    v_stored jsonb;
    v_player players%ROWTYPE;
    v_cash_id bigint;
    v_balance bigint;
    v_hold_id uuid := gen_random_uuid();
    v_tx bigint;
    v_response jsonb;
BEGIN
    PERFORM lock_business_id('bet', p_agent_id, p_bet_id);
    SELECT h.request_hash, h.response INTO v_hash, v_stored FROM bet_holds h
     WHERE h.agent_id = p_agent_id AND h.bet_id = p_bet_id;
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
    IF v_player.self_excluded THEN
        RETURN QUERY SELECT 'RG_BLOCKED'::text, NULL::jsonb;
        RETURN;
    END IF;
    v_cash_id := lock_player_cash(p_player_id, v_player.currency);
    v_balance := (SELECT a.balance FROM accounts a WHERE a.account_id = v_cash_id);
    IF v_balance < p_amount THEN
        RETURN QUERY SELECT 'INSUFFICIENT_FUNDS'::text, NULL::jsonb;
        RETURN;
    END IF;
    v_tx := post_transaction(
        'bet_hold', ledger_key('bet_hold', p_agent_id, p_bet_id),
        ARRAY[v_cash_id, ledger_account('player_held', p_player_id, v_player.currency,
                                        v_player.currency)],
        ARRAY[-p_amount, p_amount]);
    v_response := jsonb_build_object(
        'status', 'authorized', 'hold_id', v_hold_id, 'bet_id', p_bet_id,
        'round_id', p_round_id, 'player_id', p_player_id, 'amount', p_amount,
        'balance', v_balance - p_amount, 'currency', v_player.currency);
    INSERT INTO bet_holds (agent_id, bet_id, hold_id, round_id, player_id, session_id, currency,
                           amount, request_hash, response, tx_id)
    VALUES (p_agent_id, p_bet_id, v_hold_id, p_round_id, p_player_id, p_session_id,
            v_player.currency, p_amount, p_request_hash, v_response, v_tx);
    RETURN QUERY SELECT 'OK'::text, v_response;
END
$$;
