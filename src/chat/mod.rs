//! Buyer–seller chat (policy: 即时通讯): conversations between two users, optionally about a
//! listing; persisted, gap-free message streams; read receipts, typing, presence and blocks.
//!
//! [`ChatServer`] is one actor per node. Sends are group-committed: every send that arrives
//! while a commit is running joins the next transaction, and each sender is answered only once
//! its transaction is durable. So throughput scales with batch size while "acknowledged" keeps
//! meaning "committed". Everything else is a read or a single statement and runs as a future
//! beside the actor, never blocking its mailbox. Delivery goes through the [`crate::bus::Bus`] only.

pub mod commands;
pub mod messages;
pub mod moderated;
pub mod policy;
pub mod rights;
pub mod settings;
mod store;

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::bus::registry::PresenceChanged;
use crate::bus::{Audience, Delivery, EventFrame, SharedBus, StreamPos};
use crate::domain::{Accounts, ReplyBudget};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::metrics::{self, METRICS};
use crate::moderation::policy::{screen_text, Keywords, Verdict};
use crate::store::{begin_write, now_ms, Backend, Db};
use messages::*;
use policy::{ChatText, ClientId, Content};
use settings::ChatSettings;

/// Most conversations one `chat.sync` may name.
const SYNC_MAX_CURSORS: usize = 100;
/// Messages read per statement while filling a sync reply, so that the rows held at once stay
/// small whatever `limit` asks for.
const SYNC_READ_CHUNK: i64 = 64;
/// The JSON around one conversation's messages in a sync reply, bytes.
const SYNC_STREAM_BYTES: usize = 64;
/// Most users one `presence.query` may name.
const PRESENCE_MAX_USERS: usize = 200;
/// Mailbox size: sessions beyond it wait for room (back-pressure), they are never refused.
const MAILBOX_CAPACITY: usize = 4096;

/// What chat reaches through the other domains, handed over at start-up.
pub struct Reach {
    /// Whether a peer exists; when a user was last seen.
    pub accounts: Arc<dyn Accounts>,
    /// Where a recalled photo's bytes are deleted from.
    pub blobs: Arc<dyn crate::media::blob::BlobStore>,
}

pub struct ChatServer {
    db: Db,
    backend: Backend,
    bus: SharedBus,
    settings: ChatSettings,
    /// `DUOXIE_WS_MAX_REPLY_BYTES`: list replies stop there and say `more`.
    reply_max_bytes: usize,
    /// The moderation keyword list as moderation last loaded it: texts are screened here, in
    /// the send path, so that a screened send costs no hop to another actor.
    keywords: tokio::sync::watch::Receiver<Arc<Keywords>>,
    moderation: Option<Addr<crate::moderation::ModerationServer>>,
    /// Whether a peer exists; when a user was last seen (the accounts are `auth`'s).
    accounts: Arc<dyn Accounts>,
    /// Where a recalled photo's bytes are deleted from.
    blobs: Arc<dyn crate::media::blob::BlobStore>,
    pending: Vec<PendingSend>,
    committing: bool,
}

struct PendingSend {
    sender_id: i64,
    conversation_id: i64,
    client_id: ClientId,
    content: Content,
    reply: oneshot::Sender<AppResult<Sent>>,
}

/// A send's outcome inside a batch, plus the peer to deliver to.
struct Outcome {
    sent: Sent,
    peer_id: i64,
}

impl ChatServer {
    pub fn new(
        db: Db,
        backend: Backend,
        bus: SharedBus,
        settings: ChatSettings,
        reply_max_bytes: usize,
        keywords: tokio::sync::watch::Receiver<Arc<Keywords>>,
        reach: Reach,
    ) -> Self {
        let Reach { accounts, blobs } = reach;
        Self {
            db,
            backend,
            bus,
            settings,
            reply_max_bytes,
            keywords,
            moderation: None,
            accounts,
            blobs,
            pending: Vec::new(),
            committing: false,
        }
    }

