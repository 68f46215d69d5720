//! Media under moderation: an upload held for review is approved or rejected, a reported
//! picture is taken down, and moderation reads stored pictures for the blocklist. Where a
//! picture is used (photo messages) is another domain's: [`PictureUses`] tells it.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::blob::BlobStore;
use super::store;
use crate::error::{AppError, AppResult};
use crate::moderation::content::{
    Decided, Hidden, ModeratedContent, Reported, StoredPicture, StoredPictures,
};
use crate::store::Db;

/// Where pictures are used beyond their owner (chat's photo messages), handed to media at
/// start-up so that media names no domain that uses it.
pub trait PictureUses: Send + Sync {
    /// Whether `user_id` received the picture.
    fn shared_with<'a>(&'a self, media_id: &'a str, user_id: i64)
        -> BoxFuture<'a, AppResult<bool>>;
    /// The picture's review is over: what waited for it is sent (approved) or dropped.
    fn reviewed<'a>(&'a self, media_id: &'a str, approved: bool) -> BoxFuture<'a, AppResult<()>>;
    /// The picture was taken down by decision `item_id`: every use of it goes too.
    fn taken_down<'a>(&'a self, media_id: &'a str, item_id: i64) -> BoxFuture<'a, AppResult<()>>;
}

/// Hides a picture from everyone but its owner and staff, and every use of it.
pub async fn take_down(
    db: &Db,
    uses: &dyn PictureUses,
    media_id: &str,
    item_id: i64,
) -> AppResult<()> {
    store::set_status(db, media_id, "rejected").await?;
    uses.taken_down(media_id, item_id).await
}

/// Uploads (`media`, held for review) and reports of a picture (`report_media`).
pub struct MediaUnderModeration {
    pub db: Db,
    pub uses: Arc<dyn PictureUses>,
}

#[derive(Deserialize)]
struct MediaTarget {
    media_id: String,
}

impl ModeratedContent for MediaUnderModeration {
    fn kinds(&self) -> &'static [&'static str] {
        &["media", "report_media"]
    }

    fn restore<'a>(&'a self, item: &'a Decided) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            // A dismissed report leaves the picture as its own screening left it: a report
            // never approves anything.
            if item.kind == "media" {
                store::set_status(&self.db, &item.content_ref, "approved").await?;
                self.uses.reviewed(&item.content_ref, true).await?;
            }
            Ok(())
        })
    }

    fn hide<'a>(&'a self, item: &'a Decided) -> BoxFuture<'a, AppResult<Hidden>> {
        Box::pin(async move {
            if item.kind == "media" {
                store::set_status(&self.db, &item.content_ref, "rejected").await?;
                self.uses.reviewed(&item.content_ref, false).await?;
            } else {
                take_down(
                    &self.db,
                    self.uses.as_ref(),
                    &item.content_ref,
                    item.item_id,
                )
                .await?;
            }
            Ok(Hidden {
                picture: Some(item.content_ref.clone()),
            })
        })
    }

    fn report_target(&self) -> Option<&'static str> {
        Some("media")
    }

    fn reported<'a>(
        &'a self,
        reporter: i64,
        fields: &'a Value,
    ) -> BoxFuture<'a, AppResult<Reported>> {
        Box::pin(async move {
            let MediaTarget { media_id } = crate::error::parse_value(fields.clone())?;
            let m = store::by_id(&self.db, &media_id)
                .await?
                .ok_or_else(|| AppError::not_found("media"))?;
            // Reportable by whoever may see it: anyone for public media, the other
            // participants for a chat photo they received.
            let public = matches!(m.purpose.as_str(), "post_photo" | "post_video" | "avatar");
            let received = m.purpose == "chat_photo"
                && m.status == "approved"
                && self.uses.shared_with(&media_id, reporter).await?;
            if m.owner_id != reporter && !(public && m.status == "approved") && !received {
                return Err(AppError::not_found("media"));
            }
            // An author's way back from a decision is the appeal, once; a report of one's own
            // upload would be a way round it.
            if m.owner_id == reporter {
                return Err(AppError::field(
                    "media_id",
                    "that is your own upload; appeal its decision instead",
                ));
            }
            Ok(Reported {
                kind: "report_media",
                author: m.owner_id,
                preview: format!("/api/media/{media_id}/content"),
                content_ref: media_id,
                media: Vec::new(),
            })
        })
    }
}

/// The stored pictures, read for the blocklist.
pub struct PictureFiles {
    pub db: Db,
    pub blobs: Arc<dyn BlobStore>,
}

impl StoredPictures for PictureFiles {
    fn load<'a>(&'a self, media_id: &'a str) -> BoxFuture<'a, AppResult<Option<StoredPicture>>> {
        Box::pin(async move {
            let Some(media) = store::by_id(&self.db, media_id).await? else {
                return Ok(None);
            };
            let is_image = media.kind == "image";
            let decoded = if is_image {
                let (blobs, blob) = (self.blobs.clone(), media.blob.clone());
                tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                    match blobs.get(&blob)? {
                        Some(bytes) => Ok(Some(super::pipeline::decode_stored(&bytes)?)),
                        None => Ok(None),
                    }
                })
                .await
                .map_err(|e| AppError::from(anyhow::anyhow!("picture decode task: {e}")))?
                .map_err(AppError::from)?
            } else {
                None
            };
            Ok(Some(StoredPicture {
                is_image,
                decoded,
                fingerprint: media.fingerprint,
                fingerprint_version: media.fingerprint_version,
            }))
        })
    }

    fn with_legacy_hash<'a>(&'a self, phash: &'a str) -> BoxFuture<'a, AppResult<Vec<String>>> {
        Box::pin(async move { Ok(store::ids_with_legacy_hash(&self.db, phash).await?) })
    }
}
