//! Moderation SQL: the queue with its claim leases, decisions, the audit log, the hash
//! blocklist. Every state change is one conditional statement, so racing moderators (on any
//! node) and the lease sweeper never both win.

use serde::Serialize;
use sqlx::Row;

use crate::moderation::fingerprint::{self, Fingerprint};
use crate::store::Db;

/// A queue item, read by column name (`sqlx::FromRow`); [`COLUMNS`] names them.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Item {
    pub id: i64,
    pub kind: String,
    pub subject_id: i64,
    pub content_ref: String,
    pub content: String,
    #[sqlx(try_from = "String")]
    pub reasons: Reasons,
    /// The media ids it comes with (a post's pictures), shown beside the content.
    #[sqlx(try_from = "String")]
    pub media: Reasons,
    pub priority: i64,
    pub state: String,
    pub claimed_by: Option<i64>,
    pub claim_expires_at: Option<i64>,
    pub decision: Option<String>,
    pub decision_reason: Option<String>,
    pub created_at: i64,
    /// A report's category (`fake_goods`, `fraud`, `harassment`, `off_platform`, `other`).
    pub category: Option<String>,
}

const COLUMNS: &str = "id, kind, subject_id, content_ref, content, reasons, media, priority, \
     state, claimed_by, claim_expires_at, decision, decision_reason, created_at, category";

/// A list of strings stored as JSON (why an item is queued, the media it comes with); an
/// unreadable one reads as none.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(transparent)]
pub struct Reasons(pub Vec<String>);

impl From<String> for Reasons {
    fn from(stored: String) -> Self {
        Reasons(serde_json::from_str(&stored).unwrap_or_default())
    }
}

pub struct NewItem<'a> {
    pub kind: &'a str,
    pub subject_id: i64,
    pub content_ref: &'a str,
    pub content: &'a str,
    pub reasons: &'a [String],
    pub media: &'a [String],
    pub priority: i64,
    pub now: i64,
    /// Who reported it, for a report.
    pub reporter_id: Option<i64>,
    /// What kind of wrong the reporter named, for a report.
    pub category: Option<&'a str>,
}

pub async fn enqueue(db: &Db, n: &NewItem<'_>) -> Result<Item, sqlx::Error> {
    let reasons = serde_json::to_string(n.reasons).unwrap_or_else(|_| "[]".into());
    let media = serde_json::to_string(n.media).unwrap_or_else(|_| "[]".into());
    sqlx::query_as(&format!(
        "INSERT INTO moderation_items (kind, subject_id, content_ref, content, reasons, priority, \
         state, created_at, reporter_id, category, media) \
         VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, $9, $10) RETURNING {COLUMNS}"
    ))
    .bind(n.kind)
    .bind(n.subject_id)
    .bind(n.content_ref)
    .bind(n.content)
    .bind(reasons)
    .bind(n.priority)
    .bind(n.now)
    .bind(n.reporter_id)
    .bind(n.category)
    .bind(media)
    .fetch_one(db)
    .await
}

/// The open item a reporter already has on this content, if any.
pub async fn open_report(
    db: &Db,
    reporter_id: i64,
    kind: &str,
    content_ref: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM moderation_items WHERE reporter_id = $1 AND kind = $2 \
         AND content_ref = $3 AND state IN ('queued', 'claimed') ORDER BY id LIMIT 1",
    )
    .bind(reporter_id)
    .bind(kind)
    .bind(content_ref)
    .fetch_optional(db)
    .await
}

pub async fn item(db: &Db, id: i64) -> Result<Option<Item>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM moderation_items WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Open items (queued or claimed), most urgent and oldest first.
pub async fn open_items(db: &Db, limit: i64) -> Result<Vec<Item>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM moderation_items WHERE state IN ('queued', 'claimed') \
         ORDER BY priority, id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Takes the lease if the item is queued, or its lease ran out; exactly one of several
/// racing moderators gets `true`.
pub async fn claim(
    db: &Db,
    id: i64,
    moderator: i64,
    now: i64,
    until: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE moderation_items SET state = 'claimed', claimed_by = $1, claim_expires_at = $2 \
         WHERE id = $3 AND (state = 'queued' OR (state = 'claimed' AND claim_expires_at <= $4))",
    )
    .bind(moderator)
    .bind(until)
    .bind(id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Gives a claim back (the holder only).
pub async fn release(db: &Db, id: i64, moderator: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE moderation_items SET state = 'queued', claimed_by = NULL, claim_expires_at = NULL \
         WHERE id = $1 AND state = 'claimed' AND claimed_by = $2",
    )
    .bind(id)
    .bind(moderator)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Returns every item whose lease ran out to the queue; their ids.
pub async fn expire_leases(db: &Db, now: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE moderation_items SET state = 'queued', claimed_by = NULL, claim_expires_at = NULL \
         WHERE state = 'claimed' AND claim_expires_at <= $1 RETURNING id",
    )
    .bind(now)
    .fetch_all(db)
    .await
}

