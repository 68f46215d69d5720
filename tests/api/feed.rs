//! The show-off community (晒宝社区, #15, docs/feed.md): posts screened before anyone sees them,
//! follows, the home feed filled by fan-out and merged at read, likes; on both stores and in a
//! cluster with a node killed during fan-out.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::helpers::{
    spawn_app, spawn_app_with, spawn_cluster_with, Store, TestApp, TestUser, WsClient,
};

fn code(error: &Value) -> &str {
    error["code"].as_str().unwrap_or_default()
}

/// A screened post picture of the user's (album consent granted first).
async fn picture(app: &TestApp, user: &TestUser) -> String {
    app.grant_consents(user, &["photo_album"]).await;
    let uploaded = app
        .upload(
            &user.token,
            "purpose=post_photo&source=album",
            "image/png",
            crate::media::png(80, 60),
        )
        .await
        .ok("upload a post picture");
    assert_eq!(uploaded["status"], json!("approved"), "{uploaded}");
    uploaded["id"].as_str().expect("media id").to_string()
}

async fn post(ws: &mut WsClient, text: &str) -> Value {
    ws.request_ok(
        "post.create",
        json!({ "text": text, "category": "nephrite" }),
    )
    .await["post"]
        .clone()
}

/// Every post id of the caller's home feed, page by page (`limit` a page).
async fn whole_home(ws: &mut WsClient, limit: i64) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let page = ws
            .request_ok("feed.home", json!({ "cursor": cursor, "limit": limit }))
            .await;
        for p in page["posts"].as_array().expect("posts") {
            ids.push(p["id"].as_i64().expect("id"));
        }
        if page["next"].is_null() {
            return ids;
        }
        cursor = page["next"].clone();
    }
}

