-- Tournament lifecycle (start, end, prizes exactly once, cancel with refunds), responsible-gaming
-- limits enforced in the spin transaction, and the transactional outbox: every event is written
-- by the transaction that makes the change it reports.

-- ---------------------------------------------------------------- the outbox

CREATE TABLE outbox (
    seq             bigserial PRIMARY KEY,
    event_id        uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    event_type      text NOT NULL,
    occurred_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    trace_id        text NOT NULL,
    tournament_id   text,
    player_id       text,
    idempotency_key text,
    payload         jsonb NOT NULL,
    -- Delivery: the relay claims pending rows with FOR UPDATE SKIP LOCKED.
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'published', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_error      text,
    published_at    timestamptz
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at, seq) WHERE state = 'pending';

-- Write one event. The trace id is the request's (set with set_config('roomserver.trace_id', ...,
-- true) by the caller) or a fresh one.
CREATE FUNCTION emit_event(
    p_type text, p_tournament_id text, p_player_id text, p_idempotency_key text, p_payload jsonb
) RETURNS void LANGUAGE sql AS $$
    INSERT INTO outbox (event_type, trace_id, tournament_id, player_id, idempotency_key, payload)
    VALUES (p_type,
            coalesce(nullif(current_setting('roomserver.trace_id', true), ''),
                     replace(gen_random_uuid()::text, '-', '')),
            p_tournament_id, p_player_id, p_idempotency_key, p_payload)
$$;

-- Events that follow from rows other functions write: a trigger puts them in the same
-- transaction without each writer having to remember.
CREATE FUNCTION emit_player_registered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event(
        'tournament.player.registered', NEW.tournament_id, NEW.player_id, NULL,
        (SELECT jsonb_build_object('buy_in', t.buy_in, 'currency', t.currency,
                                   'chips', t.starting_chips)
           FROM tournaments t WHERE t.tournament_id = NEW.tournament_id));
    RETURN NULL;
END
$$;
CREATE TRIGGER tournament_players_registered AFTER INSERT ON tournament_players
    FOR EACH ROW EXECUTE FUNCTION emit_player_registered();

CREATE FUNCTION emit_score_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event(
        'player.score.updated', NEW.tournament_id, NEW.player_id, NULL,
        jsonb_build_object('score', NEW.score, 'previous_score', OLD.score,
                           'reached_at', NEW.score_reached_at,
                           'version', NEW.spins + NEW.results));
    RETURN NULL;
END
$$;
CREATE TRIGGER tournament_players_score_updated AFTER UPDATE OF score ON tournament_players
    FOR EACH ROW WHEN (OLD.score IS DISTINCT FROM NEW.score)
    EXECUTE FUNCTION emit_score_updated();

CREATE FUNCTION emit_wallet_bet() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event(
        'bet.settled', NULL, NEW.player_id, 'wallet_bet:' || NEW.agent_id || ':' || NEW.transaction_id,
        jsonb_build_object('style', 'make_bet', 'agent_id', NEW.agent_id,
                           'transaction_id', NEW.transaction_id, 'round_id', NEW.round_id,
                           'bet', NEW.bet, 'win', NEW.win, 'currency', NEW.currency,
                           'game_id', NEW.game_id));
    RETURN NULL;
END
$$;
CREATE TRIGGER wallet_bets_settled AFTER INSERT ON wallet_bets
    FOR EACH ROW EXECUTE FUNCTION emit_wallet_bet();

CREATE FUNCTION emit_wallet_rollback() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_bet wallet_bets%ROWTYPE;
BEGIN
    SELECT * INTO v_bet FROM wallet_bets b
     WHERE b.agent_id = NEW.agent_id AND b.transaction_id = NEW.transaction_id;
    PERFORM emit_event(
        'bet.rolled_back', NULL, v_bet.player_id,
        'wallet_rollback:' || NEW.agent_id || ':' || NEW.transaction_id,
        jsonb_build_object('style', 'make_bet', 'agent_id', NEW.agent_id,
                           'transaction_id', NEW.transaction_id,
                           'rollback_transaction_id', NEW.rollback_transaction_id,
                           'round_id', v_bet.round_id, 'amount', v_bet.bet,
                           'currency', v_bet.currency));
    RETURN NULL;
END
$$;
-- A tombstone (no bet, no money) reports nothing.
CREATE TRIGGER wallet_rollbacks_rolled_back AFTER INSERT ON wallet_rollbacks
    FOR EACH ROW WHEN (NEW.tx_id IS NOT NULL) EXECUTE FUNCTION emit_wallet_rollback();

