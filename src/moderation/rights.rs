//! Moderation's part in the user's rights: the decisions about the user's content and
//! their sanctions in the export; erased (or, for reports they made, unnamed) with the account.

use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use sqlx::AnyConnection;

use crate::error::AppResult;
use crate::rights::DataDomain;
use crate::store::Db;

pub struct ModerationRights;

impl DataDomain for ModerationRights {
    fn name(&self) -> &'static str {
        "moderation"
    }
    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        // Audit rows name the staff member who acted; they stay (accountability) and point
        // at the anonymised account after a deletion.
        &[
            ("moderation_items", "subject_id"),
            ("moderation_items", "reporter_id"),
            ("moderation_audit", "actor_id"),
            ("user_sanctions", "user_id"),
        ]
    }
    fn export<'a>(&'a self, db: &'a Db, user_id: i64) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(async move {
            let items: Vec<Value> = super::store::items_about(db, user_id)
                .await?
                .into_iter()
                .map(|i| {
                    json!({
                        "kind": i.kind, "content": i.content, "state": i.state,
                        "decision": i.decision, "decision_reason": i.decision_reason,
                        "created_at": i.created_at,
                    })
                })
                .collect();
            let sanctions = super::store::sanctions_of(db, user_id).await?;
            Ok(json!({ "decisions_about_my_content": items, "sanctions": sanctions }))
        })
    }
    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            super::store::erase_items_about(&mut *conn, user_id).await?;
            super::store::forget_reporter(&mut *conn, user_id).await?;
            super::store::erase_sanctions(conn, user_id).await
        })
    }
}
