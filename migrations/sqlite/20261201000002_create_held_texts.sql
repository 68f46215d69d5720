-- Chat texts a screening rule holds for a moderator (policy: 审核): durable, but not a
-- message until approved, when they are sent as any other (their seq taken then); a rejection
-- drops them. The moderation item's content_ref is "<conversation_id>:<client_id>".
CREATE TABLE held_texts (
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    sender_id       INTEGER NOT NULL REFERENCES users(id),
    client_id       TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, sender_id, client_id)
);
CREATE INDEX held_texts_by_sender ON held_texts (sender_id);
