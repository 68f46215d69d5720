//! The picture blocklist's side effects: what `reject_and_block` adds, and the rehash that
//! brings entries an older hash made up to the current [`fingerprint::VERSION`]. The
//! comparison itself is pure ([`super::policy::screen_image`]).

use crate::error::{AppError, AppResult};
use crate::store::Db;

use super::content::StoredPictures;
use super::fingerprint::{self, Fingerprint};
use super::store;

/// The picture's fingerprint for the blocklist, every cut included, computed from the
/// stored picture; when its file is gone, the upload's own (whole-picture) fingerprint if it
/// is of the current version. `None` when there is nothing to hash (no such media, a video,
/// no file and no usable fingerprint).
pub async fn fingerprint_of(
    pictures: &dyn StoredPictures,
    media_id: &str,
) -> AppResult<Option<Fingerprint>> {
    let Some(picture) = pictures.load(media_id).await? else {
        return Ok(None);
    };
    let stored = (picture.fingerprint_version.as_deref() == Some(fingerprint::VERSION))
        .then(|| picture.fingerprint.as_deref().and_then(Fingerprint::decode))
        .flatten();
    let Some(decoded) = picture.decoded.filter(|_| picture.is_image) else {
        return Ok(stored);
    };
    let computed = tokio::task::spawn_blocking(move || Fingerprint::for_blocklist(&decoded))
        .await
        .map_err(|e| AppError::from(anyhow::anyhow!("fingerprint task: {e}")))?;
    Ok(Some(computed))
}

/// Adds the picture to the blocklist; `false` when there is no picture to take it from.
pub async fn block(
    db: &Db,
    pictures: &dyn StoredPictures,
    media_id: &str,
    reason: &str,
    now: i64,
) -> AppResult<bool> {
    let Some(print) = fingerprint_of(pictures, media_id).await? else {
        tracing::warn!(media_id, "a blocklisted picture has no stored file to hash");
        return Ok(false);
    };
    store::block_picture(db, &print, Some(media_id), reason, now).await?;
    Ok(true)
}

/// What [`rehash`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rehashed {
    pub rehashed: usize,
    /// Entries whose picture is gone: kept (the decision is on record) but no longer
    /// screening anything, as their old hash refused innocent pictures and nothing remains
    /// to compute a new one from. Tried again at every start.
    pub unhashable: usize,
}

/// Rehashes every blocklist entry made by another hash: the 64-bit dHash entries of before
/// (found through `media.phash`) and entries of an older fingerprint version. Idempotent, so
/// every node runs it at start; an old entry is only removed once its new one is written.
pub async fn rehash(db: &Db, pictures: &dyn StoredPictures) -> AppResult<Rehashed> {
    let mut done = Rehashed::default();
    for old in store::legacy_blocklist(db).await? {
        let mut hashed = false;
        for media_id in pictures.with_legacy_hash(&old.hash).await? {
            if block(db, pictures, &media_id, &old.reason, old.created_at).await? {
                hashed = true;
            }
        }
        if hashed {
            store::forget_legacy(db, &old.hash).await?;
            done.rehashed += 1;
        } else {
            done.unhashable += 1;
        }
    }
    for old in store::stale_blocklist(db).await? {
        let hashed = match &old.media_id {
            Some(media_id) => block(db, pictures, media_id, &old.reason, old.created_at).await?,
            None => false,
        };
        if hashed {
            store::forget_blocklisted(db, old.id).await?;
            done.rehashed += 1;
        } else {
            done.unhashable += 1;
        }
    }
    if done != Rehashed::default() {
        tracing::info!(
            rehashed = done.rehashed,
            unhashable = done.unhashable,
            version = fingerprint::VERSION,
            "picture blocklist rehashed"
        );
    }
    Ok(done)
}
