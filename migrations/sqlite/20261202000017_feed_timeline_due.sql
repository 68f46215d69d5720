-- Follows a reader made that their timeline may not show yet: a follow counts one up in its
-- transaction, the rebuild after it counts it back to 0 once written. Still above 0 (the
-- timeline store, Redis, was down, or the node died in between), the reader's next first
-- page rebuilds the timeline, so a timeline marked complete never hides a followed author.
ALTER TABLE feed_readers ADD COLUMN timeline_due INTEGER NOT NULL DEFAULT 0;
