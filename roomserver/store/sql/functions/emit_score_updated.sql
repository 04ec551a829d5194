-- Trigger on tournament_players: a changed score becomes a player.score.updated event.
CREATE OR REPLACE FUNCTION emit_score_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event(
        'player.score.updated', NEW.tournament_id, NEW.player_id, NULL,
        jsonb_build_object('score', NEW.score, 'previous_score', OLD.score,
                           'reached_at', NEW.score_reached_at,
                           'version', NEW.spins + NEW.results));
    RETURN NULL;
END
$$;
