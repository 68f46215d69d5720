//! Auth's settings: the `[auth]` section (env `DUOXIE_AUTH_*`), its defaults and the values it
//! refuses.

use crate::config::{check, Env, Section};
use serde::Deserialize;

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

impl Section for AuthSettings {
    const NAME: &'static str = "auth";

    fn apply_env(&mut self, env: &Env<'_>) -> anyhow::Result<()> {
        crate::config::from_env!(
            env,
            "auth",
            self,
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
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        let a = self;
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
        Ok(())
    }
}

impl AuthSettings {
    /// What one-time codes may do (the kernel's [`crate::codes`] runs them).
    pub fn codes(&self) -> crate::codes::CodePolicy {
        crate::codes::CodePolicy {
            dev_codes: self.dev_codes,
            code_ttl_ms: self.code_ttl_ms,
            code_max_attempts: self.code_max_attempts,
            code_resend_ms: self.code_resend_ms,
            codes_per_ip_per_hour: self.codes_per_ip_per_hour,
            codes_per_phone_per_day: self.codes_per_phone_per_day,
            codes_global_per_minute: self.codes_global_per_minute,
        }
    }
}
