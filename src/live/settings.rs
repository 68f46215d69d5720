//! Live rooms' settings: the `[live]` section (env `DUOXIE_LIVE_*`), its defaults and the values
//! it refuses. docs/protocol.md ("Live rooms") names each where it applies.

use crate::config::{check, Env, Section};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveSettings {
    /// Longest room title, characters. env `DUOXIE_LIVE_TITLE_MAX_CHARS`; default: 40.
    pub title_max_chars: usize,
    /// Longest comment (弹幕), characters. env `DUOXIE_LIVE_COMMENT_MAX_CHARS`; default: 200.
    pub comment_max_chars: usize,
    /// Longest pinned notice, characters. env `DUOXIE_LIVE_PIN_MAX_CHARS`; default: 100.
    pub pin_max_chars: usize,
    /// Rooms not ended one host may hold. env `DUOXIE_LIVE_OPEN_ROOMS_PER_HOST`; default: 3.
    pub open_rooms_per_host: i64,
    /// Rooms one socket may be in at once. env `DUOXIE_LIVE_ROOMS_PER_SOCKET`; default: 4.
    pub rooms_per_socket: usize,
    /// Comments a room takes per second from ordinary spectators (the host's and helpers' are
    /// never refused), on each node holding members. env `DUOXIE_LIVE_ROOM_COMMENTS_PER_SEC`;
    /// default: 20.
    pub room_comments_per_sec: usize,
    /// Comments one user may send in a room per 10 s. env `DUOXIE_LIVE_USER_COMMENTS_PER_10S`;
    /// default: 5.
    pub user_comments_per_10s: usize,
    /// Most taps one `room.like` carries. env `DUOXIE_LIVE_LIKES_PER_FRAME`; default: 20.
    pub likes_per_frame: usize,
    /// Taps per second that count per user (more are accepted as 0).
    /// env `DUOXIE_LIVE_USER_LIKES_PER_SEC`; default: 20.
    pub user_likes_per_sec: usize,
    /// How long a kick lasts when the host names no time, ms. env `DUOXIE_LIVE_KICK_MS`;
    /// default: 600000 (10 min).
    pub kick_ms: i64,
    /// Helpers (场控) one host may appoint. env `DUOXIE_LIVE_HELPERS_PER_HOST`; default: 10.
    pub helpers_per_host: i64,
    /// Comments a `room.join` reply carries. env `DUOXIE_LIVE_JOIN_COMMENTS`; default: 50.
    pub join_comments: i64,
    /// Numbered events a rejoin with `since_seq` may recover; older gaps redraw the room.
    /// env `DUOXIE_LIVE_RECOVERY_EVENTS`; default: 1000.
    pub recovery_events: i64,
    /// Joins and leaves are announced (`room.joined`/`room.left`) only up to this many viewers.
    /// env `DUOXIE_LIVE_ANNOUNCE_UP_TO`; default: 200.
    pub announce_up_to: i64,
    /// Most comments committed in one transaction. env `DUOXIE_LIVE_COMMIT_BATCH_MAX`;
    /// default: 256.
    pub commit_batch_max: usize,
    /// How often each node's room actor flushes likes, writes its member count and tells its
    /// members the counts, ms. env `DUOXIE_LIVE_TICK_MS`; default: 1000.
    pub tick_ms: u64,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            title_max_chars: 40,
            comment_max_chars: 200,
            pin_max_chars: 100,
            open_rooms_per_host: 3,
            rooms_per_socket: 4,
            room_comments_per_sec: 20,
            user_comments_per_10s: 5,
            likes_per_frame: 20,
            user_likes_per_sec: 20,
            kick_ms: 10 * 60 * 1000,
            helpers_per_host: 10,
            join_comments: 50,
            recovery_events: 1000,
            announce_up_to: 200,
            commit_batch_max: 256,
            tick_ms: 1000,
        }
    }
}

impl Section for LiveSettings {
    const NAME: &'static str = "live";

    fn apply_env(&mut self, env: &Env<'_>) -> anyhow::Result<()> {
        crate::config::from_env!(
            env,
            "live",
            self,
            [
                title_max_chars,
                comment_max_chars,
                pin_max_chars,
                open_rooms_per_host,
                rooms_per_socket,
                room_comments_per_sec,
                user_comments_per_10s,
                likes_per_frame,
                user_likes_per_sec,
                kick_ms,
                helpers_per_host,
                join_comments,
                recovery_events,
                announce_up_to,
                commit_batch_max,
                tick_ms
            ]
        );
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        let l = self;
        let between = |ok: bool, name: &'static str, range: &'static str| check(ok, name, range);
        between(
            (1..=200).contains(&l.title_max_chars),
            "DUOXIE_LIVE_TITLE_MAX_CHARS",
            "must be between 1 and 200",
        )?;
        between(
            (1..=2000).contains(&l.comment_max_chars),
            "DUOXIE_LIVE_COMMENT_MAX_CHARS",
            "must be between 1 and 2000",
        )?;
        between(
            (1..=1000).contains(&l.pin_max_chars),
            "DUOXIE_LIVE_PIN_MAX_CHARS",
            "must be between 1 and 1000",
        )?;
        between(
            l.open_rooms_per_host >= 1,
            "DUOXIE_LIVE_OPEN_ROOMS_PER_HOST",
            "must be at least 1",
        )?;
        between(
            (1..=100).contains(&l.rooms_per_socket),
            "DUOXIE_LIVE_ROOMS_PER_SOCKET",
            "must be between 1 and 100",
        )?;
        between(
            l.room_comments_per_sec >= 1,
            "DUOXIE_LIVE_ROOM_COMMENTS_PER_SEC",
            "must be at least 1",
        )?;
        between(
            l.user_comments_per_10s >= 1,
            "DUOXIE_LIVE_USER_COMMENTS_PER_10S",
            "must be at least 1",
        )?;
        between(
            (1..=1000).contains(&l.likes_per_frame),
            "DUOXIE_LIVE_LIKES_PER_FRAME",
            "must be between 1 and 1000",
        )?;
        between(
            l.user_likes_per_sec >= 1,
            "DUOXIE_LIVE_USER_LIKES_PER_SEC",
            "must be at least 1",
        )?;
        between(
            (1000..=86_400_000).contains(&l.kick_ms),
            "DUOXIE_LIVE_KICK_MS",
            "must be between 1000 and 86400000",
        )?;
        between(
            l.helpers_per_host >= 0,
            "DUOXIE_LIVE_HELPERS_PER_HOST",
            "must be >= 0",
        )?;
        between(
            (0..=500).contains(&l.join_comments),
            "DUOXIE_LIVE_JOIN_COMMENTS",
            "must be between 0 and 500",
        )?;
        between(
            (1..=100_000).contains(&l.recovery_events),
            "DUOXIE_LIVE_RECOVERY_EVENTS",
            "must be between 1 and 100000",
        )?;
        between(
            l.announce_up_to >= 0,
            "DUOXIE_LIVE_ANNOUNCE_UP_TO",
            "must be >= 0",
        )?;
        between(
            (1..=10_000).contains(&l.commit_batch_max),
            "DUOXIE_LIVE_COMMIT_BATCH_MAX",
            "must be between 1 and 10000",
        )?;
        between(
            (50..=60_000).contains(&l.tick_ms),
            "DUOXIE_LIVE_TICK_MS",
            "must be between 50 and 60000",
        )?;
        Ok(())
    }
}
