//! The show-off community (晒宝社区, docs/feed.md): posts screened before anyone else sees them,
//! follows, the home feed and likes.
//!
//! [`Feed`] runs the commands; it is stateless (a few statements per call). A published post
//! is acknowledged once committed with its fan-out job; each node's [`fanout::FanoutWorker`]
//! claims jobs and writes the post into the followers' home timelines in batches, off the
//! request path, resumable after a crash (the job's cursor is committed with each batch).
//! Timelines live in the database or in Redis ([`timeline::Timelines`]), an index over the
//! posts that the read-time pull completes.
//! Authors with more followers than `DUOXIE_FEED_FANOUT_MAX_FOLLOWERS` are not fanned out:
//! their posts are merged into their followers' feeds when read, and so are posts older than
//! a timeline keeps, so that scrolling never reaches a dead end.

pub mod commands;
pub mod comments;
pub mod counts;
pub mod discover;
pub mod fanout;
pub mod moderated;
pub mod policy;
pub mod rights;
pub mod settings;
mod store;
pub mod timeline;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use actix::Addr;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::bus::{Audience, Delivery, EventFrame, SharedBus};
use crate::catalog::Category;
use crate::commands::Caller;
use crate::domain::Accounts;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::moderation::policy::{screen_text, Keywords, Verdict};
use crate::moderation::ModerationServer;
use crate::store::{begin_write, now_ms, Backend, Db};
use policy::Cursor;
use settings::FeedSettings;
pub use store::UserRef;

/// Topics of big authors' new posts: `author:<id>`.
const AUTHOR_TOPIC_PREFIX: &str = "author:";

