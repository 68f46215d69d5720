//! Share codes' SQL; every statement runs unchanged on SQLite and PostgreSQL (times in ms).

use serde::Serialize;
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::store::Db;

/// A code as its creator lists it.
#[derive(Debug, Clone, Serialize)]
pub struct CodeRow {
    pub id: i64,
    pub code: String,
    #[serde(skip)]
    pub creator_id: i64,
    pub target: String,
    pub target_id: i64,
    pub created_at: i64,
    pub expires_at: i64,
    #[serde(skip)]
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str =
    "SELECT id, code, creator_id, target, target_id, created_at, expires_at, revoked_at \
     FROM share_codes";

fn from_row(r: &AnyRow) -> Result<CodeRow, sqlx::Error> {
    Ok(CodeRow {
        id: r.try_get("id")?,
        code: r.try_get("code")?,
        creator_id: r.try_get("creator_id")?,
        target: r.try_get("target")?,
        target_id: r.try_get("target_id")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

pub struct NewCode<'a> {
    pub code: &'a str,
    pub creator_id: i64,
    pub target: &'a str,
    pub target_id: i64,
    pub expires_at: i64,
}

/// Stores the code; `false` when that code exists already (draw another).
pub async fn insert(db: &Db, new: &NewCode<'_>, now: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO share_codes (code, creator_id, target, target_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (code) DO NOTHING RETURNING id",
    )
    .bind(new.code)
    .bind(new.creator_id)
    .bind(new.target)
    .bind(new.target_id)
    .bind(now)
    .bind(new.expires_at)
    .fetch_optional(db)
    .await
}

pub async fn by_code(db: &Db, code: &str) -> Result<Option<CodeRow>, sqlx::Error> {
    sqlx::query(&format!("{COLUMNS} WHERE code = $1"))
        .bind(code)
        .fetch_optional(db)
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

/// Revokes the creator's code; whether it was theirs and live.
pub async fn revoke(db: &Db, creator_id: i64, code: &str, now: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE share_codes SET revoked_at = $3 \
         WHERE code = $1 AND creator_id = $2 AND revoked_at IS NULL AND expires_at > $3",
    )
    .bind(code)
    .bind(creator_id)
    .bind(now)
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// The creator's live codes after `after` (by id), oldest first.
pub async fn live_of(
    db: &Db,
    creator_id: i64,
    after: i64,
    limit: i64,
    now: i64,
) -> Result<Vec<CodeRow>, sqlx::Error> {
    sqlx::query(&format!(
        "{COLUMNS} WHERE creator_id = $1 AND id > $2 AND revoked_at IS NULL AND expires_at > $4 \
         ORDER BY id LIMIT $3"
    ))
    .bind(creator_id)
    .bind(after)
    .bind(limit)
    .bind(now)
    .fetch_all(db)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Forgets codes that ended (expired or revoked) before `before`: the retention job.
pub async fn prune(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM share_codes WHERE expires_at < $1 OR revoked_at < $1")
            .bind(before)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

// ---------------------------------------------------------------- the user's rights

/// Every code the user made, live or not, for the export.
pub async fn export_user(db: &Db, user_id: i64) -> Result<Value, sqlx::Error> {
    let codes: Vec<Value> = sqlx::query(&format!("{COLUMNS} WHERE creator_id = $1 ORDER BY id"))
        .bind(user_id)
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| {
            let c = from_row(r)?;
            Ok(json!({
                "code": c.code,
                "target": c.target,
                "target_id": c.target_id,
                "created_at": c.created_at,
                "expires_at": c.expires_at,
                "revoked_at": c.revoked_at,
            }))
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(json!({ "share_codes": codes }))
}

/// Inside the deletion transaction: the user's codes go (codes pointing at the user's profile
/// or posts stop resolving with the account, as nothing of it is visible any more).
pub async fn erase_user(conn: &mut AnyConnection, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM share_codes WHERE creator_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
