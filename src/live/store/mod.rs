//! Live rooms' SQL: rooms, numbered events, helpers, bans, mutes and kicks, per-node member
//! counts, the audit. Every statement runs unchanged on SQLite and PostgreSQL (times are ms).

pub mod calls;
pub mod verdicts;

use std::collections::HashMap;

use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::AnyConnection;
use sqlx::Row;

use super::messages::{CommentView, ListCursor, RoomView, UserRef};
use crate::store::{id_list, ids_json, Backend, Db};

const ROOM_COLUMNS: &str = "SELECT r.id, r.host_id, \
     CASE WHEN u.deleted_at IS NULL THEN u.id END AS host_ref, u.nickname AS host_nickname, \
     u.avatar AS host_avatar, r.title, r.category, r.cover_media_id, r.status, r.scheduled_at, \
     r.created_at, r.started_at, r.ended_at, r.hidden_at, r.pinned, r.last_seq, r.like_count, \
     r.viewer_count \
     FROM live_rooms r JOIN users u ON u.id = r.host_id";

/// A room as stored, with what the domain needs beside its view.
#[derive(Debug, Clone)]
pub struct RoomRow {
    pub view: RoomView,
    pub host_id: i64,
}

fn room_from_row(r: &AnyRow) -> Result<RoomRow, sqlx::Error> {
    let hidden: Option<i64> = r.try_get("hidden_at")?;
    Ok(RoomRow {
        host_id: r.try_get("host_id")?,
        view: RoomView {
            id: r.try_get("id")?,
            host: UserRef {
                id: r.try_get("host_ref")?,
                nickname: r.try_get("host_nickname")?,
                avatar: r.try_get("host_avatar")?,
            },
            title: r.try_get("title")?,
            category: r.try_get("category")?,
            cover: r.try_get("cover_media_id")?,
            status: r.try_get("status")?,
            scheduled_at: r.try_get("scheduled_at")?,
            created_at: r.try_get("created_at")?,
            started_at: r.try_get("started_at")?,
            ended_at: r.try_get("ended_at")?,
            viewers: r.try_get("viewer_count")?,
            likes: r.try_get("like_count")?,
            pinned: r.try_get("pinned")?,
            seq: r.try_get("last_seq")?,
            hidden: hidden.is_some(),
        },
    })
}

pub async fn room(db: &Db, room_id: i64) -> Result<Option<RoomRow>, sqlx::Error> {
    sqlx::query(&format!("{ROOM_COLUMNS} WHERE r.id = $1"))
        .bind(room_id)
        .fetch_optional(db)
        .await?
        .map(|r| room_from_row(&r))
        .transpose()
}

/// Rooms not ended of a host (the cap on open rooms).
pub async fn open_rooms_of(db: &Db, host_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM live_rooms WHERE host_id = $1 AND status <> 'ended'")
        .bind(host_id)
        .fetch_one(db)
        .await
}

pub struct NewRoom<'a> {
    pub host_id: i64,
    pub title: &'a str,
    pub category: &'a str,
    pub cover: Option<&'a str>,
    pub scheduled_at: Option<i64>,
}

pub async fn create_room(db: &Db, room: &NewRoom<'_>, now: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO live_rooms (host_id, title, category, cover_media_id, status, scheduled_at, \
         created_at) VALUES ($1, $2, $3, $4, 'scheduled', $5, $6) RETURNING id",
    )
    .bind(room.host_id)
    .bind(room.title)
    .bind(room.category)
    .bind(room.cover)
    .bind(room.scheduled_at)
    .bind(now)
    .fetch_one(db)
    .await
}

/// Rooms live now and not hidden, most watched first, after `after` (keyset).
pub async fn on_air(
    db: &Db,
    category: Option<&str>,
    after: Option<ListCursor>,
    limit: i64,
) -> Result<Vec<RoomRow>, sqlx::Error> {
    let (viewers, id) = after.map_or((i64::MAX, i64::MAX), |a| (a.viewers, a.id));
    sqlx::query(&format!(
        "{ROOM_COLUMNS} WHERE r.status = 'live' AND r.hidden_at IS NULL \
         AND ($1 = '' OR r.category = $1) \
         AND (r.viewer_count < $2 OR (r.viewer_count = $2 AND r.id < $3)) \
         ORDER BY r.viewer_count DESC, r.id DESC LIMIT $4"
    ))
    .bind(category.unwrap_or(""))
    .bind(viewers)
    .bind(id)
    .bind(limit)
    .fetch_all(db)
    .await?
    .iter()
    .map(room_from_row)
    .collect()
}

