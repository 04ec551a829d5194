-- Trigger on wallet_rollbacks: a rolled-back agent-style bet becomes a bet.rolled_back event.
CREATE OR REPLACE FUNCTION emit_wallet_rollback() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_bet wallet_bets%ROWTYPE;
BEGIN
    SELECT * INTO v_bet FROM wallet_bets b
     WHERE b.agent_id = NEW.agent_id AND b.transaction_id = NEW.transaction_id;
    PERFORM emit_event(
        'bet.rolled_back', NULL, v_bet.player_id,
        ledger_key('wallet_rollback', NEW.agent_id, NEW.transaction_id),
        jsonb_build_object('style', 'make_bet', 'agent_id', NEW.agent_id,
                           'transaction_id', NEW.transaction_id,
                           'rollback_transaction_id', NEW.rollback_transaction_id,
                           'round_id', v_bet.round_id, 'amount', v_bet.bet,
                           'currency', v_bet.currency));
    RETURN NULL;
END
$$;
