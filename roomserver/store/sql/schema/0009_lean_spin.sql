-- A spin that costs PostgreSQL about what a TPC-B transaction costs (see place_spin).
--
-- A foreign key checks each new row with a query that takes a KEY SHARE lock on the row it
-- points to. Every spin's entries pointed to the tournament's one house account and every spin
-- to its one tournament row, so concurrent spins kept turning those locks into multixacts, and
-- the checks ran once per row. What those keys guarded stays guarded, for every writer:
-- - an entry's account and ledger transaction must exist: the entries trigger (post_entries)
--   checks every row of an INSERT at once; accounts can no longer be deleted (ledger
--   transactions never could), so what existed at the insert goes on existing;
-- - a spin's tournament: place_spin, the one writer of spins, has just read it under the
--   player's chip lock. The spin's player and ledger transaction keep their keys (rows no other
--   transaction locks, so the checks stay cheap).
ALTER TABLE entries
    DROP CONSTRAINT entries_tx_id_fkey,
    DROP CONSTRAINT entries_account_id_fkey;
ALTER TABLE spins DROP CONSTRAINT spins_tournament_id_fkey;

CREATE TRIGGER accounts_never_deleted BEFORE DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
