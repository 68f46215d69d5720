-- Reports and appeals join the moderation queue: who reported (kept from the reported user),
-- and for an appeal the rejected item it contests (content_ref holds its id).
ALTER TABLE moderation_items ADD COLUMN reporter_id INTEGER REFERENCES users(id);
