-- Unambiguous composite keys, and game-server results serialised with a tournament's end.
--
-- Ledger idempotency keys, the outbox's idempotency keys and advisory-lock names are built from
-- several ids. Joined with ':' they were ambiguous, since ids may contain ':' themselves: player
-- 'a:x' spinning with key 'k' took the ledger key of player 'a' spinning with key 'x:k', whose
-- spin then failed on every retry. Every such key is now built by ledger_key(), one rule for
-- all: the kind, then each part as '/' <length in characters> ':' <part>. Reading the lengths
-- left to right recovers the parts, so different parts never give the same key.
--
-- Keys written before this migration stay as they are, and stay valid: an old key is
-- '<kind>:...', a new one '<kind>/...', and kinds are [a-z_]+, so no new key can equal an old
-- one. Replays never look a ledger key up: a spin is found by (player_id, idempotency_key) in
-- spins, a registration in tournament_players, a hop-off in hop_offs, a wallet bet, rollback or
-- hold by its own table's primary key, a closing in tournament_closings. A request committed
-- before the upgrade therefore replays after it, and a registration or hop-off generation
-- started before it continues after it under new keys.

-- lock_business_id(namespace, id) becomes lock_business_id(kind, VARIADIC parts): its lock name
-- is a ledger_key. The functions themselves live in sql/functions/, one file each.
DROP FUNCTION lock_business_id(text, text);
