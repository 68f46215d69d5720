//! One-time codes, the one mechanism behind every "we sent you a code" (policy: 账号安全):
//! a login code to a phone, a guardian's code for a child's account, the two codes of a
//! phone change. A code is pending for a `(purpose, subject)`: one row in `one_time_codes`
//! with the keyed hash of the code (never the code), its expiry, its attempts left and what
//! the purpose needs once the code is right (`payload`: the guardian's sealed number, the new
//! number). A fresh code replaces the pending one, but not within the resend interval; each
//! try spends an attempt before the hash is compared; the right code is consumed by one
//! conditional statement, so two racing tries cannot both succeed.
//!
//! Every code is a paid SMS: [`charge`] counts it per client IP, per destination number and
//! in all before anything else is looked at, so a refused request learns nothing (not whether
//! a number is registered) and costs nothing. Delivery is a [`CodeSender`]; the default writes
//! an owner-only outbox file for development, and codes never reach the server log.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use actix_web::HttpRequest;
use anyhow::Context;
use rand::Rng;
use serde_json::Value;
use sqlx::Row;

use crate::error::{AppError, AppResult, ErrorCode};
use crate::phone::PhoneNumber;
use crate::store::rate::{self, Limit};
use crate::store::{now_ms, Db};

/// What a code is for; the first half of its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Logging in (or registering) with a phone; the subject is the number's lookup.
    Login,
    /// A guardian's consent for an account under 14; the subject is the child's id.
    Guardian,
    /// Moving an account to a new number; the subject is the account's id.
    PhoneChange,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Login => "login",
            Purpose::Guardian => "guardian",
            Purpose::PhoneChange => "phone_change",
        }
    }
}

/// Six random digits.
pub fn new_code() -> String {
    format!("{:06}", rand::thread_rng().gen_range(0..1_000_000))
}

/// What codes may do, from the `[auth]` settings (`DUOXIE_AUTH_CODE_*`,
/// `DUOXIE_AUTH_CODES_*`, `DUOXIE_AUTH_DEV_CODES`), for every flow that sends one.
#[derive(Clone, Copy, Debug)]
pub struct CodePolicy {
    /// Return the code in the API response (development only).
    pub dev_codes: bool,
    pub code_ttl_ms: i64,
    pub code_max_attempts: i64,
    pub code_resend_ms: i64,
    pub codes_per_ip_per_hour: i64,
    pub codes_per_phone_per_day: i64,
    pub codes_global_per_minute: i64,
}

/// How long a code lives, how many tries it has, how soon another may be sent.
#[derive(Clone, Copy, Debug)]
pub struct Lifetime {
    pub ttl_ms: i64,
    pub attempts: i64,
    pub resend_ms: i64,
}

impl From<&CodePolicy> for Lifetime {
    fn from(s: &CodePolicy) -> Self {
        Self {
            ttl_ms: s.code_ttl_ms,
            attempts: s.code_max_attempts,
            resend_ms: s.code_resend_ms,
        }
    }
}

/// A code about to be sent.
pub struct NewCode<'a> {
    pub purpose: Purpose,
    pub subject: &'a str,
    /// The account the code is about, when there is one (erased with it).
    pub user_id: Option<i64>,
    pub code_hash: &'a str,
    pub payload: &'a Value,
    pub lifetime: Lifetime,
}

/// Whether a code may go out.
#[derive(Debug, PartialEq, Eq)]
pub enum Issued {
    /// Stored: send it.
    Stored,
    /// One was sent within the resend interval; the next may go in this many milliseconds.
    TooSoon { retry_after_ms: u64 },
}