fn author_topic(author: i64) -> crate::bus::Topic {
    crate::bus::Topic::new(format!("{AUTHOR_TOPIC_PREFIX}{author}"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveBody {}

#[derive(Debug, Serialize)]
pub struct Unwatched {
    pub watching: bool,
}

#[derive(Debug, Serialize)]
pub struct LiveAuthors {
    /// Big authors whose new posts this connection now hears of.
    pub authors: usize,
}

/// Followers a removal event is published to at once.
const NOTIFY_CHUNK: usize = 2000;
/// How often an active reader's activity is written down, ms (at most a quarter of the
/// inactivity threshold, so that fan-out never skips someone reading).
const READER_MARK_EVERY_MS: i64 = 3_600_000;
/// How long a node, having noted a reader's first page (their activity, the trim), skips that
/// for their next first pages, ms: a refresh costs the page, not two more statements.
const READER_NOTED_FOR_MS: i64 = 60_000;
/// Readers a node remembers noting; past it the memory starts again (a cost, never a miss).
const READERS_NOTED_MAX: usize = 100_000;

pub struct Feed {
    db: Db,
    backend: Backend,
    bus: SharedBus,
    settings: FeedSettings,
    keywords: tokio::sync::watch::Receiver<Arc<Keywords>>,
    accounts: Arc<dyn Accounts>,
    /// The privacy-policy version in force: the discover feed reads the recommendation
    /// consent under it.
    policy: crate::consent::PolicyVersion,
    /// Set once moderation runs (it is started after the content kinds, this one included).
    moderation: OnceLock<Addr<ModerationServer>>,
    /// Home timelines: the database's, or Redis' when the deployment has it.
    timelines: Arc<dyn timeline::Timelines>,
    /// Joins sockets to big authors' topics (`feed.live`) and posts' (`post.watch`).
    registry: Addr<crate::bus::registry::Registry>,
    /// Posts whose counts changed on this node since the last tick (counts.rs).
    touched: std::sync::Mutex<HashSet<i64>>,
    /// Readers whose first page this node noted, and when (`READER_NOTED_FOR_MS`).
    noted: std::sync::Mutex<HashMap<i64, i64>>,
    /// Wakes this node's fan-out worker when a post is published here.
    wake: OnceLock<actix::Recipient<fanout::Wake>>,
}

/// A post as a reader sees it.
#[derive(Debug, Clone, Serialize)]
pub struct PostView {
    pub id: i64,
    pub author: UserRef,
    pub text: String,
    pub media: Vec<String>,
    pub category: String,
    pub tags: Vec<String>,
    /// `published`, or for its author only `screening` / `rejected`.
    pub status: String,
    pub created_at: i64,
    pub published_at: Option<i64>,
    pub edited_at: Option<i64>,
    pub likes: i64,
    pub liked: bool,
    pub comments: i64,
    /// Users who shared it (each counted once).
    pub shares: i64,
}

#[derive(Debug, Serialize)]
pub struct OnePost {
    pub post: PostView,
}

#[derive(Debug, Serialize)]
pub struct Posts {
    pub posts: Vec<PostView>,
    pub next: Option<Cursor>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPostBody {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub media: Vec<String>,
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    pub post_id: i64,
    #[serde(default)]
    pub text: String,
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostRef {
    pub post_id: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    #[serde(default)]
    pub cursor: Option<Cursor>,
    #[serde(default)]
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorPage {
    pub user_id: i64,
    #[serde(default)]
    pub cursor: Option<Cursor>,
    #[serde(default)]
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRefBody {
    pub user_id: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowPage {
    pub user_id: i64,
    #[serde(default)]
    pub after: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowsPrivacy {
    pub hidden: bool,
}

/// Deepest a search pages (ranked results: offsets, not cursors).
const SEARCH_OFFSET_MAX: i64 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    pub q: String,
    #[serde(default)]
    pub offset: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Found {
    pub posts: Vec<PostView>,
    pub next_offset: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Deleted {
    pub deleted: bool,
}

#[derive(Debug, Serialize)]
pub struct Liked {
    pub liked: bool,
    pub likes: i64,
}

#[derive(Debug, Serialize)]
pub struct Following {
    pub following: bool,
    pub followers: i64,
}

#[derive(Debug, Serialize)]
pub struct FollowList {
    pub users: Vec<UserRef>,
    pub next: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct FollowsHidden {
    pub hidden: bool,
}

/// A user's community profile: counts, whether the caller follows them.
#[derive(Debug, Serialize)]
pub struct Profile {
    pub user_id: i64,
    pub user: UserRef,
    pub followers: i64,
    pub following: i64,
    pub follows_hidden: bool,
    pub followed_by_me: bool,
}

impl Feed {
    // Startup hands in each part the community stands on.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        backend: Backend,
        bus: SharedBus,
        settings: FeedSettings,
        keywords: tokio::sync::watch::Receiver<Arc<Keywords>>,
        accounts: Arc<dyn Accounts>,
        policy: crate::consent::PolicyVersion,
        timelines: Arc<dyn timeline::Timelines>,
        registry: Addr<crate::bus::registry::Registry>,
    ) -> Self {
        Self {
            timelines,
            registry,
            touched: std::sync::Mutex::new(HashSet::new()),
            noted: std::sync::Mutex::new(HashMap::new()),
            db,
            backend,
            bus,
            settings,
            keywords,
            accounts,
            policy,
            moderation: OnceLock::new(),
            wake: OnceLock::new(),
        }
    }

    pub fn set_moderation(&self, moderation: Addr<ModerationServer>) {
        let _ = self.moderation.set(moderation);
    }

    pub fn set_worker(&self, wake: actix::Recipient<fanout::Wake>) {
        let _ = self.wake.set(wake);
    }

    pub fn settings(&self) -> &FeedSettings {
        &self.settings
    }

    fn limit(&self, asked: Option<i64>) -> AppResult<i64> {
        let max = self.settings.page_max;
        let limit = asked.unwrap_or(20.min(max));
        if !(1..=max).contains(&limit) {
            return Err(AppError::field(
                "limit",
                format!("must be between 1 and {max}"),
            ));
        }
        Ok(limit)
    }

    /// Whether either of the two blocks the other: they see nothing of each other here.
    async fn blocked_between(&self, a: i64, b: i64) -> AppResult<bool> {
        Ok(crate::relations::is_blocked(&self.db, a, b).await?
            || crate::relations::is_blocked(&self.db, b, a).await?)
    }

    async fn existing_user(&self, user_id: i64) -> AppResult<()> {
        match self.accounts.find(user_id).await? {
            Some(a) if !a.deleted => Ok(()),
            _ => Err(AppError::not_found("user")),
        }
    }

    // ---------------------------------------------------------------- posts

    /// The media must be the author's own screened uploads: up to `pictures_max` post
    /// pictures, or one post video.
    async fn check_media(&self, author: i64, ids: &[String]) -> AppResult<Vec<String>> {
        let mut seen = HashSet::new();
        let ids: Vec<String> = ids
            .iter()
            .filter(|id| seen.insert(id.as_str()))
            .cloned()
            .collect();
        let mut kinds = Vec::new();
        for id in &ids {
            let Some(m) = crate::media::find(&self.db, id).await? else {
                return Err(AppError::field("media", "each must be your own upload"));
            };
            if m.owner_id != author || !matches!(m.purpose.as_str(), "post_photo" | "post_video") {
                return Err(AppError::field(
                    "media",
                    "each must be your own post_photo or post_video upload",
                ));
            }
            if m.status != "approved" {
                return Err(AppError::new(
                    ErrorCode::Conflict,
                    "an upload is still being reviewed (or was refused): post it once it passes",
                ));
            }
            kinds.push(m.purpose == "post_video");
        }
        let videos = kinds.iter().filter(|v| **v).count();
        if videos > 0 && ids.len() > 1 {
            return Err(AppError::field(
                "media",
                "a post carries one video, or pictures",
            ));
        }
        if ids.len() > self.settings.pictures_max {
            return Err(AppError::field(
                "media",
                format!("at most {} pictures", self.settings.pictures_max),
            ));
        }
        Ok(ids)
    }

    pub async fn create(self: Arc<Self>, caller: Caller, body: NewPostBody) -> AppResult<OnePost> {
        let media = self.check_media(caller.user_id, &body.media).await?;
        let text = policy::text(&body.text, self.settings.text_max_chars, !media.is_empty())?;
        let category = Category::parse(&body.category)?;
        let tags = policy::tags(
            &body.tags,
            self.settings.tags_max,
            self.settings.tag_max_chars,
        )?;
        let screened = format!("{text} {}", tags.join(" "));
        let verdict = screen_text(&self.keywords.borrow(), &screened);
        let held =
            match verdict {
                Verdict::Pass => None,
                Verdict::Review(reasons) => Some(reasons),
                Verdict::Reject(_) => return Err(AppError::new(
                    ErrorCode::ContentRejected,
                    "this post cannot be published: no contact details or trades off the platform",
                )),
            };
        let now = now_ms();
        let mut tx = begin_write(&self.db, self.backend).await?;
        let id = store::insert_post(
            &mut tx,
            &store::NewPost {
                author_id: caller.user_id,
                text: &text,
                media: &media,
                category: category.as_str(),
                tags: &tags,
                published: held.is_none(),
            },
            now,
        )
        .await?;
        let mut big = false;
        if held.is_none() {
            big = self.start_fanout(&mut tx, id, caller.user_id, now).await?;
            store::index_post(&mut tx, self.backend, id, &policy::index_terms(&screened)).await?;
        }
        tx.commit().await?;
        if big {
            self.tell_big_author_post(id).await?;
        }
        if let Some(reasons) = held {
            let moderation = self
                .moderation
                .get()
                .ok_or_else(|| AppError::unavailable("moderation is not running"))?;
            moderation
                .send(crate::moderation::QueueContent {
                    kind: moderated::POST_KIND,
                    author_id: caller.user_id,
                    content_ref: id.to_string(),
                    content: screened,
                    reasons,
                    media: media.clone(),
                })
                .await
                .map_err(|_| AppError::unavailable("moderation unavailable"))??;
        } else {
            self.wake_worker();
        }
        Ok(OnePost {
            post: self.view_for(caller.user_id, id).await?,
        })
    }

    /// In the publishing transaction: the author's own timeline, and a fan-out job unless
    /// the author has no followers or so many that their posts are merged when read; true
    /// for such a big author (their post is told to their topic once committed).
    async fn start_fanout(
        &self,
        tx: &mut sqlx::AnyConnection,
        post_id: i64,
        author_id: i64,
        published_at: i64,
    ) -> AppResult<bool> {
        let entry = Cursor {
            published_at,
            id: post_id,
        };
        self.timelines.add_own(tx, author_id, entry).await?;
        let followers = store::followers_in(tx, author_id).await?;
        if followers > 0 && followers <= self.settings.fanout_max_followers {
            store::enqueue_fanout(tx, post_id, author_id, published_at, now_ms()).await?;
            return Ok(false);
        }
        Ok(followers > self.settings.fanout_max_followers)
    }

    /// A big author's new post (no fan-out): one event to the sockets that joined the
    /// author's topic (`feed.live`), on every node.
    async fn tell_big_author_post(&self, post_id: i64) -> AppResult<()> {
        let Some(post) = store::post(&self.db, post_id).await? else {
            return Ok(());
        };
        let topic = author_topic(post.author_id);
        let frame = EventFrame::new("feed.post", &json!({ "post": view(post, false) }), None);
        self.bus
            .publish(Audience::Topic(topic), Delivery::Event(frame));
        Ok(())
    }

    /// `feed.live`: this connection joins the topics of the big authors the caller follows
    /// (at most `DUOXIE_FEED_LIVE_AUTHORS_MAX`), so their new posts arrive live though they
    /// are merged at read time rather than fanned out.
    pub async fn live(self: Arc<Self>, caller: Caller, _body: LiveBody) -> AppResult<LiveAuthors> {
        let authors = store::big_authors_followed(
            &self.db,
            caller.user_id,
            self.settings.fanout_max_followers,
            self.settings.live_authors_max as i64,
        )
        .await?;
        for author in &authors {
            self.join_author(caller.conn_id, *author).await?;
        }
        Ok(LiveAuthors {
            authors: authors.len(),
        })
    }

    async fn join_author(&self, conn_id: u64, author: i64) -> AppResult<()> {
        use crate::bus::registry::{JoinLimited, JoinOutcome};
        let outcome = self
            .registry
            .send(JoinLimited {
                conn_id,
                topic: author_topic(author),
                kind: AUTHOR_TOPIC_PREFIX,
                max: self.settings.live_authors_max,
            })
            .await
            .map_err(|_| crate::commands::mailbox_gone())?;
        match outcome {
            // A socket following more big authors than it may join hears of the first ones;
            // the rest are still in its feed when read.
            JoinOutcome::Joined | JoinOutcome::AlreadyIn | JoinOutcome::TooMany => Ok(()),
            JoinOutcome::Gone => Err(crate::commands::mailbox_gone()),
        }
    }

    /// The post's counts changed: its watchers hear of it at the next tick.
    pub(crate) fn touch(&self, post_id: i64) {
        // A poisoned set still holds valid ids: keep using it.
        let mut set = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        set.insert(post_id);
    }

    pub(crate) fn take_touched(&self) -> Vec<i64> {
        let mut set = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        set.drain().collect()
    }

    /// `post.watch`: this connection hears the post's counts live (`feed.counts`) while it
    /// shows it; the reply is the post as now.
    pub async fn watch(self: Arc<Self>, caller: Caller, body: PostRef) -> AppResult<OnePost> {
        use crate::bus::registry::{JoinLimited, JoinOutcome};
        let post = self.view_for(caller.user_id, body.post_id).await?;
        let outcome = self
            .registry
            .send(JoinLimited {
                conn_id: caller.conn_id,
                topic: counts::post_topic(post.id),
                kind: counts::POST_TOPIC_PREFIX,
                max: self.settings.watch_max,
            })
            .await
            .map_err(|_| crate::commands::mailbox_gone())?;
        match outcome {
            JoinOutcome::Joined | JoinOutcome::AlreadyIn => Ok(OnePost { post }),
            JoinOutcome::TooMany => Err(AppError::new(
                ErrorCode::Conflict,
                "this connection watches as many posts as it may: unwatch one first",
            )),
            JoinOutcome::Gone => Err(crate::commands::mailbox_gone()),
        }
    }

    /// `post.unwatch`: the screen no longer shows the post.
    pub async fn unwatch(self: Arc<Self>, caller: Caller, body: PostRef) -> AppResult<Unwatched> {
        self.registry.do_send(crate::bus::registry::Leave {
            conn_id: caller.conn_id,
            topic: counts::post_topic(body.post_id),
        });
        Ok(Unwatched { watching: false })
    }

    fn wake_worker(&self) {
        if let Some(wake) = self.wake.get() {
            wake.do_send(fanout::Wake);
        }
    }

    /// Screening passed (a moderator approved the post): published now, fanned out.
    pub(crate) async fn publish_screened(&self, post_id: i64) -> AppResult<()> {
        let Some(post) = store::post(&self.db, post_id).await? else {
            return Ok(());
        };
        let now = now_ms();
        let mut tx = begin_write(&self.db, self.backend).await?;
        let mut big = false;
        if store::publish(&mut tx, post_id, now).await? {
            big = self
                .start_fanout(&mut tx, post_id, post.author_id, now)
                .await?;
            let terms = policy::index_terms(&format!("{} {}", post.text, post.tags.join(" ")));
            store::index_post(&mut tx, self.backend, post_id, &terms).await?;
        }
        tx.commit().await?;
        if big {
            self.tell_big_author_post(post_id).await?;
        }
        self.wake_worker();
        Ok(())
    }

    /// The post as `viewer` sees it (its author sees it in any state).
    async fn view_for(&self, viewer: i64, post_id: i64) -> AppResult<PostView> {
        let post = store::post(&self.db, post_id)
            .await?
            .ok_or_else(|| AppError::not_found("post"))?;
        let own = post.author_id == viewer;
        if post.status == "deleted" || (!own && post.status != "published") {
            return Err(AppError::not_found("post"));
        }
        if !own && self.blocked_between(viewer, post.author_id).await? {
            return Err(AppError::not_found("post"));
        }
        let liked = store::liked_among(&self.db, self.backend, viewer, &[post_id])
            .await?
            .contains(&post_id);
        Ok(view(post, liked))
    }

    /// The post as a share code shows it to `viewer` (as `post.get`).
    pub async fn post_for(&self, viewer: i64, post_id: i64) -> AppResult<PostView> {
        self.view_for(viewer, post_id).await
    }

    /// `user_id` shares a published post they may see: counted once per user; the count.
    pub async fn record_share(&self, user_id: i64, post_id: i64) -> AppResult<i64> {
        let post = self.view_for(user_id, post_id).await?;
        if post.status != "published" {
            return Err(AppError::not_found("post"));
        }
        let mut tx = begin_write(&self.db, self.backend).await?;
        let shares = store::record_share(&mut tx, post_id, user_id, now_ms()).await?;
        tx.commit().await?;
        self.touch(post_id);
        Ok(shares)
    }

    pub async fn get(self: Arc<Self>, caller: Caller, body: PostRef) -> AppResult<OnePost> {
        Ok(OnePost {
            post: self.view_for(caller.user_id, body.post_id).await?,
        })
    }

    pub async fn edit(self: Arc<Self>, caller: Caller, body: EditBody) -> AppResult<OnePost> {
        let post = store::post(&self.db, body.post_id)
            .await?
            .filter(|p| p.status != "deleted")
            .ok_or_else(|| AppError::not_found("post"))?;
        if post.author_id != caller.user_id {
            return Err(AppError::forbidden("only its author edits a post"));
        }
        let since = post.published_at.unwrap_or(post.created_at);
        if now_ms() > since + self.settings.edit_window_ms {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "the time to edit this post has passed (delete it and post again)",
            ));
        }
        let text = policy::text(
            &body.text,
            self.settings.text_max_chars,
            !post.media.is_empty(),
        )?;
        let category = Category::parse(&body.category)?;
        let tags = policy::tags(
            &body.tags,
            self.settings.tags_max,
            self.settings.tag_max_chars,
        )?;
        // An edit is screened like the post; one a rule would hold is refused rather than
        // taking a published post away from its readers mid-read.
        if screen_text(
            &self.keywords.borrow(),
            &format!("{text} {}", tags.join(" ")),
        ) != Verdict::Pass
        {
            return Err(AppError::new(
                ErrorCode::ContentRejected,
                "this edit cannot be published: no contact details or trades off the platform",
            ));
        }
        store::edit(&self.db, post.id, &text, category.as_str(), &tags, now_ms()).await?;
        if post.status == "published" {
            let mut conn = self.db.acquire().await?;
            let terms = policy::index_terms(&format!("{text} {}", tags.join(" ")));
            store::index_post(&mut conn, self.backend, post.id, &terms).await?;
        }
        Ok(OnePost {
            post: self.view_for(caller.user_id, post.id).await?,
        })
    }

    /// Delete at any time: out of every timeline and every screen that shows it.
    pub async fn delete(self: Arc<Self>, caller: Caller, body: PostRef) -> AppResult<Deleted> {
        let post = store::post(&self.db, body.post_id)
            .await?
            .filter(|p| p.status != "deleted")
            .ok_or_else(|| AppError::not_found("post"))?;
        if post.author_id != caller.user_id {
            return Err(AppError::forbidden("only its author deletes a post"));
        }
        self.take_down(post.id, post.author_id, "deleted").await?;
        Ok(Deleted { deleted: true })
    }

    /// The post goes to `status` (deleted by its author, rejected by a moderator), leaves
    /// every timeline, and every follower's screen is told.
    pub(crate) async fn take_down(
        &self,
        post_id: i64,
        author_id: i64,
        status: &str,
    ) -> AppResult<()> {
        let mut tx = begin_write(&self.db, self.backend).await?;
        let changed = store::set_status(&mut tx, post_id, status, now_ms()).await?;
        store::remove_everywhere(&mut tx, post_id).await?;
        store::unindex_post(&mut tx, post_id).await?;
        tx.commit().await?;
        if changed {
            self.tell_removed(post_id, author_id).await?;
        }
        Ok(())
    }

    async fn tell_removed(&self, post_id: i64, author_id: i64) -> AppResult<()> {
        let frame = EventFrame::new("feed.post_removed", &json!({ "post_id": post_id }), None);
        let mut after = 0;
        self.bus
            .publish(Audience::User(author_id), Delivery::Event(frame.clone()));
        // The timeline entry it had, if it was ever published (a held post was in none).
        let entry = store::post(&self.db, post_id)
            .await?
            .and_then(|p| p.published_at)
            .map(|published_at| Cursor {
                published_at,
                id: post_id,
            });
        let forget = |users: Vec<i64>| async move {
            match entry {
                Some(entry) => self.timelines.forget(&users, entry).await,
                None => Ok(()),
            }
        };
        forget(vec![author_id]).await?;
        loop {
            let page =
                store::follow_list(&self.db, author_id, true, after, NOTIFY_CHUNK as i64).await?;
            let Some((last, _)) = page.last() else { break };
            after = *last;
            let users: Vec<i64> = page.iter().map(|(id, _)| *id).collect();
            let full = users.len() == NOTIFY_CHUNK;
            forget(users.clone()).await?;
            self.bus
                .publish(Audience::Users(users), Delivery::Event(frame.clone()));
            if !full {
                break;
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- feeds

    /// The home feed: the timeline fan-out wrote, merged with the posts of followed authors
    /// too big to fan out; past the end of the timeline (it keeps `DUOXIE_FEED_HOME_MAX`), the
    /// posts of everyone followed, read directly. Newest first, by a keyset cursor.
    pub async fn home(self: Arc<Self>, caller: Caller, body: Page) -> AppResult<Posts> {
        let me = caller.user_id;
        let limit = self.limit(body.limit)?;
        let cursor = body.cursor.unwrap_or(Cursor::TOP);
        // Timelines are an index over the posts: while their store is down (Redis) the page
        // is read from the followed authors' posts instead, slower but complete.
        let timeline = async {
            if cursor == Cursor::TOP && self.first_noting(me) {
                self.note_reader(me).await?;
                self.timelines.trim(me, self.settings.home_max).await?;
            }
            self.timelines.page(me, cursor, limit).await
        };
        let page = match timeline.await {
            Ok(page) => page,
            Err(e) if e.code == ErrorCode::Unavailable => {
                tracing::warn!(error = %e, "home timeline unavailable; reading the authors' posts");
                self.forget_noted(me);
                timeline::TimelinePage::default()
            }
            Err(e) => {
                self.forget_noted(me);
                return Err(e);
            }
        };
        if cursor == Cursor::TOP && page.entries.is_empty() && !page.complete {
            // Never written, or lost (Redis back empty): rebuilt for the next page, this one
            // read from the authors' posts below. A reader with nothing to read is marked
            // complete by it, so this happens once.
            if let Err(e) = self.timelines.rebuild(me, self.settings.home_max).await {
                if e.code != ErrorCode::Unavailable {
                    return Err(e);
                }
            }
        }
        let mut keys = page.entries;
        let threshold = self.settings.fanout_max_followers;
        keys.extend(store::merged_at_read(&self.db, me, threshold, cursor, limit).await?);
        if (keys.len() as i64) < limit && !page.complete {
            // The timeline ran out (older than it keeps, or never written for this reader).
            keys.extend(store::pull(&self.db, me, cursor, limit).await?);
        }
        keys.sort_unstable_by(|a, b| b.cmp(a));
        keys.dedup();
        keys.truncate(limit as usize);
        self.page(me, keys, limit).await
    }

    /// Whether this first page is the first this node sees of `me` within
    /// `READER_NOTED_FOR_MS` (then it is noted); a reader refreshing is noted once.
    fn first_noting(&self, me: i64) -> bool {
        let now = now_ms();
        // With the marking interval, at most half the inactivity threshold: a reader noted
        // here is never one a fan-out step skipped.
        let window = READER_NOTED_FOR_MS.min(self.settings.inactive_after_ms / 4);
        let mut noted = self.noted.lock().unwrap_or_else(|p| p.into_inner());
        if noted.get(&me).is_some_and(|at| *at > now - window) {
            return false;
        }
        if noted.len() >= READERS_NOTED_MAX {
            noted.clear();
        }
        noted.insert(me, now);
        true
    }

    /// A first page that failed is noted again next time.
    fn forget_noted(&self, me: i64) {
        self.noted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&me);
    }

    /// A reader opening their feed: one back after `DUOXIE_FEED_INACTIVE_AFTER_MS` away (or
    /// for the first time) has their timeline rebuilt, since fan-out skipped them, and so
    /// does one with a follow the timeline does not show yet (its rebuild failed); an active
    /// one is marked at most once per `READER_MARK_EVERY_MS` (no write per page read).
    async fn note_reader(&self, me: i64) -> AppResult<()> {
        let now = now_ms();
        let state = store::reader_state(&self.db, me).await?;
        let last = state.map(|s| s.active_at);
        let away = last.map_or(true, |at| at < now - self.settings.inactive_after_ms);
        let every = READER_MARK_EVERY_MS.min(self.settings.inactive_after_ms / 4);
        let due = state.map_or(0, |s| s.timeline_due);
        if away || !last.is_some_and(|at| at >= now - every) {
            let mut tx = begin_write(&self.db, self.backend).await?;
            // Marked first: a fan-out step committed after this includes the reader, and one
            // committed before it wrote a post the rebuild below reads.
            store::mark_reader_active(&mut tx, me, now).await?;
            tx.commit().await?;
        }
        if away || due > 0 {
            self.timelines.rebuild(me, self.settings.home_max).await?;
        }
        if due > 0 {
            store::timeline_caught_up(&self.db, me, due).await?;
        }
        Ok(())
    }

    /// One author's published posts (all of their own, for the author), newest first.
    pub async fn of_user(self: Arc<Self>, caller: Caller, body: AuthorPage) -> AppResult<Posts> {
        let me = caller.user_id;
        let limit = self.limit(body.limit)?;
        self.existing_user(body.user_id).await?;
        if body.user_id != me && self.blocked_between(me, body.user_id).await? {
            return Err(AppError::not_found("user"));
        }
        let rows = store::posts_of_author(
            &self.db,
            body.user_id,
            body.cursor.unwrap_or(Cursor::TOP),
            limit,
            body.user_id == me,
        )
        .await?;
        let ids: Vec<i64> = rows.iter().map(|p| p.id).collect();
        let liked = store::liked_among(&self.db, self.backend, me, &ids).await?;
        let next = (rows.len() as i64 == limit)
            .then(|| {
                rows.last().map(|p| Cursor {
                    published_at: p.published_at.unwrap_or(p.created_at),
                    id: p.id,
                })
            })
            .flatten();
        Ok(Posts {
            posts: rows
                .into_iter()
                .map(|p| {
                    let l = liked.contains(&p.id);
                    view(p, l)
                })
                .collect(),
            next,
        })
    }

    /// The posts of `keys` that `me` may see in their home feed, in the keys' order; the
    /// cursor after the last key.
    async fn page(&self, me: i64, keys: Vec<Cursor>, limit: i64) -> AppResult<Posts> {
        let next = (keys.len() as i64 == limit)
            .then(|| keys.last().copied())
            .flatten();
        let ids: Vec<i64> = keys.iter().map(|k| k.id).collect();
        Ok(Posts {
            posts: self.hydrate(me, &ids, true).await?,
            next,
        })
    }

    /// The published posts of `ids` that `me` may see, in the order of `ids`; with
    /// `followed_only`, only those of authors `me` follows (and their own).
    async fn hydrate(&self, me: i64, ids: &[i64], followed_only: bool) -> AppResult<Vec<PostView>> {
        // Blocks are relations' to answer: authors either side blocks are left out.
        let hidden = crate::relations::hidden_presence(&self.db, me).await?;
        let mut by_id: std::collections::HashMap<i64, (store::PostRow, bool)> =
            store::page_for(&self.db, self.backend, me, ids, followed_only)
                .await?
                .into_iter()
                .filter(|(p, _)| !hidden.contains(&p.author_id))
                .map(|(p, liked)| (p.id, (p, liked)))
                .collect();
        Ok(ids
            .iter()
            .filter_map(|id| by_id.remove(id))
            .map(|(p, liked)| view(p, liked))
            .collect())
    }

    /// `post.search`: published posts holding the query (Chinese found inside longer runs
    /// of text), the typed phrase first, then the most liked and newest; paged by offset.
    pub async fn search(self: Arc<Self>, caller: Caller, body: Search) -> AppResult<Found> {
        let limit = self.limit(body.limit)?;
        let offset = body.offset.unwrap_or(0);
        if !(0..=SEARCH_OFFSET_MAX).contains(&offset) {
            return Err(AppError::field(
                "offset",
                format!("must be between 0 and {SEARCH_OFFSET_MAX}"),
            ));
        }
        let Some((terms, phrase)) = policy::query_terms(&body.q) else {
            return Err(AppError::field("q", "a word to search for"));
        };
        let ids = store::search(&self.db, self.backend, &terms, &phrase, offset, limit).await?;
        let full = ids.len() as i64 == limit;
        Ok(Found {
            posts: self.hydrate(caller.user_id, &ids, false).await?,
            next_offset: full.then_some(offset + limit),
        })
    }

    // ---------------------------------------------------------------- likes

    async fn set_like(&self, caller: Caller, post_id: i64, like: bool) -> AppResult<Liked> {
        self.view_for(caller.user_id, post_id).await?;
        let mut tx = begin_write(&self.db, self.backend).await?;
        let (changed, likes) =
            store::set_like(&mut tx, post_id, caller.user_id, like, now_ms()).await?;
        tx.commit().await?;
        if changed {
            self.touch(post_id);
        }
        Ok(Liked { liked: like, likes })
    }

    pub async fn like(self: Arc<Self>, caller: Caller, body: PostRef) -> AppResult<Liked> {
        self.set_like(caller, body.post_id, true).await
    }

    pub async fn unlike(self: Arc<Self>, caller: Caller, body: PostRef) -> AppResult<Liked> {
        self.set_like(caller, body.post_id, false).await
    }

    // ---------------------------------------------------------------- follows

    pub async fn follow(
        self: Arc<Self>,
        caller: Caller,
        body: UserRefBody,
    ) -> AppResult<Following> {
        let me = caller.user_id;
        if body.user_id == me {
            return Err(AppError::field("user_id", "not yourself"));
        }
        self.existing_user(body.user_id).await?;
        if self.blocked_between(me, body.user_id).await? {
            return Err(AppError::new(
                ErrorCode::Blocked,
                "you cannot follow this user",
            ));
        }
        let now = now_ms();
        let mut tx = begin_write(&self.db, self.backend).await?;
        store::follow(&mut tx, me, body.user_id, now).await?;
        // Following is reading: the new author's posts reach this timeline from now on.
        let due = store::note_follow(&mut tx, me, now).await?;
        tx.commit().await?;
        // Their recent posts join it now (a rebuild, which also says whether it is complete).
        // One that fails leaves the follow due: the reader's next first page rebuilds.
        match self.timelines.rebuild(me, self.settings.home_max).await {
            Ok(()) => store::timeline_caught_up(&self.db, me, due).await?,
            Err(e) if e.code == ErrorCode::Unavailable => {
                self.forget_noted(me);
                tracing::warn!(error = %e, "home timeline unavailable; filled on the next read");
            }
            Err(e) => return Err(e),
        }
        let (followers, _, _) = store::profile(&self.db, body.user_id).await?;
        if followers > self.settings.fanout_max_followers {
            // A big author: this connection hears of their new posts from now on.
            self.join_author(caller.conn_id, body.user_id).await?;
        }
        Ok(Following {
            following: true,
            followers,
        })
    }

    pub async fn unfollow(
        self: Arc<Self>,
        caller: Caller,
        body: UserRefBody,
    ) -> AppResult<Following> {
        let mut tx = begin_write(&self.db, self.backend).await?;
        store::unfollow(&mut tx, caller.user_id, body.user_id).await?;
        tx.commit().await?;
        // The author's posts leave the home feed (what a pull reads no longer has them either).
        if let Err(e) = self
            .timelines
            .forget_author(caller.user_id, body.user_id)
            .await
        {
            if e.code != ErrorCode::Unavailable {
                return Err(e);
            }
            tracing::warn!(error = %e, "home timeline unavailable; unfollowed author kept");
        }
        // Every device of the caller leaves the author's topic (if it was in it), and hears
        // of the change.
        let event = EventFrame::new("user.unfollowed", &json!({ "user_id": body.user_id }), None);
        self.bus.publish(
            Audience::User(caller.user_id),
            Delivery::LeaveTopic {
                topic: author_topic(body.user_id),
                event,
            },
        );
        let (followers, _, _) = store::profile(&self.db, body.user_id).await?;
        Ok(Following {
            following: false,
            followers,
        })
    }

    async fn follow_list(
        &self,
        caller: Caller,
        body: FollowPage,
        followers: bool,
    ) -> AppResult<FollowList> {
        let me = caller.user_id;
        self.existing_user(body.user_id).await?;
        let (_, _, hidden) = store::profile(&self.db, body.user_id).await?;
        if body.user_id != me && (hidden || self.blocked_between(me, body.user_id).await?) {
            return Err(AppError::forbidden(
                "this user keeps their follows to themselves",
            ));
        }
        let limit = self.limit(body.limit)?;
        let rows = store::follow_list(
            &self.db,
            body.user_id,
            followers,
            body.after.unwrap_or(0),
            limit,
        )
        .await?;
        let next = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|(id, _)| *id))
            .flatten();
        Ok(FollowList {
            users: rows.into_iter().map(|(_, u)| u).collect(),
            next,
        })
    }

    pub async fn followers(
        self: Arc<Self>,
        caller: Caller,
        body: FollowPage,
    ) -> AppResult<FollowList> {
        self.follow_list(caller, body, true).await
    }

    pub async fn following(
        self: Arc<Self>,
        caller: Caller,
        body: FollowPage,
    ) -> AppResult<FollowList> {
        self.follow_list(caller, body, false).await
    }

    pub async fn profile(self: Arc<Self>, caller: Caller, body: UserRefBody) -> AppResult<Profile> {
        self.profile_for(caller.user_id, body.user_id).await
    }

    /// `user_id`'s profile as `viewer` sees it; `not_found` between users either of whom
    /// blocks the other.
    pub async fn profile_for(&self, viewer: i64, user_id: i64) -> AppResult<Profile> {
        self.existing_user(user_id).await?;
        if user_id != viewer && self.blocked_between(viewer, user_id).await? {
            return Err(AppError::not_found("user"));
        }
        let (followers, following, follows_hidden) = store::profile(&self.db, user_id).await?;
        Ok(Profile {
            user_id,
            user: store::user_ref(&self.db, user_id).await?,
            followers,
            following,
            follows_hidden,
            followed_by_me: store::is_following(&self.db, viewer, user_id).await?,
        })
    }

    pub async fn set_follows_privacy(
        self: Arc<Self>,
        caller: Caller,
        body: FollowsPrivacy,
    ) -> AppResult<FollowsHidden> {
        store::set_follows_hidden(&self.db, caller.user_id, body.hidden).await?;
        Ok(FollowsHidden {
            hidden: body.hidden,
        })
    }
}

fn view(p: store::PostRow, liked: bool) -> PostView {
    PostView {
        id: p.id,
        author: p.author,
        text: p.text,
        media: p.media,
        category: p.category,
        tags: p.tags,
        status: p.status,
        created_at: p.created_at,
        published_at: p.published_at,
        edited_at: p.edited_at,
        likes: p.likes,
        liked,
        comments: p.comments,
        shares: p.shares,
    }
}