async fn posts_are_screened_published_liked_and_deleted_everywhere(store: Store) {
    let mut app = spawn_app(store).await;
    let author = app.new_user().await;
    let fan = app.new_user().await;
    let stranger = app.new_user().await;
    let mut wa = app.ws(&author).await;
    let mut wf = app.ws(&fan).await;
    let mut wx = app.ws(&stranger).await;

    // No album consent, no picture to post.
    let refused = app
        .upload(
            &author.token,
            "purpose=post_photo&source=album",
            "image/png",
            crate::media::png(80, 60),
        )
        .await;
    refused.assert_error(
        403,
        "consent_required",
        "a post picture without album consent",
    );
    let photo = picture(&app, &author).await;

    wf.request_ok("user.follow", json!({ "user_id": author.id }))
        .await;
    let follow_self = wa
        .request_err("user.follow", json!({ "user_id": author.id }))
        .await;
    assert_eq!(code(&follow_self), "invalid_field");

    let bad = [
        (json!({ "text": "", "category": "jade" }), "invalid_field"),
        (
            json!({ "text": "晒", "category": "jadeite" }),
            "invalid_field",
        ),
        (
            json!({ "text": "晒", "category": "jade", "media": ["m_nobody"] }),
            "invalid_field",
        ),
        (
            json!({ "text": "晒", "category": "jade", "tags": ["两个 词"] }),
            "invalid_field",
        ),
        (
            json!({ "text": "玉".repeat(2001), "category": "jade" }),
            "text_too_long",
        ),
    ];
    for (body, want) in bad {
        let e = wa.request_err("post.create", body.clone()).await;
        assert_eq!(code(&e), want, "{body}: {e}");
    }
    let created = wa
        .request_ok(
            "post.create",
            json!({ "text": "新入手的新疆和田玉籽料手镯", "media": [photo], "category": "nephrite",
                    "tags": ["#和田玉", "籽料"] }),
        )
        .await["post"]
        .clone();
    let id = created["id"].as_i64().expect("id");
    assert_eq!(created["status"], json!("published"), "{created}");
    assert_eq!(created["tags"], json!(["和田玉", "籽料"]));

    // Contact details are held for a person: only the author sees the post until a moderator
    // approves it; then it is published and fanned out like any other.
    let moderator = app.new_user().await;
    app.grant_role(moderator.id, "moderator").await;
    let mut console = app.ws(&moderator).await;
    console.request_ok("mod.subscribe", json!({})).await;
    let held = wa
        .request_ok(
            "post.create",
            json!({ "text": "有意私聊，加微信 jade888", "category": "jade" }),
        )
        .await["post"]
        .clone();
    assert_eq!(held["status"], json!("screening"), "{held}");
    let held_id = held["id"].as_i64().expect("id");
    let unseen = wf
        .request_err("post.get", json!({ "post_id": held_id }))
        .await;
    assert_eq!(code(&unseen), "not_found", "not before it passes");
    let mine = wa
        .request_ok("post.get", json!({ "post_id": held_id }))
        .await;
    assert_eq!(
        mine["post"]["status"],
        json!("screening"),
        "its author sees its state"
    );
    let item = console.next_event("mod.item").await;
    assert_eq!(item["data"]["kind"], json!("post"), "{item}");
    crate::moderation::claim_and_decide(&mut console, &item["data"]["id"], "approve", "正常分享")
        .await;
    let approved = wf
        .next_event_where("the approved post, fanned out", |e| {
            e["type"] == json!("feed.post") && e["data"]["post"]["id"] == json!(held_id)
        })
        .await;
    assert_eq!(approved["data"]["post"]["status"], json!("published"));
    wa.request_ok("post.delete", json!({ "post_id": held_id }))
        .await;
    wf.next_event("feed.post_removed").await;

    // The follower's socket hears it, and the home feed has it.
    let arrived = wf.next_event("feed.post").await;
    assert_eq!(arrived["data"]["post"]["id"], json!(id));
    let home = wf.request_ok("feed.home", json!({})).await;
    assert_eq!(home["posts"][0]["id"], json!(id), "{home}");
    let own = wa.request_ok("feed.home", json!({})).await;
    assert_eq!(
        own["posts"][0]["id"],
        json!(id),
        "the author's own feed has it"
    );

    // Likes: once per user, undone.
    for _ in 0..2 {
        let liked = wf.request_ok("post.like", json!({ "post_id": id })).await;
        assert_eq!(liked, json!({ "liked": true, "likes": 1 }));
    }
    let undone = wf.request_ok("post.unlike", json!({ "post_id": id })).await;
    assert_eq!(undone["likes"], json!(0));
    wx.request_ok("post.like", json!({ "post_id": id })).await;

    // Blocks: a blocked user neither sees the post nor follows.
    wa.request_ok("user.block", json!({ "user_id": stranger.id }))
        .await;
    let hidden = wx.request_err("post.get", json!({ "post_id": id })).await;
    assert_eq!(code(&hidden), "not_found");
    let no_follow = wx
        .request_err("user.follow", json!({ "user_id": author.id }))
        .await;
    assert_eq!(code(&no_follow), "blocked");
    let their_posts = wx
        .request_err("feed.user", json!({ "user_id": author.id }))
        .await;
    assert_eq!(code(&their_posts), "not_found");

    // Edits: the author's, within the window, screened.
    let not_theirs = wf
        .request_err(
            "post.edit",
            json!({ "post_id": id, "text": "改", "category": "jade" }),
        )
        .await;
    assert_eq!(code(&not_theirs), "forbidden");
    let contact = wa
        .request_err(
            "post.edit",
            json!({ "post_id": id, "text": "加微信 jade888", "category": "nephrite" }),
        )
        .await;
    assert_eq!(code(&contact), "content_rejected");
    let edited = wa
        .request_ok(
            "post.edit",
            json!({ "post_id": id, "text": "新疆和田玉籽料手镯，油润", "category": "nephrite" }),
        )
        .await;
    assert!(edited["post"]["edited_at"].is_i64(), "{edited}");
    sqlx::query("UPDATE feed_posts SET published_at = published_at - 3600000 WHERE id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .expect("age the post");
    let late = wa
        .request_err(
            "post.edit",
            json!({ "post_id": id, "text": "再改", "category": "nephrite" }),
        )
        .await;
    assert_eq!(code(&late), "conflict", "{late}");

    // Delete, any time, by its author only: gone from every feed and screen.
    let by_fan = wf
        .request_err("post.delete", json!({ "post_id": id }))
        .await;
    assert_eq!(code(&by_fan), "forbidden");
    wa.request_ok("post.delete", json!({ "post_id": id })).await;
    let removed = wf.next_event("feed.post_removed").await;
    assert_eq!(removed["data"]["post_id"], json!(id));
    let home = wf.request_ok("feed.home", json!({})).await;
    assert_eq!(home["posts"], json!([]), "{home}");
    for (ws, who) in [(&mut wf, "a follower"), (&mut wa, "its author")] {
        let gone = ws.request_err("post.get", json!({ "post_id": id })).await;
        assert_eq!(code(&gone), "not_found", "{who}");
    }
    let like_gone = wf.request_err("post.like", json!({ "post_id": id })).await;
    assert_eq!(code(&like_gone), "not_found");
    let again = wa
        .request_err("post.delete", json!({ "post_id": id }))
        .await;
    assert_eq!(code(&again), "not_found");

    // Export and erasure.
    let kept = post(&mut wa, "第二件：金镶玉").await;
    let export = app
        .get("/api/me/export", Some(&author.token))
        .await
        .ok("export");
    let section = &export["sections"]["community"];
    assert_eq!(section["posts"][0]["id"], kept["id"], "{section}");
    assert_eq!(section["followers"], json!([fan.id]));
    let mut conn = app.db.acquire().await.expect("a connection");
    use duoxie::rights::DataDomain;
    duoxie::feed::rights::FeedRights
        .erase(&mut conn, author.id)
        .await
        .expect("erase");
    drop(conn);
    let home = wf.request_ok("feed.home", json!({})).await;
    assert_eq!(
        home["posts"],
        json!([]),
        "an erased author's posts leave every feed: {home}"
    );
}

/// Where a test reads a timeline's length: `feed_home`, or the cluster's Redis.
enum Timelines<'a> {
    Db,
    Redis(&'a crate::helpers::Cluster),
}

impl Timelines<'_> {
    async fn len(&self, app: &TestApp, user_id: i64) -> i64 {
        match self {
            Timelines::Db => {
                sqlx::query_scalar("SELECT COUNT(*) FROM feed_home WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_one(&app.db)
                    .await
                    .expect("count")
            }
            Timelines::Redis(cluster) => cluster.redis_timeline(user_id).await.len() as i64,
        }
    }

    /// Whether the reader's timeline is marked as holding every post of those they follow.
    async fn complete(&self, app: &TestApp, user_id: i64) -> bool {
        match self {
            Timelines::Db => {
                let flag: i64 = sqlx::query_scalar(
                    "SELECT timeline_complete FROM feed_readers WHERE user_id = $1",
                )
                .bind(user_id)
                .fetch_one(&app.db)
                .await
                .expect("the reader's row");
                flag == 1
            }
            Timelines::Redis(cluster) => cluster.has_complete_mark(user_id).await,
        }
    }

    /// Takes `post` out of the reader's timeline behind the server's back.
    async fn remove(&self, app: &TestApp, user_id: i64, post: &Value) {
        let id = post["id"].as_i64().expect("id");
        match self {
            Timelines::Db => {
                sqlx::query("DELETE FROM feed_home WHERE user_id = $1 AND post_id = $2")
                    .bind(user_id)
                    .bind(id)
                    .execute(&app.db)
                    .await
                    .expect("delete a timeline row");
            }
            Timelines::Redis(cluster) => {
                let at = post["published_at"].as_i64().expect("published_at");
                cluster
                    .remove_from_redis_timeline(user_id, &format!("{at:020}:{id:020}"))
                    .await;
            }
        }
    }
}

/// Reports of a post (with its pictures) and of a comment reach the moderators' queue with what
/// the reporter saw; a moderator's upholding takes the post down everywhere (its follower's
/// screen told, no longer readable) and the comment off the post. A held post's item carries
/// its pictures too, so the console shows the post as readers would see it.
async fn reports_of_posts_and_comments_are_queued_with_their_pictures_and_upheld_everywhere(
    store: Store,
) {
    let mut app = spawn_app(store).await;
    let author = app.new_user().await;
    let fan = app.new_user().await;
    let commenter = app.new_user().await;
    let moderator = app.new_user().await;
    app.grant_role(moderator.id, "moderator").await;
    let mut wa = app.ws(&author).await;
    let mut wf = app.ws(&fan).await;
    let mut wc = app.ws(&commenter).await;
    let mut console = app.ws(&moderator).await;
    console.request_ok("mod.subscribe", json!({})).await;
    wf.request_ok("user.follow", json!({ "user_id": author.id }))
        .await;

    let pictures = vec![picture(&app, &author).await, picture(&app, &author).await];
    let held = wa
        .request_ok(
            "post.create",
            json!({ "text": "加微信 jade888 看实物", "media": pictures, "category": "jade" }),
        )
        .await["post"]
        .clone();
    assert_eq!(held["status"], json!("screening"), "{held}");
    let item = console.next_event("mod.item").await;
    assert_eq!(item["data"]["kind"], json!("post"), "{item}");
    assert_eq!(
        item["data"]["media"],
        json!(pictures),
        "the held post's pictures: {item}"
    );

    let shown = wa
        .request_ok(
            "post.create",
            json!({ "text": "染色的翡翠手镯", "media": [pictures[0]], "category": "jade" }),
        )
        .await["post"]
        .clone();
    let post_id = shown["id"].as_i64().expect("id");
    let comment = wc
        .request_ok(
            "post.comment",
            json!({ "post_id": post_id, "text": "私聊更便宜" }),
        )
        .await["comment"]
        .clone();

    let own = wa
        .request_err(
            "report.create",
            json!({ "target": "post", "post_id": post_id, "reason": "自己的" }),
        )
        .await;
    assert_eq!(code(&own), "invalid_field", "not one's own post: {own}");
    wf.request_ok(
        "report.create",
        json!({ "target": "post", "post_id": post_id, "category": "fake_goods", "reason": "疑似染色" }),
    )
    .await;
    let report = console.next_event("mod.item").await;
    assert_eq!(report["data"]["kind"], json!("report_post"), "{report}");
    assert_eq!(report["data"]["category"], json!("fake_goods"), "{report}");
    assert_eq!(report["data"]["media"], json!([pictures[0]]), "{report}");
    assert!(
        report["data"]["content"]
            .as_str()
            .is_some_and(|c| c.contains("染色的翡翠手镯")),
        "{report}"
    );
    wf.request_ok(
        "report.create",
        json!({ "target": "post_comment", "comment_id": comment["id"], "category": "off_platform", "reason": "引导私下交易" }),
    )
    .await;
    let comment_report = console.next_event("mod.item").await;
    assert_eq!(
        comment_report["data"]["kind"],
        json!("report_post_comment"),
        "{comment_report}"
    );
    assert_eq!(
        comment_report["data"]["media"],
        json!([]),
        "{comment_report}"
    );

    crate::moderation::claim_and_decide(
        &mut console,
        &comment_report["data"]["id"],
        "reject",
        "站外交易",
    )
    .await;
    let comments = wf
        .request_ok("post.comments", json!({ "post_id": post_id }))
        .await;
    assert_eq!(
        comments["comments"],
        json!([]),
        "the comment is off the post: {comments}"
    );

    crate::moderation::claim_and_decide(&mut console, &report["data"]["id"], "reject", "假货")
        .await;
    wf.next_event_where("the taken-down post, off the follower's screen", |e| {
        e["type"] == json!("feed.post_removed") && e["data"]["post_id"] == json!(post_id)
    })
    .await;
    let gone = wf
        .request_err("post.get", json!({ "post_id": post_id }))
        .await;
    assert_eq!(code(&gone), "not_found", "{gone}");
    assert!(
        whole_home(&mut wf, 20).await.is_empty(),
        "not in the follower's feed"
    );
}

/// Settings of the complete-timeline scenario: a timeline keeps 10 entries (the least).
fn ten_entry_timelines(s: &mut duoxie::settings::Settings) {
    s.feed.home_max = 10;
}

async fn complete_timelines_end_pages_and_follows_fill_them(store: Store) {
    let mut app = spawn_app_with(store, ten_entry_timelines).await;
    complete_timelines(&mut app, &Timelines::Db).await;
}

async fn complete_timelines_in_redis_end_pages_and_follows_fill_them(store: Store) {
    let Some(mut cluster) = spawn_cluster_with(store, 1, ten_entry_timelines).await else {
        return;
    };
    let mut app = cluster.nodes.remove(0);
    complete_timelines(&mut app, &Timelines::Redis(&cluster)).await;
}

/// Following fills the timeline with the author's posts and, when that found fewer than the
/// bound, marks it complete. A complete timeline ends a short page by itself: a post taken out
/// of it behind the server's back is not read back from the authors (no pull ran). A post
/// whose fan-out has not reached the reader yet is in their feed from its commit. Unfollowing
/// takes the author's posts out. A trim that drops entries takes the mark away, and paging
/// reads past the timeline again.
async fn complete_timelines(app: &mut TestApp, timelines: &Timelines<'_>) {
    let author = app.new_user().await;
    let reader = app.new_user().await;
    let trimmed = app.new_user().await;
    let mut wa = app.ws(&author).await;
    let mut wr = app.ws(&reader).await;
    let mut wt = app.ws(&trimmed).await;
    let mut posts = Vec::new();
    for text in ["和田玉籽料", "南红挂件", "琥珀原石"] {
        posts.push(post(&mut wa, text).await);
    }
    let id = |p: &Value| p["id"].as_i64().expect("id");
    let newest_first = |ps: &[Value]| ps.iter().rev().map(id).collect::<Vec<i64>>();

    for ws in [&mut wr, &mut wt] {
        ws.request_ok("user.follow", json!({ "user_id": author.id }))
            .await;
    }
    assert_eq!(timelines.len(app, reader.id).await, 3, "filled on follow");
    assert!(
        timelines.complete(app, reader.id).await,
        "3 posts < 10 kept"
    );
    assert_eq!(whole_home(&mut wr, 10).await, newest_first(&posts));

    timelines.remove(app, reader.id, &posts[1]).await;
    assert_eq!(
        whole_home(&mut wr, 10).await,
        vec![id(&posts[2]), id(&posts[0])],
        "a complete timeline is the whole feed: nothing is pulled past it"
    );

    // A post fanned out, then put back as if its fan-out had not reached the reader yet (a
    // job still to do, leased by a node that is gone) and out of their timeline.
    let late = post(&mut wa, "翡翠手镯").await;
    wr.next_event_where("the post, fanned out", |e| {
        e["type"] == json!("feed.post") && e["data"]["post"]["id"] == late["id"]
    })
    .await;
    timelines.remove(app, reader.id, &late).await;
    // The real job first runs to its end (its first step told the reader; it may have more).
    let deadline = tokio::time::Instant::now() + crate::helpers::WAIT;
    loop {
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM feed_fanout WHERE post_id = $1")
            .bind(id(&late))
            .fetch_one(&app.db)
            .await
            .expect("count the post's jobs");
        if left == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the post's fan-out never finished"
        );
        tokio::time::sleep(crate::helpers::POLL_INTERVAL).await;
    }
    sqlx::query(
        "INSERT INTO feed_fanout (post_id, author_id, published_at, done_up_to, lease_until, created_at) \
         VALUES ($1, $2, $3, 0, $4, $4)",
    )
    .bind(id(&late))
    .bind(author.id)
    .bind(late["published_at"].as_i64().expect("published_at"))
    .bind(crate::helpers::now_ms() + 3_600_000)
    .execute(&app.db)
    .await
    .expect("a job still to do");
    let home = whole_home(&mut wr, 10).await;
    assert_eq!(
        home.first(),
        Some(&id(&late)),
        "in the feed from its commit: {home:?}"
    );
    sqlx::query("UPDATE feed_fanout SET done_up_to = $1 WHERE post_id = $2")
        .bind(reader.id)
        .bind(id(&late))
        .execute(&app.db)
        .await
        .expect("the job past the reader");
    assert_eq!(
        whole_home(&mut wr, 10).await.first(),
        Some(&id(&posts[2])),
        "once the job has passed the reader, only the timeline says"
    );

    wr.request_ok("user.unfollow", json!({ "user_id": author.id }))
        .await;
    assert_eq!(
        timelines.len(app, reader.id).await,
        0,
        "emptied on unfollow"
    );
    assert!(whole_home(&mut wr, 10).await.is_empty());

    // The other reader: the 4 posts so far, then 7 more make 11 against the 10 kept; their
    // first page trims the timeline.
    let mut all = posts.clone();
    all.push(late.clone());
    for i in 0..7 {
        let more = post(&mut wa, &format!("第{i}件新货")).await;
        wt.next_event_where("a later post, fanned out", |e| {
            e["type"] == json!("feed.post") && e["data"]["post"]["id"] == more["id"]
        })
        .await;
        all.push(more);
    }
    let written = match timelines {
        // Redis bounds a set as it writes it, the database when it is read.
        Timelines::Db => 11,
        Timelines::Redis(_) => 10,
    };
    assert_eq!(timelines.len(app, trimmed.id).await, written);
    assert_eq!(
        whole_home(&mut wt, 4).await,
        newest_first(&all),
        "read past the trim"
    );
    assert_eq!(
        timelines.len(app, trimmed.id).await,
        10,
        "trimmed to the bound"
    );
    assert!(
        !timelines.complete(app, trimmed.id).await,
        "a trimmed timeline is no longer complete"
    );
}

