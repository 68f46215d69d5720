//! Chat SQL, written once for SQLite and PostgreSQL. Message sequence numbers are assigned by
//! `UPDATE conversations SET last_seq = last_seq + 1 ... RETURNING` inside the inserting
//! transaction: the row lock (PostgreSQL) or the write lock (SQLite) makes each
//! conversation's stream gap-free across any number of writers and nodes.

use std::collections::HashMap;

use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::FromRow;
use sqlx::{AnyConnection, Row};

use super::messages::{ConversationView, MessageView, PeerView};
use crate::store::{Backend, Db};

// The batch statements of the group commit take their rows as ONE JSON parameter that the
// database unpacks (json_each on SQLite, jsonb_to_recordset on PostgreSQL). Their SQL text is
// therefore fixed whatever the batch size: prepared once per connection and cached, where
// generated `VALUES ($1..$1792)` lists were re-prepared for every batch and dominated the
// commit. The SQL differs per backend only here.

/// The participants of each of `conversation_ids` that exists.
pub async fn participants_of(
    conn: &mut AnyConnection,
    backend: Backend,
    conversation_ids: &[i64],
) -> Result<HashMap<i64, (i64, i64)>, sqlx::Error> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT id, user_a, user_b FROM conversations \
             WHERE id IN (SELECT value FROM json_each($1))"
        }
        Backend::Postgres => {
            "SELECT id, user_a, user_b FROM conversations \
             WHERE id IN (SELECT value::bigint FROM jsonb_array_elements_text($1::jsonb))"
        }
    };
    sqlx::query(sql)
        .bind(json!(conversation_ids).to_string())
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?))))
        .collect()
}

const MESSAGE_COLUMNS: &str =
    "conversation_id, seq, sender_id, client_id, kind, body, created_at, removed_item_id";

fn message_from_row(r: &AnyRow) -> Result<MessageView, sqlx::Error> {
    MessageView::from_row(r)
}

/// Messages already stored under any of these `(conversation, sender, client_id)` keys.
pub async fn messages_by_client_ids(
    conn: &mut AnyConnection,
    backend: Backend,
    keys: &[(i64, i64, &str)],
) -> Result<Vec<MessageView>, sqlx::Error> {
    // The keys drive the loop and each probes the unique (conversation_id, sender_id,
    // client_id) index; SQLite's CROSS JOIN pins that order.
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT m.conversation_id, m.seq, m.sender_id, m.client_id, m.kind, m.body, m.created_at, \
             m.removed_item_id \
             FROM json_each($1) AS k CROSS JOIN messages AS m \
             ON m.conversation_id = json_extract(k.value, '$.c') \
             AND m.sender_id = json_extract(k.value, '$.s') \
             AND m.client_id = json_extract(k.value, '$.id')"
        }
        Backend::Postgres => {
            "SELECT m.conversation_id, m.seq, m.sender_id, m.client_id, m.kind, m.body, m.created_at, \
             m.removed_item_id \
             FROM jsonb_to_recordset($1::jsonb) AS k(c bigint, s bigint, id text) \
             JOIN messages AS m ON m.conversation_id = k.c AND m.sender_id = k.s \
             AND m.client_id = k.id"
        }
    };
    let rows: Vec<_> = keys
        .iter()
        .map(|(c, s, id)| json!({ "c": c, "s": s, "id": id }))
        .collect();
    sqlx::query(sql)
        .bind(Value::Array(rows).to_string())
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(message_from_row)
        .collect()
}

