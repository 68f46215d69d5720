//! Actions on users (warn, mute, suspend, lift) and the audit log, for moderators.

use super::*;

/// Close code for the sockets of a suspended account.
pub const CLOSE_SUSPENDED: u16 = 4005;
/// The longest timed sanction: `now + duration` must stay far from `i64::MAX`.
pub(super) const MAX_SANCTION_MS: i64 = 10 * 365 * 86_400_000;

pub(super) async fn is_admin(accounts: &dyn Accounts, user_id: i64) -> AppResult<bool> {
    Ok(accounts.roles(user_id).await?.contains(&Role::Admin))
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
        let accounts = self.accounts.clone();
        Box::pin(async move {
            require_moderator(accounts.as_ref(), msg.user_id).await?;
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
            accounts
                .find(user_id)
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
            if is_admin(accounts.as_ref(), user_id).await?
                && !is_admin(accounts.as_ref(), msg.user_id).await?
            {
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
                    bus.publish(
                        user.clone(),
                        Delivery::Caller(crate::bus::CallerUpdate::MutedUntil(until)),
                    );
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
                    bus.publish(
                        user.clone(),
                        Delivery::Caller(crate::bus::CallerUpdate::MutedUntil(0)),
                    );
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
        let accounts = self.accounts.clone();
        Box::pin(async move {
            require_moderator(accounts.as_ref(), msg.user_id).await?;
            let limit = msg.body.limit.unwrap_or(50).clamp(1, 500);
            Ok(AuditEntries {
                entries: store::recent_audit(&db, limit).await?,
            })
        })
    }
}