/// Settings of the paging scenario: an author with more than one follower is merged at read
/// time; a timeline keeps 10 entries.
fn small_timelines(s: &mut duoxie::settings::Settings) {
    s.feed.fanout_max_followers = 1;
    s.feed.home_max = 10;
}

async fn the_home_feed_pages_without_holes_or_repeats_and_merges_big_authors(store: Store) {
    let mut app = spawn_app_with(store, small_timelines).await;
    home_feed_pages(&mut app, &Timelines::Db).await;
}

/// The same in Redis; then a reader's timeline is lost (a Redis restart without persistence):
/// nothing is missing from their feed, and their next first page rebuilds it.
async fn the_home_feed_in_redis_pages_the_same_and_survives_losing_a_timeline(store: Store) {
    let Some(mut cluster) = spawn_cluster_with(store, 1, small_timelines).await else {
        return;
    };
    let mut app = cluster.nodes.remove(0);
    let reader = home_feed_pages(&mut app, &Timelines::Redis(&cluster)).await;
    let mut wr = app.ws(&reader.0).await;
    assert!(!cluster.redis_timeline(reader.0.id).await.is_empty());
    cluster.lose_redis_timeline(reader.0.id).await;
    let all = whole_home(&mut wr, 50).await;
    assert_eq!(
        all, reader.1,
        "every post still there, from the authors' posts"
    );
    assert!(
        !cluster.redis_timeline(reader.0.id).await.is_empty(),
        "the first page rebuilt the lost timeline"
    );
}

