//! Uploads (policy: 权限, 审核, 个人信息的保存): `POST /api/media` takes a photo (JPEG, PNG,
//! WebP, GIF's first frame) or a short video (MP4/MOV) with the purpose and the source the
//! client declares.
//!
//! The order matters: the account's standing and the consent gate for that source first;
//! the body under a size limit; the format from the bytes (never the declared type);
//! decoding on the blocking pool, a bounded number at a time, under header and memory limits
//! ([`pipeline`]); the gate again, so a consent withdrawn while the upload was in flight
//! refuses it; only then the sanitised bytes go to the content-addressed [`blob`] store and
//! the row is written. Videos have their metadata boxes blanked ([`video`]) and always wait
//! for a human review.

pub mod blob;
pub mod moderated;
pub mod pipeline;
pub mod rights;
pub mod settings;
pub mod sniff;
mod store;
pub mod video;

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::web;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::consent::policy::{Feature, MediaSource};
use crate::consent::PolicyVersion;
use crate::domain::Identity;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::metrics::{self, METRICS};
use crate::store::{now_ms, Db};
use blob::BlobStore;
use pipeline::ImageLimits;
use settings::MediaSettings;
use sniff::Format;

/// What an upload is for; decides the consent it needs and who may see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    ChatPhoto,
    PostPhoto,
    PostVideo,
    Avatar,
    ImageSearch,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::ChatPhoto => "chat_photo",
            Purpose::PostPhoto => "post_photo",
            Purpose::PostVideo => "post_video",
            Purpose::Avatar => "avatar",
            Purpose::ImageSearch => "image_search",
        }
    }

    fn feature(self, source: MediaSource) -> Feature {
        match self {
            Purpose::ChatPhoto => Feature::ChatPhoto(source),
            Purpose::PostPhoto => Feature::PostPhoto(source),
            Purpose::PostVideo => Feature::PostVideo(source),
            Purpose::Avatar => Feature::Avatar(source),
            Purpose::ImageSearch => Feature::ImageSearch(source),
        }
    }

    fn wants_video(self) -> bool {
        self == Purpose::PostVideo
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    pub purpose: Purpose,
    pub source: MediaSource,
}

#[derive(Debug, Serialize)]
pub struct Thumbnail {
    pub size: u32,
    pub url: String,
}

/// A media item as its owner (and, once approved, others) see it.
#[derive(Debug, Serialize)]
pub struct MediaView {
    pub id: String,
    pub owner_id: i64,
    pub purpose: String,
    pub source: String,
    pub kind: String,
    pub content_type: String,
    pub byte_size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub status: String,
    pub url: String,
    pub thumbnails: Vec<Thumbnail>,
    pub created_at: i64,
}

#[derive(Serialize, Deserialize)]
struct StoredThumb {
    size: u32,
    blob: String,
    format: Format,
}

/// The thumbnail blobs named in a row's `thumbnails` column.
pub fn thumbnail_blobs(thumbnails: &str) -> Vec<String> {
    serde_json::from_str::<Vec<StoredThumb>>(thumbnails)
        .map(|t| t.into_iter().map(|t| t.blob).collect())
        .unwrap_or_default()
}

fn content_type(format: &str) -> &'static str {
    match format {
        "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "mov" => "video/quicktime",
        _ => "video/mp4",
    }
}

fn view(m: &store::MediaRow) -> MediaView {
    let thumbs: Vec<StoredThumb> = serde_json::from_str(&m.thumbnails).unwrap_or_default();
    MediaView {
        url: format!("/api/media/{}/content", m.id),
        thumbnails: thumbs
            .iter()
            .map(|t| Thumbnail {
                size: t.size,
                url: format!("/api/media/{}/content?size={}", m.id, t.size),
            })
            .collect(),
        id: m.id.clone(),
        owner_id: m.owner_id,
        purpose: m.purpose.clone(),
        source: m.source.clone(),
        kind: m.kind.clone(),
        content_type: content_type(&m.format).into(),
        byte_size: m.byte_size,
        width: m.width,
        height: m.height,
        status: m.status.clone(),
        created_at: m.created_at,
    }
}

