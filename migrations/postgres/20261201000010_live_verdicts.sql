-- Appraisal verdicts (鉴定结果, docs/live.md "Verdicts"): what the appraiser concluded of the
-- buyer's item in a call. Numbered (one public number, a version per correction; a correction
-- never overwrites), signed when read (Ed25519, derived from the row like consent receipts).
CREATE TABLE live_verdicts (
    id              BIGSERIAL PRIMARY KEY,
    number          TEXT NOT NULL,
    version         BIGINT NOT NULL,
    call_id         BIGINT NOT NULL REFERENCES live_calls(id),
    room_id         BIGINT NOT NULL REFERENCES live_rooms(id),
    appraiser_id    BIGINT REFERENCES users(id),
    -- The appraiser's public name when issued: part of the signed record.
    appraiser_name  TEXT NOT NULL,
    buyer_id        BIGINT REFERENCES users(id),
    item_type       TEXT NOT NULL,
    material        TEXT NOT NULL,
    -- natural | treated | imitation | undetermined
    conclusion      TEXT NOT NULL,
    grade           TEXT,
    notes           TEXT,
    price_low       BIGINT,
    price_high      BIGINT,
    -- JSON array of media ids (the appraiser's snapshots).
    snapshots       TEXT NOT NULL,
    correction      TEXT,
    issued_at       BIGINT NOT NULL,
    superseded_at   BIGINT,
    -- When a party's account was erased: the record is kept de-identified for the legal
    -- retention period (DUOXIE_PRIVACY_LEGAL_RETENTION_MS) from then, then deleted.
    deidentified_at BIGINT
);
CREATE UNIQUE INDEX live_verdicts_by_number ON live_verdicts (number, version);
CREATE INDEX live_verdicts_by_call ON live_verdicts (call_id);
CREATE INDEX live_verdicts_by_buyer ON live_verdicts (buyer_id);
CREATE INDEX live_verdicts_by_appraiser ON live_verdicts (appraiser_id);