/// The paging scenario on `app`: the reader and every post id of their feed, newest first.
async fn home_feed_pages(app: &mut TestApp, timelines: &Timelines<'_>) -> (TestUser, Vec<i64>) {
    let reader = app.new_user().await;
    let other = app.new_user().await;
    let small = app.new_user().await;
    let big = app.new_user().await;
    let unfollowed = app.new_user().await;
    let mut wr = app.ws(&reader).await;
    let mut wo = app.ws(&other).await;
    let mut ws = app.ws(&small).await;
    let mut wb = app.ws(&big).await;
    let mut wu = app.ws(&unfollowed).await;
    wr.request_ok("user.follow", json!({ "user_id": small.id }))
        .await;
    wr.request_ok("user.follow", json!({ "user_id": big.id }))
        .await;
    wo.request_ok("user.follow", json!({ "user_id": big.id }))
        .await;

    let mut expected = Vec::new();
    for i in 0..15 {
        let p = post(&mut ws, &format!("小号第{i}件")).await;
        wr.next_event_where("the small author's post, fanned out", |e| {
            e["type"] == json!("feed.post") && e["data"]["post"]["id"] == p["id"]
        })
        .await;
        expected.push(p["id"].as_i64().expect("id"));
        if i % 3 == 0 {
            let b = post(&mut wb, &format!("大号第{i}件")).await;
            expected.push(b["id"].as_i64().expect("id"));
        }
    }
    post(&mut wu, "没关注的人发的").await;
    wr.read_arrived().await;
    let big_events = wr.take_buffered(|f| {
        f["type"] == json!("feed.post") && f["data"]["post"]["author"]["id"] == json!(big.id)
    });
    assert!(
        big_events.is_empty(),
        "a big author is not fanned out: {big_events:?}"
    );
    // The database trims a timeline when its reader opens it; Redis as it writes.
    let fanned = timelines.len(app, reader.id).await;
    let written = match timelines {
        Timelines::Db => 15,
        Timelines::Redis(_) => 10,
    };
    assert_eq!(
        fanned, written,
        "the small author's posts were written to the timeline"
    );

    // Page through everything, 4 at a time, while new posts arrive: newest first, every post
    // once, nothing else. The first page trims the timeline to 10; older ones are read
    // from the authors, so scrolling never ends early.
    let mut seen = Vec::new();
    let mut cursor = Value::Null;
    let mut pages = 0;
    loop {
        let page = wr
            .request_ok("feed.home", json!({ "cursor": cursor, "limit": 4 }))
            .await;
        for p in page["posts"].as_array().expect("posts") {
            seen.push(p["id"].as_i64().expect("id"));
        }
        pages += 1;
        if pages == 2 {
            post(&mut ws, "翻页时新发的").await;
        }
        if page["next"].is_null() {
            break;
        }
        cursor = page["next"].clone();
    }
    let mut newest_first = expected.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first, "every followed post once, newest first");
    let kept = timelines.len(app, reader.id).await;
    assert!(kept <= 11, "the timeline is bounded: {kept}");
    let top = whole_home(&mut wr, 50).await;
    assert_eq!(top.len(), expected.len() + 1, "the new post is on top now");
    let unique: HashSet<i64> = top.iter().copied().collect();
    assert_eq!(unique.len(), top.len(), "no repeats");
    (reader, top)
}

