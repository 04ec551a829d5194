-- Trigger on bet_resolutions: a settled or rolled-back hold becomes an outbox event.
CREATE OR REPLACE FUNCTION emit_bet_resolution() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_hold bet_holds%ROWTYPE;
BEGIN
    SELECT * INTO v_hold FROM bet_holds h WHERE h.agent_id = NEW.agent_id AND h.bet_id = NEW.bet_id;
    PERFORM emit_event(
        CASE NEW.kind WHEN 'settle' THEN 'bet.settled' ELSE 'bet.rolled_back' END,
        NULL, v_hold.player_id, ledger_key('bet_' || NEW.kind, NEW.agent_id, NEW.bet_id),
        jsonb_build_object('style', 'hold', 'agent_id', NEW.agent_id, 'bet_id', NEW.bet_id,
                           'hold_id', v_hold.hold_id, 'round_id', v_hold.round_id,
                           'amount', v_hold.amount, 'win', NEW.win,
                           'currency', v_hold.currency));
    RETURN NULL;
END
$$;