/// What the CPU-bound part hands back: sanitised bytes, ready to store.
struct Prepared {
    kind: &'static str,
    main: pipeline::Encoded,
    thumbnails: Vec<(u32, pipeline::Encoded)>,
    width: Option<u32>,
    height: Option<u32>,
    fingerprint: Option<crate::moderation::fingerprint::Fingerprint>,
    input_sha256: String,
}

pub use store::MediaRow;

/// A media row, for the domains that carry media (a photo message checks its picture).
pub async fn find(db: &Db, media_id: &str) -> AppResult<Option<MediaRow>> {
    Ok(store::by_id(db, media_id).await?)
}

#[derive(Clone)]
pub struct Media {
    db: Db,
    blobs: Arc<dyn BlobStore>,
    settings: Arc<MediaSettings>,
    decodes: Arc<Semaphore>,
    /// One decode slot per user at a time: twenty slow uploads of one user wait behind each
    /// other instead of taking every slot of the node from everyone else.
    decoding: Arc<std::sync::Mutex<HashMap<i64, Arc<Semaphore>>>>,
    policy_version: PolicyVersion,
    moderation: actix::Addr<crate::moderation::ModerationServer>,
    /// Who else may see a chat photo (chat's).
    uses: Arc<dyn moderated::PictureUses>,
}

impl Media {
    pub fn new(
        db: Db,
        blobs: Arc<dyn BlobStore>,
        settings: MediaSettings,
        policy_version: PolicyVersion,
        moderation: actix::Addr<crate::moderation::ModerationServer>,
        uses: Arc<dyn moderated::PictureUses>,
    ) -> Self {
        Self {
            db,
            blobs,
            decodes: Arc::new(Semaphore::new(settings.max_concurrent_decodes)),
            decoding: Arc::default(),
            settings: Arc::new(settings),
            policy_version,
            moderation,
            uses,
        }
    }

    fn user_slot(&self, user_id: i64) -> Arc<Semaphore> {
        // The lock guards a map lookup; a poisoned map is still a valid map.
        let mut map = self.decoding.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(user_id)
            .or_insert_with(|| Arc::new(Semaphore::new(1)))
            .clone()
    }

    /// One upload of `DUOXIE_MEDIA_UPLOADS_PER_HOUR`, counted on every node.
    async fn charge_upload(&self, user_id: i64) -> AppResult<()> {
        let key = format!("upload:user:{user_id}");
        let limit = crate::store::rate::Limit::per_hour(self.settings.uploads_per_hour);
        match crate::store::rate::hit(&self.db, &key, limit, crate::store::now_ms()).await? {
            None => Ok(()),
            Some(wait) => {
                metrics::inc(&METRICS.media_quota_refused);
                Err(
                    AppError::new(ErrorCode::RateLimited, "too many uploads; try again later")
                        .retry_after(wait),
                )
            }
        }
    }

    async fn gate(&self, who: &Identity, query: &UploadQuery) -> AppResult<()> {
        crate::consent::require(
            &self.db,
            who.user_id,
            &self.policy_version.get(),
            query.purpose.feature(query.source),
        )
        .await
    }