pub async fn rooms_of_host(db: &Db, host_id: i64, limit: i64) -> Result<Vec<RoomRow>, sqlx::Error> {
    sqlx::query(&format!(
        "{ROOM_COLUMNS} WHERE r.host_id = $1 ORDER BY r.id DESC LIMIT $2"
    ))
    .bind(host_id)
    .bind(limit)
    .fetch_all(db)
    .await?
    .iter()
    .map(room_from_row)
    .collect()
}

/// One numbered event to append. `user_id` and `client_id` are a comment's.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: &'static str,
    pub user_id: Option<i64>,
    pub client_id: Option<String>,
    pub body: String,
}

/// Takes the next seqs of the room (locking its row on PostgreSQL, so writers on every node
/// are serialised) and writes the events; answers their seqs in order.
pub async fn append_events(
    conn: &mut AnyConnection,
    backend: Backend,
    room_id: i64,
    events: &[NewEvent],
    now: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let n = events.len() as i64;
    let last: i64 = sqlx::query_scalar(
        "UPDATE live_rooms SET last_seq = last_seq + $2 WHERE id = $1 RETURNING last_seq",
    )
    .bind(room_id)
    .bind(n)
    .fetch_one(&mut *conn)
    .await?;
    let first = last - n + 1;
    let rows: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            json!({"q": first + i as i64, "k": e.kind, "u": e.user_id, "c": e.client_id,
                   "b": e.body})
        })
        .collect();
    let sql = match backend {
        Backend::Sqlite => {
            "INSERT INTO live_events (room_id, seq, kind, user_id, client_id, body, created_at) \
             SELECT $1, json_extract(value, '$.q'), json_extract(value, '$.k'), \
                    json_extract(value, '$.u'), json_extract(value, '$.c'), \
                    json_extract(value, '$.b'), $2 FROM json_each($3)"
        }
        Backend::Postgres => {
            "INSERT INTO live_events (room_id, seq, kind, user_id, client_id, body, created_at) \
             SELECT $1, q, k, u, c, b, $2 FROM jsonb_to_recordset($3::jsonb) \
             AS x(q bigint, k text, u bigint, c text, b text)"
        }
    };
    sqlx::query(sql)
        .bind(room_id)
        .bind(now)
        .bind(Value::Array(rows).to_string())
        .execute(&mut *conn)
        .await?;
    Ok((first..=last).collect())
}

