-- Live appraisal rooms (直播鉴宝, docs/live.md): the room and its durable state. Everything a
-- node's room actor holds is cheap to lose; what must survive a killed node is here.
CREATE TABLE live_rooms (
    id             BIGSERIAL PRIMARY KEY,
    host_id        BIGINT NOT NULL REFERENCES users(id),
    title          TEXT NOT NULL,
    category       TEXT NOT NULL,
    cover_media_id TEXT,
    -- scheduled | live | paused | ended
    status         TEXT NOT NULL,
    scheduled_at   BIGINT,
    created_at     BIGINT NOT NULL,
    started_at     BIGINT,
    ended_at       BIGINT,
    -- A moderator's hide (room.moderate): the room is off the list and refuses joins.
    hidden_at      BIGINT,
    pinned         TEXT,
    -- The last numbered event (room.comment, room.pinned, …): taken in the transaction that
    -- writes the events, so numbers have no gaps across nodes.
    last_seq       BIGINT NOT NULL DEFAULT 0,
    like_count     BIGINT NOT NULL DEFAULT 0,
    -- The latest sum of every node's members (live_room_nodes), for the list's order.
    viewer_count   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX live_rooms_on_air ON live_rooms (status, viewer_count, id);
CREATE INDEX live_rooms_by_host ON live_rooms (host_id, id);

-- Numbered events kept for recovery and, for comments, for reports, moderation and the export.
-- kind: comment | comment_removed | pinned | status. user_id: a comment's author.
CREATE TABLE live_events (
    room_id    BIGINT NOT NULL REFERENCES live_rooms(id),
    seq        BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    user_id    BIGINT REFERENCES users(id),
    client_id  TEXT,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- A comment the host or a helper removed: gone from screens and join replies.
    removed_at BIGINT,
    PRIMARY KEY (room_id, seq)
);
CREATE UNIQUE INDEX live_events_by_client ON live_events (room_id, user_id, client_id);
CREATE INDEX live_events_by_user ON live_events (user_id);

-- Each node's member count per room, written once a second by the node's room actor; the
-- room's viewers are the sum of fresh rows.
CREATE TABLE live_room_nodes (
    room_id    BIGINT NOT NULL REFERENCES live_rooms(id),
    node_id    TEXT NOT NULL,
    viewers    BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL,
    PRIMARY KEY (room_id, node_id)
);

-- The host's 场控 (helpers): they help in every room of the host.
CREATE TABLE live_helpers (
    host_id    BIGINT NOT NULL REFERENCES users(id),
    user_id    BIGINT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (host_id, user_id)
);

-- A ban is the host's: never again in any of this host's rooms.
CREATE TABLE live_bans (
    host_id    BIGINT NOT NULL REFERENCES users(id),
    user_id    BIGINT NOT NULL REFERENCES users(id),
    by_id      BIGINT NOT NULL REFERENCES users(id),
    reason     TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (host_id, user_id)
);

-- Mutes and kicks are the room's, until a time.
CREATE TABLE live_restrictions (
    room_id    BIGINT NOT NULL REFERENCES live_rooms(id),
    user_id    BIGINT NOT NULL REFERENCES users(id),
    -- mute | kick
    kind       TEXT NOT NULL,
    until_at   BIGINT NOT NULL,
    by_id      BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (room_id, user_id, kind)
);

-- Every power used in a room (host, helper, moderator): who, what, on whom, why, when.
CREATE TABLE live_audit (
    id             BIGSERIAL PRIMARY KEY,
    room_id        BIGINT NOT NULL REFERENCES live_rooms(id),
    actor_id       BIGINT NOT NULL REFERENCES users(id),
    action         TEXT NOT NULL,
    target_user_id BIGINT,
    detail         TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL
);
CREATE INDEX live_audit_by_room ON live_audit (room_id, id);
