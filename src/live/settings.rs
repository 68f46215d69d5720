//! Live rooms' settings: the `[live]` section (env `DUOXIE_LIVE_*`), its defaults and the values
//! it refuses. docs/protocol.md ("Live rooms") names each where it applies.

use crate::config::{check, Env, Secret, Section};
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

    // ------------------------------------------------------------ appraisal calls (连线鉴定)
    /// Waiting entries a room's queue holds. env `DUOXIE_LIVE_QUEUE_MAX`; default: 50.
    pub queue_max: i64,
    /// Waiting or called entries one user may hold in one room's queue.
    /// env `DUOXIE_LIVE_QUEUE_ENTRIES_PER_USER`; default: 1.
    pub queue_entries_per_user: i64,
    /// Photos one queue entry may show. env `DUOXIE_LIVE_QUEUE_PHOTOS_MAX`; default: 6.
    pub queue_photos_max: usize,
    /// Longest item description in the queue, characters.
    /// env `DUOXIE_LIVE_QUEUE_DESCRIPTION_MAX_CHARS`; default: 200.
    pub queue_description_max_chars: usize,
    /// How long a called buyer has to answer, ms. env `DUOXIE_LIVE_CALL_ANSWER_MS`;
    /// default: 30000.
    pub call_answer_ms: i64,
    /// How long a party whose device dropped may take to come back (`room.call.resume`) before
    /// the call ends, ms. env `DUOXIE_LIVE_CALL_GRACE_MS`; default: 20000.
    pub call_grace_ms: i64,
    /// Longest call after answering, ms. env `DUOXIE_LIVE_CALL_MAX_MS`; default: 1800000 (30 min).
    pub call_max_ms: i64,
    /// Largest SDP an `rtc.offer` or `rtc.answer` carries, bytes.
    /// env `DUOXIE_LIVE_RTC_SDP_MAX_BYTES`; default: 16384.
    pub rtc_sdp_max_bytes: usize,
    /// Largest ICE candidate an `rtc.ice` carries, bytes.
    /// env `DUOXIE_LIVE_RTC_CANDIDATE_MAX_BYTES`; default: 1024.
    pub rtc_candidate_max_bytes: usize,
    /// `rtc.*` frames one party may send per call in 10 s. env `DUOXIE_LIVE_RTC_FRAMES_PER_10S`;
    /// default: 200.
    pub rtc_frames_per_10s: usize,
    /// STUN servers handed to both parties, comma-separated (`stun:host:3478`).
    /// env `DUOXIE_LIVE_STUN_URLS`; default: none.
    pub stun_urls: String,
    /// TURN servers, comma-separated (`turn:host:3478?transport=udp,turns:host:5349`), each
    /// handed with TURN REST credentials. env `DUOXIE_LIVE_TURN_URLS`; default: none.
    pub turn_urls: String,
    /// The secret shared with the TURN server (coturn `static-auth-secret`); required when
    /// TURN URLs are set. env `DUOXIE_LIVE_TURN_SECRET`; default: none.
    pub turn_secret: Option<Secret>,
    /// How long handed-out TURN credentials stay valid, ms; at least the longest call.
    /// env `DUOXIE_LIVE_TURN_TTL_MS`; default: 3600000 (1 h).
    pub turn_ttl_ms: i64,

    // ------------------------------------------------------------ verdicts (鉴定结果)
    /// How long after a call ends its appraiser may still issue the verdict, ms.
    /// env `DUOXIE_LIVE_VERDICT_WINDOW_MS`; default: 86400000 (24 h).
    pub verdict_window_ms: i64,
    /// Longest item type, material or grade, characters.
    /// env `DUOXIE_LIVE_VERDICT_FIELD_MAX_CHARS`; default: 40.
    pub verdict_field_max_chars: usize,
    /// Longest notes of a verdict, characters. env `DUOXIE_LIVE_VERDICT_NOTES_MAX_CHARS`;
    /// default: 1000.
    pub verdict_notes_max_chars: usize,
    /// Snapshots one verdict may carry. env `DUOXIE_LIVE_VERDICT_SNAPSHOTS_MAX`; default: 6.
    pub verdict_snapshots_max: usize,
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
            queue_max: 50,
            queue_entries_per_user: 1,
            queue_photos_max: 6,
            queue_description_max_chars: 200,
            call_answer_ms: 30_000,
            call_grace_ms: 20_000,
            call_max_ms: 30 * 60 * 1000,
            rtc_sdp_max_bytes: 16 * 1024,
            rtc_candidate_max_bytes: 1024,
            rtc_frames_per_10s: 200,
            stun_urls: String::new(),
            turn_urls: String::new(),
            turn_secret: None,
            turn_ttl_ms: 3600 * 1000,
            verdict_window_ms: 24 * 3600 * 1000,
            verdict_field_max_chars: 40,
            verdict_notes_max_chars: 1000,
            verdict_snapshots_max: 6,
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
                tick_ms,
                queue_max,
                queue_entries_per_user,
                queue_photos_max,
                queue_description_max_chars,
                call_answer_ms,
                call_grace_ms,
                call_max_ms,
                rtc_sdp_max_bytes,
                rtc_candidate_max_bytes,
                rtc_frames_per_10s,
                stun_urls,
                turn_urls,
                turn_secret,
                turn_ttl_ms,
                verdict_window_ms,
                verdict_field_max_chars,
                verdict_notes_max_chars,
                verdict_snapshots_max
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
        between(
            (1..=1000).contains(&l.queue_max),
            "DUOXIE_LIVE_QUEUE_MAX",
            "must be between 1 and 1000",
        )?;
        between(
            (1..=10).contains(&l.queue_entries_per_user),
            "DUOXIE_LIVE_QUEUE_ENTRIES_PER_USER",
            "must be between 1 and 10",
        )?;
        between(
            l.queue_photos_max <= 20,
            "DUOXIE_LIVE_QUEUE_PHOTOS_MAX",
            "must be between 0 and 20",
        )?;
        between(
            (1..=2000).contains(&l.queue_description_max_chars),
            "DUOXIE_LIVE_QUEUE_DESCRIPTION_MAX_CHARS",
            "must be between 1 and 2000",
        )?;
        between(
            (1000..=600_000).contains(&l.call_answer_ms),
            "DUOXIE_LIVE_CALL_ANSWER_MS",
            "must be between 1000 and 600000",
        )?;
        between(
            (1000..=600_000).contains(&l.call_grace_ms),
            "DUOXIE_LIVE_CALL_GRACE_MS",
            "must be between 1000 and 600000",
        )?;
        between(
            (1000..=86_400_000).contains(&l.call_max_ms),
            "DUOXIE_LIVE_CALL_MAX_MS",
            "must be between 1000 and 86400000",
        )?;
        between(
            (1024..=262_144).contains(&l.rtc_sdp_max_bytes),
            "DUOXIE_LIVE_RTC_SDP_MAX_BYTES",
            "must be between 1024 and 262144",
        )?;
        between(
            (64..=16_384).contains(&l.rtc_candidate_max_bytes),
            "DUOXIE_LIVE_RTC_CANDIDATE_MAX_BYTES",
            "must be between 64 and 16384",
        )?;
        between(
            l.rtc_frames_per_10s >= 10,
            "DUOXIE_LIVE_RTC_FRAMES_PER_10S",
            "must be at least 10",
        )?;
        for (urls, name, schemes) in [
            (
                &l.stun_urls,
                "DUOXIE_LIVE_STUN_URLS",
                &["stun:", "stuns:"][..],
            ),
            (
                &l.turn_urls,
                "DUOXIE_LIVE_TURN_URLS",
                &["turn:", "turns:"][..],
            ),
        ] {
            between(
                super::turn::split_urls(urls)
                    .all(|u| schemes.iter().any(|s| u.starts_with(s)) && !u.contains(char::is_whitespace)),
                name,
                "must be comma-separated URLs of the stun:/stuns: (STUN) or turn:/turns: (TURN) scheme",
            )?;
        }
        let has_turn = super::turn::split_urls(&l.turn_urls).next().is_some();
        between(
            !has_turn
                || l.turn_secret
                    .as_ref()
                    .is_some_and(|s| s.expose().len() >= 16),
            "DUOXIE_LIVE_TURN_SECRET",
            "is required (at least 16 characters) when DUOXIE_LIVE_TURN_URLS is set",
        )?;
        between(
            l.turn_ttl_ms >= l.call_max_ms && l.turn_ttl_ms <= 86_400_000,
            "DUOXIE_LIVE_TURN_TTL_MS",
            "must be at least DUOXIE_LIVE_CALL_MAX_MS and at most 86400000",
        )?;
        between(
            (0..=30 * 86_400_000).contains(&l.verdict_window_ms),
            "DUOXIE_LIVE_VERDICT_WINDOW_MS",
            "must be between 0 and 2592000000 (30 days)",
        )?;
        between(
            (1..=200).contains(&l.verdict_field_max_chars),
            "DUOXIE_LIVE_VERDICT_FIELD_MAX_CHARS",
            "must be between 1 and 200",
        )?;
        between(
            (1..=10_000).contains(&l.verdict_notes_max_chars),
            "DUOXIE_LIVE_VERDICT_NOTES_MAX_CHARS",
            "must be between 1 and 10000",
        )?;
        between(
            l.verdict_snapshots_max <= 20,
            "DUOXIE_LIVE_VERDICT_SNAPSHOTS_MAX",
            "must be between 0 and 20",
        )?;
        Ok(())
    }
}
