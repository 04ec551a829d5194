-- Unambiguous composite keys, and game-server results serialised with a tournament's end.
--
-- Ledger idempotency keys, the outbox's idempotency keys and advisory-lock names are built from
-- several ids. Joined with ':' they were ambiguous, since ids may contain ':' themselves: player
-- 'a:x' spinning with key 'k' took the ledger key of player 'a' spinning with key 'x:k', whose
-- spin then failed on every retry. Every such key is now built by ledger_key(), one rule for
-- all: the kind, then each part as '/' <length in characters> ':' <part>. Reading the lengths
-- left to right recovers the parts, so different parts never give the same key.
--
-- Keys written before this migration stay as they are, and stay valid: an old key is
-- '<kind>:...', a new one '<kind>/...', and kinds are [a-z_]+, so no new key can equal an old
-- one. Replays never look a ledger key up: a spin is found by (player_id, idempotency_key) in
-- spins, a registration in tournament_players, a hop-off in hop_offs, a wallet bet, rollback or
-- hold by its own table's primary key, a closing in tournament_closings. A request committed
-- before the upgrade therefore replays after it, and a registration or hop-off generation
-- started before it continues after it under new keys.

-- The one way to build a composite key: ledger_key('spin', 'a:x', 'k') = 'spin/3:a:x/1:k'.
CREATE FUNCTION ledger_key(p_kind text, VARIADIC p_parts text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v_key text := p_kind;
    v_part text;
BEGIN
    -- A kind of [a-z_] is what keeps new keys apart from the old '<kind>:' ones.
    IF p_kind IS NULL OR p_kind !~ '^[a-z_]+$' THEN
        RAISE EXCEPTION 'ledger_key: invalid kind %', quote_nullable(p_kind)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_parts IS NULL OR cardinality(p_parts) = 0 THEN
        RAISE EXCEPTION 'ledger_key(%): no parts', p_kind
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH v_part IN ARRAY p_parts LOOP
        IF v_part IS NULL THEN
            RAISE EXCEPTION 'ledger_key(%): a part is NULL', p_kind
                USING ERRCODE = 'null_value_not_allowed';
        END IF;
        v_key := v_key || '/' || char_length(v_part) || ':' || v_part;
    END LOOP;
    RETURN v_key;
END
$$;

-- A serialisation point for one business id (a wallet transaction, a bet, a result), held to
-- commit; its name is a ledger_key, so ids containing ':' cannot share a lock by accident.
-- Callers name a kind and the id's parts: lock_business_id('wallet', agent_id, transaction_id).
DROP FUNCTION lock_business_id(text, text);
CREATE FUNCTION lock_business_id(p_kind text, VARIADIC p_parts text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(ledger_key(p_kind, VARIADIC p_parts), 0));
END
$$;

-- The functions below are the latest definitions of each, unchanged but for their keys (and
-- record_result's lock on its tournament).

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

CREATE OR REPLACE FUNCTION register_player(
    p_tournament_id text, p_player_id text, p_rg_self_excluded boolean
) RETURNS TABLE (status text, chips bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_t tournaments%ROWTYPE;
    v_cash_id bigint;
    v_cash bigint;
    v_excluded boolean;
    v_chips_id bigint;
    v_pool_id bigint;
    v_house_id bigint;
    v_generation bigint;
BEGIN
    -- Rejoining is the common case: answer it without the lock below.
    chips := registered_chips(p_tournament_id, p_player_id);
    IF chips IS NOT NULL THEN
        RETURN QUERY SELECT 'ALREADY'::text, chips;
        RETURN;
    END IF;
    -- The tournament row lock serialises registrations, so max_players holds.
    SELECT * INTO v_t FROM tournaments t WHERE t.tournament_id = p_tournament_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'NOT_FOUND'::text, NULL::bigint;
        RETURN;
    END IF;
    -- A concurrent registration of the same player committed while we waited for the lock.
    chips := registered_chips(p_tournament_id, p_player_id);
    IF chips IS NOT NULL THEN
        RETURN QUERY SELECT 'ALREADY'::text, chips;
        RETURN;
    END IF;
    IF v_t.status NOT IN ('scheduled', 'running') THEN
        RETURN QUERY SELECT 'TOURNAMENT_NOT_RUNNING'::text, NULL::bigint;
        RETURN;
    END IF;
    IF v_t.registered_count >= v_t.max_players THEN
        RETURN QUERY SELECT 'ROOM_FULL'::text, NULL::bigint;
        RETURN;
    END IF;
    IF v_t.buy_in > 0 THEN
        SELECT pl.self_excluded INTO v_excluded FROM players pl WHERE pl.player_id = p_player_id;
        IF p_rg_self_excluded OR coalesce(v_excluded, false) THEN
            RETURN QUERY SELECT 'RG_BLOCKED'::text, NULL::bigint;
            RETURN;
        END IF;
        SELECT a.account_id, a.balance INTO v_cash_id, v_cash FROM accounts a
         WHERE a.kind = 'player_cash' AND a.owner_id = p_player_id AND a.scope = v_t.currency
           FOR UPDATE;
        IF v_cash_id IS NULL OR v_cash < v_t.buy_in THEN
            RETURN QUERY SELECT 'INSUFFICIENT_FUNDS'::text, NULL::bigint;
            RETURN;
        END IF;
    END IF;

    v_chips_id := ledger_account('player_chips', p_player_id, p_tournament_id, v_t.currency);
    SELECT a.account_id INTO STRICT v_pool_id FROM accounts a
     WHERE a.kind = 'prize_pool' AND a.owner_id = p_tournament_id AND a.scope = p_tournament_id;
    SELECT a.account_id INTO STRICT v_house_id FROM accounts a
     WHERE a.kind = 'house_chips' AND a.owner_id = 'house' AND a.scope = p_tournament_id;

    INSERT INTO tournament_players (tournament_id, player_id)
    VALUES (p_tournament_id, p_player_id);
    UPDATE tournaments t SET registered_count = t.registered_count + 1
     WHERE t.tournament_id = p_tournament_id;

    SELECT count(*) INTO v_generation FROM hop_offs h
     WHERE h.tournament_id = p_tournament_id AND h.player_id = p_player_id;
    IF v_t.buy_in > 0 OR v_t.starting_chips > 0 THEN
        PERFORM post_transaction(
            'registration',
            ledger_key('registration', p_tournament_id, p_player_id, v_generation::text),
            ARRAY[v_cash_id, v_pool_id, v_house_id, v_chips_id],
            ARRAY[-v_t.buy_in, v_t.buy_in, -v_t.starting_chips, v_t.starting_chips]);
    END IF;
    RETURN QUERY SELECT 'OK'::text, (SELECT a.balance FROM accounts a WHERE a.account_id = v_chips_id);
END
$$;

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

CREATE OR REPLACE FUNCTION record_result(
    p_tournament_id text, p_result_id text, p_player_id text, p_request_hash bytea,
    p_score_delta bigint, p_score bigint
) RETURNS TABLE (status text, response jsonb, score_reached_at timestamptz, version bigint,
                score bigint, name text)
LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
    v_hash bytea;
    v_stored jsonb;
    v_score bigint;
    v_reached timestamptz;
    v_version bigint;
    v_response jsonb;
    v_name text;
BEGIN
    PERFORM lock_business_id('result', p_tournament_id, p_result_id);
    SELECT r.request_hash, r.response INTO v_hash, v_stored FROM game_results r
     WHERE r.tournament_id = p_tournament_id AND r.result_id = p_result_id;
    IF FOUND THEN
        IF v_hash = p_request_hash THEN
            RETURN QUERY SELECT 'REPLAY'::text, v_stored, NULL::timestamptz, NULL::bigint, NULL::bigint, NULL::text;
        ELSE
            RETURN QUERY SELECT 'IDEMPOTENCY_MISMATCH'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint, NULL::bigint, NULL::text;
        END IF;
        RETURN;
    END IF;
    -- FOR SHARE until commit: ending the tournament (running -> completing) updates this row, so
    -- it waits for every result already past this check, and a result arriving after the end
    -- sees the new status. A result is thus in the final standings or refused, never applied
    -- after them. Results do not wait for each other.
    SELECT t.status INTO v_status FROM tournaments t WHERE t.tournament_id = p_tournament_id
       FOR SHARE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'NOT_FOUND'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint, NULL::bigint, NULL::text;
        RETURN;
    END IF;
    IF v_status <> 'running' THEN
        RETURN QUERY SELECT 'TOURNAMENT_NOT_RUNNING'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint, NULL::bigint, NULL::text;
        RETURN;
    END IF;
    UPDATE tournament_players tp
       SET results = tp.results + 1,
           score = coalesce(p_score, tp.score + p_score_delta),
           score_reached_at = CASE WHEN coalesce(p_score, tp.score + p_score_delta) <> tp.score
                                   THEN clock_timestamp() ELSE tp.score_reached_at END
     WHERE tp.tournament_id = p_tournament_id AND tp.player_id = p_player_id
    RETURNING tp.score, tp.score_reached_at, tp.spins + tp.results
         INTO v_score, v_reached, v_version;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'NOT_REGISTERED'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint, NULL::bigint, NULL::text;
        RETURN;
    END IF;
    v_response := jsonb_build_object(
        'result_id', p_result_id, 'tournament_id', p_tournament_id, 'player_id', p_player_id,
        'score', v_score, 'status', 'applied');
    INSERT INTO game_results (tournament_id, result_id, player_id, request_hash, response)
    VALUES (p_tournament_id, p_result_id, p_player_id, p_request_hash, v_response);
    SELECT pl.name INTO v_name FROM players pl WHERE pl.player_id = p_player_id;
    RETURN QUERY SELECT 'OK'::text, v_response, v_reached, v_version, v_score, v_name;
END
$$;

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

CREATE OR REPLACE FUNCTION emit_wallet_bet() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event(
        'bet.settled', NULL, NEW.player_id,
        ledger_key('wallet_bet', NEW.agent_id, NEW.transaction_id),
        jsonb_build_object('style', 'make_bet', 'agent_id', NEW.agent_id,
                           'transaction_id', NEW.transaction_id, 'round_id', NEW.round_id,
                           'bet', NEW.bet, 'win', NEW.win, 'currency', NEW.currency,
                           'game_id', NEW.game_id));
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION emit_wallet_rollback() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_bet wallet_bets%ROWTYPE;
BEGIN
    SELECT * INTO v_bet FROM wallet_bets b
     WHERE b.agent_id = NEW.agent_id AND b.transaction_id = NEW.transaction_id;
    PERFORM emit_event(
        'bet.rolled_back', NULL, v_bet.player_id,
        ledger_key('wallet_rollback', NEW.agent_id, NEW.transaction_id),
        jsonb_build_object('style', 'make_bet', 'agent_id', NEW.agent_id,
                           'transaction_id', NEW.transaction_id,
                           'rollback_transaction_id', NEW.rollback_transaction_id,
                           'round_id', v_bet.round_id, 'amount', v_bet.bet,
                           'currency', v_bet.currency));
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION emit_bet_resolution() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_hold bet_holds%ROWTYPE;
BEGIN
    SELECT * INTO v_hold FROM bet_holds h WHERE h.agent_id = NEW.agent_id AND h.bet_id = NEW.bet_id;
    PERFORM emit_event(
        CASE NEW.kind WHEN 'settle' THEN 'bet.settled' ELSE 'bet.rolled_back' END,
        NULL, v_hold.player_id, ledger_key('bet_' || NEW.kind, NEW.agent_id, NEW.bet_id),
        jsonb_build_object('style', 'hold', 'agent_id', NEW.agent_id, 'bet_id', NEW.bet_id,
                           'hold_id', v_hold.hold_id, 'round_id', v_hold.round_id,
                           'amount', v_hold.amount, 'win', NEW.win,
                           'currency', v_hold.currency));
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION move_tournament(p_tournament_id text, p_from text, p_to text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_t tournaments%ROWTYPE;
BEGIN
    UPDATE tournaments t SET status = p_to
     WHERE t.tournament_id = p_tournament_id AND t.status = p_from
    RETURNING * INTO v_t;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF p_to = 'running' THEN
        PERFORM emit_event(
            'room.tournament.started', p_tournament_id, NULL, ledger_key('start', p_tournament_id),
            jsonb_build_object('status', 'running', 'server_seed_hash', v_t.server_seed_hash,
                               'starts_at', v_t.starts_at, 'ends_at', v_t.ends_at,
                               'registered', v_t.registered_count));
    END IF;
    RETURN true;
END
$$;

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
