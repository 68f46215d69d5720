//! Chat text screened in the send path (#10): refused by a block rule with the kind of rule
//! only, held by a review rule or contact details (durable, no seq, nothing delivered) until a
//! moderator decides, then sent as any message or dropped; retries never queue twice.

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

    decide(&mut console, &item["data"]["id"], "approve").await;
    let delivered = ws.next_message(conv).await;
    assert_eq!(delivered["data"]["text"], json!(text), "{delivered}");
    assert_eq!(delivered["data"]["client_id"], json!("h1"));
    assert_eq!(delivered["seq"], json!(1), "its seq is taken at approval");
    let decided = wb.next_event("moderation.decided").await;
    assert_eq!(decided["data"]["decision"], json!("approve"), "{decided}");
    assert_eq!(wb.next_message(conv).await["data"]["text"], json!(text));
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
    // A clean message afterwards takes seq 1: the rejected one never existed for the seller.
    let next = send(&mut wb, conv, "p2", "好的，平台下单").await;
    assert_eq!(next["data"]["message"]["seq"], json!(1), "{next}");
    let first = ws.next_message(conv).await;
    assert_eq!(first["data"]["text"], json!("好的，平台下单"), "{first}");
}

store_tests!(
    a_blocked_word_is_refused_naming_only_the_kind_of_rule,
    a_held_text_reaches_the_peer_only_once_approved,
    a_rejected_held_text_is_never_delivered,
);
