//! The user's rights over their data (policy: 管理您的个人信息) and the jobs that keep the
//! policy's retention promises.
//!
//! Every domain that stores personal data implements [`crate::rights::DataDomain`] in its own
//! `rights` module; start-up hands the list to [`Privacy`], which runs it: the streamed
//! export, section by section, and the erasure of a deleted account in one transaction. A test
//! compares the columns the domains name with every foreign key to `users` in the schema, so a
//! new table cannot be forgotten by the export or the deletion.
//!
//! [`Privacy`] is a stateless service (a few statements per call). The scheduled part (due
//! deletions, purges) is [`retention::RetentionJob`], one actor per node; every step is a
//! conditional statement, so several nodes running it at once do each thing once.

pub mod export;
pub mod retention;
pub mod settings;
/// Public only for the tests that race two claims on one account; other domains call the
/// functions re-exported below.
mod store;

// What the other domains call: the deletion schedule and the staff-access log are this
// domain's tables.
pub use store::{
    cancel_deletion, imposed_deletion_pending, record_staff_access, schedule_deletion_now,
};
// What the deletion tests race and wait on.
pub use store::{claim_deletion, deleted_at};

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::AnyConnection;

use crate::bus::{Audience, Delivery, SharedBus};
use crate::error::{AppError, AppResult};
use crate::rights::DataDomain;
use crate::store::{begin_write, now_ms, Backend, Db};
use settings::PrivacySettings;

/// Close code for sockets of an account being deleted.
pub const CLOSE_ACCOUNT_CLOSED: u16 = 4003;

/// Staff reads of a user's data ([`store::record_staff_access`]): the user sees who looked
/// and why; kept in this domain's own table.
pub struct StaffAccess;

impl DataDomain for StaffAccess {
    fn name(&self) -> &'static str {
        "staff_access"
    }
    fn personal_columns(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("staff_access_log", "staff_id"),
            ("staff_access_log", "subject_id"),
        ]
    }
    fn export<'a>(&'a self, db: &'a Db, user_id: i64) -> BoxFuture<'a, AppResult<Value>> {
        Box::pin(async move { Ok(json!(store::staff_access_to(db, user_id).await?)) })
    }
    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(store::erase_staff_access(conn, user_id))
    }
    /// Entries older than the log retention.
    fn expire<'a>(
        &'a self,
        db: &'a Db,
        run: &'a crate::rights::Retention,
    ) -> BoxFuture<'a, AppResult<crate::rights::Expired>> {
        Box::pin(async move {
            let purged = store::purge_staff_access(db, run.log_cutoff).await?;
            Ok(crate::rights::Expired {
                purged: vec![("staff_access", purged)],
                ..Default::default()
            })
        })
    }
}

#[derive(Debug, Serialize)]
pub struct DeletionScheduled {
    pub requested_at: i64,
    /// When the account is erased unless the user logs in before.
    pub due_at: i64,
}

#[derive(Clone)]
pub struct Privacy {
    db: Db,
    domains: export::Domains,
    backend: Backend,
    bus: SharedBus,
    settings: Arc<PrivacySettings>,
    exports: Arc<export::ExportSlots>,
}

impl Privacy {
    /// `domains`: every domain holding personal data, in the export's section order.
    pub fn new(
        db: Db,
        domains: Vec<Arc<dyn DataDomain>>,
        backend: Backend,
        bus: SharedBus,
        settings: PrivacySettings,
    ) -> Self {
        Self {
            db,
            domains: domains.into(),
            backend,
            bus,
            exports: Arc::new(export::ExportSlots::new(settings.max_concurrent_exports)),
            settings: Arc::new(settings),
        }
    }

    fn db(&self) -> &Db {
        &self.db
    }

    /// Every domain's section name and the columns it answers for (what the schema test
    /// holds against the foreign keys to `users`).
    pub fn sections(&self) -> Vec<(&'static str, &'static [(&'static str, &'static str)])> {
        self.domains
            .iter()
            .map(|d| (d.name(), d.personal_columns()))
            .collect()
    }

    /// `GET /api/me/export`: the whole document as a stream of JSON bytes (see [`export`]).
    pub fn export(
        &self,
        user_id: i64,
    ) -> AppResult<impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>>> {
        export::start(
            self.db.clone(),
            self.domains.clone(),
            &self.exports,
            user_id,
        )
    }

    /// `POST /api/me/deletion`: starts the cooling-off period and logs the account out
    /// everywhere; logging in again before `due_at` cancels the deletion.
    pub async fn request_deletion(&self, user_id: i64) -> AppResult<DeletionScheduled> {
        let now = now_ms();
        let due = now.saturating_add(self.settings.deletion_cooling_off_ms);
        let (requested_at, due_at) = store::request_deletion(self.db(), user_id, now, due)
            .await?
            .ok_or_else(|| AppError::not_found("user"))?;
        for domain in self.domains.iter() {
            domain.deletion_requested(self.db(), user_id, now).await?;
        }
        tracing::info!(user_id, due_at, "account deletion requested");
        self.close_sockets(user_id, "account deletion requested");
        Ok(DeletionScheduled {
            requested_at,
            due_at,
        })
    }

    fn close_sockets(&self, user_id: i64, reason: &str) {
        self.bus.publish(
            Audience::User(user_id),
            Delivery::CloseUser {
                code: CLOSE_ACCOUNT_CLOSED,
                reason: reason.into(),
            },
        );
    }

    /// Erases one account whose cooling-off period ended: the claim and every domain's
    /// erasure in one transaction. False when another node, or a login, got there first.
    pub async fn erase_due_account(&self, user_id: i64) -> AppResult<bool> {
        let mut held = Vec::new();
        for domain in self.domains.iter() {
            held.push(domain.held_outside(self.db(), user_id).await?);
        }
        let mut tx = begin_write(self.db(), self.backend).await?;
        if !store::claim_deletion(&mut tx, user_id, now_ms()).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        for domain in self.domains.iter() {
            domain.erase(&mut tx, user_id).await?;
        }
        tx.commit().await?;
        // What lives outside the database (uploads' bytes), once nothing refers to it.
        for (domain, held) in self.domains.iter().zip(held) {
            domain.release(self.db(), held).await?;
        }
        tracing::info!(user_id, "account deleted");
        crate::metrics::inc(&crate::metrics::METRICS.accounts_deleted);
        self.close_sockets(user_id, "account deleted");
        Ok(true)
    }
}
