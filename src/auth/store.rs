//! Account SQL: users, roles, one-time codes and device tokens. One function per statement,
//! written once for SQLite and PostgreSQL.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::store::Db;

pub struct UserRow {
    pub id: i64,
    /// The number sealed by `PhoneVault`; `None` only before start-up sealed a legacy row.
    pub phone_sealed: Option<String>,
    pub nickname: String,
    pub avatar: Option<String>,
    pub gender: String,
    pub intro: String,
    pub has_password: bool,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
    pub deleted: bool,
}

const USER_COLUMNS: &str = "id, phone_sealed, nickname, avatar, gender, intro, \
     CASE WHEN password_hash IS NULL THEN 0 ELSE 1 END AS has_password, created_at, \
     last_seen_at, CASE WHEN deleted_at IS NULL THEN 0 ELSE 1 END AS deleted";

/// By column name; the two flags are computed (0 or 1) so that both backends agree.
fn user_from_row(row: &AnyRow) -> Result<UserRow, sqlx::Error> {
    let flag = |name: &str| Ok::<_, sqlx::Error>(row.try_get::<i64, _>(name)? != 0);
    Ok(UserRow {
        id: row.try_get("id")?,
        phone_sealed: row.try_get("phone_sealed")?,
        nickname: row.try_get("nickname")?,
        avatar: row.try_get("avatar")?,
        gender: row.try_get("gender")?,
        intro: row.try_get("intro")?,
        has_password: flag("has_password")?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        deleted: flag("deleted")?,
    })
}

pub async fn user_by_id(db: &Db, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    sqlx::query(&sql)
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
}

pub async fn user_id_by_phone(db: &Db, phone: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM users WHERE phone_lookup = $1")
        .bind(phone)
        .fetch_optional(db)
        .await
}

/// Creates the account for `phone` unless it exists; returns its id either way.
/// A new account's nickname is `用户<id>`: it names the account until its owner picks one
/// (and no user may pick a name of that form).
pub async fn ensure_user(db: &Db, phone: &str, now: i64) -> Result<i64, sqlx::Error> {
    let created = sqlx::query(
        "INSERT INTO users (phone_lookup, nickname, created_at) VALUES ($1, '用户', $2) \
         ON CONFLICT (phone_lookup) DO NOTHING",
    )
    .bind(phone)
    .bind(now)
    .execute(db)
    .await?
    .rows_affected()
        > 0;
    let id = user_id_by_phone(db, phone)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    if created {
        sqlx::query("UPDATE users SET nickname = $1 WHERE id = $2")
            .bind(format!("用户{id}"))
            .bind(id)
            .execute(db)
            .await?;
    }
    Ok(id)
}

/// Stores the sealed number of an account that has none yet (just registered).
pub async fn set_phone_sealed_if_missing(
    db: &Db,
    user_id: i64,
    sealed: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET phone_sealed = $1 WHERE id = $2 AND phone_sealed IS NULL")
        .bind(sealed)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Accounts still holding a plain number (written before phones were sealed).
pub async fn legacy_phones(db: &Db) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query(
        "SELECT id, phone_lookup FROM users WHERE phone_sealed IS NULL \
         AND phone_lookup NOT LIKE 'h1:%' AND phone_lookup NOT LIKE 'deleted:%'",
    )
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect()
}

/// Replaces a legacy plain number by its lookup hash and seal; a no-op if another node did it.
pub async fn seal_legacy_phone(
    db: &Db,
    user_id: i64,
    plain: &str,
    lookup: &str,
    sealed: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET phone_lookup = $1, phone_sealed = $2 \
         WHERE id = $3 AND phone_lookup = $4 AND phone_sealed IS NULL",
    )
    .bind(lookup)
    .bind(sealed)
    .bind(user_id)
    .bind(plain)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn password_hash(db: &Db, user_id: i64) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(db)
        .await?;
    Ok(match row {
        Some(r) => r.try_get(0)?,
        None => None,
    })
}

/// What a password login needs: the hash and the lock state.
pub struct PasswordState {
    pub hash: Option<String>,
    pub locked_until: Option<i64>,
}

