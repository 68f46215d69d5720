//! Abuse limits on the account endpoints: how many one-time codes go out (each one a paid
//! SMS) per client IP, per destination number and in all, and how many login attempts one IP
//! may make. Counted in the database ([`crate::store::rate`]) so that every node shares them.
//!
//! Limits are charged before anything else is looked at, so that a refused request learns
//! nothing (not whether a number is registered) and costs nothing.

use std::net::IpAddr;

use actix_web::HttpRequest;

use crate::config::AuthSettings;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::store::rate::{self, Limit};
use crate::store::{now_ms, Db};

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

    fn key(&self) -> String {
        match self.0 {
            Some(ip) => ip.to_string(),
            None => "unknown".to_string(),
        }
    }
}

fn refused(what: &str, wait_ms: u64) -> AppError {
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
pub async fn charge_code(
    db: &Db,
    s: &AuthSettings,
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

/// Charges one login attempt (code or password) from `ip`.
pub async fn charge_login(db: &Db, s: &AuthSettings, ip: &ClientIp) -> AppResult<()> {
    let key = format!("login:ip:{}", ip.key());
    match rate::hit(
        db,
        &key,
        Limit::per_hour(s.logins_per_ip_per_hour),
        now_ms(),
    )
    .await?
    {
        Some(wait) => Err(refused("login attempts", wait)),
        None => Ok(()),
    }
}
