-- Moderators' actions on users: a warning, a mute (no chat until `until`), a suspension
-- (sockets closed on every node, tokens and logins refused until `until`, or until lifted
-- when `until` is NULL). Lifting sets `lifted_at`; nothing is deleted.
CREATE TABLE user_sanctions (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id),
    kind       TEXT NOT NULL,
    until      BIGINT,
    reason     TEXT NOT NULL,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    lifted_at  BIGINT,
    lifted_by  BIGINT
);
CREATE INDEX user_sanctions_by_user ON user_sanctions (user_id, kind);
