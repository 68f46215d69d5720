//! The live domain's part in the user's rights: the rooms one hosted, one's comments, bans and
//! mutes one received or gave. Erased with the account: one's comments leave every room (the
//! rows stay, empty and removed, so that the rooms' numbering has no holes), one's rooms end
//! and lose their titles and notices, helpers, bans and restrictions naming one go; one's queue
//! entries go and one's call records stay with the other party, de-identified.

use futures_util::future::BoxFuture;
use serde_json::Value;
use sqlx::AnyConnection;

use crate::error::AppResult;
use crate::rights::{DataDomain, Expired, Retention};
use crate::store::{now_ms, Db};

pub struct LiveRights;

impl DataDomain for LiveRights {
    fn name(&self) -> &'static str {
        "live"
    }

    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("live_rooms", "host_id"),
            ("live_events", "user_id"),
            ("live_helpers", "host_id"),
            ("live_helpers", "user_id"),
            ("live_bans", "host_id"),
            ("live_bans", "user_id"),
            ("live_bans", "by_id"),
            ("live_restrictions", "user_id"),
            ("live_restrictions", "by_id"),
            // Who used a power in a room, and on whom (`target_user_id`, not a foreign key,
            // as in moderation's audit), stays on record for accountability; the accounts are
            // anonymous shells by then.
            ("live_audit", "actor_id"),
            ("live_queue", "user_id"),
            ("live_calls", "host_id"),
            ("live_calls", "guest_id"),
            ("live_verdicts", "appraiser_id"),
            ("live_verdicts", "buyer_id"),
        ]
    }

    fn export<'a>(&'a self, db: &'a Db, user_id: i64) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(async move {
            let mut section = super::store::export_user(db, user_id).await?;
            let calls = super::store::calls::export_user(db, user_id).await?;
            let verdicts = super::store::verdicts::export_user(db, user_id).await?;
            if let Some(section) = section.as_object_mut() {
                section.insert("verdicts".into(), verdicts);
            }
            if let (Some(section), serde_json::Value::Object(calls)) =
                (section.as_object_mut(), calls)
            {
                section.extend(calls);
            }
            Ok(section)
        })
    }

    /// Verdicts of an erased party are kept de-identified for the legal retention period
    /// (policy: records the law requires, 3 years), then deleted.
    fn expire<'a>(&'a self, db: &'a Db, run: &'a Retention) -> BoxFuture<'a, AppResult<Expired>> {
        Box::pin(async move {
            let purged = super::store::verdicts::expire(db, run.legal_cutoff, run.batch).await?;
            Ok(Expired {
                purged: vec![("deidentified_verdicts", purged)],
                ..Expired::default()
            })
        })
    }

    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let now = now_ms();
            super::store::calls::erase_user(conn, user_id, now).await?;
            super::store::verdicts::deidentify_user(conn, user_id, now).await?;
            super::store::erase_user(conn, user_id, now).await
        })
    }
}
