-- Whether a debit of `p_stake` fits the player's loss and session-time limits; when it does, it
-- is counted into the session. `p_rg` carries the token's claims (loss_limit,
-- session_limit_min) and the session (session_key, session_started_at). Refusing writes nothing.
CREATE OR REPLACE FUNCTION rg_limits_admit(p_player_id text, p_rg jsonb, p_stake bigint, p_win bigint)
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