    /// `POST /api/media`.
    pub async fn upload(
        &self,
        who: &Identity,
        query: UploadQuery,
        declared_type: Option<String>,
        declared_length: Option<usize>,
        mut body: web::Payload,
    ) -> AppResult<MediaView> {
        who.standing.require_full()?;
        self.gate(who, &query).await?;
        self.charge_upload(who.user_id).await?;
        // The limit of the kind the purpose takes, applied while the body arrives: a photo is
        // never buffered past the photo limit.
        let limit = if query.purpose.wants_video() {
            self.settings.max_video_bytes
        } else {
            self.settings.max_image_bytes
        };
        let room = (self.settings.quota_bytes - store::bytes_owned(&self.db, who.user_id).await?)
            .max(0) as usize;
        let over = |n: usize| -> Option<AppError> {
            if n > limit {
                Some(file_too_large(limit))
            } else if n > room {
                Some(quota_exceeded())
            } else {
                None
            }
        };
        if let Some(e) = declared_length.and_then(over) {
            return Err(e);
        }
        let mut bytes = web::BytesMut::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                AppError::new(ErrorCode::BadRequest, format!("upload interrupted: {e}"))
            })?;
            if let Some(e) = over(bytes.len() + chunk.len()) {
                return Err(e);
            }
            bytes.extend_from_slice(&chunk);
        }
        let bytes = bytes.freeze();
        let format = sniff::sniff(&bytes).ok_or_else(|| {
            AppError::new(
                ErrorCode::UnsupportedMedia,
                "not a JPEG, PNG, WebP, GIF, MP4 or MOV file",
            )
        })?;
        if let Some(declared) = declared_type
            .as_deref()
            .filter(|d| !d.is_empty() && *d != "application/octet-stream")
        {
            if !format.matches_declared(declared) {
                return Err(AppError::new(
                    ErrorCode::MediaTypeMismatch,
                    format!(
                        "the bytes are {}, not the declared {declared}",
                        format.mime()
                    ),
                ));
            }
        }
        if format.is_video() != query.purpose.wants_video() {
            return Err(AppError::field(
                "purpose",
                if format.is_video() {
                    "a video is only for post_video"
                } else {
                    "post_video needs an MP4 or MOV video"
                },
            ));
        }
        let kind_limit = if format.is_video() {
            self.settings.max_video_bytes
        } else {
            self.settings.max_image_bytes
        };
        if bytes.len() > kind_limit {
            return Err(file_too_large(kind_limit));
        }

        let prepared = self.prepare(who.user_id, bytes, format).await?;
        // What is kept is the re-encoded file, which may be larger than what was sent.
        if prepared.main.bytes.len() > room {
            return Err(quota_exceeded());
        }
        // A picture on the blocklist (or a near-duplicate of one) is refused on sight; one
        // that merely resembles it waits for a moderator.
        let mut review =
            (prepared.kind == "video").then(|| "videos are always reviewed".to_string());
        if let Some(fingerprint) = &prepared.fingerprint {
            let held = self
                .moderation
                .send(crate::moderation::ScreenImage {
                    fingerprint: fingerprint.clone(),
                })
                .await
                .map_err(|_| AppError::unavailable("moderation unavailable"))??;
            if let Some(reasons) = held {
                review = Some(reasons.join("; "));
            }
        }
        // The consent may have been withdrawn while the bytes were arriving: then the upload
        // is refused, before anything is stored.
        self.gate(who, &query).await?;
        let blobs = self.blobs.clone();
        let (main_blob, thumbs) = web::block(move || -> anyhow::Result<_> {
            let main = blobs.put(&prepared.main.bytes)?;
            let mut thumbs = Vec::new();
            for (size, encoded) in &prepared.thumbnails {
                thumbs.push(StoredThumb {
                    size: *size,
                    blob: blobs.put(&encoded.bytes)?,
                    format: encoded.format,
                });
            }
            Ok(((main, prepared), thumbs))
        })
        .await
        .map_err(|e| anyhow::anyhow!("blob store task: {e}"))??;
        let (main_blob, prepared) = main_blob;
        let row = store::MediaRow {
            id: new_media_id(),
            owner_id: who.user_id,
            purpose: query.purpose.as_str().into(),
            source: match query.source {
                MediaSource::Camera => "camera",
                MediaSource::Album => "album",
            }
            .into(),
            kind: prepared.kind.into(),
            format: prepared.main.format.as_str().into(),
            blob: main_blob,
            input_sha256: prepared.input_sha256,
            byte_size: prepared.main.bytes.len() as i64,
            width: prepared.width.map(i64::from),
            height: prepared.height.map(i64::from),
            fingerprint: prepared.fingerprint.as_ref().map(|f| f.encode()),
            fingerprint_version: prepared
                .fingerprint
                .as_ref()
                .map(|_| crate::moderation::fingerprint::VERSION.to_string()),
            thumbnails: serde_json::to_string(&thumbs)
                .map_err(|e| anyhow::anyhow!("thumbnails: {e}"))?,
            status: if review.is_some() {
                "in_review"
            } else {
                "approved"
            }
            .into(),
            created_at: now_ms(),
        };
        store::insert(&self.db, &row).await?;
        if let Some(reason) = review {
            self.moderation
                .send(crate::moderation::QueueMedia {
                    user_id: who.user_id,
                    media_id: row.id.clone(),
                    reason,
                })
                .await
                .map_err(|_| AppError::unavailable("moderation unavailable"))??;
        }
        crate::metrics::inc(&crate::metrics::METRICS.media_uploads);
        tracing::info!(user_id = who.user_id, media = %row.id, kind = %row.kind, "media uploaded");
        Ok(view(&row))
    }

    /// Decoding, sanitising and hashing: on the blocking pool, at most
    /// `max_concurrent_decodes` at once on the node and one at a time per user.
    async fn prepare(
        &self,
        user_id: i64,
        bytes: web::Bytes,
        format: Format,
    ) -> AppResult<Prepared> {
        let stopped = |_| AppError::unavailable("media processing stopped");
        let turn = UserTurn {
            slot: self.user_slot(user_id),
            user_id,
            decoding: self.decoding.clone(),
        };
        let _mine = turn.slot.acquire().await.map_err(stopped)?;
        let _permit = self.decodes.acquire().await.map_err(stopped)?;
        let limits = ImageLimits {
            max_dimension: self.settings.max_dimension,
            max_pixels: self.settings.max_pixels,
            max_decode_bytes: self.settings.max_decode_bytes,
        };
        web::block(move || -> AppResult<Prepared> {
            let input_sha256 = blob::sha256_hex(&bytes);
            if format.is_video() {
                let mut clean = bytes.to_vec();
                video::strip_metadata(&mut clean)?;
                return Ok(Prepared {
                    kind: "video",
                    main: pipeline::Encoded {
                        format,
                        bytes: clean,
                    },
                    thumbnails: Vec::new(),
                    width: None,
                    height: None,
                    fingerprint: None,
                    input_sha256,
                });
            }
            let done = pipeline::process_image(&bytes, format, &limits)?;
            Ok(Prepared {
                kind: "image",
                main: done.main,
                thumbnails: done.thumbnails,
                width: Some(done.width),
                height: Some(done.height),
                fingerprint: Some(done.fingerprint),
                input_sha256,
            })
        })
        .await
        .map_err(|e| AppError::from(anyhow::anyhow!("media task: {e}")))?
    }

    async fn visible(&self, who: &Identity, id: &str) -> AppResult<store::MediaRow> {
        let row = store::by_id(&self.db, id)
            .await?
            .ok_or_else(|| AppError::not_found("media"))?;
        // Seen by others once approved; chat photos only by their conversation (with chat).
        let purpose_public = matches!(row.purpose.as_str(), "post_photo" | "post_video" | "avatar");
        // The conversation lookup only for the one case that needs it.
        let allowed = row.owner_id == who.user_id
            || who.is_staff()
            || (row.status == "approved" && purpose_public)
            || (row.purpose == "chat_photo"
                && row.status == "approved"
                && self.uses.shared_with(&row.id, who.user_id).await?);
        // Not found rather than forbidden: an unknown and a hidden id look the same.
        if allowed {
            Ok(row)
        } else {
            Err(AppError::not_found("media"))
        }
    }

    /// `GET /api/media/{id}`.
    pub async fn get(&self, who: &Identity, id: &str) -> AppResult<MediaView> {
        Ok(view(&self.visible(who, id).await?))
    }

    /// `GET /api/media/{id}/content?size=`: the stored bytes and their type.
    pub async fn content(
        &self,
        who: &Identity,
        id: &str,
        size: Option<u32>,
    ) -> AppResult<(Vec<u8>, &'static str)> {
        let row = self.visible(who, id).await?;
        let (blob, format) = match size {
            None => (row.blob.clone(), row.format.clone()),
            Some(size) => {
                let thumbs: Vec<StoredThumb> =
                    serde_json::from_str(&row.thumbnails).unwrap_or_default();
                // A picture smaller than the size asked for is its own thumbnail.
                match thumbs.into_iter().find(|t| t.size == size) {
                    Some(t) => (t.blob, t.format.as_str().to_string()),
                    None if pipeline::THUMBNAIL_SIZES.contains(&size) => {
                        (row.blob.clone(), row.format.clone())
                    }
                    None => return Err(AppError::field("size", "expected 256 or 1080")),
                }
            }
        };
        let blobs = self.blobs.clone();
        let bytes = web::block(move || blobs.get(&blob))
            .await
            .map_err(|e| anyhow::anyhow!("blob store task: {e}"))??
            .ok_or_else(|| AppError::not_found("media content"))?;
        Ok((bytes, content_type(&format)))
    }

    /// The export section: every upload's metadata (the bytes are at their URLs).
    pub async fn export(db: &Db, user_id: i64) -> AppResult<Value> {
        let items: Vec<MediaView> = store::owned_by(db, user_id)
            .await?
            .iter()
            .map(view)
            .collect();
        Ok(json!(items))
    }
}

