//! Chat text screened in the send path (#10): refused by a block rule with the kind of rule
//! only, held by a review rule or contact details (durable, no seq, nothing delivered) until a
//! moderator decides, then sent as any message or dropped; retries never queue twice. And chat
//! photos reported from where they were received: taken down for every viewer, blocklisted
//! from the same card, appealable from the removed message itself.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, Store, TestApp, TestUser, WsClient};

async fn moderator(app: &mut TestApp) -> TestUser {
    let user = app.new_user().await;
    app.grant_role(user.id, "moderator").await;
    app.login_again(&user).await
}

async fn send(ws: &mut WsClient, conversation: i64, client_id: &str, text: &str) -> Value {
    ws.request(
        "chat.send",
        json!({ "conversation_id": conversation, "client_id": client_id, "text": text }),
    )
    .await
}

async fn decide(console: &mut WsClient, item: &Value, decision: &str) {
    console
        .request_ok("mod.claim", json!({ "item_id": item }))
        .await;
    console
        .request_ok(
            "mod.decide",
            json!({ "item_id": item, "decision": decision, "reason": "聊天审核" }),
        )
        .await;
}

async fn metric(app: &TestApp, name: &str) -> u64 {
    let body = app.get("/metrics", None).await.body;
    let text = body.as_str().unwrap_or("");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

async fn a_blocked_word_is_refused_naming_only_the_kind_of_rule(store: Store) {
    let mut app = spawn_app(store).await;
    let buyer = app.new_user().await;
    let seller = app.new_user().await;
    let mut wb = app.ws(&buyer).await;
    let conv = wb.open_chat(seller.id).await;
    let before = metric(&app, "duoxie_chat_text_rejected_total").await;
    let reply = send(&mut wb, conv, "q1", "这个是高仿的吗？").await;
    assert_eq!(reply["error"]["code"], json!("content_rejected"), "{reply}");
    let message = reply["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("keyword"), "names the kind: {message}");
    assert!(
        !message.contains("高仿"),
        "never the word itself: {message}"
    );
    assert!(metric(&app, "duoxie_chat_text_rejected_total").await > before);
    let history = wb
        .request_ok("chat.history", json!({ "conversation_id": conv }))
        .await;
    assert_eq!(
        history["messages"],
        json!([]),
        "nothing was stored as a message"
    );
}

async fn a_held_text_reaches_the_peer_only_once_approved(store: Store) {
    let mut app = spawn_app(store).await;
    let buyer = app.new_user().await;
    let seller = app.new_user().await;
    let moderator = moderator(&mut app).await;
    let mut wb = app.ws(&buyer).await;
    let mut ws = app.ws(&seller).await;
    let mut console = app.ws(&moderator).await;
    console.request_ok("mod.subscribe", json!({})).await;
    let conv = wb.open_chat(seller.id).await;
    let held_before = metric(&app, "duoxie_chat_text_held_total").await;

    let text = "加我微信 jade888，私下交易便宜";
    let reply = send(&mut wb, conv, "h1", text).await;
    assert_eq!(reply["data"]["held"], json!(true), "{reply}");
    assert_eq!(
        reply["data"]["message"]["seq"],
        json!(0),
        "no seq while held"
    );
    // A retry of the same send is the same held message, not a second item.
    let again = send(&mut wb, conv, "h1", text).await;
    assert_eq!(
        (
            again["data"]["held"].clone(),
            again["data"]["duplicate"].clone()
        ),
        (json!(true), json!(true)),
        "{again}"
    );
    let item = console.next_event("mod.item").await;
    assert_eq!(item["data"]["kind"], json!("chat_text"), "{item}");
    assert_eq!(item["data"]["content"], json!(text));
    assert!(metric(&app, "duoxie_chat_text_held_total").await > held_before);

    // Nothing reached the seller: their history is empty and a marker passes first.
    let history = ws
        .request_ok("chat.history", json!({ "conversation_id": conv }))
        .await;
    assert_eq!(history["messages"], json!([]), "held, not delivered");
    assert!(ws
        .take_buffered(|f| f["type"] == json!("chat.message"))
        .is_empty());
    // The sender finds it again after a reload; the peer does not see it, a stranger may
    // not ask.
    let mut reloaded = app.ws(&buyer).await;
    let held = reloaded
        .request_ok("chat.held", json!({ "conversation_id": conv }))
        .await;
    assert_eq!(held["held"].as_array().map(Vec::len), Some(1), "{held}");
    assert_eq!(
        (&held["held"][0]["client_id"], &held["held"][0]["text"]),
        (&json!("h1"), &json!(text))
    );
    let peers = ws
        .request_ok("chat.held", json!({ "conversation_id": conv }))
        .await;
    assert_eq!(peers["held"], json!([]), "only the sender's own: {peers}");
    let stranger = app.new_user().await;
    let mut wx = app.ws(&stranger).await;
    let refused = wx
        .request_err("chat.held", json!({ "conversation_id": conv }))
        .await;
    assert_eq!(
        refused["code"],
        json!("forbidden"),
        "as for chat.history: {refused}"
    );

    decide(&mut console, &item["data"]["id"], "approve").await;
    let delivered = ws.next_message(conv).await;
    assert_eq!(delivered["data"]["text"], json!(text), "{delivered}");
    assert_eq!(delivered["data"]["client_id"], json!("h1"));
    assert_eq!(delivered["seq"], json!(1), "its seq is taken at approval");
    let decided = wb.next_event("moderation.decided").await;
    assert_eq!(decided["data"]["decision"], json!("approve"), "{decided}");
    assert_eq!(wb.next_message(conv).await["data"]["text"], json!(text));
    let after = reloaded
        .request_ok("chat.held", json!({ "conversation_id": conv }))
        .await;
    assert_eq!(after["held"], json!([]), "sent, no longer held: {after}");
    // Only one more item came of the retry: none.
    console.request_ok("mod.queue", json!({})).await;
    assert!(console
        .take_buffered(|f| f["type"] == json!("mod.item"))
        .is_empty());
}

async fn a_rejected_held_text_is_never_delivered(store: Store) {
    let mut app = spawn_app(store).await;
    let buyer = app.new_user().await;
    let seller = app.new_user().await;
    let moderator = moderator(&mut app).await;
    let mut wb = app.ws(&buyer).await;
    let mut ws = app.ws(&seller).await;
    let mut console = app.ws(&moderator).await;
    console.request_ok("mod.subscribe", json!({})).await;
    let conv = wb.open_chat(seller.id).await;
    let reply = send(&mut wb, conv, "p1", "我的电话 139 1234 5678").await;
    assert_eq!(
        reply["data"]["held"],
        json!(true),
        "a phone number is held: {reply}"
    );
    let item = console.next_event("mod.item").await;
    let reasons = item["data"]["reasons"].to_string();
    assert!(reasons.contains("phone"), "{reasons}");
    assert!(
        !reasons.contains("5678"),
        "a reason never holds the detail: {reasons}"
    );
    decide(&mut console, &item["data"]["id"], "reject").await;
    let decided = wb.next_event("moderation.decided").await;
    assert_eq!(decided["data"]["decision"], json!("reject"), "{decided}");
    assert_eq!(decided["data"]["kind"], json!("chat_text"));
    // After a reload the rejected text is shown where it was written, with its appeal.
    let listed = wb.request_ok("appeal.list", json!({})).await;
    let entry = &listed["items"][0];
    assert_eq!(
        (&entry["kind"], &entry["content_ref"], &entry["content"]),
        (
            &json!("chat_text"),
            &json!(format!("{conv}:p1")),
            &json!("我的电话 139 1234 5678")
        ),
        "{listed}"
    );
    assert_eq!(
        entry["reason"],
        json!("聊天审核"),
        "the moderator's reason: {listed}"
    );
    let held = wb
        .request_ok("chat.held", json!({ "conversation_id": conv }))
        .await;
    assert_eq!(
        held["held"],
        json!([]),
        "no longer held once decided: {held}"
    );
    // A clean message afterwards takes seq 1: the rejected one never existed for the seller.
    let next = send(&mut wb, conv, "p2", "好的，平台下单").await;
    assert_eq!(next["data"]["message"]["seq"], json!(1), "{next}");
    let first = ws.next_message(conv).await;
    assert_eq!(first["data"]["text"], json!("好的，平台下单"), "{first}");
}

/// A 96×96 picture, different for every seed.
fn chat_png(seed: u8) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(96, 96, |x, y| {
        image::Rgb([
            (x as u8).wrapping_mul(seed),
            (y as u8).wrapping_add(seed),
            seed,
        ])
    });
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        picture.as_raw(),
        96,
        96,
        image::ExtendedColorType::Rgb8,
    )
    .expect("encode");
    png
}