    /// Commits everything pending (up to the batch limit) in one transaction, then answers and
    /// publishes; starts the next batch if more arrived meanwhile.
    fn commit_pending(&mut self, ctx: &mut Context<Self>) {
        if self.committing || self.pending.is_empty() {
            return;
        }
        self.committing = true;
        let take = self.pending.len().min(self.settings.commit_batch_max);
        let batch: Vec<PendingSend> = self.pending.drain(..take).collect();
        let db = self.db.clone();
        let backend = self.backend;
        let fut = async move {
            let items: Vec<_> = batch
                .iter()
                .map(|p| {
                    (
                        p.sender_id,
                        p.conversation_id,
                        p.client_id.clone(),
                        p.content.clone(),
                    )
                })
                .collect();
            let started = std::time::Instant::now();
            let outcomes = commit_batch(&db, backend, &items).await;
            METRICS.chat_commit_seconds.observe(started.elapsed());
            metrics::inc(&METRICS.chat_commit_batches);
            (batch, outcomes)
        };
        ctx.spawn(fut.into_actor(self).map(|(batch, outcomes), act, ctx| {
            for (pending, outcome) in batch.into_iter().zip(outcomes) {
                let answer = outcome.map(|o| {
                    if o.sent.duplicate {
                        metrics::inc(&METRICS.chat_sends_duplicate);
                    } else {
                        metrics::inc(&METRICS.chat_messages_committed);
                        act.publish_message(&o.sent.message, o.peer_id);
                    }
                    o.sent
                });
                // The sender may have gone; its answer is then simply dropped.
                let _ = pending.reply.send(answer);
            }
            act.committing = false;
            act.commit_pending(ctx);
        }));
    }

    fn publish_message(&self, m: &MessageView, peer_id: i64) {
        let pos = StreamPos {
            conversation_id: m.conversation_id,
            seq: m.seq,
        };
        let frame = EventFrame::new("chat.message", m, Some(pos));
        self.bus.publish(
            Audience::Users(vec![m.sender_id, peer_id]),
            Delivery::Event(frame),
        );
    }
}

/// One transaction for the whole batch; if it fails as a whole (say, a constraint race with
/// another node), each send is retried in its own transaction so one cannot sink the others.
async fn commit_batch(
    db: &Db,
    backend: Backend,
    items: &[(i64, i64, ClientId, Content)],
) -> Vec<AppResult<Outcome>> {
    match try_commit(db, backend, items).await {
        Ok(outcomes) => outcomes,
        Err(batch_error) => {
            if items.len() > 1 {
                tracing::warn!(error = %batch_error, size = items.len(), "batch commit failed; retrying one by one");
            }
            let mut outcomes = Vec::with_capacity(items.len());
            for item in items {
                let one = match try_commit(db, backend, std::slice::from_ref(item)).await {
                    Ok(mut v) => v
                        .pop()
                        .unwrap_or_else(|| Err(AppError::from(anyhow::anyhow!("empty commit")))),
                    Err(e) => Err(AppError::from(e)),
                };
                outcomes.push(one);
            }
            outcomes
        }
    }
}

