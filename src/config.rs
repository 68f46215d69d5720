//! Settings: defaults in code < an optional TOML file < `DUOXIE_*` environment variables.
//!
//! Every limit the server enforces is a named field here, with its default and unit in its doc
//! comment. `Settings::load` validates the result and names the offending setting on failure,
//! so a bad deployment stops at start-up instead of misbehaving later. Nothing in this module
//! may log a value: some settings are secrets.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on. env `DUOXIE_LISTEN`; default: `127.0.0.1:8080`.
    pub listen: String,
    /// Pending-connection queue of the listening socket (capped by the kernel's somaxconn).
    /// env `DUOXIE_LISTEN_BACKLOG`; default: 4096.
    pub listen_backlog: u32,
    /// HTTP worker threads. env `DUOXIE_WORKERS`; default: number of CPUs.
    pub workers: usize,
    /// Folder for the SQLite database and uploaded files. env `DUOXIE_DATA_DIR`; default: `./data`.
    pub data_dir: PathBuf,
    /// `postgres://...` selects PostgreSQL; unset means SQLite at `<data_dir>/duoxie.db`.
    /// env `DATABASE_URL` (or `DUOXIE_DATABASE_URL`).
    pub database_url: Option<String>,
    /// Redis for the multi-node bus; unset means the in-process bus. env `REDIS_URL`.
    pub redis_url: Option<String>,
    /// Namespace of this deployment's Redis channels and keys, so that several deployments
    /// (or test runs) can share one Redis. env `DUOXIE_REDIS_PREFIX`; default: `duoxie`.
    pub redis_prefix: String,
    /// Database pool size. env `DUOXIE_DB_MAX_CONNECTIONS`; default: 16.
    pub db_max_connections: u32,
    /// SQLite `synchronous` pragma: `full` (fsync every commit; acknowledged means durable
    /// even on power loss) or `normal` (durable across process crashes, may lose the last
    /// commits on power loss). env `DUOXIE_SQLITE_SYNCHRONOUS`; default: `full`.
    pub sqlite_synchronous: SqliteSynchronous,
    /// The privacy policy version this node publishes at start if it is new; the latest
    /// published version is in force and recorded with every consent change.
    /// env `DUOXIE_POLICY_VERSION`; default: `1`.
    pub policy_version: String,
    /// How often each node checks for a newly published policy version, ms.
    /// env `DUOXIE_POLICY_POLL_MS`; default: 5000.
    pub policy_poll_ms: u64,
    /// How long sockets get to leave after the `1001` close on shutdown, in ms.
    /// env `DUOXIE_SHUTDOWN_DRAIN_MS`; default: 5000.
    pub shutdown_drain_ms: u64,
    /// Largest total size of a request's headers, bytes; more is answered
    /// `431 headers_too_large` (actix-http alone accepts up to 128 KiB).
    /// env `DUOXIE_MAX_HEADER_BYTES`; default: 16384.
    pub max_header_bytes: usize,
    pub auth: AuthSettings,
    pub ws: WsSettings,
    pub chat: ChatSettings,
    pub privacy: PrivacySettings,
    pub media: MediaSettings,
    pub moderation: ModerationSettings,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModerationSettings {
    /// How long a moderator's claim on a queue item lasts, ms; then it returns to the queue.
    /// env `DUOXIE_MODERATION_CLAIM_LEASE_MS`; default: 300000 (5 min).
    pub claim_lease_ms: i64,
    /// How often each node returns expired claims to the queue and checks the keyword file
    /// for changes, ms. env `DUOXIE_MODERATION_LEASE_CHECK_MS`; default: 1000.
    pub lease_check_ms: u64,
    /// Keyword list (`block<TAB>word` / `review<TAB>word` lines), reloaded when it changes;
    /// unset: the built-in list. env `DUOXIE_MODERATION_KEYWORDS_FILE`.
    pub keywords_file: Option<PathBuf>,
    /// PDQ distance (bits of 256) within which a picture counts as a blocklisted one (the
    /// algorithm's own guidance is 31). env `DUOXIE_MODERATION_BLOCKLIST_MAX_DISTANCE`;
    /// default: 31.
    pub blocklist_max_distance: u32,
    /// Up to this many bits a look-alike of a blocklisted picture waits for a moderator.
    /// env `DUOXIE_MODERATION_BLOCKLIST_REVIEW_DISTANCE`; default: 36.
    pub blocklist_review_distance: u32,
    /// Largest colour difference of an 8 × 8 grid cell (0..=442; chroma and relative
    /// luminance, see `moderation::fingerprint`) for a picture to be the same item as a
    /// blocklisted one. env `DUOXIE_MODERATION_BLOCKLIST_MAX_COLOUR_DISTANCE`;
    /// default: 12.
    pub blocklist_max_colour_distance: u32,
    /// How long after a rejection its author may appeal, ms.
    /// env `DUOXIE_MODERATION_APPEAL_WINDOW_MS`; default: 20 days.
    pub appeal_window_ms: i64,
    /// Reports one user may file per hour (a repeat of an open report is not counted).
    /// env `DUOXIE_MODERATION_REPORTS_PER_HOUR`; default: 30.
    pub reports_per_hour: i64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaSettings {
    /// Largest photo upload, bytes. env `DUOXIE_MEDIA_MAX_IMAGE_BYTES`; default: 10485760.
    pub max_image_bytes: usize,
    /// Largest video upload, bytes. env `DUOXIE_MEDIA_MAX_VIDEO_BYTES`; default: 52428800.
    pub max_video_bytes: usize,
    /// Longest side of a photo, px, read from its header before decoding.
    /// env `DUOXIE_MEDIA_MAX_DIMENSION`; default: 8192.
    pub max_dimension: u32,
    /// Most pixels of a photo, read from its header. env `DUOXIE_MEDIA_MAX_PIXELS`;
    /// default: 24000000.
    pub max_pixels: u64,
    /// Memory one decode may allocate, bytes (`image::Limits::max_alloc`).
    /// env `DUOXIE_MEDIA_MAX_DECODE_BYTES`; default: 201326592 (192 MiB).
    pub max_decode_bytes: u64,
    /// Photos decoded at once per node; more wait, so memory stays bounded under a burst.
    /// env `DUOXIE_MEDIA_MAX_CONCURRENT_DECODES`; default: 2.
    pub max_concurrent_decodes: usize,
    /// Uploads one user may make per hour (each is screened, many are queued for review).
    /// env `DUOXIE_MEDIA_UPLOADS_PER_HOUR`; default: 60.
    pub uploads_per_hour: i64,
    /// Bytes of uploads one user may keep stored. env `DUOXIE_MEDIA_QUOTA_BYTES`;
    /// default: 536870912 (512 MiB).
    pub quota_bytes: i64,
}

/// A key as its settings give it: base64 of 32 bytes. (Here, beside the settings that hold
/// keys, so that validating them needs nothing from `keys`.)
pub type KeyBytes = [u8; 32];

pub fn decode_key(encoded: &str) -> anyhow::Result<KeyBytes> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .context("not valid base64")?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("{} bytes, expected 32", b.len()))
}

