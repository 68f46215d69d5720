//! FanoutWorker: one per node. It claims a published post's fan-out job (a lease in the
//! database, so one node works on a job at a time and a killed node's job is taken over when
//! its lease runs out), writes the post into the followers' home timelines a batch at a
//! time, moving the job's cursor in the same transaction, and tells the batch's online
//! followers (`feed.post`). Followers who have not read their feed for
//! `DUOXIE_FEED_INACTIVE_AFTER_MS` are skipped: their timeline is rebuilt when they return. Woken at once by a post published on this node; otherwise it
//! looks for work every `DUOXIE_FEED_FANOUT_IDLE_MS`.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::{store, view, Feed};
use crate::bus::{Audience, Delivery, EventFrame};
use crate::error::AppResult;
use crate::store::now_ms;

/// Look for work now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

pub struct FanoutWorker {
    feed: Arc<Feed>,
    running: bool,
    /// Woken while running: look again when done.
    again: bool,
}

impl FanoutWorker {
    pub fn new(feed: Arc<Feed>) -> Self {
        Self {
            feed,
            running: false,
            again: false,
        }
    }

    fn kick(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            self.again = true;
            return;
        }
        self.running = true;
        self.again = false;
        let feed = self.feed.clone();
        ctx.spawn(
            async move {
                if let Err(e) = drain(&feed).await {
                    tracing::warn!(error = %e, "fan-out failed; the job is retried when its lease ends");
                }
            }
            .into_actor(self)
            .map(|_, act, ctx| {
                act.running = false;
                if act.again {
                    act.kick(ctx);
                }
            }),
        );
    }
}

impl Actor for FanoutWorker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let idle = Duration::from_millis(self.feed.settings().fanout_idle_ms);
        ctx.run_interval(idle, |act, ctx| act.kick(ctx));
    }
}

impl Handler<Wake> for FanoutWorker {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        self.kick(ctx);
    }
}

/// Runs jobs until none is left to claim.
async fn drain(feed: &Feed) -> AppResult<()> {
    let s = feed.settings();
    while let Some(job) = store::claim_fanout(&feed.db, now_ms(), s.fanout_lease_ms).await? {
        run(feed, job).await?;
    }
    Ok(())
}

async fn run(feed: &Feed, mut job: store::Job) -> AppResult<()> {
    let s = feed.settings();
    let Some(post) = store::post(&feed.db, job.post_id).await? else {
        store::finish_fanout(&feed.db, job.post_id).await?;
        return Ok(());
    };
    // The event every follower's socket gets: serialised once.
    let frame = EventFrame::new(
        "feed.post",
        &serde_json::json!({ "post": view(post, false) }),
        None,
    );
    loop {
        let followers = store::next_followers(&feed.db, &job, s.fanout_batch).await?;
        let Some(&last) = followers.last() else {
            store::finish_fanout(&feed.db, job.post_id).await?;
            return Ok(());
        };
        let now = now_ms();
        let active_since = now - s.inactive_after_ms;
        let mut tx = crate::store::begin_write(&feed.db, feed.backend).await?;
        if !store::move_cursor(&mut tx, &job, last, now, s.fanout_lease_ms).await? {
            // Deleted meanwhile, or another node took the job over: nothing more here.
            return Ok(());
        }
        // Written before the cursor commits: a step cut short is written again, harmlessly.
        feed.timelines
            .fan_out(&mut tx, &job, last, active_since)
            .await?;
        tx.commit().await?;
        let full = followers.len() as i64 == s.fanout_batch;
        feed.bus
            .publish(Audience::Users(followers), Delivery::Event(frame.clone()));
        job.done_up_to = last;
        if !full {
            store::finish_fanout(&feed.db, job.post_id).await?;
            return Ok(());
        }
    }
}
