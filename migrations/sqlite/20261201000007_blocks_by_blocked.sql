-- Who blocks a user is asked on every presence announcement, conversation list, search and
-- chat send batch (blocks against the senders): by the blocked side, which the primary key
-- (blocker_id, blocked_id) does not serve.
CREATE INDEX blocks_by_blocked ON blocks (blocked_id, blocker_id);
