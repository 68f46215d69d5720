//! Media's part in the user's rights: every upload's record in the export; the records
//! erased with the account and their bytes deleted after it (unless shared).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;
use sqlx::AnyConnection;

use super::blob::BlobStore;
use crate::error::AppResult;
use crate::rights::{DataDomain, Expired, Retention};
use crate::store::Db;

pub struct MediaRights {
    pub blobs: Arc<dyn BlobStore>,
}

impl DataDomain for MediaRights {
    fn name(&self) -> &'static str {
        "media"
    }
    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        &[("media", "owner_id")]
    }
    fn export<'a>(&'a self, db: &'a Db, user_id: i64) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(super::Media::export(db, user_id))
    }
    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(super::store::erase_owned(conn, user_id))
    }
    /// The stored bytes of the user's uploads.
    fn held_outside<'a>(
        &'a self,
        db: &'a Db,
        user_id: i64,
    ) -> BoxFuture<'a, AppResult<Vec<String>>> {
        Box::pin(async move { Ok(super::store::blobs_of(db, user_id).await?) })
    }
    /// Deleted unless the same bytes are someone else's upload too.
    fn release<'a>(&'a self, db: &'a Db, held: Vec<String>) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(super::delete_unreferenced_blobs(db, &self.blobs, held))
    }
    /// A rejected upload is kept while its author may appeal, then removed, bytes included.
    fn expire<'a>(&'a self, db: &'a Db, run: &'a Retention) -> BoxFuture<'a, AppResult<Expired>> {
        Box::pin(async move {
            let mut purged = 0;
            for (id, blobs) in
                super::store::rejected_before(db, run.appeal_cutoff, run.batch).await?
            {
                super::store::delete(db, &id).await?;
                super::delete_unreferenced_blobs(db, &self.blobs, blobs).await?;
                purged += 1;
            }
            Ok(Expired {
                purged: vec![("rejected_media", purged)],
                ..Expired::default()
            })
        })
    }
}
