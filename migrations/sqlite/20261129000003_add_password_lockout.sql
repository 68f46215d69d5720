-- Wrong-password counting per account: after too many, password login is locked for a while
-- (login by phone code still works and clears the lock).
ALTER TABLE users ADD COLUMN failed_password_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN password_locked_until INTEGER;
