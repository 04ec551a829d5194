-- The double-entry ledger, tournaments, players and spins.
--
-- Money is bigint minor units. Every ledger transaction is a set of entries that sums to zero
-- (checked per INSERT statement); entries, transactions and spins are append-only (UPDATE,
-- DELETE and TRUNCATE are refused); player and prize-pool balances are maintained from the
-- entries by a trigger and may never go negative. House accounts keep no running balance
-- (their balance is the sum of their entries) so that no spin waits on a row shared by a room.

CREATE TABLE players (
    player_id     text PRIMARY KEY CHECK (length(player_id) BETWEEN 1 AND 64),
    name          text NOT NULL,
    currency      char(3) NOT NULL,
    self_excluded boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tournaments (
    tournament_id    text PRIMARY KEY CHECK (tournament_id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    kind             text NOT NULL CHECK (kind IN ('scheduled', 'hop_on_off')),
    name             text NOT NULL,
    game_id          text NOT NULL,
    currency         char(3) NOT NULL,
    buy_in           bigint NOT NULL CHECK (buy_in >= 0),
    starting_chips   bigint NOT NULL CHECK (starting_chips >= 0),
    min_stake        bigint NOT NULL CHECK (min_stake > 0),
    max_stake        bigint NOT NULL,
    max_players      integer NOT NULL CHECK (max_players > 0),
    registered_count integer NOT NULL DEFAULT 0 CHECK (registered_count >= 0),
    scoring          text NOT NULL
                     CHECK (scoring IN ('total_win', 'biggest_multiplier', 'win_to_bet_ratio')),
    prizes           jsonb NOT NULL DEFAULT '[]',
    leaderboard_size integer NOT NULL DEFAULT 10 CHECK (leaderboard_size BETWEEN 1 AND 1000),
    status           text NOT NULL
                     CHECK (status IN ('scheduled', 'running', 'completing', 'completed', 'cancelled')),
    starts_at        timestamptz,
    ends_at          timestamptz,
    server_seed      bytea NOT NULL,
    server_seed_hash text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (max_stake >= min_stake),
    CHECK (registered_count <= max_players)
);

CREATE TABLE accounts (
    account_id bigserial PRIMARY KEY,
    kind       text NOT NULL
               CHECK (kind IN ('player_cash', 'player_chips', 'prize_pool', 'house_cash', 'house_chips')),
    owner_id   text NOT NULL,  -- player id, tournament id, or 'house'
    scope      text NOT NULL,  -- the currency of a cash account, else the tournament id
    currency   char(3) NOT NULL,
    balance    bigint NOT NULL DEFAULT 0,
    UNIQUE (kind, owner_id, scope),
    CONSTRAINT balance_never_negative
        CHECK (kind IN ('house_cash', 'house_chips') OR balance >= 0)
);

CREATE TABLE ledger_transactions (
    tx_id           bigserial PRIMARY KEY,
    kind            text NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE entries (
    entry_id   bigserial PRIMARY KEY,
    tx_id      bigint NOT NULL REFERENCES ledger_transactions (tx_id),
    account_id bigint NOT NULL REFERENCES accounts (account_id),
    amount     bigint NOT NULL CHECK (amount <> 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entries_by_account ON entries (account_id);
CREATE INDEX entries_by_tx ON entries (tx_id);

CREATE TABLE tournament_players (
    tournament_id        text NOT NULL REFERENCES tournaments (tournament_id),
    player_id            text NOT NULL REFERENCES players (player_id),
    registered_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    score                bigint NOT NULL DEFAULT 0,
    score_reached_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    spins                bigint NOT NULL DEFAULT 0,
    total_bet            bigint NOT NULL DEFAULT 0,
    total_win            bigint NOT NULL DEFAULT 0,
    best_multiplier_x100 bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tournament_id, player_id)
);

CREATE TABLE spins (
    spin_id         uuid PRIMARY KEY,
    round_id        uuid NOT NULL,
    tournament_id   text NOT NULL REFERENCES tournaments (tournament_id),
    player_id       text NOT NULL REFERENCES players (player_id),
    idempotency_key text NOT NULL,
    request_hash    bytea NOT NULL,
    stake           bigint NOT NULL CHECK (stake > 0),
    win             bigint NOT NULL CHECK (win >= 0),
    client_seed     text NOT NULL,
    nonce           bigint NOT NULL CHECK (nonce >= 0),
    math_version    text NOT NULL,
    outcome         jsonb NOT NULL,
    response        jsonb NOT NULL,  -- the spin.result payload, returned again on retry
    tx_id           bigint NOT NULL UNIQUE REFERENCES ledger_transactions (tx_id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT spins_idempotency_key_unique UNIQUE (player_id, idempotency_key),
    CONSTRAINT spins_nonce_unique UNIQUE (tournament_id, player_id, nonce)
);

-- Append-only tables.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: write a reversing transaction instead', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER spins_append_only BEFORE UPDATE OR DELETE ON spins
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER spins_no_truncate BEFORE TRUNCATE ON spins
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Each INSERT into entries: every transaction in it sums to zero, and the running balances of
-- the accounts it touches move with it (the CHECK on accounts refuses a negative balance).
CREATE FUNCTION post_entries() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unbalanced bigint;
BEGIN
    SELECT tx_id INTO unbalanced FROM new_entries GROUP BY tx_id HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not sum to zero', unbalanced
            USING ERRCODE = 'check_violation';
    END IF;
    UPDATE accounts a SET balance = a.balance + d.delta
      FROM (SELECT account_id, sum(amount) AS delta FROM new_entries GROUP BY account_id) d
     WHERE a.account_id = d.account_id AND a.kind NOT IN ('house_cash', 'house_chips');
    RETURN NULL;
END
$$;

CREATE TRIGGER entries_post AFTER INSERT ON entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION post_entries();

-- The score of a player after a spin, per the tournament's scoring rule (see scoring.py).
CREATE FUNCTION tournament_score(
    scoring text, total_bet bigint, total_win bigint, best_multiplier_x100 bigint
) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE scoring
        WHEN 'total_win' THEN total_win
        WHEN 'biggest_multiplier' THEN best_multiplier_x100
        ELSE CASE WHEN total_bet = 0 THEN 0 ELSE (total_win * 10000) / total_bet END
    END
$$;

-- One spin in one round trip: idempotency, checks in protocol order, debit, win credit, score,
-- spin record. Returns status 'OK' | 'REPLAY' | an error code, and the stored response.
CREATE FUNCTION place_spin(
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
    v_spins bigint;
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
    IF v_chips_id IS NULL THEN
        RETURN QUERY SELECT 'NOT_IN_ROOM'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    IF v_balance < p_stake THEN
        RETURN QUERY SELECT 'INSUFFICIENT_FUNDS'::text, NULL::jsonb, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;

    SELECT a.account_id INTO STRICT v_house_id FROM accounts a
     WHERE a.kind = 'house_chips' AND a.owner_id = 'house' AND a.scope = p_tournament_id;

    INSERT INTO ledger_transactions (kind, idempotency_key)
    VALUES ('spin', 'spin:' || p_player_id || ':' || p_idempotency_key)
    RETURNING tx_id INTO v_tx;

    INSERT INTO entries (tx_id, account_id, amount)
    SELECT v_tx, e.account_id, e.amount
      FROM (VALUES (v_chips_id, -p_stake), (v_house_id, p_stake),
                   (v_house_id, -p_win), (v_chips_id, p_win)) AS e (account_id, amount)
     WHERE e.amount <> 0;

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
    RETURNING tp.score, tp.score_reached_at, tp.spins INTO v_score, v_reached, v_spins;

    v_response := p_response || jsonb_build_object(
        'balance', v_balance - p_stake + p_win, 'score', v_score);

    INSERT INTO spins (spin_id, round_id, tournament_id, player_id, idempotency_key,
                       request_hash, stake, win, client_seed, nonce, math_version, outcome,
                       response, tx_id)
    VALUES (p_spin_id, p_round_id, p_tournament_id, p_player_id, p_idempotency_key,
            p_request_hash, p_stake, p_win, p_client_seed, p_nonce, p_math_version,
            p_response -> 'outcome',
            v_response, v_tx);

    RETURN QUERY SELECT 'OK'::text, v_response, v_reached, v_spins;
END
$$;

-- The chips of a registered player, NULL when the player is not registered.
CREATE FUNCTION registered_chips(p_tournament_id text, p_player_id text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT a.balance FROM accounts a
      JOIN tournament_players tp ON tp.tournament_id = a.scope AND tp.player_id = a.owner_id
     WHERE a.kind = 'player_chips' AND a.owner_id = p_player_id AND a.scope = p_tournament_id
$$;

-- Register a player in a tournament: buy-in from cash to the prize pool, starting chips issued
-- by the house. Idempotent: a registered player gets 'ALREADY'.
CREATE FUNCTION register_player(
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
    v_tx bigint;
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

    INSERT INTO accounts (kind, owner_id, scope, currency)
    VALUES ('player_chips', p_player_id, p_tournament_id, v_t.currency)
    ON CONFLICT (kind, owner_id, scope) DO NOTHING;
    SELECT a.account_id INTO STRICT v_chips_id FROM accounts a
     WHERE a.kind = 'player_chips' AND a.owner_id = p_player_id AND a.scope = p_tournament_id;
    SELECT a.account_id INTO STRICT v_pool_id FROM accounts a
     WHERE a.kind = 'prize_pool' AND a.owner_id = p_tournament_id AND a.scope = p_tournament_id;
    SELECT a.account_id INTO STRICT v_house_id FROM accounts a
     WHERE a.kind = 'house_chips' AND a.owner_id = 'house' AND a.scope = p_tournament_id;

    INSERT INTO tournament_players (tournament_id, player_id)
    VALUES (p_tournament_id, p_player_id);
    UPDATE tournaments t SET registered_count = t.registered_count + 1
     WHERE t.tournament_id = p_tournament_id;

    IF v_t.buy_in > 0 OR v_t.starting_chips > 0 THEN
        INSERT INTO ledger_transactions (kind, idempotency_key)
        VALUES ('registration', 'registration:' || p_tournament_id || ':' || p_player_id)
        RETURNING tx_id INTO v_tx;
        INSERT INTO entries (tx_id, account_id, amount)
        SELECT v_tx, e.account_id, e.amount
          FROM (VALUES (v_cash_id, -v_t.buy_in), (v_pool_id, v_t.buy_in),
                       (v_house_id, -v_t.starting_chips), (v_chips_id, v_t.starting_chips))
               AS e (account_id, amount)
         WHERE e.amount <> 0;
    END IF;
    RETURN QUERY SELECT 'OK'::text, (SELECT a.balance FROM accounts a WHERE a.account_id = v_chips_id);
END
$$;
