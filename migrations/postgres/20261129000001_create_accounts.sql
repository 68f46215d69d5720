-- Accounts, one-time login codes and device tokens. Times are Unix milliseconds (INTEGER) and
-- booleans 0/1 so that the same queries decode through sqlx's Any driver on both backends.
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    phone         TEXT NOT NULL UNIQUE,
    nickname      TEXT NOT NULL,
    avatar        TEXT,
    gender        TEXT NOT NULL DEFAULT 'unspecified',
    intro         TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT
);

CREATE TABLE user_roles (
    user_id    BIGINT NOT NULL REFERENCES users(id),
    role       TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, role)
);
CREATE INDEX user_roles_by_role ON user_roles (role, user_id);

CREATE TABLE login_codes (
    phone         TEXT PRIMARY KEY,
    code_hash     TEXT NOT NULL,
    sent_at       BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    attempts_left BIGINT NOT NULL
);

CREATE TABLE auth_tokens (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id),
    token_hash   TEXT NOT NULL UNIQUE,
    device       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX auth_tokens_by_user ON auth_tokens (user_id);