/// A photo message from `sender` to `conv`; returns its media id.
async fn send_photo(
    app: &TestApp,
    ws: &mut WsClient,
    sender: &TestUser,
    conv: i64,
    seed: u8,
) -> String {
    let png = chat_png(seed);
    let upload = app
        .upload(
            &sender.token,
            "purpose=chat_photo&source=album",
            "image/png",
            png,
        )
        .await
        .ok("a chat photo");
    let media_id = upload["id"].as_str().expect("id").to_owned();
    let sent = ws
        .request_ok(
            "chat.send",
            json!({ "conversation_id": conv, "client_id": format!("p{seed}"), "media_id": media_id }),
        )
        .await;
    assert!(
        sent["message"]["seq"].as_i64().unwrap_or(0) > 0,
        "delivered: {sent}"
    );
    media_id
}

async fn a_received_chat_photo_is_reported_taken_down_and_blocklisted_from_one_card(store: Store) {
    let mut app = spawn_app(store).await;
    let sender = app.new_user().await;
    let receiver = app.new_user().await;
    let moderator = moderator(&mut app).await;
    app.grant_consents(&sender, &["photo_album"]).await;
    let mut w_sender = app.ws(&sender).await;
    let mut w_receiver = app.ws(&receiver).await;
    let mut console = app.ws(&moderator).await;
    console.request_ok("mod.subscribe", json!({})).await;
    let conv = w_sender.open_chat(receiver.id).await;
    let media_id = send_photo(&app, &mut w_sender, &sender, conv, 7).await;
    let content = format!("/api/media/{media_id}/content");
    let (status, _, _) = app.get_bytes(&content, &receiver.token).await;
    assert_eq!(status, 200, "the receiver sees the photo");

    // The receiver reports the picture they received (it used to be not_found).
    let queued = w_receiver
        .request_ok(
            "report.create",
            json!({ "target": "media", "media_id": media_id, "reason": "假货" }),
        )
        .await;
    let item = json!(queued["item_id"]);
    decide(&mut console, &item, "reject_and_block").await;

    let removed = w_receiver.next_event("chat.removed").await;
    assert_eq!(removed["data"]["item_id"], item, "{removed}");
    let (status, _, _) = app.get_bytes(&content, &receiver.token).await;
    assert_eq!(status, 404, "gone for the receiver");
    // The same picture cannot come straight back: not as the same upload, not uploaded again.
    let again = w_sender
        .request(
            "chat.send",
            json!({ "conversation_id": conv, "client_id": "again", "media_id": media_id }),
        )
        .await;
    assert_eq!(again["error"]["code"], json!("content_rejected"), "{again}");
    let png = chat_png(7);
    let refused = app
        .upload(
            &sender.token,
            "purpose=chat_photo&source=album",
            "image/png",
            png,
        )
        .await;
    refused.assert_error(
        422,
        "content_rejected",
        "the blocklisted picture uploaded again",
    );
    let message = refused.body["error"]["message"].as_str().unwrap_or("");
    assert!(
        !message.contains("bit"),
        "a refusal never says how close: {message}"
    );
}

