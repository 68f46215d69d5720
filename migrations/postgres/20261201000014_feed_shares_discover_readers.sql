-- Shares, share codes (口令), the discover feed's index and readers' activity (docs/feed.md).

-- Who shared which post: the post's share count counts each user once.
CREATE TABLE feed_shares (
    post_id    BIGINT NOT NULL REFERENCES feed_posts(id),
    user_id    BIGINT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (post_id, user_id)
);
CREATE INDEX feed_shares_by_user ON feed_shares (user_id);
ALTER TABLE feed_posts ADD COLUMN share_count BIGINT NOT NULL DEFAULT 0;

-- A share code resolves to a post, a live room or a profile until it expires or its creator
-- revokes it. target: post | room | profile.
CREATE TABLE share_codes (
    id         BIGSERIAL PRIMARY KEY,
    code       TEXT NOT NULL UNIQUE,
    creator_id BIGINT NOT NULL REFERENCES users(id),
    target     TEXT NOT NULL,
    target_id  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX share_codes_by_creator ON share_codes (creator_id, id);

-- The discover feed reads recent published posts, in all categories or in one.
CREATE INDEX feed_posts_recent ON feed_posts (status, published_at);
CREATE INDEX feed_posts_recent_by_category ON feed_posts (category, status, published_at);

-- When each reader last read their home feed: fan-out skips readers inactive for longer than
-- DUOXIE_FEED_INACTIVE_AFTER_MS and their timeline is rebuilt when they come back.
CREATE TABLE feed_readers (
    user_id   BIGINT PRIMARY KEY REFERENCES users(id),
    active_at BIGINT NOT NULL
);
