//! One live room on one node: [`RoomActor`], started by the node's [`Directory`] on the room's
//! first join here and stopped when its last member here has gone.
//!
//! It holds only what is cheap to lose: this node's members (read back from the registry
//! every tick, so a closed socket needs no hook), the likes counted since the last flush, the
//! comment batch being committed, and rate windows. Everything a spectator must not lose is
//! written before it is acknowledged (comments) or is in the database already (status, bans,
//! mutes, kicks, helpers, pinned notice).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use arc_swap::ArcSwap;
use serde_json::json;
use tokio::sync::oneshot;

use super::messages::{CommentView, UserRef};
use super::policy::{Status, Window};
use super::settings::LiveSettings;
use super::store::{self, NewEvent};
use crate::bus::registry::{Deliver, Registry, TopicMembers};
use crate::bus::{Audience, Delivery, EventFrame, SharedBus, Topic};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::store::{begin_write, now_ms, Backend, Db};

/// Mailbox size: senders beyond it wait (back-pressure), they are never refused.
const MAILBOX_CAPACITY: usize = 4096;
/// Helpers are read again every this many ticks (a change on another node reaches here then;
/// one made on this node is applied at once).
const HELPERS_EVERY_TICKS: u32 = 5;
/// A node's member count counts towards the room's viewers this many ticks after it was
/// written (a killed node's members fade out of the count).
const FRESH_TICKS: i64 = 3;
/// Rate windows of users idle this long are forgotten, ms.
const WINDOW_IDLE_MS: i64 = 60_000;

/// The topic of a room's members on every node.
pub fn topic(room_id: i64) -> Topic {
    Topic::new(format!("room:{room_id}"))
}

/// What every room actor of a node shares.
#[derive(Clone)]
pub struct RoomContext {
    pub db: Db,
    pub backend: Backend,
    pub bus: SharedBus,
    pub registry: Addr<Registry>,
    pub settings: LiveSettings,
    /// This process's name in `live_room_nodes`.
    pub node: Arc<str>,
}

/// The node's room actors by room. Every comment and like looks its room's actor up here, so
/// reads take no lock (a snapshot swapped whole); only starting and stopping an actor, rare
/// by comparison, write a new snapshot, one writer at a time.
#[derive(Default)]
pub struct Directory {
    actors: ArcSwap<HashMap<i64, Addr<RoomActor>>>,
    writing: Mutex<()>,
}

impl Directory {
    /// The room's actor on this node, started when there is none (or it has stopped).
    pub fn get_or_start(
        self: &Arc<Self>,
        cx: &RoomContext,
        room_id: i64,
        host_id: i64,
        status: Status,
    ) -> Addr<RoomActor> {
        if let Some(addr) = self.get(room_id) {
            return addr;
        }
        let _writer = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(addr) = self.get(room_id) {
            return addr;
        }
        let addr = RoomActor::new(cx.clone(), self.clone(), room_id, host_id, status).start();
        let mut next = HashMap::clone(&self.actors.load());
        next.insert(room_id, addr.clone());
        self.actors.store(Arc::new(next));
        addr
    }

    /// The room's actor on this node, if it runs.
    pub fn get(&self, room_id: i64) -> Option<Addr<RoomActor>> {
        self.actors
            .load()
            .get(&room_id)
            .filter(|a| a.connected())
            .cloned()
    }

    fn forget(&self, room_id: i64, addr: &Addr<RoomActor>) {
        let _writer = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        if self.actors.load().get(&room_id) == Some(addr) {
            let mut next = HashMap::clone(&self.actors.load());
            next.remove(&room_id);
            self.actors.store(Arc::new(next));
        }
    }

