-- The pictures or video a queue item comes with (a post's, a reported post's): a JSON array of
-- media ids the console shows beside the text, so that a moderator judges the post as its
-- readers would see it.
ALTER TABLE moderation_items ADD COLUMN media TEXT NOT NULL DEFAULT '[]';
