//! Consent (policy: 权限, PIPL): an append-only ledger of every grant and withdrawal, the
//! current state derived from it, and the gate features ask before they run.
//!
//! [`ConsentServer`] is one actor per node. A change is committed before it is answered, then
//! published as `consent.changed` to every device of the user, so that a withdrawal takes
//! effect at once everywhere the user is connected. Withdrawing is one command, as easy as
//! granting; refusing a permission never blocks features that do not need it.

pub mod commands;
pub mod legal;
pub mod messages;
pub mod policy;
pub mod receipt;
pub mod rights;
mod store;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::BoxFuture;

use crate::bus::{Audience, Delivery, EventFrame, SharedBus};
use crate::domain::As;
use crate::error::{AppError, AppResult};
use crate::store::{now_ms, Db};
use messages::*;
use policy::{Feature, Permission};
use receipt::ReceiptSigner;

/// The privacy-policy version in force on this node, shared by the consent actor (which
/// refreshes it) and the sessions (which announce it in `session.ready`).
#[derive(Clone)]
pub struct PolicyVersion(Arc<RwLock<String>>);

impl PolicyVersion {
    pub fn new(version: String) -> Self {
        Self(Arc::new(RwLock::new(version)))
    }

    pub fn get(&self) -> String {
        // A poisoned lock still holds a valid String: keep serving it.
        match self.0.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, version: String) {
        match self.0.write() {
            Ok(mut v) => *v = version,
            Err(poisoned) => *poisoned.into_inner() = version,
        }
    }
}

/// Publishes `version` if it is new, then returns the version in force (the latest
/// published). Used at start-up and by `duoxie admin publish-policy`.
pub async fn publish_policy_version(db: &Db, version: &str) -> AppResult<String> {
    store::publish_policy_version(db, version.trim(), now_ms()).await?;
    Ok(store::current_policy_version(db)
        .await?
        .unwrap_or_else(|| version.trim().to_string()))
}

/// Told of every withdrawal after it is committed, before it is answered (live ends the
/// user's calls when camera or microphone goes). Handed in by startup, so consent names no
/// domain; a listener logs its own failures (the withdrawal stands whatever they do).
pub trait WithdrawalListener: Send + Sync + 'static {
    fn withdrawn(&self, user_id: i64, permission: Permission) -> BoxFuture<'_, ()>;
}

pub struct ConsentServer {
    listeners: Vec<Arc<dyn WithdrawalListener>>,
    db: Db,
    bus: SharedBus,
    version: PolicyVersion,
    signer: Arc<ReceiptSigner>,
    /// Where a new policy version is announced to this node's sockets.
    announce: Recipient<crate::bus::registry::BroadcastLocal>,
    poll_every: Duration,
}

impl ConsentServer {
    pub fn new(
        db: Db,
        bus: SharedBus,
        version: PolicyVersion,
        signer: Arc<ReceiptSigner>,
        announce: Recipient<crate::bus::registry::BroadcastLocal>,
        poll_every: Duration,
        listeners: Vec<Arc<dyn WithdrawalListener>>,
    ) -> Self {
        Self {
            listeners,
            db,
            bus,
            version,
            signer,
            announce,
            poll_every,
        }
    }

    /// Reads the latest published version; when it changed, every connected client of this
    /// node is told at once (`consent.policy_changed`): their grants need accepting again.
    fn poll_policy_version(&mut self, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        ctx.spawn(
            async move { store::current_policy_version(&db).await }
                .into_actor(self)
                .map(|latest, act, _| match latest {
                    Ok(Some(latest)) if latest != act.version.get() => {
                        tracing::info!(policy_version = %latest, "new privacy policy version in force");
                        act.version.set(latest.clone());
                        let event = EventFrame::new(
                            "consent.policy_changed",
                            &serde_json::json!({ "policy_version": latest }),
                            None,
                        );
                        act.announce.do_send(crate::bus::registry::BroadcastLocal(event));
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "policy version poll failed"),
                }),
        );
    }
}

/// A user's ledger, each row with its signed receipt.
pub async fn history_with_receipts(
    db: &Db,
    signer: &ReceiptSigner,
    user_id: i64,
) -> AppResult<Vec<ConsentRecord>> {
    let mut history = store::history(db, user_id).await?;
    for record in &mut history {
        record.receipt = Some(signer.issue(user_id, record));
    }
    Ok(history)
}

impl Actor for ConsentServer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.poll_every, |act, ctx| act.poll_policy_version(ctx));
    }
}

/// Latest record per permission: the current state.
fn latest(history: &[ConsentRecord]) -> HashMap<&str, &ConsentRecord> {
    let mut current = HashMap::new();
    for record in history {
        current.insert(record.permission.as_str(), record);
    }
    current
}

/// The permissions in force: latest change is a grant, given under the current policy
/// version. A grant under an older version must be accepted again before it counts.
fn in_force(history: &[ConsentRecord], policy_version: &str) -> HashSet<Permission> {
    latest(history)
        .into_iter()
        .filter(|(_, r)| r.granted && r.policy_version == policy_version)
        .filter_map(|(p, _)| Permission::parse(p).ok())
        .collect()
}