/// A setting that is a secret: never shown by `Debug`, so never by a log line either.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacySettings {
    /// Ed25519 key that signs consent receipts: base64 of a 32-byte seed. Unset: generated once
    /// into `<data_dir>/keys/receipt_signing.key`. Every node of a deployment needs the same
    /// key (start-up refuses a key the database has not seen). env `DUOXIE_PRIVACY_RECEIPT_KEY`.
    pub receipt_key: Option<Secret>,
    /// Master key for phone numbers at rest (base64 of 32 bytes); the encryption key and the
    /// lookup-hash key are derived from it. Unset: generated once into
    /// `<data_dir>/keys/phone.key`. Losing it loses every phone number; every node needs the
    /// same one. env `DUOXIE_PRIVACY_PHONE_KEY`.
    pub phone_key: Option<Secret>,
    /// The data controller named in consent receipts. env `DUOXIE_PRIVACY_CONTROLLER`;
    /// default: `Duoxie (多些)`.
    pub controller: String,
    /// How users reach the controller about their data, named in receipts.
    /// env `DUOXIE_PRIVACY_CONTACT`; default: `privacy@duoxie.example`.
    pub contact: String,
    /// Cooling-off between a deletion request and the deletion (logging in cancels it), ms.
    /// env `DUOXIE_PRIVACY_DELETION_COOLING_OFF_MS`; default: 7 days.
    pub deletion_cooling_off_ms: i64,
    /// How long device and service logs (expired tokens, old sessions, codes, staff-access
    /// entries) are kept, ms. env `DUOXIE_PRIVACY_LOG_RETENTION_MS`; default: 180 days.
    pub log_retention_ms: i64,
    /// How long records the law requires be kept (transactions, appraisal certificates) stay,
    /// de-identified, after the account is deleted, ms.
    /// env `DUOXIE_PRIVACY_LEGAL_RETENTION_MS`; default: 3 years (1095 days).
    pub legal_retention_ms: i64,
    /// How often the retention job runs, ms. env `DUOXIE_PRIVACY_RETENTION_INTERVAL_MS`;
    /// default: 3600000 (1 h).
    pub retention_interval_ms: u64,
    /// How long an account declared under 14 may wait for its guardian's consent (or stay
    /// without it after a withdrawal) before its personal data is deleted, ms.
    /// env `DUOXIE_PRIVACY_MINOR_GUARDIAN_GRACE_MS`; default: 259200000 (72 h).
    pub minor_guardian_grace_ms: i64,
    /// Data exports streaming at once per node (each holds a database connection while it
    /// reads a page); more are refused with `rate_limited`. One per user at a time.
    /// env `DUOXIE_PRIVACY_MAX_CONCURRENT_EXPORTS`; default: 2.
    pub max_concurrent_exports: usize,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Full,
    Normal,
}

