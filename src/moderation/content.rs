//! The content moderation decides on, as the domains that own it implement it. Moderation
//! keeps the queue, the claims, the decisions and the audit; what a decision *does* (publish
//! a held text, take a photo message down everywhere, reset a profile) belongs to the domain
//! whose content it is. Each such domain implements [`ModeratedContent`] for its queue kinds
//! and is handed to moderation at start-up, so that a new kind of content (a room comment, a
//! post) is moderated without a new arm here and moderation names no domain's tables.
//!
//! Pictures are the one content moderation reads itself (the blocklist hashes them):
//! through [`StoredPictures`], implemented by `media`.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::error::{AppError, AppResult};

/// A decided queue item, as the content's domain needs it.
#[derive(Clone, Debug)]
pub struct Decided {
    /// The decision's item id: what the author may appeal, and what a take-down names.
    pub item_id: i64,
    pub kind: String,
    /// The author (for a report: of the reported content).
    pub subject_id: i64,
    /// Which content: the domain's own reference (`conversation:seq`, a media id, a user id).
    pub content_ref: String,
    /// The content as the moderator saw it.
    pub content: String,
}

/// What hiding took down, for the blocklist.
#[derive(Debug, Default)]
pub struct Hidden {
    /// The picture the content carried: `reject_and_block` adds it to the blocklist.
    pub picture: Option<String>,
}

/// Reported content, found and allowed: the reporter may see it and it is not their own.
#[derive(Debug)]
pub struct Reported {
    /// The queue kind the report is filed under.
    pub kind: &'static str,
    pub author: i64,
    pub content_ref: String,
    /// The content attached as it is now, so that a later edit cannot hide it.
    pub preview: String,
    /// Media ids shown with it (a reported post's pictures), as they are now.
    pub media: Vec<String>,
}

/// One domain's content under moderation.
pub trait ModeratedContent: Send + Sync {
    /// The queue kinds whose decisions this content takes: its screened items and its reports.
    fn kinds(&self) -> &'static [&'static str];
    /// Approved: content held for review is published; a dismissed report changes nothing.
    fn restore<'a>(&'a self, item: &'a Decided) -> BoxFuture<'a, AppResult<()>>;
    /// Rejected: content held for review is dropped, reported content taken down.
    fn hide<'a>(&'a self, item: &'a Decided) -> BoxFuture<'a, AppResult<Hidden>>;
    /// The `target` of `report.create` that reports this content, if it can be reported.
    fn report_target(&self) -> Option<&'static str> {
        None
    }
    /// The reported content (`fields`: the rest of the report's body), once the reporter is
    /// found allowed to see it: `not_found` when they may not, so that they learn nothing.
    fn reported<'a>(
        &'a self,
        _reporter: i64,
        _fields: &'a Value,
    ) -> BoxFuture<'a, AppResult<Reported>> {
        Box::pin(async { Err(AppError::field("target", "this content cannot be reported")) })
    }
}

/// Every content domain, by the kinds and report targets it declared.
#[derive(Clone, Default)]
pub struct ContentKinds {
    by_kind: HashMap<&'static str, Arc<dyn ModeratedContent>>,
    by_target: HashMap<&'static str, Arc<dyn ModeratedContent>>,
}

impl ContentKinds {
    /// Fails when two domains claim one kind or one report target.
    pub fn add(&mut self, content: Arc<dyn ModeratedContent>) -> anyhow::Result<()> {
        for kind in content.kinds() {
            if self.by_kind.insert(kind, content.clone()).is_some() {
                anyhow::bail!("two content domains claim the moderation kind {kind}");
            }
        }
        if let Some(target) = content.report_target() {
            if self.by_target.insert(target, content).is_some() {
                anyhow::bail!("two content domains claim the report target {target}");
            }
        }
        Ok(())
    }

    pub fn of_kind(&self, kind: &str) -> Option<&Arc<dyn ModeratedContent>> {
        self.by_kind.get(kind)
    }

    pub fn reported_as(&self, target: &str) -> AppResult<&Arc<dyn ModeratedContent>> {
        self.by_target.get(target).ok_or_else(|| {
            let mut known: Vec<_> = self.by_target.keys().copied().collect();
            known.sort_unstable();
            AppError::field("target", format!("expected one of {}", known.join(", ")))
        })
    }
}

/// A stored picture, as the blocklist needs it.
pub struct StoredPicture {
    pub is_image: bool,
    /// Decoded from its file; `None` when the file is gone.
    pub decoded: Option<image::DynamicImage>,
    /// The upload's own fingerprint and the version that made it.
    pub fingerprint: Option<String>,
    pub fingerprint_version: Option<String>,
}

/// Where moderation reads stored pictures from (`media`'s, handed over at start-up).
pub trait StoredPictures: Send + Sync {
    /// `None` when there is no such media.
    fn load<'a>(&'a self, media_id: &'a str) -> BoxFuture<'a, AppResult<Option<StoredPicture>>>;
    /// The pictures whose 64-bit dHash (before fingerprints) was `phash`.
    fn with_legacy_hash<'a>(&'a self, phash: &'a str) -> BoxFuture<'a, AppResult<Vec<String>>>;
}
