//! Live counts on the screens showing a post: likes, comments and shares, aggregated.
//!
//! A screen showing a post joins its topic (`post.watch`, at most `DUOXIE_FEED_WATCH_MAX` per
//! connection). A like, an unlike, a comment published or removed and a share mark the post
//! on the node that took them; each node's [`CountsTicker`] publishes, once every
//! `DUOXIE_FEED_COUNTS_TICK_MS`, one `feed.counts` per marked post with its counts read in one
//! statement for all of them. A post liked a thousand times in a second costs its watchers one
//! event per node, not a thousand.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde_json::json;

use super::{store, Feed};
use crate::bus::{Audience, Delivery, EventFrame, Topic};

/// The topic of the screens showing a post: `post:<id>`.
pub const POST_TOPIC_PREFIX: &str = "post:";

pub fn post_topic(post_id: i64) -> Topic {
    Topic::new(format!("{POST_TOPIC_PREFIX}{post_id}"))
}

pub struct CountsTicker {
    feed: Arc<Feed>,
}

impl CountsTicker {
    pub fn new(feed: Arc<Feed>) -> Self {
        Self { feed }
    }
}

impl Actor for CountsTicker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let tick = Duration::from_millis(self.feed.settings().counts_tick_ms);
        ctx.run_interval(tick, |act, ctx| {
            let ids = act.feed.take_touched();
            if ids.is_empty() {
                return;
            }
            let feed = act.feed.clone();
            ctx.spawn(
                async move {
                    if let Err(e) = publish(&feed, &ids).await {
                        tracing::warn!(error = %e, "live counts not sent this tick");
                    }
                }
                .into_actor(act),
            );
        });
    }
}

async fn publish(feed: &Feed, ids: &[i64]) -> Result<(), sqlx::Error> {
    for (post_id, likes, comments, shares) in store::counts_of(&feed.db, feed.backend, ids).await? {
        let frame = EventFrame::new(
            "feed.counts",
            &json!({ "post_id": post_id, "likes": likes, "comments": comments, "shares": shares }),
            None,
        );
        feed.bus
            .publish(Audience::Topic(post_topic(post_id)), Delivery::Event(frame));
    }
    Ok(())
}