CREATE FUNCTION emit_bet_resolution() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_hold bet_holds%ROWTYPE;
BEGIN
    SELECT * INTO v_hold FROM bet_holds h WHERE h.agent_id = NEW.agent_id AND h.bet_id = NEW.bet_id;
    PERFORM emit_event(
        CASE NEW.kind WHEN 'settle' THEN 'bet.settled' ELSE 'bet.rolled_back' END,
        NULL, v_hold.player_id, 'bet_' || NEW.kind || ':' || NEW.agent_id || ':' || NEW.bet_id,
        jsonb_build_object('style', 'hold', 'agent_id', NEW.agent_id, 'bet_id', NEW.bet_id,
                           'hold_id', v_hold.hold_id, 'round_id', v_hold.round_id,
                           'amount', v_hold.amount, 'win', NEW.win,
                           'currency', v_hold.currency));
    RETURN NULL;
END
$$;
CREATE TRIGGER bet_resolutions_resolved AFTER INSERT ON bet_resolutions
    FOR EACH ROW EXECUTE FUNCTION emit_bet_resolution();

-- ---------------------------------------------------------------- the lifecycle

-- How each tournament ended: one row, written by the transaction that completed or cancelled
-- it (final standings, prizes or refunds, the revealed seed). Its response is returned again
-- to every later caller.
CREATE TABLE tournament_closings (
    tournament_id text PRIMARY KEY REFERENCES tournaments (tournament_id),
    status        text NOT NULL CHECK (status IN ('completed', 'cancelled')),
    response      jsonb NOT NULL,
    tx_id         bigint REFERENCES ledger_transactions (tx_id),
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Final standings, one row per registered player at completion; `prize` is what was paid.
CREATE TABLE tournament_results (
    tournament_id text NOT NULL REFERENCES tournaments (tournament_id),
    rank          integer NOT NULL CHECK (rank > 0),
    player_id     text NOT NULL REFERENCES players (player_id),
    name          text NOT NULL,
    score         bigint NOT NULL,
    prize         bigint NOT NULL CHECK (prize >= 0),
    PRIMARY KEY (tournament_id, rank),
    UNIQUE (tournament_id, player_id)
);

CREATE TRIGGER tournament_closings_append_only BEFORE UPDATE OR DELETE ON tournament_closings
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER tournament_results_append_only BEFORE UPDATE OR DELETE ON tournament_results
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Move a tournament along one edge of the state machine (roomserver/lifecycle.py decides which);
-- false when its status is no longer `p_from` (another node moved it first).
CREATE FUNCTION move_tournament(p_tournament_id text, p_from text, p_to text) RETURNS boolean
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
            'room.tournament.started', p_tournament_id, NULL, 'start:' || p_tournament_id,
            jsonb_build_object('status', 'running', 'server_seed_hash', v_t.server_seed_hash,
                               'starts_at', v_t.starts_at, 'ends_at', v_t.ends_at,
                               'registered', v_t.registered_count));
    END IF;
    RETURN true;
END
$$;

-- Waits for the tournament's in-flight spins: each spin locks its player's chip account before it
-- reads the status, so once we hold every chip account, no spin of this tournament is running
-- and every later one sees the new status.
CREATE FUNCTION quiesce_tournament(p_tournament_id text) RETURNS void
LANGUAGE sql AS $$
    SELECT count(*) FROM (
        SELECT 1 FROM accounts a
         WHERE a.kind = 'player_chips' AND a.scope = p_tournament_id
         ORDER BY a.account_id FOR UPDATE) locked
$$;

-- Complete a tournament that is `completing`: final standings by score (ties to whoever reached
-- the score first), prizes from the prize pool to the winners' cash in ONE ledger transaction
-- (the house covers a guarantee above the pool and keeps what the pool holds beyond the prizes),
-- the seed revealed, the events written. Once only: a second call returns the stored response.
CREATE FUNCTION complete_tournament(p_tournament_id text)
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
        v_tx := post_transaction('prizes', 'prizes:' || p_tournament_id, v_accounts, v_amounts);
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
            'prizes:' || p_tournament_id,
            jsonb_build_object('rank', v_winner.rank, 'amount', v_winner.prize,
                               'currency', v_t.currency));
    END LOOP;
    PERFORM emit_event('room.tournament.completed', p_tournament_id, NULL,
                       'prizes:' || p_tournament_id, v_response);
    RETURN QUERY SELECT 'OK'::text, v_response;
