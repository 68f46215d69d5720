//! Moderation's settings: the `[moderation]` section (env `DUOXIE_MODERATION_*`), its defaults and the values it
//! refuses.

use std::path::PathBuf;

use crate::config::{check, Env, Section};
use serde::Deserialize;

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

const DAY_MS: i64 = 24 * 3600 * 1000;

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

impl Section for ModerationSettings {
    const NAME: &'static str = "moderation";

    fn apply_env(&mut self, env: &Env<'_>) -> anyhow::Result<()> {
        crate::config::from_env!(
            env,
            "moderation",
            self,
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
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        let md = self;
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
        Ok(())
    }
}