/// Commits a batch in one transaction with a handful of statements whatever its size:
/// participants and blocks of every conversation involved, the existing messages for the
/// batch's client ids (retries), one `UPDATE ... RETURNING` taking each conversation's range
/// of seqs, and multi-row inserts. Per-send refusals (not a member, blocked) are answers, not
/// failures: they do not abort the others.
async fn try_commit(
    db: &Db,
    backend: Backend,
    items: &[(i64, i64, ClientId, Content)],
) -> Result<Vec<AppResult<Outcome>>, sqlx::Error> {
    let mut tx = begin_write(db, backend).await?;
    let now = now_ms();
    let mut conversation_ids: Vec<i64> = items.iter().map(|i| i.1).collect();
    conversation_ids.sort_unstable();
    conversation_ids.dedup();
    let mut senders: Vec<i64> = items.iter().map(|i| i.0).collect();
    senders.sort_unstable();
    senders.dedup();
    let participants = store::participants_of(&mut tx, backend, &conversation_ids).await?;
    let blocks = crate::relations::blocks_against(&mut tx, backend, &senders).await?;
    let keys: Vec<(i64, i64, &str)> = items
        .iter()
        .map(|(sender, conv, client_id, _)| (*conv, *sender, client_id.as_str()))
        .collect();
    let mut existing: HashMap<(i64, i64, String), MessageView> =
        store::messages_by_client_ids(&mut tx, backend, &keys)
            .await?
            .into_iter()
            .map(|m| ((m.conversation_id, m.sender_id, m.client_id.clone()), m))
            .collect();

    // Decide each send; new ones are numbered after the seqs are taken.
    enum Plan {
        Refused(AppError),
        Duplicate(MessageView, i64),
        /// Index into `fresh`, which holds messages still without their seq.
        New(usize, i64),
        /// The same client id earlier in this very batch.
        SameAs(usize, i64),
    }
    let mut plans = Vec::with_capacity(items.len());
    let mut fresh: Vec<MessageView> = Vec::new();
    let mut fresh_by_key: HashMap<(i64, i64, &str), usize> = HashMap::new();
    let mut counts: HashMap<i64, i64> = HashMap::new();
    for (sender_id, conversation_id, client_id, content) in items {
        let Some(pair) = participants.get(conversation_id) else {
            plans.push(Plan::Refused(AppError::not_found("conversation")));
            continue;
        };
        let Some(peer_id) = policy::peer_of(*sender_id, *pair) else {
            plans.push(Plan::Refused(AppError::forbidden("not your conversation")));
            continue;
        };
        let key = (*conversation_id, *sender_id, client_id.as_str().to_string());
        if let Some(m) = existing.remove(&key) {
            plans.push(Plan::Duplicate(m, peer_id));
            continue;
        }
        if let Some(index) = fresh_by_key.get(&(*conversation_id, *sender_id, client_id.as_str())) {
            plans.push(Plan::SameAs(*index, peer_id));
            continue;
        }
        if blocks.contains(&(peer_id, *sender_id)) {
            plans.push(Plan::Refused(blocked()));
            continue;
        }
        *counts.entry(*conversation_id).or_default() += 1;
        fresh_by_key.insert(
            (*conversation_id, *sender_id, client_id.as_str()),
            fresh.len(),
        );
        plans.push(Plan::New(fresh.len(), peer_id));
        fresh.push(MessageView {
            conversation_id: *conversation_id,
            seq: 0,
            sender_id: *sender_id,
            client_id: client_id.as_str().to_string(),
            kind: content.kind.into(),
            text: content.body.clone(),
            created_at: now,
            removed_item_id: None,
        });
    }

    if !fresh.is_empty() {
        let mut counts: Vec<(i64, i64)> = counts.into_iter().collect();
        counts.sort_unstable();
        let last = store::take_seqs(&mut tx, backend, &counts, now).await?;
        // Number each conversation's new messages in batch order, ending at its new last_seq.
        let mut next: HashMap<i64, i64> = counts
            .iter()
            .map(|(id, n)| (*id, last.get(id).copied().unwrap_or(0) - n + 1))
            .collect();
        for m in &mut fresh {
            let seq = next.entry(m.conversation_id).or_default();
            m.seq = *seq;
            *seq += 1;
        }
        store::insert_messages(&mut tx, backend, &fresh).await?;
    }
    tx.commit().await?;

    Ok(plans
        .into_iter()
        .map(|plan| match plan {
            Plan::Refused(e) => Err(e),
            Plan::Duplicate(message, peer_id) => Ok(Outcome {
                sent: Sent {
                    message,
                    duplicate: true,
                    held: false,
                },
                peer_id,
            }),
            Plan::New(index, peer_id) => Ok(Outcome {
                sent: Sent {
                    message: fresh[index].clone(),
                    duplicate: false,
                    held: false,
                },
                peer_id,
            }),
            Plan::SameAs(index, peer_id) => Ok(Outcome {
                sent: Sent {
                    message: fresh[index].clone(),
                    duplicate: true,
                    held: false,
                },
                peer_id,
            }),
        })
        .collect())
}

fn blocked() -> AppError {
    AppError::new(
        ErrorCode::Blocked,
        "this user does not accept your messages",
    )
}

/// The peer of `user_id` in the conversation, or `not_found` / `forbidden`.
async fn peer_in(db: &Db, user_id: i64, conversation_id: i64) -> AppResult<i64> {
    let pair = store::members(db, conversation_id)
        .await?
        .ok_or_else(|| AppError::not_found("conversation"))?;
    policy::peer_of(user_id, pair).ok_or_else(|| AppError::forbidden("not your conversation"))
}

/// The peers' presence, as `viewer` may see it: nothing of a peer either of them blocks.
async fn with_presence(
    db: &Db,
    bus: &SharedBus,
    viewer: i64,
    mut conversations: Vec<ConversationView>,
) -> AppResult<Vec<ConversationView>> {
    let hidden = crate::relations::hidden_presence(db, viewer).await?;
    let peers: Vec<i64> = conversations
        .iter()
        .map(|c| c.peer.id)
        .filter(|p| !hidden.contains(p))
        .collect();
    let online = bus.online(peers).await;
    for c in &mut conversations {
        c.peer_online = online.contains(&c.peer.id);
        if hidden.contains(&c.peer.id) {
            c.peer_last_seen_at = None;
        }
    }
    Ok(conversations)
}

