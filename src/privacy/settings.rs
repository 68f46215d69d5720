//! Privacy's settings: the `[privacy]` section (env `DUOXIE_PRIVACY_*`), its defaults and the values it
//! refuses.

use crate::config::{check, decode_key, Env, Secret, Section};
use serde::Deserialize;

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

impl Section for PrivacySettings {
    const NAME: &'static str = "privacy";

    fn apply_env(&mut self, env: &Env<'_>) -> anyhow::Result<()> {
        crate::config::from_env!(
            env,
            "privacy",
            self,
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

    fn validate(&self) -> anyhow::Result<()> {
        let p = self;
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
}
