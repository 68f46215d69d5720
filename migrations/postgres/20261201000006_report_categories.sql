-- A report names its kind of wrong (假货 fake_goods, 诈骗 fraud, 骚扰 harassment, 站外交易
-- off_platform, 其他 other); NULL for items that are not reports.
ALTER TABLE moderation_items ADD COLUMN category TEXT;
