-- Wallet callbacks (agent style and two-phase holds), hop-off refunds, game-server results and
-- stored side-API responses. Every money move goes through post_transaction, which the spin and
-- registration functions now use too: one way to write a ledger transaction.

ALTER TABLE accounts DROP CONSTRAINT accounts_kind_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_kind_check CHECK (kind IN (
    'player_cash', 'player_chips', 'player_held', 'prize_pool', 'house_cash', 'house_chips'));

-- Score changes from game servers; `spins + results` versions a player's standing.
ALTER TABLE tournament_players ADD COLUMN results bigint NOT NULL DEFAULT 0;

-- The one way to write a ledger transaction: a unique idempotency key and entries that the
-- entries trigger checks (sum zero) and posts (running balances, never negative).
CREATE FUNCTION post_transaction(
    p_kind text, p_idempotency_key text, p_accounts bigint[], p_amounts bigint[]
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_tx bigint;
BEGIN
    INSERT INTO ledger_transactions (kind, idempotency_key)
    VALUES (p_kind, p_idempotency_key)
    RETURNING tx_id INTO v_tx;
    INSERT INTO entries (tx_id, account_id, amount)
    SELECT v_tx, e.account_id, e.amount
      FROM unnest(p_accounts, p_amounts) AS e (account_id, amount)
     WHERE e.amount <> 0;
    RETURN v_tx;
END
$$;

-- An account, created on first use.
CREATE FUNCTION ledger_account(p_kind text, p_owner_id text, p_scope text, p_currency text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT a.account_id INTO v_id FROM accounts a
     WHERE a.kind = p_kind AND a.owner_id = p_owner_id AND a.scope = p_scope;
    IF v_id IS NULL THEN
        INSERT INTO accounts (kind, owner_id, scope, currency)
        VALUES (p_kind, p_owner_id, p_scope, p_currency)
        ON CONFLICT (kind, owner_id, scope) DO NOTHING;
        SELECT a.account_id INTO STRICT v_id FROM accounts a
         WHERE a.kind = p_kind AND a.owner_id = p_owner_id AND a.scope = p_scope;
    END IF;
    RETURN v_id;
END
$$;

-- A serialisation point for one business id (a wallet transaction, a bet), held to commit.
CREATE FUNCTION lock_business_id(p_namespace text, p_id text) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(hashtextextended(p_namespace || ':' || p_id, 0))
$$;

-- ---------------------------------------------------------------- spins and registrations

CREATE OR REPLACE FUNCTION place_spin(
    p_tournament_id text,
    p_player_id text,
    p_idempotency_key text,
    p_request_hash bytea,
    p_rg_self_excluded boolean,
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
    v_excluded boolean;
    v_tx bigint;
    v_score bigint;
    v_reached timestamptz;
    v_version bigint;
    v_response jsonb;
BEGIN
    -- The player's chip account lock serialises the player's spins in this tournament, so a
    -- concurrent duplicate has committed before we look for its key.
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
    SELECT pl.self_excluded INTO v_excluded FROM players pl WHERE pl.player_id = p_player_id;
    IF p_rg_self_excluded OR coalesce(v_excluded, false) THEN
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

    SELECT a.account_id INTO STRICT v_house_id FROM accounts a
     WHERE a.kind = 'house_chips' AND a.owner_id = 'house' AND a.scope = p_tournament_id;

    v_tx := post_transaction('spin', 'spin:' || p_player_id || ':' || p_idempotency_key,
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

-- Each hop-off of a player; a registration after one is a new generation (its own ledger key).
CREATE TABLE hop_offs (
    tournament_id text NOT NULL REFERENCES tournaments (tournament_id),
    player_id     text NOT NULL REFERENCES players (player_id),
    generation    integer NOT NULL,
    chips         bigint NOT NULL,
    refund        bigint NOT NULL CHECK (refund >= 0),
    response      jsonb NOT NULL,
    tx_id         bigint REFERENCES ledger_transactions (tx_id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tournament_id, player_id, generation)
);

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
            'registration:' || p_tournament_id || ':' || p_player_id
                || CASE WHEN v_generation = 0 THEN '' ELSE ':' || v_generation END,
            ARRAY[v_cash_id, v_pool_id, v_house_id, v_chips_id],
            ARRAY[-v_t.buy_in, v_t.buy_in, -v_t.starting_chips, v_t.starting_chips]);
    END IF;
    RETURN QUERY SELECT 'OK'::text, (SELECT a.balance FROM accounts a WHERE a.account_id = v_chips_id);
END
$$;

-- Hop off: the player leaves the standings, chips go back to the house, and the buy-in is
-- refunded from the prize pool per the rules: in full before the tournament starts; while a
-- hop-on/hop-off tournament runs, in proportion to the chips left (at most the buy-in); a
-- running scheduled tournament cannot be left. Idempotent: a repeat returns the stored response.
CREATE FUNCTION hop_off_player(p_tournament_id text, p_player_id text)
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
            'hop_off', 'hop_off:' || p_tournament_id || ':' || p_player_id || ':' || v_generation,
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

-- ---------------------------------------------------------------- game-server results

CREATE TABLE game_results (
    tournament_id text NOT NULL REFERENCES tournaments (tournament_id),
    result_id     text NOT NULL,
    player_id     text NOT NULL REFERENCES players (player_id),
    request_hash  bytea NOT NULL,
    response      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tournament_id, result_id)
);

-- Apply a result (a delta, or an absolute score) once per result_id.
CREATE FUNCTION record_result(
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
    PERFORM lock_business_id('result:' || p_tournament_id, p_result_id);
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
    SELECT t.status INTO v_status FROM tournaments t WHERE t.tournament_id = p_tournament_id;
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

-- ---------------------------------------------------------------- wallet: agent-callback style

-- One row per makeBet: the bet is debited and the win credited in one ledger transaction.
CREATE TABLE wallet_bets (
    agent_id       text NOT NULL,
    transaction_id text NOT NULL,
    round_id       text NOT NULL,
    player_id      text NOT NULL REFERENCES players (player_id),
    currency       char(3) NOT NULL,
    bet            bigint NOT NULL CHECK (bet >= 0),
    win            bigint NOT NULL CHECK (win >= 0),
    game_id        text,
    session_id     text,
    request_hash   bytea NOT NULL,
    response       jsonb NOT NULL,
    tx_id          bigint REFERENCES ledger_transactions (tx_id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, transaction_id)
);
CREATE INDEX wallet_bets_by_round ON wallet_bets (agent_id, round_id);

-- One row per rolled-back transaction id; tx_id NULL is a tombstone (the bet never arrived,
-- and a late bet with that id is refused).
CREATE TABLE wallet_rollbacks (
    agent_id                text NOT NULL,
    transaction_id          text NOT NULL,
    rollback_transaction_id text NOT NULL,
    response                jsonb NOT NULL,
    tx_id                   bigint REFERENCES ledger_transactions (tx_id),
    created_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, transaction_id)
);

CREATE TABLE bet_holds (
    agent_id     text NOT NULL,
    bet_id       text NOT NULL,
    hold_id      uuid NOT NULL UNIQUE,
    round_id     text NOT NULL,
    player_id    text NOT NULL REFERENCES players (player_id),
    session_id   text,
    currency     char(3) NOT NULL,
    amount       bigint NOT NULL CHECK (amount > 0),
    request_hash bytea NOT NULL,
    response     jsonb NOT NULL,
    tx_id        bigint NOT NULL REFERENCES ledger_transactions (tx_id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, bet_id)
);

-- A hold resolves exactly once: the primary key admits one settle or one rollback.
CREATE TABLE bet_resolutions (
    agent_id     text NOT NULL,
    bet_id       text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('settle', 'rollback')),
    win          bigint NOT NULL CHECK (win >= 0),
    request_hash bytea NOT NULL,
    response     jsonb NOT NULL,
    tx_id        bigint NOT NULL REFERENCES ledger_transactions (tx_id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, bet_id),
    FOREIGN KEY (agent_id, bet_id) REFERENCES bet_holds (agent_id, bet_id)
);

CREATE TRIGGER wallet_bets_append_only BEFORE UPDATE OR DELETE ON wallet_bets
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER wallet_rollbacks_append_only BEFORE UPDATE OR DELETE ON wallet_rollbacks
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER bet_holds_append_only BEFORE UPDATE OR DELETE ON bet_holds
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER bet_resolutions_append_only BEFORE UPDATE OR DELETE ON bet_resolutions
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- The player's cash account in a currency, locked; NULL when the player is unknown.
CREATE FUNCTION lock_player_cash(p_player_id text, p_currency text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM players pl WHERE pl.player_id = p_player_id) THEN
        RETURN NULL;
    END IF;
    v_id := ledger_account('player_cash', p_player_id, p_currency, p_currency);
    PERFORM 1 FROM accounts a WHERE a.account_id = v_id FOR UPDATE;
    RETURN v_id;
END
$$;

CREATE FUNCTION wallet_make_bet(
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
    PERFORM lock_business_id('wallet:' || p_agent_id, p_transaction_id);
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
    v_tx := post_transaction('wallet_bet', 'wallet_bet:' || p_agent_id || ':' || p_transaction_id,
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

-- Reverse a bet once. A round is settled once a makeBet in it credited a win; its bets can no
-- longer be rolled back. An unknown transaction id leaves a tombstone.
CREATE FUNCTION wallet_rollback(
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
    PERFORM lock_business_id('wallet:' || p_agent_id, p_transaction_id);
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
        'wallet_rollback', 'wallet_rollback:' || p_agent_id || ':' || p_transaction_id,
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

-- ---------------------------------------------------------------- wallet: two-phase holds

CREATE FUNCTION bet_authorize(
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
    PERFORM lock_business_id('bet:' || p_agent_id, p_bet_id);
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
        'bet_hold', 'bet_hold:' || p_agent_id || ':' || p_bet_id,
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

-- Settle (capture the hold, credit the win) or roll back (release the hold): exactly once.
CREATE FUNCTION bet_resolve(
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
    PERFORM lock_business_id('bet:' || p_agent_id, p_bet_id);
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
            'bet_settle', 'bet_settle:' || p_agent_id || ':' || p_bet_id,
            ARRAY[v_held_id, v_house_id, v_house_id, v_cash_id],
            ARRAY[-v_hold.amount, v_hold.amount, -p_win, p_win]);
    ELSE
        v_tx := post_transaction(
            'bet_rollback', 'bet_rollback:' || p_agent_id || ':' || p_bet_id,
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

-- ---------------------------------------------------------------- stored side-API responses

-- Responses to writes carrying X-Idempotency-Key, per caller; kept at least 30 days.
CREATE TABLE api_idempotency (
    caller          text NOT NULL,
    idempotency_key text NOT NULL,
    request_hash    bytea NOT NULL,
    status_code     integer NOT NULL,
    response        jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, idempotency_key)
);