/// The room's status and host inside a write (a comment batch checks it is live).
pub async fn status_in(
    conn: &mut AnyConnection,
    room_id: i64,
) -> Result<Option<(String, i64)>, sqlx::Error> {
    let row = sqlx::query("SELECT status, host_id FROM live_rooms WHERE id = $1")
        .bind(room_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}

pub async fn set_status(
    conn: &mut AnyConnection,
    room_id: i64,
    status: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE live_rooms SET status = $2, \
         started_at = CASE WHEN $2 = 'live' AND started_at IS NULL THEN $3 ELSE started_at END, \
         ended_at = CASE WHEN $2 = 'ended' THEN $3 ELSE ended_at END, \
         viewer_count = CASE WHEN $2 = 'ended' THEN 0 ELSE viewer_count END \
         WHERE id = $1",
    )
    .bind(room_id)
    .bind(status)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn set_hidden(db: &Db, room_id: i64, at: Option<i64>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE live_rooms SET hidden_at = $2 WHERE id = $1")
        .bind(room_id)
        .bind(at)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_pinned(
    conn: &mut AnyConnection,
    room_id: i64,
    text: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE live_rooms SET pinned = $2 WHERE id = $1")
        .bind(room_id)
        .bind(text)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

const EVENT_COLUMNS: &str = "SELECT e.seq, e.kind, e.body, e.created_at, e.removed_at, \
     e.user_id, CASE WHEN u.deleted_at IS NULL THEN u.id END AS user_ref, u.nickname, u.avatar \
     FROM live_events e LEFT JOIN users u ON u.id = e.user_id";

/// A stored event, as recovery and the join reply read it.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub seq: i64,
    pub kind: String,
    pub body: String,
    pub created_at: i64,
    pub removed: bool,
    pub user: Option<UserRef>,
}

fn event_from_row(r: &AnyRow) -> Result<EventRow, sqlx::Error> {
    let removed_at: Option<i64> = r.try_get("removed_at")?;
    let author: Option<i64> = r.try_get("user_id")?;
    let user = match author {
        Some(_) => Some(UserRef {
            id: r.try_get("user_ref")?,
            nickname: r
                .try_get::<Option<String>, _>("nickname")?
                .unwrap_or_default(),
            avatar: r.try_get("avatar")?,
        }),
        None => None,
    };
    Ok(EventRow {
        seq: r.try_get("seq")?,
        kind: r.try_get("kind")?,
        body: r.try_get("body")?,
        created_at: r.try_get("created_at")?,
        removed: removed_at.is_some(),
        user,
    })
}

impl EventRow {
    pub fn comment(&self) -> CommentView {
        CommentView {
            seq: self.seq,
            user: self.user.clone().unwrap_or(UserRef {
                id: None,
                nickname: String::new(),
                avatar: None,
            }),
            text: if self.removed {
                String::new()
            } else {
                self.body.clone()
            },
            at: self.created_at,
            removed: self.removed,
        }
    }
}

/// The last `n` comments not removed, oldest first.
pub async fn last_comments(db: &Db, room_id: i64, n: i64) -> Result<Vec<CommentView>, sqlx::Error> {
    let mut rows: Vec<CommentView> = sqlx::query(&format!(
        "{EVENT_COLUMNS} WHERE e.room_id = $1 AND e.kind = 'comment' AND e.removed_at IS NULL \
         ORDER BY e.seq DESC LIMIT $2"
    ))
    .bind(room_id)
    .bind(n)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| event_from_row(r).map(|e| e.comment()))
    .collect::<Result<_, _>>()?;
    rows.reverse();
    Ok(rows)
}

/// Every event after `since` up to `until`, oldest first.
pub async fn events_between(
    db: &Db,
    room_id: i64,
    since: i64,
    until: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query(&format!(
        "{EVENT_COLUMNS} WHERE e.room_id = $1 AND e.seq > $2 AND e.seq <= $3 ORDER BY e.seq"
    ))
    .bind(room_id)
    .bind(since)
    .bind(until)
    .fetch_all(db)
    .await?
    .iter()
    .map(event_from_row)
    .collect()
}

/// Comments of the batch's (author, client id) pairs already stored (retries), in one
/// statement whatever the batch's size.
pub async fn comments_by_client(
    conn: &mut AnyConnection,
    backend: Backend,
    room_id: i64,
    keys: &[(i64, &str)],
) -> Result<HashMap<(i64, String), EventRow>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let pairs = match backend {
        Backend::Sqlite => {
            "JOIN (SELECT json_extract(value, '$.u') AS u, json_extract(value, '$.c') AS c \
             FROM json_each($2)) AS k ON k.u = e.user_id AND k.c = e.client_id"
        }
        Backend::Postgres => {
            "JOIN jsonb_to_recordset($2::jsonb) AS k(u bigint, c text) \
             ON k.u = e.user_id AND k.c = e.client_id"
        }
    };
    let json: Vec<Value> = keys
        .iter()
        .map(|(u, c)| json!({ "u": u, "c": c }))
        .collect();
    let rows = sqlx::query(&format!(
        "SELECT e.seq, e.kind, e.body, e.created_at, e.removed_at, e.user_id, e.client_id, \
         CASE WHEN u.deleted_at IS NULL THEN u.id END AS user_ref, u.nickname, u.avatar \
         FROM live_events e {pairs} LEFT JOIN users u ON u.id = e.user_id \
         WHERE e.room_id = $1"
    ))
    .bind(room_id)
    .bind(Value::Array(json).to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut found = HashMap::new();
    for r in &rows {
        let user_id: i64 = r.try_get("user_id")?;
        let client_id: String = r.try_get("client_id")?;
        found.insert((user_id, client_id), event_from_row(r)?);
    }
    Ok(found)
}

/// A comment not removed: its author and text.
pub async fn comment(
    db: &Db,
    room_id: i64,
    seq: i64,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT user_id, body FROM live_events WHERE room_id = $1 AND seq = $2 \
         AND kind = 'comment' AND removed_at IS NULL AND user_id IS NOT NULL",
    )
    .bind(room_id)
    .bind(seq)
    .fetch_optional(db)
    .await?;
    row.map(|r| Ok((r.try_get("user_id")?, r.try_get("body")?)))
        .transpose()
}

