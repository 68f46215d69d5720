-- Search of community posts in Chinese (docs/feed.md "Search"): every character bigram (and
-- every single character, for one-character queries) of a published post's text and tags,
-- normalised (NFKC, lower case). A query's bigrams must all be present; a post holding the
-- query as it was typed ranks first.
CREATE TABLE feed_search_terms (
    post_id INTEGER NOT NULL REFERENCES feed_posts(id),
    term    TEXT NOT NULL,
    PRIMARY KEY (term, post_id)
);
CREATE INDEX feed_search_terms_by_post ON feed_search_terms (post_id);
