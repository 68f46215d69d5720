//! The connection queue (连线排队, docs/live.md "Appraisal calls"): spectators ask for a turn
//! with their item's description and photos, first come, first served; the host may skip or
//! move an entry only with a reason, which is audited and told to that buyer.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;

use super::call_messages::*;
use super::messages::RoomRef;
use super::policy::{self, Status};
use super::store::calls::{self as store_calls, EntryRow, NewEntry};
use super::store::{self, RoomRow};
use super::{room, Live};
use crate::bus::{Audience, Delivery, EventFrame};
use crate::commands::Caller;
use crate::consent::policy::Feature;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::store::{begin_write, now_ms};

/// Longest reason for a skip, move or out-of-turn call, characters.
const REASON_MAX_CHARS: usize = crate::domain::REASON_MAX_CHARS;

/// Upload purposes the pictures of a turn may have (a buyer's item photos, an appraiser's
/// snapshots): one's own chat or post pictures.
const PICTURE_PURPOSES: [&str; 2] = ["chat_photo", "post_photo"];

/// Positions (1 = next) for the waiting entries, in their order.
fn with_positions(rows: Vec<EntryRow>) -> Vec<QueueEntry> {
    let mut next = 0;
    rows.into_iter()
        .map(|r| {
            let mut e = r.view;
            if e.status == "waiting" {
                next += 1;
                e.position = Some(next);
            }
            e
        })
        .collect()
}

fn order_of(entries: &[QueueEntry]) -> Vec<i64> {
    entries
        .iter()
        .filter(|e| e.status == "waiting")
        .map(|e| e.id)
        .collect()
}

fn required_reason(raw: &str) -> AppResult<String> {
    policy::text("reason", raw, REASON_MAX_CHARS).map_err(|_| {
        AppError::field(
            "reason",
            format!("a reason is required (at most {REASON_MAX_CHARS} characters)"),
        )
    })
}

impl Live {
    /// Whether `user_id` may take a turn in the room now: not banned by the host, not kicked,
    /// and (for a new entry) not muted in the room.
    pub(super) async fn check_may_connect(
        &self,
        room: &RoomRow,
        user_id: i64,
        muted_too: bool,
    ) -> AppResult<()> {
        if store::is_banned(self.db(), room.host_id, user_id).await? {
            return Err(AppError::new(
                ErrorCode::RoomBanned,
                "the host banned you from their rooms",
            ));
        }
        let now = now_ms();
        let mut conn = self.db().acquire().await?;
        let kinds: &[(&str, ErrorCode, &str)] = if muted_too {
            &[
                (
                    "kick",
                    ErrorCode::RoomKicked,
                    "you were kicked out of this room",
                ),
                ("mute", ErrorCode::RoomMuted, "you are muted in this room"),
            ]
        } else {
            &[(
                "kick",
                ErrorCode::RoomKicked,
                "you were kicked out of this room",
            )]
        };
        for (kind, code, message) in kinds {
            let until = store::restricted_until(
                &mut conn,
                self.cx.backend,
                room.view.id,
                kind,
                &[user_id],
                now,
            )
            .await?;
            if let Some(until) = until.get(&user_id) {
                return Err(AppError::new(*code, *message).retry_after((until - now).max(1) as u64));
            }
        }
        Ok(())
    }

    /// The camera and microphone the call needs (the gate table's `live_connect`).
    pub(super) async fn require_connect_consent(&self, user_id: i64) -> AppResult<()> {
        crate::consent::require(self.db(), user_id, &self.policy.get(), Feature::LiveConnect).await
    }

