-- Move a tournament along one edge of the state machine (roomserver/lifecycle.py decides which);
-- false when its status is no longer `p_from` (another node moved it first).
CREATE OR REPLACE FUNCTION move_tournament(p_tournament_id text, p_from text, p_to text) RETURNS boolean
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
        INSERT INTO room_announcements (tournament_id, status) VALUES (p_tournament_id, 'running');
        PERFORM emit_event(
            'room.tournament.started', p_tournament_id, NULL, ledger_key('start', p_tournament_id),
            jsonb_build_object('status', 'running', 'server_seed_hash', v_t.server_seed_hash,
                               'starts_at', v_t.starts_at, 'ends_at', v_t.ends_at,
                               'registered', v_t.registered_count));
    END IF;
    RETURN true;
END
$$;