/// Takes `count` sequence numbers in each conversation in one statement; returns each
/// conversation's new `last_seq` (its taken range ends there). On PostgreSQL the update also
/// locks the rows, serialising writers of one conversation across nodes.
pub async fn take_seqs(
    conn: &mut AnyConnection,
    backend: Backend,
    counts: &[(i64, i64)],
    now: i64,
) -> Result<HashMap<i64, i64>, sqlx::Error> {
    let sql = match backend {
        Backend::Sqlite => {
            "UPDATE conversations SET last_seq = last_seq + x.n, last_message_at = $2 \
             FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.n') AS n \
                   FROM json_each($1)) AS x \
             WHERE conversations.id = x.id RETURNING id, last_seq"
        }
        Backend::Postgres => {
            "UPDATE conversations AS c SET last_seq = c.last_seq + x.n, last_message_at = $2 \
             FROM jsonb_to_recordset($1::jsonb) AS x(id bigint, n bigint) \
             WHERE c.id = x.id RETURNING c.id, c.last_seq"
        }
    };
    let rows: Vec<_> = counts
        .iter()
        .map(|(id, n)| json!({ "id": id, "n": n }))
        .collect();
    sqlx::query(sql)
        .bind(Value::Array(rows).to_string())
        .bind(now)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

pub async fn insert_messages(
    conn: &mut AnyConnection,
    backend: Backend,
    messages: &[MessageView],
) -> Result<(), sqlx::Error> {
    let sql = match backend {
        Backend::Sqlite => {
            "INSERT INTO messages (conversation_id, seq, sender_id, client_id, kind, body, created_at) \
             SELECT json_extract(value, '$.c'), json_extract(value, '$.q'), \
                    json_extract(value, '$.s'), json_extract(value, '$.id'), \
                    json_extract(value, '$.k'), json_extract(value, '$.t'), \
                    json_extract(value, '$.at') \
             FROM json_each($1)"
        }
        Backend::Postgres => {
            "INSERT INTO messages (conversation_id, seq, sender_id, client_id, kind, body, created_at) \
             SELECT c, q, s, id, k, t, at FROM jsonb_to_recordset($1::jsonb) \
             AS x(c bigint, q bigint, s bigint, id text, k text, t text, at bigint)"
        }
    };
    let rows: Vec<_> = messages
        .iter()
        .map(|m| {
            json!({
                "c": m.conversation_id, "q": m.seq, "s": m.sender_id, "id": m.client_id,
                "k": m.kind, "t": m.text, "at": m.created_at,
            })
        })
        .collect();
    sqlx::query(sql)
        .bind(Value::Array(rows).to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Creates the conversation for the ordered pair and listing unless it exists; returns its id
/// and whether this call created it. Both member rows are written in the same transaction.
pub async fn conversation_exists(
    db: &Db,
    (user_a, user_b): (i64, i64),
    listing_ref: &str,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "SELECT 1 FROM conversations WHERE user_a = $1 AND user_b = $2 AND listing_ref = $3",
    )
    .bind(user_a)
    .bind(user_b)
    .bind(listing_ref)
    .fetch_optional(db)
    .await?
    .is_some())
}

pub async fn open_conversation(
    conn: &mut AnyConnection,
    (user_a, user_b): (i64, i64),
    listing_ref: &str,
    now: i64,
) -> Result<(i64, bool), sqlx::Error> {
    let created = sqlx::query(
        "INSERT INTO conversations (user_a, user_b, listing_ref, created_at, last_message_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_a, user_b, listing_ref) DO NOTHING \
         RETURNING id",
    )
    .bind(user_a)
    .bind(user_b)
    .bind(listing_ref)
    .bind(now)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = created {
        let id: i64 = row.try_get(0)?;
        for member in [user_a, user_b] {
            sqlx::query(
                "INSERT INTO conversation_members (conversation_id, user_id) VALUES ($1, $2)",
            )
            .bind(id)
            .bind(member)
            .execute(&mut *conn)
            .await?;
        }
        return Ok((id, true));
    }
    let id = sqlx::query(
        "SELECT id FROM conversations WHERE user_a = $1 AND user_b = $2 AND listing_ref = $3",
    )
    .bind(user_a)
    .bind(user_b)
    .bind(listing_ref)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    Ok((id, false))
}

/// The conversation list as `user_id` sees it; presence is filled in by the caller. The last
/// message's columns are `last_*` (all NULL when there is none yet).
const CONVERSATION_SELECT: &str = "SELECT c.id, c.listing_ref, c.created_at, c.last_message_at, \
     c.last_seq, me.last_read_seq AS my_last_read_seq, peer.user_id AS peer_id, \
     peer.last_read_seq AS peer_last_read_seq, u.nickname AS peer_nickname, \
     u.avatar AS peer_avatar, u.last_seen_at AS peer_last_seen_at, \
     (SELECT COUNT(*) FROM messages um WHERE um.conversation_id = c.id \
        AND um.seq > me.last_read_seq AND um.sender_id <> me.user_id) AS unread, \
     m.seq AS last_message_seq, m.sender_id AS last_sender_id, m.client_id AS last_client_id, \
     m.kind AS last_kind, m.body AS last_body, m.created_at AS last_created_at, \
     m.removed_item_id AS last_removed_item_id \
     FROM conversation_members me \
     JOIN conversations c ON c.id = me.conversation_id \
     JOIN conversation_members peer ON peer.conversation_id = c.id AND peer.user_id <> me.user_id \
     JOIN users u ON u.id = peer.user_id \
     LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_seq \
     WHERE me.user_id = $1";

fn conversation_from_row(r: &AnyRow) -> Result<ConversationView, sqlx::Error> {
    let id: i64 = r.try_get("id")?;
    let last_message = match r.try_get::<Option<i64>, _>("last_message_seq")? {
        Some(seq) => Some(MessageView {
            conversation_id: id,
            seq,
            sender_id: r.try_get("last_sender_id")?,
            client_id: r.try_get("last_client_id")?,
            kind: r.try_get("last_kind")?,
            text: r.try_get("last_body")?,
            created_at: r.try_get("last_created_at")?,
            removed_item_id: r.try_get("last_removed_item_id")?,
        }),
        None => None,
    };
    Ok(ConversationView {
        id,
        listing_ref: r.try_get("listing_ref")?,
        created_at: r.try_get("created_at")?,
        last_message_at: r.try_get("last_message_at")?,
        last_seq: r.try_get("last_seq")?,
        my_last_read_seq: r.try_get("my_last_read_seq")?,
        peer: PeerView {
            id: r.try_get("peer_id")?,
            nickname: r.try_get("peer_nickname")?,
            avatar: r.try_get("peer_avatar")?,
        },
        peer_last_read_seq: r.try_get("peer_last_read_seq")?,
        peer_last_seen_at: r.try_get("peer_last_seen_at")?,
        unread: r.try_get("unread")?,
        last_message,
        peer_online: false,
    })
}

pub async fn conversation_for(
    db: &Db,
    user_id: i64,
    conversation_id: i64,
) -> Result<Option<ConversationView>, sqlx::Error> {
    let sql = format!("{CONVERSATION_SELECT} AND c.id = $2");
    sqlx::query(&sql)
        .bind(user_id)
        .bind(conversation_id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(conversation_from_row)
        .transpose()
}

pub async fn conversations_for(
    db: &Db,
    user_id: i64,
    (before, before_id): (i64, i64),
    limit: i64,
) -> Result<Vec<ConversationView>, sqlx::Error> {
    // Keyset pagination on (last_message_at, id), the same order as ORDER BY.
    let sql = format!(
        "{CONVERSATION_SELECT} AND (c.last_message_at < $2 \
           OR (c.last_message_at = $2 AND c.id < $3)) \
         ORDER BY c.last_message_at DESC, c.id DESC LIMIT $4"
    );
    sqlx::query(&sql)
        .bind(user_id)
        .bind(before)
        .bind(before_id)
        .bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(conversation_from_row)
        .collect()
}

/// The two participants of a conversation, if it exists.
pub async fn members(db: &Db, conversation_id: i64) -> Result<Option<(i64, i64)>, sqlx::Error> {
    let row = sqlx::query("SELECT user_a, user_b FROM conversations WHERE id = $1")
        .bind(conversation_id)
        .fetch_optional(db)
        .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}

/// Newest first, strictly before `before_seq`; one extra row tells whether there is more.
pub async fn history(
    db: &Db,
    conversation_id: i64,
    before_seq: i64,
    limit: i64,
) -> Result<Vec<MessageView>, sqlx::Error> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq < $2 \
         ORDER BY seq DESC LIMIT $3"
    );
    sqlx::query(&sql)
        .bind(conversation_id)
        .bind(before_seq)
        .bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(message_from_row)
        .collect()
}