    /// How many rooms have an actor on this node (metrics, tests).
    pub fn len(&self) -> usize {
        self.actors.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub struct RoomActor {
    cx: RoomContext,
    directory: Arc<Directory>,
    room_id: i64,
    host_id: i64,
    topic: Topic,
    /// The room's status as last read (each tick) or changed through this node: likes need no
    /// database read.
    status: Status,
    helpers: HashSet<i64>,
    /// This node's members: connection → user.
    members: HashMap<u64, i64>,
    /// Joins since the running tick asked the registry: its answer may predate them, so they
    /// are kept when it replaces `members`.
    joined_during_tick: HashMap<u64, i64>,
    pending: Vec<PendingComment>,
    committing: bool,
    ticking: bool,
    ticks: u32,
    likes_pending: i64,
    /// The counts last told to this node's members.
    told: Option<(i64, i64)>,
    /// The room's viewers as last summed (joins and leaves are announced only in small rooms).
    viewers: i64,
    room_window: Window,
    comment_windows: HashMap<i64, Window>,
    like_windows: HashMap<i64, Window>,
}

struct PendingComment {
    user_id: i64,
    client_id: String,
    text: String,
    reply: oneshot::Sender<AppResult<CommentView>>,
}

impl RoomActor {
    fn new(
        cx: RoomContext,
        directory: Arc<Directory>,
        room_id: i64,
        host_id: i64,
        status: Status,
    ) -> Self {
        Self {
            topic: topic(room_id),
            cx,
            directory,
            room_id,
            host_id,
            status,
            helpers: HashSet::new(),
            members: HashMap::new(),
            joined_during_tick: HashMap::new(),
            pending: Vec::new(),
            committing: false,
            ticking: false,
            ticks: 0,
            likes_pending: 0,
            told: None,
            viewers: 0,
            room_window: Window::default(),
            comment_windows: HashMap::new(),
            like_windows: HashMap::new(),
        }
    }

    fn privileged(&self, user_id: i64) -> bool {
        user_id == self.host_id || self.helpers.contains(&user_id)
    }

    fn announce(&self, kind: &str, user: UserRef) {
        // The sum of every node's members is a tick old: this node's own count is current, so a
        // crowd joining here between two ticks is not announced one by one.
        let viewers = self.viewers.max(self.members.len() as i64);
        if viewers > self.cx.settings.announce_up_to {
            return;
        }
        let frame = EventFrame::new(
            kind,
            &json!({ "room_id": self.room_id, "user": user }),
            None,
        );
        self.cx
            .bus
            .publish(Audience::Topic(self.topic.clone()), Delivery::Event(frame));
    }

    fn load_helpers(&self, ctx: &mut Context<Self>) {
        let (db, host) = (self.cx.db.clone(), self.host_id);
        ctx.spawn(
            async move { store::helper_ids(&db, host).await }
                .into_actor(self)
                .map(|found, act, _| match found {
                    Ok(ids) => act.helpers = ids.into_iter().collect(),
                    Err(e) => tracing::warn!(error = %e, "read a room's helpers"),
                }),
        );
    }

    /// Reads this node's members back from the registry, flushes the counts and tells the
    /// members here what changed; stops when nobody is left.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.ticking {
            return;
        }
        self.ticking = true;
        self.joined_during_tick.clear();
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks % HELPERS_EVERY_TICKS == 0 {
            self.load_helpers(ctx);
        }
        let now = now_ms();
        self.comment_windows
            .retain(|_, w| !w.is_idle(now, WINDOW_IDLE_MS));
        self.like_windows
            .retain(|_, w| !w.is_idle(now, WINDOW_IDLE_MS));
        let registry = self.cx.registry.clone();
        let topic = self.topic.clone();
        ctx.spawn(
            async move { registry.send(TopicMembers(topic)).await.unwrap_or_default() }
                .into_actor(self)
                .then(move |members, act, _| {
                    let mut members: HashMap<u64, i64> = members.into_iter().collect();
                    members.extend(act.joined_during_tick.drain());
                    let gone: Vec<i64> = act
                        .members
                        .iter()
                        .filter(|(conn, _)| !members.contains_key(conn))
                        .map(|(_, user)| *user)
                        .collect();
                    act.members = members;
                    let still: HashSet<i64> = act.members.values().copied().collect();
                    let left: HashSet<i64> =
                        gone.into_iter().filter(|u| !still.contains(u)).collect();
                    let likes = std::mem::take(&mut act.likes_pending);
                    let viewers = act.members.len() as i64;
                    let (db, room, node) = (act.cx.db.clone(), act.room_id, act.cx.node.clone());
                    let fresh_after = now - FRESH_TICKS * act.cx.settings.tick_ms as i64;
                    async move {
                        let counts = if viewers == 0 {
                            let added = if likes > 0 {
                                store::flush_counts(&db, room, &node, 0, likes, now, fresh_after)
                                    .await
                                    .map(Some)
                            } else {
                                Ok(None)
                            };
                            let forgot = store::forget_node(&db, room, &node).await;
                            added.and_then(|c| forgot.map(|_| c))
                        } else {
                            store::flush_counts(&db, room, &node, viewers, likes, now, fresh_after)
                                .await
                                .map(Some)
                        };
                        (counts, likes, left)
                    }
                    .into_actor(act)
                })
                .map(|(counts, likes, left), act, ctx| {
                    act.ticking = false;
                    match counts {
                        Ok(Some((likes_total, viewers_total, status))) => {
                            act.viewers = viewers_total;
                            act.status = Status::from_stored(&status);
                            act.tell_counts(viewers_total, likes_total);
                        }
                        Ok(None) => {}
                        Err(e) => {
                            // Taps are counted again at the next flush.
                            act.likes_pending += likes;
                            tracing::warn!(error = %e, room = act.room_id, "flush a room's counts");
                        }
                    }
                    for user in left {
                        act.announce(
                            "room.left",
                            UserRef {
                                id: Some(user),
                                nickname: String::new(),
                                avatar: None,
                            },
                        );
                    }
                    if act.members.is_empty() && act.pending.is_empty() && !act.committing {
                        // Out of the directory at once: a join from now on starts a new actor
                        // rather than finding this one stopping.
                        act.directory.forget(act.room_id, &ctx.address());
                        ctx.stop();
                    }
                }),
        );
    }

