-- One mechanism for every one-time code (src/codes.rs): a login code, a guardian's code, the
-- codes of a phone change. One pending code per (purpose, subject); `payload` (JSON) holds
-- what the purpose needs once the code is right, `user_id` the account it is about, if any.
CREATE TABLE one_time_codes (
    purpose       TEXT NOT NULL,
    subject       TEXT NOT NULL,
    user_id       INTEGER REFERENCES users(id),
    code_hash     TEXT NOT NULL,
    payload       TEXT NOT NULL,
    sent_at       INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    attempts_left INTEGER NOT NULL,
    PRIMARY KEY (purpose, subject)
);
CREATE INDEX one_time_codes_by_user ON one_time_codes (user_id);

-- Pending codes carry over, hashed as before.
INSERT INTO one_time_codes
    (purpose, subject, user_id, code_hash, payload, sent_at, expires_at, attempts_left)
SELECT 'login', phone_lookup, NULL, code_hash, '{}', sent_at, expires_at, attempts_left
FROM login_codes;
-- Lookups (h1:hex) and seals (x1:base64) need no JSON escaping.
INSERT INTO one_time_codes
    (purpose, subject, user_id, code_hash, payload, sent_at, expires_at, attempts_left)
SELECT 'guardian', CAST(child_id AS TEXT), child_id, code_hash,
       '{"guardian_lookup":"' || guardian_lookup || '","guardian_sealed":"' || guardian_sealed || '"}',
       sent_at, expires_at, attempts_left
FROM guardian_codes;
-- A phone change's two codes are now one hash over both, so a change pending at the upgrade
-- (ten minutes at most) starts again: its codes are refused as "no phone change is pending".

DROP TABLE login_codes;
DROP TABLE guardian_codes;
DROP TABLE phone_change_codes;