async fn follows_are_counted_listed_and_hidden_by_choice(store: Store) {
    let mut app = spawn_app(store).await;
    let star = app.new_user().await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wstar = app.ws(&star).await;
    let mut wa = app.ws(&a).await;
    let mut wb = app.ws(&b).await;
    let first = wa
        .request_ok("user.follow", json!({ "user_id": star.id }))
        .await;
    assert_eq!(first, json!({ "following": true, "followers": 1 }));
    wa.request_ok("user.follow", json!({ "user_id": star.id }))
        .await;
    wb.request_ok("user.follow", json!({ "user_id": star.id }))
        .await;
    let profile = wa
        .request_ok("user.profile", json!({ "user_id": star.id }))
        .await;
    assert_eq!(
        (
            profile["followers"].clone(),
            profile["followed_by_me"].clone()
        ),
        (json!(2), json!(true)),
        "following twice counts once: {profile}"
    );
    let list = wa
        .request_ok("user.followers", json!({ "user_id": star.id }))
        .await;
    let ids: Vec<i64> = list["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, vec![a.id, b.id]);
    let following = wa
        .request_ok("user.following", json!({ "user_id": a.id }))
        .await;
    assert_eq!(following["users"][0]["id"], json!(star.id));

    wstar
        .request_ok("user.follows_privacy", json!({ "hidden": true }))
        .await;
    let refused = wa
        .request_err("user.followers", json!({ "user_id": star.id }))
        .await;
    assert_eq!(code(&refused), "forbidden");
    let own = wstar
        .request_ok("user.followers", json!({ "user_id": star.id }))
        .await;
    assert_eq!(
        own["users"].as_array().map(Vec::len),
        Some(2),
        "one's own lists stay readable"
    );

    wb.request_ok("user.unfollow", json!({ "user_id": star.id }))
        .await;
    let after = wa
        .request_ok("user.profile", json!({ "user_id": star.id }))
        .await;
    assert_eq!(after["followers"], json!(1));
    let unknown = wa
        .request_err("user.follow", json!({ "user_id": 999_999 }))
        .await;
    assert_eq!(code(&unknown), "not_found");

    // A minor without a guardian neither posts nor follows.
    let child = crate::minors::register(&mut app, json!({ "age_bracket": "under_14" })).await;
    let mut wc = app.ws(&child).await;
    for (kind, data) in [
        (
            "post.create",
            json!({ "text": "我的玉", "category": "jade" }),
        ),
        ("user.follow", json!({ "user_id": star.id })),
    ] {
        let refused = wc.request_err(kind, data).await;
        assert_eq!(code(&refused), "guardian_required", "{kind}: {refused}");
    }
}

/// A node killed while fanning a post out: the job's lease runs out, another node takes it
/// over from its cursor, and every follower's feed has the post.
async fn a_node_killed_during_fan_out_leaves_no_follower_without_the_post(store: Store) {
    const FOLLOWERS: usize = 120;
    let Some(mut cluster) = spawn_cluster_with(store, 1, |s| {
        s.feed.fanout_batch = 1;
        s.feed.fanout_lease_ms = 1000;
    })
    .await
    else {
        return;
    };
    let mut doomed = cluster
        .spawn_process_with_env(&[
            ("DUOXIE_FEED_FANOUT_BATCH", "1"),
            ("DUOXIE_FEED_FANOUT_LEASE_MS", "1000"),
        ])
        .await;
    let author = cluster.nodes[0].new_user().await;
    let mut followers = Vec::new();
    for _ in 0..FOLLOWERS {
        let user = cluster.nodes[0].new_user().await;
        followers.push(user.id);
    }
    for id in &followers {
        sqlx::query(
            "INSERT INTO feed_follows (follower_id, followee_id, created_at) VALUES ($1, $2, 0)",
        )
        .bind(id)
        .bind(author.id)
        .execute(&cluster.nodes[0].db)
        .await
        .expect("follow");
        // Readers of their feed (fan-out skips those away for a week).
        sqlx::query("INSERT INTO feed_readers (user_id, active_at) VALUES ($1, $2)")
            .bind(id)
            .bind(duoxie::store::now_ms())
            .execute(&cluster.nodes[0].db)
            .await
            .expect("an active reader");
    }
    sqlx::query("INSERT INTO feed_profiles (user_id, followers) VALUES ($1, $2)")
        .bind(author.id)
        .bind(FOLLOWERS as i64)
        .execute(&cluster.nodes[0].db)
        .await
        .expect("count");
    let mut wa = doomed.app.ws(&author).await;
    let posted = post(&mut wa, "断电时的扩散").await;
    let id = posted["id"].as_i64().expect("id");
    doomed.kill();
    let db = cluster.nodes[0].db.clone();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM feed_fanout WHERE post_id = $1")
            .bind(id)
            .fetch_one(&db)
            .await
            .expect("count");
        if jobs == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fan-out was not taken over"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The cluster keeps timelines in Redis: every follower's has the post.
    let mut served = 0;
    for follower in &followers {
        if cluster.redis_timeline(*follower).await.contains(&id) {
            served += 1;
        }
    }
    assert_eq!(
        served, FOLLOWERS,
        "the job finished with every follower served"
    );
}

async fn comments_are_screened_counted_and_deleted_by_either_author(store: Store) {
    let mut app = spawn_app(store).await;
    let author = app.new_user().await;
    let fan = app.new_user().await;
    let blocked = app.new_user().await;
    let moderator = app.new_user().await;
    app.grant_role(moderator.id, "moderator").await;
    let mut wa = app.ws(&author).await;
    let mut wf = app.ws(&fan).await;
    let mut wb = app.ws(&blocked).await;
    let mut console = app.ws(&moderator).await;
    console.request_ok("mod.subscribe", json!({})).await;
    let id = post(&mut wa, "老坑翡翠手镯").await["id"]
        .as_i64()
        .expect("id");

    let said = wf
        .request_ok("post.comment", json!({ "post_id": id, "text": "种水真好" }))
        .await["comment"]
        .clone();
    assert_eq!(said["status"], json!("published"));
    let told = wa.next_event("feed.comment").await;
    assert_eq!(told["data"]["comment"]["id"], said["id"]);
    let reply = wa
        .request_ok(
            "post.comment",
            json!({ "post_id": id, "text": "谢谢", "reply_to": said["id"] }),
        )
        .await["comment"]
        .clone();
    assert_eq!(reply["reply_to"], said["id"]);
    let got = wa.request_ok("post.get", json!({ "post_id": id })).await;
    assert_eq!(got["post"]["comments"], json!(2), "{got}");

    // Refusals: empty, blocked, a reply to another post's comment, a blocked word.
    let cases = [
        (json!({ "post_id": id, "text": "  " }), "invalid_field"),
        (
            json!({ "post_id": id, "text": "好", "reply_to": 999_999 }),
            "invalid_field",
        ),
        (json!({ "post_id": 999_999, "text": "好" }), "not_found"),
    ];
    for (data, want) in cases {
        let e = wf.request_err("post.comment", data.clone()).await;
        assert_eq!(code(&e), want, "{data}: {e}");
    }
    wa.request_ok("user.block", json!({ "user_id": blocked.id }))
        .await;
    let e = wb
        .request_err("post.comment", json!({ "post_id": id, "text": "看看" }))
        .await;
    assert_eq!(code(&e), "blocked", "commenting when blocked: {e}");

    // Held for a person: only its author sees it until approved.
    let held = wf
        .request_ok(
            "post.comment",
            json!({ "post_id": id, "text": "要的话加微信 jade888" }),
        )
        .await["comment"]
        .clone();
    assert_eq!(held["status"], json!("screening"));
    let others = wa
        .request_ok("post.comments", json!({ "post_id": id }))
        .await;
    assert_eq!(
        others["comments"].as_array().map(Vec::len),
        Some(2),
        "{others}"
    );
    let own = wf
        .request_ok("post.comments", json!({ "post_id": id }))
        .await;
    assert_eq!(
        own["comments"].as_array().map(Vec::len),
        Some(3),
        "its author sees it"
    );
    let item = console.next_event("mod.item").await;
    assert_eq!(item["data"]["kind"], json!("post_comment"), "{item}");
    crate::moderation::claim_and_decide(&mut console, &item["data"]["id"], "reject", "站外交易")
        .await;
    let after = wf
        .request_ok("post.comments", json!({ "post_id": id }))
        .await;
    assert_eq!(
        after["comments"].as_array().map(Vec::len),
        Some(2),
        "rejected: {after}"
    );

    // Deleted by its author, or by the post's author; nobody else.
    let stranger = app.new_user().await;
    let mut wx = app.ws(&stranger).await;
    let e = wx
        .request_err("post.comment.delete", json!({ "comment_id": said["id"] }))
        .await;
    assert_eq!(code(&e), "forbidden");
    wa.request_ok("post.comment.delete", json!({ "comment_id": said["id"] }))
        .await;
    wa.request_ok("post.comment.delete", json!({ "comment_id": reply["id"] }))
        .await;
    let got = wf.request_ok("post.get", json!({ "post_id": id })).await;
    assert_eq!(got["post"]["comments"], json!(0), "{got}");
    let export = app
        .get("/api/me/export", Some(&fan.token))
        .await
        .ok("export");
    assert_eq!(
        export["sections"]["community"]["comments"][0]["status"],
        json!("rejected"),
        "{}",
        export["sections"]["community"]
    );
}

async fn posts_are_found_by_a_chinese_word_inside_a_longer_text(store: Store) {
    let mut app = spawn_app(store).await;
    let author = app.new_user().await;
    let reader = app.new_user().await;
    let blocker = app.new_user().await;
    let mut wa = app.ws(&author).await;
    let mut wr = app.ws(&reader).await;
    let mut wk = app.ws(&blocker).await;
    let bracelet = post(&mut wa, "新疆和田玉籽料手镯，油润细腻").await["id"].clone();
    let pendant = wa
        .request_ok(
            "post.create",
            json!({ "text": "一块挂件", "category": "nephrite", "tags": ["和田玉"] }),
        )
        .await["post"]["id"]
        .clone();
    let scattered = post(&mut wa, "和田的朋友送的玉牌").await["id"].clone();
    post(&mut wa, "南红玛瑙手串").await;
    let blocked_post = post(&mut wk, "和田玉平安扣").await["id"].clone();
    wr.request_ok("user.block", json!({ "user_id": blocker.id }))
        .await;

    let found = wr.request_ok("post.search", json!({ "q": "和田玉" })).await;
    let ids: Vec<Value> = found["posts"]
        .as_array()
        .expect("posts")
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert!(ids.contains(&bracelet), "inside a longer run: {found}");
    assert!(ids.contains(&pendant), "in a tag: {found}");
    assert!(
        !ids.contains(&scattered),
        "和田 and 玉 apart are not 和田玉: {found}"
    );
    assert!(
        !ids.contains(&blocked_post),
        "a blocked author's post is not found: {found}"
    );
    let full_width = wr
        .request_ok("post.search", json!({ "q": " 和田玉！" }))
        .await;
    assert_eq!(
        full_width["posts"], found["posts"],
        "punctuation and spaces do not count"
    );
    let page = wr
        .request_ok("post.search", json!({ "q": "和田玉", "limit": 1 }))
        .await;
    assert_eq!(page["next_offset"], json!(1), "{page}");
    let rest = wr
        .request_ok(
            "post.search",
            json!({ "q": "和田玉", "limit": 1, "offset": 1 }),
        )
        .await;
    assert_ne!(rest["posts"][0]["id"], page["posts"][0]["id"], "paged");
    let one = wr.request_ok("post.search", json!({ "q": "玉" })).await;
    assert!(one["posts"].as_array().map_or(0, Vec::len) >= 3, "{one}");
    let empty = wr.request_err("post.search", json!({ "q": "！？" })).await;
    assert_eq!(code(&empty), "invalid_field");

    // A deleted post is no longer found; an edit is found by its new words.
    wa.request_ok("post.delete", json!({ "post_id": bracelet }))
        .await;
    wa.request_ok(
        "post.edit",
        json!({ "post_id": scattered, "text": "和田玉牌子", "category": "nephrite" }),
    )
    .await;
    let after = wr.request_ok("post.search", json!({ "q": "和田玉" })).await;
    let ids: Vec<Value> = after["posts"]
        .as_array()
        .expect("posts")
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert!(
        !ids.contains(&bracelet) && ids.contains(&scattered),
        "{after}"
    );
}

async fn discover_ids(ws: &mut WsClient, body: Value) -> (Vec<i64>, bool) {
    let page = ws.request_ok("feed.discover", body).await;
    let ids = page["posts"]
        .as_array()
        .expect("posts")
        .iter()
        .map(|p| p["id"].as_i64().expect("id"))
        .collect();
    (ids, page["personalized"] == json!(true))
}

/// The discover feed is the same for everyone until a reader grants
/// `personalized_recommendation`; then it leans towards what they liked, and withdrawing the
/// consent turns that off for the very next page.
async fn the_discover_feed_is_personalised_only_under_the_consent_and_stops_at_once(store: Store) {
    let mut app = spawn_app(store).await;
    let author = app.new_user().await;
    let reader = app.new_user().await;
    let stranger = app.new_user().await;
    let mut wa = app.ws(&author).await;
    let mut wr = app.ws(&reader).await;
    let mut wx = app.ws(&stranger).await;
    let create = |text: &str, category: &str| json!({ "text": text, "category": category });
    let jade = wa
        .request_ok("post.create", create("老坑翡翠手镯", "jade"))
        .await["post"]["id"]
        .as_i64()
        .expect("id");
    let pearl_liked = wa
        .request_ok("post.create", create("南洋金珠项链", "pearl"))
        .await["post"]["id"]
        .as_i64()
        .expect("id");
    let pearl_other = wa
        .request_ok("post.create", create("淡水珍珠耳钉", "pearl"))
        .await["post"]["id"]
        .as_i64()
        .expect("id");
    // Three likes on the jade bangle; the reader likes one pearl piece.
    for _ in 0..3 {
        let liker = app.new_user().await;
        let mut wl = app.ws(&liker).await;
        wl.request_ok("post.like", json!({ "post_id": jade })).await;
    }
    wr.request_ok("post.like", json!({ "post_id": pearl_liked }))
        .await;

    let everyone = vec![jade, pearl_liked, pearl_other];
    assert_eq!(
        discover_ids(&mut wr, json!({})).await,
        (everyone.clone(), false),
        "without the consent: the same hot order for all"
    );
    assert_eq!(
        discover_ids(&mut wx, json!({})).await,
        (everyone.clone(), false)
    );

    app.grant_consents(&reader, &["personalized_recommendation"])
        .await;
    let leaning = vec![pearl_liked, jade, pearl_other];
    assert_eq!(
        discover_ids(&mut wr, json!({})).await,
        (leaning.clone(), true),
        "the reader's pearls first"
    );
    assert_eq!(
        discover_ids(&mut wx, json!({})).await,
        (everyone.clone(), false),
        "another reader's consent changes nothing for this one"
    );
    // An explicit order is never personalised.
    assert_eq!(
        discover_ids(&mut wr, json!({ "sort": "recent" })).await,
        (vec![pearl_other, pearl_liked, jade], false)
    );
    assert_eq!(
        discover_ids(&mut wr, json!({ "sort": "popular" })).await.0,
        vec![jade, pearl_liked, pearl_other]
    );

    app.post(
        "/api/me/consents",
        Some(&reader.token),
        &json!({ "permission": "personalized_recommendation", "granted": false }),
    )
    .await
    .ok("withdraw");
    assert_eq!(
        discover_ids(&mut wr, json!({})).await,
        (everyone, false),
        "withdrawn: the next page is the non-personalised one"
    );

    // One category, paging, refusals.
    assert_eq!(
        discover_ids(&mut wr, json!({ "category": "pearl" }))
            .await
            .0,
        vec![pearl_liked, pearl_other]
    );
    let first = wr.request_ok("feed.discover", json!({ "limit": 2 })).await;
    assert_eq!(first["next_offset"], json!(2), "{first}");
    let rest = wr
        .request_ok("feed.discover", json!({ "limit": 2, "offset": 2 }))
        .await;
    assert_eq!(rest["posts"].as_array().map(Vec::len), Some(1), "{rest}");
    assert!(rest["next_offset"].is_null(), "{rest}");
    for bad in [
        json!({ "category": "jadeite" }),
        json!({ "offset": 1001 }),
        json!({ "sort": "random" }),
        json!({ "limit": 0 }),
    ] {
        let e = wr.request_err("feed.discover", bad.clone()).await;
        assert!(
            matches!(code(&e), "invalid_field" | "bad_request"),
            "{bad}: {e}"
        );
    }
    // Blocks hold here too.
    wx.request_ok("user.block", json!({ "user_id": author.id }))
        .await;
    assert_eq!(discover_ids(&mut wx, json!({})).await.0, Vec::<i64>::new());
}

/// A follower away longer than `DUOXIE_FEED_INACTIVE_AFTER_MS` costs fan-out nothing; their
/// timeline is rebuilt from the authors they follow when they come back.
async fn readers_away_are_skipped_by_fan_out_and_rebuilt_on_return(store: Store) {
    let mut app = spawn_app_with(store, |s| s.feed.inactive_after_ms = 60_000).await;
    let author = app.new_user().await;
    let present = app.new_user().await;
    let away = app.new_user().await;
    let mut wa = app.ws(&author).await;
    let mut wp = app.ws(&present).await;
    let mut wy = app.ws(&away).await;
    for ws in [&mut wp, &mut wy] {
        ws.request_ok("user.follow", json!({ "user_id": author.id }))
            .await;
    }
    // The away reader last read their feed long ago.
    sqlx::query("UPDATE feed_readers SET active_at = 1 WHERE user_id = $1")
        .bind(away.id)
        .execute(&app.db)
        .await
        .expect("age the reader");

    let p = post(&mut wa, "新到的蜜蜡手串").await;
    wp.next_event_where("the post, fanned out to the present follower", |e| {
        e["type"] == json!("feed.post") && e["data"]["post"]["id"] == p["id"]
    })
    .await;
    let rows = |user: i64| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM feed_home WHERE user_id = $1")
                .bind(user)
                .fetch_one(&db)
                .await
                .expect("count")
        }
    };
    assert_eq!(rows(present.id).await, 1, "written for the present reader");
    assert_eq!(rows(away.id).await, 0, "skipped for the away one");

    // Back: the first page rebuilds the timeline, and the reader counts as present again.
    let home = wy.request_ok("feed.home", json!({})).await;
    assert_eq!(home["posts"][0]["id"], p["id"], "{home}");
    assert_eq!(rows(away.id).await, 1, "the timeline was rebuilt");
    let active: i64 = sqlx::query_scalar("SELECT active_at FROM feed_readers WHERE user_id = $1")
        .bind(away.id)
        .fetch_one(&app.db)
        .await
        .expect("active_at");
    assert!(active > 1, "marked active again");
    let next = post(&mut wa, "再来一件琥珀").await;
    wy.next_event_where("the next post, fanned out to the returned reader", |e| {
        e["type"] == json!("feed.post") && e["data"]["post"]["id"] == next["id"]
    })
    .await;
    assert_eq!(rows(away.id).await, 2, "fanned out again");
}