/// Stores a fresh code for its `(purpose, subject)` unless one was sent within the resend
/// interval. One statement, so that two racing requests cannot both send.
pub async fn issue(db: &Db, c: &NewCode<'_>) -> AppResult<Issued> {
    let now = now_ms();
    let done = sqlx::query(
        "INSERT INTO one_time_codes \
         (purpose, subject, user_id, code_hash, payload, sent_at, expires_at, attempts_left) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (purpose, subject) DO UPDATE SET user_id = excluded.user_id, \
         code_hash = excluded.code_hash, payload = excluded.payload, sent_at = excluded.sent_at, \
         expires_at = excluded.expires_at, attempts_left = excluded.attempts_left \
         WHERE one_time_codes.sent_at <= $9",
    )
    .bind(c.purpose.as_str())
    .bind(c.subject)
    .bind(c.user_id)
    .bind(c.code_hash)
    .bind(c.payload.to_string())
    .bind(now)
    .bind(now + c.lifetime.ttl_ms)
    .bind(c.lifetime.attempts)
    .bind(now - c.lifetime.resend_ms)
    .execute(db)
    .await?;
    if done.rows_affected() > 0 {
        return Ok(Issued::Stored);
    }
    let sent_at: Option<i64> = sqlx::query_scalar(
        "SELECT sent_at FROM one_time_codes WHERE purpose = $1 AND subject = $2",
    )
    .bind(c.purpose.as_str())
    .bind(c.subject)
    .fetch_optional(db)
    .await?;
    let wait = sent_at.unwrap_or(now) + c.lifetime.resend_ms - now;
    Ok(Issued::TooSoon {
        retry_after_ms: wait.max(1) as u64,
    })
}

/// Why a code was not accepted; each purpose words it for its user.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// No code is pending (never sent, consumed, or withdrawn).
    NonePending,
    /// The attempts are spent: only a new code helps.
    NoAttemptsLeft,
    Expired,
    Wrong,
}

/// How a purpose words each refusal for its user (the error codes are the same for all).
pub struct Wording {
    pub none_pending: &'static str,
    pub no_attempts_left: &'static str,
    pub expired: &'static str,
    pub wrong: &'static str,
}

impl Refused {
    pub fn error(self, words: &Wording) -> AppError {
        match self {
            Refused::NonePending => AppError::new(ErrorCode::InvalidCode, words.none_pending),
            Refused::NoAttemptsLeft => {
                AppError::new(ErrorCode::TooManyAttempts, words.no_attempts_left)
            }
            Refused::Expired => AppError::new(ErrorCode::CodeExpired, words.expired),
            Refused::Wrong => AppError::new(ErrorCode::InvalidCode, words.wrong),
        }
    }
}

/// A code that was right, consumed.
#[derive(Debug)]
pub struct Redeemed {
    pub user_id: Option<i64>,
    pub payload: Value,
}

/// Spends one attempt on the pending code and consumes it when `expected_hash(payload)` is
/// the hash stored with it.
pub async fn redeem(
    db: &Db,
    purpose: Purpose,
    subject: &str,
    expected_hash: impl FnOnce(&Value) -> String,
) -> AppResult<Result<Redeemed, Refused>> {
    let spent = sqlx::query(
        "UPDATE one_time_codes SET attempts_left = attempts_left - 1 \
         WHERE purpose = $1 AND subject = $2 AND attempts_left > 0 \
         RETURNING code_hash, payload, expires_at, user_id",
    )
    .bind(purpose.as_str())
    .bind(subject)
    .fetch_optional(db)
    .await?;
    let Some(row) = spent else {
        return Ok(Err(if pending(db, purpose, subject).await? {
            Refused::NoAttemptsLeft
        } else {
            Refused::NonePending
        }));
    };
    let (code_hash, payload, expires_at, user_id): (String, String, i64, Option<i64>) = (
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
    );
    if expires_at <= now_ms() {
        return Ok(Err(Refused::Expired));
    }
    let payload: Value = serde_json::from_str(&payload)
        .map_err(|e| AppError::from(anyhow::anyhow!("a stored code's payload: {e}")))?;
    let hash = expected_hash(&payload);
    if hash != code_hash {
        return Ok(Err(Refused::Wrong));
    }
    let consumed = sqlx::query(
        "DELETE FROM one_time_codes WHERE purpose = $1 AND subject = $2 AND code_hash = $3",
    )
    .bind(purpose.as_str())
    .bind(subject)
    .bind(&hash)
    .execute(db)
    .await?;
    if consumed.rows_affected() == 0 {
        // Another try with the same code won the race.
        return Ok(Err(Refused::Wrong));
    }
    Ok(Ok(Redeemed { user_id, payload }))
}

/// Whether a code is pending for `(purpose, subject)`.
pub async fn pending(db: &Db, purpose: Purpose, subject: &str) -> AppResult<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM one_time_codes WHERE purpose = $1 AND subject = $2")
            .bind(purpose.as_str())
            .bind(subject)
            .fetch_optional(db)
            .await?
            .is_some(),
    )
}

