-- Pictures are compared by PDQ (256 bits) of the whole picture and of centre crops, with a
-- colour signature (src/media/fingerprint.rs); the 64-bit dHash told product shots apart too
-- poorly. `media.phash` stays only to find the pictures of blocklist entries made before.
ALTER TABLE media ADD COLUMN fingerprint TEXT;
ALTER TABLE media ADD COLUMN fingerprint_version TEXT;

-- Pictures refused on sight. `algorithm` and `version` say what made the hash: entries of
-- another version are rehashed from their picture, never compared with current ones.
CREATE TABLE picture_blocklist (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    algorithm   TEXT NOT NULL,
    version     TEXT NOT NULL,
    -- The whole picture's PDQ, 64 hex digits: the form other platforms exchange.
    pdq         TEXT NOT NULL,
    quality     INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    media_id    TEXT,
    reason      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (version, pdq)
);
