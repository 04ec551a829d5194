-- Events that follow from rows other functions write: a trigger puts them in the same
-- transaction without each writer having to remember.
CREATE OR REPLACE FUNCTION emit_player_registered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event(
        'tournament.player.registered', NEW.tournament_id, NEW.player_id, NULL,
        (SELECT jsonb_build_object('buy_in', t.buy_in, 'currency', t.currency,
                                   'chips', t.starting_chips)
           FROM tournaments t WHERE t.tournament_id = NEW.tournament_id));
    RETURN NULL;
END
$$;