    pub async fn queue_join(
        self: Arc<Self>,
        caller: Caller,
        body: QueueJoin,
    ) -> AppResult<OneEntry> {
        let room = self.visible_room(body.room_id, caller.user_id).await?;
        match Status::from_stored(&room.view.status) {
            Status::Ended => return Err(AppError::new(ErrorCode::RoomEnded, "the room has ended")),
            Status::Scheduled => {
                return Err(AppError::new(
                    ErrorCode::Conflict,
                    "the room is not live yet",
                ))
            }
            Status::Live | Status::Paused => {}
        }
        if room.host_id == caller.user_id {
            return Err(AppError::forbidden(
                "the host does not queue in their own room",
            ));
        }
        self.check_may_connect(&room, caller.user_id, true).await?;
        self.require_connect_consent(caller.user_id).await?;
        let description = policy::text(
            "description",
            &body.description,
            self.settings().queue_description_max_chars,
        )?;
        self.screen(&description)?;
        let photos = self
            .own_pictures(
                caller.user_id,
                "photos",
                &body.photos,
                self.settings().queue_photos_max,
            )
            .await?;
        let room_id = room.view.id;
        let now = now_ms();
        let mut tx = begin_write(self.db(), self.cx.backend).await?;
        // Takes the room's row lock on PostgreSQL (BEGIN IMMEDIATE already serialises SQLite),
        // so that two nodes' joins never both pass the caps below.
        store::lock_room(&mut tx, room_id).await?;
        let (waiting, mine) = store_calls::queue_counts(&mut tx, room_id, caller.user_id).await?;
        if mine >= self.settings().queue_entries_per_user {
            return Err(AppError::new(
                ErrorCode::QueueFull,
                "you are already in this room's queue",
            ));
        }
        if waiting >= self.settings().queue_max {
            return Err(AppError::new(ErrorCode::QueueFull, "the queue is full"));
        }
        let id = store_calls::add_entry(
            &mut tx,
            &NewEntry {
                room_id,
                user_id: caller.user_id,
                description: &description,
                photos: &photos,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        let queue = self.publish_queue(room_id).await?;
        let entry = queue
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| AppError::not_found("queue entry"))?;
        Ok(OneEntry { entry })
    }

    /// The ids must be `user_id`'s own pictures (at most `max`) that passed screening:
    /// queue photos and verdict snapshots. Repeats count once.
    pub(super) async fn own_pictures(
        &self,
        user_id: i64,
        field: &'static str,
        ids: &[String],
        max: usize,
    ) -> AppResult<Vec<String>> {
        if ids.len() > max {
            return Err(AppError::field(field, format!("at most {max}")));
        }
        let mut seen = HashSet::new();
        let mut pictures = Vec::new();
        for id in ids {
            if !seen.insert(id.as_str()) {
                continue;
            }
            let ok = crate::media::find(self.db(), id).await?.is_some_and(|m| {
                m.owner_id == user_id
                    && PICTURE_PURPOSES.contains(&m.purpose.as_str())
                    && m.status == "approved"
            });
            if !ok {
                return Err(AppError::field(
                    field,
                    "each must be your own picture upload that passed screening",
                ));
            }
            pictures.push(id.clone());
        }
        Ok(pictures)
    }

    pub async fn queue_leave(
        self: Arc<Self>,
        caller: Caller,
        body: EntryRef,
    ) -> AppResult<OneEntry> {
        let entry = self.entry_in(body.room_id, body.entry_id).await?;
        if entry.user_id != caller.user_id {
            return Err(AppError::not_found("queue entry"));
        }
        let mut conn = self.db().acquire().await?;
        if !store_calls::set_entry_status(
            &mut conn,
            entry.view.id,
            &["waiting"],
            "left",
            None,
            now_ms(),
        )
        .await?
        {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "only a waiting entry can leave the queue",
            ));
        }
        drop(conn);
        self.publish_queue(body.room_id).await?;
        self.entry_view(entry.view.id).await
    }

    pub async fn queue_list(self: Arc<Self>, caller: Caller, body: RoomRef) -> AppResult<Queue> {
        let room = self.visible_room(body.room_id, caller.user_id).await?;
        let powers = self.power(&room, caller.user_id).await.is_ok();
        self.queue_view(room.view.id, caller.user_id, powers).await
    }

    async fn queue_view(&self, room_id: i64, user_id: i64, powers: bool) -> AppResult<Queue> {
        let rows = store_calls::active_entries(self.db(), room_id).await?;
        let owners: Vec<i64> = rows.iter().map(|r| r.user_id).collect();
        let entries = with_positions(rows);
        let order = order_of(&entries);
        let mine = entries
            .iter()
            .zip(&owners)
            .filter(|(_, owner)| **owner == user_id)
            .map(|(e, _)| e.clone())
            .collect();
        Ok(Queue {
            room_id,
            length: order.len(),
            order,
            mine,
            entries: powers.then_some(entries),
        })
    }

    pub async fn queue_skip(
        self: Arc<Self>,
        caller: Caller,
        body: QueueSkip,
    ) -> AppResult<OneEntry> {
        let room = self.room(body.room_id).await?;
        self.power(&room, caller.user_id).await?;
        let reason = required_reason(&body.reason)?;
        let entry = self.entry_in(body.room_id, body.entry_id).await?;
        let now = now_ms();
        let mut tx = begin_write(self.db(), self.cx.backend).await?;
        if !store_calls::set_entry_status(
            &mut tx,
            entry.view.id,
            &["waiting"],
            "skipped",
            Some(&reason),
            now,
        )
        .await?
        {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "only a waiting entry can be skipped",
            ));
        }
        store::audit(
            &mut tx,
            room.view.id,
            caller.user_id,
            "queue_skip",
            Some(entry.user_id),
            &format!("entry {}: {reason}", entry.view.id),
            now,
        )
        .await?;
        tx.commit().await?;
        self.publish_queue(room.view.id).await?;
        self.tell_entries(&[(entry.view.id, entry.user_id)]).await?;
        self.entry_view(entry.view.id).await
    }

    pub async fn queue_move(self: Arc<Self>, caller: Caller, body: QueueMove) -> AppResult<Queue> {
        let room = self.room(body.room_id).await?;
        self.power(&room, caller.user_id).await?;
        let reason = required_reason(&body.reason)?;
        let entry = self.entry_in(body.room_id, body.entry_id).await?;
        if entry.view.status != "waiting" {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "only a waiting entry can be moved",
            ));
        }
        let room_id = room.view.id;
        let now = now_ms();
        let mut tx = begin_write(self.db(), self.cx.backend).await?;
        store::lock_room(&mut tx, room_id).await?;
        let mut order: Vec<i64> = {
            let rows = store_calls::active_entries(self.db(), room_id).await?;
            rows.iter()
                .filter(|r| r.view.status == "waiting")
                .map(|r| r.view.id)
                .collect()
        };
        let len = order.len() as i64;
        if !(1..=len).contains(&body.position) {
            return Err(AppError::field(
                "position",
                format!("must be between 1 and {len}"),
            ));
        }
        order.retain(|id| *id != entry.view.id);
        order.insert((body.position - 1) as usize, entry.view.id);
        store_calls::renumber(&mut tx, room_id, &order).await?;
        note_reason(&mut tx, entry.view.id, &reason, now).await?;
        store::audit(
            &mut tx,
            room_id,
            caller.user_id,
            "queue_move",
            Some(entry.user_id),
            &format!("entry {} to {}: {reason}", entry.view.id, body.position),
            now,
        )
        .await?;
        tx.commit().await?;
        self.publish_queue(room_id).await?;
        self.tell_entries(&[(entry.view.id, entry.user_id)]).await?;
        self.queue_view(room_id, caller.user_id, true).await
    }

    /// An entry of this room (`not_found` for another room's).
    async fn entry_in(&self, room_id: i64, entry_id: i64) -> AppResult<EntryRow> {
        store_calls::entry(self.db(), entry_id)
            .await?
            .filter(|e| e.view.room_id == room_id)
            .ok_or_else(|| AppError::not_found("queue entry"))
    }

    /// The entry as it is now, with its position if it waits.
    pub(super) async fn entry_view(&self, entry_id: i64) -> AppResult<OneEntry> {
        let row = store_calls::entry(self.db(), entry_id)
            .await?
            .ok_or_else(|| AppError::not_found("queue entry"))?;
        let room_id = row.view.room_id;
        if row.view.status == "waiting" {
            let queue = with_positions(store_calls::active_entries(self.db(), room_id).await?);
            if let Some(entry) = queue.into_iter().find(|e| e.id == entry_id) {
                return Ok(OneEntry { entry });
            }
        }
        Ok(OneEntry { entry: row.view })
    }

    /// Tells every member the queue's length and order; answers the entries with positions.
    pub(super) async fn publish_queue(&self, room_id: i64) -> AppResult<Vec<QueueEntry>> {
        let entries = with_positions(store_calls::active_entries(self.db(), room_id).await?);
        let order = order_of(&entries);
        let frame = EventFrame::new(
            "room.queue",
            &json!({ "room_id": room_id, "length": order.len(), "order": order }),
            None,
        );
        self.cx.bus.publish(
            Audience::Topic(room::topic(room_id)),
            Delivery::Event(frame),
        );
        Ok(entries)
    }

    /// Each (entry, buyer): the buyer's devices learn what someone else did to their entry,
    /// as it is now (`room.queue.entry`).
    pub(super) async fn tell_entries(&self, entries: &[(i64, i64)]) -> AppResult<()> {
        for (entry, user) in entries {
            let view = self.entry_view(*entry).await?;
            let frame = EventFrame::new("room.queue.entry", &json!({ "entry": view.entry }), None);
            self.cx
                .bus
                .publish(Audience::User(*user), Delivery::Event(frame));
        }
        Ok(())
    }
}

/// Records the host's reason on a moved entry (shown to the buyer).
async fn note_reason(
    conn: &mut sqlx::AnyConnection,
    entry_id: i64,
    reason: &str,
    now: i64,
) -> AppResult<()> {
    store_calls::set_entry_status(conn, entry_id, &["waiting"], "waiting", Some(reason), now)
        .await?;
    Ok(())
}
