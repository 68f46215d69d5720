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
pub mod content;
mod decisions;
pub mod fingerprint;
pub mod pdq;
pub mod pictures;
pub mod policy;
mod reports;
pub mod rights;
mod sanctions;
mod screening;
pub mod settings;
mod store;

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
use crate::domain::{Accounts, As, Role};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::store::{now_ms, Db};
use content::{ContentKinds, StoredPictures};
use fingerprint::Fingerprint;
use policy::{Keywords, Verdict};
use settings::ModerationSettings;

pub struct ModerationServer {
    db: Db,
    bus: SharedBus,
    settings: ModerationSettings,
    keywords: Arc<Keywords>,
    keywords_loaded: Option<SystemTime>,
    /// Hands every loaded list to chat, which screens texts in its send path.
    keywords_out: tokio::sync::watch::Sender<Arc<Keywords>>,
    /// What a decision does, by content kind (each owned by its domain).
    contents: Arc<ContentKinds>,
    /// Where a blocklisted picture is read from when it must be hashed.
    pictures: Arc<dyn StoredPictures>,
    /// Roles as they are now, whether a target exists.
    accounts: Arc<dyn Accounts>,
}

/// What moderation reaches through the other domains, handed over at start-up.
pub struct Reach {
    pub contents: ContentKinds,
    pub pictures: Arc<dyn StoredPictures>,
    pub accounts: Arc<dyn Accounts>,
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
        settings: ModerationSettings,
        keywords_out: tokio::sync::watch::Sender<Arc<Keywords>>,
        reach: Reach,
    ) -> anyhow::Result<Self> {
        let (keywords, keywords_loaded) = load_keywords(settings.keywords_file.as_ref())
            .map_err(|e| anyhow::anyhow!("invalid setting DUOXIE_MODERATION_KEYWORDS_FILE: {e}"))?;
        tracing::info!(keywords = keywords.len(), "moderation keywords loaded");
        let keywords = Arc::new(keywords);
        keywords_out.send_replace(keywords.clone());
        Ok(Self {
            db,
            bus,
            settings,
            keywords,
            keywords_loaded,
            keywords_out,
            contents: Arc::new(reach.contents),
            pictures: reach.pictures,
            accounts: reach.accounts,
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
async fn require_moderator(accounts: &dyn Accounts, user_id: i64) -> AppResult<()> {
    let roles = accounts.roles(user_id).await?;
    if roles
        .iter()
        .any(|r| matches!(r, Role::Moderator | Role::Admin))
    {
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

// ---- Narrow reads for the other domains (the store stays private) ----

/// Until when a moderator's mute lasts, if one does (the caller's identity carries it).
pub async fn muted_until(db: &Db, user_id: i64) -> AppResult<Option<i64>> {
    Ok(store::muted_until(db, user_id, now_ms()).await?)
}

/// `Some(0)` for an open-ended suspension, `Some(until)` for a timed one, `None` if none:
/// login refuses a suspended account.
pub async fn suspended_until(db: &Db, user_id: i64) -> AppResult<Option<i64>> {
    Ok(store::suspended_until(db, user_id, now_ms()).await?)
}

/// The queue's depth by priority and the age of its oldest item, for `/metrics`.
pub async fn queue_health(db: &Db) -> AppResult<(Vec<(i64, i64)>, i64)> {
    Ok(store::queue_health(db, now_ms()).await?)
}
