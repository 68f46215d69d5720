//! The account's part in the user's rights: the profile, roles and sessions in the export
//! (with the full phone number, the owner's own copy), anonymised on deletion.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use sqlx::AnyConnection;

use crate::error::{AppError, AppResult};
use crate::phone::PhoneVault;
use crate::rights::{DataDomain, Expired, Retention};
use crate::store::Db;

/// The nickname an erased account shows.
pub const DELETED_NICKNAME: &str = "已注销用户";

pub struct AccountRights {
    pub vault: Arc<PhoneVault>,
}

impl DataDomain for AccountRights {
    fn name(&self) -> &'static str {
        "account"
    }
    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("user_roles", "user_id"),
            ("auth_tokens", "user_id"),
            ("one_time_codes", "user_id"),
        ]
    }
    fn export<'a>(&'a self, db: &'a Db, user_id: i64) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(async move {
            use super::store as auth;
            let user = auth::user_by_id(db, user_id)
                .await?
                .ok_or_else(|| AppError::not_found("user"))?;
            // The owner's own copy: the one place the full number is returned.
            let phone = self
                .vault
                .phone_of(user.phone_sealed.as_deref(), user.id)
                .map(|p| p.expose().to_string());
            Ok(json!({
                "id": user.id,
                "phone": phone,
                "nickname": user.nickname,
                "avatar": user.avatar,
                "gender": user.gender,
                "intro": user.intro,
                "has_password": user.has_password,
                "created_at": user.created_at,
                "last_seen_at": user.last_seen_at,
                "roles": auth::roles_of(db, user_id).await?,
                "sessions": auth::all_sessions(db, user_id).await?,
            }))
        })
    }
    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(super::store::erase_account(conn, user_id, DELETED_NICKNAME))
    }
    /// Logged out everywhere at once: logging in again before the deletion is due cancels it.
    fn deletion_requested<'a>(
        &'a self,
        db: &'a Db,
        user_id: i64,
        now: i64,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            super::store::revoke_all_tokens(db, user_id, now).await?;
            Ok(())
        })
    }
    /// One-time codes past their expiry; tokens ended before the log retention.
    fn expire<'a>(&'a self, db: &'a Db, run: &'a Retention) -> BoxFuture<'a, AppResult<Expired>> {
        Box::pin(async move {
            let codes = crate::codes::purge_expired(
                db,
                &[
                    crate::codes::Purpose::Login,
                    crate::codes::Purpose::PhoneChange,
                ],
                run.now,
            )
            .await?;
            let tokens = super::store::purge_ended_tokens(db, run.log_cutoff).await?;
            Ok(Expired {
                purged: vec![("codes", codes), ("tokens", tokens)],
                ..Expired::default()
            })
        })
    }
}
