-- Hop off: the player leaves the standings, chips go back to the house, and the buy-in is
-- refunded from the prize pool per the rules: in full before the tournament starts; while a
-- hop-on/hop-off tournament runs, in proportion to the chips left (at most the buy-in); a
-- running scheduled tournament cannot be left. Idempotent: a repeat returns the stored response.
CREATE OR REPLACE FUNCTION hop_off_player(p_tournament_id text, p_player_id text)
RETURNS TABLE (status text, response jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    v_t tournaments%ROWTYPE;
    v_chips_id bigint;
    v_chips bigint;
    v_refund bigint;
    v_generation integer;
    v_tx bigint;
    v_response jsonb;
BEGIN
    SELECT * INTO v_t FROM tournaments t WHERE t.tournament_id = p_tournament_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'NOT_FOUND'::text, NULL::jsonb;
        RETURN;
    END IF;
    SELECT count(*) INTO v_generation FROM hop_offs h
     WHERE h.tournament_id = p_tournament_id AND h.player_id = p_player_id;
    v_chips := registered_chips(p_tournament_id, p_player_id);
    IF v_chips IS NULL THEN
        IF v_generation > 0 THEN
            RETURN QUERY SELECT 'REPLAY'::text, h.response FROM hop_offs h
             WHERE h.tournament_id = p_tournament_id AND h.player_id = p_player_id
             ORDER BY h.generation DESC LIMIT 1;
        ELSE
            RETURN QUERY SELECT 'NOT_REGISTERED'::text, NULL::jsonb;
        END IF;
        RETURN;
    END IF;
    IF v_t.status = 'scheduled' THEN
        v_refund := v_t.buy_in;
    ELSIF v_t.status = 'running' AND v_t.kind = 'hop_on_off' THEN
        v_refund := CASE WHEN v_t.starting_chips = 0 THEN v_t.buy_in
                         ELSE least(v_t.buy_in, (v_t.buy_in * v_chips) / v_t.starting_chips) END;
    ELSIF v_t.status = 'running' THEN
        RETURN QUERY SELECT 'TOURNAMENT_RUNNING'::text, NULL::jsonb;
        RETURN;
    ELSE
        RETURN QUERY SELECT 'TOURNAMENT_NOT_RUNNING'::text, NULL::jsonb;
        RETURN;
    END IF;

    SELECT a.account_id INTO STRICT v_chips_id FROM accounts a
     WHERE a.kind = 'player_chips' AND a.owner_id = p_player_id AND a.scope = p_tournament_id
       FOR UPDATE;
    v_chips := (SELECT a.balance FROM accounts a WHERE a.account_id = v_chips_id);
    IF v_refund > 0 OR v_chips > 0 THEN
        v_tx := post_transaction(
            'hop_off', ledger_key('hop_off', p_tournament_id, p_player_id, v_generation::text),
            ARRAY[
                (SELECT a.account_id FROM accounts a WHERE a.kind = 'prize_pool'
                    AND a.owner_id = p_tournament_id AND a.scope = p_tournament_id),
                ledger_account('player_cash', p_player_id, v_t.currency, v_t.currency),
                v_chips_id,
                (SELECT a.account_id FROM accounts a WHERE a.kind = 'house_chips'
                    AND a.owner_id = 'house' AND a.scope = p_tournament_id)],
            ARRAY[-v_refund, v_refund, -v_chips, v_chips]);
    END IF;

    DELETE FROM tournament_players tp
     WHERE tp.tournament_id = p_tournament_id AND tp.player_id = p_player_id;
    UPDATE tournaments t SET registered_count = t.registered_count - 1
     WHERE t.tournament_id = p_tournament_id;

    v_response := jsonb_build_object(
        'tournament_id', p_tournament_id, 'player_id', p_player_id, 'status', 'unregistered',
        'chips_returned', v_chips, 'refund', v_refund, 'currency', v_t.currency);
    INSERT INTO hop_offs (tournament_id, player_id, generation, chips, refund, response, tx_id)
    VALUES (p_tournament_id, p_player_id, v_generation, v_chips, v_refund, v_response, v_tx);
    RETURN QUERY SELECT 'OK'::text, v_response;
END
$$;
