-- Lifecycle moves still to be announced in their rooms.
--
-- A row is written in the transaction that moves the tournament (move_tournament to 'running',
-- complete_tournament, cancel_tournament), so a node that dies after the commit cannot lose the
-- announcement: any node's announcer claims the row (FOR UPDATE SKIP LOCKED), publishes the frame
-- to the room through the broker with the row's id as its idempotency key (published once even
-- if a node dies between publishing and deleting), and deletes the row.

CREATE TABLE room_announcements (
    announcement_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tournament_id   text NOT NULL REFERENCES tournaments (tournament_id),
    status          text NOT NULL CHECK (status IN ('running', 'completed', 'cancelled')),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
