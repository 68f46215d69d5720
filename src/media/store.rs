//! Media SQL.

use sqlx::Row;

use crate::store::Db;

/// A `media` row, read by column name (`sqlx::FromRow`); [`COLUMNS`] names them.
#[derive(sqlx::FromRow)]
pub struct MediaRow {
    pub id: String,
    pub owner_id: i64,
    pub purpose: String,
    pub source: String,
    pub kind: String,
    pub format: String,
    pub blob: String,
    pub input_sha256: String,
    pub byte_size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    /// [`crate::moderation::fingerprint::Fingerprint::encode`]'s form, and the module revision that made it.
    pub fingerprint: Option<String>,
    pub fingerprint_version: Option<String>,
    /// JSON: `[{"size":256,"blob":"…","format":"jpeg"}]`.
    pub thumbnails: String,
    pub status: String,
    pub created_at: i64,
}

const COLUMNS: &str = "id, owner_id, purpose, source, kind, format, blob, input_sha256, \
     byte_size, width, height, fingerprint, fingerprint_version, thumbnails, status, created_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<MediaRow, sqlx::Error> {
    sqlx::FromRow::from_row(r)
}

pub async fn insert(db: &Db, m: &MediaRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO media ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
         $13, $14, $15, $16)"
    ))
    .bind(&m.id)
    .bind(m.owner_id)
    .bind(&m.purpose)
    .bind(&m.source)
    .bind(&m.kind)
    .bind(&m.format)
    .bind(&m.blob)
    .bind(&m.input_sha256)
    .bind(m.byte_size)
    .bind(m.width)
    .bind(m.height)
    .bind(&m.fingerprint)
    .bind(&m.fingerprint_version)
    .bind(&m.thumbnails)
    .bind(&m.status)
    .bind(m.created_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Pictures whose 64-bit dHash (written before fingerprints) was `phash`: where an old
/// blocklist entry's picture is found again to rehash it.
pub async fn ids_with_legacy_hash(db: &Db, phash: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM media WHERE phash = $1 ORDER BY created_at")
        .bind(phash)
        .fetch_all(db)
        .await
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<MediaRow>, sqlx::Error> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM media WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn owned_by(db: &Db, owner_id: i64) -> Result<Vec<MediaRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM media WHERE owner_id = $1 ORDER BY created_at, id"
    ))
    .bind(owner_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// The user's own content goes with the account (policy: 注销).
pub async fn erase_owned(conn: &mut sqlx::AnyConnection, owner_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM media WHERE owner_id = $1")
        .bind(owner_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Every blob (file and thumbnails) of the user's media, for cleaning up after deletion.
pub async fn blobs_of(db: &Db, owner_id: i64) -> Result<Vec<String>, sqlx::Error> {
    let mut blobs = Vec::new();
    for m in owned_by(db, owner_id).await? {
        blobs.push(m.blob.clone());
        blobs.extend(super::thumbnail_blobs(&m.thumbnails));
    }
    Ok(blobs)
}

/// Blobs no media row refers to any more (after deletions), among `candidates`.
pub async fn unreferenced(db: &Db, candidates: &[String]) -> Result<Vec<String>, sqlx::Error> {
    let mut out = Vec::new();
    for blob in candidates {
        let used = sqlx::query("SELECT 1 FROM media WHERE blob = $1 OR thumbnails LIKE $2 LIMIT 1")
            .bind(blob)
            .bind(format!("%{blob}%"))
            .fetch_optional(db)
            .await?
            .is_some();
        if !used {
            out.push(blob.clone());
        }
    }
    Ok(out)
}

/// A moderator's decision on a held upload.
pub async fn set_status(db: &Db, id: &str, status: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE media SET status = $1 WHERE id = $2")
        .bind(status)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Rejected uploads older than `before` (past the appeal window): ids and their blobs.
pub async fn rejected_before(
    db: &Db,
    before: i64,
    limit: i64,
) -> Result<Vec<(String, Vec<String>)>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM media WHERE status = 'rejected' AND created_at < $1 ORDER BY created_at LIMIT $2"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        let m = from_row(r)?;
        let mut blobs = vec![m.blob.clone()];
        blobs.extend(super::thumbnail_blobs(&m.thumbnails));
        Ok((m.id, blobs))
    })
    .collect()
}

pub async fn delete(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM media WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Bytes of uploads `owner_id` keeps stored (every status: rejected ones stay until their
/// appeal window ends).
pub async fn bytes_owned(db: &Db, owner_id: i64) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(byte_size), 0) AS BIGINT) FROM media WHERE owner_id = $1",
    )
    .bind(owner_id)
    .fetch_one(db)
    .await?;
    row.try_get(0)
}
