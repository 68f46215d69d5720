//! The data export streamed (policy: 查询您的个人信息): the document is written section by
//! section, and the big lists (a user's messages) page by page, into a bounded channel that
//! the HTTP response drains. Memory stays flat whatever the user holds (a 605 MB export once
//! took a node to 2.4 GB when it was built in memory as one JSON value).
//!
//! Exports run at most `DUOXIE_PRIVACY_MAX_CONCURRENT_EXPORTS` at once per node and one at a
//! time per user; more are answered `rate_limited` with a retry time at once, never queued.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::error::{AppError, AppResult, ErrorCode};
use crate::rights::{DataDomain, ExportSink};
use crate::store::{now_ms, Db};

/// Chunks waiting for a slow client; the writer pauses when they are all taken.
const CHUNKS_IN_FLIGHT: usize = 4;
/// What a refused export is told to wait, ms.
const RETRY_AFTER_MS: u64 = 5000;

/// Who is exporting on this node, so that each user has one export at a time.
pub struct ExportSlots {
    node: Arc<Semaphore>,
    users: Mutex<HashSet<i64>>,
}

impl ExportSlots {
    pub fn new(max_concurrent: usize) -> Self {
        Self {
            node: Arc::new(Semaphore::new(max_concurrent)),
            users: Mutex::new(HashSet::new()),
        }
    }

    fn take(self: &Arc<Self>, user_id: i64) -> AppResult<Slot> {
        let busy = |what: &str| {
            AppError::new(ErrorCode::RateLimited, format!("{what}; try again shortly"))
                .retry_after(RETRY_AFTER_MS)
        };
        let permit = self
            .node
            .clone()
            .try_acquire_owned()
            .map_err(|_| busy("the server is preparing other exports"))?;
        // The lock only guards a set insert/remove; a poisoned one still holds a valid set.
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if !users.insert(user_id) {
            return Err(busy("an export of yours is already being prepared"));
        }
        Ok(Slot {
            slots: self.clone(),
            user_id,
            _permit: permit,
        })
    }
}

/// Held for as long as one export streams; gives its places back when dropped.
struct Slot {
    slots: Arc<ExportSlots>,
    user_id: i64,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut users = self.slots.users.lock().unwrap_or_else(|p| p.into_inner());
        users.remove(&self.user_id);
    }
}

/// The domains whose sections make the document, in order.
pub type Domains = Arc<[Arc<dyn DataDomain>]>;

/// Starts the export of `user_id` and returns its bytes as a stream; refused at once
/// (`rate_limited`) when the node or the user has no export slot free.
pub fn start(
    db: Db,
    domains: Domains,
    slots: &Arc<ExportSlots>,
    user_id: i64,
) -> AppResult<impl Stream<Item = Result<Bytes, std::io::Error>>> {
    let slot = slots.take(user_id)?;
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let mut sink = ExportSink::new(tx.clone());
    actix_web::rt::spawn(async move {
        let _slot = slot;
        if let Err(e) = write_document(&db, &domains, user_id, &mut sink).await {
            // The 200 is already sent: ending the body with an error makes the client see a
            // broken download rather than a truncated file that looks complete.
            e.log();
            let _ = tx
                .send(Err(std::io::Error::other("the export failed; try again")))
                .await;
        }
    });
    Ok(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

async fn write_document(
    db: &Db,
    domains: &Domains,
    user_id: i64,
    out: &mut ExportSink,
) -> AppResult<()> {
    out.raw(&format!(
        "{{\"format\":\"duoxie-export-1\",\"generated_at\":{},\"user_id\":{user_id},\"sections\":{{",
        now_ms()
    ));
    for (i, domain) in domains.iter().enumerate() {
        if i > 0 {
            out.raw(",");
        }
        out.value(&domain.name())?;
        out.raw(":");
        domain.export_into(db, user_id, out).await?;
        out.flush().await?;
    }
    out.raw("}}");
    out.send().await?;
    Ok(())
}