pub async fn password_state(db: &Db, user_id: i64) -> Result<Option<PasswordState>, sqlx::Error> {
    let row = sqlx::query("SELECT password_hash, password_locked_until FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(db)
        .await?;
    row.map(|r| {
        Ok(PasswordState {
            hash: r.try_get(0)?,
            locked_until: r.try_get(1)?,
        })
    })
    .transpose()
}

/// Claims one password attempt before the (slow) check runs, so that attempts racing each
/// other are all counted: false when password use is locked. The attempt counts as wrong
/// until [`clear_wrong_passwords`] says otherwise; the one that reaches `max` sets the lock
/// until `until`. An expired lock starts the count afresh.
pub async fn claim_password_attempt(
    db: &Db,
    user_id: i64,
    max: i64,
    until: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let fresh = "(password_locked_until IS NOT NULL AND password_locked_until <= $4)";
    let count = format!("CASE WHEN {fresh} THEN 1 ELSE failed_password_logins + 1 END");
    let done = sqlx::query(&format!(
        "UPDATE users SET failed_password_logins = {count}, \
         password_locked_until = CASE WHEN {count} >= $2 THEN $3 \
           WHEN {fresh} THEN NULL ELSE password_locked_until END \
         WHERE id = $1 AND (password_locked_until IS NULL OR password_locked_until <= $4)"
    ))
    .bind(user_id)
    .bind(max)
    .bind(until)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A successful login (password or code) starts the count afresh and lifts any lock.
pub async fn clear_wrong_passwords(db: &Db, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET failed_password_logins = 0, password_locked_until = NULL \
         WHERE id = $1 AND (failed_password_logins <> 0 OR password_locked_until IS NOT NULL)",
    )
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn set_password_hash(db: &Db, user_id: i64, hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

pub struct ProfileUpdate<'a> {
    pub nickname: Option<&'a str>,
    pub avatar: Option<Option<&'a str>>,
    pub gender: Option<&'a str>,
    pub intro: Option<&'a str>,
}

/// Applies the given fields; absent ones keep their value (`COALESCE`), and `avatar` can be
/// set to NULL explicitly.
pub async fn update_profile(
    db: &Db,
    user_id: i64,
    p: &ProfileUpdate<'_>,
) -> Result<(), sqlx::Error> {
    let (avatar_given, avatar) = match p.avatar {
        Some(v) => (1i64, v),
        None => (0i64, None),
    };
    sqlx::query(
        "UPDATE users SET nickname = COALESCE($1, nickname), \
         avatar = CASE WHEN $2 = 1 THEN $3 ELSE avatar END, \
         gender = COALESCE($4, gender), intro = COALESCE($5, intro) WHERE id = $6",
    )
    .bind(p.nickname)
    .bind(avatar_given)
    .bind(avatar)
    .bind(p.gender)
    .bind(p.intro)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn set_last_seen(db: &Db, user_id: i64, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET last_seen_at = $1 WHERE id = $2")
        .bind(at)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn roles_of(db: &Db, user_id: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
        .bind(user_id)
        .fetch_all(db)
        .await
}

pub async fn grant_role(db: &Db, user_id: i64, role: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO user_roles (user_id, role, granted_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, role) DO NOTHING",
    )
    .bind(user_id)
    .bind(role)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn revoke_role(db: &Db, user_id: i64, role: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role = $2")
        .bind(user_id)
        .bind(role)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Live accounts whose nickname contains `needle` (case-insensitive; `%`, `_` and `\\` are
/// literal), holding `role` if given, newest first, below `before_id`.
pub async fn search_users(
    db: &Db,
    needle: &str,
    role: Option<&str>,
    before_id: i64,
    limit: i64,
) -> Result<Vec<UserRow>, sqlx::Error> {
    let escaped: String = needle
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE deleted_at IS NULL AND id < $1 \
         AND LOWER(nickname) LIKE '%' || LOWER($2) || '%' ESCAPE '\\' \
         AND (CAST($3 AS TEXT) IS NULL OR id IN (SELECT user_id FROM user_roles WHERE role = $3)) \
         ORDER BY id DESC LIMIT $4"
    );
    sqlx::query(&sql)
        .bind(before_id)
        .bind(escaped)
        .bind(role)
        .bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(user_from_row)
        .collect()
}

pub async fn users_with_role(db: &Db, role: &str, limit: i64) -> Result<Vec<UserRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id IN \
         (SELECT user_id FROM user_roles WHERE role = $1) ORDER BY id DESC LIMIT $2"
    );
    sqlx::query(&sql)
        .bind(role)
        .bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(user_from_row)
        .collect()
}

pub async fn insert_token(
    db: &Db,
    user_id: i64,
    token_hash: &str,
    device: &str,
    now: i64,
    expires_at: i64,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO auth_tokens (user_id, token_hash, device, created_at, last_used_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(user_id)
    .bind(token_hash)
    .bind(device)
    .bind(now)
    .bind(now)
    .bind(expires_at)
    .fetch_one(db)
    .await?;
    row.try_get(0)
}

pub struct TokenRow {
    pub id: i64,
    pub user_id: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: i64,
    /// The user's granted roles, read in the same round trip.
    pub roles: Vec<String>,
    /// What decides the account's standing (minors), read in the same round trip.
    pub age: crate::minors::AgeRow,
    /// The end of an active mute, if any.
    pub muted_until: Option<i64>,
}

/// The token and its user's roles in one query (one row per role): every request and every
/// socket handshake runs it, and a reconnect storm runs it thousands of times at once.
/// Tokens of a suspended account are refused (but not revoked: lifting restores them).
pub async fn token_by_hash(
    db: &Db,
    token_hash: &str,
    now: i64,
) -> Result<Option<TokenRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT t.id, t.user_id, t.expires_at, t.revoked_at, t.last_used_at, r.role, \
             u.birth_date, u.age_bracket, u.age_declared_at, {}, \
             (SELECT MAX(s.until) FROM user_sanctions s WHERE s.user_id = u.id \
                AND s.kind = 'mute' AND s.lifted_at IS NULL AND s.until > $2) \
             FROM auth_tokens t JOIN users u ON u.id = t.user_id \
             LEFT JOIN user_roles r ON r.user_id = t.user_id \
             WHERE t.token_hash = $1 AND u.deleted_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM user_sanctions s WHERE s.user_id = u.id \
                AND s.kind = 'suspend' AND s.lifted_at IS NULL \
                AND (s.until IS NULL OR s.until > $2))",
        crate::minors::LATEST_GUARDIAN_ACTION_SQL
    ))
    .bind(token_hash)
    .bind(now)
    .fetch_all(db)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let roles = rows
        .iter()
        .map(|r| r.try_get::<Option<String>, _>(5))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    Ok(Some(TokenRow {
        id: first.try_get(0)?,
        user_id: first.try_get(1)?,
        expires_at: first.try_get(2)?,
        revoked_at: first.try_get(3)?,
        last_used_at: first.try_get(4)?,
        roles,
        age: crate::minors::AgeRow {
            birth_date: first.try_get(6)?,
            age_bracket: first.try_get(7)?,
            declared_at: first.try_get(8)?,
            guardian_action: first.try_get(9)?,
        },
        muted_until: first.try_get(10)?,
    }))
}