impl FromStr for SqliteSynchronous {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(Self::Full),
            "normal" => Ok(Self::Normal),
            _ => bail!("expected `full` or `normal`"),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Return one-time codes in the API response as `dev_code`. UNSAFE in production: anyone
    /// can log in as anyone. env `DUOXIE_AUTH_DEV_CODES`; default: false.
    pub dev_codes: bool,
    /// Lifetime of a one-time code, ms. env `DUOXIE_AUTH_CODE_TTL_MS`; default: 300000 (5 min).
    pub code_ttl_ms: i64,
    /// Wrong guesses that burn a code. env `DUOXIE_AUTH_CODE_MAX_ATTEMPTS`; default: 5.
    pub code_max_attempts: i64,
    /// Minimum interval between codes sent to one phone, ms. env `DUOXIE_AUTH_CODE_RESEND_MS`;
    /// default: 60000.
    pub code_resend_ms: i64,
    /// Wrong passwords in a row that lock password login. env `DUOXIE_AUTH_PASSWORD_MAX_ATTEMPTS`;
    /// default: 5.
    pub password_max_attempts: i64,
    /// How long password login stays locked, ms. env `DUOXIE_AUTH_PASSWORD_LOCKOUT_MS`;
    /// default: 900000 (15 min).
    pub password_lockout_ms: i64,
    /// Lifetime of a device token, ms. env `DUOXIE_AUTH_TOKEN_TTL_MS`; default: 30 days.
    pub token_ttl_ms: i64,
    /// How often each node re-reads from the database the standing of every token with an
    /// open socket (revoked, expired, suspended, deleted, muted, roles, minors' restriction),
    /// ms: the bound on how late an enforcement lost by the bus takes effect.
    /// env `DUOXIE_AUTH_STANDING_RECHECK_MS`; default: 2000.
    pub standing_recheck_ms: u64,
    /// Password hashes (argon2, ~19 MiB each) computed at once per node; more wait.
    /// env `DUOXIE_AUTH_MAX_CONCURRENT_HASHES`; default: 2.
    pub max_concurrent_hashes: usize,
    /// One-time codes (login, guardian, phone change) sent on behalf of one client IP per hour.
    /// env `DUOXIE_AUTH_CODES_PER_IP_PER_HOUR`; default: 20.
    pub codes_per_ip_per_hour: i64,
    /// One-time codes sent to one phone number per day, whatever asked for them.
    /// env `DUOXIE_AUTH_CODES_PER_PHONE_PER_DAY`; default: 10.
    pub codes_per_phone_per_day: i64,
    /// One-time codes this deployment sends per minute in all (each one a paid SMS).
    /// env `DUOXIE_AUTH_CODES_GLOBAL_PER_MINUTE`; default: 600.
    pub codes_global_per_minute: i64,
    /// Login attempts (code or password) from one client IP per hour.
    /// env `DUOXIE_AUTH_LOGINS_PER_IP_PER_HOUR`; default: 100.
    pub logins_per_ip_per_hour: i64,
    /// Take the client IP from the first `X-Forwarded-For` entry (only behind a proxy that
    /// sets it). env `DUOXIE_AUTH_TRUST_FORWARDED_FOR`; default: false.
    pub trust_forwarded_for: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WsSettings {
    /// Largest frame answered normally, bytes; larger gets `frame_too_large`, and above 4× this
    /// the socket is closed with 1009. env `DUOXIE_WS_MAX_FRAME_BYTES`; default: 65536.
    pub max_frame_bytes: usize,
    /// Token-bucket refill, frames per second per socket. env `DUOXIE_WS_RATE_PER_SEC`; default: 20.
    pub rate_per_sec: f64,
    /// Token-bucket size, frames. env `DUOXIE_WS_RATE_BURST`; default: 40.
    pub rate_burst: f64,
    /// Refused frames in a row before the socket is closed with 4008.
    /// env `DUOXIE_WS_FLOOD_CLOSE_AFTER`; default: 100.
    pub flood_close_after: u32,
    /// Bytes queued for a socket that is not reading before it is closed with 4009.
    /// env `DUOXIE_WS_OUTBOUND_QUEUE_BYTES`; default: 1048576.
    pub outbound_queue_bytes: usize,
    /// Time to send `auth` on a socket opened without a token, ms.
    /// env `DUOXIE_WS_AUTH_TIMEOUT_MS`; default: 10000.
    pub auth_timeout_ms: u64,
    /// Server ping interval, ms. env `DUOXIE_WS_HEARTBEAT_INTERVAL_MS`; default: 10000.
    pub heartbeat_interval_ms: u64,
    /// Silence after which a socket is closed with 4002, ms.
    /// env `DUOXIE_WS_CLIENT_TIMEOUT_MS`; default: 30000.
    pub client_timeout_ms: u64,
    /// Largest reply to one command, bytes: longer answers (`chat.sync`, `chat.history`,
    /// `chat.list`) stop early and say `more`. Must leave room in the outbound queue for one
    /// more maximal message. env `DUOXIE_WS_MAX_REPLY_BYTES`; default: 262144.
    pub max_reply_bytes: usize,
    /// Open sockets one user may hold on one node; more are refused with close 4010.
    /// env `DUOXIE_WS_MAX_SOCKETS_PER_USER`; default: 20.
    pub max_sockets_per_user: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatSettings {
    /// Longest chat text, characters. env `DUOXIE_CHAT_MAX_TEXT_CHARS`; default: 4000.
    pub max_text_chars: usize,
    /// Largest `chat.history` page. env `DUOXIE_CHAT_PAGE_MAX`; default: 100.
    pub page_max: i64,
    /// Most messages per conversation in one `chat.sync` reply. env `DUOXIE_CHAT_SYNC_MAX`;
    /// default: 500.
    pub sync_max: i64,
    /// Minimum interval between relayed typing indicators per socket and conversation, ms.
    /// env `DUOXIE_CHAT_TYPING_INTERVAL_MS`; default: 2000.
    pub typing_interval_ms: u64,
    /// How long a user whose last socket closed still counts as online, ms: a reconnect within
    /// it is no news to anyone (and costs nothing). env `DUOXIE_CHAT_PRESENCE_GRACE_MS`;
    /// default: 5000.
    pub presence_grace_ms: u64,
    /// New conversations one user may open per hour (opening an existing one is free).
    /// env `DUOXIE_CHAT_NEW_CONVERSATIONS_PER_HOUR`; default: 30.
    pub new_conversations_per_hour: i64,
    /// Most messages committed in one group-commit transaction.
    /// env `DUOXIE_CHAT_COMMIT_BATCH_MAX`; default: 256.
    pub commit_batch_max: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            listen_backlog: 4096,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            redis_url: None,
            redis_prefix: "duoxie".into(),
            db_max_connections: 16,
            sqlite_synchronous: SqliteSynchronous::Full,
            shutdown_drain_ms: 5000,
            max_header_bytes: 16 * 1024,
            policy_version: "1".into(),
            policy_poll_ms: 5000,
            auth: AuthSettings::default(),
            ws: WsSettings::default(),
            chat: ChatSettings::default(),
            privacy: PrivacySettings::default(),
            media: MediaSettings::default(),
            moderation: ModerationSettings::default(),
        }
    }
}

