//! Fixed-window rate limits kept in the database, so that every node counts against one
//! limit (a client spreading its requests over nodes gains nothing). Callers name their own
//! keys (`code:ip:1.2.3.4`, `upload:user:7`); keys must never hold a secret or a phone
//! number in clear, only keyed hashes.

use sqlx::Row;

use super::Db;

/// A limit: at most `max` hits per `window_ms`.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub max: i64,
    pub window_ms: i64,
}

impl Limit {
    pub const fn per_minute(max: i64) -> Self {
        Self {
            max,
            window_ms: 60_000,
        }
    }
    pub const fn per_hour(max: i64) -> Self {
        Self {
            max,
            window_ms: 3_600_000,
        }
    }
    pub const fn per_day(max: i64) -> Self {
        Self {
            max,
            window_ms: 86_400_000,
        }
    }
}

/// Counts one hit on `key`; `Ok(None)` when it is within `limit`, `Ok(Some(ms))` with the
/// time until the window ends when it is over. One statement, so concurrent hits on any
/// number of nodes are all counted.
pub async fn hit(db: &Db, key: &str, limit: Limit, now: i64) -> Result<Option<u64>, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO rate_windows (key, window_start, hits) VALUES ($1, $2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
           hits = CASE WHEN rate_windows.window_start <= $3 THEN 1 \
                  ELSE rate_windows.hits + 1 END, \
           window_start = CASE WHEN rate_windows.window_start <= $3 THEN $2 \
                  ELSE rate_windows.window_start END \
         RETURNING hits, window_start",
    )
    .bind(key)
    .bind(now)
    .bind(now - limit.window_ms)
    .fetch_one(db)
    .await?;
    let hits: i64 = row.try_get(0)?;
    let start: i64 = row.try_get(1)?;
    Ok((hits > limit.max).then(|| (start + limit.window_ms - now).max(1) as u64))
}

/// Counts one hit on every key; the first limit exceeded wins (all are counted, so a
/// refused request still uses up its share everywhere).
pub async fn hit_all(
    db: &Db,
    keys: &[(&str, Limit)],
    now: i64,
) -> Result<Option<u64>, sqlx::Error> {
    let mut refused = None;
    for (key, limit) in keys {
        if let Some(wait) = hit(db, key, *limit, now).await? {
            refused.get_or_insert(wait);
        }
    }
    Ok(refused)
}

/// Forgets windows that ended before `before` (the retention job).
pub async fn prune(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    // The longest window used is a day; anything older than that holds nothing live.
    let done = sqlx::query("DELETE FROM rate_windows WHERE window_start < $1")
        .bind(before)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