/// Redis down: the home feed is read from the followed authors' posts, complete; Redis back
/// empty (no persistence): the reader's next first page rebuilds their timeline there.
async fn the_home_feed_outlives_a_redis_outage_and_an_empty_restart(store: Store) {
    if crate::helpers::redis_url_from_env().is_none() {
        return;
    }
    let Some(mut redis) = crate::helpers::RedisServer::start().await else {
        return;
    };
    let mut cluster = crate::helpers::spawn_cluster_on(store, &redis.url(), 1).await;
    let author = cluster.nodes[0].new_user().await;
    let reader = cluster.nodes[0].new_user().await;
    let mut wa = cluster.nodes[0].ws(&author).await;
    let mut wr = cluster.nodes[0].ws(&reader).await;
    wr.request_ok("user.follow", json!({ "user_id": author.id }))
        .await;
    let mut posted = Vec::new();
    for text in ["和田玉平安扣", "南红玛瑙手串", "老蜜蜡吊坠"] {
        let p = post(&mut wa, text).await;
        wr.next_event_where("the post, fanned out", |e| {
            e["type"] == json!("feed.post") && e["data"]["post"]["id"] == p["id"]
        })
        .await;
        posted.insert(0, p["id"].as_i64().expect("id"));
    }
    assert_eq!(cluster.redis_timeline(reader.id).await, posted);

    redis.kill();
    assert_eq!(
        whole_home(&mut wr, 2).await,
        posted,
        "Redis down: every post, read from the authors' posts"
    );

    redis.start_again().await;
    let deadline = tokio::time::Instant::now() + crate::helpers::WAIT;
    loop {
        let page = wr.request("feed.home", json!({ "limit": 2 })).await;
        if page["ok"] == json!(true) && cluster.redis_timeline(reader.id).await == posted {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the timeline was not rebuilt after Redis came back: {page}"
        );
        tokio::time::sleep(crate::helpers::POLL_INTERVAL).await;
    }
    assert_eq!(whole_home(&mut wr, 2).await, posted);
}

