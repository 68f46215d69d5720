//! Verdicts' SQL (live_verdicts): a number's versions, append-only; a correction supersedes
//! the version before it in the same transaction.

use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::live::messages::UserRef;
use crate::store::Db;

/// A verdict version as stored.
#[derive(Debug, Clone)]
pub struct VerdictRow {
    pub number: String,
    pub version: i64,
    pub call_id: i64,
    pub room_id: i64,
    pub appraiser_id: Option<i64>,
    pub appraiser_name: String,
    pub appraiser: UserRef,
    pub buyer_id: Option<i64>,
    pub buyer: Option<UserRef>,
    pub item_type: String,
    pub material: String,
    pub conclusion: String,
    pub grade: Option<String>,
    pub notes: Option<String>,
    pub price_low: Option<i64>,
    pub price_high: Option<i64>,
    pub snapshots: Vec<String>,
    pub correction: Option<String>,
    pub issued_at: i64,
    pub superseded_at: Option<i64>,
}

const COLUMNS: &str = "SELECT v.*, \
     CASE WHEN a.deleted_at IS NULL THEN a.id END AS a_ref, a.nickname AS a_nickname, \
     a.avatar AS a_avatar, \
     CASE WHEN b.deleted_at IS NULL THEN b.id END AS b_ref, b.nickname AS b_nickname, \
     b.avatar AS b_avatar \
     FROM live_verdicts v LEFT JOIN users a ON a.id = v.appraiser_id \
     LEFT JOIN users b ON b.id = v.buyer_id";

fn person(r: &AnyRow, p: &str) -> Result<Option<UserRef>, sqlx::Error> {
    let id: Option<i64> = r.try_get(format!("{p}_ref").as_str())?;
    Ok(match id {
        Some(id) => Some(UserRef {
            id: Some(id),
            nickname: r.try_get(format!("{p}_nickname").as_str())?,
            avatar: r.try_get(format!("{p}_avatar").as_str())?,
        }),
        None => None,
    })
}

fn from_row(r: &AnyRow) -> Result<VerdictRow, sqlx::Error> {
    let appraiser_name: String = r.try_get("appraiser_name")?;
    let snapshots: String = r.try_get("snapshots")?;
    Ok(VerdictRow {
        number: r.try_get("number")?,
        version: r.try_get("version")?,
        call_id: r.try_get("call_id")?,
        room_id: r.try_get("room_id")?,
        appraiser_id: r.try_get("appraiser_id")?,
        appraiser: person(r, "a")?.unwrap_or(UserRef {
            id: None,
            nickname: appraiser_name.clone(),
            avatar: None,
        }),
        appraiser_name,
        buyer_id: r.try_get("buyer_id")?,
        buyer: person(r, "b")?,
        item_type: r.try_get("item_type")?,
        material: r.try_get("material")?,
        conclusion: r.try_get("conclusion")?,
        grade: r.try_get("grade")?,
        notes: r.try_get("notes")?,
        price_low: r.try_get("price_low")?,
        price_high: r.try_get("price_high")?,
        snapshots: serde_json::from_str(&snapshots).unwrap_or_default(),
        correction: r.try_get("correction")?,
        issued_at: r.try_get("issued_at")?,
        superseded_at: r.try_get("superseded_at")?,
    })
}

/// Every version of a number, oldest first.
pub async fn versions(db: &Db, number: &str) -> Result<Vec<VerdictRow>, sqlx::Error> {
    let rows = sqlx::query(&format!("{COLUMNS} WHERE v.number = $1 ORDER BY v.version"))
        .bind(number)
        .fetch_all(db)
        .await?;
    rows.iter().map(from_row).collect()
}

/// The verdict issued for a call (its first version), if any.
pub async fn number_of_call(db: &Db, call_id: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT number FROM live_verdicts WHERE call_id = $1 AND version = 1")
        .bind(call_id)
        .fetch_optional(db)
        .await
}

/// The current versions of the user's verdicts, as buyer or appraiser, newest first.
pub async fn current_of_user(
    db: &Db,
    user_id: i64,
    limit: i64,
) -> Result<Vec<VerdictRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "{COLUMNS} WHERE (v.buyer_id = $1 OR v.appraiser_id = $1) AND v.superseded_at IS NULL \
         ORDER BY v.issued_at DESC, v.id DESC LIMIT $2"
    ))
    .bind(user_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter().map(from_row).collect()
}