    /// `room.stats` to this node's members only: every node tells its own.
    fn tell_counts(&mut self, viewers: i64, likes: i64) {
        if self.told == Some((viewers, likes)) || self.members.is_empty() {
            return;
        }
        self.told = Some((viewers, likes));
        let frame = EventFrame::new(
            "room.stats",
            &json!({ "room_id": self.room_id, "viewers": viewers, "likes": likes }),
            None,
        );
        self.cx.registry.do_send(Deliver {
            audience: Audience::Topic(self.topic.clone()),
            delivery: Delivery::Event(frame),
        });
    }

    fn commit_pending(&mut self, ctx: &mut Context<Self>) {
        if self.committing || self.pending.is_empty() {
            return;
        }
        self.committing = true;
        let take = self.pending.len().min(self.cx.settings.commit_batch_max);
        let batch: Vec<PendingComment> = self.pending.drain(..take).collect();
        let (db, backend, room) = (self.cx.db.clone(), self.cx.backend, self.room_id);
        let items: Vec<(i64, String, String)> = batch
            .iter()
            .map(|p| (p.user_id, p.client_id.clone(), p.text.clone()))
            .collect();
        let fut = async move { commit_comments(&db, backend, room, &items).await };
        ctx.spawn(fut.into_actor(self).map(move |outcomes, act, ctx| {
            let outcomes = match outcomes {
                Ok(o) => o,
                Err(e) => {
                    let e = AppError::from(e);
                    tracing::warn!(error = %e.message, room = act.room_id, "commit a comment batch");
                    batch.iter().map(|_| Err(AppError::unavailable("comment not saved; retry"))).collect()
                }
            };
            for (pending, outcome) in batch.into_iter().zip(outcomes) {
                let answer = outcome.map(|(comment, fresh)| {
                    if fresh {
                        act.publish_comment(&comment);
                    }
                    comment
                });
                let _ = pending.reply.send(answer);
            }
            act.committing = false;
            act.commit_pending(ctx);
        }));
    }

    fn publish_comment(&self, c: &CommentView) {
        let frame = EventFrame::numbered(
            "room.comment",
            &json!({ "room_id": self.room_id, "seq": c.seq, "user": c.user, "text": c.text,
                     "at": c.at }),
            c.seq,
        );
        self.cx
            .bus
            .publish(Audience::Topic(self.topic.clone()), Delivery::Event(frame));
    }
}

impl Actor for RoomActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        self.load_helpers(ctx);
        ctx.run_interval(
            Duration::from_millis(self.cx.settings.tick_ms),
            |act, ctx| act.tick(ctx),
        );
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        self.directory.forget(self.room_id, &ctx.address());
    }
}

/// A connection joined (`true`) or left the room on this node. Answers whether it was a member.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Member {
    pub conn_id: u64,
    pub user: UserRef,
    pub user_id: i64,
    pub joined: bool,
}