/// Records the decision if `moderator` holds a live claim on the item.
pub async fn decide(
    db: &Db,
    id: i64,
    moderator: i64,
    decision: &str,
    reason: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE moderation_items SET state = 'decided', decision = $1, decision_reason = $2, \
         decided_by = $3, decided_at = $4, claimed_by = NULL, claim_expires_at = NULL \
         WHERE id = $5 AND state = 'claimed' AND claimed_by = $3 AND claim_expires_at > $4",
    )
    .bind(decision)
    .bind(reason)
    .bind(moderator)
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn audit(
    db: &Db,
    actor_id: i64,
    action: &str,
    item_id: Option<i64>,
    target_user_id: Option<i64>,
    reason: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO moderation_audit (actor_id, action, item_id, target_user_id, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(actor_id)
    .bind(action)
    .bind(item_id)
    .bind(target_user_id)
    .bind(reason)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Every blocklisted picture hashed by the current fingerprint version.
pub async fn blocklisted_pictures(db: &Db) -> Result<Vec<Fingerprint>, sqlx::Error> {
    Ok(
        sqlx::query("SELECT fingerprint FROM picture_blocklist WHERE version = $1")
            .bind(fingerprint::VERSION)
            .fetch_all(db)
            .await?
            .iter()
            .filter_map(|r| r.try_get::<String, _>(0).ok())
            .filter_map(|text| Fingerprint::decode(&text))
            .collect(),
    )
}

pub async fn block_picture(
    db: &Db,
    print: &Fingerprint,
    media_id: Option<&str>,
    reason: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO picture_blocklist \
         (algorithm, version, pdq, quality, fingerprint, media_id, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (version, pdq) DO NOTHING",
    )
    .bind(fingerprint::ALGORITHM)
    .bind(fingerprint::VERSION)
    .bind(print.whole.hash.to_hex())
    .bind(i64::from(print.whole.hash.quality))
    .bind(print.encode())
    .bind(media_id)
    .bind(reason)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// A blocklist entry that an older hash made.
#[derive(sqlx::FromRow)]
pub struct OldEntry {
    pub id: i64,
    /// The old hash (the dHash hex of a legacy entry).
    pub hash: String,
    pub media_id: Option<String>,
    pub reason: String,
    pub created_at: i64,
}

/// The 64-bit dHash entries made before fingerprints.
pub async fn legacy_blocklist(db: &Db) -> Result<Vec<OldEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT CAST(0 AS BIGINT) AS id, phash AS hash, NULL AS media_id, reason, created_at \
         FROM media_hash_blocklist",
    )
    .fetch_all(db)
    .await
}

pub async fn forget_legacy(db: &Db, phash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM media_hash_blocklist WHERE phash = $1")
        .bind(phash)
        .execute(db)
        .await?;
    Ok(())
}

/// Entries of another fingerprint version than this build's.
pub async fn stale_blocklist(db: &Db) -> Result<Vec<OldEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, pdq AS hash, media_id, reason, created_at FROM picture_blocklist \
         WHERE version <> $1",
    )
    .bind(fingerprint::VERSION)
    .fetch_all(db)
    .await
}

pub async fn forget_blocklisted(db: &Db, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM picture_blocklist WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// The decisions about a user's content, for their export.
pub async fn items_about(db: &Db, subject_id: i64) -> Result<Vec<Item>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM moderation_items WHERE subject_id = $1 ORDER BY id"
    ))
    .bind(subject_id)
    .fetch_all(db)
    .await
}

pub async fn erase_items_about(
    conn: &mut sqlx::AnyConnection,
    subject_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM moderation_items WHERE subject_id = $1")
        .bind(subject_id)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Sanction {
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    pub until: Option<i64>,
    pub reason: String,
    pub created_by: i64,
    pub created_at: i64,
}

pub async fn add_sanction(
    db: &Db,
    user_id: i64,
    kind: &str,
    until: Option<i64>,
    reason: &str,
    by: i64,
    now: i64,
) -> Result<Sanction, sqlx::Error> {
    let id: i64 = sqlx::query(
        "INSERT INTO user_sanctions (user_id, kind, until, reason, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(user_id)
    .bind(kind)
    .bind(until)
    .bind(reason)
    .bind(by)
    .bind(now)
    .fetch_one(db)
    .await?
    .try_get(0)?;
    Ok(Sanction {
        id,
        user_id,
        kind: kind.into(),
        until,
        reason: reason.into(),
        created_by: by,
        created_at: now,
    })
}

/// Lifts every active mute and suspension of the user; how many.
pub async fn lift_sanctions(db: &Db, user_id: i64, by: i64, now: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE user_sanctions SET lifted_at = $1, lifted_by = $2 WHERE user_id = $3 \
         AND kind IN ('mute', 'suspend') AND lifted_at IS NULL",
    )
    .bind(now)
    .bind(by)
    .bind(user_id)
    .execute(db)
    .await?
    .rows_affected())
}

