//! What a user of a Chinese chat app expects of finding and seeing people (#12, server
//! parts): default nicknames that name the account, search by nickname, presence hidden
//! between a blocker and the blocked, reports that name their kind of wrong.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, Store, TestApp, TestUser, WsClient};

async fn set_nickname(app: &TestApp, user: &TestUser, nickname: &str) {
    app.patch(
        "/api/me",
        Some(&user.token),
        &json!({ "nickname": nickname }),
    )
    .await
    .ok("set a nickname");
}

fn ids(list: &Value) -> Vec<i64> {
    list["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["id"].as_i64().expect("id"))
        .collect()
}

async fn a_new_account_is_named_after_its_id(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let me = app.get("/api/me", Some(&user.token)).await.ok("me");
    assert_eq!(me["nickname"], json!(format!("用户{}", user.id)), "{me}");
}

async fn users_are_found_by_nickname_and_sellers_by_role(store: Store) {
    let mut app = spawn_app(store).await;
    let viewer = app.new_user().await;
    let seller = app.new_user().await;
    let buyer = app.new_user().await;
    let other = app.new_user().await;
    set_nickname(&app, &seller, "翡翠阿明").await;
    set_nickname(&app, &buyer, "爱翡翠的小李").await;
    set_nickname(&app, &other, "和田玉收藏").await;
    app.grant_role(seller.id, "seller").await;

    let found = app
        .get("/api/users?q=%E7%BF%A1%E7%BF%A0", Some(&viewer.token))
        .await
        .ok("search 翡翠");
    assert_eq!(
        ids(&found),
        vec![buyer.id, seller.id],
        "newest first: {found}"
    );
    assert_eq!(found["more"], json!(false), "{found}");
    assert!(!found.to_string().contains(&seller.phone), "{found}");

    let sellers = app
        .get(
            "/api/users?q=%E7%BF%A1%E7%BF%A0&role=seller",
            Some(&viewer.token),
        )
        .await
        .ok("search sellers");
    assert_eq!(ids(&sellers), vec![seller.id], "{sellers}");

    // Latin letters regardless of case; LIKE wildcards are literal.
    set_nickname(&app, &other, "Jade_Lover").await;
    let jade = app
        .get("/api/users?q=jade", Some(&viewer.token))
        .await
        .ok("search jade");
    assert_eq!(ids(&jade), vec![other.id], "{jade}");
    let wildcard = app
        .get("/api/users?q=%25", Some(&viewer.token))
        .await
        .ok("search %");
    assert_eq!(
        ids(&wildcard),
        Vec::<i64>::new(),
        "% is a character: {wildcard}"
    );
    let underscore = app
        .get("/api/users?q=_", Some(&viewer.token))
        .await
        .ok("search _");
    assert_eq!(ids(&underscore), vec![other.id], "{underscore}");

    // Paging: one at a time, then the rest from the last id.
    let first = app
        .get(
            "/api/users?q=%E7%BF%A1%E7%BF%A0&limit=1",
            Some(&viewer.token),
        )
        .await
        .ok("page 1");
    assert_eq!(
        (ids(&first), &first["more"]),
        (vec![buyer.id], &json!(true))
    );
    let second = app
        .get(
            &format!(
                "/api/users?q=%E7%BF%A1%E7%BF%A0&limit=1&before_id={}",
                buyer.id
            ),
            Some(&viewer.token),
        )
        .await
        .ok("page 2");
    assert_eq!(ids(&second), vec![seller.id], "{second}");

    // Someone who blocks the viewer is not found by them.
    let mut ws_buyer = app.ws(&buyer).await;
    ws_buyer
        .request_ok("user.block", json!({ "user_id": viewer.id }))
        .await;
    let after_block = app
        .get("/api/users?q=%E7%BF%A1%E7%BF%A0", Some(&viewer.token))
        .await
        .ok("search after a block");
    assert_eq!(ids(&after_block), vec![seller.id], "{after_block}");

    for (query, why) in [
        ("/api/users?q=", "an empty search"),
        (
            "/api/users?q=abcdefghijklmnopqrstuvwxyz",
            "longer than a nickname",
        ),
        ("/api/users?q=a&role=moderator", "moderators are not listed"),
        ("/api/users", "neither a role nor a search"),
    ] {
        app.get(query, Some(&viewer.token))
            .await
            .assert_error(400, "invalid_field", why);
    }
    app.get("/api/users?q=a", None).await.assert_error(
        401,
        "unauthorized",
        "a search without a token",
    );
}

/// The presence the viewer sees of `user` in a `presence.query`.
async fn presence_of(ws: &mut WsClient, user: i64) -> Value {
    let reply = ws
        .request_ok("presence.query", json!({ "user_ids": [user] }))
        .await;
    reply["presence"][0].clone()
}

async fn a_blocker_and_the_blocked_see_nothing_of_each_others_presence(store: Store) {
    let mut app = spawn_app(store).await;
    let blocker = app.new_user().await;
    let blocked = app.new_user().await;
    let watcher = app.new_user().await;
    let mut w_blocker = app.ws(&blocker).await;
    let mut w_blocked = app.ws(&blocked).await;
    let mut w_watcher = app.ws(&watcher).await;
    w_watcher.open_chat(blocker.id).await;
    let conv = w_blocked.open_chat(blocker.id).await;
    assert_eq!(
        presence_of(&mut w_blocked, blocker.id).await["online"],
        json!(true)
    );

    w_blocker
        .request_ok("user.block", json!({ "user_id": blocked.id }))
        .await;
    for (ws, other, who) in [
        (&mut w_blocked, blocker.id, "the blocked user"),
        (&mut w_blocker, blocked.id, "the blocker"),
    ] {
        let seen = presence_of(ws, other).await;
        assert_eq!(
            (&seen["online"], &seen["last_seen_at"]),
            (&json!(false), &Value::Null),
            "{who} sees no presence: {seen}"
        );
        let list = ws.request_ok("chat.list", json!({})).await;
        let c = &list["conversations"][0];
        assert_eq!(c["id"], json!(conv), "{list}");
        assert_eq!(
            (&c["peer_online"], &c["peer_last_seen_at"]),
            (&json!(false), &Value::Null),
            "{who}'s conversation list shows no presence: {list}"
        );
    }
    // The blocker going offline is news to a partner who is not blocked, and none to the
    // blocked user: the next presence event that one gets is about someone else.
    w_blocker.close().await;
    let offline = w_watcher
        .next_event_where("the blocker offline", |e| {
            e["type"] == json!("presence") && e["data"]["online"] == json!(false)
        })
        .await;
    assert_eq!(offline["data"]["user_id"], json!(blocker.id), "{offline}");
    let friend = app.new_user().await;
    let mut w_friend = app.ws(&friend).await;
    w_friend.open_chat(blocked.id).await;
    drop(w_friend);
    let event = w_blocked.next_event("presence").await;
    assert_eq!(
        event["data"]["user_id"],
        json!(friend.id),
        "no presence of the blocker reached the blocked user first: {event}"
    );
}

async fn a_report_names_its_category_on_the_console(store: Store) {
    let mut app = spawn_app(store).await;
    let reporter = app.new_user().await;
    let scammer = app.new_user().await;
    let moderator = app.new_user().await;
    app.grant_role(moderator.id, "moderator").await;
    let mut console = app.ws(&moderator).await;
    console.request_ok("mod.subscribe", json!({})).await;
    let mut ws = app.ws(&reporter).await;

    ws.request_ok(
        "report.create",
        json!({ "target": "user", "user_id": scammer.id, "category": "fraud", "reason": "骗定金" }),
    )
    .await;
    let item = console.next_event("mod.item").await;
    assert_eq!(item["data"]["category"], json!("fraud"), "{item}");

    let other = app.new_user().await;
    ws.request_ok(
        "report.create",
        json!({ "target": "user", "user_id": other.id, "reason": "不知道怎么说" }),
    )
    .await;
    let item = console.next_event("mod.item").await;
    assert_eq!(
        item["data"]["category"],
        json!("other"),
        "the default: {item}"
    );
    let queue = console.request_ok("mod.queue", json!({})).await;
    let categories: Vec<&Value> = queue["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| &i["category"])
        .collect();
    assert!(categories.contains(&&json!("fraud")), "{queue}");

    let third = app.new_user().await;
    let refused = ws
        .request_err(
            "report.create",
            json!({ "target": "user", "user_id": third.id, "category": "rude", "reason": "x" }),
        )
        .await;
    assert_eq!(refused["code"], json!("invalid_field"), "{refused}");
}

store_tests!(
    a_new_account_is_named_after_its_id,
    users_are_found_by_nickname_and_sellers_by_role,
    a_blocker_and_the_blocked_see_nothing_of_each_others_presence,
    a_report_names_its_category_on_the_console,
);
