-- Apply a result (a delta, or an absolute score) once per result_id.
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
