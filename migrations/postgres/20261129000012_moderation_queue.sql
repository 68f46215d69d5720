-- The moderation queue (policy: 审核): content a rule could not decide waits here for a person.
-- A moderator claims an item for a lease (claimed_by, claim_expires_at); a lease that runs out
-- returns it to the queue. `content` is what the moderator sees (the proposed nickname or
-- introduction, a media id); `reasons` is a JSON array of what the rules found.
CREATE TABLE moderation_items (
    id               BIGSERIAL PRIMARY KEY,
    kind             TEXT NOT NULL,
    subject_id       BIGINT NOT NULL REFERENCES users(id),
    content_ref      TEXT NOT NULL,
    content          TEXT NOT NULL,
    reasons          TEXT NOT NULL,
    priority         BIGINT NOT NULL,
    state            TEXT NOT NULL,
    claimed_by       BIGINT,
    claim_expires_at BIGINT,
    decision         TEXT,
    decided_by       BIGINT,
    decision_reason  TEXT,
    decided_at       BIGINT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX moderation_items_queue ON moderation_items (state, priority, id);
CREATE INDEX moderation_items_by_subject ON moderation_items (subject_id, id);

-- Every decision and action: who, what, when, why.
CREATE TABLE moderation_audit (
    id             BIGSERIAL PRIMARY KEY,
    actor_id       BIGINT NOT NULL REFERENCES users(id),
    action         TEXT NOT NULL,
    item_id        BIGINT,
    target_user_id BIGINT,
    reason         TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX moderation_audit_by_time ON moderation_audit (created_at);

-- Perceptual hashes of pictures refused on sight, near-duplicates included.
CREATE TABLE media_hash_blocklist (
    phash      TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