impl Actor for ChatServer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

impl Handler<As<Send>> for ChatServer {
    type Result = ResponseFuture<AppResult<Sent>>;

    fn handle(&mut self, msg: As<Send>, ctx: &mut Context<Self>) -> Self::Result {
        let client_id = match ClientId::parse(&msg.body.client_id) {
            Ok(c) => c,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let (sender_id, conversation_id) = (msg.user_id, msg.body.conversation_id);
        match (msg.body.text, msg.body.media_id) {
            (Some(text), None) => match ChatText::parse(&text, self.settings.max_text_chars) {
                Ok(text) => {
                    let verdict = screen_text(&self.keywords.borrow(), text.as_str());
                    match verdict {
                        Verdict::Pass => self.enqueue(
                            ctx,
                            sender_id,
                            conversation_id,
                            client_id,
                            Content::text(text),
                        ),
                        Verdict::Reject(reasons) => {
                            metrics::inc(&METRICS.chat_text_rejected);
                            let e = text_rejected(&reasons);
                            Box::pin(async move { Err(e) })
                        }
                        Verdict::Review(reasons) => {
                            metrics::inc(&METRICS.chat_text_held);
                            let held = HeldText {
                                sender_id,
                                conversation_id,
                                client_id,
                                text,
                                reasons,
                            };
                            let (db, moderation) = (self.db.clone(), self.moderation.clone());
                            Box::pin(async move { hold_text(&db, moderation, held).await })
                        }
                    }
                }
                Err(e) => Box::pin(async move { Err(e) }),
            },
            (None, Some(media_id)) => {
                let (db, me) = (self.db.clone(), ctx.address());
                Box::pin(async move {
                    send_photo(&db, me, sender_id, conversation_id, client_id, media_id).await
                })
            }
            _ => Box::pin(async {
                Err(AppError::field(
                    "text",
                    "give exactly one of `text` and `media_id`",
                ))
            }),
        }
    }
}

impl ChatServer {
    /// Queues a screened send for the next group commit; resolves with its outcome.
    fn enqueue(
        &mut self,
        ctx: &mut Context<Self>,
        sender_id: i64,
        conversation_id: i64,
        client_id: ClientId,
        content: Content,
    ) -> ResponseFuture<AppResult<Sent>> {
        let (reply, answer) = oneshot::channel();
        self.pending.push(PendingSend {
            sender_id,
            conversation_id,
            client_id,
            content,
            reply,
        });
        self.commit_pending(ctx);
        Box::pin(async move {
            answer
                .await
                .unwrap_or_else(|_| Err(AppError::unavailable("chat service stopped")))
        })
    }
}

/// `content_rejected` for a text a rule refuses: the kinds of rule, never what matched (a
/// word list or the detail of a contact rule would teach how to get round it).
fn text_rejected(reasons: &[String]) -> AppError {
    let mut kinds: Vec<&str> = reasons
        .iter()
        .map(|r| r.split(':').next().unwrap_or("rule").trim())
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    AppError::new(
        ErrorCode::ContentRejected,
        format!("refused by moderation ({})", kinds.join(", ")),
    )
}

/// A text a rule holds for a moderator.
struct HeldText {
    sender_id: i64,
    conversation_id: i64,
    client_id: ClientId,
    text: ChatText,
    reasons: Vec<String>,
}

/// Keeps the text (durably) and queues it for a moderator; nothing is delivered and it has no
/// seq until it is approved, when it is sent as any message (`SendScreened`).
async fn hold_text(
    db: &Db,
    moderation: Option<Addr<crate::moderation::ModerationServer>>,
    held: HeldText,
) -> AppResult<Sent> {
    let members = store::members(db, held.conversation_id)
        .await?
        .ok_or_else(|| AppError::not_found("conversation"))?;
    if policy::peer_of(held.sender_id, members).is_none() {
        return Err(AppError::not_found("conversation"));
    }
    let now = now_ms();
    let newly = store::hold_text(
        db,
        held.conversation_id,
        held.sender_id,
        held.client_id.as_str(),
        held.text.as_str(),
        now,
    )
    .await?;
    if newly {
        let moderation =
            moderation.ok_or_else(|| AppError::unavailable("moderation is not running"))?;
        moderation
            .send(crate::moderation::QueueChatText {
                sender_id: held.sender_id,
                conversation_id: held.conversation_id,
                client_id: held.client_id.as_str().to_string(),
                text: held.text.as_str().to_string(),
                reasons: held.reasons,
            })
            .await
            .map_err(|_| AppError::unavailable("moderation unavailable"))??;
    }
    Ok(Sent {
        message: MessageView {
            conversation_id: held.conversation_id,
            seq: 0,
            sender_id: held.sender_id,
            client_id: held.client_id.as_str().to_string(),
            kind: "text".into(),
            text: held.text.as_str().to_string(),
            created_at: now,
            removed_item_id: None,
        },
        duplicate: !newly,
        held: true,
    })
}

/// Who screens what chat holds: set once moderation has started (it needs chat's address).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetModeration(pub Addr<crate::moderation::ModerationServer>);

impl Handler<SetModeration> for ChatServer {
    type Result = ();
    fn handle(&mut self, msg: SetModeration, _: &mut Context<Self>) {
        self.moderation = Some(msg.0);
    }
}

/// A screened message to commit: what a photo message becomes once its photo passes.
#[derive(Message)]
#[rtype(result = "AppResult<Sent>")]
pub struct SendScreened {
    pub sender_id: i64,
    pub conversation_id: i64,
    pub client_id: String,
    pub content: Content,
}

impl Handler<SendScreened> for ChatServer {
    type Result = ResponseFuture<AppResult<Sent>>;

