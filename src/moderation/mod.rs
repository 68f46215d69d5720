//! Moderation (policy: 审核): everything users publish is screened before anyone else sees
//! it. Pure rules in [`policy`]; [`ModerationServer`] (one actor per node) runs them, keeps the
//! queue in the database and drives the moderators' live console over `/ws`.
//!
//! Screening: a rule's `Reject` refuses the content at once (`content_rejected`), `Review`
//! queues it and holds it back until a moderator decides, `Pass` lets it through. Queue
//! changes are published to every subscribed console on every node (`Audience::Topic(Topic::consoles())`).
//! Claims are leases: one conditional statement decides a race, and a lease that runs out
//! returns the item to the queue (swept every `DUOXIE_MODERATION_LEASE_CHECK_MS` on each node;
//! the statement makes the sweep idempotent across nodes). The keyword list reloads itself
//! when its file changes.

pub mod commands;
pub mod pictures;
pub mod policy;
pub mod rights;
pub mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::bus::{Audience, Delivery, EventFrame, SharedBus};
use crate::config::ModerationSettings;
use crate::domain::As;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::media::blob::BlobStore;
use crate::media::fingerprint::Fingerprint;
use crate::store::{now_ms, Db};
use policy::{Keywords, Verdict};

pub struct ModerationServer {
    db: Db,
    bus: SharedBus,
    /// Where held photo messages go once their photo is approved.
    chat: Addr<crate::chat::ChatServer>,
    settings: ModerationSettings,
    keywords: Arc<Keywords>,
    keywords_loaded: Option<SystemTime>,
    /// Hands every loaded list to chat, which screens texts in its send path.
    keywords_out: tokio::sync::watch::Sender<Arc<Keywords>>,
    /// Where a blocklisted picture is read from when it must be hashed again.
    blobs: Arc<dyn BlobStore>,
}

/// The keyword list from its file, or the built-in one.
fn load_keywords(file: Option<&PathBuf>) -> anyhow::Result<(Keywords, Option<SystemTime>)> {
    match file {
        None => Ok((
            Keywords::parse(policy::DEFAULT_KEYWORDS).map_err(anyhow::Error::msg)?,
            None,
        )),
        Some(path) => {
            let modified = std::fs::metadata(path)?.modified()?;
            let text = std::fs::read_to_string(path)?;
            let keywords =
                Keywords::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Ok((keywords, Some(modified)))
        }
    }
}

impl ModerationServer {
    /// Fails when the configured keyword file is missing or invalid: better than starting
    /// without the list the operator asked for.
    pub fn new(
        db: Db,
        bus: SharedBus,
        chat: Addr<crate::chat::ChatServer>,
        settings: ModerationSettings,
        keywords_out: tokio::sync::watch::Sender<Arc<Keywords>>,
        blobs: Arc<dyn BlobStore>,
    ) -> anyhow::Result<Self> {
        let (keywords, keywords_loaded) = load_keywords(settings.keywords_file.as_ref())
            .map_err(|e| anyhow::anyhow!("invalid setting DUOXIE_MODERATION_KEYWORDS_FILE: {e}"))?;
        tracing::info!(keywords = keywords.len(), "moderation keywords loaded");
        let keywords = Arc::new(keywords);
        keywords_out.send_replace(keywords.clone());
        Ok(Self {
            db,
            bus,
            chat,
            settings,
            keywords,
            keywords_loaded,
            keywords_out,
            blobs,
        })
    }

    fn reload_keywords_if_changed(&mut self) {
        let Some(path) = &self.settings.keywords_file else {
            return;
        };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified.is_none() || modified == self.keywords_loaded {
            return;
        }
        match load_keywords(Some(path)) {
            Ok((keywords, loaded)) => {
                tracing::info!(keywords = keywords.len(), "moderation keywords reloaded");
                self.keywords = Arc::new(keywords);
                self.keywords_out.send_replace(self.keywords.clone());
                self.keywords_loaded = loaded;
            }
            Err(e) => {
                // Keep screening with the previous list rather than with none.
                tracing::warn!(error = %e, "keyword file invalid; keeping the previous list");
                self.keywords_loaded = modified;
            }
        }
    }

    fn sweep_leases(&mut self, ctx: &mut Context<Self>) {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        ctx.spawn(
            async move {
                match store::expire_leases(&db, now_ms()).await {
                    Ok(ids) => {
                        for id in ids {
                            console(
                                &bus,
                                "mod.released",
                                &json!({ "item_id": id, "why": "lease expired" }),
                            );
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "lease sweep failed"),
                }
            }
            .into_actor(self),
        );
    }
}

impl Actor for ModerationServer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let every = Duration::from_millis(self.settings.lease_check_ms);
        ctx.run_interval(every, |act, ctx| {
            act.reload_keywords_if_changed();
            act.sweep_leases(ctx);
        });
    }
}

