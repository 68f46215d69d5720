-- Moderators' actions on users: a warning, a mute (no chat until `until`), a suspension
-- (sockets closed on every node, tokens and logins refused until `until`, or until lifted
-- when `until` is NULL). Lifting sets `lifted_at`; nothing is deleted.
CREATE TABLE user_sanctions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    kind       TEXT NOT NULL,
    until      INTEGER,
    reason     TEXT NOT NULL,
    created_by INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    lifted_at  INTEGER,
    lifted_by  INTEGER
);
CREATE INDEX user_sanctions_by_user ON user_sanctions (user_id, kind);
