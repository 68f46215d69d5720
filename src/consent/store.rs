//! Consent ledger SQL: append a change, read a user's history. The current state is derived
//! from the history in `consent::ConsentServer`, never stored.

use sqlx::Row;

use super::messages::ConsentRecord;
use crate::store::Db;

pub struct NewConsent<'a> {
    pub user_id: i64,
    pub permission: &'a str,
    pub granted: bool,
    pub policy_version: &'a str,
    pub actor: &'a str,
    pub device: &'a str,
    pub at: i64,
}

pub async fn append(db: &Db, c: &NewConsent<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO consent_events \
         (user_id, permission, granted, policy_version, actor, device, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(c.user_id)
    .bind(c.permission)
    .bind(i64::from(c.granted))
    .bind(c.policy_version)
    .bind(c.actor)
    .bind(c.device)
    .bind(c.at)
    .fetch_one(db)
    .await?
    .try_get(0)
}

/// Every change of the user's consents, oldest first.
pub async fn history(db: &Db, user_id: i64) -> Result<Vec<ConsentRecord>, sqlx::Error> {
    sqlx::query(
        "SELECT id, permission, granted, policy_version, actor, device, created_at \
         FROM consent_events WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(ConsentRecord {
            id: r.try_get(0)?,
            permission: r.try_get(1)?,
            granted: r.try_get::<i64, _>(2)? != 0,
            policy_version: r.try_get(3)?,
            actor: r.try_get(4)?,
            device: r.try_get(5)?,
            at: r.try_get(6)?,
            receipt: None,
        })
    })
    .collect()
}

/// Deletes the user's ledger (part of the account-deletion transaction).
pub async fn erase(conn: &mut sqlx::AnyConnection, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM consent_events WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Publishes a policy version unless it was published before (an old version is never
/// re-published by a node restarted with an old setting); true when it is new.
pub async fn publish_policy_version(db: &Db, version: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO policy_versions (version, published_at) VALUES ($1, $2) \
         ON CONFLICT (version) DO NOTHING",
    )
    .bind(version)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The version in force: the latest published.
pub async fn current_policy_version(db: &Db) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM policy_versions ORDER BY id DESC LIMIT 1")
        .fetch_optional(db)
        .await
}