/// Redis unreachable but keeping its data (a partition, not a restart): a follow made meanwhile
/// cannot fill the reader's timeline, which was marked complete, and an unfollow cannot empty
/// it of the author's posts. Once Redis is back the reader's next first page rebuilds it (the
/// follow is still due in the database) and never shows the unfollowed author's posts.
async fn a_follow_and_an_unfollow_made_while_redis_is_unreachable_hold_once_it_is_back(
    store: Store,
) {
    if crate::helpers::redis_url_from_env().is_none() {
        return;
    }
    let Some(mut redis) = crate::helpers::RedisServer::start().await else {
        return;
    };
    let mut cluster = crate::helpers::spawn_cluster_on(store, &redis.url(), 1).await;
    let left = cluster.nodes[0].new_user().await;
    let joined = cluster.nodes[0].new_user().await;
    let reader = cluster.nodes[0].new_user().await;
    let mut wl = cluster.nodes[0].ws(&left).await;
    let mut wj = cluster.nodes[0].ws(&joined).await;
    let mut wr = cluster.nodes[0].ws(&reader).await;
    // Following someone who has not posted yet: the rebuild finds nothing, marks it complete.
    wr.request_ok("user.follow", json!({ "user_id": left.id }))
        .await;
    let l1 = post(&mut wl, "翡翠手镯，要取消关注的作者").await["id"]
        .as_i64()
        .expect("id");
    wr.next_event_where("the post, fanned out", |e| {
        e["type"] == json!("feed.post") && e["data"]["post"]["id"] == json!(l1)
    })
    .await;
    let mut joined_posts = Vec::new();
    for text in ["和田玉籽料原石", "南红柿子红"] {
        joined_posts.insert(0, post(&mut wj, text).await["id"].as_i64().expect("id"));
    }
    assert_eq!(whole_home(&mut wr, 2).await, vec![l1]);
    assert_eq!(cluster.redis_timeline(reader.id).await, vec![l1]);

    redis.stop_keeping_data().await;
    wr.request_ok("user.follow", json!({ "user_id": joined.id }))
        .await;
    wr.request_ok("user.unfollow", json!({ "user_id": left.id }))
        .await;
    assert_eq!(
        whole_home(&mut wr, 2).await,
        joined_posts,
        "Redis unreachable: the followed authors' posts, read directly"
    );

    redis.start_again_with_data().await;
    assert_eq!(
        cluster.redis_timeline(reader.id).await,
        vec![l1],
        "the set as it was before the outage"
    );
    let deadline = tokio::time::Instant::now() + crate::helpers::WAIT;
    loop {
        let page = wr.request("feed.home", json!({ "limit": 2 })).await;
        let set = cluster.redis_timeline(reader.id).await;
        if page["ok"] == json!(true) && joined_posts.iter().all(|p| set.contains(p)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the followed author's posts never reached the timeline: {set:?}, {page}"
        );
        tokio::time::sleep(crate::helpers::POLL_INTERVAL).await;
    }
    let due: i64 = sqlx::query_scalar("SELECT timeline_due FROM feed_readers WHERE user_id = $1")
        .bind(reader.id)
        .fetch_one(&cluster.nodes[0].db)
        .await
        .expect("read the reader");
    assert_eq!(due, 0, "the rebuild caught the follow up");
    assert_eq!(
        whole_home(&mut wr, 2).await,
        joined_posts,
        "from the timeline: the new author's posts, none of the unfollowed one's"
    );
}