impl Default for ModerationSettings {
    fn default() -> Self {
        Self {
            claim_lease_ms: 5 * 60 * 1000,
            lease_check_ms: 1000,
            keywords_file: None,
            blocklist_max_distance: 31,
            blocklist_review_distance: 36,
            blocklist_max_colour_distance: 12,
            appeal_window_ms: 20 * DAY_MS,
            reports_per_hour: 30,
        }
    }
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            max_image_bytes: 10 * 1024 * 1024,
            max_video_bytes: 50 * 1024 * 1024,
            max_dimension: 8192,
            max_pixels: 24_000_000,
            max_decode_bytes: 192 * 1024 * 1024,
            max_concurrent_decodes: 2,
            uploads_per_hour: 60,
            quota_bytes: 512 * 1024 * 1024,
        }
    }
}

const DAY_MS: i64 = 24 * 3600 * 1000;

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            receipt_key: None,
            phone_key: None,
            controller: "Duoxie (多些)".into(),
            contact: "privacy@duoxie.example".into(),
            deletion_cooling_off_ms: 7 * DAY_MS,
            log_retention_ms: 180 * DAY_MS,
            legal_retention_ms: 1095 * DAY_MS,
            retention_interval_ms: 3600 * 1000,
            minor_guardian_grace_ms: 3 * DAY_MS,
            max_concurrent_exports: 2,
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            dev_codes: false,
            code_ttl_ms: 5 * 60 * 1000,
            code_max_attempts: 5,
            code_resend_ms: 60 * 1000,
            password_max_attempts: 5,
            password_lockout_ms: 15 * 60 * 1000,
            token_ttl_ms: 30 * 24 * 3600 * 1000,
            standing_recheck_ms: 2000,
            max_concurrent_hashes: 2,
            codes_per_ip_per_hour: 20,
            codes_per_phone_per_day: 10,
            codes_global_per_minute: 600,
            logins_per_ip_per_hour: 100,
            trust_forwarded_for: false,
        }
    }
}

impl Default for WsSettings {
    fn default() -> Self {
        Self {
            max_frame_bytes: 64 * 1024,
            rate_per_sec: 20.0,
            rate_burst: 40.0,
            flood_close_after: 100,
            outbound_queue_bytes: 1024 * 1024,
            auth_timeout_ms: 10_000,
            heartbeat_interval_ms: 10_000,
            client_timeout_ms: 30_000,
            max_reply_bytes: 256 * 1024,
            max_sockets_per_user: 20,
        }
    }
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            max_text_chars: 4000,
            page_max: 100,
            sync_max: 500,
            typing_interval_ms: 2000,
            presence_grace_ms: 5000,
            new_conversations_per_hour: 30,
            commit_batch_max: 256,
        }
    }
}

