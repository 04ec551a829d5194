-- The chips of a registered player, NULL when the player is not registered.
CREATE OR REPLACE FUNCTION registered_chips(p_tournament_id text, p_player_id text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT a.balance FROM accounts a
              JOIN tournament_players tp ON tp.tournament_id = a.scope AND tp.player_id = a.owner_id
             WHERE a.kind = 'player_chips' AND a.owner_id = p_player_id
               AND a.scope = p_tournament_id);
END
$$;
