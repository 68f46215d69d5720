//! The accounts as the other domains may ask about them ([`crate::domain::Accounts`]): one
//! narrow door, so that no domain reads `users` or `user_roles` itself.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::store;
use crate::domain::{Account, Accounts, Role};
use crate::error::AppResult;
use crate::phone::PhoneVault;
use crate::store::Db;

pub struct AccountDirectory {
    db: Db,
    vault: Arc<PhoneVault>,
}

impl AccountDirectory {
    pub fn new(db: Db, vault: Arc<PhoneVault>) -> Self {
        Self { db, vault }
    }
}

impl Accounts for AccountDirectory {
    fn find(&self, user_id: i64) -> BoxFuture<'_, AppResult<Option<Account>>> {
        Box::pin(async move {
            Ok(store::user_by_id(&self.db, user_id)
                .await?
                .map(|u| Account {
                    phone: self.vault.phone_of(u.phone_sealed.as_deref(), u.id),
                    id: u.id,
                    nickname: u.nickname,
                    intro: u.intro,
                    avatar: u.avatar,
                    deleted: u.deleted,
                }))
        })
    }

    fn roles(&self, user_id: i64) -> BoxFuture<'_, AppResult<Vec<Role>>> {
        Box::pin(async move {
            Ok(super::parse_roles(
                &store::roles_of(&self.db, user_id).await?,
            ))
        })
    }

    fn sign_out_everywhere(&self, user_id: i64, now: i64) -> BoxFuture<'_, AppResult<()>> {
        Box::pin(async move {
            store::revoke_all_tokens(&self.db, user_id, now).await?;
            Ok(())
        })
    }

    fn seen(&self, user_id: i64, at: i64) -> BoxFuture<'_, AppResult<()>> {
        Box::pin(async move {
            store::set_last_seen(&self.db, user_id, at).await?;
            Ok(())
        })
    }
}
