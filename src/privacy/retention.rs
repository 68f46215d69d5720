//! The retention job (policy: 个人信息的保存): on every node, every
//! `DUOXIE_PRIVACY_RETENTION_INTERVAL_MS`, it erases accounts whose deletion cooling-off has
//! ended, removes rejected uploads once their appeal window has passed, deletes accounts
//! declared under 14 that stayed without a guardian's consent past
//! `DUOXIE_PRIVACY_MINOR_GUARDIAN_GRACE_MS`, and purges what the policy says is kept only for a while: expired one-time codes,
//! device tokens ended longer ago than the log retention, and old staff-access entries.
//!
//! Every step is a conditional statement (a row is claimed, or deleted, only if it still
//! qualifies), so runs are idempotent and nodes running at once never do a thing twice.

use std::time::Duration;

use actix::prelude::*;
use serde::Serialize;

use super::{store, Privacy};
use crate::config::PrivacySettings;
use crate::error::AppResult;
use crate::store::now_ms;

/// Most accounts erased per run; the rest wait for the next run.
const DELETIONS_PER_RUN: i64 = 500;

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct RetentionReport {
    pub accounts_deleted: u64,
    /// Of those, accounts under 14 left without a guardian's consent.
    pub unguarded_children_deleted: u64,
    pub codes_purged: u64,
    pub tokens_purged: u64,
    pub staff_access_purged: u64,
    /// Rate-limit windows (codes, logins, uploads) that ended more than a day ago.
    pub rate_windows_purged: u64,
    /// Rejected uploads whose appeal window has passed, bytes included.
    pub rejected_media_purged: u64,
}

/// One run; what `duoxie admin retention` and the job both do.
pub async fn run_once(
    privacy: &Privacy,
    settings: &PrivacySettings,
    appeal_window_ms: i64,
) -> AppResult<RetentionReport> {
    let db = privacy.db().clone();
    let now = now_ms();
    let mut report = RetentionReport::default();
    // Under 14 without guardian consent past the grace period: the policy says delete.
    let today = crate::minors::policy::CivilDate::today_in_china(now);
    for child_id in crate::minors::store::unguarded_children(
        &db,
        &crate::minors::policy::latest_birth_date_of_a_14_year_old(today),
        now.saturating_sub(settings.minor_guardian_grace_ms),
        DELETIONS_PER_RUN,
    )
    .await?
    {
        store::schedule_deletion_now(&db, child_id, now, store::ImposedDeletion::Under14).await?;
        if privacy.erase_due_account(child_id).await? {
            report.unguarded_children_deleted += 1;
        }
    }
    for user_id in store::due_deletions(&db, now, DELETIONS_PER_RUN).await? {
        if privacy.erase_due_account(user_id).await? {
            report.accounts_deleted += 1;
        }
    }
    let log_cutoff = now.saturating_sub(settings.log_retention_ms);
    report.codes_purged = crate::auth::store::purge_expired_codes(&db, now).await?
        + crate::auth::store::purge_expired_phone_changes(&db, now).await?;
    report.tokens_purged = crate::auth::store::purge_ended_tokens(&db, log_cutoff).await?;
    report.staff_access_purged = store::purge_staff_access(&db, log_cutoff).await?;
    report.rate_windows_purged = crate::store::rate::prune(&db, now - 2 * 86_400_000).await?;
    // A rejected upload is kept while its author may appeal, then removed.
    let appeal_cutoff = now.saturating_sub(appeal_window_ms);
    for (id, blobs) in
        crate::media::store::rejected_before(&db, appeal_cutoff, DELETIONS_PER_RUN).await?
    {
        crate::media::store::delete(&db, &id).await?;
        crate::media::delete_unreferenced_blobs(&db, &privacy.blobs, blobs).await?;
        report.rejected_media_purged += 1;
    }
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
