-- One spin in one round trip: idempotency, checks in protocol order, then every write in one
-- statement. Returns status 'OK' | 'REPLAY' | an error code, and the stored response.
--
-- What keeps it as cheap as a TPC-B transaction: one read for every check, the RG limits
-- function only for a player who has limits, and the ledger transaction, its entries (net: the
-- player's chips move by win - stake and the house's by the opposite, so the sum is zero by
-- construction and the entries trigger checks it anyway), the standing and the spin record in
-- one statement.
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
    v_hash bytea;
    v_stored jsonb;
    v_status text;
    v_min_stake bigint;
    v_max_stake bigint;
    v_scoring text;
    v_house_id bigint;
    v_excluded boolean;
    v_limited boolean;
    v_registered boolean;
    v_response jsonb;
    v_reached timestamptz;
    v_version bigint;
BEGIN
    -- The player's chip account lock serialises the player's spins in this tournament, so a
    -- concurrent duplicate has committed before we look for its key (and completion, which
    -- takes every chip lock, waits for this spin; what is read below is read after it).
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

    -- Everything the checks need, in one read.
    SELECT t.status, t.min_stake, t.max_stake, t.scoring, h.account_id,
           coalesce(pl.self_excluded, false),
           pl.loss_limit IS NOT NULL OR pl.session_limit_min IS NOT NULL,
           EXISTS (SELECT FROM tournament_players tp
                    WHERE tp.tournament_id = p_tournament_id AND tp.player_id = p_player_id)
      INTO v_status, v_min_stake, v_max_stake, v_scoring, v_house_id, v_excluded, v_limited,
           v_registered
      FROM tournaments t
      LEFT JOIN accounts h
        ON h.kind = 'house_chips' AND h.owner_id = 'house' AND h.scope = p_tournament_id
      LEFT JOIN players pl ON pl.player_id = p_player_id
     WHERE t.tournament_id = p_tournament_id;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'NOT_FOUND'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    IF v_status <> 'running' THEN
        RETURN QUERY SELECT 'TOURNAMENT_NOT_RUNNING'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    IF p_stake < v_min_stake OR p_stake > v_max_stake THEN
        RETURN QUERY SELECT 'STAKE_OUT_OF_RANGE'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    -- As rg_self_excluded: the token's claim or the player's flag.
    IF v_excluded OR coalesce((p_rg ->> 'self_excluded')::boolean, false) THEN
        RETURN QUERY SELECT 'RG_BLOCKED'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    IF v_chips_id IS NULL OR NOT v_registered THEN
        RETURN QUERY SELECT 'NOT_IN_ROOM'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    IF v_balance < p_stake THEN
        RETURN QUERY SELECT 'INSUFFICIENT_FUNDS'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    -- Last check, because admitting writes (the session's running loss). Without a loss or
    -- session limit in the claims or on the player it admits without reading or writing.
    IF (v_limited OR (p_rg ->> 'loss_limit') IS NOT NULL
                  OR (p_rg ->> 'session_limit_min') IS NOT NULL)
       AND NOT rg_limits_admit(p_player_id, p_rg, p_stake, p_win) THEN
        RETURN QUERY SELECT 'RG_BLOCKED'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;

    WITH tx AS (
        INSERT INTO ledger_transactions (kind, idempotency_key)
        VALUES ('spin', ledger_key('spin', p_player_id, p_idempotency_key))
        RETURNING tx_id
    ), posted AS (
        INSERT INTO entries (tx_id, account_id, amount)
        SELECT tx.tx_id, e.account_id, e.amount
          FROM tx, (VALUES (v_chips_id, p_win - p_stake), (v_house_id, p_stake - p_win))
                   AS e (account_id, amount)
         WHERE e.amount <> 0
    ), standing AS (
        UPDATE tournament_players tp
           SET spins = tp.spins + 1,
               total_bet = tp.total_bet + p_stake,
               total_win = tp.total_win + p_win,
               best_multiplier_x100 = greatest(tp.best_multiplier_x100, (p_win * 100) / p_stake),
               score = tournament_score(v_scoring, tp.total_bet + p_stake, tp.total_win + p_win,
                                        greatest(tp.best_multiplier_x100, (p_win * 100) / p_stake)),
               score_reached_at = CASE
                   WHEN tournament_score(v_scoring, tp.total_bet + p_stake, tp.total_win + p_win,
                                         greatest(tp.best_multiplier_x100, (p_win * 100) / p_stake))
                        <> tp.score
                   THEN clock_timestamp() ELSE tp.score_reached_at END
         WHERE tp.tournament_id = p_tournament_id AND tp.player_id = p_player_id
        RETURNING tp.score, tp.score_reached_at, tp.spins + tp.results AS version
    ), spin AS (
        INSERT INTO spins (spin_id, round_id, tournament_id, player_id, idempotency_key,
                           request_hash, stake, win, client_seed, nonce, math_version, outcome,
                           response, tx_id)
        SELECT p_spin_id, p_round_id, p_tournament_id, p_player_id, p_idempotency_key,
               p_request_hash, p_stake, p_win, p_client_seed, p_nonce, p_math_version,
               p_response -> 'outcome',
               p_response || jsonb_build_object('balance', v_balance - p_stake + p_win,
                                                'score', standing.score),
               tx.tx_id
          FROM tx, standing
        RETURNING spins.response
    )
    SELECT spin.response, standing.score_reached_at, standing.version
      INTO v_response, v_reached, v_version
      FROM spin, standing;

    RETURN QUERY SELECT 'OK'::text, v_response, v_reached, v_version;
END
$$;