/// Oldest first, strictly after `after_seq`.
pub async fn after(
    db: &Db,
    conversation_id: i64,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<MessageView>, sqlx::Error> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq > $2 \
         ORDER BY seq ASC LIMIT $3"
    );
    sqlx::query(&sql)
        .bind(conversation_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(message_from_row)
        .collect()
}

/// Moves the read position forward (never back, never past the last message); returns the
/// position afterwards and whether it moved.
pub async fn mark_read(
    db: &Db,
    conversation_id: i64,
    user_id: i64,
    seq: i64,
) -> Result<(i64, bool), sqlx::Error> {
    let moved = sqlx::query(
        "UPDATE conversation_members SET last_read_seq = \
           (SELECT CASE WHEN c.last_seq < $1 THEN c.last_seq ELSE $1 END \
            FROM conversations c WHERE c.id = $2) \
         WHERE conversation_id = $2 AND user_id = $3 AND last_read_seq < $1 \
           AND last_read_seq < (SELECT c2.last_seq FROM conversations c2 WHERE c2.id = $2)",
    )
    .bind(seq)
    .bind(conversation_id)
    .bind(user_id)
    .execute(db)
    .await?
    .rows_affected()
        > 0;
    let now: i64 = sqlx::query(
        "SELECT last_read_seq FROM conversation_members WHERE conversation_id = $1 AND user_id = $2",
    )
    .bind(conversation_id)
    .bind(user_id)
    .fetch_one(db)
    .await?
    .try_get(0)?;
    Ok((now, moved))
}

