-- Complete a tournament that is `completing`: final standings by score (ties to whoever reached
-- the score first), prizes from the prize pool to the winners' cash in ONE ledger transaction
-- (the house covers a guarantee above the pool and keeps what the pool holds beyond the prizes),
-- the seed revealed, the events written. Once only: a second call returns the stored response.
CREATE OR REPLACE FUNCTION complete_tournament(p_tournament_id text)
RETURNS TABLE (status text, response jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    v_t tournaments%ROWTYPE;
    v_pool_id bigint;
    v_pool bigint;
    v_total bigint;
    v_accounts bigint[];
    v_amounts bigint[];
    v_tx bigint;
    v_response jsonb;
    v_winner record;
BEGIN
    SELECT * INTO v_t FROM tournaments t WHERE t.tournament_id = p_tournament_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'NOT_FOUND'::text, NULL::jsonb;
        RETURN;
    END IF;
    IF v_t.status IN ('completed', 'cancelled') THEN
        RETURN QUERY SELECT 'REPLAY'::text, c.response FROM tournament_closings c
         WHERE c.tournament_id = p_tournament_id;
        RETURN;
    END IF;
    IF v_t.status <> 'completing' THEN
        RETURN QUERY SELECT 'TOURNAMENT_NOT_ENDED'::text, NULL::jsonb;
        RETURN;
    END IF;
    PERFORM quiesce_tournament(p_tournament_id);

    INSERT INTO tournament_results (tournament_id, rank, player_id, name, score, prize)
    SELECT p_tournament_id, r.rank, r.player_id, r.name, r.score,
           coalesce((SELECT max(p.amount) FROM jsonb_to_recordset(v_t.prizes)
                            AS p (rank_from integer, rank_to integer, amount bigint)
                      WHERE r.rank BETWEEN p.rank_from AND p.rank_to), 0)
      FROM (SELECT tp.player_id, pl.name, tp.score,
                   row_number() OVER (ORDER BY tp.score DESC, tp.score_reached_at,
                                               tp.player_id)::integer AS rank
              FROM tournament_players tp JOIN players pl USING (player_id)
             WHERE tp.tournament_id = p_tournament_id) r;

    SELECT a.account_id, a.balance INTO STRICT v_pool_id, v_pool FROM accounts a
     WHERE a.kind = 'prize_pool' AND a.owner_id = p_tournament_id AND a.scope = p_tournament_id
       FOR UPDATE;
    SELECT coalesce(sum(r.prize), 0) INTO v_total FROM tournament_results r
     WHERE r.tournament_id = p_tournament_id;
    v_accounts := ARRAY[v_pool_id,
                        ledger_account('house_cash', 'house', v_t.currency, v_t.currency)];
    v_amounts := ARRAY[-v_pool, v_pool - v_total];
    FOR v_winner IN
        SELECT r.player_id, r.prize FROM tournament_results r
         WHERE r.tournament_id = p_tournament_id AND r.prize > 0 ORDER BY r.rank
    LOOP
        v_accounts := v_accounts
            || ledger_account('player_cash', v_winner.player_id, v_t.currency, v_t.currency);
        v_amounts := v_amounts || v_winner.prize;
    END LOOP;
    IF v_pool > 0 OR v_total > 0 THEN
        v_tx := post_transaction('prizes', ledger_key('prizes', p_tournament_id),
                                 v_accounts, v_amounts);
    END IF;

    UPDATE tournaments t SET status = 'completed' WHERE t.tournament_id = p_tournament_id;
    INSERT INTO room_announcements (tournament_id, status) VALUES (p_tournament_id, 'completed');
    v_response := jsonb_build_object(
        'tournament_id', p_tournament_id, 'status', 'completed', 'currency', v_t.currency,
        'server_seed', encode(v_t.server_seed, 'hex'),
        'server_seed_hash', v_t.server_seed_hash,
        'prize_pool', v_pool, 'prizes_paid', v_total,
        'standings', coalesce((
            SELECT jsonb_agg(jsonb_build_object('rank', r.rank, 'player_id', r.player_id,
                                                'name', r.name, 'score', r.score,
                                                'prize', r.prize) ORDER BY r.rank)
              FROM tournament_results r WHERE r.tournament_id = p_tournament_id), '[]'));
    INSERT INTO tournament_closings (tournament_id, status, response, tx_id)
    VALUES (p_tournament_id, 'completed', v_response, v_tx);

    FOR v_winner IN
        SELECT r.player_id, r.rank, r.prize FROM tournament_results r
         WHERE r.tournament_id = p_tournament_id AND r.prize > 0 ORDER BY r.rank
    LOOP
        PERFORM emit_event(
            'tournament.prize.paid', p_tournament_id, v_winner.player_id,
            ledger_key('prizes', p_tournament_id),
            jsonb_build_object('rank', v_winner.rank, 'amount', v_winner.prize,
                               'currency', v_t.currency));
    END LOOP;
    PERFORM emit_event('room.tournament.completed', p_tournament_id, NULL,
                       ledger_key('prizes', p_tournament_id), v_response);
    RETURN QUERY SELECT 'OK'::text, v_response;
END
$$;
