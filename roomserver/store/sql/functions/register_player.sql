-- Register a player in a tournament: buy-in from cash to the prize pool, starting chips issued
-- by the house. Idempotent: a registered player gets 'ALREADY'.
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
