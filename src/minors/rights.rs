//! Minors' part in the user's rights: the age declaration and the guardian record in the
//! export; erased with the account.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;
use sqlx::AnyConnection;

use crate::domain::Accounts;
use crate::error::AppResult;
use crate::phone::PhoneVault;
use crate::rights::{DataDomain, Expired, ImposedDeletion, Retention};
use crate::store::Db;

pub struct MinorsRights {
    pub vault: Arc<PhoneVault>,
    pub accounts: Arc<dyn Accounts>,
}

impl DataDomain for MinorsRights {
    fn name(&self) -> &'static str {
        "age_and_guardian"
    }
    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        &[("guardian_events", "child_id")]
    }
    fn export<'a>(&'a self, db: &'a Db, user_id: i64) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(super::Minors::export(
            db,
            &self.vault,
            self.accounts.as_ref(),
            user_id,
        ))
    }
    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(super::store::erase(conn, user_id))
    }
    /// Accounts declared under 14 that stayed without a guardian's consent past the grace
    /// period: the policy says delete.
    fn expire<'a>(&'a self, db: &'a Db, run: &'a Retention) -> BoxFuture<'a, AppResult<Expired>> {
        Box::pin(async move {
            let today = super::policy::CivilDate::today_in_china(run.now);
            let children = super::store::unguarded_children(
                db,
                &super::policy::latest_birth_date_of_a_14_year_old(today),
                run.guardian_cutoff,
                run.batch,
            )
            .await?;
            Ok(Expired {
                accounts_to_delete: children
                    .into_iter()
                    .map(|id| (id, ImposedDeletion::Under14))
                    .collect(),
                ..Expired::default()
            })
        })
    }
}