impl Settings {
    /// Defaults, then the TOML file at `file` (if given), then the environment; validated.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut settings = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("read settings file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("parse settings file {}", path.display()))?
            }
            None => Settings::default(),
        };
        settings.apply_env(|key| std::env::var(key).ok())?;
        settings.validate()?;
        Ok(settings)
    }

    /// Overrides from environment variables; `get` is injectable so that tests need not touch
    /// the process environment. Every setting's variable is derived from its path
    /// ([`env_name`]); `DATABASE_URL` and `REDIS_URL` are also read, as everyone spells them.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let env = Env(&get);
        env.set("DATABASE_URL", &mut self.database_url)?;
        env.set("REDIS_URL", &mut self.redis_url)?;
        from_env!(
            env,
            "",
            self,
            [
                listen,
                listen_backlog,
                workers,
                data_dir,
                database_url,
                redis_url,
                redis_prefix,
                db_max_connections,
                sqlite_synchronous,
                shutdown_drain_ms,
                max_header_bytes,
                policy_version,
                policy_poll_ms
            ]
        );
        from_env!(
            env,
            "auth",
            self.auth,
            [
                dev_codes,
                code_ttl_ms,
                code_max_attempts,
                code_resend_ms,
                password_max_attempts,
                password_lockout_ms,
                token_ttl_ms,
                standing_recheck_ms,
                max_concurrent_hashes,
                codes_per_ip_per_hour,
                codes_per_phone_per_day,
                codes_global_per_minute,
                logins_per_ip_per_hour,
                trust_forwarded_for
            ]
        );
        from_env!(
            env,
            "ws",
            self.ws,
            [
                max_frame_bytes,
                rate_per_sec,
                rate_burst,
                flood_close_after,
                outbound_queue_bytes,
                auth_timeout_ms,
                heartbeat_interval_ms,
                client_timeout_ms,
                max_reply_bytes,
                max_sockets_per_user
            ]
        );
        from_env!(
            env,
            "chat",
            self.chat,
            [
                max_text_chars,
                page_max,
                sync_max,
                typing_interval_ms,
                presence_grace_ms,
                new_conversations_per_hour,
                commit_batch_max
            ]
        );
        from_env!(
            env,
            "moderation",
            self.moderation,
            [
                claim_lease_ms,
                lease_check_ms,
                keywords_file,
                blocklist_max_distance,
                blocklist_review_distance,
                blocklist_max_colour_distance,
                appeal_window_ms,
                reports_per_hour
            ]
        );
        from_env!(
            env,
            "media",
            self.media,
            [
                max_image_bytes,
                max_video_bytes,
                max_dimension,
                max_pixels,
                max_decode_bytes,
                max_concurrent_decodes,
                uploads_per_hour,
                quota_bytes
            ]
        );
        from_env!(
            env,
            "privacy",
            self.privacy,
            [
                receipt_key,
                phone_key,
                controller,
                contact,
                deletion_cooling_off_ms,
                log_retention_ms,
                legal_retention_ms,
                max_concurrent_exports,
                retention_interval_ms,
                minor_guardian_grace_ms
            ]
        );
        Ok(())
    }

    /// Rejects settings the server cannot run with, naming the setting.
    pub fn validate(&self) -> anyhow::Result<()> {
        fn check(ok: bool, name: &str, why: &str) -> anyhow::Result<()> {
            if ok {
                Ok(())
            } else {
                bail!("invalid setting {name}: {why}")
            }
        }
        check(
            self.listen.parse::<std::net::SocketAddr>().is_ok(),
            "DUOXIE_LISTEN",
            "expected host:port, e.g. 127.0.0.1:8080",
        )?;
        check(self.workers >= 1, "DUOXIE_WORKERS", "must be at least 1")?;
        check(
            (1024..=131_072).contains(&self.max_header_bytes),
            "DUOXIE_MAX_HEADER_BYTES",
            "must be between 1024 and 131072",
        )?;
        check(
            !self.policy_version.trim().is_empty() && self.policy_version.len() <= 64,
            "DUOXIE_POLICY_VERSION",
            "1 to 64 characters",
        )?;
        check(
            self.policy_poll_ms >= 10,
            "DUOXIE_POLICY_POLL_MS",
            "must be at least 10",
        )?;
        if let Some(url) = &self.database_url {
            check(
                url.starts_with("postgres://")
                    || url.starts_with("postgresql://")
                    || url.starts_with("sqlite:"),
                "DATABASE_URL",
                "expected postgres://... or sqlite:...",
            )?;
        }
        if let Some(url) = &self.redis_url {
            check(
                url.starts_with("redis://") || url.starts_with("rediss://"),
                "REDIS_URL",
                "expected redis://...",
            )?;
        }
        check(
            !self.redis_prefix.is_empty()
                && self
                    .redis_prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')),
            "DUOXIE_REDIS_PREFIX",
            "letters, digits, `_`, `-` and `.` only",
        )?;
        check(
            self.db_max_connections >= 1,
            "DUOXIE_DB_MAX_CONNECTIONS",
            "must be at least 1",
        )?;
        let a = &self.auth;
        check(
            a.code_ttl_ms >= 0,
            "DUOXIE_AUTH_CODE_TTL_MS",
            "must be >= 0",
        )?;
        check(
            a.code_max_attempts >= 1,
            "DUOXIE_AUTH_CODE_MAX_ATTEMPTS",
            "must be at least 1",
        )?;
        check(
            a.code_resend_ms >= 0,
            "DUOXIE_AUTH_CODE_RESEND_MS",
            "must be >= 0",
        )?;
        check(
            a.token_ttl_ms > 0,
            "DUOXIE_AUTH_TOKEN_TTL_MS",
            "must be > 0",
        )?;
        check(
            a.password_max_attempts >= 1,
            "DUOXIE_AUTH_PASSWORD_MAX_ATTEMPTS",
            "must be at least 1",
        )?;
        check(
            a.password_lockout_ms >= 0,
            "DUOXIE_AUTH_PASSWORD_LOCKOUT_MS",
            "must be >= 0",
        )?;
        check(
            a.standing_recheck_ms >= 10,
            "DUOXIE_AUTH_STANDING_RECHECK_MS",
            "must be at least 10",
        )?;
        check(
            a.max_concurrent_hashes >= 1,
            "DUOXIE_AUTH_MAX_CONCURRENT_HASHES",
            "must be at least 1",
        )?;
        for (name, value) in [
            ("DUOXIE_AUTH_CODES_PER_IP_PER_HOUR", a.codes_per_ip_per_hour),
            (
                "DUOXIE_AUTH_CODES_PER_PHONE_PER_DAY",
                a.codes_per_phone_per_day,
            ),
            (
                "DUOXIE_AUTH_CODES_GLOBAL_PER_MINUTE",
                a.codes_global_per_minute,
            ),
            (
                "DUOXIE_AUTH_LOGINS_PER_IP_PER_HOUR",
                a.logins_per_ip_per_hour,
            ),
        ] {
            check(value >= 1, name, "must be at least 1")?;
        }
        let w = &self.ws;
        // One maximal chat message as JSON: every character escaped to `\uXXXX` at worst.
        let largest_message = 6 * self.chat.max_text_chars + 1024;
        check(
            w.max_reply_bytes >= 4096
                && w.max_reply_bytes + largest_message <= w.outbound_queue_bytes,
            "DUOXIE_WS_MAX_REPLY_BYTES",
            "must be at least 4096 and leave room in DUOXIE_WS_OUTBOUND_QUEUE_BYTES for one \
             more maximal message (6 bytes per DUOXIE_CHAT_MAX_TEXT_CHARS + 1024)",
        )?;
        check(
            w.max_sockets_per_user >= 1,
            "DUOXIE_WS_MAX_SOCKETS_PER_USER",
            "must be at least 1",
        )?;
        check(
            (128..=16 * 1024 * 1024).contains(&w.max_frame_bytes),
            "DUOXIE_WS_MAX_FRAME_BYTES",
            "must be between 128 and 16777216",
        )?;
        check(
            w.rate_per_sec > 0.0 && w.rate_per_sec.is_finite(),
            "DUOXIE_WS_RATE_PER_SEC",
            "must be > 0",
        )?;
        check(
            w.rate_burst >= 1.0 && w.rate_burst.is_finite(),
            "DUOXIE_WS_RATE_BURST",
            "must be >= 1",
        )?;
        check(
            w.flood_close_after >= 1,
            "DUOXIE_WS_FLOOD_CLOSE_AFTER",
            "must be at least 1",
        )?;
        check(
            w.outbound_queue_bytes >= 4096,
            "DUOXIE_WS_OUTBOUND_QUEUE_BYTES",
            "must be at least 4096",
        )?;
        check(
            w.heartbeat_interval_ms >= 10,
            "DUOXIE_WS_HEARTBEAT_INTERVAL_MS",
            "must be at least 10",
        )?;
        check(
            w.client_timeout_ms > w.heartbeat_interval_ms,
            "DUOXIE_WS_CLIENT_TIMEOUT_MS",
            "must be longer than the heartbeat interval",
        )?;
        check(
            w.auth_timeout_ms >= 10,
            "DUOXIE_WS_AUTH_TIMEOUT_MS",
            "must be at least 10",
        )?;
        let c = &self.chat;
        check(
            (1..=65536).contains(&c.max_text_chars),
            "DUOXIE_CHAT_MAX_TEXT_CHARS",
            "must be between 1 and 65536",
        )?;
        check(
            (1..=1000).contains(&c.page_max),
            "DUOXIE_CHAT_PAGE_MAX",
            "must be between 1 and 1000",
        )?;
        check(
            (1..=10000).contains(&c.sync_max),
            "DUOXIE_CHAT_SYNC_MAX",
            "must be between 1 and 10000",
        )?;
        check(
            c.new_conversations_per_hour >= 1,
            "DUOXIE_CHAT_NEW_CONVERSATIONS_PER_HOUR",
            "must be at least 1",
        )?;
        check(
            (1..=10000).contains(&c.commit_batch_max),
            "DUOXIE_CHAT_COMMIT_BATCH_MAX",
            "must be between 1 and 10000",
        )?;
        let md = &self.moderation;
        check(
            md.claim_lease_ms >= 100,
            "DUOXIE_MODERATION_CLAIM_LEASE_MS",
            "must be at least 100",
        )?;
        check(
            md.lease_check_ms >= 10,
            "DUOXIE_MODERATION_LEASE_CHECK_MS",
            "must be at least 10",
        )?;
        check(
            md.appeal_window_ms >= 0,
            "DUOXIE_MODERATION_APPEAL_WINDOW_MS",
            "must be >= 0",
        )?;
        check(
            md.reports_per_hour >= 1,
            "DUOXIE_MODERATION_REPORTS_PER_HOUR",
            "must be at least 1",
        )?;
        // Beyond 64 of 256 bits, unrelated pictures start to match (distinct product shots
        // sit 60-124 apart; docs/moderation.md).
        check(
            md.blocklist_max_distance <= 64,
            "DUOXIE_MODERATION_BLOCKLIST_MAX_DISTANCE",
            "must be at most 64",
        )?;
        check(
            md.blocklist_review_distance >= md.blocklist_max_distance
                && md.blocklist_review_distance <= 64,
            "DUOXIE_MODERATION_BLOCKLIST_REVIEW_DISTANCE",
            "must be between DUOXIE_MODERATION_BLOCKLIST_MAX_DISTANCE and 64",
        )?;
        check(
            md.blocklist_max_colour_distance <= 442,
            "DUOXIE_MODERATION_BLOCKLIST_MAX_COLOUR_DISTANCE",
            "must be at most 442",
        )?;
        let m = &self.media;
        check(
            m.max_image_bytes >= 1024,
            "DUOXIE_MEDIA_MAX_IMAGE_BYTES",
            "must be at least 1024",
        )?;
        check(
            m.max_video_bytes >= 1024,
            "DUOXIE_MEDIA_MAX_VIDEO_BYTES",
            "must be at least 1024",
        )?;
        check(
            (16..=65535).contains(&m.max_dimension),
            "DUOXIE_MEDIA_MAX_DIMENSION",
            "must be between 16 and 65535",
        )?;
        check(
            m.max_pixels >= 256,
            "DUOXIE_MEDIA_MAX_PIXELS",
            "must be at least 256",
        )?;
        check(
            m.max_decode_bytes >= 1024 * 1024,
            "DUOXIE_MEDIA_MAX_DECODE_BYTES",
            "must be at least 1048576",
        )?;
        check(
            m.max_concurrent_decodes >= 1,
            "DUOXIE_MEDIA_MAX_CONCURRENT_DECODES",
            "must be at least 1",
        )?;
        check(
            m.uploads_per_hour >= 1,
            "DUOXIE_MEDIA_UPLOADS_PER_HOUR",
            "must be at least 1",
        )?;
        check(
            m.quota_bytes >= m.max_video_bytes.max(m.max_image_bytes) as i64,
            "DUOXIE_MEDIA_QUOTA_BYTES",
            "must hold at least one upload of the largest kind",
        )?;
        let p = &self.privacy;
        for (name, key) in [
            ("DUOXIE_PRIVACY_RECEIPT_KEY", &p.receipt_key),
            ("DUOXIE_PRIVACY_PHONE_KEY", &p.phone_key),
        ] {
            if let Some(key) = key {
                check(
                    decode_key(key.expose()).is_ok(),
                    name,
                    "expected base64 of 32 random bytes (`openssl rand -base64 32`)",
                )?;
            }
        }
        check(
            p.deletion_cooling_off_ms >= 0,
            "DUOXIE_PRIVACY_DELETION_COOLING_OFF_MS",
            "must be >= 0",
        )?;
        check(
            p.log_retention_ms >= 0,
            "DUOXIE_PRIVACY_LOG_RETENTION_MS",
            "must be >= 0",
        )?;
        check(
            p.legal_retention_ms >= 0,
            "DUOXIE_PRIVACY_LEGAL_RETENTION_MS",
            "must be >= 0",
        )?;
        check(
            p.minor_guardian_grace_ms >= 0,
            "DUOXIE_PRIVACY_MINOR_GUARDIAN_GRACE_MS",
            "must be >= 0",
        )?;
        check(
            p.max_concurrent_exports >= 1,
            "DUOXIE_PRIVACY_MAX_CONCURRENT_EXPORTS",
            "must be at least 1",
        )?;
        check(
            p.retention_interval_ms >= 10,
            "DUOXIE_PRIVACY_RETENTION_INTERVAL_MS",
            "must be at least 10",
        )?;
        Ok(())
    }

    /// The database URL in force: the configured one, or SQLite in the data folder.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("duoxie.db").display()
            ),
        }
    }
}