/// Everyone `user_id` has a conversation with: the audience of their presence changes.
pub async fn partners(db: &Db, user_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT peer.user_id FROM conversation_members me \
         JOIN conversation_members peer ON peer.conversation_id = me.conversation_id \
           AND peer.user_id <> me.user_id \
         WHERE me.user_id = $1",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

pub async fn last_seen(db: &Db, user_ids: &[i64]) -> Result<Vec<(i64, Option<i64>)>, sqlx::Error> {
    let mut out = Vec::with_capacity(user_ids.len());
    for id in user_ids {
        let row = sqlx::query("SELECT last_seen_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?;
        if let Some(r) = row {
            out.push((*id, r.try_get(0)?));
        }
    }
    Ok(out)
}

/// Everything chat holds about the user, for the export: their conversations, every message
/// in them, and whom they block.
/// A conversation in its member's export.
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
pub struct ExportedConversation {
    pub id: i64,
    pub peer_id: i64,
    pub listing_ref: String,
    pub created_at: i64,
    pub my_last_read_seq: i64,
}

/// The export's conversations of `user_id` (one row each: bounded by how many they have).
pub async fn export_conversations(
    db: &Db,
    user_id: i64,
) -> Result<Vec<ExportedConversation>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.id, CASE WHEN c.user_a = $1 THEN c.user_b ELSE c.user_a END AS peer_id, \
         c.listing_ref, c.created_at, m.last_read_seq AS my_last_read_seq \
         FROM conversations c JOIN conversation_members m ON m.conversation_id = c.id \
         WHERE m.user_id = $1 ORDER BY c.id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// A message in the export of either participant.
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
pub struct ExportedMessage {
    pub conversation_id: i64,
    pub seq: i64,
    pub sender_id: i64,
    pub kind: String,
    pub body: String,
    pub created_at: i64,
}

/// One page of the export's messages: those of `user_id`'s conversations after
/// `(conversation_id, seq)`, in that order, at most `limit`.
pub async fn export_messages_after(
    db: &Db,
    user_id: i64,
    after: (i64, i64),
    limit: i64,
) -> Result<Vec<ExportedMessage>, sqlx::Error> {
    sqlx::query_as(
        "SELECT conversation_id, seq, sender_id, kind, body, created_at FROM messages \
         WHERE conversation_id IN \
           (SELECT conversation_id FROM conversation_members WHERE user_id = $1) \
         AND (conversation_id > $2 OR (conversation_id = $2 AND seq > $3)) \
         ORDER BY conversation_id, seq LIMIT $4",
    )
    .bind(user_id)
    .bind(after.0)
    .bind(after.1)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// One message, for a report (the reporter must be a participant: checked by the caller).
pub async fn message(
    db: &Db,
    conversation_id: i64,
    seq: i64,
) -> Result<Option<MessageView>, sqlx::Error> {
    let sql =
        format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq = $2");
    sqlx::query(&sql)
        .bind(conversation_id)
        .bind(seq)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(message_from_row)
        .transpose()
}

/// A moderator took a reported message down: its text is gone for both participants.
pub async fn remove_message(
    db: &Db,
    conversation_id: i64,
    seq: i64,
    item_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE messages SET kind = 'removed', body = '', removed_item_id = $3 \
         WHERE conversation_id = $1 AND seq = $2",
    )
    .bind(conversation_id)
    .bind(seq)
    .bind(item_id)
    .execute(db)
    .await?;
    Ok(())
}

/// A message as a recall needs it.
#[derive(sqlx::FromRow)]
pub struct RecallTarget {
    pub sender_id: i64,
    pub kind: String,
    pub body: String,
    pub created_at: i64,
}

pub async fn recall_target(
    db: &Db,
    conversation_id: i64,
    seq: i64,
) -> Result<Option<RecallTarget>, sqlx::Error> {
    sqlx::query_as(
        "SELECT sender_id, kind, body, created_at FROM messages \
         WHERE conversation_id = $1 AND seq = $2",
    )
    .bind(conversation_id)
    .bind(seq)
    .fetch_optional(db)
    .await
}

/// The message becomes a `recalled` notice, its words gone; false when it was recalled or
/// taken down meanwhile.
pub async fn recall(db: &Db, conversation_id: i64, seq: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE messages SET kind = 'recalled', body = '' \
         WHERE conversation_id = $1 AND seq = $2 AND kind IN ('text', 'photo')",
    )
    .bind(conversation_id)
    .bind(seq)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Whether any message still shows this picture.
pub async fn photo_in_use(db: &Db, media_id: &str) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("SELECT 1 FROM messages WHERE kind = 'photo' AND body = $1 LIMIT 1")
            .bind(media_id)
            .fetch_optional(db)
            .await?
            .is_some(),
    )
}

