//! Live appraisal rooms (直播鉴宝, docs/live.md): an appraiser's room, its spectators, comments
//! (弹幕), likes and the host's powers, on every node.
//!
//! [`Live`] runs the commands. What is shared by a room's members on a node runs in that room's
//! [`room::RoomActor`] (comments group-committed, likes and member counts flushed once a tick);
//! everything else is a read or a short write beside it. The room's state is in the database
//! and its events reach members through the bus's topic `room:<id>`, so that any node can
//! serve any spectator and a killed node loses nothing committed.

pub mod call;
pub mod call_messages;
pub mod call_watch;
pub mod commands;
pub mod messages;
pub mod moderated;
pub mod policy;
mod queue;
pub mod rights;
pub mod room;
pub mod settings;
pub mod signal;
mod store;
pub mod turn;
pub mod verdict;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix::Addr;
use serde_json::json;

use crate::bus::registry::{JoinLimited, JoinOutcome, Leave, Registry};
use crate::bus::{Audience, Delivery, EventFrame, SharedBus};
use crate::commands::{mailbox_gone, Caller};
use crate::domain::{Accounts, Role};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::moderation::policy::{screen_text, Keywords, Verdict};
use crate::store::{begin_write, now_ms, Backend, Db};
use messages::*;
use policy::{Category, Status};
use room::{Directory, Member, Post, RoomContext, Tap};
use settings::LiveSettings;
use store::{NewEvent, RoomRow};

/// Most rooms `room.mine` lists.
const MINE_MAX: i64 = 100;
/// Longest `room.moderate` reason, characters.
const REASON_MAX_CHARS: usize = crate::domain::REASON_MAX_CHARS;
/// Longest mute (room.mute), ms: 30 days.
const MUTE_MAX_MS: i64 = 30 * 24 * 3600 * 1000;

pub struct Live {
    cx: RoomContext,
    directory: Arc<Directory>,
    keywords: tokio::sync::watch::Receiver<Arc<Keywords>>,
    accounts: Arc<dyn Accounts>,
    /// The privacy-policy version in force: the calls' consent gate reads grants under it.
    policy: crate::consent::PolicyVersion,
    /// `rtc.*` frames per (call, party) on this node: a party's device is on one node, so
    /// the bound is exact.
    rtc_windows: Mutex<HashMap<(i64, i64), policy::Window>>,
    /// Signs verdicts with the server's key (the consent receipts' key and JWK set).
    signer: Arc<crate::consent::receipt::ReceiptSigner>,
}

/// One line of a room's audit: who did what, to whom, why.
struct AuditLine<'a> {
    actor: i64,
    action: &'a str,
    target: Option<i64>,
    detail: &'a str,
}

/// Who uses a power in a room.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Power {
    Host,
    Helper,
}

