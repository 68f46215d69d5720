-- Uploaded media (policy: 审核, 个人信息的保存). The stored file and its thumbnails are
-- content-addressed blobs (SHA-256 of the sanitised bytes) in the blob store; the id is a
-- random 128-bit handle, so ids cannot be enumerated. `status`: approved (screening passed),
-- in_review (waiting for a moderator), rejected.
CREATE TABLE media (
    id           TEXT PRIMARY KEY,
    owner_id     BIGINT NOT NULL REFERENCES users(id),
    purpose      TEXT NOT NULL,
    source       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    format       TEXT NOT NULL,
    blob         TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    byte_size    BIGINT NOT NULL,
    width        BIGINT,
    height       BIGINT,
    phash        TEXT,
    thumbnails   TEXT NOT NULL,
    status       TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX media_by_owner ON media (owner_id, created_at);
CREATE INDEX media_by_blob ON media (blob);
