-- Who asked for a pending deletion: `user` (a login during the cooling-off period cancels it),
-- `guardian` or `under_14` (found without guardian consent): those a login does not cancel.
ALTER TABLE users ADD COLUMN deletion_reason TEXT;
