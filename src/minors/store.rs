//! Minors SQL: age declarations, guardian codes and the append-only guardian ledger.

use sqlx::Row;

use crate::store::Db;

pub struct AgeRow {
    pub birth_date: Option<String>,
    pub age_bracket: Option<String>,
    pub declared_at: Option<i64>,
    /// The latest guardian event's action, if any.
    pub guardian_action: Option<String>,
}

/// The latest guardian action of a child, as a correlated subquery on `users u`.
pub const LATEST_GUARDIAN_ACTION: &str = "(SELECT g.action FROM guardian_events g \
     WHERE g.child_id = u.id ORDER BY g.id DESC LIMIT 1)";

pub async fn age_row(db: &Db, user_id: i64) -> Result<Option<AgeRow>, sqlx::Error> {
    let sql = format!(
        "SELECT u.birth_date, u.age_bracket, u.age_declared_at, {LATEST_GUARDIAN_ACTION} \
         FROM users u WHERE u.id = $1"
    );
    sqlx::query(&sql)
        .bind(user_id)
        .fetch_optional(db)
        .await?
        .map(|r| {
            Ok(AgeRow {
                birth_date: r.try_get(0)?,
                age_bracket: r.try_get(1)?,
                declared_at: r.try_get(2)?,
                guardian_action: r.try_get(3)?,
            })
        })
        .transpose()
}

/// Records the user's own declaration, only if none was made: a declared age is corrected by
/// staff, not by the user (else a child could declare themselves adult afterwards).
pub async fn declare_age(
    db: &Db,
    user_id: i64,
    birth_date: Option<&str>,
    bracket: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET birth_date = $1, age_bracket = $2, age_declared_at = $3 \
         WHERE id = $4 AND age_declared_at IS NULL AND deleted_at IS NULL",
    )
    .bind(birth_date)
    .bind(bracket)
    .bind(now)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Staff correction of a birth date (audited by the caller).
pub async fn correct_birth_date(
    db: &Db,
    user_id: i64,
    birth_date: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET birth_date = $1, age_bracket = NULL, age_declared_at = $2 \
         WHERE id = $3 AND deleted_at IS NULL",
    )
    .bind(birth_date)
    .bind(now)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn append_guardian_event(
    db: &Db,
    child_id: i64,
    guardian_lookup: &str,
    guardian_sealed: &str,
    action: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO guardian_events (child_id, guardian_lookup, guardian_sealed, action, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(child_id)
    .bind(guardian_lookup)
    .bind(guardian_sealed)
    .bind(action)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

pub struct GuardianEvent {
    pub guardian_lookup: String,
    pub guardian_sealed: String,
    pub action: String,
    pub at: i64,
}

/// A child's guardian ledger, oldest first.
pub async fn guardian_history(db: &Db, child_id: i64) -> Result<Vec<GuardianEvent>, sqlx::Error> {
    sqlx::query(
        "SELECT guardian_lookup, guardian_sealed, action, created_at FROM guardian_events \
         WHERE child_id = $1 ORDER BY id",
    )
    .bind(child_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(GuardianEvent {
            guardian_lookup: r.try_get(0)?,
            guardian_sealed: r.try_get(1)?,
            action: r.try_get(2)?,
            at: r.try_get(3)?,
        })
    })
    .collect()
}

/// Children whose latest guardian event names this guardian: `(child, action, at)`.
pub async fn wards_of(
    db: &Db,
    guardian_lookup: &str,
) -> Result<Vec<(i64, String, i64)>, sqlx::Error> {
    sqlx::query(
        "SELECT g.child_id, g.action, g.created_at FROM guardian_events g \
         WHERE g.guardian_lookup = $1 \
         AND g.id = (SELECT MAX(h.id) FROM guardian_events h WHERE h.child_id = g.child_id) \
         ORDER BY g.child_id",
    )
    .bind(guardian_lookup)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
    .collect()
}

/// Accounts declared under 14 (born after `latest_14_birth_date`, or bracket `under_14`)
/// with no verified guardian since before `restricted_before`: their data is deleted.
pub async fn unguarded_children(
    db: &Db,
    latest_14_birth_date: &str,
    restricted_before: i64,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    let sql = format!(
        "SELECT u.id FROM users u WHERE u.deleted_at IS NULL AND u.age_declared_at IS NOT NULL \
         AND ((u.birth_date IS NOT NULL AND u.birth_date > $1) \
              OR (u.birth_date IS NULL AND u.age_bracket = 'under_14')) \
         AND COALESCE({LATEST_GUARDIAN_ACTION}, '') <> 'verified' \
         AND COALESCE((SELECT MAX(g.created_at) FROM guardian_events g WHERE g.child_id = u.id), \
                      u.age_declared_at) <= $2 \
         ORDER BY u.id LIMIT $3"
    );
    sqlx::query_scalar(&sql)
        .bind(latest_14_birth_date)
        .bind(restricted_before)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// Part of the account-deletion transaction.
pub async fn erase(conn: &mut sqlx::AnyConnection, child_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM guardian_events WHERE child_id = $1")
        .bind(child_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