impl Handler<Member> for RoomActor {
    type Result = bool;
    fn handle(&mut self, msg: Member, _: &mut Context<Self>) -> bool {
        if msg.joined {
            let fresh = !self.members.values().any(|u| *u == msg.user_id);
            let was = self.members.insert(msg.conn_id, msg.user_id).is_some();
            if self.ticking {
                self.joined_during_tick.insert(msg.conn_id, msg.user_id);
            }
            if fresh {
                self.announce("room.joined", msg.user);
            }
            was
        } else {
            let was = self.members.remove(&msg.conn_id).is_some();
            self.joined_during_tick.remove(&msg.conn_id);
            if was && !self.members.values().any(|u| *u == msg.user_id) {
                self.announce("room.left", msg.user);
            }
            was
        }
    }
}

/// A comment from a member on this node.
#[derive(Message)]
#[rtype(result = "AppResult<CommentView>")]
pub struct Post {
    pub conn_id: u64,
    pub user_id: i64,
    pub client_id: String,
    pub text: String,
}

impl Handler<Post> for RoomActor {
    type Result = ResponseFuture<AppResult<CommentView>>;
    fn handle(&mut self, msg: Post, ctx: &mut Context<Self>) -> Self::Result {
        if !self.members.contains_key(&msg.conn_id) {
            return Box::pin(async { Err(AppError::forbidden("join the room first")) });
        }
        let now = now_ms();
        let s = &self.cx.settings;
        // The host and the helpers keep the room going: neither cap holds them back.
        if !self.privileged(msg.user_id) {
            let window = self.comment_windows.entry(msg.user_id).or_default();
            if let Err(wait) = window.take(now, s.user_comments_per_10s, 10_000) {
                return Box::pin(async move {
                    Err(
                        AppError::new(ErrorCode::RateLimited, "too many comments; slow down")
                            .retry_after(wait),
                    )
                });
            }
            if let Err(wait) = self.room_window.take(now, s.room_comments_per_sec, 1000) {
                return Box::pin(async move {
                    Err(
                        AppError::new(ErrorCode::RoomBusy, "the room is busy; retry")
                            .retry_after(wait),
                    )
                });
            }
        }
        let (tx, rx) = oneshot::channel();
        self.pending.push(PendingComment {
            user_id: msg.user_id,
            client_id: msg.client_id,
            text: msg.text,
            reply: tx,
        });
        self.commit_pending(ctx);
        Box::pin(async move {
            rx.await
                .map_err(|_| AppError::unavailable("comment not saved; retry"))?
        })
    }
}

/// Taps of the like button from a member on this node; answers how many count.
#[derive(Message)]
#[rtype(result = "AppResult<usize>")]
pub struct Tap {
    pub conn_id: u64,
    pub user_id: i64,
    pub count: usize,
}

impl Handler<Tap> for RoomActor {
    type Result = AppResult<usize>;
    fn handle(&mut self, msg: Tap, _: &mut Context<Self>) -> AppResult<usize> {
        if !self.members.contains_key(&msg.conn_id) {
            return Err(AppError::forbidden("join the room first"));
        }
        match self.status {
            Status::Live => {}
            Status::Ended => return Err(AppError::new(ErrorCode::RoomEnded, "the room has ended")),
            _ => return Err(AppError::new(ErrorCode::Conflict, "the room is not live")),
        }
        let per_sec = self.cx.settings.user_likes_per_sec;
        let window = self.like_windows.entry(msg.user_id).or_default();
        let accepted = window.take_many(now_ms(), msg.count, per_sec, 1000);
        self.likes_pending += accepted as i64;
        Ok(accepted)
    }
}

/// The room's status changed through this node (other nodes' actors read it at their next
/// tick).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StatusChanged(pub Status);

impl Handler<StatusChanged> for RoomActor {
    type Result = ();
    fn handle(&mut self, msg: StatusChanged, _: &mut Context<Self>) {
        self.status = msg.0;
    }
}

/// The host's helpers changed (on this node): read them again now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct HelpersChanged;

impl Handler<HelpersChanged> for RoomActor {
    type Result = ();
    fn handle(&mut self, _: HelpersChanged, ctx: &mut Context<Self>) {
        self.load_helpers(ctx);
    }
}

type CommentOutcome = AppResult<(CommentView, bool)>;