pub async fn touch_token(db: &Db, token_id: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE auth_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(token_id)
        .execute(db)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
pub struct SessionRow {
    pub id: i64,
    pub device: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
}

pub async fn live_sessions(
    db: &Db,
    user_id: i64,
    now: i64,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, device, created_at, last_used_at, expires_at FROM auth_tokens \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY id",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(db)
    .await
}

/// Revokes one of the user's tokens; false when it is not theirs or already revoked.
pub async fn revoke_token(
    db: &Db,
    user_id: i64,
    token_id: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE auth_tokens SET revoked_at = $1 \
         WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(token_id)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// A device token in its owner's export.
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
pub struct ExportedSession {
    pub id: i64,
    pub device: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// Every device token of the user, ended ones too (for the export).
pub async fn all_sessions(db: &Db, user_id: i64) -> Result<Vec<ExportedSession>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, device, created_at, last_used_at, expires_at, revoked_at \
         FROM auth_tokens WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// Revokes every live token of the user; returns how many.
pub async fn revoke_all_tokens(db: &Db, user_id: i64, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE auth_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Erases the account's personal data and leaves an anonymous row ("deleted user") that
/// messages already delivered still point at. Part of the deletion transaction.
pub async fn erase_account(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    deleted_nickname: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET phone_lookup = $1, phone_sealed = NULL, nickname = $2, avatar = NULL, \
         gender = 'unspecified', intro = '', password_hash = NULL, failed_password_logins = 0, \
         password_locked_until = NULL, last_seen_at = NULL, birth_date = NULL, \
         age_bracket = NULL, age_declared_at = NULL WHERE id = $3",
    )
    .bind(format!("deleted:{user_id}"))
    .bind(deleted_nickname)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM auth_tokens WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    crate::codes::erase_for_user(conn, user_id).await
}

/// Retention: device tokens that ended (expired or revoked) before `before`.
pub async fn purge_ended_tokens(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM auth_tokens WHERE expires_at < $1 OR (revoked_at IS NOT NULL AND revoked_at < $1)",
    )
    .bind(before)
    .execute(db)
    .await?
    .rows_affected())
}

/// Moves the account to the new number (its codes are consumed already).
/// False when the new number was registered in the meantime (unique lookup).
pub async fn apply_phone_change(
    db: &Db,
    backend: crate::store::Backend,
    user_id: i64,
    new_lookup: &str,
    new_sealed: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = crate::store::begin_write(db, backend).await?;
    let moved = sqlx::query(
        "UPDATE users SET phone_lookup = $1, phone_sealed = $2 WHERE id = $3 AND deleted_at IS NULL",
    )
    .bind(new_lookup)
    .bind(new_sealed)
    .bind(user_id)
    .execute(&mut *tx)
    .await;
    match moved {
        Err(e) if crate::store::is_unique_violation(&e) => {
            tx.rollback().await?;
            return Ok(false);
        }
        other => {
            other?;
        }
    }
    tx.commit().await?;
    Ok(true)
}

/// A token's standing as the database has it now: the periodic re-check of open sockets.
pub struct TokenStandingRow {
    pub token_id: i64,
    /// Neither revoked nor expired.
    pub live: bool,
    /// The account is deleted or its deletion is scheduled.
    pub closing: bool,
    pub suspended: bool,
    pub muted_until: i64,
    pub roles: Vec<String>,
    pub age: crate::minors::AgeRow,
}

/// The standing of each token in `token_ids` (a token missing from the answer no longer
/// exists: treat it as revoked). One round trip for the whole batch.
pub async fn token_standings(
    db: &Db,
    token_ids: &[i64],
    now: i64,
) -> Result<Vec<TokenStandingRow>, sqlx::Error> {
    if token_ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..token_ids.len())
        .map(|i| format!("${}", i + 2))
        .collect();
    let sql = format!(
        "SELECT t.id, CAST(CASE WHEN t.revoked_at IS NULL AND t.expires_at > $1 THEN 1 ELSE 0 END AS BIGINT), \
             CAST(CASE WHEN u.deleted_at IS NOT NULL OR u.deletion_due_at IS NOT NULL THEN 1 ELSE 0 END AS BIGINT), \
             CAST(CASE WHEN EXISTS (SELECT 1 FROM user_sanctions s WHERE s.user_id = u.id \
                AND s.kind = 'suspend' AND s.lifted_at IS NULL \
                AND (s.until IS NULL OR s.until > $1)) THEN 1 ELSE 0 END AS BIGINT), \
             (SELECT MAX(s.until) FROM user_sanctions s WHERE s.user_id = u.id \
                AND s.kind = 'mute' AND s.lifted_at IS NULL AND s.until > $1), \
             r.role, u.birth_date, u.age_bracket, u.age_declared_at, {} \
         FROM auth_tokens t JOIN users u ON u.id = t.user_id \
         LEFT JOIN user_roles r ON r.user_id = t.user_id \
         WHERE t.id IN ({}) ORDER BY t.id",
        crate::minors::LATEST_GUARDIAN_ACTION_SQL,
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(now);
    for id in token_ids {
        query = query.bind(*id);
    }
    let mut out: Vec<TokenStandingRow> = Vec::with_capacity(token_ids.len());
    for row in query.fetch_all(db).await? {
        let token_id: i64 = row.try_get(0)?;
        let role: Option<String> = row.try_get(5)?;
        if let Some(last) = out.last_mut().filter(|last| last.token_id == token_id) {
            last.roles.extend(role);
            continue;
        }
        out.push(TokenStandingRow {
            token_id,
            live: row.try_get::<i64, _>(1)? == 1,
            closing: row.try_get::<i64, _>(2)? == 1,
            suspended: row.try_get::<i64, _>(3)? == 1,
            muted_until: row.try_get::<Option<i64>, _>(4)?.unwrap_or(0),
            roles: role.into_iter().collect(),
            age: crate::minors::AgeRow {
                birth_date: row.try_get(6)?,
                age_bracket: row.try_get(7)?,
                declared_at: row.try_get(8)?,
                guardian_action: row.try_get(9)?,
            },
        });
    }
    Ok(out)
}
