//! Moderation: profile text screened (refused, held for review, or shown), videos held until
//! a moderator decides, the live console (only moderators; the queue then live events),
//! claims as leases (one winner, expiry returns the item), decisions applied and audited,
//! the picture blocklist catching near-duplicates, and consoles on other nodes kept in step.

use image::codecs::png::PngEncoder;
use image::{ImageEncoder, Rgb, RgbImage};
use serde_json::{json, Value};
use sqlx::Row;

use crate::helpers::{
    spawn_app, spawn_app_with, spawn_cluster, Store, TestApp, TestUser, WsClient,
};

async fn moderator(app: &mut TestApp) -> TestUser {
    let user = app.new_user().await;
    app.grant_role(user.id, "moderator").await;
    app.login_again(&user).await
}

async fn console(app: &TestApp, user: &TestUser) -> (WsClient, Value) {
    let mut ws = app.ws(user).await;
    let queue = ws.request_ok("mod.subscribe", json!({})).await;
    (ws, queue)
}

/// Claims an item and decides it, as one moderator does from the console.
pub(crate) async fn claim_and_decide(
    console: &mut WsClient,
    item_id: &Value,
    decision: &str,
    reason: &str,
) {
    console
        .request_ok("mod.claim", json!({ "item_id": item_id }))
        .await;
    console
        .request_ok(
            "mod.decide",
            json!({ "item_id": item_id, "decision": decision, "reason": reason }),
        )
        .await;
}

/// A photo-like picture: a lit backdrop with a dark disc and a bright bar, shapes a few
/// times the size of PDQ's cells (a fine checkerboard aliases when resized, as no photo does).
fn picture(w: u32, h: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| {
        let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
        let disc = (u - 0.35).powi(2) + (v - 0.45).powi(2) < 0.04;
        let bar = (0.6..0.8).contains(&u) && (0.2..0.85).contains(&v);
        let light = (240.0 - 90.0 * ((u - 0.5).powi(2) + (v - 0.5).powi(2))) as u8;
        match (disc, bar) {
            (true, _) => Rgb([150, 30, 40]),
            (_, true) => Rgb([250, 230, 120]),
            _ => Rgb([light, light, light - 10]),
        }
    });
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .expect("encode");
    out
}

/// The same picture, smaller and re-encoded as JPEG: a near-duplicate, not the same bytes.
fn resized_jpeg_copy(png: &[u8]) -> Vec<u8> {
    let decoded = image::load_from_memory(png).expect("png");
    let smaller = decoded.resize_exact(300, 300, image::imageops::FilterType::Lanczos3);
    let mut out = Vec::new();
    smaller
        .write_to(
            &mut std::io::Cursor::new(&mut out),
            image::ImageFormat::Jpeg,
        )
        .expect("jpeg");
    out
}

fn mp4() -> Vec<u8> {
    let boxed = |kind: &[u8; 4], payload: &[u8]| {
        let mut b = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(payload);
        b
    };
    let mut file = boxed(b"ftyp", b"isom\0\0\0\0isom");
    file.extend(boxed(b"moov", &boxed(b"mvhd", &[0u8; 20])));
    file.extend(boxed(b"mdat", &[3u8; 64]));
    file
}

async fn only_moderators_may_open_the_console(store: Store) {
    let mut app = spawn_app(store).await;
    let buyer = app.new_user().await;
    let mut ws = app.ws(&buyer).await;
    for (kind, data) in [
        ("mod.subscribe", json!({})),
        ("mod.queue", json!({})),
        ("mod.claim", json!({ "item_id": 1 })),
        ("mod.decide", json!({ "item_id": 1, "decision": "approve" })),
    ] {
        let refused = ws.request_err(kind, data).await;
        assert_eq!(refused["code"], json!("forbidden"), "{kind}: {refused}");
    }
    // A role granted while the socket is open counts at once: the session reads the roles
    // again before it refuses.
    duoxie::auth::grant_role(&app.db, buyer.id, "moderator")
        .await
        .expect("grant");
    let queue = ws.request_ok("mod.queue", json!({})).await;
    assert!(queue["items"].is_array(), "{queue}");
    let mod_user = moderator(&mut app).await;
    let (_console, queue) = console(&app, &mod_user).await;
    assert!(queue["items"].is_array(), "{queue}");
}

