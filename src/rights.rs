//! The user's rights as every domain takes part in them (policy: 管理您的个人信息). A domain
//! that stores personal data implements [`DataDomain`]: it names the columns that hold a user
//! id, writes its section of the export and erases its part of a deleted account. The
//! `privacy` domain keeps the list (assembled at start-up) and runs it: the streamed export,
//! the deletion transaction. Defined here, in the kernel, so that a domain implements it
//! without naming `privacy` and `privacy` runs it without naming the domain.

use bytes::Bytes;
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;
use sqlx::AnyConnection;
use tokio::sync::mpsc;

use crate::error::{AppError, AppResult};
use crate::store::Db;

/// Bytes gathered before a chunk is handed to the response.
const CHUNK_BYTES: usize = 64 * 1024;

/// What the retention job hands every domain on each run (policy: retention periods).
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    pub now: i64,
    /// Device and service records (ended sessions, codes, staff reads) from before this go.
    pub log_cutoff: i64,
    /// Rejected content decided before this can no longer be appealed, and goes.
    pub appeal_cutoff: i64,
    /// An account under 14 still without a guardian's consent, registered before this, goes.
    pub guardian_cutoff: i64,
    /// Records the law may require (appraisal verdicts), de-identified before this, go
    /// (`DUOXIE_PRIVACY_LEGAL_RETENTION_MS`).
    pub legal_cutoff: i64,
    /// Most rows (or accounts) one domain handles per run; the rest wait for the next.
    pub batch: i64,
}

/// Why a deletion was scheduled without the user asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImposedDeletion {
    /// The guardian asked for the child's account to be deleted.
    Guardian,
    /// An account under 14 without guardian consent (policy: 未成年人).
    Under14,
}

/// What one domain's retention run did.
#[derive(Debug, Default)]
pub struct Expired {
    /// What was purged and how much, for the run's log.
    pub purged: Vec<(&'static str, u64)>,
    /// Accounts the policy says must be deleted now, and why (`privacy` erases them).
    pub accounts_to_delete: Vec<(i64, ImposedDeletion)>,
}

/// One domain's part in the user's rights.
pub trait DataDomain: Send + Sync {
    /// The export section.
    fn name(&self) -> &'static str;
    /// Every `(table, column)` of this domain that references `users`.
    fn personal_columns(&self) -> &'static [(&'static str, &'static str)];
    fn export<'a>(&'a self, db: &'a Db, user_id: i64) -> BoxFuture<'a, AppResult<Value>>;
    /// Writes the export section into the streamed document. The default writes
    /// [`DataDomain::export`] whole; a domain whose data can be large pages it instead.
    fn export_into<'a>(
        &'a self,
        db: &'a Db,
        user_id: i64,
        out: &'a mut ExportSink,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move { out.value(&self.export(db, user_id).await?) })
    }
    /// Erases this domain's part of a deleted account, inside the deletion transaction.
    fn erase<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        user_id: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>>;
    /// What the domain keeps for the user outside the database (files), read before the
    /// deletion transaction and handed to [`DataDomain::release`] after it commits.
    fn held_outside<'a>(
        &'a self,
        _db: &'a Db,
        _user_id: i64,
    ) -> BoxFuture<'a, AppResult<Vec<String>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Releases what [`DataDomain::held_outside`] named, once the account is erased.
    fn release<'a>(&'a self, _db: &'a Db, _held: Vec<String>) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async { Ok(()) })
    }
    /// The retention run: purge what its period has ended for, name accounts to delete.
    fn expire<'a>(&'a self, _db: &'a Db, _run: &'a Retention) -> BoxFuture<'a, AppResult<Expired>> {
        Box::pin(async { Ok(Expired::default()) })
    }
    /// The user asked for their account to be deleted (the cooling-off period starts): what
    /// the domain does at once (the account's tokens are revoked).
    fn deletion_requested<'a>(
        &'a self,
        _db: &'a Db,
        _user_id: i64,
        _now: i64,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// The streamed document's destination. A domain writes JSON into it; [`ExportSink::flush`]
/// hands full chunks on and waits while the client is behind.
pub struct ExportSink {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ExportSink {
    pub fn new(tx: mpsc::Sender<Result<Bytes, std::io::Error>>) -> Self {
        Self {
            tx,
            buf: Vec::with_capacity(CHUNK_BYTES + 16 * 1024),
        }
    }
}

/// The client went away: the export stops.
#[derive(Debug)]
pub struct Gone;

impl From<Gone> for AppError {
    fn from(_: Gone) -> Self {
        AppError::unavailable("the export download was abandoned")
    }
}

impl ExportSink {
    pub fn raw(&mut self, text: &str) {
        self.buf.extend_from_slice(text.as_bytes());
    }

    /// Appends `value` as JSON.
    pub fn value(&mut self, value: &impl Serialize) -> AppResult<()> {
        serde_json::to_writer(&mut self.buf, value)
            .map_err(|e| AppError::from(anyhow::anyhow!("serialise the export: {e}")))
    }

    /// Hands the bytes gathered so far on once there are enough of them.
    pub async fn flush(&mut self) -> Result<(), Gone> {
        if self.buf.len() >= CHUNK_BYTES {
            self.send().await?;
        }
        Ok(())
    }

    /// Hands on whatever is gathered (the end of the document).
    pub async fn send(&mut self) -> Result<(), Gone> {
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK_BYTES + 16 * 1024),
        ));
        self.tx.send(Ok(chunk)).await.map_err(|_| Gone)
    }
}