/// One transaction for the batch: the room must be live; mutes, kicks and the host's bans
/// refuse their authors' comments; a retried client id answers the stored comment; the rest
/// take the room's next seqs. `bool`: newly written (to be published).
async fn commit_comments(
    db: &Db,
    backend: Backend,
    room_id: i64,
    items: &[(i64, String, String)],
) -> Result<Vec<CommentOutcome>, sqlx::Error> {
    let mut tx = begin_write(db, backend).await?;
    let now = now_ms();
    let Some((status, host_id)) = store::status_in(&mut tx, room_id).await? else {
        return Ok(items
            .iter()
            .map(|_| Err(AppError::not_found("room")))
            .collect());
    };
    match Status::from_stored(&status) {
        Status::Live => {}
        Status::Ended => {
            return Ok(items
                .iter()
                .map(|_| Err(AppError::new(ErrorCode::RoomEnded, "the room has ended")))
                .collect())
        }
        other => {
            let why = format!("the room is {}", other.as_str());
            return Ok(items
                .iter()
                .map(|_| Err(AppError::new(ErrorCode::Conflict, why.clone())))
                .collect());
        }
    }
    let mut authors: Vec<i64> = items.iter().map(|i| i.0).collect();
    authors.sort_unstable();
    authors.dedup();
    let muted = store::restricted_until(&mut tx, backend, room_id, "mute", &authors, now).await?;
    let kicked = store::restricted_until(&mut tx, backend, room_id, "kick", &authors, now).await?;
    let banned = store::banned_among(&mut tx, backend, host_id, &authors).await?;
    let keys: Vec<(i64, &str)> = items.iter().map(|(u, c, _)| (*u, c.as_str())).collect();
    let existing = store::comments_by_client(&mut tx, backend, room_id, &keys).await?;
    let authors_ref = store::user_refs(&mut tx, backend, &authors).await?;

    let mut outcomes: Vec<Option<CommentOutcome>> = Vec::with_capacity(items.len());
    let mut fresh: Vec<(usize, NewEvent)> = Vec::new();
    let mut seen: HashMap<(i64, &str), usize> = HashMap::new();
    for (i, (user_id, client_id, text)) in items.iter().enumerate() {
        if banned.contains(user_id) {
            outcomes.push(Some(Err(AppError::new(
                ErrorCode::RoomBanned,
                "the host banned you from their rooms",
            ))));
        } else if let Some(until) = kicked.get(user_id) {
            outcomes.push(Some(Err(AppError::new(
                ErrorCode::RoomKicked,
                "you were kicked out",
            )
            .retry_after((until - now).max(1) as u64))));
        } else if let Some(until) = muted.get(user_id) {
            outcomes.push(Some(Err(AppError::new(
                ErrorCode::RoomMuted,
                "you are muted in this room",
            )
            .retry_after((until - now).max(1) as u64))));
        } else if let Some(e) = existing.get(&(*user_id, client_id.clone())) {
            outcomes.push(Some(Ok((e.comment(), false))));
        } else if let Some(first) = seen.get(&(*user_id, client_id.as_str())) {
            // The same client id twice in one batch: the second answers the first.
            outcomes.push(None);
            let _ = first;
        } else {
            seen.insert((*user_id, client_id.as_str()), i);
            outcomes.push(None);
            fresh.push((
                i,
                NewEvent {
                    kind: "comment",
                    user_id: Some(*user_id),
                    client_id: Some(client_id.clone()),
                    body: text.clone(),
                },
            ));
        }
    }
    let events: Vec<NewEvent> = fresh.iter().map(|(_, e)| e.clone()).collect();
    let seqs = store::append_events(&mut tx, backend, room_id, &events, now).await?;
    tx.commit().await?;
    let mut written: HashMap<usize, CommentView> = HashMap::new();
    for ((i, event), seq) in fresh.into_iter().zip(seqs) {
        let user_id = event.user_id.unwrap_or_default();
        let user = authors_ref.get(&user_id).cloned().unwrap_or(UserRef {
            id: Some(user_id),
            nickname: String::new(),
            avatar: None,
        });
        written.insert(
            i,
            CommentView {
                seq,
                user,
                text: event.body,
                at: now,
                removed: false,
            },
        );
    }
    Ok(items
        .iter()
        .enumerate()
        .zip(outcomes)
        .map(|((i, (user_id, client_id, _)), outcome)| match outcome {
            Some(o) => o,
            None => match written.get(&i) {
                Some(c) => Ok((c.clone(), true)),
                None => {
                    let first = seen.get(&(*user_id, client_id.as_str())).copied();
                    first
                        .and_then(|f| written.get(&f))
                        .map(|c| Ok((c.clone(), false)))
                        .unwrap_or_else(|| Err(AppError::unavailable("comment not saved; retry")))
                }
            },
        })
        .collect())
}
