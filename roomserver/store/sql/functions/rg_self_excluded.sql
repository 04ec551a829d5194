-- Whether the player is self-excluded, by the token's claim (`p_rg`) or the per-player flag.
CREATE OR REPLACE FUNCTION rg_self_excluded(p_player_id text, p_rg jsonb) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce((p_rg ->> 'self_excluded')::boolean, false)
        OR coalesce((SELECT pl.self_excluded FROM players pl WHERE pl.player_id = p_player_id),
                    false);
END
$$;
