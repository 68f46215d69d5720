//! Share codes in the user's rights: every code one made is in the export, erased with the
//! account, and forgotten by the retention run once it has ended (expired or revoked) for
//! longer than the log retention.

use futures_util::future::BoxFuture;
use serde_json::Value;
use sqlx::AnyConnection;

use crate::error::AppResult;
use crate::rights::{DataDomain, Expired, Retention};
use crate::store::Db;

pub struct ShareRights;

impl DataDomain for ShareRights {
    fn name(&self) -> &'static str {
        "shares"
    }

    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        &[("share_codes", "creator_id")]
    }

    fn export<'a>(&'a self, db: &'a Db, user_id: i64) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(async move { Ok(super::store::export_user(db, user_id).await?) })
    }

    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(super::store::erase_user(conn, user_id))
    }

    fn expire<'a>(&'a self, db: &'a Db, run: &'a Retention) -> BoxFuture<'a, AppResult<Expired>> {
        Box::pin(async move {
            let ended = super::store::prune(db, run.log_cutoff).await?;
            Ok(Expired {
                purged: vec![("share_codes", ended)],
                ..Expired::default()
            })
        })
    }
}
