//! Relations between users (policy: 即时通讯, 用户行为规范): blocks (follows are the community's,
//! `feed`, whose fan-out reads them in its own statements). A block
//! stops the blocked user from opening a conversation with, sending to or typing at the
//! blocker; the blocker's list is theirs to read and undo. Stateless: a few statements per
//! call, no actor. Chat asks [`is_blocked`] and [`blocks_against`]; the rows are exported and
//! erased with chat's part of the user's rights ([`export_blocks`], [`erase_blocks`]), where
//! `docs/protocol.md`'s export has always put them.

pub mod commands;
mod store;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::Accounts;
use crate::error::{AppError, AppResult};
use crate::store::{now_ms, Db};

/// What the relations' commands run on.
pub struct Relations {
    pub db: Db,
    /// Whether a target exists (the accounts are `auth`'s, handed over at start-up).
    pub accounts: Arc<dyn Accounts>,
}

pub use store::{blocks_against, erase_blocks, export_blocks, is_blocked};

/// Whom `user_id` blocks and who blocks `user_id`: neither side sees the other's presence
/// (policy: a blocked user must not learn when the blocker is online).
pub async fn hidden_presence(db: &Db, user_id: i64) -> AppResult<std::collections::HashSet<i64>> {
    Ok(store::blocked_either_way(db, user_id)
        .await?
        .into_iter()
        .collect())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    pub user_id: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unblock {
    pub user_id: i64,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListBlocks {}

#[derive(Debug, Serialize)]
pub struct BlockState {
    pub blocked: bool,
}

#[derive(Debug, Serialize)]
pub struct Blocks {
    pub user_ids: Vec<i64>,
}

impl Relations {
    /// `user.block`: idempotent.
    pub async fn block(&self, me: i64, body: Block) -> AppResult<BlockState> {
        self.check_target(me, body.user_id).await?;
        store::block(&self.db, me, body.user_id, now_ms()).await?;
        Ok(BlockState { blocked: true })
    }

    /// `user.unblock`: idempotent.
    pub async fn unblock(&self, me: i64, body: Unblock) -> AppResult<BlockState> {
        self.check_target(me, body.user_id).await?;
        store::unblock(&self.db, me, body.user_id).await?;
        Ok(BlockState { blocked: false })
    }

    /// `user.blocks`: whom the caller blocks.
    pub async fn blocks(&self, me: i64, _: ListBlocks) -> AppResult<Blocks> {
        Ok(Blocks {
            user_ids: store::blocked_by(&self.db, me).await?,
        })
    }

    async fn check_target(&self, me: i64, target: i64) -> AppResult<()> {
        if target == me {
            return Err(AppError::field("user_id", "cannot block yourself"));
        }
        if self.accounts.find(target).await?.is_none() {
            return Err(AppError::not_found("user"));
        }
        Ok(())
    }
}
