//! Privacy SQL: deletion requests and their claiming, the staff-access audit log.

use sqlx::Row;

use crate::store::Db;

/// Starts the cooling-off period; a request already pending keeps its (earlier) due time.
pub async fn request_deletion(
    db: &Db,
    user_id: i64,
    now: i64,
    due_at: i64,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    sqlx::query(
        "UPDATE users SET deletion_requested_at = COALESCE(deletion_requested_at, $1), \
         deletion_due_at = COALESCE(deletion_due_at, $2), \
         deletion_reason = COALESCE(deletion_reason, 'user') \
         WHERE id = $3 AND deleted_at IS NULL",
    )
    .bind(now)
    .bind(due_at)
    .bind(user_id)
    .execute(db)
    .await?;
    sqlx::query("SELECT deletion_requested_at, deletion_due_at FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(db)
        .await?
        .map(|r| -> Result<Option<(i64, i64)>, sqlx::Error> {
            Ok(r.try_get::<Option<i64>, _>(0)?
                .zip(r.try_get::<Option<i64>, _>(1)?))
        })
        .transpose()
        .map(Option::flatten)
}

/// A login during the cooling-off period cancels the user's own deletion request; true when
/// one was pending. A deletion the guardian asked for, or of a child found without consent,
/// is not the user's to cancel.
pub async fn cancel_deletion(db: &Db, user_id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET deletion_requested_at = NULL, deletion_due_at = NULL, \
         deletion_reason = NULL WHERE id = $1 AND deletion_due_at IS NOT NULL \
         AND deleted_at IS NULL AND COALESCE(deletion_reason, 'user') = 'user'",
    )
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Accounts whose cooling-off period has ended.
pub async fn due_deletions(db: &Db, now: i64, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM users WHERE deletion_due_at IS NOT NULL AND deletion_due_at <= $1 \
         AND deleted_at IS NULL ORDER BY deletion_due_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Marks the account deleted if it still is due; false when another node (or a login)
/// got there first. Run inside the deletion transaction, so the claim and the erasure
/// commit together or not at all.
pub async fn claim_deletion(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET deleted_at = $1, deletion_due_at = NULL \
         WHERE id = $2 AND deleted_at IS NULL AND deletion_due_at IS NOT NULL \
         AND deletion_due_at <= $1",
    )
    .bind(now)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// A pending deletion the user cannot cancel by logging in, if any.
pub async fn imposed_deletion_pending(db: &Db, user_id: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL \
         AND deletion_due_at IS NOT NULL AND deletion_reason IN ('guardian', 'under_14')",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await?
    .is_some())
}

pub async fn deleted_at(db: &Db, user_id: i64) -> Result<Option<i64>, sqlx::Error> {
    Ok(sqlx::query("SELECT deleted_at FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(db)
        .await?
        .map(|r| r.try_get::<Option<i64>, _>(0))
        .transpose()?
        .flatten())
}

pub async fn record_staff_access(
    db: &Db,
    staff_id: i64,
    subject_id: i64,
    what: &str,
    why: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO staff_access_log (staff_id, subject_id, what, why, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(staff_id)
    .bind(subject_id)
    .bind(what)
    .bind(why)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Who on the staff read this user's data, newest first.
pub async fn staff_access_to(
    db: &Db,
    subject_id: i64,
) -> Result<Vec<serde_json::Value>, sqlx::Error> {
    sqlx::query(
        "SELECT staff_id, what, why, created_at FROM staff_access_log \
         WHERE subject_id = $1 ORDER BY id DESC",
    )
    .bind(subject_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(serde_json::json!({
            "staff_id": r.try_get::<i64, _>(0)?,
            "what": r.try_get::<String, _>(1)?,
            "why": r.try_get::<String, _>(2)?,
            "at": r.try_get::<i64, _>(3)?,
        }))
    })
    .collect()
}

/// The audit entries about a deleted user go with the account (entries they wrote as staff
/// stay, pointing at the anonymised row).
pub async fn erase_staff_access(
    conn: &mut sqlx::AnyConnection,
    subject_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM staff_access_log WHERE subject_id = $1")
        .bind(subject_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Retention: audit entries older than `before`.
pub async fn purge_staff_access(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM staff_access_log WHERE created_at < $1")
            .bind(before)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

pub use crate::rights::ImposedDeletion;

/// A deletion due now, whatever was pending; a login does not cancel it.
pub async fn schedule_deletion_now(
    db: &Db,
    user_id: i64,
    now: i64,
    reason: ImposedDeletion,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET deletion_requested_at = COALESCE(deletion_requested_at, $1), \
         deletion_due_at = $1, deletion_reason = $3 WHERE id = $2 AND deleted_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(match reason {
        ImposedDeletion::Guardian => "guardian",
        ImposedDeletion::Under14 => "under_14",
    })
    .execute(db)
    .await?;
    Ok(())
}
