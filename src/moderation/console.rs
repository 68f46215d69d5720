//! The moderators' live console over `/ws`: subscription, the queue, claims as leases and
//! decisions (what a decision does to its content is in [`super::decisions`]).

use super::*;

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
        let accounts = self.accounts.clone();
        Box::pin(async move {
            require_moderator(accounts.as_ref(), msg.user_id).await?;
            Ok(Subscribed { subscribed: true })
        })
    }
}

impl Handler<As<QueueSnapshot>> for ModerationServer {
    type Result = ResponseFuture<AppResult<Queue>>;

    fn handle(&mut self, msg: As<QueueSnapshot>, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let accounts = self.accounts.clone();
        let lease_ms = self.settings.claim_lease_ms;
        Box::pin(async move {
            require_moderator(accounts.as_ref(), msg.user_id).await?;
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
        let accounts = self.accounts.clone();
        let lease = self.settings.claim_lease_ms;
        Box::pin(async move {
            require_moderator(accounts.as_ref(), msg.user_id).await?;
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
        let accounts = self.accounts.clone();
        Box::pin(async move {
            require_moderator(accounts.as_ref(), msg.user_id).await?;
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
        let (db, bus) = (self.db.clone(), self.bus.clone());
        let accounts = self.accounts.clone();
        let (contents, pictures) = (self.contents.clone(), self.pictures.clone());
        Box::pin(async move {
            require_moderator(accounts.as_ref(), msg.user_id).await?;
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
            if is_admin(accounts.as_ref(), item.subject_id).await?
                && !is_admin(accounts.as_ref(), msg.user_id).await?
            {
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
            apply(
                &db,
                &contents,
                pictures.as_ref(),
                &item,
                decision,
                &reason,
                now,
            )
            .await?;
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
