//! The server's settings: every section, as each domain declares it, loaded in one place.
//! Defaults in code < an optional TOML file (`--config` / `DUOXIE_CONFIG`) < `DUOXIE_*`
//! environment variables, then validated: each section checks its own values
//! ([`crate::config::Section`]) and this struct what spans sections and the top-level keys.
//! `Settings::load` names the offending setting on failure, so a bad deployment stops at
//! start-up instead of misbehaving later.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

pub use crate::auth::settings::AuthSettings;
pub use crate::chat::settings::ChatSettings;
use crate::config::{check, Env, Section, SqliteSynchronous};
pub use crate::feed::settings::FeedSettings;
pub use crate::live::settings::LiveSettings;
pub use crate::media::settings::MediaSettings;
pub use crate::moderation::settings::ModerationSettings;
pub use crate::privacy::settings::PrivacySettings;
pub use crate::share::settings::ShareSettings;
pub use crate::ws::settings::WsSettings;

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
    pub live: LiveSettings,
    pub feed: FeedSettings,
    pub share: ShareSettings,
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
            live: LiveSettings::default(),
            feed: FeedSettings::default(),
            share: ShareSettings::default(),
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
        crate::config::from_env!(
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
        self.auth.apply_env(&env)?;
        self.ws.apply_env(&env)?;
        self.chat.apply_env(&env)?;
        self.moderation.apply_env(&env)?;
        self.media.apply_env(&env)?;
        self.privacy.apply_env(&env)?;
        self.live.apply_env(&env)?;
        self.feed.apply_env(&env)?;
        self.share.apply_env(&env)?;
        Ok(())
    }

    /// Rejects settings the server cannot run with, naming the setting.
    pub fn validate(&self) -> anyhow::Result<()> {
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
        self.auth.validate()?;
        self.ws.validate()?;
        self.chat.validate()?;
        self.moderation.validate()?;
        self.media.validate()?;
        self.privacy.validate()?;
        self.live.validate()?;
        self.feed.validate()?;
        self.share.validate()?;
        Ok(())
    }

    /// How the store opens the database.
    pub fn store(&self) -> crate::store::StoreSettings {
        crate::store::StoreSettings {
            url: self.effective_database_url(),
            data_dir: self.data_dir.clone(),
            max_connections: self.db_max_connections,
            sqlite_synchronous: self.sqlite_synchronous,
        }
    }

    /// The server's keys, as settings give them (or generated into the data folder).
    pub async fn keys(&self, db: &crate::store::Db) -> anyhow::Result<crate::keys::ServerKeys> {
        crate::keys::ServerKeys::load(
            &self.data_dir,
            self.privacy.receipt_key.as_ref(),
            self.privacy.phone_key.as_ref(),
            db,
        )
        .await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::env_name;
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
            if env
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && !key.contains(' ')
            {
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
