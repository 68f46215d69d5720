-- Phone numbers at rest (policy: 个人信息的保存): `phone_lookup` holds a keyed hash
-- (HMAC-SHA256) to find an account by, `phone_sealed` the number encrypted with
-- XChaCha20-Poly1305. Rows written before this migration keep the plain number in
-- `phone_lookup` and NULL in `phone_sealed` until start-up seals them
-- (auth::seal_legacy_phones); the keys never reach the database.
ALTER TABLE users RENAME COLUMN phone TO phone_lookup;
ALTER TABLE users ADD COLUMN phone_sealed TEXT;

-- One-time codes live minutes: dropped rather than converted.
DELETE FROM login_codes;
ALTER TABLE login_codes RENAME COLUMN phone TO phone_lookup;

-- Fingerprints of the server's keys, so that a node started with another key refuses to run.
CREATE TABLE server_keys (
    name        TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
