-- The moderation decision that took a message down: the client shows the appeal on the
-- removed message itself, also after a reload, for as long as the appeal window lasts.
ALTER TABLE messages ADD COLUMN removed_item_id BIGINT;
