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
//!
//! The actor's handlers, by concern: [`screening`] (called by the other domains), [`console`]
//! (the moderators' queue and claims), [`decisions`] (what a decision does to its content),
//! [`sanctions`] (actions on users, the audit log), [`reports`] (reports and appeals, for
//! every user); [`pictures`] (the blocklist), [`commands`] (the WebSocket table).

pub mod commands;
mod console;
mod decisions;
pub mod pictures;
pub mod policy;
mod reports;
pub mod rights;
mod sanctions;
mod screening;
pub mod store;

pub use console::*;
use decisions::*;
pub use reports::*;
pub use sanctions::*;
pub use screening::*;

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
