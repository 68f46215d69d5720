//! Settings machinery: defaults in code < an optional TOML file < `DUOXIE_*` environment
//! variables. Each domain owns its section (`chat::settings::ChatSettings` is `[chat]`, env
//! `DUOXIE_CHAT_*`): its fields with their defaults and units, how they are read from the
//! environment and what values it refuses ([`Section`]). The top-level `settings` module puts the
//! sections together. Here: how env names are derived ([`env_name`], the one place), how a
//! value is read ([`FromEnv`]), the types settings share ([`Secret`], keys). Nothing in this
//! module may log a value: some settings are secrets.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{bail, Context};
use serde::Deserialize;

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
        $( $env.set(&$crate::config::env_name($section, stringify!($field)), &mut $settings.$field)?; )*
    };
}
pub(crate) use from_env;

/// How a setting's value is read from its variable (trimmed).
pub trait FromEnv: Sized {
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

/// The environment as settings read it (injectable, so that tests need not touch the
/// process environment).
pub struct Env<'a>(pub &'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    pub fn set<T: FromEnv>(&self, key: &str, slot: &mut T) -> anyhow::Result<()> {
        if let Some(raw) = (self.0)(key) {
            // The value itself is never echoed: it may be a secret.
            *slot = T::from_env(raw.trim())
                .map_err(|e| anyhow::anyhow!("invalid setting {key}: {e}"))?;
        }
        Ok(())
    }
}

/// A settings section a domain owns: the TOML table `[NAME]`, whose fields' variables are
/// `DUOXIE_<NAME>_<FIELD>`.
pub trait Section: Default {
    const NAME: &'static str;
    /// Reads every field from its derived variable ([`from_env`]).
    fn apply_env(&mut self, env: &Env<'_>) -> anyhow::Result<()>;
    /// Refuses values the domain cannot run with, naming the setting.
    fn validate(&self) -> anyhow::Result<()>;
}

/// `invalid setting NAME: why` unless `ok`.
pub fn check(ok: bool, name: &str, why: &str) -> anyhow::Result<()> {
    if ok {
        Ok(())
    } else {
        bail!("invalid setting {name}: {why}")
    }
}