impl Live {
    // Startup hands in each part the rooms and calls stand on.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        backend: Backend,
        bus: SharedBus,
        registry: Addr<Registry>,
        settings: LiveSettings,
        keywords: tokio::sync::watch::Receiver<Arc<Keywords>>,
        accounts: Arc<dyn Accounts>,
        policy: crate::consent::PolicyVersion,
        signer: Arc<crate::consent::receipt::ReceiptSigner>,
    ) -> Self {
        // A name for this process in live_room_nodes: a node that restarts is a new one, and
        // the old rows fade out of the counts.
        let node: Arc<str> = format!("{:016x}", rand::random::<u64>()).into();
        Self {
            cx: RoomContext {
                db,
                backend,
                bus,
                registry,
                settings,
                node,
            },
            directory: Arc::new(Directory::default()),
            keywords,
            accounts,
            policy,
            rtc_windows: Mutex::new(HashMap::new()),
            signer,
        }
    }

    fn db(&self) -> &Db {
        &self.cx.db
    }

    fn settings(&self) -> &LiveSettings {
        &self.cx.settings
    }

    /// Refuses text a blocked word or contact details make unfit; a live text is never held
    /// for a person (reviewed minutes later it is noise).
    fn screen(&self, text: &str) -> AppResult<()> {
        match screen_text(&self.keywords.borrow(), text) {
            Verdict::Pass => Ok(()),
            Verdict::Review(_) | Verdict::Reject(_) => Err(AppError::new(
                ErrorCode::ContentRejected,
                "this text cannot be shown: no contact details or trades off the platform",
            )),
        }
    }

    async fn room(&self, room_id: i64) -> AppResult<RoomRow> {
        store::room(self.db(), room_id)
            .await?
            .ok_or_else(|| AppError::not_found("room"))
    }

    /// The room as `user_id` may see it: a hidden room exists for its host only.
    async fn visible_room(&self, room_id: i64, user_id: i64) -> AppResult<RoomRow> {
        let room = self.room(room_id).await?;
        if room.view.hidden && room.host_id != user_id {
            return Err(AppError::not_found("room"));
        }
        Ok(room)
    }

    /// A room as a share code shows it to `viewer`: not hidden, and not of a host who banned
    /// them or whom either of them blocks (`not_found` for each: a code never tells which).
    pub async fn room_for_share(&self, viewer: i64, room_id: i64) -> AppResult<RoomView> {
        let room = self.visible_room(room_id, viewer).await?;
        if room.host_id != viewer
            && (store::is_banned(self.db(), room.host_id, viewer).await?
                || crate::relations::is_blocked(self.db(), room.host_id, viewer).await?
                || crate::relations::is_blocked(self.db(), viewer, room.host_id).await?)
        {
            return Err(AppError::not_found("room"));
        }
        Ok(room.view)
    }

    async fn power(&self, room: &RoomRow, user_id: i64) -> AppResult<Power> {
        if room.host_id == user_id {
            return Ok(Power::Host);
        }
        if store::is_helper(self.db(), room.host_id, user_id).await? {
            return Ok(Power::Helper);
        }
        Err(AppError::forbidden(
            "only the room's host or helpers may do this",
        ))
    }

    fn host_only(room: &RoomRow, user_id: i64) -> AppResult<()> {
        if room.host_id == user_id {
            Ok(())
        } else {
            Err(AppError::forbidden("only the room's host may do this"))
        }
    }

    /// A power used on `target`: never on oneself or the host, and a helper never on a helper.
    async fn check_target(
        &self,
        room: &RoomRow,
        power: Power,
        by: i64,
        target: i64,
    ) -> AppResult<()> {
        if target == by {
            return Err(AppError::field("user_id", "not yourself"));
        }
        if target == room.host_id {
            return Err(AppError::forbidden("the host is out of reach"));
        }
        if power == Power::Helper && store::is_helper(self.db(), room.host_id, target).await? {
            return Err(AppError::forbidden("a helper cannot act on another helper"));
        }
        match self.accounts.find(target).await? {
            Some(a) if !a.deleted => {}
            _ => return Err(AppError::not_found("user")),
        }
        // Moderators and admins keep watch in every room: no host's power reaches them.
        let roles = self.accounts.roles(target).await?;
        if roles
            .iter()
            .any(|r| matches!(r, Role::Moderator | Role::Admin))
        {
            return Err(AppError::forbidden("staff are out of a host's reach"));
        }
        Ok(())
    }

    fn publish_numbered(&self, room_id: i64, kind: &str, data: serde_json::Value, seq: i64) {
        let frame = EventFrame::numbered(kind, &data, seq);
        self.cx.bus.publish(
            Audience::Topic(room::topic(room_id)),
            Delivery::Event(frame),
        );
    }

    /// The user's sockets in the room leave it on every node and are told why.
    fn remove_from_room(&self, audience: Audience, room_id: i64, reason: &str, until: Option<i64>) {
        let event = EventFrame::new(
            "room.removed",
            &json!({ "room_id": room_id, "reason": reason, "until": until }),
            None,
        );
        self.cx.bus.publish(
            audience,
            Delivery::LeaveTopic {
                topic: room::topic(room_id),
                event,
            },
        );
    }

    /// One numbered event with the change it records and its audit line, in one transaction.
    async fn record(
        &self,
        room_id: i64,
        line: AuditLine<'_>,
        event: Option<NewEvent>,
        change: impl for<'c> FnOnce(
            &'c mut sqlx::AnyConnection,
        )
            -> futures_util::future::BoxFuture<'c, Result<(), sqlx::Error>>,
    ) -> AppResult<Option<i64>> {
        let now = now_ms();
        let mut tx = begin_write(self.db(), self.cx.backend).await?;
        change(&mut tx).await?;
        let seq = match event {
            Some(e) => store::append_events(&mut tx, self.cx.backend, room_id, &[e], now)
                .await?
                .pop(),
            None => None,
        };
        store::audit(
            &mut tx,
            room_id,
            line.actor,
            line.action,
            line.target,
            line.detail,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(seq)
    }

    // ---------------------------------------------------------------- the room's life

    pub async fn create(self: Arc<Self>, caller: Caller, body: Create) -> AppResult<OneRoom> {
        let roles = self.accounts.roles(caller.user_id).await?;
        if !roles.contains(&Role::Appraiser) {
            return Err(AppError::forbidden("only appraisers open rooms"));
        }
        let title = policy::text("title", &body.title, self.settings().title_max_chars)?;
        self.screen(&title)?;
        let category = Category::parse(&body.category)?;
        if let Some(cover) = &body.cover {
            let own_photo = crate::media::find(self.db(), cover)
                .await?
                .is_some_and(|m| {
                    m.owner_id == caller.user_id
                        && m.purpose.as_str() == "post_photo"
                        && m.status == "approved"
                });
            if !own_photo {
                return Err(AppError::field(
                    "cover",
                    "must be your own screened post_photo upload",
                ));
            }
        }
        if store::open_rooms_of(self.db(), caller.user_id).await?
            >= self.settings().open_rooms_per_host
        {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "end one of your rooms before opening another",
            ));
        }
        let id = store::create_room(
            self.db(),
            &store::NewRoom {
                host_id: caller.user_id,
                title: &title,
                category: category.as_str(),
                cover: body.cover.as_deref(),
                scheduled_at: body.scheduled_at,
            },
            now_ms(),
        )
        .await?;
        Ok(OneRoom {
            room: self.room(id).await?.view,
        })
    }

    async fn move_to(&self, caller: Caller, room_id: i64, to: Status) -> AppResult<OneRoom> {
        let room = self.room(room_id).await?;
        Self::host_only(&room, caller.user_id)?;
        self.change_status(&room, caller.user_id, to, "").await
    }

    async fn change_status(
        &self,
        room: &RoomRow,
        actor: i64,
        to: Status,
        reason: &str,
    ) -> AppResult<OneRoom> {
        let from = Status::from_stored(&room.view.status);
        let to = from.step(to)?;
        if from == to {
            return Ok(OneRoom {
                room: room.view.clone(),
            });
        }
        let room_id = room.view.id;
        let status = to.as_str();
        let now = now_ms();
        let seq = self
            .record(
                room_id,
                AuditLine {
                    actor,
                    action: status,
                    target: None,
                    detail: reason,
                },
                Some(NewEvent {
                    kind: "status",
                    user_id: None,
                    client_id: None,
                    body: status.to_string(),
                }),
                move |c| Box::pin(store::set_status(c, room_id, status, now)),
            )
            .await?;
        if let Some(actor) = self.directory.get(room_id) {
            actor.do_send(room::StatusChanged(to));
        }
        if to == Status::Ended {
            self.close_room_calls(room_id, call::EndReason::RoomEnded)
                .await?;
        }
        if let Some(seq) = seq {
            self.publish_numbered(
                room_id,
                "room.status",
                json!({ "room_id": room_id, "status": status }),
                seq,
            );
        }
        Ok(OneRoom {
            room: self.room(room_id).await?.view,
        })
    }

    pub async fn start(self: Arc<Self>, caller: Caller, body: RoomRef) -> AppResult<OneRoom> {
        self.move_to(caller, body.room_id, Status::Live).await
    }

    pub async fn pause(self: Arc<Self>, caller: Caller, body: RoomRef) -> AppResult<OneRoom> {
        self.move_to(caller, body.room_id, Status::Paused).await
    }

    pub async fn end(self: Arc<Self>, caller: Caller, body: RoomRef) -> AppResult<OneRoom> {
        self.move_to(caller, body.room_id, Status::Ended).await
    }

    pub async fn list(self: Arc<Self>, _caller: Caller, body: List) -> AppResult<Rooms> {
        let category = body
            .category
            .as_deref()
            .map(Category::parse)
            .transpose()?
            .map(Category::as_str);
        let limit = body.limit.unwrap_or(20);
        if !(1..=50).contains(&limit) {
            return Err(AppError::field("limit", "must be between 1 and 50"));
        }
        let rows = store::on_air(self.db(), category, body.after, limit + 1).await?;
        let more = rows.len() as i64 > limit;
        let rooms: Vec<RoomView> = rows
            .into_iter()
            .take(limit as usize)
            .map(|r| r.view)
            .collect();
        let next = if more {
            rooms.last().map(|r| ListCursor {
                viewers: r.viewers,
                id: r.id,
            })
        } else {
            None
        };
        Ok(Rooms { rooms, next })
    }

    pub async fn mine(
        self: Arc<Self>,
        caller: Caller,
        _body: serde_json::Value,
    ) -> AppResult<Rooms> {
        let rooms = store::rooms_of_host(self.db(), caller.user_id, MINE_MAX)
            .await?
            .into_iter()
            .map(|r| r.view)
            .collect();
        Ok(Rooms { rooms, next: None })
    }

    // ---------------------------------------------------------------- members

    pub async fn join(self: Arc<Self>, caller: Caller, body: Join) -> AppResult<Joined> {
        let room = self.visible_room(body.room_id, caller.user_id).await?;
        if Status::from_stored(&room.view.status) == Status::Ended {
            return Err(AppError::new(ErrorCode::RoomEnded, "the room has ended"));
        }
        let me = caller.user_id;
        let room_id = room.view.id;
        if store::is_banned(self.db(), room.host_id, me).await? {
            return Err(AppError::new(
                ErrorCode::RoomBanned,
                "the host banned you from their rooms",
            ));
        }
        let now = now_ms();
        {
            let mut conn = self.db().acquire().await?;
            let kicked =
                store::restricted_until(&mut conn, self.cx.backend, room_id, "kick", &[me], now)
                    .await?;
            if let Some(until) = kicked.get(&me) {
                return Err(AppError::new(
                    ErrorCode::RoomKicked,
                    "you were kicked out of this room",
                )
                .retry_after((until - now).max(1) as u64));
            }
        }
        // Joined before the snapshot is read: every event after it arrives live, and one the
        // snapshot already holds is dropped by its seq (docs/protocol.md, "Live rooms").
        let joined = self
            .cx
            .registry
            .send(JoinLimited {
                conn_id: caller.conn_id,
                topic: room::topic(room_id),
                kind: "room:",
                max: self.settings().rooms_per_socket,
            })
            .await
            .map_err(|_| mailbox_gone())?;
        match joined {
            JoinOutcome::Joined | JoinOutcome::AlreadyIn => {}
            JoinOutcome::TooMany => {
                return Err(AppError::new(
                    ErrorCode::TooManyRooms,
                    "this connection is in as many rooms as it may be",
                ))
            }
            JoinOutcome::Gone => return Err(mailbox_gone()),
        }
        let user = match self.accounts.find(me).await? {
            Some(a) => UserRef {
                id: Some(a.id),
                nickname: a.nickname,
                avatar: a.avatar,
            },
            None => return Err(AppError::unauthorized()),
        };
        let status = Status::from_stored(&room.view.status);
        let actor = self
            .directory
            .get_or_start(&self.cx, room_id, room.host_id, status);
        let member = Member {
            conn_id: caller.conn_id,
            user_id: me,
            user: user.clone(),
            joined: true,
        };
        if actor.send(member).await.is_err() {
            // The actor stopped between the lookup and the message: start another.
            let actor = self
                .directory
                .get_or_start(&self.cx, room_id, room.host_id, status);
            actor
                .send(Member {
                    conn_id: caller.conn_id,
                    user_id: me,
                    user,
                    joined: true,
                })
                .await
                .map_err(|_| mailbox_gone())?;
        }
        self.snapshot(room_id, me, body.since_seq).await
    }

    async fn snapshot(&self, room_id: i64, me: i64, since: Option<i64>) -> AppResult<Joined> {
        let room = self.room(room_id).await?;
        let comments =
            store::last_comments(self.db(), room_id, self.settings().join_comments).await?;
        let helper = store::is_helper(self.db(), room.host_id, me).await?;
        let now = now_ms();
        let muted_until = {
            let mut conn = self.db().acquire().await?;
            store::restricted_until(&mut conn, self.cx.backend, room_id, "mute", &[me], now)
                .await?
                .get(&me)
                .copied()
        };
        let (recovered, missed) = match since {
            None => (None, None),
            Some(since) => {
                let last = room.view.seq;
                if since >= 0 && since <= last && last - since <= self.settings().recovery_events {
                    let events = store::events_between(self.db(), room_id, since, last).await?;
                    (
                        Some(true),
                        Some(events.iter().map(|e| event_view(room_id, e)).collect()),
                    )
                } else {
                    (Some(false), Some(Vec::new()))
                }
            }
        };
        Ok(Joined {
            me: MeInRoom {
                host: room.host_id == me,
                helper,
                muted_until,
            },
            room: room.view,
            comments,
            recovered,
            missed,
        })
    }

    pub async fn leave(self: Arc<Self>, caller: Caller, body: RoomRef) -> AppResult<Left> {
        self.cx.registry.do_send(Leave {
            conn_id: caller.conn_id,
            topic: room::topic(body.room_id),
        });
        let left = match self.directory.get(body.room_id) {
            Some(actor) => actor
                .send(Member {
                    conn_id: caller.conn_id,
                    user_id: caller.user_id,
                    user: UserRef {
                        id: Some(caller.user_id),
                        nickname: String::new(),
                        avatar: None,
                    },
                    joined: false,
                })
                .await
                .unwrap_or(false),
            None => false,
        };
        Ok(Left { left })
    }

    pub async fn comment(self: Arc<Self>, caller: Caller, body: Comment) -> AppResult<Commented> {
        let text = policy::text("text", &body.text, self.settings().comment_max_chars)?;
        let client_id = policy::client_id(&body.client_id)?;
        self.screen(&text)?;
        let actor = self
            .directory
            .get(body.room_id)
            .ok_or_else(|| AppError::forbidden("join the room first"))?;
        let comment = actor
            .send(Post {
                conn_id: caller.conn_id,
                user_id: caller.user_id,
                client_id,
                text,
            })
            .await
            .map_err(|_| mailbox_gone())??;
        Ok(Commented { comment })
    }

    pub async fn like(self: Arc<Self>, caller: Caller, body: Like) -> AppResult<Liked> {
        let max = self.settings().likes_per_frame as i64;
        if !(1..=max).contains(&body.count) {
            return Err(AppError::field(
                "count",
                format!("must be between 1 and {max}"),
            ));
        }
        // No database read: a like storm must not queue on the pool (the actor knows the
        // room's status as of its last tick, or at once for a change made through this node).
        let actor = self
            .directory
            .get(body.room_id)
            .ok_or_else(|| AppError::forbidden("join the room first"))?;
        let accepted = actor
            .send(Tap {
                conn_id: caller.conn_id,
                user_id: caller.user_id,
                count: body.count as usize,
            })
            .await
            .map_err(|_| mailbox_gone())??;
        Ok(Liked { accepted })
    }

    // ---------------------------------------------------------------- the host's powers

    pub async fn mute(self: Arc<Self>, caller: Caller, body: Target) -> AppResult<MutedReply> {
        let room = self.room(body.room_id).await?;
        let power = self.power(&room, caller.user_id).await?;
        self.check_target(&room, power, caller.user_id, body.user_id)
            .await?;
        let ms = policy::duration(
            "duration_ms",
            body.duration_ms.unwrap_or(10 * 60 * 1000),
            1000,
            MUTE_MAX_MS,
        )?;
        let until = now_ms() + ms;
        store::restrict(
            self.db(),
            room.view.id,
            body.user_id,
            "mute",
            until,
            caller.user_id,
        )
        .await?;
        self.audit(
            room.view.id,
            caller.user_id,
            "mute",
            Some(body.user_id),
            &format!("{ms} ms"),
        )
        .await?;
        self.tell_muted(room.view.id, body.user_id, Some(until));
        Ok(MutedReply {
            muted_until: Some(until),
        })
    }

    pub async fn unmute(self: Arc<Self>, caller: Caller, body: Target) -> AppResult<MutedReply> {
        let room = self.room(body.room_id).await?;
        let power = self.power(&room, caller.user_id).await?;
        self.check_target(&room, power, caller.user_id, body.user_id)
            .await?;
        store::lift(self.db(), room.view.id, body.user_id, "mute").await?;
        self.audit(
            room.view.id,
            caller.user_id,
            "unmute",
            Some(body.user_id),
            "",
        )
        .await?;
        self.tell_muted(room.view.id, body.user_id, None);
        Ok(MutedReply { muted_until: None })
    }

    fn tell_muted(&self, room_id: i64, user_id: i64, until: Option<i64>) {
        let frame = EventFrame::new(
            "room.muted",
            &json!({ "room_id": room_id, "until": until }),
            None,
        );
        self.cx
            .bus
            .publish(Audience::User(user_id), Delivery::Event(frame));
    }

    async fn audit(
        &self,
        room_id: i64,
        actor: i64,
        action: &str,
        target: Option<i64>,
        detail: &str,
    ) -> AppResult<()> {
        let mut conn = self.db().acquire().await?;
        store::audit(&mut conn, room_id, actor, action, target, detail, now_ms()).await?;
        Ok(())
    }

    pub async fn kick(self: Arc<Self>, caller: Caller, body: Target) -> AppResult<Kicked> {
        let room = self.room(body.room_id).await?;
        let power = self.power(&room, caller.user_id).await?;
        self.check_target(&room, power, caller.user_id, body.user_id)
            .await?;
        let ms = policy::duration(
            "duration_ms",
            body.duration_ms.unwrap_or(self.settings().kick_ms),
            1000,
            24 * 3600 * 1000,
        )?;
        let until = now_ms() + ms;
        store::restrict(
            self.db(),
            room.view.id,
            body.user_id,
            "kick",
            until,
            caller.user_id,
        )
        .await?;
        self.audit(
            room.view.id,
            caller.user_id,
            "kick",
            Some(body.user_id),
            &format!("{ms} ms"),
        )
        .await?;
        self.remove_from_room(
            Audience::User(body.user_id),
            room.view.id,
            "kicked",
            Some(until),
        );
        self.end_turns_in_room(room.view.id, body.user_id, call::EndReason::Kicked)
            .await?;
        Ok(Kicked { until })
    }

    pub async fn ban(self: Arc<Self>, caller: Caller, body: Target) -> AppResult<Banned> {
        let room = self.room(body.room_id).await?;
        let power = self.power(&room, caller.user_id).await?;
        self.check_target(&room, power, caller.user_id, body.user_id)
            .await?;
        let reason = match &body.reason {
            Some(r) if !r.trim().is_empty() => policy::text("reason", r, REASON_MAX_CHARS)?,
            _ => String::new(),
        };
        store::ban(
            self.db(),
            room.host_id,
            body.user_id,
            caller.user_id,
            &reason,
            now_ms(),
        )
        .await?;
        self.audit(
            room.view.id,
            caller.user_id,
            "ban",
            Some(body.user_id),
            &reason,
        )
        .await?;
        self.remove_from_room(Audience::User(body.user_id), room.view.id, "banned", None);
        // A ban holds in every room of the host: the user's turns in each end.
        for hosted in store::rooms_of_host(self.db(), room.host_id, MINE_MAX).await? {
            if Status::from_stored(&hosted.view.status) != Status::Ended {
                self.end_turns_in_room(hosted.view.id, body.user_id, call::EndReason::Banned)
                    .await?;
            }
        }
        Ok(Banned { banned: true })
    }

    pub async fn unban(self: Arc<Self>, caller: Caller, body: Target) -> AppResult<Banned> {
        let room = self.room(body.room_id).await?;
        Self::host_only(&room, caller.user_id)?;
        store::unban(self.db(), room.host_id, body.user_id).await?;
        self.audit(
            room.view.id,
            caller.user_id,
            "unban",
            Some(body.user_id),
            "",
        )
        .await?;
        Ok(Banned { banned: false })
    }

    pub async fn bans(self: Arc<Self>, caller: Caller, body: RoomRef) -> AppResult<Bans> {
        let room = self.room(body.room_id).await?;
        self.power(&room, caller.user_id).await?;
        let bans = store::bans(self.db(), room.host_id)
            .await?
            .into_iter()
            .map(|(user, reason, by, at)| BanView {
                user,
                reason,
                by,
                at,
            })
            .collect();
        Ok(Bans { bans })
    }

    pub async fn remove_comment(
        self: Arc<Self>,
        caller: Caller,
        body: RemoveComment,
    ) -> AppResult<Removed> {
        let room = self.room(body.room_id).await?;
        self.power(&room, caller.user_id).await?;
        let seq = body.seq;
        let line = AuditLine {
            actor: caller.user_id,
            action: "remove_comment",
            target: None,
            detail: &seq.to_string(),
        };
        if !self
            .remove_comment_everywhere(room.view.id, seq, Some(line))
            .await?
        {
            return Err(AppError::not_found("comment"));
        }
        Ok(Removed { removed: true })
    }

    pub async fn pin(self: Arc<Self>, caller: Caller, body: Pin) -> AppResult<Pinned> {
        let room = self.room(body.room_id).await?;
        self.power(&room, caller.user_id).await?;
        let text = match &body.text {
            Some(t) => {
                let t = policy::text("text", t, self.settings().pin_max_chars)?;
                self.screen(&t)?;
                Some(t)
            }
            None => None,
        };
        let room_id = room.view.id;
        let stored = text.clone();
        let seq = self
            .record(
                room_id,
                AuditLine {
                    actor: caller.user_id,
                    action: "pin",
                    target: None,
                    detail: text.as_deref().unwrap_or(""),
                },
                Some(NewEvent {
                    kind: "pinned",
                    user_id: None,
                    client_id: None,
                    body: text.clone().unwrap_or_default(),
                }),
                move |c| {
                    Box::pin(async move { store::set_pinned(c, room_id, stored.as_deref()).await })
                },
            )
            .await?;
        if let Some(seq) = seq {
            self.publish_numbered(
                room_id,
                "room.pinned",
                json!({ "room_id": room_id, "text": text }),
                seq,
            );
        }
        Ok(Pinned { pinned: text })
    }

    pub async fn add_helper(self: Arc<Self>, caller: Caller, body: Helper) -> AppResult<Helpers> {
        let room = self.room(body.room_id).await?;
        Self::host_only(&room, caller.user_id)?;
        self.check_target(&room, Power::Host, caller.user_id, body.user_id)
            .await?;
        let current = store::helper_ids(self.db(), room.host_id).await?;
        if !current.contains(&body.user_id)
            && current.len() as i64 >= self.settings().helpers_per_host
        {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "remove a helper before adding another",
            ));
        }
        store::add_helper(self.db(), room.host_id, body.user_id, now_ms()).await?;
        self.audit(
            room.view.id,
            caller.user_id,
            "helper_add",
            Some(body.user_id),
            "",
        )
        .await?;
        self.tell_helper(room.host_id, body.user_id, true);
        self.helpers_changed(room.host_id).await
    }

    pub async fn remove_helper(
        self: Arc<Self>,
        caller: Caller,
        body: Helper,
    ) -> AppResult<Helpers> {
        let room = self.room(body.room_id).await?;
        Self::host_only(&room, caller.user_id)?;
        store::remove_helper(self.db(), room.host_id, body.user_id).await?;
        self.audit(
            room.view.id,
            caller.user_id,
            "helper_remove",
            Some(body.user_id),
            "",
        )
        .await?;
        self.tell_helper(room.host_id, body.user_id, false);
        self.helpers_changed(room.host_id).await
    }

    pub async fn helpers(self: Arc<Self>, caller: Caller, body: RoomRef) -> AppResult<Helpers> {
        let room = self.room(body.room_id).await?;
        self.power(&room, caller.user_id).await?;
        Ok(Helpers {
            helpers: store::helpers(self.db(), room.host_id).await?,
        })
    }

    /// The (former) helper's devices learn it at once, so that a page shows or hides its powers.
    fn tell_helper(&self, host_id: i64, user_id: i64, helper: bool) {
        let frame = EventFrame::new(
            "room.helper",
            &json!({ "host_id": host_id, "helper": helper }),
            None,
        );
        self.cx
            .bus
            .publish(Audience::User(user_id), Delivery::Event(frame));
    }

    async fn helpers_changed(&self, host_id: i64) -> AppResult<Helpers> {
        for room in store::rooms_of_host(self.db(), host_id, MINE_MAX).await? {
            if let Some(actor) = self.directory.get(room.view.id) {
                actor.do_send(room::HelpersChanged);
            }
        }
        Ok(Helpers {
            helpers: store::helpers(self.db(), host_id).await?,
        })
    }

    // ---------------------------------------------------------------- moderators

    pub async fn moderate(self: Arc<Self>, caller: Caller, body: Moderate) -> AppResult<OneRoom> {
        let roles = self.accounts.roles(caller.user_id).await?;
        if !roles
            .iter()
            .any(|r| matches!(r, Role::Moderator | Role::Admin))
        {
            return Err(AppError::forbidden("moderators only"));
        }
        let reason = policy::text("reason", &body.reason, REASON_MAX_CHARS).map_err(|_| {
            AppError::field("reason", "a reason is required (at most 200 characters)")
        })?;
        let room = self.room(body.room_id).await?;
        let room_id = room.view.id;
        match body.action.as_str() {
            "end" => {
                self.change_status(&room, caller.user_id, Status::Ended, &reason)
                    .await
            }
            "hide" | "unhide" => {
                let hide = body.action == "hide";
                store::set_hidden(self.db(), room_id, hide.then(now_ms)).await?;
                self.audit(room_id, caller.user_id, &body.action, None, &reason)
                    .await?;
                if hide {
                    self.clear_hidden_room(room_id).await?;
                }
                Ok(OneRoom {
                    room: self.room(room_id).await?.view,
                })
            }
            _ => Err(AppError::field("action", "end, hide or unhide")),
        }
    }

    // ---------------------------------------------------------------- reports (moderated.rs)

    /// A comment the reporter may see (the room is visible to them): its author and text.
    async fn reportable_comment(
        &self,
        reporter: i64,
        room_id: i64,
        seq: i64,
    ) -> AppResult<(i64, String)> {
        self.visible_room(room_id, reporter).await?;
        store::comment(self.db(), room_id, seq)
            .await?
            .ok_or_else(|| AppError::not_found("comment"))
    }

    /// A room the reporter may see: its host, and its title and notice as they are now.
    async fn reportable_room(&self, reporter: i64, room_id: i64) -> AppResult<(i64, String)> {
        let room = self.visible_room(room_id, reporter).await?;
        let preview = match &room.view.pinned {
            Some(pinned) => format!("{}\n{pinned}", room.view.title),
            None => room.view.title.clone(),
        };
        Ok((room.host_id, preview))
    }

    /// An upheld report of a comment: gone from every screen, as a host's removal.
    async fn take_down_comment(&self, room_id: i64, seq: i64) -> AppResult<()> {
        // Already gone (the host removed it): nothing more to do.
        self.remove_comment_everywhere(room_id, seq, None).await?;
        Ok(())
    }

    /// Marks the comment removed with its numbered `room.comment_removed` (and the audit line
    /// of the power that did it) in one transaction, then tells every member. False when there
    /// is no such comment or it was removed already.
    async fn remove_comment_everywhere(
        &self,
        room_id: i64,
        seq: i64,
        line: Option<AuditLine<'_>>,
    ) -> AppResult<bool> {
        let now = now_ms();
        let mut tx = begin_write(self.db(), self.cx.backend).await?;
        if !store::remove_comment(&mut tx, room_id, seq, now).await? {
            return Ok(false);
        }
        let event = NewEvent {
            kind: "comment_removed",
            user_id: None,
            client_id: None,
            body: seq.to_string(),
        };
        let at = store::append_events(&mut tx, self.cx.backend, room_id, &[event], now)
            .await?
            .pop();
        if let Some(l) = line {
            store::audit(&mut tx, room_id, l.actor, l.action, l.target, l.detail, now).await?;
        }
        tx.commit().await?;
        if let Some(at) = at {
            self.publish_numbered(
                room_id,
                "room.comment_removed",
                json!({ "room_id": room_id, "removed_seq": seq }),
                at,
            );
        }
        Ok(true)
    }

    /// An upheld report of a room: hidden, its members removed on every node.
    async fn hide_reported_room(&self, room_id: i64) -> AppResult<()> {
        store::set_hidden(self.db(), room_id, Some(now_ms())).await?;
        self.clear_hidden_room(room_id).await
    }

    /// A room just hidden (a moderator's hide, an upheld report): its members leave it on
    /// every node, its call ends and its queue closes.
    async fn clear_hidden_room(&self, room_id: i64) -> AppResult<()> {
        self.remove_from_room(
            Audience::Topic(room::topic(room_id)),
            room_id,
            "hidden",
            None,
        );
        self.close_room_calls(room_id, call::EndReason::Hidden)
            .await
    }

    /// Rooms with an actor on this node (tests, metrics).
    pub fn rooms_here(&self) -> usize {
        self.directory.len()
    }
}

/// One stored event as `missed` carries it, shaped like its live frame.
fn event_view(room_id: i64, e: &store::EventRow) -> EventView {
    let (kind, data) = match e.kind.as_str() {
        "comment" => {
            let c = e.comment();
            (
                "room.comment",
                json!({ "room_id": room_id, "seq": c.seq, "user": c.user, "text": c.text,
                        "at": c.at, "removed": c.removed }),
            )
        }
        "comment_removed" => (
            "room.comment_removed",
            json!({ "room_id": room_id, "removed_seq": e.body.parse::<i64>().unwrap_or(0) }),
        ),
        "pinned" => (
            "room.pinned",
            json!({ "room_id": room_id,
                    "text": if e.body.is_empty() { None } else { Some(e.body.clone()) } }),
        ),
        _ => (
            "room.status",
            json!({ "room_id": room_id, "status": e.body }),
        ),
    };
    EventView {
        kind,
        seq: e.seq,
        data,
    }
}