/// The permissions currently in force for `user_id`.
pub async fn granted(
    db: &Db,
    user_id: i64,
    policy_version: &str,
) -> AppResult<HashSet<Permission>> {
    Ok(in_force(
        &store::history(db, user_id).await?,
        policy_version,
    ))
}

/// The gate: `Ok` when `feature` may run for `user_id`, else `consent_required` naming the
/// missing permissions.
pub async fn require(
    db: &Db,
    user_id: i64,
    policy_version: &str,
    feature: Feature,
) -> AppResult<()> {
    let missing = policy::missing(feature, &granted(db, user_id, policy_version).await?);
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|p| p.as_str()).collect();
    Err(AppError::consent_required(&names))
}

/// The version in force (the latest published), read fresh.
pub async fn policy_version_in_force(db: &Db) -> AppResult<String> {
    store::current_policy_version(db)
        .await?
        .ok_or_else(|| AppError::unavailable("no privacy policy version is published"))
}

/// Records that the user accepted the privacy policy and the user agreement of `version`
/// (registration, or a login after a new version), each document not already accepted under
/// it; the receipts are derived from these rows like any consent's.
pub async fn accept_documents(db: &Db, user_id: i64, version: &str, device: &str) -> AppResult<()> {
    let history = store::history(db, user_id).await?;
    let accepted = in_force(&history, version);
    for document in Permission::DOCUMENTS {
        if accepted.contains(&document) {
            continue;
        }
        store::append(
            db,
            &store::NewConsent {
                user_id,
                permission: document.as_str(),
                granted: true,
                policy_version: version,
                actor: "user",
                device,
                at: now_ms(),
            },
        )
        .await?;
    }
    Ok(())
}

/// Appends the change unless the permission already is in that state; publishes it, and
/// tells the listeners of a withdrawal.
#[allow(clippy::too_many_arguments)]
async fn change(
    db: &Db,
    bus: &SharedBus,
    listeners: &[Arc<dyn WithdrawalListener>],
    signer: &ReceiptSigner,
    policy_version: &str,
    user_id: i64,
    permission: &str,
    device: Option<String>,
    grant: bool,
) -> AppResult<Changed> {
    let permission = Permission::parse(permission)?;
    if !grant && permission.is_document() {
        return Err(AppError::field(
            "permission",
            "an accepted agreement is not withdrawn; delete the account instead \
             (POST /api/me/deletion)",
        ));
    }
    let history = store::history(db, user_id).await?;
    let current = latest(&history).get(permission.as_str()).copied().cloned();
    let currently_granted = current.as_ref().is_some_and(|r| r.granted);
    if !grant && !currently_granted {
        return Err(AppError::field(
            "permission",
            "is not granted, so cannot be withdrawn",
        ));
    }
    // Granting what is in force changes nothing; a grant under an older policy version is
    // accepted again (a new row under the current version).
    let in_force_now = current
        .as_ref()
        .is_some_and(|r| r.granted && r.policy_version == policy_version);
    if grant && in_force_now {
        if let Some(mut record) = current {
            record.receipt = Some(signer.issue(user_id, &record));
            return Ok(Changed {
                record,
                changed: false,
            });
        }
    }
    let device = device
        .map(|d| d.trim().chars().take(100).collect::<String>())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "unspecified".into());
    let at = now_ms();
    let id = store::append(
        db,
        &store::NewConsent {
            user_id,
            permission: permission.as_str(),
            granted: grant,
            policy_version,
            actor: "user",
            device: &device,
            at,
        },
    )
    .await?;
    let mut record = ConsentRecord {
        id,
        permission: permission.as_str().to_string(),
        granted: grant,
        policy_version: policy_version.to_string(),
        actor: "user".into(),
        device,
        at,
        receipt: None,
    };
    record.receipt = Some(signer.issue(user_id, &record));
    tracing::info!(
        user_id,
        permission = permission.as_str(),
        granted = grant,
        "consent changed"
    );
    bus.publish(
        Audience::User(user_id),
        Delivery::Event(EventFrame::new("consent.changed", &record, None)),
    );
    if !grant {
        for listener in listeners {
            listener.withdrawn(user_id, permission).await;
        }
    }
    Ok(Changed {
        record,
        changed: true,
    })
}

impl ConsentServer {
    /// Grant and withdrawal are one path, so that withdrawing is exactly as easy.
    fn change_later(
        &self,
        user_id: i64,
        permission: String,
        device: Option<String>,
        grant: bool,
    ) -> ResponseFuture<AppResult<Changed>> {
        let (db, bus, signer, version, listeners) = (
            self.db.clone(),
            self.bus.clone(),
            self.signer.clone(),
            self.version.get(),
            self.listeners.clone(),
        );
        Box::pin(async move {
            change(
                &db,
                &bus,
                &listeners,
                &signer,
                &version,
                user_id,
                &permission,
                device,
                grant,
            )
            .await
        })
    }
}

