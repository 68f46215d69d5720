-- Whether a reader's timeline (feed_home) holds every post of those they follow, big authors
-- aside, down to the oldest: set by a rebuild that found fewer posts than DUOXIE_FEED_HOME_MAX,
-- cleared by a trim that dropped rows. A page the timeline cannot fill then ends there instead
-- of reading the followed authors' posts. (Redis timelines keep the same mark as a member.)
ALTER TABLE feed_readers ADD COLUMN timeline_complete INTEGER NOT NULL DEFAULT 0;