/// Drops the pending code, if any (the flow it belonged to is over).
pub async fn withdraw(db: &Db, purpose: Purpose, subject: &str) -> AppResult<()> {
    sqlx::query("DELETE FROM one_time_codes WHERE purpose = $1 AND subject = $2")
        .bind(purpose.as_str())
        .bind(subject)
        .execute(db)
        .await?;
    Ok(())
}

/// Retention: codes of `purposes` past their expiry.
pub async fn purge_expired(db: &Db, purposes: &[Purpose], now: i64) -> Result<u64, sqlx::Error> {
    let mut purged = 0;
    for purpose in purposes {
        purged += sqlx::query("DELETE FROM one_time_codes WHERE purpose = $1 AND expires_at <= $2")
            .bind(purpose.as_str())
            .bind(now)
            .execute(db)
            .await?
            .rows_affected();
    }
    Ok(purged)
}

/// Erasure: every code about the account, inside the deletion transaction.
pub async fn erase_for_user(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM one_time_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

// ---- What a code costs: limits per client IP, destination and deployment ----

/// The client address a request came from: the peer, or the first `X-Forwarded-For` entry
/// when the deployment says a proxy sets it (`DUOXIE_AUTH_TRUST_FORWARDED_FOR`).
#[derive(Clone, Debug)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    pub fn of(req: &HttpRequest, trust_forwarded_for: bool) -> Self {
        let forwarded = trust_forwarded_for
            .then(|| req.headers().get("x-forwarded-for"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|first| first.trim().parse().ok());
        Self(forwarded.or_else(|| req.peer_addr().map(|a| a.ip())))
    }

    /// Tests and internal callers that have no client.
    pub fn unknown() -> Self {
        Self(None)
    }

    pub fn key(&self) -> String {
        match self.0 {
            Some(ip) => ip.to_string(),
            None => "unknown".to_string(),
        }
    }
}

/// `rate_limited` with the wait, counted in the metrics.
pub fn refused(what: &str, wait_ms: u64) -> AppError {
    crate::metrics::inc(&crate::metrics::METRICS.auth_rate_limited);
    AppError::new(
        ErrorCode::RateLimited,
        format!("too many {what}; try again later"),
    )
    .retry_after(wait_ms)
}

/// Charges one code to `destination_lookup` (the keyed hash of the number it goes to) from
/// `ip`: `rate_limited` with `retry_after_ms` when the IP, the number or the deployment has
/// had its share.
pub async fn charge(
    db: &Db,
    s: &CodePolicy,
    ip: &ClientIp,
    destination_lookup: &str,
) -> AppResult<()> {
    let (ip_key, dest_key) = (
        format!("code:ip:{}", ip.key()),
        format!("code:to:{destination_lookup}"),
    );
    let keys = [
        (ip_key.as_str(), Limit::per_hour(s.codes_per_ip_per_hour)),
        (dest_key.as_str(), Limit::per_day(s.codes_per_phone_per_day)),
        ("code:all", Limit::per_minute(s.codes_global_per_minute)),
    ];
    match rate::hit_all(db, &keys, now_ms()).await? {
        Some(wait) => Err(refused("verification codes", wait)),
        None => Ok(()),
    }
}

// ---- Delivery ----

/// Where codes go: production plugs an SMS gateway in here.
pub trait CodeSender: Send + Sync + 'static {
    fn send(&self, phone: &PhoneNumber, code: &str) -> anyhow::Result<()>;
}

/// For development: appends each code to `code_outbox.log` in the data folder (owner-only
/// permissions) and logs only that a code went to the masked number. Codes are credentials,
/// so they never go to the server log itself.
pub struct OutboxCodeSender {
    path: PathBuf,
}

impl OutboxCodeSender {
    pub fn new(data_dir: &std::path::Path) -> Self {
        Self {
            path: data_dir.join("code_outbox.log"),
        }
    }
}

impl CodeSender for OutboxCodeSender {
    fn send(&self, phone: &PhoneNumber, code: &str) -> anyhow::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&self.path)
            .with_context(|| format!("open code outbox {}", self.path.display()))?;
        writeln!(file, "{} {code}", phone.expose()).context("write code outbox")?;
        tracing::info!(phone = %phone, outbox = %self.path.display(), "code sent (development outbox)");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_six_digits() {
        for _ in 0..100 {
            let c = super::new_code();
            assert_eq!(c.len(), 6);
            assert!(c.chars().all(|c| c.is_ascii_digit()));
        }
    }
}
