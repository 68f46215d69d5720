//! The queue and the calls' SQL (live_queue, live_calls). Every change of state is one
//! conditional statement, so that two nodes acting at once never both succeed.

use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::bus::ConnectionId;
use crate::live::call_messages::{CallEntry, CallView, QueueEntry};
use crate::live::messages::UserRef;
use crate::store::Db;

/// A party of a call: which side, and so which columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Host,
    Guest,
}

impl Side {
    fn prefix(self) -> &'static str {
        match self {
            Side::Host => "host",
            Side::Guest => "guest",
        }
    }
}

fn user_ref(r: &AnyRow, prefix: &str) -> Result<UserRef, sqlx::Error> {
    let id: Option<i64> = r.try_get(format!("{prefix}_ref").as_str())?;
    let nickname: Option<String> = r.try_get(format!("{prefix}_nickname").as_str())?;
    Ok(match (id, nickname) {
        (Some(id), Some(nickname)) => UserRef {
            id: Some(id),
            nickname,
            avatar: r.try_get(format!("{prefix}_avatar").as_str())?,
        },
        _ => UserRef {
            id: None,
            nickname: "已注销用户".into(),
            avatar: None,
        },
    })
}

fn photos(raw: &str) -> Vec<String> {
    serde_json::from_str(raw).unwrap_or_default()
}

// ---------------------------------------------------------------- the queue

const ENTRY_COLUMNS: &str = "SELECT q.id, q.room_id, q.user_id, q.description, q.photos, \
     q.status, q.place, q.reason, q.joined_at, \
     CASE WHEN u.deleted_at IS NULL THEN u.id END AS user_ref, u.nickname AS user_nickname, \
     u.avatar AS user_avatar \
     FROM live_queue q JOIN users u ON u.id = q.user_id";

#[derive(Debug, Clone)]
pub struct EntryRow {
    pub user_id: i64,
    pub view: QueueEntry,
}

fn entry_from_row(r: &AnyRow) -> Result<EntryRow, sqlx::Error> {
    Ok(EntryRow {
        user_id: r.try_get("user_id")?,
        view: QueueEntry {
            id: r.try_get("id")?,
            room_id: r.try_get("room_id")?,
            user: user_ref(r, "user")?,
            description: r.try_get("description")?,
            photos: photos(&r.try_get::<String, _>("photos")?),
            status: r.try_get("status")?,
            position: None,
            joined_at: r.try_get("joined_at")?,
            reason: r.try_get("reason")?,
        },
    })
}

pub async fn entry(db: &Db, entry_id: i64) -> Result<Option<EntryRow>, sqlx::Error> {
    sqlx::query(&format!("{ENTRY_COLUMNS} WHERE q.id = $1"))
        .bind(entry_id)
        .fetch_optional(db)
        .await?
        .map(|r| entry_from_row(&r))
        .transpose()
}

/// The room's waiting and called entries, called first, then the waiting in their order.
pub async fn active_entries(db: &Db, room_id: i64) -> Result<Vec<EntryRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "{ENTRY_COLUMNS} WHERE q.room_id = $1 AND q.status IN ('waiting', 'called') \
         ORDER BY CASE q.status WHEN 'called' THEN 0 ELSE 1 END, q.place, q.id"
    ))
    .bind(room_id)
    .fetch_all(db)
    .await?;
    rows.iter().map(entry_from_row).collect()
}

/// Waiting entries of the room, and the user's waiting or called ones there.
pub async fn queue_counts(
    conn: &mut AnyConnection,
    room_id: i64,
    user_id: i64,
) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT COALESCE(SUM(CASE WHEN status = 'waiting' THEN 1 ELSE 0 END), 0) AS waiting, \
         COALESCE(SUM(CASE WHEN user_id = $2 THEN 1 ELSE 0 END), 0) AS mine \
         FROM live_queue WHERE room_id = $1 AND status IN ('waiting', 'called')",
    )
    .bind(room_id)
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok((row.try_get("waiting")?, row.try_get("mine")?))
}