/// Takes down every photo message carrying this picture: `(conversation, seq)` of each.
pub async fn remove_photo_messages(
    db: &Db,
    media_id: &str,
    item_id: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query(
        "UPDATE messages SET kind = 'removed', body = '', removed_item_id = $2 \
         WHERE kind = 'photo' AND body = $1 RETURNING conversation_id, seq",
    )
    .bind(media_id)
    .bind(item_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect()
}

/// Holds a photo message until its photo is screened; a retry with the same client id is
/// the same hold.
pub async fn hold_photo(
    db: &Db,
    media_id: &str,
    conversation_id: i64,
    sender_id: i64,
    client_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO held_photos (media_id, conversation_id, sender_id, client_id, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (conversation_id, sender_id, client_id) DO NOTHING",
    )
    .bind(media_id)
    .bind(conversation_id)
    .bind(sender_id)
    .bind(client_id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Takes every message held for this photo: `(conversation, sender, client id)`.
pub async fn take_held_photos(
    db: &Db,
    media_id: &str,
) -> Result<Vec<(i64, i64, String)>, sqlx::Error> {
    sqlx::query(
        "DELETE FROM held_photos WHERE media_id = $1 \
         RETURNING conversation_id, sender_id, client_id",
    )
    .bind(media_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
    .collect()
}

/// Whether `viewer` takes part in a conversation where this photo was sent.
pub async fn photo_shared_with(db: &Db, media_id: &str, viewer: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "SELECT 1 FROM messages m JOIN conversation_members cm \
         ON cm.conversation_id = m.conversation_id \
         WHERE m.kind = 'photo' AND m.body = $1 AND cm.user_id = $2 LIMIT 1",
    )
    .bind(media_id)
    .bind(viewer)
    .fetch_optional(db)
    .await?
    .is_some())
}

/// Held photo messages go with their sender's account.
pub async fn erase_held_photos(
    conn: &mut AnyConnection,
    sender_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM held_photos WHERE sender_id = $1")
        .bind(sender_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Holds a screened chat text for a moderator; false when this send (its client id) is
/// already held, so that a retry queues nothing twice.
pub async fn hold_text(
    db: &Db,
    conversation_id: i64,
    sender_id: i64,
    client_id: &str,
    body: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO held_texts (conversation_id, sender_id, client_id, body, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (conversation_id, sender_id, client_id) DO NOTHING",
    )
    .bind(conversation_id)
    .bind(sender_id)
    .bind(client_id)
    .bind(body)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes a held text off hold: its body, if it was still held.
pub async fn take_held_text(
    db: &Db,
    conversation_id: i64,
    sender_id: i64,
    client_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "DELETE FROM held_texts WHERE conversation_id = $1 AND sender_id = $2 AND client_id = $3 \
         RETURNING body",
    )
    .bind(conversation_id)
    .bind(sender_id)
    .bind(client_id)
    .fetch_optional(db)
    .await
}

/// The sender's texts in one conversation waiting for a moderator, oldest first.
pub async fn held_texts_in(
    db: &Db,
    conversation_id: i64,
    sender_id: i64,
) -> Result<Vec<super::messages::HeldText>, sqlx::Error> {
    sqlx::query_as(
        "SELECT client_id, body AS text, created_at FROM held_texts \
         WHERE conversation_id = $1 AND sender_id = $2 ORDER BY created_at, client_id",
    )
    .bind(conversation_id)
    .bind(sender_id)
    .fetch_all(db)
    .await
}

/// A text held for a moderator, in its sender's export.
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
pub struct ExportedHeldText {
    pub conversation_id: i64,
    pub client_id: String,
    pub body: String,
    pub created_at: i64,
}

/// The sender's texts waiting for a moderator, for their export.
pub async fn export_held_texts(
    db: &Db,
    sender_id: i64,
) -> Result<Vec<ExportedHeldText>, sqlx::Error> {
    sqlx::query_as(
        "SELECT conversation_id, client_id, body, created_at FROM held_texts \
         WHERE sender_id = $1 ORDER BY created_at",
    )
    .bind(sender_id)
    .fetch_all(db)
    .await
}

pub async fn erase_held_texts(conn: &mut AnyConnection, sender_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM held_texts WHERE sender_id = $1")
        .bind(sender_id)
        .execute(conn)
        .await?;
    Ok(())
}