async fn profile_text_is_refused_held_or_shown(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let mod_user = moderator(&mut app).await;
    let (mut console, _) = console(&app, &mod_user).await;

    app.patch(
        "/api/me",
        Some(&user.token),
        &json!({ "nickname": "高仿 翡翠" }),
    )
    .await
    .assert_error(422, "content_rejected", "a blocked word");
    let shown = app
        .patch(
            "/api/me",
            Some(&user.token),
            &json!({ "intro": "喜欢和田玉" }),
        )
        .await
        .ok("clean text");
    assert_eq!(shown["intro"], json!("喜欢和田玉"));
    assert!(shown.get("pending_review").is_none(), "{shown}");

    let held = app
        .patch(
            "/api/me",
            Some(&user.token),
            &json!({ "intro": "加微信 jade88 私聊" }),
        )
        .await
        .ok("held for review");
    assert_eq!(held["pending_review"], json!(["intro"]), "{held}");
    assert_eq!(
        held["intro"],
        json!("喜欢和田玉"),
        "the old text stays until approved"
    );
    let item = console.next_event("mod.item").await;
    assert_eq!(item["data"]["subject_id"], json!(user.id), "{item}");
    let item_id = item["data"]["id"].as_i64().expect("id");

    let mut user_ws = app.ws(&user).await;
    console
        .request_ok("mod.claim", json!({ "item_id": item_id }))
        .await;
    let refused = console
        .request_err(
            "mod.decide",
            json!({ "item_id": item_id, "decision": "reject" }),
        )
        .await;
    assert_eq!(
        refused["code"],
        json!("invalid_field"),
        "a rejection needs a reason"
    );
    console
        .request_ok(
            "mod.decide",
            json!({ "item_id": item_id, "decision": "approve", "reason": "" }),
        )
        .await;
    let told = user_ws.next_event("moderation.decided").await;
    assert_eq!(told["data"]["decision"], json!("approve"), "{told}");
    let me = app.get("/api/me", Some(&user.token)).await.ok("me");
    assert_eq!(
        me["intro"],
        json!("加微信 jade88 私聊"),
        "applied once approved"
    );

    let audit: (String, i64) = {
        let row = sqlx::query("SELECT action, actor_id FROM moderation_audit WHERE item_id = $1")
            .bind(item_id)
            .fetch_one(&app.db)
            .await
            .expect("an audit row");
        (row.get(0), row.get(1))
    };
    assert_eq!(audit, ("approve".to_string(), mod_user.id));
}

