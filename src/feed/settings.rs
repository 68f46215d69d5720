//! The community's settings: the `[feed]` section (env `DUOXIE_FEED_*`), its defaults and the
//! values it refuses. docs/protocol.md ("Community") names each where it applies.

use crate::config::{check, Env, Section};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedSettings {
    /// Longest post text, characters. env `DUOXIE_FEED_TEXT_MAX_CHARS`; default: 2000.
    pub text_max_chars: usize,
    /// Pictures one post carries. env `DUOXIE_FEED_PICTURES_MAX`; default: 9.
    pub pictures_max: usize,
    /// Tags one post carries. env `DUOXIE_FEED_TAGS_MAX`; default: 5.
    pub tags_max: usize,
    /// Longest tag, characters. env `DUOXIE_FEED_TAG_MAX_CHARS`; default: 20.
    pub tag_max_chars: usize,
    /// How long after publishing its author may edit a post, ms.
    /// env `DUOXIE_FEED_EDIT_WINDOW_MS`; default: 900000 (15 min).
    pub edit_window_ms: i64,
    /// Entries a home timeline keeps; older posts are read from the followed authors.
    /// env `DUOXIE_FEED_HOME_MAX`; default: 800.
    pub home_max: i64,
    /// Followers one fan-out step writes (one transaction). env `DUOXIE_FEED_FANOUT_BATCH`;
    /// default: 2000.
    pub fanout_batch: i64,
    /// Authors with more followers than this are not fanned out: their posts are merged into
    /// their followers' home feeds when read. env `DUOXIE_FEED_FANOUT_MAX_FOLLOWERS`;
    /// default: 50000.
    pub fanout_max_followers: i64,
    /// How often each node's fan-out worker looks for work when it found none, ms.
    /// env `DUOXIE_FEED_FANOUT_IDLE_MS`; default: 100.
    pub fanout_idle_ms: u64,
    /// How long a claimed fan-out job is a node's before another may take it over, ms.
    /// env `DUOXIE_FEED_FANOUT_LEASE_MS`; default: 30000.
    pub fanout_lease_ms: i64,
    /// Most posts one page carries. env `DUOXIE_FEED_PAGE_MAX`; default: 50.
    pub page_max: i64,
    /// Longest comment, characters. env `DUOXIE_FEED_COMMENT_MAX_CHARS`; default: 500.
    pub comment_max_chars: usize,
    /// A reader who has not read their home feed for this long is skipped by fan-out; their
    /// timeline is rebuilt when they come back, ms. env `DUOXIE_FEED_INACTIVE_AFTER_MS`;
    /// default: 604800000 (7 days).
    pub inactive_after_ms: i64,
    /// Posts the discover feed ranks (the newest published in its window).
    /// env `DUOXIE_FEED_DISCOVER_POOL`; default: 500.
    pub discover_pool: i64,
    /// How far back the discover feed looks, ms. env `DUOXIE_FEED_DISCOVER_WINDOW_MS`;
    /// default: 1209600000 (14 days).
    pub discover_window_ms: i64,
    /// Big authors (merged at read) whose new posts one connection hears of live
    /// (`feed.live`). env `DUOXIE_FEED_LIVE_AUTHORS_MAX`; default: 200.
    pub live_authors_max: usize,
    /// Posts one connection watches at once (`post.watch`). env `DUOXIE_FEED_WATCH_MAX`;
    /// default: 20.
    pub watch_max: usize,
    /// How often each node tells the watchers of the posts whose counts changed, ms.
    /// env `DUOXIE_FEED_COUNTS_TICK_MS`; default: 1000.
    pub counts_tick_ms: u64,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            text_max_chars: 2000,
            pictures_max: 9,
            tags_max: 5,
            tag_max_chars: 20,
            edit_window_ms: 15 * 60 * 1000,
            home_max: 800,
            fanout_batch: 2000,
            fanout_max_followers: 50_000,
            fanout_idle_ms: 100,
            fanout_lease_ms: 30_000,
            page_max: 50,
            comment_max_chars: 500,
            inactive_after_ms: 7 * 86_400_000,
            discover_pool: 500,
            discover_window_ms: 14 * 86_400_000,
            live_authors_max: 200,
            watch_max: 20,
            counts_tick_ms: 1000,
        }
    }
}

