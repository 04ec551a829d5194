-- Outbox retention and backlog metrics (roomserver/events/retention.py).
--
-- Published rows used to stay forever; each node's retention job now deletes those published
-- more than `events.retention_s` ago, a bounded batch at a time, and the metrics count what is
-- pending and dead. Both must stay cheap however large the table is:
--
-- - outbox_published: the purge finds the rows published before its cutoff by a range scan
--   here, so a round that finds nothing old enough reads one index page, not the whole table.
--   Published rows are never updated again, and new keys are appended at the right edge.
-- - outbox_dead: the dead-letter count reads this small index, never the table (dead rows
--   are rare and are never purged).
--
-- The pending count and the oldest pending event use outbox_pending (0003).
--
-- Building an index reads the whole table while outbox inserts (and so spins) wait. On a
-- database already holding a large backlog of published rows, create both indexes by hand
-- beforehand with CREATE INDEX CONCURRENTLY and these exact definitions; IF NOT EXISTS then
-- skips them here.

CREATE INDEX IF NOT EXISTS outbox_published ON outbox (published_at) WHERE state = 'published';
CREATE INDEX IF NOT EXISTS outbox_dead ON outbox (seq) WHERE state = 'dead';

-- Nothing runs ANALYZE where autovacuum is off: one look at the table as it is now (perhaps a
-- large backlog of published rows, all of them older than the retention) lets the planner walk
-- outbox_published for the first purges instead of collecting every old row for each batch.
ANALYZE outbox;
