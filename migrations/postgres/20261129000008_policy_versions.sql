-- Published privacy-policy versions; the latest is in force. A node publishes its
-- DUOXIE_POLICY_VERSION at start if it is new (`duoxie admin publish-policy` does the same), and
-- every node notices a new one within DUOXIE_POLICY_POLL_MS and tells its connected clients.
CREATE TABLE policy_versions (
    id           BIGSERIAL PRIMARY KEY,
    version      TEXT NOT NULL UNIQUE,
    published_at BIGINT NOT NULL
);
