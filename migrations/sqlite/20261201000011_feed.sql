-- The show-off community (晒宝社区, docs/feed.md): posts, follows, home timelines filled by
-- fan-out on write, the fan-out jobs that survive a killed node, likes.

-- status: screening (a rule held it for a person) | published | rejected | deleted.
CREATE TABLE feed_posts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    author_id     INTEGER NOT NULL REFERENCES users(id),
    text          TEXT NOT NULL,
    -- JSON array of media ids (up to 9 pictures, or one video).
    media         TEXT NOT NULL,
    category      TEXT NOT NULL,
    -- JSON array of tags.
    tags          TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    published_at  INTEGER,
    edited_at     INTEGER,
    deleted_at    INTEGER,
    like_count    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX feed_posts_by_author ON feed_posts (author_id, status, published_at, id);

CREATE TABLE feed_follows (
    follower_id INTEGER NOT NULL REFERENCES users(id),
    followee_id INTEGER NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX feed_follows_by_followee ON feed_follows (followee_id, follower_id);

-- Per user: follower and following counts (kept in the follow's transaction, so that the
-- fan-out's big-author threshold and the profile read no COUNT), and the choice to hide
-- whom one follows and who follows one.
CREATE TABLE feed_profiles (
    user_id        INTEGER PRIMARY KEY REFERENCES users(id),
    followers      INTEGER NOT NULL DEFAULT 0,
    following      INTEGER NOT NULL DEFAULT 0,
    follows_hidden INTEGER NOT NULL DEFAULT 0
);

-- Home timelines: one row per (reader, post), written by fan-out, read newest first by
-- (published_at, post_id), trimmed to DUOXIE_FEED_HOME_MAX per reader.
CREATE TABLE feed_home (
    user_id      INTEGER NOT NULL REFERENCES users(id),
    post_id      INTEGER NOT NULL REFERENCES feed_posts(id),
    author_id    INTEGER NOT NULL,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, post_id)
);
CREATE INDEX feed_home_page ON feed_home (user_id, published_at, post_id);
CREATE INDEX feed_home_by_post ON feed_home (post_id);

-- A published post still being written into its author's followers' timelines: followers
-- with ids above `done_up_to` are still to do. Claimed with a lease, so a node killed mid-way
-- leaves the rest to the next node that claims it.
CREATE TABLE feed_fanout (
    post_id     INTEGER PRIMARY KEY REFERENCES feed_posts(id),
    author_id   INTEGER NOT NULL,
    published_at INTEGER NOT NULL,
    done_up_to  INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER,
    created_at  INTEGER NOT NULL
);

CREATE TABLE feed_likes (
    post_id    INTEGER NOT NULL REFERENCES feed_posts(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (post_id, user_id)
);
CREATE INDEX feed_likes_by_user ON feed_likes (user_id);
