//! The blocks table.

use std::collections::HashSet;

use serde_json::{json, Value};
use sqlx::{AnyConnection, Row};

use crate::store::{Backend, Db};

/// Blocks `(blocker, blocked)` whose blocked user is one of `blocked`.
pub async fn blocks_against(
    conn: &mut AnyConnection,
    backend: Backend,
    blocked: &[i64],
) -> Result<HashSet<(i64, i64)>, sqlx::Error> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT blocker_id, blocked_id FROM blocks \
             WHERE blocked_id IN (SELECT value FROM json_each($1))"
        }
        Backend::Postgres => {
            "SELECT blocker_id, blocked_id FROM blocks \
             WHERE blocked_id IN (SELECT value::bigint FROM jsonb_array_elements_text($1::jsonb))"
        }
    };
    sqlx::query(sql)
        .bind(json!(blocked).to_string())
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

pub async fn is_blocked(db: &Db, blocker: i64, blocked: i64) -> Result<bool, sqlx::Error> {
    let n: i64 =
        sqlx::query("SELECT COUNT(*) FROM blocks WHERE blocker_id = $1 AND blocked_id = $2")
            .bind(blocker)
            .bind(blocked)
            .fetch_one(db)
            .await?
            .try_get(0)?;
    Ok(n > 0)
}

pub async fn block(db: &Db, blocker: i64, blocked: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (blocker_id, blocked_id) DO NOTHING",
    )
    .bind(blocker)
    .bind(blocked)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn unblock(db: &Db, blocker: i64, blocked: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2")
        .bind(blocker)
        .bind(blocked)
        .execute(db)
        .await?;
    Ok(())
}

/// Everyone `user_id` blocks or is blocked by, in one statement (each side has its index).
pub async fn blocked_either_way(db: &Db, user_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT blocked_id FROM blocks WHERE blocker_id = $1 \
         UNION SELECT blocker_id FROM blocks WHERE blocked_id = $1",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

pub async fn blocked_by(db: &Db, blocker: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT blocked_id FROM blocks WHERE blocker_id = $1 ORDER BY blocked_id")
        .bind(blocker)
        .fetch_all(db)
        .await
}

/// The export's blocks made by `user_id`.
pub async fn export_blocks(db: &Db, user_id: i64) -> Result<Vec<Value>, sqlx::Error> {
    sqlx::query(
        "SELECT blocked_id, created_at FROM blocks WHERE blocker_id = $1 ORDER BY blocked_id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(json!({
            "blocked_id": r.try_get::<i64, _>(0)?,
            "created_at": r.try_get::<i64, _>(1)?,
        }))
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()
}

/// A deleted account's blocks.
pub async fn erase_blocks(conn: &mut sqlx::AnyConnection, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM blocks WHERE blocker_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}
