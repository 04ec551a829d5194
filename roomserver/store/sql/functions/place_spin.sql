-- One spin in one round trip: idempotency, checks in protocol order, debit, win credit, score,
-- spin record. Returns status 'OK' | 'REPLAY' | an error code, and the stored response.
CREATE OR REPLACE FUNCTION place_spin(
    p_tournament_id text,
    p_player_id text,
    p_idempotency_key text,
    p_request_hash bytea,
    p_rg jsonb,
    p_spin_id uuid,
    p_round_id uuid,
    p_stake bigint,
    p_win bigint,
    p_client_seed text,
    p_nonce bigint,
    p_math_version text,
    p_response jsonb
) RETURNS TABLE (status text, response jsonb, score_reached_at timestamptz, spins bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_chips_id bigint;
    v_balance bigint;
    v_house_id bigint;
    v_hash bytea;
    v_stored jsonb;
    v_t tournaments%ROWTYPE;
    v_tx bigint;
    v_score bigint;
    v_reached timestamptz;
    v_version bigint;
    v_response jsonb;
BEGIN
    -- The player's chip account lock serialises the player's spins in this tournament, so a
    -- concurrent duplicate has committed before we look for its key (and completion, which
    -- takes every chip lock, waits for this spin).
    SELECT a.account_id, a.balance INTO v_chips_id, v_balance FROM accounts a
     WHERE a.kind = 'player_chips' AND a.owner_id = p_player_id AND a.scope = p_tournament_id
       FOR UPDATE;

    SELECT s.request_hash, s.response INTO v_hash, v_stored FROM spins s
     WHERE s.player_id = p_player_id AND s.idempotency_key = p_idempotency_key;
    IF FOUND THEN
        IF v_hash = p_request_hash THEN
            RETURN QUERY SELECT 'REPLAY'::text, v_stored, NULL::timestamptz, NULL::bigint;
        ELSE
            RETURN QUERY SELECT 'IDEMPOTENCY_MISMATCH'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint;
        END IF;
        RETURN;
    END IF;

    SELECT * INTO v_t FROM tournaments t WHERE t.tournament_id = p_tournament_id;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'NOT_FOUND'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    IF v_t.status <> 'running' THEN
        RETURN QUERY SELECT 'TOURNAMENT_NOT_RUNNING'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    IF p_stake < v_t.min_stake OR p_stake > v_t.max_stake THEN
        RETURN QUERY SELECT 'STAKE_OUT_OF_RANGE'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    IF rg_self_excluded(p_player_id, p_rg) THEN
        RETURN QUERY SELECT 'RG_BLOCKED'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    IF v_chips_id IS NULL OR registered_chips(p_tournament_id, p_player_id) IS NULL THEN
        RETURN QUERY SELECT 'NOT_IN_ROOM'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    IF v_balance < p_stake THEN
        RETURN QUERY SELECT 'INSUFFICIENT_FUNDS'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    -- Last check, because admitting writes (the session's running loss).
    IF NOT rg_limits_admit(p_player_id, p_rg, p_stake, p_win) THEN
        RETURN QUERY SELECT 'RG_BLOCKED'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;

    SELECT a.account_id INTO STRICT v_house_id FROM accounts a
     WHERE a.kind = 'house_chips' AND a.owner_id = 'house' AND a.scope = p_tournament_id;

    v_tx := post_transaction('spin', ledger_key('spin', p_player_id, p_idempotency_key),
                             ARRAY[v_chips_id, v_house_id, v_house_id, v_chips_id],
                             ARRAY[-p_stake, p_stake, -p_win, p_win]);

    UPDATE tournament_players tp
       SET spins = tp.spins + 1,
           total_bet = tp.total_bet + p_stake,
           total_win = tp.total_win + p_win,
           best_multiplier_x100 = greatest(tp.best_multiplier_x100, (p_win * 100) / p_stake),
           score = tournament_score(v_t.scoring, tp.total_bet + p_stake, tp.total_win + p_win,
                                    greatest(tp.best_multiplier_x100, (p_win * 100) / p_stake)),
           score_reached_at = CASE
               WHEN tournament_score(v_t.scoring, tp.total_bet + p_stake, tp.total_win + p_win,
                                     greatest(tp.best_multiplier_x100, (p_win * 100) / p_stake))
                    <> tp.score
               THEN clock_timestamp() ELSE tp.score_reached_at END
     WHERE tp.tournament_id = p_tournament_id AND tp.player_id = p_player_id
    RETURNING tp.score, tp.score_reached_at, tp.spins + tp.results
         INTO v_score, v_reached, v_version;

    v_response := p_response || jsonb_build_object(
        'balance', v_balance - p_stake + p_win, 'score', v_score);

    INSERT INTO spins (spin_id, round_id, tournament_id, player_id, idempotency_key,
                       request_hash, stake, win, client_seed, nonce, math_version, outcome,
                       response, tx_id)
    VALUES (p_spin_id, p_round_id, p_tournament_id, p_player_id, p_idempotency_key,
            p_request_hash, p_stake, p_win, p_client_seed, p_nonce, p_math_version,
            p_response -> 'outcome',
            v_response, v_tx);

    RETURN QUERY SELECT 'OK'::text, v_response, v_reached, v_version;
END
$$;
