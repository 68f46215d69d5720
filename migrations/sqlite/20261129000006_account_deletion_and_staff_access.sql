-- Account deletion (policy: 注销): a request starts a cooling-off period (logging in cancels
-- it); when it ends the retention job erases the account and sets `deleted_at`. The row stays,
-- anonymised, so that messages already delivered keep a (deleted) sender.
ALTER TABLE users ADD COLUMN deletion_requested_at INTEGER;
ALTER TABLE users ADD COLUMN deletion_due_at INTEGER;
ALTER TABLE users ADD COLUMN deleted_at INTEGER;
CREATE INDEX users_by_deletion_due ON users (deletion_due_at);

-- Every read of another user's personal data by staff (policy: 个人信息的访问): who, whose,
-- what, why, when. Shown to the subject in their export; purged after the log retention.
CREATE TABLE staff_access_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    staff_id   INTEGER NOT NULL REFERENCES users(id),
    subject_id INTEGER NOT NULL REFERENCES users(id),
    what       TEXT NOT NULL,
    why        TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX staff_access_by_subject ON staff_access_log (subject_id, id);
CREATE INDEX staff_access_by_time ON staff_access_log (created_at);