async fn a_removed_message_carries_its_decision_for_an_appeal_after_a_reload(store: Store) {
    let mut app = spawn_app(store).await;
    let sender = app.new_user().await;
    let receiver = app.new_user().await;
    let moderator = moderator(&mut app).await;
    let mut w_sender = app.ws(&sender).await;
    let mut w_receiver = app.ws(&receiver).await;
    let mut console = app.ws(&moderator).await;
    let conv = w_sender.open_chat(receiver.id).await;
    let sent = w_sender.say(conv, "这块是真翡翠").await;
    let seq = sent["seq"].as_i64().expect("seq");
    w_receiver.next_message(conv).await;
    let queued = w_receiver
        .request_ok(
            "report.create",
            json!({ "target": "message", "conversation_id": conv, "seq": seq, "reason": "诈骗" }),
        )
        .await;
    let item = json!(queued["item_id"]);
    decide(&mut console, &item, "reject").await;
    w_sender.next_event("chat.removed").await;

    // A fresh socket (a reload) reads the removed message with the decision to appeal.
    let mut reloaded = app.ws(&sender).await;
    let history = reloaded
        .request_ok("chat.history", json!({ "conversation_id": conv }))
        .await;
    let message = &history["messages"][0];
    assert_eq!(message["kind"], json!("removed"), "{history}");
    assert_eq!(message["removed_item_id"], item, "{history}");
    let listed = reloaded.request_ok("appeal.list", json!({})).await;
    let entry = listed["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["item_id"] == item).cloned())
        .unwrap_or_else(|| panic!("the removal is appealable: {listed}"));
    assert_eq!(entry["kind"], json!("report_message"), "{entry}");
    assert_eq!(entry["content_ref"], json!(format!("{conv}:{seq}")));
    assert!(entry["appeal_until"].as_i64() > entry["decided_at"].as_i64());
    let appeal = reloaded
        .request_ok(
            "appeal.create",
            json!({ "item_id": message["removed_item_id"], "reason": "这是我自己的货" }),
        )
        .await;
    assert!(appeal["item_id"].is_i64(), "{appeal}");
    let after = reloaded.request_ok("appeal.list", json!({})).await;
    assert_eq!(
        after["items"],
        json!([]),
        "appealed once, no longer offered: {after}"
    );
    assert_eq!(
        after["under_appeal"][0]["item_id"], message["removed_item_id"],
        "shown as appealed where it was: {after}"
    );
    // Someone else's decisions are never listed.
    let others = w_receiver.request_ok("appeal.list", json!({})).await;
    assert_eq!(others["items"], json!([]), "{others}");
}

store_tests!(
    a_blocked_word_is_refused_naming_only_the_kind_of_rule,
    a_held_text_reaches_the_peer_only_once_approved,
    a_rejected_held_text_is_never_delivered,
    a_received_chat_photo_is_reported_taken_down_and_blocklisted_from_one_card,
    a_removed_message_carries_its_decision_for_an_appeal_after_a_reload,
);