/// A big author's posts are merged at read, not fanned out; their followers' connections that
/// asked (`feed.live`) or followed them just now still hear of each new post live, on any
/// node; unfollowing stops it on every device.
async fn big_authors_new_posts_reach_the_connections_that_listen_on_any_node(store: Store) {
    let Some(mut cluster) = spawn_cluster_with(store, 2, |s| s.feed.fanout_max_followers = 1).await
    else {
        return;
    };
    let big = cluster.nodes[0].new_user().await;
    let listener = cluster.nodes[0].new_user().await;
    let quiet = cluster.nodes[0].new_user().await;
    let mut wb = cluster.nodes[0].ws(&big).await;
    let mut wl = cluster.nodes[1].ws(&listener).await;
    let mut wq = cluster.nodes[0].ws(&quiet).await;
    // The first follower: not big yet. The second makes the author big (over a threshold of
    // one), and its connection joins the author's topic as it follows.
    wq.request_ok("user.follow", json!({ "user_id": big.id }))
        .await;
    wl.request_ok("user.follow", json!({ "user_id": big.id }))
        .await;
    let p = post(&mut wb, "大号新帖：冰种飘花").await;
    wl.next_event_where("the big author's post, live on node 1", |e| {
        e["type"] == json!("feed.post") && e["data"]["post"]["id"] == p["id"]
    })
    .await;
    wq.request_ok("feed.home", json!({ "limit": 1 })).await;
    wq.read_arrived().await;
    let heard = wq.take_buffered(|f| f["type"] == json!("feed.post"));
    assert!(
        heard.is_empty(),
        "a connection that did not listen: {heard:?}"
    );
    let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM feed_fanout")
        .fetch_one(&cluster.nodes[0].db)
        .await
        .expect("count");
    assert_eq!(jobs, 0, "no fan-out job for a big author");

    // Another device of the listener, and the quiet follower, ask to listen.
    let mut wl2 = cluster.nodes[0].ws(&listener).await;
    for ws in [&mut wl2, &mut wq] {
        let live = ws.request_ok("feed.live", json!({})).await;
        assert_eq!(live["authors"], json!(1), "{live}");
    }
    let q = post(&mut wb, "大号第二帖").await;
    for ws in [&mut wl, &mut wl2, &mut wq] {
        ws.next_event_where("the second post, live", |e| {
            e["type"] == json!("feed.post") && e["data"]["post"]["id"] == q["id"]
        })
        .await;
    }

    // Unfollowing leaves the topic on every device of the listener: no more events there.
    wl.request_ok("user.unfollow", json!({ "user_id": big.id }))
        .await;
    for ws in [&mut wl, &mut wl2] {
        ws.next_event("user.unfollowed").await;
    }
    let r = post(&mut wb, "大号第三帖").await;
    wq.next_event_where("the third post, to the one still following", |e| {
        e["type"] == json!("feed.post") && e["data"]["post"]["id"] == r["id"]
    })
    .await;
    for ws in [&mut wl, &mut wl2] {
        ws.request_ok("feed.home", json!({ "limit": 1 })).await;
        ws.read_arrived().await;
        let after = ws.take_buffered(|f| f["type"] == json!("feed.post"));
        assert!(after.is_empty(), "unfollowed, yet told: {after:?}");
    }
}

/// The screens showing a post hear its counts live (`feed.counts`), aggregated: a burst of
/// likes is a few events, not one per like; a screen that stopped watching hears nothing.
async fn counts_reach_the_screens_watching_a_post_aggregated(store: Store) {
    const LIKES: usize = 20;
    let mut app = spawn_app_with(store, |s| {
        s.feed.counts_tick_ms = 1000;
        s.feed.watch_max = 1;
    })
    .await;
    let author = app.new_user().await;
    let watcher = app.new_user().await;
    let other = app.new_user().await;
    let blocked = app.new_user().await;
    let mut wa = app.ws(&author).await;
    let mut ww = app.ws(&watcher).await;
    let mut wo = app.ws(&other).await;
    let mut wb = app.ws(&blocked).await;
    wa.request_ok("user.block", json!({ "user_id": blocked.id }))
        .await;
    let p = post(&mut wa, "满绿翡翠蛋面").await;
    let id = p["id"].as_i64().expect("id");
    let second = post(&mut wa, "第二件").await;

    let watched = ww.request_ok("post.watch", json!({ "post_id": id })).await;
    assert_eq!(watched["post"]["likes"], json!(0), "{watched}");
    let e = ww
        .request_err("post.watch", json!({ "post_id": second["id"] }))
        .await;
    assert_eq!(code(&e), "conflict", "more than DUOXIE_FEED_WATCH_MAX: {e}");
    let e = wb.request_err("post.watch", json!({ "post_id": id })).await;
    assert_eq!(code(&e), "not_found", "a post one may not see: {e}");

    for _ in 0..LIKES {
        let liker = app.new_user().await;
        let mut wl = app.ws(&liker).await;
        wl.request_ok("post.like", json!({ "post_id": id })).await;
    }
    let last = ww
        .next_event_where("the counts after every like", |e| {
            e["type"] == json!("feed.counts")
                && e["data"]["post_id"] == json!(id)
                && e["data"]["likes"] == json!(LIKES)
        })
        .await;
    assert_eq!(last["data"]["comments"], json!(0), "{last}");
    ww.read_arrived().await;
    let events = 1 + ww
        .take_buffered(|f| f["type"] == json!("feed.counts"))
        .len();
    // Each like was a new account's login and a command: far more than a tick apart in all
    // would be needed for one event per like.
    assert!(
        events < LIKES,
        "{events} events for {LIKES} likes: counts are not aggregated"
    );

    // Stopped watching: the next change reaches the one still watching, not this screen.
    wo.request_ok("post.watch", json!({ "post_id": id })).await;
    ww.request_ok("post.unwatch", json!({ "post_id": id }))
        .await;
    wo.request_ok("post.comment", json!({ "post_id": id, "text": "种水真好" }))
        .await;
    wo.next_event_where("the comment counted, live", |e| {
        e["type"] == json!("feed.counts") && e["data"]["comments"] == json!(1)
    })
    .await;
    ww.request_ok("feed.home", json!({ "limit": 1 })).await;
    ww.read_arrived().await;
    let after = ww.take_buffered(|f| f["type"] == json!("feed.counts"));
    assert!(after.is_empty(), "unwatched, yet told: {after:?}");
}

store_tests!(
    counts_reach_the_screens_watching_a_post_aggregated,
    big_authors_new_posts_reach_the_connections_that_listen_on_any_node,
    the_home_feed_outlives_a_redis_outage_and_an_empty_restart,
    a_follow_and_an_unfollow_made_while_redis_is_unreachable_hold_once_it_is_back,
    the_discover_feed_is_personalised_only_under_the_consent_and_stops_at_once,
    readers_away_are_skipped_by_fan_out_and_rebuilt_on_return,
    the_home_feed_in_redis_pages_the_same_and_survives_losing_a_timeline,
    complete_timelines_end_pages_and_follows_fill_them,
    reports_of_posts_and_comments_are_queued_with_their_pictures_and_upheld_everywhere,
    complete_timelines_in_redis_end_pages_and_follows_fill_them,
    posts_are_found_by_a_chinese_word_inside_a_longer_text,
    comments_are_screened_counted_and_deleted_by_either_author,
    posts_are_screened_published_liked_and_deleted_everywhere,
    the_home_feed_pages_without_holes_or_repeats_and_merges_big_authors,
    follows_are_counted_listed_and_hidden_by_choice,
    a_node_killed_during_fan_out_leaves_no_follower_without_the_post,
);
