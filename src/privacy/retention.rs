//! The retention job (policy: 个人信息的保存): on every node, every
//! `DUOXIE_PRIVACY_RETENTION_INTERVAL_MS`, it erases accounts whose deletion cooling-off has
//! ended, removes rejected uploads once their appeal window has passed, deletes accounts
//! declared under 14 that stayed without a guardian's consent past
//! `DUOXIE_PRIVACY_MINOR_GUARDIAN_GRACE_MS`, and purges what the policy says is kept only for a while: expired one-time codes,
//! device tokens ended longer ago than the log retention, and old staff-access entries.
//!
//! Each domain does its own part ([`crate::rights::DataDomain::expire`]); this job runs them
//! and erases the accounts they name.
//!
//! Every step is a conditional statement (a row is claimed, or deleted, only if it still
//! qualifies), so runs are idempotent and nodes running at once never do a thing twice.

use std::collections::BTreeMap;
use std::time::Duration;

use actix::prelude::*;
use serde::Serialize;

use super::settings::PrivacySettings;
use super::{store, Privacy};
use crate::error::AppResult;
use crate::rights::Retention;
use crate::store::now_ms;

/// Most accounts erased per run; the rest wait for the next run.
const DELETIONS_PER_RUN: i64 = 500;

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct RetentionReport {
    pub accounts_deleted: u64,
    /// Accounts deleted without their user asking (under 14 left without a guardian's
    /// consent), by the reason a domain gave.
    pub imposed_deletions: u64,
    /// Each domain's purges (`codes`, `tokens`, `staff_access`, `rejected_media`, …).
    pub purged: BTreeMap<&'static str, u64>,
    /// Rate-limit windows (codes, logins, uploads) that ended more than a day ago.
    pub rate_windows_purged: u64,
}

/// One run; what `duoxie admin retention` and the job both do: every domain expires what its
/// retention period has ended for and names the accounts the policy deletes; then those, and
/// the accounts whose cooling-off period ended, are erased.
pub async fn run_once(
    privacy: &Privacy,
    settings: &PrivacySettings,
    appeal_window_ms: i64,
) -> AppResult<RetentionReport> {
    let db = privacy.db().clone();
    let now = now_ms();
    let run = Retention {
        now,
        log_cutoff: now.saturating_sub(settings.log_retention_ms),
        appeal_cutoff: now.saturating_sub(appeal_window_ms),
        guardian_cutoff: now.saturating_sub(settings.minor_guardian_grace_ms),
        legal_cutoff: now.saturating_sub(settings.legal_retention_ms),
        batch: DELETIONS_PER_RUN,
    };
    let mut report = RetentionReport::default();
    let mut imposed = Vec::new();
    for domain in privacy.domains.iter() {
        let expired = domain.expire(&db, &run).await?;
        for (what, n) in expired.purged {
            *report.purged.entry(what).or_default() += n;
        }
        imposed.extend(expired.accounts_to_delete);
    }
    for (user_id, why) in imposed {
        store::schedule_deletion_now(&db, user_id, now, why).await?;
        if privacy.erase_due_account(user_id).await? {
            report.imposed_deletions += 1;
        }
    }
    for user_id in store::due_deletions(&db, now, DELETIONS_PER_RUN).await? {
        if privacy.erase_due_account(user_id).await? {
            report.accounts_deleted += 1;
        }
    }
    report.rate_windows_purged = crate::store::rate::prune(&db, now - 2 * 86_400_000).await?;
    report.purged.retain(|_, n| *n > 0);
    Ok(report)
}

pub struct RetentionJob {
    privacy: Privacy,
    settings: PrivacySettings,
    appeal_window_ms: i64,
    running: bool,
}

impl RetentionJob {
    pub fn new(privacy: Privacy, settings: PrivacySettings, appeal_window_ms: i64) -> Self {
        Self {
            privacy,
            settings,
            appeal_window_ms,
            running: false,
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        // A slow run is not overlapped by the next tick.
        if self.running {
            return;
        }
        self.running = true;
        let (privacy, settings) = (self.privacy.clone(), self.settings.clone());
        let appeal_window_ms = self.appeal_window_ms;
        ctx.spawn(
            async move { run_once(&privacy, &settings, appeal_window_ms).await }
                .into_actor(self)
                .map(|result, act, _| {
                    act.running = false;
                    match result {
                        Ok(report) if report != RetentionReport::default() => {
                            tracing::info!(?report, "retention run");
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e.message, "retention run failed"),
                    }
                }),
        );
    }
}

impl Actor for RetentionJob {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.tick(ctx);
        let every = Duration::from_millis(self.settings.retention_interval_ms);
        ctx.run_interval(every, |act, ctx| act.tick(ctx));
    }
}