END
$$;

-- Cancel a scheduled or running tournament: every registered player's buy-in back from the prize
-- pool to their cash in ONE ledger transaction (what the pool keeps from earlier partial
-- hop-off refunds goes to the house). Once only: a second call returns the stored response.
CREATE FUNCTION cancel_tournament(p_tournament_id text)
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
        v_tx := post_transaction('cancel', 'cancel:' || p_tournament_id, v_accounts, v_amounts);
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
                       'cancel:' || p_tournament_id, v_response);
    RETURN QUERY SELECT 'OK'::text, v_response;
END
$$;

-- ---------------------------------------------------------------- responsible gaming

-- Per-player limits set through the side API; the stricter of these and the token's claims holds.
ALTER TABLE players ADD COLUMN loss_limit bigint CHECK (loss_limit >= 0);
ALTER TABLE players ADD COLUMN session_limit_min integer CHECK (session_limit_min > 0);

-- A playing session (one token, or one connection without a token id): when it began and what
-- the player has lost in it. Written only for players with a loss or session-time limit.
CREATE TABLE rg_sessions (
    player_id   text NOT NULL REFERENCES players (player_id),
    session_key text NOT NULL,
    started_at  timestamptz NOT NULL,
    net_loss    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (player_id, session_key)
);

-- Whether the player is self-excluded, by the token's claim (`p_rg`) or the per-player flag.
CREATE FUNCTION rg_self_excluded(p_player_id text, p_rg jsonb) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce((p_rg ->> 'self_excluded')::boolean, false)
        OR coalesce((SELECT pl.self_excluded FROM players pl WHERE pl.player_id = p_player_id),
                    false)
$$;

-- Whether a debit of `p_stake` fits the player's loss and session-time limits; when it does, it
-- is counted into the session. `p_rg` carries the token's claims (loss_limit,
-- session_limit_min) and the session (session_key, session_started_at). Refusing writes nothing.
CREATE FUNCTION rg_limits_admit(p_player_id text, p_rg jsonb, p_stake bigint, p_win bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_player players%ROWTYPE;
    v_loss_limit bigint;
    v_session_limit integer;
    v_key text := coalesce(p_rg ->> 'session_key', 'none');
    v_started timestamptz;
    v_net_loss bigint;
BEGIN
    SELECT * INTO v_player FROM players pl WHERE pl.player_id = p_player_id;
    -- least() skips NULLs: the stricter of claim and setting, or whichever exists.
    v_loss_limit := least((p_rg ->> 'loss_limit')::bigint, v_player.loss_limit);
    v_session_limit := least((p_rg ->> 'session_limit_min')::integer, v_player.session_limit_min);
    IF v_loss_limit IS NULL AND v_session_limit IS NULL THEN
        RETURN true;
    END IF;
    -- One player's debits in several tournaments at once are counted one after the other.
    PERFORM lock_business_id('rg', p_player_id);
    SELECT s.started_at, s.net_loss INTO v_started, v_net_loss FROM rg_sessions s
     WHERE s.player_id = p_player_id AND s.session_key = v_key;
    IF NOT FOUND THEN
        v_started := coalesce((p_rg ->> 'session_started_at')::timestamptz, clock_timestamp());
        v_net_loss := 0;
    END IF;
    IF v_session_limit IS NOT NULL
       AND clock_timestamp() >= v_started + make_interval(mins => v_session_limit) THEN
        RETURN false;
    END IF;
    -- The stake is what may be lost; the (already drawn) win must not decide admission.
    IF v_loss_limit IS NOT NULL AND v_net_loss + p_stake > v_loss_limit THEN
        RETURN false;
    END IF;
    INSERT INTO rg_sessions (player_id, session_key, started_at, net_loss)
    VALUES (p_player_id, v_key, v_started, p_stake - p_win)
    ON CONFLICT (player_id, session_key)
    DO UPDATE SET net_loss = rg_sessions.net_loss + EXCLUDED.net_loss;
    RETURN true;
END
$$;

-- The spin now takes the token's RG claims as one jsonb (was a boolean) and checks the RG limits last.
DROP FUNCTION place_spin(text, text, text, bytea, boolean, uuid, uuid, bigint, bigint, text,
                         bigint, text, jsonb);
CREATE FUNCTION place_spin(
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