/// Marks a comment removed; false when there is no such comment or it was removed already.
pub async fn remove_comment(
    conn: &mut AnyConnection,
    room_id: i64,
    seq: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE live_events SET removed_at = $3 WHERE room_id = $1 AND seq = $2 \
         AND kind = 'comment' AND removed_at IS NULL",
    )
    .bind(room_id)
    .bind(seq)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

// ---- helpers, bans, mutes and kicks ----

pub async fn is_helper(db: &Db, host_id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM live_helpers WHERE host_id = $1 AND user_id = $2")
            .bind(host_id)
            .bind(user_id)
            .fetch_one(db)
            .await?;
    Ok(n > 0)
}

pub async fn helper_ids(db: &Db, host_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT user_id FROM live_helpers WHERE host_id = $1 ORDER BY created_at")
        .bind(host_id)
        .fetch_all(db)
        .await
}

pub async fn helpers(db: &Db, host_id: i64) -> Result<Vec<UserRef>, sqlx::Error> {
    sqlx::query(
        "SELECT CASE WHEN u.deleted_at IS NULL THEN u.id END AS id, u.nickname, u.avatar \
         FROM live_helpers h JOIN users u ON u.id = h.user_id WHERE h.host_id = $1 \
         ORDER BY h.created_at",
    )
    .bind(host_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(UserRef {
            id: r.try_get("id")?,
            nickname: r.try_get("nickname")?,
            avatar: r.try_get("avatar")?,
        })
    })
    .collect()
}

pub async fn add_helper(db: &Db, host_id: i64, user_id: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO live_helpers (host_id, user_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (host_id, user_id) DO NOTHING",
    )
    .bind(host_id)
    .bind(user_id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn remove_helper(db: &Db, host_id: i64, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM live_helpers WHERE host_id = $1 AND user_id = $2")
        .bind(host_id)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn is_banned(db: &Db, host_id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM live_bans WHERE host_id = $1 AND user_id = $2")
            .bind(host_id)
            .bind(user_id)
            .fetch_one(db)
            .await?;
    Ok(n > 0)
}

pub async fn ban(
    db: &Db,
    host_id: i64,
    user_id: i64,
    by: i64,
    reason: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO live_bans (host_id, user_id, by_id, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (host_id, user_id) DO NOTHING",
    )
    .bind(host_id)
    .bind(user_id)
    .bind(by)
    .bind(reason)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn unban(db: &Db, host_id: i64, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM live_bans WHERE host_id = $1 AND user_id = $2")
        .bind(host_id)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn bans(db: &Db, host_id: i64) -> Result<Vec<(UserRef, String, i64, i64)>, sqlx::Error> {
    sqlx::query(
        "SELECT CASE WHEN u.deleted_at IS NULL THEN u.id END AS id, u.nickname, u.avatar, \
         b.reason, b.by_id, b.created_at FROM live_bans b JOIN users u ON u.id = b.user_id \
         WHERE b.host_id = $1 ORDER BY b.created_at DESC",
    )
    .bind(host_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok((
            UserRef {
                id: r.try_get("id")?,
                nickname: r.try_get("nickname")?,
                avatar: r.try_get("avatar")?,
            },
            r.try_get("reason")?,
            r.try_get("by_id")?,
            r.try_get("created_at")?,
        ))
    })
    .collect()
}

/// `mute` or `kick`, until a time.
pub async fn restrict(
    db: &Db,
    room_id: i64,
    user_id: i64,
    kind: &str,
    until: i64,
    by: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO live_restrictions (room_id, user_id, kind, until_at, by_id) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room_id, user_id, kind) \
         DO UPDATE SET until_at = excluded.until_at, by_id = excluded.by_id",
    )
    .bind(room_id)
    .bind(user_id)
    .bind(kind)
    .bind(until)
    .bind(by)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn lift(db: &Db, room_id: i64, user_id: i64, kind: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM live_restrictions WHERE room_id = $1 AND user_id = $2 AND kind = $3")
        .bind(room_id)
        .bind(user_id)
        .bind(kind)
        .execute(db)
        .await?;
    Ok(())
}

/// Until when `kind` holds for each of `users` in the room (only those still held at `now`),
/// in one statement.
pub async fn restricted_until(
    conn: &mut AnyConnection,
    backend: Backend,
    room_id: i64,
    kind: &str,
    users: &[i64],
    now: i64,
) -> Result<HashMap<i64, i64>, sqlx::Error> {
    if users.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(&format!(
        "SELECT user_id, until_at FROM live_restrictions WHERE room_id = $1 AND kind = $2 \
         AND until_at > $3 AND user_id IN ({})",
        id_list(backend, "$4")
    ))
    .bind(room_id)
    .bind(kind)
    .bind(now)
    .bind(ids_json(users))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("user_id")?, r.try_get("until_at")?)))
        .collect()
}