    fn handle(&mut self, msg: SendScreened, ctx: &mut Context<Self>) -> Self::Result {
        match ClientId::parse(&msg.client_id) {
            Ok(client_id) => self.enqueue(
                ctx,
                msg.sender_id,
                msg.conversation_id,
                client_id,
                msg.content,
            ),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
}

/// A photo message: only the sender's own chat photo; sent now when it passed screening,
/// held (no seq, nothing delivered) while a moderator looks at it, refused when rejected.
async fn send_photo(
    db: &Db,
    me: Addr<ChatServer>,
    sender_id: i64,
    conversation_id: i64,
    client_id: ClientId,
    media_id: String,
) -> AppResult<Sent> {
    let media = crate::media::find(db, &media_id)
        .await?
        .filter(|m| m.owner_id == sender_id && m.purpose == "chat_photo")
        .ok_or_else(|| AppError::field("media_id", "not a chat photo of yours"))?;
    match media.status.as_str() {
        "approved" => me
            .send(SendScreened {
                sender_id,
                conversation_id,
                client_id: client_id.as_str().to_string(),
                content: Content::photo(media_id),
            })
            .await
            .map_err(|_| AppError::unavailable("chat service stopped"))?,
        "in_review" => {
            let members = store::members(db, conversation_id)
                .await?
                .ok_or_else(|| AppError::not_found("conversation"))?;
            if policy::peer_of(sender_id, members).is_none() {
                return Err(AppError::forbidden("not your conversation"));
            }
            let now = crate::store::now_ms();
            store::hold_photo(
                db,
                &media_id,
                conversation_id,
                sender_id,
                client_id.as_str(),
                now,
            )
            .await?;
            Ok(Sent {
                message: MessageView {
                    conversation_id,
                    seq: 0,
                    sender_id,
                    client_id: client_id.as_str().to_string(),
                    kind: "photo".into(),
                    text: media_id,
                    created_at: now,
                    removed_item_id: None,
                },
                duplicate: false,
                held: true,
            })
        }
        _ => Err(AppError::new(
            ErrorCode::ContentRejected,
            "this photo was refused by moderation",
        )),
    }
}

impl Handler<As<Open>> for ChatServer {
    type Result = ResponseFuture<AppResult<Opened>>;

    fn handle(&mut self, msg: As<Open>, _: &mut Context<Self>) -> Self::Result {
        let (db, backend, bus) = (self.db.clone(), self.backend, self.bus.clone());
        let accounts = self.accounts.clone();
        let new_per_hour = self.settings.new_conversations_per_hour;
        Box::pin(async move {
            let me = msg.user_id;
            let peer = msg.body.peer_id;
            if peer == me {
                return Err(AppError::field(
                    "peer_id",
                    "cannot open a conversation with yourself",
                ));
            }
            let listing = policy::parse_listing_ref(msg.body.listing_ref.as_deref())?;
            if accounts.find(peer).await?.is_none() {
                return Err(AppError::not_found("user"));
            }
            if crate::relations::is_blocked(&db, peer, me).await? {
                return Err(blocked());
            }
            // Opening an existing conversation is free; new ones are rationed, so that one
            // account cannot open hundreds of threads with a victim (one per listing ref).
            let pair = policy::ordered_pair(me, peer);
            if !store::conversation_exists(&db, pair, &listing).await? {
                let key = format!("chat:open:{me}");
                let limit = crate::store::rate::Limit::per_hour(new_per_hour);
                if let Some(wait) = crate::store::rate::hit(&db, &key, limit, now_ms()).await? {
                    return Err(AppError::new(
                        ErrorCode::RateLimited,
                        "too many new conversations; try again later",
                    )
                    .retry_after(wait));
                }
            }
            let mut tx = begin_write(&db, backend).await?;
            let (id, created) = store::open_conversation(
                &mut tx,
                policy::ordered_pair(me, peer),
                &listing,
                now_ms(),
            )
            .await?;
            tx.commit().await?;
            let view = store::conversation_for(&db, me, id)
                .await?
                .ok_or_else(|| AppError::not_found("conversation"))?;
            let conversation = with_presence(&db, &bus, me, vec![view])
                .await?
                .pop()
                .ok_or_else(|| AppError::not_found("conversation"))?;
            Ok(Opened {
                conversation,
                created,
            })
        })
    }
}

impl Handler<As<List>> for ChatServer {
    type Result = ResponseFuture<AppResult<Conversations>>;

    fn handle(&mut self, msg: As<List>, _: &mut Context<Self>) -> Self::Result {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        let mut budget = ReplyBudget::new(self.reply_max_bytes);
        Box::pin(async move {
            let limit = msg.body.limit.unwrap_or(50).clamp(1, 200);
            let before = msg.body.before.unwrap_or(i64::MAX);
            let before_id = msg.body.before_id.unwrap_or(i64::MAX);
            let mut list =
                store::conversations_for(&db, msg.user_id, (before, before_id), limit + 1).await?;
            let mut more = list.len() as i64 > limit;
            list.truncate(limit as usize);
            let mut conversations = with_presence(&db, &bus, msg.user_id, list).await?;
            if let Some(fits) = conversations.iter().position(|c| !budget.take(c)) {
                conversations.truncate(fits);
                more = true;
            }
            Ok(Conversations {
                conversations,
                more,
            })
        })
    }
}

impl Handler<As<History>> for ChatServer {
    type Result = ResponseFuture<AppResult<Page>>;

    fn handle(&mut self, msg: As<History>, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let page_max = self.settings.page_max;
        let mut budget = ReplyBudget::new(self.reply_max_bytes);
        Box::pin(async move {
            let b = msg.body;
            peer_in(&db, msg.user_id, b.conversation_id).await?;
            let limit = b.limit.unwrap_or(50).clamp(1, page_max);
            let before = b.before_seq.unwrap_or(i64::MAX);
            let mut messages = store::history(&db, b.conversation_id, before, limit + 1).await?;
            let mut more = messages.len() as i64 > limit;
            messages.truncate(limit as usize);
            if let Some(fits) = messages.iter().position(|m| !budget.take(m)) {
                messages.truncate(fits);
                more = true;
            }
            Ok(Page { messages, more })
        })
    }
}

impl Handler<As<ListHeld>> for ChatServer {
    type Result = ResponseFuture<AppResult<HeldTexts>>;

    fn handle(&mut self, msg: As<ListHeld>, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let mut budget = ReplyBudget::new(self.reply_max_bytes);
        Box::pin(async move {
            let conversation_id = msg.body.conversation_id;
            peer_in(&db, msg.user_id, conversation_id).await?;
            let mut held = store::held_texts_in(&db, conversation_id, msg.user_id).await?;
            if let Some(fits) = held.iter().position(|h| !budget.take(h)) {
                held.truncate(fits);
            }
            Ok(HeldTexts {
                conversation_id,
                held,
            })
        })
    }
}

impl Handler<As<Sync>> for ChatServer {
    type Result = ResponseFuture<AppResult<Synced>>;

    fn handle(&mut self, msg: As<Sync>, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let sync_max = self.settings.sync_max;
        let mut budget = ReplyBudget::new(self.reply_max_bytes);
        Box::pin(async move {
            if msg.body.cursors.len() > SYNC_MAX_CURSORS {
                return Err(AppError::field(
                    "cursors",
                    "at most 100 conversations per sync",
                ));
            }
            let mut cursors = Vec::with_capacity(msg.body.cursors.len());
            for (key, after) in &msg.body.cursors {
                let id: i64 = key
                    .parse()
                    .map_err(|_| AppError::field("cursors", "keys must be conversation ids"))?;
                cursors.push((id, (*after).max(0)));
            }
            cursors.sort_unstable();
            let limit = msg.body.limit.unwrap_or(sync_max).clamp(1, sync_max);
            let mut results = Vec::with_capacity(cursors.len());
            for (conversation_id, after) in cursors {
                peer_in(&db, msg.user_id, conversation_id).await?;
                // Conversations past the budget are answered `more` without being read: the
                // client asks again from the same cursor.
                let (messages, more) = if budget.spent() || !budget.take_bytes(SYNC_STREAM_BYTES) {
                    (Vec::new(), true)
                } else {
                    after_within(&db, conversation_id, after, limit, &mut budget).await?
                };
                results.push(SyncStream {
                    conversation_id,
                    messages,
                    more,
                });
            }
            Ok(Synced { results })
        })
    }
}

/// Up to `limit` messages after `after`, oldest first, as many as fit in `budget`; and whether
/// there are more.
async fn after_within(
    db: &Db,
    conversation_id: i64,
    mut after: i64,
    limit: i64,
    budget: &mut ReplyBudget,
) -> AppResult<(Vec<MessageView>, bool)> {
    let mut out = Vec::new();
    loop {
        let want = (limit - out.len() as i64).min(SYNC_READ_CHUNK);
        let rows = store::after(db, conversation_id, after, want + 1).await?;
        let read_more = rows.len() as i64 > want;
        for m in rows.into_iter().take(want as usize) {
            if !budget.take(&m) {
                return Ok((out, true));
            }
            after = m.seq;
            out.push(m);
        }
        if !read_more {
            return Ok((out, false));
        }
        if out.len() as i64 >= limit {
            return Ok((out, true));
        }
    }
}

impl Handler<As<MarkRead>> for ChatServer {
    type Result = ResponseFuture<AppResult<ReadUpTo>>;

    fn handle(&mut self, msg: As<MarkRead>, _: &mut Context<Self>) -> Self::Result {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        Box::pin(async move {
            let b = msg.body;
            let peer = peer_in(&db, msg.user_id, b.conversation_id).await?;
            if b.seq < 0 {
                return Err(AppError::field("seq", "must not be negative"));
            }
            let (last_read_seq, moved) =
                store::mark_read(&db, b.conversation_id, msg.user_id, b.seq).await?;
            if moved {
                let data = serde_json::json!({
                    "conversation_id": b.conversation_id,
                    "user_id": msg.user_id,
                    "seq": last_read_seq,
                });
                bus.publish(
                    Audience::Users(vec![msg.user_id, peer]),
                    Delivery::Event(EventFrame::new("chat.read", &data, None)),
                );
            }
            Ok(ReadUpTo { last_read_seq })
        })
    }
}

impl Handler<As<Recall>> for ChatServer {
    type Result = ResponseFuture<AppResult<Recalled>>;

    /// The message becomes a `recalled` notice for both sides at once (`chat.recalled` to
    /// every device); its text, and a photo's picture, are deleted from storage.
    fn handle(&mut self, msg: As<Recall>, _: &mut Context<Self>) -> Self::Result {
        let (db, bus, blobs) = (self.db.clone(), self.bus.clone(), self.blobs.clone());
        let window = self.settings.recall_window_ms;
        Box::pin(async move {
            let Recall {
                conversation_id,
                seq,
            } = msg.body;
            let peer = peer_in(&db, msg.user_id, conversation_id).await?;
            let target = store::recall_target(&db, conversation_id, seq)
                .await?
                .ok_or_else(|| AppError::not_found("message"))?;
            if target.sender_id != msg.user_id {
                return Err(AppError::forbidden(
                    "only your own messages can be recalled",
                ));
            }
            let gone = || {
                AppError::new(
                    ErrorCode::Conflict,
                    "this message is already recalled or taken down",
                )
            };
            if !matches!(target.kind.as_str(), "text" | "photo") {
                return Err(gone());
            }
            if now_ms() - target.created_at > window {
                return Err(AppError::new(
                    ErrorCode::RecallExpired,
                    "the time to recall this message has passed",
                ));
            }
            if !store::recall(&db, conversation_id, seq).await? {
                return Err(gone());
            }
            if target.kind == "photo" && !store::photo_in_use(&db, &target.body).await? {
                crate::media::discard(&db, &blobs, &target.body).await?;
            }
            let data = serde_json::json!({ "conversation_id": conversation_id, "seq": seq });
            bus.publish(
                Audience::Users(vec![msg.user_id, peer]),
                Delivery::Event(EventFrame::new("chat.recalled", &data, None)),
            );
            Ok(Recalled {
                conversation_id,
                seq,
            })
        })
    }
}

impl Handler<As<Typing>> for ChatServer {
    type Result = ResponseFuture<AppResult<TypingRelayed>>;

    fn handle(&mut self, msg: As<Typing>, _: &mut Context<Self>) -> Self::Result {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        Box::pin(async move {
            let conversation_id = msg.body.conversation_id;
            let peer = peer_in(&db, msg.user_id, conversation_id).await?;
            if crate::relations::is_blocked(&db, peer, msg.user_id).await? {
                return Err(blocked());
            }
            let data =
                serde_json::json!({ "conversation_id": conversation_id, "user_id": msg.user_id });
            bus.publish(
                Audience::User(peer),
                Delivery::Event(EventFrame::new("chat.typing", &data, None)),
            );
            Ok(TypingRelayed { delivered: true })
        })
    }
}

impl Handler<As<PresenceQuery>> for ChatServer {
    type Result = ResponseFuture<AppResult<Presences>>;

    fn handle(&mut self, msg: As<PresenceQuery>, _: &mut Context<Self>) -> Self::Result {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        Box::pin(async move {
            let mut ids = msg.body.user_ids;
            if ids.len() > PRESENCE_MAX_USERS {
                return Err(AppError::field("user_ids", "at most 200 users"));
            }
            ids.sort_unstable();
            ids.dedup();
            // Someone either side blocks shows as offline, never seen.
            let hidden = crate::relations::hidden_presence(&db, msg.user_id).await?;
            let visible: Vec<i64> = ids
                .iter()
                .copied()
                .filter(|u| !hidden.contains(u))
                .collect();
            let online = bus.online(visible).await;
            let presence = store::last_seen(&db, &ids)
                .await?
                .into_iter()
                .map(|(user_id, last_seen_at)| PresenceView {
                    user_id,
                    online: online.contains(&user_id),
                    last_seen_at: last_seen_at.filter(|_| !hidden.contains(&user_id)),
                })
                .collect();
            Ok(Presences { presence })
        })
    }
}

impl Handler<PresenceChanged> for ChatServer {
    type Result = ();

    /// A user's first socket on this node opened, or their last one closed and the presence
    /// grace period ran out (the registry waits it out; a user back within it is no news).
    fn handle(&mut self, msg: PresenceChanged, ctx: &mut Context<Self>) {
        self.announce_presence(msg.user_id, msg.online, ctx);
    }
}

impl ChatServer {
    /// Tells a user's partners that they came online or went offline (recording `last_seen_at`
    /// for the latter), unless another node's sockets make it no news.
    fn announce_presence(&mut self, user_id: i64, online: bool, ctx: &mut Context<Self>) {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        let accounts = self.accounts.clone();
        let fut = async move {
            let now = now_ms();
            let result: anyhow::Result<()> = async {
                // For online: is the user already on another node? For offline: is the user
                // still on another node, or back on this one?
                let still_or_already = if online {
                    bus.online_elsewhere(vec![user_id]).await
                } else {
                    bus.online(vec![user_id]).await
                };
                if still_or_already.contains(&user_id) {
                    return Ok(());
                }
                if !online {
                    accounts
                        .seen(user_id, now)
                        .await
                        .map_err(|e| anyhow::anyhow!(e.message))?;
                }
                let hidden = crate::relations::hidden_presence(&db, user_id)
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                let mut partners = store::partners(&db, user_id).await?;
                partners.retain(|p| !hidden.contains(p));
                if partners.is_empty() {
                    return Ok(());
                }
                let last_seen = store::last_seen(&db, &[user_id]).await?;
                let data = PresenceView {
                    user_id,
                    online,
                    last_seen_at: last_seen.first().and_then(|(_, t)| *t),
                };
                bus.publish(
                    Audience::Users(partners),
                    Delivery::Event(EventFrame::new("presence", &data, None)),
                );
                Ok(())
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(error = format!("{e:#}"), user_id, "presence update failed");
            }
        };
        ctx.spawn(fut.into_actor(self));
    }
}

pub type ChatAddr = Addr<ChatServer>;

/// Whether no send is waiting or being committed; shutdown waits for this.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct IsIdle;

impl Handler<IsIdle> for ChatServer {
    type Result = bool;

    fn handle(&mut self, _: IsIdle, _: &mut Context<Self>) -> bool {
        !self.committing && self.pending.is_empty()
    }
}
