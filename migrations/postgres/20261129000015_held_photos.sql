-- Chat photos waiting for a moderator (policy: 审核): the message does not exist until the
-- photo is approved, then it is sent as any other (its seq taken then); a rejection drops it.
CREATE TABLE held_photos (
    media_id        TEXT NOT NULL,
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    sender_id       BIGINT NOT NULL REFERENCES users(id),
    client_id       TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, sender_id, client_id)
);
CREATE INDEX held_photos_by_media ON held_photos (media_id);