// ---- counts ----

/// Adds this node's likes to the room's total, writes its member count, and answers the
/// room's likes, the sum of every node's fresh member counts (also stored for the list) and
/// the room's status.
pub async fn flush_counts(
    db: &Db,
    room_id: i64,
    node: &str,
    viewers: i64,
    likes: i64,
    now: i64,
    fresh_after: i64,
) -> Result<(i64, i64, String), sqlx::Error> {
    let row = sqlx::query(
        "UPDATE live_rooms SET like_count = like_count + $2 WHERE id = $1 \
         RETURNING like_count, status",
    )
    .bind(room_id)
    .bind(likes)
    .fetch_one(db)
    .await?;
    let total_likes: i64 = row.try_get("like_count")?;
    let status: String = row.try_get("status")?;
    sqlx::query(
        "INSERT INTO live_room_nodes (room_id, node_id, viewers, seen_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (room_id, node_id) DO UPDATE SET viewers = excluded.viewers, \
         seen_at = excluded.seen_at",
    )
    .bind(room_id)
    .bind(node)
    .bind(viewers)
    .bind(now)
    .execute(db)
    .await?;
    let total_viewers: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(viewers), 0) AS BIGINT) FROM live_room_nodes \
         WHERE room_id = $1 AND seen_at > $2",
    )
    .bind(room_id)
    .bind(fresh_after)
    .fetch_one(db)
    .await?;
    sqlx::query("UPDATE live_rooms SET viewer_count = $2 WHERE id = $1 AND status <> 'ended'")
        .bind(room_id)
        .bind(total_viewers)
        .execute(db)
        .await?;
    Ok((total_likes, total_viewers, status))
}

/// This node holds no more members of the room.
pub async fn forget_node(db: &Db, room_id: i64, node: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM live_room_nodes WHERE room_id = $1 AND node_id = $2")
        .bind(room_id)
        .bind(node)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn audit(
    conn: &mut AnyConnection,
    room_id: i64,
    actor_id: i64,
    action: &str,
    target_user_id: Option<i64>,
    detail: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO live_audit (room_id, actor_id, action, target_user_id, detail, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(room_id)
    .bind(actor_id)
    .bind(action)
    .bind(target_user_id)
    .bind(detail)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Which of `users` the host banned (inside a comment batch's write), in one statement.
pub async fn banned_among(
    conn: &mut AnyConnection,
    backend: Backend,
    host_id: i64,
    users: &[i64],
) -> Result<std::collections::HashSet<i64>, sqlx::Error> {
    if users.is_empty() {
        return Ok(std::collections::HashSet::new());
    }
    sqlx::query_scalar(&format!(
        "SELECT user_id FROM live_bans WHERE host_id = $1 AND user_id IN ({})",
        id_list(backend, "$2")
    ))
    .bind(host_id)
    .bind(ids_json(users))
    .fetch_all(&mut *conn)
    .await
    .map(|ids: Vec<i64>| ids.into_iter().collect())
}

/// How each of `users` is shown beside what they said, in one statement.
pub async fn user_refs(
    conn: &mut AnyConnection,
    backend: Backend,
    users: &[i64],
) -> Result<HashMap<i64, UserRef>, sqlx::Error> {
    if users.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(&format!(
        "SELECT id AS user_id, CASE WHEN deleted_at IS NULL THEN id END AS id, nickname, avatar \
         FROM users WHERE id IN ({})",
        id_list(backend, "$1")
    ))
    .bind(ids_json(users))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("user_id")?,
                UserRef {
                    id: r.try_get("id")?,
                    nickname: r.try_get("nickname")?,
                    avatar: r.try_get("avatar")?,
                },
            ))
        })
        .collect()
}