impl Handler<As<Grant>> for ConsentServer {
    type Result = ResponseFuture<AppResult<Changed>>;

    fn handle(&mut self, msg: As<Grant>, _: &mut Context<Self>) -> Self::Result {
        self.change_later(msg.user_id, msg.body.permission, msg.body.device, true)
    }
}

impl Handler<As<Withdraw>> for ConsentServer {
    type Result = ResponseFuture<AppResult<Changed>>;

    fn handle(&mut self, msg: As<Withdraw>, _: &mut Context<Self>) -> Self::Result {
        self.change_later(msg.user_id, msg.body.permission, msg.body.device, false)
    }
}

impl Handler<As<Check>> for ConsentServer {
    type Result = ResponseFuture<AppResult<Checked>>;

    fn handle(&mut self, msg: As<Check>, _: &mut Context<Self>) -> Self::Result {
        let (db, version) = (self.db.clone(), self.version.get());
        Box::pin(async move {
            let feature = Feature::parse(&msg.body.feature, msg.body.source)?;
            let missing = policy::missing(feature, &granted(&db, msg.user_id, &version).await?);
            Ok(Checked {
                allowed: missing.is_empty(),
                missing,
            })
        })
    }
}

impl Handler<As<ListConsents>> for ConsentServer {
    type Result = ResponseFuture<AppResult<ConsentState>>;

    fn handle(&mut self, msg: As<ListConsents>, _: &mut Context<Self>) -> Self::Result {
        let (db, signer, version) = (self.db.clone(), self.signer.clone(), self.version.get());
        Box::pin(async move {
            let history = history_with_receipts(&db, &signer, msg.user_id).await?;
            let current = {
                let latest = latest(&history);
                let in_force = in_force(&history, &version);
                Permission::ALL
                    .into_iter()
                    .map(|p| {
                        let record = latest.get(p.as_str());
                        let granted = in_force.contains(&p);
                        CurrentConsent {
                            permission: p.as_str(),
                            granted,
                            needs_acceptance: !granted && record.is_some_and(|r| r.granted),
                            since: record.map(|r| r.at),
                            policy_version: record.map(|r| r.policy_version.clone()),
                        }
                    })
                    .collect()
            };
            Ok(ConsentState {
                policy_version: version,
                current,
                history,
            })
        })
    }
}

impl Handler<As<VerifyReceipt>> for ConsentServer {
    type Result = ResponseFuture<AppResult<ReceiptVerdict>>;

    /// Signature first, then the ledger: the row must exist and say what the receipt says
    /// (a receipt signed with a leaked key but naming a change that never happened fails).
    /// Only the receipt's subject may ask whether it is still current.
    fn handle(&mut self, msg: As<VerifyReceipt>, _: &mut Context<Self>) -> Self::Result {
        let (db, signer, version) = (self.db.clone(), self.signer.clone(), self.version.get());
        Box::pin(async move {
            let claims = signer.verify(&msg.body.receipt)?;
            if claims.subject != msg.user_id {
                return Err(AppError::forbidden("this receipt is about another user"));
            }
            let history = store::history(&db, msg.user_id).await?;
            let Some(row) = history.iter().find(|r| r.id == claims.ledger_id) else {
                return Err(AppError::new(
                    crate::error::ErrorCode::InvalidReceipt,
                    "the receipt names a change that is not in the ledger",
                ));
            };
            // The ledger fields must agree; presentation fields (controller, purpose text) may
            // have been reworded since the receipt was issued.
            let mut expected = signer.issue(msg.user_id, row).claims;
            expected.controller = claims.controller.clone();
            expected.purpose = claims.purpose.clone();
            expected.method = claims.method.clone();
            expected.version = claims.version.clone();
            if expected != claims {
                return Err(AppError::new(
                    crate::error::ErrorCode::InvalidReceipt,
                    "the receipt does not match the ledger",
                ));
            }
            let latest = latest(&history);
            let current = latest
                .get(row.permission.as_str())
                .is_some_and(|l| l.id == row.id && l.policy_version == version);
            Ok(ReceiptVerdict {
                authentic: true,
                current,
                claims,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: i64, permission: &str, granted: bool, version: &str) -> ConsentRecord {
        ConsentRecord {
            id,
            permission: permission.into(),
            granted,
            policy_version: version.into(),
            actor: "user".into(),
            device: "test".into(),
            at: id,
            receipt: None,
        }
    }

    #[test]
    fn only_the_latest_grant_under_the_current_policy_is_in_force() {
        let history = [
            record(1, "camera", true, "1"),
            record(2, "microphone", true, "1"),
            record(3, "microphone", false, "1"),
            record(4, "location", true, "1"),
            record(5, "location", true, "2"),
        ];
        let v1 = in_force(&history, "1");
        assert_eq!(
            v1,
            HashSet::from([Permission::Camera]),
            "location was re-granted under 2"
        );
        let v2 = in_force(&history, "2");
        assert_eq!(
            v2,
            HashSet::from([Permission::Location]),
            "camera needs accepting again"
        );
    }
}
