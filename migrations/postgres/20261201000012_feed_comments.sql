-- Comments and replies on community posts (docs/feed.md). status: published | screening (held
-- for a moderator) | rejected | deleted (by its author or the post's author).
CREATE TABLE feed_comments (
    id         BIGSERIAL PRIMARY KEY,
    post_id    BIGINT NOT NULL REFERENCES feed_posts(id),
    author_id  BIGINT NOT NULL REFERENCES users(id),
    -- The comment this one answers (a reply), on the same post.
    reply_to   BIGINT REFERENCES feed_comments(id),
    text       TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX feed_comments_by_post ON feed_comments (post_id, status, id);
CREATE INDEX feed_comments_by_author ON feed_comments (author_id);
ALTER TABLE feed_posts ADD COLUMN comment_count BIGINT NOT NULL DEFAULT 0;