/// `Some(0)` for an open-ended suspension, `Some(until)` for a timed one, `None` if none.
pub async fn suspended_until(db: &Db, user_id: i64, now: i64) -> Result<Option<i64>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT until FROM user_sanctions WHERE user_id = $1 AND kind = 'suspend' \
         AND lifted_at IS NULL AND (until IS NULL OR until > $2)",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(db)
    .await?;
    let mut result = None;
    for row in rows {
        let until: Option<i64> = row.try_get(0)?;
        result = Some(match (result, until) {
            (_, None) | (Some(0), _) => 0,
            (Some(a), Some(b)) => a.max(b),
            (None, Some(b)) => b,
        });
    }
    Ok(result)
}

pub async fn sanctions_of(db: &Db, user_id: i64) -> Result<Vec<Sanction>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, kind, until, reason, created_by, created_at FROM user_sanctions \
         WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

pub async fn erase_sanctions(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM user_sanctions WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub actor_id: i64,
    pub action: String,
    pub item_id: Option<i64>,
    pub target_user_id: Option<i64>,
    pub reason: String,
    pub at: i64,
}

pub async fn recent_audit(db: &Db, limit: i64) -> Result<Vec<AuditEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT actor_id, action, item_id, target_user_id, reason, created_at AS at \
         FROM moderation_audit ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// When an item was decided, and whether an appeal of it exists already.
pub async fn decided_at(db: &Db, id: i64) -> Result<Option<i64>, sqlx::Error> {
    Ok(
        sqlx::query("SELECT decided_at FROM moderation_items WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?
            .map(|r| r.try_get::<Option<i64>, _>(0))
            .transpose()?
            .flatten(),
    )
}

pub async fn appeal_exists(db: &Db, item_id: i64) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("SELECT 1 FROM moderation_items WHERE kind = 'appeal' AND content_ref = $1")
            .bind(item_id.to_string())
            .fetch_optional(db)
            .await?
            .is_some(),
    )
}

/// A rejection of a user's content: one they may still appeal, or one under appeal.
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
pub struct Appealable {
    pub item_id: i64,
    pub kind: String,
    pub content_ref: String,
    pub content: String,
    pub reason: String,
    pub decided_at: i64,
}

/// The rejections of `subject_id`'s content decided since `since`, newest first: those not
/// yet appealed (`appealed` false), or those whose appeal waits for a moderator (true).
pub async fn appealable(
    db: &Db,
    subject_id: i64,
    since: i64,
    limit: i64,
    appealed: bool,
) -> Result<Vec<Appealable>, sqlx::Error> {
    let appeal = if appealed {
        "EXISTS (SELECT 1 FROM moderation_items a WHERE a.kind = 'appeal' \
           AND a.content_ref = CAST(i.id AS TEXT) AND a.state <> 'decided')"
    } else {
        "NOT EXISTS (SELECT 1 FROM moderation_items a \
           WHERE a.kind = 'appeal' AND a.content_ref = CAST(i.id AS TEXT))"
    };
    sqlx::query_as(&format!(
        "SELECT i.id AS item_id, i.kind, i.content_ref, i.content, \
         COALESCE(i.decision_reason, '') AS reason, i.decided_at FROM moderation_items i \
         WHERE i.subject_id = $1 AND i.kind <> 'appeal' \
         AND i.decision IN ('reject', 'reject_and_block') AND i.decided_at >= $2 \
         AND {appeal} ORDER BY i.decided_at DESC, i.id DESC LIMIT $3"
    ))
    .bind(subject_id)
    .bind(since)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Reports a user made are not theirs to erase with their account, but stop naming them.
pub async fn forget_reporter(
    conn: &mut sqlx::AnyConnection,
    reporter_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE moderation_items SET reporter_id = NULL WHERE reporter_id = $1")
        .bind(reporter_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Queue depth by priority and the age of the oldest open item, for `/metrics`.
pub async fn queue_health(db: &Db, now: i64) -> Result<(Vec<(i64, i64)>, i64), sqlx::Error> {
    let depth = sqlx::query(
        "SELECT priority, COUNT(*) FROM moderation_items WHERE state IN ('queued', 'claimed') \
         GROUP BY priority ORDER BY priority",
    )
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect::<Result<Vec<(i64, i64)>, sqlx::Error>>()?;
    let oldest: Option<i64> = sqlx::query(
        "SELECT MIN(created_at) FROM moderation_items WHERE state IN ('queued', 'claimed')",
    )
    .fetch_one(db)
    .await?
    .try_get(0)?;
    Ok((depth, oldest.map_or(0, |t| (now - t).max(0))))
}

/// The end of the user's active mute, if any.
pub async fn muted_until(db: &Db, user_id: i64, now: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query(
        "SELECT MAX(until) FROM user_sanctions WHERE user_id = $1 AND kind = 'mute' \
         AND lifted_at IS NULL AND until > $2",
    )
    .bind(user_id)
    .bind(now)
    .fetch_one(db)
    .await?
    .try_get(0)
}
