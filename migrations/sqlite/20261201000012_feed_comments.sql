-- Comments and replies on community posts (docs/feed.md). status: published | screening (held
-- for a moderator) | rejected | deleted (by its author or the post's author).
CREATE TABLE feed_comments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    post_id    INTEGER NOT NULL REFERENCES feed_posts(id),
    author_id  INTEGER NOT NULL REFERENCES users(id),
    -- The comment this one answers (a reply), on the same post.
    reply_to   INTEGER REFERENCES feed_comments(id),
    text       TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE INDEX feed_comments_by_post ON feed_comments (post_id, status, id);
CREATE INDEX feed_comments_by_author ON feed_comments (author_id);
ALTER TABLE feed_posts ADD COLUMN comment_count INTEGER NOT NULL DEFAULT 0;
