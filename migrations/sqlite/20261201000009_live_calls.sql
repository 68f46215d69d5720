-- Appraisal calls (连线鉴定, docs/live.md "Appraisal calls"): a room's queue and its calls.

-- A buyer's turn in a room's queue. status: waiting | called | done | left | skipped | missed |
-- declined | removed. place orders the waiting entries (first come, first served; a host's
-- move, with its reason, renumbers them).
CREATE TABLE live_queue (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id     INTEGER NOT NULL REFERENCES live_rooms(id),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    description TEXT NOT NULL,
    -- JSON array of media ids (the buyer's own screened pictures).
    photos      TEXT NOT NULL,
    status      TEXT NOT NULL,
    place       INTEGER NOT NULL,
    -- Why the host skipped or moved it, shown to the buyer.
    reason      TEXT,
    joined_at   INTEGER NOT NULL,
    changed_at  INTEGER NOT NULL
);
CREATE INDEX live_queue_by_room ON live_queue (room_id, status, place);
CREATE INDEX live_queue_by_user ON live_queue (user_id);

-- A call between the host and one buyer: the record of who, when, how long and how it ended.
-- state: ringing | connected | ended. Each party's device is a bus connection (node, conn),
-- kept alive by its node every tick (seen_at); a party gone longer than the grace period ends
-- the call. host_id / guest_id are NULL once that account is erased (the record stays
-- de-identified).
CREATE TABLE live_calls (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id       INTEGER NOT NULL REFERENCES live_rooms(id),
    entry_id      INTEGER REFERENCES live_queue(id),
    host_id       INTEGER REFERENCES users(id),
    guest_id      INTEGER REFERENCES users(id),
    state         TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    photos        TEXT NOT NULL DEFAULT '[]',
    host_node     INTEGER,
    host_conn     INTEGER,
    host_seen_at  INTEGER,
    host_away     INTEGER NOT NULL DEFAULT 0,
    guest_node    INTEGER,
    guest_conn    INTEGER,
    guest_seen_at INTEGER,
    guest_away    INTEGER NOT NULL DEFAULT 0,
    called_at     INTEGER NOT NULL,
    answer_by     INTEGER NOT NULL,
    answered_at   INTEGER,
    ended_at      INTEGER,
    end_reason    TEXT,
    ended_by      INTEGER
);
-- At most one call not ended per room, whatever the number of nodes: the second insert fails.
CREATE UNIQUE INDEX live_calls_one_open ON live_calls (room_id) WHERE ended_at IS NULL;
CREATE INDEX live_calls_by_host ON live_calls (host_id, id);
CREATE INDEX live_calls_by_guest ON live_calls (guest_id, id);
