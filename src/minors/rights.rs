//! Minors' part in the user's rights: the age declaration and the guardian record in the
//! export; erased with the account.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;
use sqlx::AnyConnection;

use crate::auth::phone_vault::PhoneVault;
use crate::error::AppResult;
use crate::rights::DataDomain;
use crate::store::Db;

pub struct MinorsRights {
    pub vault: Arc<PhoneVault>,
}

impl DataDomain for MinorsRights {
    fn name(&self) -> &'static str {
        "age_and_guardian"
    }
    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("guardian_codes", "child_id"),
            ("guardian_events", "child_id"),
        ]
    }
    fn export<'a>(&'a self, db: &'a Db, user_id: i64) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(super::Minors::export(db, &self.vault, user_id))
    }
    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(super::store::erase(conn, user_id))
    }
}
