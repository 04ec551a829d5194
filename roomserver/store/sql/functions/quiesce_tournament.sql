-- Waits for the tournament's in-flight spins: each spin locks its player's chip account before it
-- reads the status, so once we hold every chip account, no spin of this tournament is running
-- and every later one sees the new status.
CREATE OR REPLACE FUNCTION quiesce_tournament(p_tournament_id text) RETURNS void
LANGUAGE sql AS $$
    SELECT count(*) FROM (
        SELECT 1 FROM accounts a
         WHERE a.kind = 'player_chips' AND a.scope = p_tournament_id
         ORDER BY a.account_id FOR UPDATE) locked
$$;
