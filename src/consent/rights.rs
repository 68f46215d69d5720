//! Consent's part in the user's rights: the whole ledger, each change with its signed
//! receipt, in the export; erased with the account.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use sqlx::AnyConnection;

use super::receipt::ReceiptSigner;
use crate::error::AppResult;
use crate::rights::DataDomain;
use crate::store::Db;

pub struct ConsentRights {
    pub signer: Arc<ReceiptSigner>,
}

impl DataDomain for ConsentRights {
    fn name(&self) -> &'static str {
        "consents"
    }
    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        &[("consent_events", "user_id")]
    }
    fn export<'a>(&'a self, db: &'a Db, user_id: i64) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(async move {
            let history = super::history_with_receipts(db, &self.signer, user_id).await?;
            Ok(json!({ "history": history }))
        })
    }
    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(super::store::erase(conn, user_id))
    }
}
