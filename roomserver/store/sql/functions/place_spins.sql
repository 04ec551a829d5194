-- Several spins in one round trip and one transaction, each placed by place_spin on its own:
-- a refused spin returns its status and never fails its neighbours, and a key that comes twice
-- is placed once and replayed the second time (the second call sees the first's spin record).
-- One row per spin, `ordinal` its position (1-based) in the arrays. The caller orders the spins
-- by tournament and player, so that concurrent batches take the chip locks in one order.
CREATE OR REPLACE FUNCTION place_spins(
    p_tournament_ids text[],
    p_player_ids text[],
    p_idempotency_keys text[],
    p_request_hashes bytea[],
    p_rgs jsonb[],
    p_spin_ids uuid[],
    p_round_ids uuid[],
    p_stakes bigint[],
    p_wins bigint[],
    p_client_seeds text[],
    p_nonces bigint[],
    p_math_versions text[],
    p_responses jsonb[]
) RETURNS TABLE (ordinal integer, status text, response jsonb, score_reached_at timestamptz,
                 spins bigint)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(cardinality(p_player_ids), 0) LOOP
        RETURN QUERY
        SELECT i, s.status, s.response, s.score_reached_at, s.spins
          FROM place_spin(p_tournament_ids[i], p_player_ids[i], p_idempotency_keys[i],
                          p_request_hashes[i], p_rgs[i], p_spin_ids[i], p_round_ids[i],
                          p_stakes[i], p_wins[i], p_client_seeds[i], p_nonces[i],
                          p_math_versions[i], p_responses[i]) AS s;
    END LOOP;
END
$$;