/// The environment variable of a setting: `DUOXIE_` and its TOML path in capitals, `.` as
/// `_` (`auth.code_ttl_ms` is `DUOXIE_AUTH_CODE_TTL_MS`, a top-level `listen` is
/// `DUOXIE_LISTEN`). The one place the names come from: README's table is checked against it.
pub fn env_name(section: &str, field: &str) -> String {
    let mut name = String::from("DUOXIE_");
    if !section.is_empty() {
        name.push_str(&section.to_ascii_uppercase());
        name.push('_');
    }
    name.push_str(&field.to_ascii_uppercase());
    name
}

/// Reads each listed field of a settings section from its derived variable.
macro_rules! from_env {
    ($env:expr, $section:literal, $settings:expr, [$($field:ident),* $(,)?]) => {
        $( $env.set(&env_name($section, stringify!($field)), &mut $settings.$field)?; )*
    };
}
use from_env;

/// How a setting's value is read from its variable (trimmed).
trait FromEnv: Sized {
    fn from_env(raw: &str) -> Result<Self, String>;
}

macro_rules! parsed_from_env {
    ($($t:ty),* $(,)?) => {
        $(impl FromEnv for $t {
            fn from_env(raw: &str) -> Result<Self, String> {
                raw.parse().map_err(|e| format!("{e}"))
            }
        })*
    };
}
parsed_from_env!(
    u16,
    u32,
    u64,
    usize,
    i64,
    f64,
    bool,
    String,
    PathBuf,
    SqliteSynchronous
);