impl Section for FeedSettings {
    const NAME: &'static str = "feed";

    fn apply_env(&mut self, env: &Env<'_>) -> anyhow::Result<()> {
        crate::config::from_env!(
            env,
            "feed",
            self,
            [
                text_max_chars,
                pictures_max,
                tags_max,
                tag_max_chars,
                edit_window_ms,
                home_max,
                fanout_batch,
                fanout_max_followers,
                fanout_idle_ms,
                fanout_lease_ms,
                page_max,
                comment_max_chars,
                inactive_after_ms,
                discover_pool,
                discover_window_ms,
                live_authors_max,
                watch_max,
                counts_tick_ms
            ]
        );
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        let f = self;
        check(
            (1..=20_000).contains(&f.text_max_chars),
            "DUOXIE_FEED_TEXT_MAX_CHARS",
            "must be between 1 and 20000",
        )?;
        check(
            (1..=30).contains(&f.pictures_max),
            "DUOXIE_FEED_PICTURES_MAX",
            "must be between 1 and 30",
        )?;
        check(
            f.tags_max <= 30,
            "DUOXIE_FEED_TAGS_MAX",
            "must be between 0 and 30",
        )?;
        check(
            (1..=100).contains(&f.tag_max_chars),
            "DUOXIE_FEED_TAG_MAX_CHARS",
            "must be between 1 and 100",
        )?;
        check(
            (0..=7 * 86_400_000).contains(&f.edit_window_ms),
            "DUOXIE_FEED_EDIT_WINDOW_MS",
            "must be between 0 and 604800000",
        )?;
        check(
            (10..=100_000).contains(&f.home_max),
            "DUOXIE_FEED_HOME_MAX",
            "must be between 10 and 100000",
        )?;
        check(
            (1..=100_000).contains(&f.fanout_batch),
            "DUOXIE_FEED_FANOUT_BATCH",
            "must be between 1 and 100000",
        )?;
        check(
            f.fanout_max_followers >= 0,
            "DUOXIE_FEED_FANOUT_MAX_FOLLOWERS",
            "must be >= 0",
        )?;
        check(
            (1..=60_000).contains(&f.fanout_idle_ms),
            "DUOXIE_FEED_FANOUT_IDLE_MS",
            "must be between 1 and 60000",
        )?;
        check(
            (1000..=3_600_000).contains(&f.fanout_lease_ms),
            "DUOXIE_FEED_FANOUT_LEASE_MS",
            "must be between 1000 and 3600000",
        )?;
        check(
            (1..=200).contains(&f.page_max),
            "DUOXIE_FEED_PAGE_MAX",
            "must be between 1 and 200",
        )?;
        check(
            (1..=5000).contains(&f.comment_max_chars),
            "DUOXIE_FEED_COMMENT_MAX_CHARS",
            "must be between 1 and 5000",
        )?;
        check(
            (60_000..=365 * 86_400_000).contains(&f.inactive_after_ms),
            "DUOXIE_FEED_INACTIVE_AFTER_MS",
            "must be between 60000 and 31536000000",
        )?;
        check(
            (10..=10_000).contains(&f.discover_pool),
            "DUOXIE_FEED_DISCOVER_POOL",
            "must be between 10 and 10000",
        )?;
        check(
            (3_600_000..=365 * 86_400_000).contains(&f.discover_window_ms),
            "DUOXIE_FEED_DISCOVER_WINDOW_MS",
            "must be between 3600000 and 31536000000",
        )?;
        check(
            (1..=10_000).contains(&f.live_authors_max),
            "DUOXIE_FEED_LIVE_AUTHORS_MAX",
            "must be between 1 and 10000",
        )?;
        check(
            (1..=1000).contains(&f.watch_max),
            "DUOXIE_FEED_WATCH_MAX",
            "must be between 1 and 1000",
        )?;
        check(
            (50..=60_000).contains(&f.counts_tick_ms),
            "DUOXIE_FEED_COUNTS_TICK_MS",
            "must be between 50 and 60000",
        )?;
        Ok(())
    }
}