async fn two_moderators_racing_for_one_item_one_wins_and_leases_expire(store: Store) {
    let mut app = spawn_app_with(store, |s| {
        s.moderation.claim_lease_ms = 300;
        s.moderation.lease_check_ms = 20;
    })
    .await;
    let author = app.new_user().await;
    let first = moderator(&mut app).await;
    let second = moderator(&mut app).await;
    let (mut a, _) = console(&app, &first).await;
    let (mut b, _) = console(&app, &second).await;
    app.patch(
        "/api/me",
        Some(&author.token),
        &json!({ "intro": "QQ 12345678" }),
    )
    .await
    .ok("held");
    let item_id = a.next_event("mod.item").await["data"]["id"]
        .as_i64()
        .expect("id");
    b.next_event("mod.item").await;

    let claim = json!({ "item_id": item_id });
    let (ra, rb) = tokio::join!(
        a.request("mod.claim", claim.clone()),
        b.request("mod.claim", claim.clone())
    );
    let oks = [&ra, &rb].iter().filter(|r| r["ok"] == json!(true)).count();
    assert_eq!(oks, 1, "exactly one wins: {ra} {rb}");
    let (winner, loser) = if ra["ok"] == json!(true) {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    let lost = if ra["ok"] == json!(true) { &rb } else { &ra };
    assert_eq!(lost["error"]["code"], json!("conflict"), "{lost}");
    let _ = winner;

    // The winner does nothing; the lease runs out and the item is back for anyone.
    let released = loser.next_event("mod.released").await;
    assert_eq!(released["data"]["item_id"], json!(item_id), "{released}");
    loser.request_ok("mod.claim", claim).await;
}

async fn videos_wait_for_a_moderator_and_blocked_pictures_are_refused_on_sight(store: Store) {
    let mut app = spawn_app(store).await;
    let author = app.new_user().await;
    let other = app.new_user().await;
    let mod_user = moderator(&mut app).await;
    app.grant_consents(&author, &["camera", "microphone", "photo_album"])
        .await;
    let (mut console, _) = console(&app, &mod_user).await;

    let video = app
        .upload(
            &author.token,
            "purpose=post_video&source=camera",
            "video/mp4",
            mp4(),
        )
        .await
        .ok("video");
    let media_path = format!("/api/media/{}", video["id"].as_str().expect("id"));
    app.get(&media_path, Some(&other.token))
        .await
        .assert_error(404, "not_found", "held video");
    let item = console.next_event("mod.item").await;
    assert_eq!(item["data"]["kind"], json!("media"), "{item}");
    let item_id = item["data"]["id"].as_i64().expect("id");
    console
        .request_ok("mod.claim", json!({ "item_id": item_id }))
        .await;
    console
        .request_ok(
            "mod.decide",
            json!({ "item_id": item_id, "decision": "approve" }),
        )
        .await;
    let seen = app
        .get(&media_path, Some(&other.token))
        .await
        .ok("approved video is public");
    assert_eq!(seen["status"], json!("approved"));

    // A picture rejected and blocked: a resized copy is refused at upload.
    let original = picture(400, 400);
    let post = app
        .upload(
            &author.token,
            "purpose=post_photo&source=album",
            "image/png",
            original,
        )
        .await
        .ok("photo");
    let media_id = post["id"].as_str().expect("id").to_owned();
    // Another user reports it; the moderator rejects it and blocks the picture.
    let mut reporter = app.ws(&other).await;
    let report = reporter
        .request_ok(
            "report.create",
            json!({ "target": "media", "media_id": media_id, "reason": "fake certificate photo" }),
        )
        .await;
    let reported = console.next_event("mod.item").await;
    assert_eq!(
        reported["data"]["kind"],
        json!("report_media"),
        "{reported}"
    );
    let queued = report["item_id"].as_i64().expect("item id");
    claim_and_decide(
        &mut console,
        &json!(queued),
        "reject_and_block",
        "counterfeit listing",
    )
    .await;
    let copy = resized_jpeg_copy(&picture(400, 400));
    app.upload(
        &other.token,
        "purpose=post_photo&source=album",
        "image/jpeg",
        copy,
    )
    .await
    .assert_error(403, "consent_required", "needs consent first");
    app.grant_consents(&other, &["photo_album"]).await;
    let copy = resized_jpeg_copy(&picture(400, 400));
    app.upload(
        &other.token,
        "purpose=post_photo&source=album",
        "image/jpeg",
        copy,
    )
    .await
    .assert_error(
        422,
        "content_rejected",
        "a resized re-encode of a blocked picture",
    );
    let status: String = sqlx::query("SELECT status FROM media WHERE id = $1")
        .bind(&media_id)
        .fetch_one(&app.db)
        .await
        .expect("row")
        .get(0);
    assert_eq!(status, "rejected");
}

async fn a_console_on_another_node_sees_the_queue_change(store: Store) {
    let Some(mut cluster) = spawn_cluster(store, 2).await else {
        return;
    };
    let author = cluster.nodes[0].new_user().await;
    let mod_user = cluster.nodes[1].new_user().await;
    cluster.nodes[1].grant_role(mod_user.id, "moderator").await;
    let mod_user = cluster.nodes[1].login_again(&mod_user).await;
    assert_eq!(
        cluster.topic_subscribers("consoles").await,
        0,
        "no node routes the consoles while none is open"
    );
    let (mut there, _) = console(&cluster.nodes[1], &mod_user).await;
    // mod.subscribe answers once node 1 routes the topic; node 0 holds no member.
    assert_eq!(cluster.topic_subscribers("consoles").await, 1);
    cluster.nodes[0]
        .patch(
            "/api/me",
            Some(&author.token),
            &json!({ "intro": "www.example.com 便宜" }),
        )
        .await
        .ok("held");
    let item = there.next_event("mod.item").await;
    assert_eq!(item["data"]["subject_id"], json!(author.id), "{item}");
    // The last console on node 1 closing stops the routing there.
    there.close().await;
    cluster.await_topic_subscribers("consoles", 0).await;
}

async fn a_muted_user_cannot_chat_until_the_mute_is_lifted(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let peer = app.new_user().await;
    let mod_user = moderator(&mut app).await;
    let (mut console, _) = console(&app, &mod_user).await;
    let mut ws = app.ws(&user).await;
    let conv = ws.open_chat(peer.id).await;

    console
        .request_ok(
            "mod.act",
            json!({ "user_id": user.id, "action": "mute", "duration_ms": 3_600_000, "reason": "spam" }),
        )
        .await;
    let told = ws.next_event("moderation.muted").await;
    assert!(told["data"]["until"].as_i64().is_some(), "{told}");
    let me = app.get("/api/me", Some(&user.token)).await.ok("me");
    assert_eq!(me["muted_until"], told["data"]["until"], "{me}");
    let refused = ws
        .request_err(
            "chat.send",
            json!({ "conversation_id": conv, "client_id": "m1", "text": "buy now" }),
        )
        .await;
    assert_eq!(refused["code"], json!("muted"), "{refused}");
    assert!(
        refused["retry_after_ms"]
            .as_u64()
            .is_some_and(|ms| ms > 3_000_000),
        "{refused}"
    );
    // A socket opened later knows it too.
    let mut later = app.ws(&user).await;
    let refused = later
        .request_err(
            "chat.send",
            json!({ "conversation_id": conv, "client_id": "m2", "text": "hello" }),
        )
        .await;
    assert_eq!(refused["code"], json!("muted"), "{refused}");
    // Reading is not speaking.
    later.request_ok("chat.list", json!({})).await;

    console
        .request_ok(
            "mod.act",
            json!({ "user_id": user.id, "action": "lift", "reason": "appeal accepted" }),
        )
        .await;
    ws.next_event("moderation.lifted").await;
    ws.say(conv, "sorry").await;
}

async fn user_actions_are_refused_to_non_moderators_checked_and_audited(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let buyer = app.new_user().await;
    let mod_user = moderator(&mut app).await;
    let mut ws = app.ws(&buyer).await;
    let refused = ws
        .request_err(
            "mod.act",
            json!({ "user_id": user.id, "action": "warn", "reason": "x" }),
        )
        .await;
    assert_eq!(refused["code"], json!("forbidden"), "{refused}");
    let (mut console, _) = console(&app, &mod_user).await;
    for (case, data, code) in [
        (
            "no reason",
            json!({ "user_id": user.id, "action": "warn", "reason": " " }),
            "invalid_field",
        ),
        (
            "mute without a duration",
            json!({ "user_id": user.id, "action": "mute", "reason": "x" }),
            "invalid_field",
        ),
        (
            "on themselves",
            json!({ "user_id": mod_user.id, "action": "warn", "reason": "x" }),
            "forbidden",
        ),
        (
            "unknown user",
            json!({ "user_id": 987654, "action": "warn", "reason": "x" }),
            "not_found",
        ),
        (
            "unknown action",
            json!({ "user_id": user.id, "action": "ban", "reason": "x" }),
            "invalid_field",
        ),
    ] {
        let got = console.request_err("mod.act", data).await;
        assert_eq!(got["code"], json!(code), "{case}: {got}");
    }
    let mut user_ws = app.ws(&user).await;
    console
        .request_ok(
            "mod.act",
            json!({ "user_id": user.id, "action": "warn", "reason": "rude to a seller" }),
        )
        .await;
    let warned = user_ws.next_event("moderation.warning").await;
    assert_eq!(warned["data"]["reason"], json!("rude to a seller"));
    let audit = console
        .request_ok("mod.audit", json!({ "limit": 10 }))
        .await;
    let first = &audit["entries"][0];
    assert_eq!(
        (
            &first["action"],
            &first["actor_id"],
            &first["target_user_id"],
            &first["reason"]
        ),
        (
            &json!("warn"),
            &json!(mod_user.id),
            &json!(user.id),
            &json!("rude to a seller")
        ),
        "{audit}"
    );
    let export = app
        .get("/api/me/export", Some(&user.token))
        .await
        .ok("export");
    assert_eq!(
        export["sections"]["moderation"]["sanctions"][0]["kind"],
        json!("warn")
    );
}

async fn a_suspension_closes_sockets_on_every_node_and_refuses_logins_until_lifted(store: Store) {
    let Some(mut cluster) = spawn_cluster(store, 2).await else {
        return;
    };
    let user = cluster.nodes[0].new_user().await;
    let mod_user = cluster.nodes[0].new_user().await;
    cluster.nodes[0].grant_role(mod_user.id, "moderator").await;
    let mod_user = cluster.nodes[0].login_again(&mod_user).await;
    let mut there = cluster.nodes[1].ws(&user).await;
    cluster.await_subscribers(user.id, 1).await;
    let (mut console, _) = console(&cluster.nodes[0], &mod_user).await;
    console
        .request_ok(
            "mod.act",
            json!({ "user_id": user.id, "action": "suspend", "reason": "selling counterfeits" }),
        )
        .await;
    assert_eq!(
        there.expect_close().await,
        Some(4005),
        "closed on the other node"
    );
    for node in &cluster.nodes {
        node.get("/api/me", Some(&user.token)).await.assert_error(
            401,
            "unauthorized",
            "a suspended account's token",
        );
    }
    let code = cluster.nodes[1].request_code(&user.phone).await;
    cluster.nodes[1]
        .post(
            "/api/auth/login",
            None,
            &json!({ "phone": user.phone, "code": code, "accepted_policy_version": "1" }),
        )
        .await
        .assert_error(403, "suspended", "logging in while suspended");
    console
        .request_ok(
            "mod.act",
            json!({ "user_id": user.id, "action": "lift", "reason": "reviewed" }),
        )
        .await;
    cluster.nodes[1]
        .get("/api/me", Some(&user.token))
        .await
        .ok("the token works again");
}

async fn reports_join_the_queue_with_the_content_attached(store: Store) {
    let mut app = spawn_app(store).await;
    let seller = app.new_user().await;
    let buyer = app.new_user().await;
    let stranger = app.new_user().await;
    let mod_user = moderator(&mut app).await;
    let (mut console, _) = console(&app, &mod_user).await;
    let mut ws_seller = app.ws(&seller).await;
    let mut ws_buyer = app.ws(&buyer).await;
    let conv = ws_seller.open_chat(buyer.id).await;
    let sent = ws_seller.say(conv, "pay me outside the app, cheaper").await;
    let seq = sent["seq"]
        .as_i64()
        .unwrap_or_else(|| sent["message"]["seq"].as_i64().expect("seq"));

    let mut ws_stranger = app.ws(&stranger).await;
    let refused = ws_stranger
        .request_err(
            "report.create",
            json!({ "target": "message", "conversation_id": conv, "seq": seq, "reason": "x" }),
        )
        .await;
    assert_eq!(
        refused["code"],
        json!("not_found"),
        "not their conversation: {refused}"
    );
    let own = ws_seller
        .request_err(
            "report.create",
            json!({ "target": "message", "conversation_id": conv, "seq": seq, "reason": "x" }),
        )
        .await;
    assert_eq!(own["code"], json!("invalid_field"), "{own}");
    let queued = ws_buyer
        .request_ok(
            "report.create",
            json!({ "target": "message", "conversation_id": conv, "seq": seq, "reason": "asks to pay outside" }),
        )
        .await;
    let item = console.next_event("mod.item").await;
    assert_eq!(item["data"]["id"], queued["item_id"]);
    assert_eq!(
        (
            &item["data"]["kind"],
            &item["data"]["priority"],
            &item["data"]["subject_id"]
        ),
        (&json!("report_message"), &json!(0), &json!(seller.id)),
        "{item}"
    );
    assert_eq!(
        item["data"]["content"],
        json!("pay me outside the app, cheaper")
    );
    let metrics = app.get("/metrics", None).await.body;
    let text = metrics.as_str().unwrap_or_default();
    assert!(
        text.contains("duoxie_moderation_queue_depth{priority=\"0\"} 1"),
        "{text}"
    );

    let item_id = queued["item_id"].clone();
    claim_and_decide(&mut console, &item_id, "reject", "off-platform payment").await;
    for ws in [&mut ws_seller, &mut ws_buyer] {
        let removed = ws.next_event("chat.removed").await;
        assert_eq!(
            removed["data"],
            json!({ "conversation_id": conv, "seq": seq, "item_id": item_id })
        );
    }
    let history = ws_buyer
        .request_ok("chat.history", json!({ "conversation_id": conv }))
        .await;
    assert!(
        !history.to_string().contains("outside the app"),
        "taken down: {history}"
    );
    let metrics = app.get("/metrics", None).await.body;
    assert!(
        metrics
            .as_str()
            .unwrap_or_default()
            .contains("duoxie_moderation_decision_seconds_count"),
        "{metrics}"
    );

    let user_report = ws_buyer
        .request_ok(
            "report.create",
            json!({ "target": "user", "user_id": seller.id, "reason": "scammer" }),
        )
        .await;
    let item = console.next_event("mod.item").await;
    assert_eq!(item["data"]["id"], user_report["item_id"]);
    assert!(
        item["data"]["content"]
            .as_str()
            .is_some_and(|c| c.contains("nickname")),
        "{item}"
    );
}

async fn an_author_may_appeal_a_rejection_once_within_the_window(store: Store) {
    let mut app = spawn_app(store).await;
    let author = app.new_user().await;
    let other = app.new_user().await;
    let mod_user = moderator(&mut app).await;
    let (mut console, _) = console(&app, &mod_user).await;
    let mut ws = app.ws(&author).await;
    app.patch(
        "/api/me",
        Some(&author.token),
        &json!({ "intro": "wx: jade_shop 正品" }),
    )
    .await
    .ok("held");
    let item_id = console.next_event("mod.item").await["data"]["id"].clone();
    claim_and_decide(&mut console, &item_id, "reject", "contact details").await;
    let told = ws.next_event("moderation.decided").await;
    assert_eq!(told["data"]["item_id"], item_id, "{told}");

    let mut other_ws = app.ws(&other).await;
    let refused = other_ws
        .request_err(
            "appeal.create",
            json!({ "item_id": item_id, "reason": "mine" }),
        )
        .await;
    assert_eq!(
        refused["code"],
        json!("not_found"),
        "not their item: {refused}"
    );
    let appeal = ws
        .request_ok(
            "appeal.create",
            json!({ "item_id": item_id, "reason": "it is my shop's official account" }),
        )
        .await;
    let again = ws
        .request_err(
            "appeal.create",
            json!({ "item_id": item_id, "reason": "again" }),
        )
        .await;
    assert_eq!(again["code"], json!("conflict"), "{again}");
    let queued = console.next_event("mod.item").await;
    assert_eq!(
        (&queued["data"]["kind"], &queued["data"]["id"]),
        (&json!("appeal"), &appeal["item_id"])
    );
    claim_and_decide(&mut console, &appeal["item_id"], "approve", "").await;
    let me = app.get("/api/me", Some(&author.token)).await.ok("me");
    assert_eq!(
        me["intro"],
        json!("wx: jade_shop 正品"),
        "the appeal applied the original text"
    );

    // A rejection older than the window can no longer be appealed.
    app.patch(
        "/api/me",
        Some(&author.token),
        &json!({ "nickname": "QQ 12345678" }),
    )
    .await
    .ok("held");
    let late = console.next_event("mod.item").await["data"]["id"].clone();
    claim_and_decide(&mut console, &late, "reject", "contact").await;
    sqlx::query("UPDATE moderation_items SET decided_at = decided_at - $1 WHERE id = $2")
        .bind(21_i64 * 24 * 3600 * 1000)
        .bind(late.as_i64().expect("id"))
        .execute(&app.db)
        .await
        .expect("age the decision");
    let expired = ws
        .request_err(
            "appeal.create",
            json!({ "item_id": late, "reason": "late" }),
        )
        .await;
    assert_eq!(expired["code"], json!("invalid_field"), "{expired}");
}

async fn a_chat_photo_is_delivered_only_once_screening_passes(store: Store) {
    let mut app = spawn_app(store).await;
    let sender = app.new_user().await;
    let peer = app.new_user().await;
    let stranger = app.new_user().await;
    let mod_user = moderator(&mut app).await;
    let (mut console, _) = console(&app, &mod_user).await;
    app.grant_consents(&sender, &["photo_album"]).await;
    let mut ws_sender = app.ws(&sender).await;
    let mut ws_peer = app.ws(&peer).await;
    let conv = ws_sender.open_chat(peer.id).await;
    let photo = picture(320, 240);

    // Passed at once: sent and delivered like text; the peer may now see the photo.
    let first = app
        .upload(
            &sender.token,
            "purpose=chat_photo&source=album",
            "image/png",
            photo.clone(),
        )
        .await
        .ok("upload");
    let media_id = first["id"].as_str().expect("id").to_owned();
    let sent = ws_sender
        .request_ok(
            "chat.send",
            json!({ "conversation_id": conv, "client_id": "p1", "media_id": media_id }),
        )
        .await;
    assert!(sent.get("held").is_none(), "{sent}");
    let delivered = ws_peer.next_message(conv).await;
    assert_eq!(
        (&delivered["data"]["kind"], &delivered["data"]["text"]),
        (&json!("photo"), &json!(media_id)),
        "{delivered}"
    );
    let path = format!("/api/media/{media_id}");
    app.get(&path, Some(&peer.token))
        .await
        .ok("the peer sees the photo");
    app.get(&path, Some(&stranger.token)).await.assert_error(
        404,
        "not_found",
        "a stranger does not",
    );

    // Resembling a blocklisted picture: held until a moderator decides. The listed print is
    // the photo's own with 35 bits of 256 turned (past the match, inside the review band).
    let stored: String = sqlx::query("SELECT fingerprint FROM media WHERE id = $1")
        .bind(&media_id)
        .fetch_one(&app.db)
        .await
        .expect("row")
        .get(0);
    let mut near =
        duoxie::moderation::fingerprint::Fingerprint::decode(&stored).expect("stored form");
    for k in 0..35 {
        near.whole.hash.bits[k / 8] ^= 1 << (k % 8);
    }
    near.cuts = vec![near.whole; near.cuts.len()];
    sqlx::query(
        "INSERT INTO picture_blocklist (algorithm, version, pdq, quality, fingerprint, reason, \
         created_at) VALUES ('pdq', $1, $2, 90, $3, 'test', 1)",
    )
    .bind(duoxie::moderation::fingerprint::VERSION)
    .bind(near.whole.hash.to_hex())
    .bind(near.encode())
    .execute(&app.db)
    .await
    .expect("blocklist a near print");
    for (round, decision) in [(2, "approve"), (3, "reject")] {
        let held_upload = app
            .upload(
                &sender.token,
                "purpose=chat_photo&source=album",
                "image/png",
                photo.clone(),
            )
            .await
            .ok("upload");
        assert_eq!(held_upload["status"], json!("in_review"), "{held_upload}");
        let held_id = held_upload["id"].as_str().expect("id").to_owned();
        let item = console.next_event("mod.item").await;
        let client_id = format!("p{round}");
        let sent = ws_sender
            .request_ok(
                "chat.send",
                json!({ "conversation_id": conv, "client_id": client_id, "media_id": held_id }),
            )
            .await;
        assert_eq!(
            (&sent["held"], &sent["message"]["seq"]),
            (&json!(true), &json!(0)),
            "{sent}"
        );
        claim_and_decide(&mut console, &item["data"]["id"], decision, "looked at it").await;
        let marker = format!("after round {round}");
        ws_sender.say(conv, &marker).await;
        let next = ws_peer.next_message(conv).await;
        if decision == "approve" {
            assert_eq!(
                next["data"]["text"],
                json!(held_id),
                "released once approved: {next}"
            );
            let after = ws_peer.next_message(conv).await;
            assert_eq!(after["data"]["text"], json!(marker));
        } else {
            assert_eq!(
                next["data"]["text"],
                json!(marker),
                "a rejected photo is never delivered"
            );
            let told = ws_sender
                .next_event_where("the rejection", |e| {
                    e["type"] == "moderation.decided" && e["data"]["ref"] == json!(held_id)
                })
                .await;
            assert_eq!(told["data"]["decision"], json!("reject"));
            let refused = ws_sender
                .request_err(
                    "chat.send",
                    json!({ "conversation_id": conv, "client_id": "again", "media_id": held_id }),
                )
                .await;
            assert_eq!(refused["code"], json!("content_rejected"), "{refused}");
        }
    }
}

store_tests!(
    a_chat_photo_is_delivered_only_once_screening_passes,
    reports_join_the_queue_with_the_content_attached,
    an_author_may_appeal_a_rejection_once_within_the_window,
    a_muted_user_cannot_chat_until_the_mute_is_lifted,
    user_actions_are_refused_to_non_moderators_checked_and_audited,
    a_suspension_closes_sockets_on_every_node_and_refuses_logins_until_lifted,
    only_moderators_may_open_the_console,
    profile_text_is_refused_held_or_shown,
    two_moderators_racing_for_one_item_one_wins_and_leases_expire,
    videos_wait_for_a_moderator_and_blocked_pictures_are_refused_on_sight,
    a_console_on_another_node_sees_the_queue_change,
);
