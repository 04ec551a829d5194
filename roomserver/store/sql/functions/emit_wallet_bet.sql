-- Trigger on wallet_bets: a settled agent-style bet becomes a bet.settled event.
CREATE OR REPLACE FUNCTION emit_wallet_bet() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event(
        'bet.settled', NULL, NEW.player_id,
        ledger_key('wallet_bet', NEW.agent_id, NEW.transaction_id),
        jsonb_build_object('style', 'make_bet', 'agent_id', NEW.agent_id,
                           'transaction_id', NEW.transaction_id, 'round_id', NEW.round_id,
                           'bet', NEW.bet, 'win', NEW.win, 'currency', NEW.currency,
                           'game_id', NEW.game_id));
    RETURN NULL;
END
$$;
