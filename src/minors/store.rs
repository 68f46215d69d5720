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

pub struct NewGuardianCode<'a> {
    pub child_id: i64,
    pub guardian_lookup: &'a str,
    pub guardian_sealed: &'a str,
    pub code_hash: &'a str,
    pub now: i64,
    pub expires_at: i64,
    pub attempts: i64,
    pub resend_before: i64,
}

/// Stores a fresh guardian code unless one was sent after `resend_before`.
pub async fn put_guardian_code(db: &Db, c: &NewGuardianCode<'_>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO guardian_codes \
         (child_id, guardian_lookup, guardian_sealed, code_hash, sent_at, expires_at, attempts_left) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (child_id) DO UPDATE SET guardian_lookup = excluded.guardian_lookup, \
         guardian_sealed = excluded.guardian_sealed, code_hash = excluded.code_hash, \
         sent_at = excluded.sent_at, expires_at = excluded.expires_at, \
         attempts_left = excluded.attempts_left WHERE guardian_codes.sent_at <= $8",
    )
    .bind(c.child_id)
    .bind(c.guardian_lookup)
    .bind(c.guardian_sealed)
    .bind(c.code_hash)
    .bind(c.now)
    .bind(c.expires_at)
    .bind(c.attempts)
    .bind(c.resend_before)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub struct GuardianAttempt {
    pub guardian_lookup: String,
    pub guardian_sealed: String,
    pub code_hash: String,
    pub expires_at: i64,
}

/// Spends one attempt on the child's pending code; `None` when none or no attempt is left.
pub async fn spend_guardian_attempt(
    db: &Db,
    child_id: i64,
) -> Result<Option<GuardianAttempt>, sqlx::Error> {
    sqlx::query(
        "UPDATE guardian_codes SET attempts_left = attempts_left - 1 \
         WHERE child_id = $1 AND attempts_left > 0 \
         RETURNING guardian_lookup, guardian_sealed, code_hash, expires_at",
    )
    .bind(child_id)
    .fetch_optional(db)
    .await?
    .map(|r| {
        Ok(GuardianAttempt {
            guardian_lookup: r.try_get(0)?,
            guardian_sealed: r.try_get(1)?,
            code_hash: r.try_get(2)?,
            expires_at: r.try_get(3)?,
        })
    })
    .transpose()
}

pub async fn guardian_code_exists(db: &Db, child_id: i64) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("SELECT 1 FROM guardian_codes WHERE child_id = $1")
            .bind(child_id)
            .fetch_optional(db)
            .await?
            .is_some(),
    )
}

pub async fn consume_guardian_code(
    db: &Db,
    child_id: i64,
    code_hash: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM guardian_codes WHERE child_id = $1 AND code_hash = $2")
        .bind(child_id)
        .bind(code_hash)
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
    sqlx::query(&sql)
        .bind(latest_14_birth_date)
        .bind(restricted_before)
        .bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect()
}

/// Part of the account-deletion transaction.
pub async fn erase(conn: &mut sqlx::AnyConnection, child_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM guardian_codes WHERE child_id = $1")
        .bind(child_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM guardian_events WHERE child_id = $1")
        .bind(child_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