/// An empty value unsets an optional setting.
impl<T: FromEnv> FromEnv for Option<T> {
    fn from_env(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            Ok(None)
        } else {
            T::from_env(raw).map(Some)
        }
    }
}

impl FromEnv for Secret {
    fn from_env(raw: &str) -> Result<Self, String> {
        Ok(Secret(raw.to_string()))
    }
}

struct Env<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Env<'_, F> {
    fn set<T: FromEnv>(&self, key: &str, slot: &mut T) -> anyhow::Result<()> {
        if let Some(raw) = (self.0)(key) {
            // The value itself is never echoed: it may be a secret.
            *slot = T::from_env(raw.trim())
                .map_err(|e| anyhow::anyhow!("invalid setting {key}: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// README's configuration table and the variables `apply_env` reads agree: every
    /// documented variable is the one derived from its TOML key and is read, and everything
    /// read is documented (under its own name, or as the derived twin of an alias).
    #[test]
    fn the_readme_table_is_the_settings_read_from_the_environment() {
        let readme = include_str!("../README.md");
        let mut documented = std::collections::BTreeMap::new();
        for line in readme.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (Some(env), Some(key)) = (cells.get(1), cells.get(2)) else {
                continue;
            };
            let (Some(env), Some(key)) = (
                env.strip_prefix('`').and_then(|e| e.strip_suffix('`')),
                key.strip_prefix('`').and_then(|k| k.strip_suffix('`')),
            ) else {
                continue;
            };
            if env.chars().all(|c| c.is_ascii_uppercase() || c == '_') && !key.contains(' ') {
                documented.insert(env.to_string(), key.to_string());
            }
        }
        assert!(documented.len() > 60, "the table was read: {documented:?}");
        let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
        Settings::default()
            .apply_env(|key| {
                asked.borrow_mut().insert(key.to_string());
                None
            })
            .expect("nothing set");
        let asked = asked.into_inner();
        let mut derived_twins = std::collections::BTreeSet::new();
        for (env, key) in &documented {
            let (section, field) = key.split_once('.').unwrap_or(("", key));
            let derived = env_name(section, field);
            if env != &derived {
                assert!(
                    ["DATABASE_URL", "REDIS_URL"].contains(&env.as_str()),
                    "{env} is documented for `{key}`, whose variable is {derived}"
                );
                derived_twins.insert(derived);
            }
            assert!(asked.contains(env), "{env} is documented but never read");
        }
        for key in &asked {
            assert!(
                documented.contains_key(key) || derived_twins.contains(key),
                "{key} is read but not in README's configuration table"
            );
        }
    }

    fn with_env(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut s = Settings::default();
        s.apply_env(|k| map.get(k).cloned())?;
        s.validate()?;
        Ok(s)
    }

    #[test]
    fn defaults_are_valid() {
        assert!(Settings::default().validate().is_ok());
    }

    #[test]
    fn environment_overrides_defaults() {
        let s = with_env(&[
            ("DUOXIE_LISTEN", "0.0.0.0:9000"),
            ("DUOXIE_WS_RATE_PER_SEC", "5.5"),
            ("DUOXIE_AUTH_DEV_CODES", "true"),
            ("DUOXIE_SQLITE_SYNCHRONOUS", "NORMAL"),
        ])
        .expect("valid");
        assert_eq!(s.listen, "0.0.0.0:9000");
        assert_eq!(s.ws.rate_per_sec, 5.5);
        assert!(s.auth.dev_codes);
        assert_eq!(s.sqlite_synchronous, SqliteSynchronous::Normal);
    }

    #[test]
    fn invalid_settings_name_the_setting() {
        let cases = [
            ("DUOXIE_LISTEN", "not an address"),
            ("DUOXIE_WS_MAX_FRAME_BYTES", "12"),
            ("DUOXIE_WS_RATE_PER_SEC", "zero"),
            ("DUOXIE_CHAT_PAGE_MAX", "0"),
            ("DATABASE_URL", "mysql://x"),
            ("DUOXIE_WS_CLIENT_TIMEOUT_MS", "5"),
            ("DUOXIE_PRIVACY_PHONE_KEY", "too-short"),
            ("DUOXIE_PRIVACY_RECEIPT_KEY", "AAAA"),
        ];
        for (key, value) in cases {
            let err = with_env(&[(key, value)]).expect_err(key).to_string();
            assert!(
                err.contains(key),
                "{key}={value}: error {err:?} must name it"
            );
        }
    }

    #[test]
    fn settings_file_is_read_and_unknown_keys_refused() {
        let dir = std::env::temp_dir().join(format!("duoxie-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let good = dir.join("good.toml");
        std::fs::write(
            &good,
            "listen = \"127.0.0.1:9999\"\n[ws]\nrate_burst = 7.0\n",
        )
        .expect("write");
        let s = Settings::load(Some(&good)).expect("load");
        assert_eq!(s.listen, "127.0.0.1:9999");
        assert_eq!(s.ws.rate_burst, 7.0);
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "lisen = \"x\"\n").expect("write");
        assert!(Settings::load(Some(&bad)).is_err());
    }
}
