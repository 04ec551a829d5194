-- Write one event. The trace id is the request's (set with set_config('roomserver.trace_id', ...,
-- true) by the caller) or a fresh one. PL/pgSQL, so that its insert is planned once per session
-- (a SQL-language function called from PL/pgSQL is parsed and planned on every call).
CREATE OR REPLACE FUNCTION emit_event(
    p_type text, p_tournament_id text, p_player_id text, p_idempotency_key text, p_payload jsonb
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (event_type, trace_id, tournament_id, player_id, idempotency_key, payload)
    VALUES (p_type,
            coalesce(nullif(current_setting('roomserver.trace_id', true), ''),
                     replace(gen_random_uuid()::text, '-', '')),
            p_tournament_id, p_player_id, p_idempotency_key, p_payload);
END
$$;