fn console(bus: &SharedBus, kind: &str, data: &impl Serialize) {
    bus.publish(
        Audience::Topic(crate::bus::Topic::consoles()),
        Delivery::Event(EventFrame::new(kind, data, None)),
    );
}

/// Moderators and admins work the queue; everyone else is refused.
async fn require_moderator(db: &Db, user_id: i64) -> AppResult<()> {
    let roles = crate::auth::store::roles_of(db, user_id).await?;
    if roles.iter().any(|r| r == "moderator" || r == "admin") {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "only moderators use the moderation console",
        ))
    }
}

fn rejected(reasons: &[String]) -> AppError {
    AppError::new(
        ErrorCode::ContentRejected,
        format!("refused by moderation: {}", reasons.join("; ")),
    )
}

// ---- Screening (called by the domains) ----

/// Which profile text is screened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileField {
    Nickname,
    Intro,
}

impl ProfileField {
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileField::Nickname => "nickname",
            ProfileField::Intro => "intro",
        }
    }
}

/// Screens profile text: `Ok(true)` when it may be shown now, `Ok(false)` when it waits for a
/// moderator (queued), `content_rejected` when a rule refuses it.
#[derive(Message)]
#[rtype(result = "AppResult<bool>")]
pub struct ScreenProfileText {
    pub user_id: i64,
    pub field: ProfileField,
    pub text: String,
}

impl Handler<ScreenProfileText> for ModerationServer {
    type Result = ResponseFuture<AppResult<bool>>;

    fn handle(&mut self, msg: ScreenProfileText, _: &mut Context<Self>) -> Self::Result {
        let verdict = policy::screen_text(&self.keywords, &msg.text);
        let (db, bus) = (self.db.clone(), self.bus.clone());
        Box::pin(async move {
            match verdict {
                Verdict::Pass => Ok(true),
                Verdict::Reject(reasons) => Err(rejected(&reasons)),
                Verdict::Review(reasons) => {
                    let kind = msg.field.as_str();
                    queue_for_review(&db, &bus, kind, msg.user_id, "", &msg.text, &reasons).await?;
                    Ok(false)
                }
            }
        })
    }
}

/// Screens an uploaded picture by its fingerprint against the blocklist: `Ok(None)` to
/// show it now, `Ok(Some(reasons))` to hold it for a moderator, `content_rejected`.
#[derive(Message)]
#[rtype(result = "AppResult<Option<Vec<String>>>")]
pub struct ScreenImage {
    pub fingerprint: Fingerprint,
}

impl Handler<ScreenImage> for ModerationServer {
    type Result = ResponseFuture<AppResult<Option<Vec<String>>>>;

    fn handle(&mut self, msg: ScreenImage, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let thresholds = policy::PictureMatch::from(&self.settings);
        Box::pin(async move {
            let blocklist = store::blocklisted_pictures(&db).await?;
            match policy::screen_image(&msg.fingerprint, &blocklist, &thresholds) {
                Verdict::Reject(reasons) => Err(rejected(&reasons)),
                Verdict::Review(reasons) => Ok(Some(reasons)),
                Verdict::Pass => Ok(None),
            }
        })
    }
}

/// Queues content that screening held for a moderator (priority 1) and shows it on every
/// console; answers the item's id.
async fn queue_for_review(
    db: &Db,
    bus: &SharedBus,
    kind: &str,
    subject_id: i64,
    content_ref: &str,
    content: &str,
    reasons: &[String],
) -> AppResult<i64> {
    let item = store::enqueue(
        db,
        &store::NewItem {
            kind,
            subject_id,
            content_ref,
            content,
            reasons,
            priority: 1,
            now: now_ms(),
            reporter_id: None,
        },
    )
    .await?;
    console(bus, "mod.item", &item);
    Ok(item.id)
}

/// Puts a chat text that a rule held in front of a person (`chat_text`); chat keeps the text
/// in `held_texts` until the decision.
#[derive(Message)]
#[rtype(result = "AppResult<i64>")]
pub struct QueueChatText {
    pub sender_id: i64,
    pub conversation_id: i64,
    pub client_id: String,
    pub text: String,
    pub reasons: Vec<String>,
}

impl Handler<QueueChatText> for ModerationServer {
    type Result = ResponseFuture<AppResult<i64>>;

