//! Share codes' settings: the `[share]` section (env `DUOXIE_SHARE_*`), its defaults and the
//! values it refuses. docs/protocol.md ("Share codes") names each where it applies.

use crate::config::{check, Env, Section};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShareSettings {
    /// How long a share code resolves, ms. env `DUOXIE_SHARE_CODE_TTL_MS`;
    /// default: 604800000 (7 days).
    pub code_ttl_ms: i64,
    /// Codes one user makes per hour, on all nodes. env `DUOXIE_SHARE_CODES_PER_HOUR`;
    /// default: 60.
    pub codes_per_hour: i64,
    /// Codes one user resolves per minute, on all nodes (what makes guessing codes
    /// hopeless). env `DUOXIE_SHARE_RESOLVES_PER_MINUTE`; default: 30.
    pub resolves_per_minute: i64,
}

impl Default for ShareSettings {
    fn default() -> Self {
        Self {
            code_ttl_ms: 7 * 86_400_000,
            codes_per_hour: 60,
            resolves_per_minute: 30,
        }
    }
}

impl Section for ShareSettings {
    const NAME: &'static str = "share";

    fn apply_env(&mut self, env: &Env<'_>) -> anyhow::Result<()> {
        crate::config::from_env!(
            env,
            "share",
            self,
            [code_ttl_ms, codes_per_hour, resolves_per_minute]
        );
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        check(
            (60_000..=90 * 86_400_000).contains(&self.code_ttl_ms),
            "DUOXIE_SHARE_CODE_TTL_MS",
            "must be between 60000 and 7776000000 (90 days)",
        )?;
        check(
            (1..=10_000).contains(&self.codes_per_hour),
            "DUOXIE_SHARE_CODES_PER_HOUR",
            "must be between 1 and 10000",
        )?;
        check(
            (1..=1000).contains(&self.resolves_per_minute),
            "DUOXIE_SHARE_RESOLVES_PER_MINUTE",
            "must be between 1 and 1000",
        )?;
        Ok(())
    }
}