/// A random 128-bit handle, hex: media ids cannot be guessed or enumerated.
fn new_media_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Forgets a user's decode slot once nobody holds or waits for it.
struct UserTurn {
    slot: Arc<Semaphore>,
    user_id: i64,
    decoding: Arc<std::sync::Mutex<HashMap<i64, Arc<Semaphore>>>>,
}

impl Drop for UserTurn {
    fn drop(&mut self) {
        let mut map = self.decoding.lock().unwrap_or_else(|p| p.into_inner());
        // The map's reference and this one: nobody else is waiting.
        if Arc::strong_count(&self.slot) <= 2 {
            map.remove(&self.user_id);
        }
    }
}

fn quota_exceeded() -> AppError {
    metrics::inc(&METRICS.media_quota_refused);
    AppError::new(
        ErrorCode::QuotaExceeded,
        "your uploads have used up your storage; delete some first",
    )
}

fn file_too_large(limit: usize) -> AppError {
    AppError::new(
        ErrorCode::FileTooLarge,
        format!("the file is larger than {limit} bytes"),
    )
}

/// Deletes an upload and its bytes (unless the same bytes are another upload): a recalled
/// photo message's picture.
pub async fn discard(db: &Db, blobs: &Arc<dyn BlobStore>, media_id: &str) -> AppResult<()> {
    let Some(row) = store::by_id(db, media_id).await? else {
        return Ok(());
    };
    let mut held = vec![row.blob.clone()];
    held.extend(thumbnail_blobs(&row.thumbnails));
    store::delete(db, media_id).await?;
    delete_unreferenced_blobs(db, blobs, held).await
}

/// Deletes those of `candidates` (blob names) that no upload refers to any more: the bytes of
/// an erased account's or a purged upload, unless the same bytes are someone else's upload.
pub async fn delete_unreferenced_blobs(
    db: &Db,
    blobs: &Arc<dyn BlobStore>,
    candidates: Vec<String>,
) -> AppResult<()> {
    let unused = store::unreferenced(db, &candidates).await?;
    let blobs = blobs.clone();
    web::block(move || unused.iter().try_for_each(|b| blobs.delete(b)))
        .await
        .map_err(|e| anyhow::anyhow!("blocking task: {e}"))??;
    Ok(())
}