    fn handle(&mut self, msg: QueueChatText, _: &mut Context<Self>) -> Self::Result {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        Box::pin(async move {
            let content_ref = format!("{}:{}", msg.conversation_id, msg.client_id);
            queue_for_review(
                &db,
                &bus,
                "chat_text",
                msg.sender_id,
                &content_ref,
                &msg.text,
                &msg.reasons,
            )
            .await
        })
    }
}

/// Puts an upload in front of a person (videos always).
#[derive(Message)]
#[rtype(result = "AppResult<i64>")]
pub struct QueueMedia {
    pub user_id: i64,
    pub media_id: String,
    pub reason: String,
}

impl Handler<QueueMedia> for ModerationServer {
    type Result = ResponseFuture<AppResult<i64>>;

    fn handle(&mut self, msg: QueueMedia, _: &mut Context<Self>) -> Self::Result {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        Box::pin(async move {
            let content = format!("/api/media/{}/content", msg.media_id);
            queue_for_review(
                &db,
                &bus,
                "media",
                msg.user_id,
                &msg.media_id,
                &content,
                &[msg.reason],
            )
            .await
        })
    }
}

// ---- The console (moderators, over /ws) ----

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Subscribe {}

/// The role check of `mod.subscribe`.
#[derive(Debug, Serialize)]
pub struct Subscribed {
    pub subscribed: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct QueueSnapshot {}

#[derive(Debug, Serialize)]
pub struct Queue {
    pub items: Vec<store::Item>,
    pub lease_ms: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub item_id: i64,
}

#[derive(Debug, Serialize)]
pub struct Claimed {
    pub item: store::Item,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub item_id: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
    /// Reject, and refuse this picture (and near-duplicates) on sight from now on.
    RejectAndBlock,
}

impl Decision {
    fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
            Decision::RejectAndBlock => "reject_and_block",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decide {
    pub item_id: i64,
    pub decision: Decision,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Decided {
    pub item_id: i64,
    pub decision: Decision,
}

crate::command!(Subscribe => Subscribed);
crate::command!(QueueSnapshot => Queue);
crate::command!(Claim => Claimed);
crate::command!(Release => Claimed);
crate::command!(Decide => Decided);

impl Handler<As<Subscribe>> for ModerationServer {
    type Result = ResponseFuture<AppResult<Subscribed>>;

    fn handle(&mut self, msg: As<Subscribe>, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        Box::pin(async move {
            require_moderator(&db, msg.user_id).await?;
            Ok(Subscribed { subscribed: true })
        })
    }
}

impl Handler<As<QueueSnapshot>> for ModerationServer {
    type Result = ResponseFuture<AppResult<Queue>>;

    fn handle(&mut self, msg: As<QueueSnapshot>, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let lease_ms = self.settings.claim_lease_ms;
        Box::pin(async move {
            require_moderator(&db, msg.user_id).await?;
            Ok(Queue {
                items: store::open_items(&db, 500).await?,
                lease_ms,
            })
        })
    }
}

impl Handler<As<Claim>> for ModerationServer {
    type Result = ResponseFuture<AppResult<Claimed>>;

    fn handle(&mut self, msg: As<Claim>, _: &mut Context<Self>) -> Self::Result {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        let lease = self.settings.claim_lease_ms;
        Box::pin(async move {
            require_moderator(&db, msg.user_id).await?;
            let id = msg.body.item_id;
            let now = now_ms();
            if !store::claim(&db, id, msg.user_id, now, now + lease).await? {
                return Err(match store::item(&db, id).await? {
                    None => AppError::not_found("item"),
                    Some(_) => AppError::new(
                        ErrorCode::Conflict,
                        "another moderator holds this item, or it is decided",
                    ),
                });
            }
            let item = store::item(&db, id)
                .await?
                .ok_or_else(|| AppError::not_found("item"))?;
            console(
                &bus,
                "mod.claimed",
                &json!({ "item_id": id, "by": msg.user_id, "until": item.claim_expires_at }),
            );
            Ok(Claimed { item })
        })
    }
}

impl Handler<As<Release>> for ModerationServer {
    type Result = ResponseFuture<AppResult<Claimed>>;

    fn handle(&mut self, msg: As<Release>, _: &mut Context<Self>) -> Self::Result {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        Box::pin(async move {
            require_moderator(&db, msg.user_id).await?;
            let id = msg.body.item_id;
            if !store::release(&db, id, msg.user_id).await? {
                return Err(AppError::new(
                    ErrorCode::Conflict,
                    "you do not hold this item",
                ));
            }
            console(
                &bus,
                "mod.released",
                &json!({ "item_id": id, "why": "released" }),
            );
            let item = store::item(&db, id)
                .await?
                .ok_or_else(|| AppError::not_found("item"))?;
            Ok(Claimed { item })
        })
    }
}

impl Handler<As<Decide>> for ModerationServer {
    type Result = ResponseFuture<AppResult<Decided>>;

    fn handle(&mut self, msg: As<Decide>, _: &mut Context<Self>) -> Self::Result {
        let (db, bus, chat) = (self.db.clone(), self.bus.clone(), self.chat.clone());
        let blobs = self.blobs.clone();
        Box::pin(async move {
            require_moderator(&db, msg.user_id).await?;
            let Decide {
                item_id,
                decision,
                reason,
            } = msg.body;
            let reason = reason.trim().chars().take(500).collect::<String>();
            if decision != Decision::Approve && reason.is_empty() {
                return Err(AppError::field("reason", "say why it is rejected"));
            }
            let item = store::item(&db, item_id)
                .await?
                .ok_or_else(|| AppError::not_found("item"))?;
            if item.subject_id == msg.user_id {
                return Err(AppError::forbidden(
                    "nobody decides on their own content; another moderator will",
                ));
            }
            if is_admin(&db, item.subject_id).await? && !is_admin(&db, msg.user_id).await? {
                return Err(AppError::forbidden(
                    "only an admin decides on an admin's content",
                ));
            }
            let now = now_ms();
            if !store::decide(&db, item_id, msg.user_id, decision.as_str(), &reason, now).await? {
                return Err(AppError::new(
                    ErrorCode::Conflict,
                    "claim the item first (or your lease ran out)",
                ));
            }
            apply(&db, &bus, &chat, &blobs, &item, decision, &reason, now).await?;
            crate::metrics::METRICS
                .moderation_decision_seconds
                .observe(Duration::from_millis((now - item.created_at).max(0) as u64));
            store::audit(
                &db,
                msg.user_id,
                decision.as_str(),
                Some(item_id),
                Some(item.subject_id),
                &reason,
                now,
            )
            .await?;
            tracing::info!(
                item_id,
                moderator = msg.user_id,
                decision = decision.as_str(),
                "moderation decision"
            );
            console(
                &bus,
                "mod.decided",
                &json!({ "item_id": item_id, "decision": decision, "by": msg.user_id }),
            );
            // The author sees the outcome live.
            bus.publish(
                Audience::User(item.subject_id),
                Delivery::Event(EventFrame::new(
                    "moderation.decided",
                    &json!({
                        "item_id": item_id, "kind": item.kind, "ref": item.content_ref,
                        "decision": decision, "reason": reason,
                    }),
                    None,
                )),
            );
            Ok(Decided { item_id, decision })
        })
    }
}

/// What a decision does to the content it is about.
#[allow(clippy::too_many_arguments)]
async fn apply(
    db: &Db,
    bus: &SharedBus,
    chat: &Addr<crate::chat::ChatServer>,
    blobs: &Arc<dyn BlobStore>,
    item: &store::Item,
    decision: Decision,
    reason: &str,
    now: i64,
) -> AppResult<()> {
    let approved = decision == Decision::Approve;
    match item.kind.as_str() {
        "nickname" | "intro" if approved => {
            let update = crate::auth::store::ProfileUpdate {
                nickname: (item.kind == "nickname").then_some(item.content.as_str()),
                avatar: None,
                gender: None,
                intro: (item.kind == "intro").then_some(item.content.as_str()),
            };
            crate::auth::store::update_profile(db, item.subject_id, &update).await?;
        }
        // A report upheld (rejected content) takes the content down; dismissed, nothing changes.
        "report_message" if !approved => {
            if let Some((conv, seq)) = item.content_ref.split_once(':') {
                if let (Ok(conv), Ok(seq)) = (conv.parse(), seq.parse()) {
                    crate::chat::store::remove_message(db, conv, seq, item.id).await?;
                    announce_removed(db, bus, conv, seq, item.id).await?;
                }
            }
            // A photo message's text is its picture: taken down everywhere it was sent, and
            // blocklisted from the same card when the moderator says so.
            if crate::media::store::by_id(db, &item.content)
                .await?
                .is_some()
            {
                take_down_picture(db, bus, &item.content, item.id).await?;
                if decision == Decision::RejectAndBlock {
                    pictures::block(db, blobs, &item.content, reason, now).await?;
                }
            }
        }
        // A held chat text: sent now as any message (its seq taken now), or dropped; the
        // sender has `moderation.decided` either way.
        "chat_text" => {
            let Some((conversation, client_id)) = item.content_ref.split_once(':') else {
                return Ok(());
            };
            let Ok(conversation_id) = conversation.parse::<i64>() else {
                return Ok(());
            };
            let held =
                crate::chat::store::take_held_text(db, conversation_id, item.subject_id, client_id)
                    .await?;
            if let (Some(body), true) = (held, approved) {
                let sent = chat
                    .send(crate::chat::SendScreened {
                        sender_id: item.subject_id,
                        conversation_id,
                        client_id: client_id.to_string(),
                        content: crate::chat::policy::Content { kind: "text", body },
                    })
                    .await
                    .map_err(|_| AppError::unavailable("chat service stopped"))?;
                if let Err(e) = sent {
                    tracing::warn!(error = %e.message, "a held chat text could not be sent");
                }
            }
        }
        "report_user" if !approved => {
            let update = crate::auth::store::ProfileUpdate {
                nickname: Some(&format!("用户{}", item.subject_id)),
                avatar: Some(None),
                gender: None,
                intro: Some(""),
            };
            crate::auth::store::update_profile(db, item.subject_id, &update).await?;
        }
        // An appeal upheld applies the original content after all.
        "appeal" if approved => {
            if let Some(original) = match item.content_ref.parse() {
                Ok(id) => store::item(db, id).await?,
                Err(_) => None,
            } {
                Box::pin(apply(
                    db,
                    bus,
                    chat,
                    blobs,
                    &original,
                    Decision::Approve,
                    reason,
                    now,
                ))
                .await?;
            }
        }
        // A report upheld takes the picture down (and may block it); dismissed, the picture
        // keeps the state its own screening gave it: a report never approves anything.
        "report_media" if !approved => {
            take_down_picture(db, bus, &item.content_ref, item.id).await?;
            if decision == Decision::RejectAndBlock {
                pictures::block(db, blobs, &item.content_ref, reason, now).await?;
            }
        }
        "media" => {
            let status = if approved { "approved" } else { "rejected" };
            crate::media::store::set_status(db, &item.content_ref, status).await?;
            // Photo messages held for this picture: sent now, or dropped (the sender has
            // `moderation.decided` naming the photo).
            for (conversation_id, sender_id, client_id) in
                crate::chat::store::take_held_photos(db, &item.content_ref).await?
            {
                if approved {
                    let sent = chat
                        .send(crate::chat::SendScreened {
                            sender_id,
                            conversation_id,
                            client_id,
                            content: crate::chat::policy::Content::photo(item.content_ref.clone()),
                        })
                        .await
                        .map_err(|_| AppError::unavailable("chat service stopped"))?;
                    if let Err(e) = sent {
                        tracing::warn!(error = %e.message, "a held photo message could not be sent");
                    }
                }
            }
            if decision == Decision::RejectAndBlock {
                pictures::block(db, blobs, &item.content_ref, reason, now).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Hides a picture from everyone but its owner and staff, and takes down every photo message
/// that carries it (`chat.removed` to both sides of each).
async fn take_down_picture(
    db: &Db,
    bus: &SharedBus,
    media_id: &str,
    item_id: i64,
) -> AppResult<()> {
    crate::media::store::set_status(db, media_id, "rejected").await?;
    for (conv, seq) in crate::chat::store::remove_photo_messages(db, media_id, item_id).await? {
        announce_removed(db, bus, conv, seq, item_id).await?;
    }
    Ok(())
}

/// `chat.removed` to both participants; `item_id` is the decision the author may appeal.
async fn announce_removed(
    db: &Db,
    bus: &SharedBus,
    conversation_id: i64,
    seq: i64,
    item_id: i64,
) -> AppResult<()> {
    if let Some((a, b)) = crate::chat::store::members(db, conversation_id).await? {
        bus.publish(
            Audience::Users(vec![a, b]),
            Delivery::Event(EventFrame::new(
                "chat.removed",
                &json!({ "conversation_id": conversation_id, "seq": seq, "item_id": item_id }),
                None,
            )),
        );
    }
    Ok(())
}

// ---- Actions on users ----

/// Close code for the sockets of a suspended account.
pub const CLOSE_SUSPENDED: u16 = 4005;
/// The longest timed sanction: `now + duration` must stay far from `i64::MAX`.
const MAX_SANCTION_MS: i64 = 10 * 365 * 86_400_000;

async fn is_admin(db: &Db, user_id: i64) -> AppResult<bool> {
    Ok(crate::auth::store::roles_of(db, user_id)
        .await?
        .iter()
        .any(|r| r == "admin"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAction {
    Warn,
    Mute,
    Suspend,
    /// Lifts every active mute and suspension.
    Lift,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Act {
    pub user_id: i64,
    pub action: UserAction,
    /// Required for a mute; optional for a suspension (none: until lifted).
    #[serde(default)]
    pub duration_ms: Option<i64>,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Acted {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sanction: Option<store::Sanction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifted: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuditLog {
    #[serde(default)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct AuditEntries {
    pub entries: Vec<store::AuditEntry>,
}

crate::command!(Act => Acted);
crate::command!(AuditLog => AuditEntries);

impl Handler<As<Act>> for ModerationServer {
    type Result = ResponseFuture<AppResult<Acted>>;

    /// Warn, mute, suspend or lift, effective at once on every node, and audited.
    fn handle(&mut self, msg: As<Act>, _: &mut Context<Self>) -> Self::Result {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        Box::pin(async move {
            require_moderator(&db, msg.user_id).await?;
            let Act {
                user_id,
                action,
                duration_ms,
                reason,
            } = msg.body;
            let reason = reason.trim().chars().take(500).collect::<String>();
            if reason.is_empty() {
                return Err(AppError::field("reason", "say why"));
            }
            if user_id == msg.user_id {
                return Err(AppError::forbidden("moderators do not act on themselves"));
            }
            crate::auth::store::user_by_id(&db, user_id)
                .await?
                .ok_or_else(|| AppError::not_found("user"))?;
            if let Some(d) = duration_ms {
                if !(1..=MAX_SANCTION_MS).contains(&d) {
                    return Err(AppError::field(
                        "duration_ms",
                        "must be positive and at most 10 years (a suspension without a \
                         duration lasts until lifted)",
                    ));
                }
            }
            // A moderator's powers stop at a higher role: only an admin acts on an admin.
            let target_roles = crate::auth::store::roles_of(&db, user_id).await?;
            if target_roles.iter().any(|r| r == "admin") && !is_admin(&db, msg.user_id).await? {
                return Err(AppError::forbidden("only an admin acts on an admin"));
            }
            let now = now_ms();
            let user = Audience::User(user_id);
            let tell = |kind: &str, data: serde_json::Value| {
                bus.publish(
                    user.clone(),
                    Delivery::Event(EventFrame::new(kind, &data, None)),
                );
            };
            let acted = match action {
                UserAction::Warn => {
                    let s =
                        store::add_sanction(&db, user_id, "warn", None, &reason, msg.user_id, now)
                            .await?;
                    tell("moderation.warning", json!({ "reason": reason }));
                    Acted {
                        sanction: Some(s),
                        lifted: None,
                    }
                }
                UserAction::Mute => {
                    let until = now
                        + duration_ms.ok_or_else(|| {
                            AppError::field("duration_ms", "a mute needs a duration")
                        })?;
                    let s = store::add_sanction(
                        &db,
                        user_id,
                        "mute",
                        Some(until),
                        &reason,
                        msg.user_id,
                        now,
                    )
                    .await?;
                    bus.publish(user.clone(), Delivery::Muted { until });
                    tell(
                        "moderation.muted",
                        json!({ "until": until, "reason": reason }),
                    );
                    Acted {
                        sanction: Some(s),
                        lifted: None,
                    }
                }
                UserAction::Suspend => {
                    let until = duration_ms.map(|d| now + d);
                    let s = store::add_sanction(
                        &db,
                        user_id,
                        "suspend",
                        until,
                        &reason,
                        msg.user_id,
                        now,
                    )
                    .await?;
                    bus.publish(
                        user.clone(),
                        Delivery::CloseUser {
                            code: CLOSE_SUSPENDED,
                            reason: "account suspended".into(),
                        },
                    );
                    Acted {
                        sanction: Some(s),
                        lifted: None,
                    }
                }
                UserAction::Lift => {
                    let n = store::lift_sanctions(&db, user_id, msg.user_id, now).await?;
                    bus.publish(user.clone(), Delivery::Muted { until: 0 });
                    tell("moderation.lifted", json!({ "reason": reason }));
                    Acted {
                        sanction: None,
                        lifted: Some(n),
                    }
                }
            };
            let action_name = match action {
                UserAction::Warn => "warn",
                UserAction::Mute => "mute",
                UserAction::Suspend => "suspend",
                UserAction::Lift => "lift",
            };
            store::audit(
                &db,
                msg.user_id,
                action_name,
                None,
                Some(user_id),
                &reason,
                now,
            )
            .await?;
            tracing::info!(
                moderator = msg.user_id,
                user_id,
                action = action_name,
                "moderation action"
            );
            console(
                &bus,
                "mod.acted",
                &json!({
                    "user_id": user_id, "action": action, "by": msg.user_id,
                    "until": acted.sanction.as_ref().and_then(|s| s.until),
                }),
            );
            Ok(acted)
        })
    }
}

impl Handler<As<AuditLog>> for ModerationServer {
    type Result = ResponseFuture<AppResult<AuditEntries>>;

    fn handle(&mut self, msg: As<AuditLog>, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        Box::pin(async move {
            require_moderator(&db, msg.user_id).await?;
            let limit = msg.body.limit.unwrap_or(50).clamp(1, 500);
            Ok(AuditEntries {
                entries: store::recent_audit(&db, limit).await?,
            })
        })
    }
}

// ---- Reports and appeals (any user) ----

/// What is reported.
#[derive(Debug, Deserialize)]
#[serde(tag = "target", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReportTarget {
    Message { conversation_id: i64, seq: i64 },
    User { user_id: i64 },
    Media { media_id: String },
}

#[derive(Debug, Deserialize)]
pub struct Report {
    #[serde(flatten)]
    pub target: ReportTarget,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Queued {
    pub item_id: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Appeal {
    /// The rejected item (named in the `moderation.decided` event and in the export).
    pub item_id: i64,
    pub reason: String,
}

crate::command!(Report => Queued);
crate::command!(Appeal => Queued);

/// `appeal.list`: the caller's rejected content they may still appeal, so that a client can
/// offer the appeal on the item itself (a removed message, a profile field), also after a
/// reload.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListAppealable {}

#[derive(Debug, Serialize)]
pub struct AppealableItem {
    pub item_id: i64,
    pub kind: String,
    pub content_ref: String,
    /// The content as the moderator saw it (the author's own: a held text's words, a
    /// nickname), so a client can show a rejected text where it was written.
    pub content: String,
    /// The moderator's reason, as `moderation.decided` gave it.
    pub reason: String,
    pub decided_at: i64,
    /// After this time the decision can no longer be appealed.
    pub appeal_until: i64,
}

#[derive(Debug, Serialize)]
pub struct AppealableList {
    /// Rejections one may still appeal.
    pub items: Vec<AppealableItem>,
    /// Rejections one has appealed, whose appeal waits for a moderator: a client shows them
    /// as appealed where they were.
    pub under_appeal: Vec<AppealableItem>,
}

crate::command!(ListAppealable => AppealableList);

/// Most rejections listed at once; older ones are past their window in practice.
const APPEALABLE_MAX: i64 = 100;

impl Handler<As<ListAppealable>> for ModerationServer {
    type Result = ResponseFuture<AppResult<AppealableList>>;

    fn handle(&mut self, msg: As<ListAppealable>, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let window = self.settings.appeal_window_ms;
        Box::pin(async move {
            let since = now_ms().saturating_sub(window);
            let listed =
                |appealed| store::appealable(&db, msg.user_id, since, APPEALABLE_MAX, appealed);
            let view = |a: store::Appealable| AppealableItem {
                appeal_until: a.decided_at.saturating_add(window),
                item_id: a.item_id,
                kind: a.kind,
                content_ref: a.content_ref,
                content: a.content,
                reason: a.reason,
                decided_at: a.decided_at,
            };
            Ok(AppealableList {
                items: listed(false).await?.into_iter().map(view).collect(),
                under_appeal: listed(true).await?.into_iter().map(view).collect(),
            })
        })
    }
}

/// Reports are urgent: ahead of routine screening.
const REPORT_PRIORITY: i64 = 0;

fn bounded_reason(reason: &str) -> AppResult<String> {
    let reason: String = reason.trim().chars().take(500).collect();
    if reason.is_empty() {
        return Err(AppError::field("reason", "say what is wrong"));
    }
    Ok(reason)
}

impl Handler<As<Report>> for ModerationServer {
    type Result = ResponseFuture<AppResult<Queued>>;

    /// `report.create`: the reported content is attached as it is now, so a later edit cannot
    /// hide it from the moderator.
    fn handle(&mut self, msg: As<Report>, _: &mut Context<Self>) -> Self::Result {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        let reports_per_hour = self.settings.reports_per_hour;
        Box::pin(async move {
            let reporter = msg.user_id;
            let reason = bounded_reason(&msg.body.reason)?;
            let (kind, subject_id, content_ref, content) = match msg.body.target {
                ReportTarget::Message {
                    conversation_id,
                    seq,
                } => {
                    let members = crate::chat::store::members(&db, conversation_id).await?;
                    // Only a participant may report a message; others learn nothing.
                    if !members.is_some_and(|(a, b)| a == reporter || b == reporter) {
                        return Err(AppError::not_found("conversation"));
                    }
                    let m = crate::chat::store::message(&db, conversation_id, seq)
                        .await?
                        .ok_or_else(|| AppError::not_found("message"))?;
                    if m.sender_id == reporter {
                        return Err(AppError::field("seq", "that is your own message"));
                    }
                    (
                        "report_message",
                        m.sender_id,
                        format!("{conversation_id}:{seq}"),
                        m.text,
                    )
                }
                ReportTarget::User { user_id } => {
                    if user_id == reporter {
                        return Err(AppError::field("user_id", "you cannot report yourself"));
                    }
                    let u = crate::auth::store::user_by_id(&db, user_id)
                        .await?
                        .ok_or_else(|| AppError::not_found("user"))?;
                    let snapshot =
                        json!({ "nickname": u.nickname, "intro": u.intro, "avatar": u.avatar });
                    (
                        "report_user",
                        user_id,
                        user_id.to_string(),
                        snapshot.to_string(),
                    )
                }
                ReportTarget::Media { media_id } => {
                    let m = crate::media::store::by_id(&db, &media_id)
                        .await?
                        .ok_or_else(|| AppError::not_found("media"))?;
                    // Reportable by whoever may see it: anyone for public media, the other
                    // participants for a chat photo they received.
                    let public =
                        matches!(m.purpose.as_str(), "post_photo" | "post_video" | "avatar");
                    let received = m.purpose == "chat_photo"
                        && m.status == "approved"
                        && crate::chat::store::photo_shared_with(&db, &media_id, reporter).await?;
                    if m.owner_id != reporter && !(public && m.status == "approved") && !received {
                        return Err(AppError::not_found("media"));
                    }
                    // An author's way back from a decision is the appeal, once; a report of
                    // one's own upload would be a way round it.
                    if m.owner_id == reporter {
                        return Err(AppError::field(
                            "media_id",
                            "that is your own upload; appeal its decision instead",
                        ));
                    }
                    (
                        "report_media",
                        m.owner_id,
                        media_id.clone(),
                        format!("/api/media/{media_id}/content"),
                    )
                }
            };
            // The same reporter on the same content while it is still open: the one item
            // they already have, not another at the top of the queue.
            if let Some(open) = store::open_report(&db, reporter, kind, &content_ref).await? {
                return Ok(Queued { item_id: open });
            }
            let key = format!("report:user:{reporter}");
            let limit = crate::store::rate::Limit::per_hour(reports_per_hour);
            if let Some(wait) = crate::store::rate::hit(&db, &key, limit, now_ms()).await? {
                return Err(AppError::new(
                    ErrorCode::RateLimited,
                    "too many reports; try again later",
                )
                .retry_after(wait));
            }
            let item = store::enqueue(
                &db,
                &store::NewItem {
                    kind,
                    subject_id,
                    content_ref: &content_ref,
                    content: &content,
                    reasons: &[format!("report: {reason}")],
                    priority: REPORT_PRIORITY,
                    now: now_ms(),
                    reporter_id: Some(reporter),
                },
            )
            .await?;
            console(&bus, "mod.item", &item);
            Ok(Queued { item_id: item.id })
        })
    }
}

impl Handler<As<Appeal>> for ModerationServer {
    type Result = ResponseFuture<AppResult<Queued>>;

    /// `appeal.create`: the author of rejected content, within the appeal window, once.
    fn handle(&mut self, msg: As<Appeal>, _: &mut Context<Self>) -> Self::Result {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        let window = self.settings.appeal_window_ms;
        Box::pin(async move {
            let reason = bounded_reason(&msg.body.reason)?;
            let original = store::item(&db, msg.body.item_id)
                .await?
                .filter(|i| i.subject_id == msg.user_id)
                .ok_or_else(|| AppError::not_found("item"))?;
            let rejected = matches!(
                original.decision.as_deref(),
                Some("reject" | "reject_and_block")
            );
            if !rejected || original.kind == "appeal" {
                return Err(AppError::field(
                    "item_id",
                    "only a rejection can be appealed",
                ));
            }
            let decided = store::decided_at(&db, original.id).await?.unwrap_or(0);
            if now_ms() - decided > window {
                return Err(AppError::field("item_id", "the appeal period has ended"));
            }
            if store::appeal_exists(&db, original.id).await? {
                return Err(AppError::new(
                    ErrorCode::Conflict,
                    "this decision is already appealed",
                ));
            }
            let item = store::enqueue(
                &db,
                &store::NewItem {
                    kind: "appeal",
                    subject_id: msg.user_id,
                    content_ref: &original.id.to_string(),
                    content: &original.content,
                    reasons: &[format!("appeal of a {} decision: {reason}", original.kind)],
                    priority: 1,
                    now: now_ms(),
                    reporter_id: None,
                },
            )
            .await?;
            console(&bus, "mod.item", &item);
            Ok(Queued { item_id: item.id })
        })
    }
}
