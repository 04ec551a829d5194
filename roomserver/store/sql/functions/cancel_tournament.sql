-- Cancel a scheduled or running tournament: every registered player's buy-in back from the prize
-- pool to their cash in ONE ledger transaction (what the pool keeps from earlier partial
-- hop-off refunds goes to the house). Once only: a second call returns the stored response.
CREATE OR REPLACE FUNCTION cancel_tournament(p_tournament_id text)
RETURNS TABLE (status text, response jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    v_t tournaments%ROWTYPE;
    v_pool_id bigint;
    v_pool bigint;
    v_refunds bigint;
    v_accounts bigint[];
    v_amounts bigint[];
    v_tx bigint;
    v_response jsonb;
    v_player record;
BEGIN
    SELECT * INTO v_t FROM tournaments t WHERE t.tournament_id = p_tournament_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'NOT_FOUND'::text, NULL::jsonb;
        RETURN;
    END IF;
    IF v_t.status = 'cancelled' THEN
        RETURN QUERY SELECT 'REPLAY'::text, c.response FROM tournament_closings c
         WHERE c.tournament_id = p_tournament_id;
        RETURN;
    END IF;
    IF v_t.status NOT IN ('scheduled', 'running') THEN
        RETURN QUERY SELECT 'TOURNAMENT_FINISHED'::text, NULL::jsonb;
        RETURN;
    END IF;
    UPDATE tournaments t SET status = 'cancelled' WHERE t.tournament_id = p_tournament_id;
    INSERT INTO room_announcements (tournament_id, status) VALUES (p_tournament_id, 'cancelled');
    PERFORM quiesce_tournament(p_tournament_id);

    SELECT a.account_id, a.balance INTO STRICT v_pool_id, v_pool FROM accounts a
     WHERE a.kind = 'prize_pool' AND a.owner_id = p_tournament_id AND a.scope = p_tournament_id
       FOR UPDATE;
    v_refunds := v_t.buy_in * (SELECT count(*) FROM tournament_players tp
                                WHERE tp.tournament_id = p_tournament_id);
    v_accounts := ARRAY[v_pool_id,
                        ledger_account('house_cash', 'house', v_t.currency, v_t.currency)];
    v_amounts := ARRAY[-v_pool, v_pool - v_refunds];
    IF v_t.buy_in > 0 THEN
        FOR v_player IN
            SELECT tp.player_id FROM tournament_players tp
             WHERE tp.tournament_id = p_tournament_id ORDER BY tp.player_id
        LOOP
            v_accounts := v_accounts
                || ledger_account('player_cash', v_player.player_id, v_t.currency, v_t.currency);
            v_amounts := v_amounts || v_t.buy_in;
        END LOOP;
    END IF;
    IF v_pool > 0 OR v_refunds > 0 THEN
        v_tx := post_transaction('cancel', ledger_key('cancel', p_tournament_id),
                                 v_accounts, v_amounts);
    END IF;

    v_response := jsonb_build_object(
        'tournament_id', p_tournament_id, 'status', 'cancelled', 'currency', v_t.currency,
        'server_seed', encode(v_t.server_seed, 'hex'),
        'server_seed_hash', v_t.server_seed_hash,
        'refunds_paid', v_refunds,
        'refunds', coalesce((
            SELECT jsonb_agg(jsonb_build_object('player_id', tp.player_id,
                                                'amount', v_t.buy_in) ORDER BY tp.player_id)
              FROM tournament_players tp WHERE tp.tournament_id = p_tournament_id), '[]'));
    INSERT INTO tournament_closings (tournament_id, status, response, tx_id)
    VALUES (p_tournament_id, 'cancelled', v_response, v_tx);
    PERFORM emit_event('room.tournament.completed', p_tournament_id, NULL,
                       ledger_key('cancel', p_tournament_id), v_response);
    RETURN QUERY SELECT 'OK'::text, v_response;
END
$$;
