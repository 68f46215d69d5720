-- Minors (policy: 未成年人). An account declares a birth date (YYYY-MM-DD, compared as text)
-- or an age bracket; until it does, and while it is under 14 without a guardian's verified
-- consent, it is restricted.
ALTER TABLE users ADD COLUMN birth_date TEXT;
ALTER TABLE users ADD COLUMN age_bracket TEXT;
ALTER TABLE users ADD COLUMN age_declared_at INTEGER;

-- One pending guardian verification per child: a code sent to the guardian's own phone.
CREATE TABLE guardian_codes (
    child_id        INTEGER PRIMARY KEY REFERENCES users(id),
    guardian_lookup TEXT NOT NULL,
    guardian_sealed TEXT NOT NULL,
    code_hash       TEXT NOT NULL,
    sent_at         INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    attempts_left   INTEGER NOT NULL
);

-- Append-only, like the consent ledger: verified, withdrawn, deletion_requested. The latest
-- row is the current state. The guardian is identified by their phone (keyed hash, sealed).
CREATE TABLE guardian_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    child_id        INTEGER NOT NULL REFERENCES users(id),
    guardian_lookup TEXT NOT NULL,
    guardian_sealed TEXT NOT NULL,
    action          TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX guardian_events_by_child ON guardian_events (child_id, id);
CREATE INDEX guardian_events_by_guardian ON guardian_events (guardian_lookup, id);