// ---- the user's rights (rights.rs) ----

/// The user's part of the export: rooms hosted, comments, restrictions and bans received,
/// hosts helped.
pub async fn export_user(db: &Db, user_id: i64) -> Result<Value, sqlx::Error> {
    let rooms: Vec<Value> = sqlx::query(
        "SELECT id, title, category, status, created_at, started_at, ended_at, like_count \
         FROM live_rooms WHERE host_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(json!({
            "id": r.try_get::<i64, _>("id")?,
            "title": r.try_get::<String, _>("title")?,
            "category": r.try_get::<String, _>("category")?,
            "status": r.try_get::<String, _>("status")?,
            "created_at": r.try_get::<i64, _>("created_at")?,
            "started_at": r.try_get::<Option<i64>, _>("started_at")?,
            "ended_at": r.try_get::<Option<i64>, _>("ended_at")?,
            "likes": r.try_get::<i64, _>("like_count")?,
        }))
    })
    .collect::<Result<_, sqlx::Error>>()?;
    let comments: Vec<Value> = sqlx::query(
        "SELECT room_id, seq, body, created_at, removed_at FROM live_events \
         WHERE user_id = $1 AND kind = 'comment' ORDER BY room_id, seq",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(json!({
            "room_id": r.try_get::<i64, _>("room_id")?,
            "seq": r.try_get::<i64, _>("seq")?,
            "text": r.try_get::<String, _>("body")?,
            "at": r.try_get::<i64, _>("created_at")?,
            "removed_at": r.try_get::<Option<i64>, _>("removed_at")?,
        }))
    })
    .collect::<Result<_, sqlx::Error>>()?;
    let restrictions: Vec<Value> = sqlx::query(
        "SELECT room_id, kind, until_at FROM live_restrictions WHERE user_id = $1 \
         ORDER BY room_id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(json!({
            "room_id": r.try_get::<i64, _>("room_id")?,
            "kind": r.try_get::<String, _>("kind")?,
            "until": r.try_get::<i64, _>("until_at")?,
        }))
    })
    .collect::<Result<_, sqlx::Error>>()?;
    let bans: Vec<Value> = sqlx::query(
        "SELECT host_id, reason, created_at FROM live_bans WHERE user_id = $1 ORDER BY host_id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(json!({
            "host_id": r.try_get::<i64, _>("host_id")?,
            "reason": r.try_get::<String, _>("reason")?,
            "at": r.try_get::<i64, _>("created_at")?,
        }))
    })
    .collect::<Result<_, sqlx::Error>>()?;
    let helping: Vec<i64> =
        sqlx::query_scalar("SELECT host_id FROM live_helpers WHERE user_id = $1 ORDER BY host_id")
            .bind(user_id)
            .fetch_all(db)
            .await?;
    Ok(json!({
        "rooms_hosted": rooms,
        "comments": comments,
        "restrictions_received": restrictions,
        "bans_received": bans,
        "helper_for_hosts": helping,
    }))
}

/// Erases the user's part, inside the deletion transaction.
pub async fn erase_user(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE live_events SET body = '', client_id = NULL, \
         removed_at = COALESCE(removed_at, $2) WHERE user_id = $1 AND kind = 'comment'",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE live_rooms SET title = '', pinned = NULL, cover_media_id = NULL, \
         status = 'ended', ended_at = COALESCE(ended_at, $2), viewer_count = 0 \
         WHERE host_id = $1",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    for sql in [
        "DELETE FROM live_helpers WHERE host_id = $1 OR user_id = $1",
        "DELETE FROM live_bans WHERE host_id = $1 OR user_id = $1",
        "DELETE FROM live_restrictions WHERE user_id = $1",
    ] {
        sqlx::query(sql).bind(user_id).execute(&mut *conn).await?;
    }
    // Bans and restrictions the account gave stay in force, given by the shell.
    Ok(())
}

/// Locks the room's row until the transaction ends (PostgreSQL; SQLite's write transaction
/// already holds the database), so that per-room caps checked inside hold across nodes.
pub async fn lock_room(conn: &mut AnyConnection, room_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE live_rooms SET last_seq = last_seq WHERE id = $1")
        .bind(room_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
