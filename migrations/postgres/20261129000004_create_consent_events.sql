-- The consent ledger (policy: 权限/同意): append-only; a permission's current state is its
-- latest row for the user. Nothing is updated in place.
CREATE TABLE consent_events (
    id             BIGSERIAL PRIMARY KEY,
    user_id        BIGINT NOT NULL REFERENCES users(id),
    permission     TEXT NOT NULL,
    granted        BIGINT NOT NULL,
    policy_version TEXT NOT NULL,
    actor          TEXT NOT NULL,
    device         TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX consent_events_by_user ON consent_events (user_id, id);
