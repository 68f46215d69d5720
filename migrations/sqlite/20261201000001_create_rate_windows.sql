-- Fixed-window counters shared by every node (per client IP, per destination phone, global,
-- per user): the limits on paid SMS codes, logins and uploads. Keys never hold a raw phone
-- number or token, only keyed hashes.
CREATE TABLE rate_windows (
    key          TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    hits         INTEGER NOT NULL
);
CREATE INDEX rate_windows_by_start ON rate_windows (window_start);