pub struct NewEntry<'a> {
    pub room_id: i64,
    pub user_id: i64,
    pub description: &'a str,
    pub photos: &'a [String],
}

/// A new waiting entry at the end of the queue.
pub async fn add_entry(
    conn: &mut AnyConnection,
    entry: &NewEntry<'_>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO live_queue (room_id, user_id, description, photos, status, place, \
         joined_at, changed_at) \
         SELECT $1, $2, $3, $4, 'waiting', COALESCE(MAX(place), 0) + 1, $5, $5 \
         FROM live_queue WHERE room_id = $1 RETURNING id",
    )
    .bind(entry.room_id)
    .bind(entry.user_id)
    .bind(entry.description)
    .bind(json!(entry.photos).to_string())
    .bind(now)
    .fetch_one(&mut *conn)
    .await
}

/// Moves an entry from one of `from` (the code's own status names, never input) to `to`;
/// false when it was in none of them.
pub async fn set_entry_status(
    conn: &mut AnyConnection,
    entry_id: i64,
    from: &[&'static str],
    to: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(&format!(
        "UPDATE live_queue SET status = $2, reason = COALESCE($3, reason), changed_at = $4 \
         WHERE id = $1 AND status IN ({})",
        status_list(from)
    ))
    .bind(entry_id)
    .bind(to)
    .bind(reason)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

fn status_list(statuses: &[&'static str]) -> String {
    statuses
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Gives the room's waiting entries the places 1, 2, 3 … in the order of `ids`.
pub async fn renumber(
    conn: &mut AnyConnection,
    room_id: i64,
    ids: &[i64],
) -> Result<(), sqlx::Error> {
    for (i, id) in ids.iter().enumerate() {
        sqlx::query("UPDATE live_queue SET place = $3 WHERE id = $2 AND room_id = $1")
            .bind(room_id)
            .bind(id)
            .bind(i as i64 + 1)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Ends the user's waiting and called entries in the room (a kick or ban): their ids.
pub async fn remove_entries_of(
    conn: &mut AnyConnection,
    room_id: i64,
    user_id: i64,
    reason: &str,
    now: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE live_queue SET status = 'removed', reason = $3, changed_at = $4 \
         WHERE room_id = $1 AND user_id = $2 AND status IN ('waiting', 'called') RETURNING id",
    )
    .bind(room_id)
    .bind(user_id)
    .bind(reason)
    .bind(now)
    .fetch_all(&mut *conn)
    .await
}

/// The room ended or was hidden: every entry still open is removed.
pub async fn close_queue(
    conn: &mut AnyConnection,
    room_id: i64,
    reason: &str,
    now: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "UPDATE live_queue SET status = 'removed', reason = $2, changed_at = $3 \
         WHERE room_id = $1 AND status IN ('waiting', 'called') RETURNING id, user_id",
    )
    .bind(room_id)
    .bind(reason)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("user_id")?)))
        .collect()
}

// ---------------------------------------------------------------- calls

const CALL_COLUMNS: &str = "SELECT c.*, \
     CASE WHEN h.deleted_at IS NULL THEN h.id END AS host_ref, h.nickname AS host_nickname, \
     h.avatar AS host_avatar, \
     CASE WHEN g.deleted_at IS NULL THEN g.id END AS guest_ref, g.nickname AS guest_nickname, \
     g.avatar AS guest_avatar \
     FROM live_calls c LEFT JOIN users h ON h.id = c.host_id \
     LEFT JOIN users g ON g.id = c.guest_id";

/// A call as stored: its view and which device each party is bound to.
#[derive(Debug, Clone)]
pub struct CallRow {
    pub host_id: Option<i64>,
    pub guest_id: Option<i64>,
    pub host_conn: Option<ConnectionId>,
    pub guest_conn: Option<ConnectionId>,
    pub host_seen_at: Option<i64>,
    pub guest_seen_at: Option<i64>,
    pub host_away: bool,
    pub guest_away: bool,
    pub view: CallView,
}

impl CallRow {
    pub fn id(&self) -> i64 {
        self.view.id
    }

    pub fn side_of(&self, user_id: i64) -> Option<Side> {
        if self.host_id == Some(user_id) {
            Some(Side::Host)
        } else if self.guest_id == Some(user_id) {
            Some(Side::Guest)
        } else {
            None
        }
    }

    pub fn conn(&self, side: Side) -> Option<ConnectionId> {
        match side {
            Side::Host => self.host_conn,
            Side::Guest => self.guest_conn,
        }
    }

    pub fn user(&self, side: Side) -> Option<i64> {
        match side {
            Side::Host => self.host_id,
            Side::Guest => self.guest_id,
        }
    }

    pub fn is_open(&self) -> bool {
        self.view.ended_at.is_none()
    }
}

fn connection(r: &AnyRow, side: Side) -> Result<Option<ConnectionId>, sqlx::Error> {
    let p = side.prefix();
    let node: Option<i64> = r.try_get(format!("{p}_node").as_str())?;
    let conn: Option<i64> = r.try_get(format!("{p}_conn").as_str())?;
    // The node's bus id is a u64 stored bit for bit in a signed column.
    Ok(node.zip(conn).map(|(node, conn)| ConnectionId {
        node: node as u64,
        conn: conn as u64,
    }))
}

fn call_from_row(r: &AnyRow, max_ms: i64) -> Result<CallRow, sqlx::Error> {
    let answered_at: Option<i64> = r.try_get("answered_at")?;
    let host_away: i64 = r.try_get("host_away")?;
    let guest_away: i64 = r.try_get("guest_away")?;
    Ok(CallRow {
        host_id: r.try_get("host_id")?,
        guest_id: r.try_get("guest_id")?,
        host_conn: connection(r, Side::Host)?,
        guest_conn: connection(r, Side::Guest)?,
        host_seen_at: r.try_get("host_seen_at")?,
        guest_seen_at: r.try_get("guest_seen_at")?,
        host_away: host_away != 0,
        guest_away: guest_away != 0,
        view: CallView {
            id: r.try_get("id")?,
            room_id: r.try_get("room_id")?,
            entry_id: r.try_get("entry_id")?,
            state: r.try_get("state")?,
            host: user_ref(r, "host")?,
            guest: user_ref(r, "guest")?,
            entry: CallEntry {
                description: r.try_get("description")?,
                photos: photos(&r.try_get::<String, _>("photos")?),
            },
            called_at: r.try_get("called_at")?,
            answer_by: r.try_get("answer_by")?,
            answered_at,
            ended_at: r.try_get("ended_at")?,
            end_reason: r.try_get("end_reason")?,
            ended_by: r.try_get("ended_by")?,
            max_until: answered_at.map(|a| a + max_ms),
        },
    })
}

pub async fn call(db: &Db, call_id: i64, max_ms: i64) -> Result<Option<CallRow>, sqlx::Error> {
    sqlx::query(&format!("{CALL_COLUMNS} WHERE c.id = $1"))
        .bind(call_id)
        .fetch_optional(db)
        .await?
        .map(|r| call_from_row(&r, max_ms))
        .transpose()
}

/// The room's call that has not ended, if any.
pub async fn open_call_of_room(
    db: &Db,
    room_id: i64,
    max_ms: i64,
) -> Result<Option<CallRow>, sqlx::Error> {
    sqlx::query(&format!(
        "{CALL_COLUMNS} WHERE c.room_id = $1 AND c.ended_at IS NULL"
    ))
    .bind(room_id)
    .fetch_optional(db)
    .await?
    .map(|r| call_from_row(&r, max_ms))
    .transpose()
}

/// Every call not ended (the watch's sweep: at most one a room).
pub async fn open_calls(db: &Db, max_ms: i64) -> Result<Vec<CallRow>, sqlx::Error> {
    let rows = sqlx::query(&format!("{CALL_COLUMNS} WHERE c.ended_at IS NULL"))
        .fetch_all(db)
        .await?;
    rows.iter().map(|r| call_from_row(r, max_ms)).collect()
}

/// Open calls the user is a party of (a consent withdrawal ends them).
pub async fn open_calls_of_user(db: &Db, user_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM live_calls WHERE ended_at IS NULL AND (host_id = $1 OR guest_id = $1)",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// The user's call records, newest first.
pub async fn calls_of_user(
    db: &Db,
    user_id: i64,
    before: Option<i64>,
    limit: i64,
    max_ms: i64,
) -> Result<Vec<CallRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "{CALL_COLUMNS} WHERE (c.host_id = $1 OR c.guest_id = $1) AND c.id < $2 \
         ORDER BY c.id DESC LIMIT $3"
    ))
    .bind(user_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter().map(|r| call_from_row(r, max_ms)).collect()
}

