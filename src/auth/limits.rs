//! How many login attempts one client IP may make (what a code costs is
//! [`crate::codes::charge`]). Counted in the database ([`crate::store::rate`]) so that every
//! node shares them, and charged before anything else is looked at.

use super::settings::AuthSettings;
use crate::codes::{refused, ClientIp};
use crate::error::AppResult;
use crate::store::rate::{self, Limit};
use crate::store::{now_ms, Db};

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
