-- Rebinding the phone number (policy: 更正): one pending change per account, proven by a code
-- sent to the old number and one sent to the new number. The new number is kept only as its
-- keyed hash and seal, like users.phone_*.
CREATE TABLE phone_change_codes (
    user_id       INTEGER PRIMARY KEY REFERENCES users(id),
    new_lookup    TEXT NOT NULL,
    new_sealed    TEXT NOT NULL,
    old_code_hash TEXT NOT NULL,
    new_code_hash TEXT NOT NULL,
    sent_at       INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    attempts_left INTEGER NOT NULL
);