pub struct NewCall<'a> {
    pub room_id: i64,
    pub entry_id: i64,
    pub host_id: i64,
    pub guest_id: i64,
    pub description: &'a str,
    pub photos: &'a [String],
    pub host_conn: ConnectionId,
    pub answer_by: i64,
}

/// Rings: the room's one open call. `None` when the room already has one (the unique index
/// on open calls refused the insert: another device or node called first).
pub async fn insert_call(
    conn: &mut AnyConnection,
    call: &NewCall<'_>,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let inserted = sqlx::query_scalar(
        "INSERT INTO live_calls (room_id, entry_id, host_id, guest_id, state, description, \
         photos, host_node, host_conn, host_seen_at, called_at, answer_by) \
         VALUES ($1, $2, $3, $4, 'ringing', $5, $6, $7, $8, $9, $9, $10) RETURNING id",
    )
    .bind(call.room_id)
    .bind(call.entry_id)
    .bind(call.host_id)
    .bind(call.guest_id)
    .bind(call.description)
    .bind(json!(call.photos).to_string())
    .bind(call.host_conn.node as i64)
    .bind(call.host_conn.conn as i64)
    .bind(now)
    .bind(call.answer_by)
    .fetch_one(&mut *conn)
    .await;
    match inserted {
        Ok(id) => Ok(Some(id)),
        Err(e) if crate::store::is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The buyer answered on `device`: false when the call is not ringing any more (answered
/// elsewhere, ended, or its answer time ran out).
pub async fn answer(
    db: &Db,
    call_id: i64,
    device: ConnectionId,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE live_calls SET state = 'connected', answered_at = $2, guest_node = $3, \
         guest_conn = $4, guest_seen_at = $2 \
         WHERE id = $1 AND state = 'ringing' AND ended_at IS NULL AND answer_by >= $2",
    )
    .bind(call_id)
    .bind(now)
    .bind(device.node as i64)
    .bind(device.conn as i64)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A party's device came back (or another of theirs took over): bound to `device`.
pub async fn rebind(
    db: &Db,
    call_id: i64,
    side: Side,
    device: ConnectionId,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let p = side.prefix();
    let n = sqlx::query(&format!(
        "UPDATE live_calls SET {p}_node = $2, {p}_conn = $3, {p}_seen_at = $4, {p}_away = 0 \
         WHERE id = $1 AND ended_at IS NULL"
    ))
    .bind(call_id)
    .bind(device.node as i64)
    .bind(device.conn as i64)
    .bind(now)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// This node still holds the party's device: its lease moves on.
pub async fn touch(
    db: &Db,
    call_id: i64,
    side: Side,
    device: ConnectionId,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let p = side.prefix();
    let n = sqlx::query(&format!(
        "UPDATE live_calls SET {p}_seen_at = $4 \
         WHERE id = $1 AND ended_at IS NULL AND {p}_node = $2 AND {p}_conn = $3"
    ))
    .bind(call_id)
    .bind(device.node as i64)
    .bind(device.conn as i64)
    .bind(now)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Marks the party away once (its device was not seen since `before`); true for the node
/// that marked it, which tells the other party.
pub async fn mark_away(
    db: &Db,
    call_id: i64,
    side: Side,
    before: i64,
) -> Result<bool, sqlx::Error> {
    let p = side.prefix();
    let n = sqlx::query(&format!(
        "UPDATE live_calls SET {p}_away = 1 \
         WHERE id = $1 AND ended_at IS NULL AND {p}_away = 0 AND {p}_seen_at < $2"
    ))
    .bind(call_id)
    .bind(before)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Ends the call; false when it had ended already (someone else ended it first).
pub async fn end_call(
    conn: &mut AnyConnection,
    call_id: i64,
    reason: &str,
    by: Option<i64>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE live_calls SET state = 'ended', ended_at = $2, end_reason = $3, ended_by = $4 \
         WHERE id = $1 AND ended_at IS NULL",
    )
    .bind(call_id)
    .bind(now)
    .bind(reason)
    .bind(by)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

// ---------------------------------------------------------------- the user's rights

/// The user's queue entries and call records, for the export.
pub async fn export_user(db: &Db, user_id: i64) -> Result<Value, sqlx::Error> {
    let entries: Vec<Value> = sqlx::query(
        "SELECT id, room_id, description, photos, status, reason, joined_at, changed_at \
         FROM live_queue WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(json!({
            "id": r.try_get::<i64, _>("id")?,
            "room_id": r.try_get::<i64, _>("room_id")?,
            "description": r.try_get::<String, _>("description")?,
            "photos": photos(&r.try_get::<String, _>("photos")?),
            "status": r.try_get::<String, _>("status")?,
            "reason": r.try_get::<Option<String>, _>("reason")?,
            "joined_at": r.try_get::<i64, _>("joined_at")?,
            "changed_at": r.try_get::<i64, _>("changed_at")?,
        }))
    })
    .collect::<Result<_, sqlx::Error>>()?;
    let calls: Vec<Value> = sqlx::query(
        "SELECT id, room_id, host_id, guest_id, state, description, called_at, answered_at, \
         ended_at, end_reason, ended_by FROM live_calls \
         WHERE host_id = $1 OR guest_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        let host: Option<i64> = r.try_get("host_id")?;
        let answered: Option<i64> = r.try_get("answered_at")?;
        let ended: Option<i64> = r.try_get("ended_at")?;
        Ok(json!({
            "id": r.try_get::<i64, _>("id")?,
            "room_id": r.try_get::<i64, _>("room_id")?,
            "role": if host == Some(user_id) { "host" } else { "buyer" },
            "other_party": if host == Some(user_id) {
                r.try_get::<Option<i64>, _>("guest_id")?
            } else {
                host
            },
            "item": r.try_get::<String, _>("description")?,
            "state": r.try_get::<String, _>("state")?,
            "called_at": r.try_get::<i64, _>("called_at")?,
            "answered_at": answered,
            "ended_at": ended,
            "duration_ms": answered.zip(ended).map(|(a, e)| e - a),
            "end_reason": r.try_get::<Option<String>, _>("end_reason")?,
            "ended_by": r.try_get::<Option<i64>, _>("ended_by")?,
        }))
    })
    .collect::<Result<_, sqlx::Error>>()?;
    Ok(json!({ "queue_entries": entries, "calls": calls }))
}

/// Inside the deletion transaction: the user's entries go (their descriptions and photos are
/// theirs); the call records stay, de-identified (the account's id and what the buyer said of
/// the item removed), for the other party's history.
pub async fn erase_user(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE live_calls SET state = 'ended', ended_at = $2, end_reason = 'account_deleted' \
         WHERE ended_at IS NULL AND (host_id = $1 OR guest_id = $1)",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    for sql in [
        "UPDATE live_calls SET entry_id = NULL \
         WHERE entry_id IN (SELECT id FROM live_queue WHERE user_id = $1)",
        "UPDATE live_calls SET guest_id = NULL, description = '', photos = '[]', \
         guest_node = NULL, guest_conn = NULL WHERE guest_id = $1",
        "UPDATE live_calls SET host_id = NULL, host_node = NULL, host_conn = NULL \
         WHERE host_id = $1",
        "DELETE FROM live_queue WHERE user_id = $1",
    ] {
        sqlx::query(sql).bind(user_id).execute(&mut *conn).await?;
    }
    Ok(())
}