pub struct NewVerdict<'a> {
    pub number: &'a str,
    pub version: i64,
    pub call_id: i64,
    pub room_id: i64,
    pub appraiser_id: i64,
    pub appraiser_name: &'a str,
    pub buyer_id: Option<i64>,
    pub item_type: &'a str,
    pub material: &'a str,
    pub conclusion: &'a str,
    pub grade: Option<&'a str>,
    pub notes: Option<&'a str>,
    pub price_low: Option<i64>,
    pub price_high: Option<i64>,
    pub snapshots: &'a [String],
    pub correction: Option<&'a str>,
}

/// Appends a version; the one before it (if any) is superseded at the same instant. False
/// when that version was superseded already (two corrections at once: one wins) or the
/// number and version exist (two first issues at once).
pub async fn append(
    conn: &mut AnyConnection,
    v: &NewVerdict<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    if v.version > 1 {
        let n = sqlx::query(
            "UPDATE live_verdicts SET superseded_at = $3 \
             WHERE number = $1 AND version = $2 AND superseded_at IS NULL",
        )
        .bind(v.number)
        .bind(v.version - 1)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
    }
    let inserted = sqlx::query(
        "INSERT INTO live_verdicts (number, version, call_id, room_id, appraiser_id, \
         appraiser_name, buyer_id, item_type, material, conclusion, grade, notes, price_low, \
         price_high, snapshots, correction, issued_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(v.number)
    .bind(v.version)
    .bind(v.call_id)
    .bind(v.room_id)
    .bind(v.appraiser_id)
    .bind(v.appraiser_name)
    .bind(v.buyer_id)
    .bind(v.item_type)
    .bind(v.material)
    .bind(v.conclusion)
    .bind(v.grade)
    .bind(v.notes)
    .bind(v.price_low)
    .bind(v.price_high)
    .bind(json!(v.snapshots).to_string())
    .bind(v.correction)
    .bind(now)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if crate::store::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------- the user's rights

/// The user's verdicts (every version), as buyer and as appraiser, for the export.
pub async fn export_user(db: &Db, user_id: i64) -> Result<Value, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "{COLUMNS} WHERE v.buyer_id = $1 OR v.appraiser_id = $1 ORDER BY v.number, v.version"
    ))
    .bind(user_id)
    .fetch_all(db)
    .await?;
    let verdicts: Vec<Value> = rows
        .iter()
        .map(|r| {
            let v = from_row(r)?;
            Ok(json!({
                "number": v.number, "version": v.version, "call_id": v.call_id,
                "role": if v.buyer_id == Some(user_id) { "buyer" } else { "appraiser" },
                "item_type": v.item_type, "material": v.material, "conclusion": v.conclusion,
                "grade": v.grade, "notes": v.notes, "price_low": v.price_low,
                "price_high": v.price_high, "snapshots": v.snapshots,
                "correction": v.correction, "issued_at": v.issued_at,
                "superseded_at": v.superseded_at,
            }))
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Value::Array(verdicts))
}

/// Inside the deletion transaction: the verdicts stay (records the law may require), with
/// the erased party's id removed and the retention clock started.
pub async fn deidentify_user(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    for sql in [
        "UPDATE live_verdicts SET buyer_id = NULL, deidentified_at = COALESCE(deidentified_at, $2) \
         WHERE buyer_id = $1",
        "UPDATE live_verdicts SET appraiser_id = NULL, \
         deidentified_at = COALESCE(deidentified_at, $2) WHERE appraiser_id = $1",
    ] {
        sqlx::query(sql)
            .bind(user_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// De-identified verdicts whose legal retention ended before `cutoff` go (at most `batch`).
pub async fn expire(db: &Db, cutoff: i64, batch: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM live_verdicts WHERE id IN (SELECT id FROM live_verdicts \
         WHERE deidentified_at IS NOT NULL AND deidentified_at < $1 LIMIT $2)",
    )
    .bind(cutoff)
    .bind(batch)
    .execute(db)
    .await?
    .rows_affected())
}
