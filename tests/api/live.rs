//! Live appraisal rooms (直播鉴宝, #13, docs/live.md): rooms, spectators, comments, likes, the
//! host's powers and recovery, over real sockets, on both stores and across nodes.

use serde_json::{json, Value};

use crate::helpers::{
    spawn_app, spawn_app_with, spawn_cluster, Store, TestApp, TestUser, WsClient,
};

async fn appraiser(app: &mut TestApp) -> TestUser {
    let host = app.new_user().await;
    app.grant_role(host.id, "appraiser").await;
    host
}

async fn open_room(ws: &mut WsClient, title: &str, category: &str) -> i64 {
    let room = ws
        .request_ok(
            "room.create",
            json!({ "title": title, "category": category }),
        )
        .await;
    let id = room["room"]["id"].as_i64().expect("room id");
    assert_eq!(room["room"]["status"], json!("scheduled"), "{room}");
    let live = ws.request_ok("room.start", json!({ "room_id": id })).await;
    assert_eq!(live["room"]["status"], json!("live"), "{live}");
    id
}

async fn join(ws: &mut WsClient, room_id: i64) -> Value {
    ws.request_ok("room.join", json!({ "room_id": room_id }))
        .await
}

async fn say(ws: &mut WsClient, room_id: i64, text: &str) -> Value {
    let client_id = ws.client_id();
    ws.request_ok(
        "room.comment",
        json!({ "room_id": room_id, "text": text, "client_id": client_id }),
    )
    .await["comment"]
        .clone()
}

async fn next_comment(ws: &mut WsClient, room_id: i64, text: &str) -> Value {
    ws.next_event_where(&format!("the comment {text:?}"), |e| {
        e["type"] == json!("room.comment")
            && e["data"]["room_id"] == json!(room_id)
            && e["data"]["text"] == json!(text)
    })
    .await
}

fn code(error: &Value) -> &str {
    error["code"].as_str().unwrap_or_default()
}

async fn rooms_are_opened_by_appraisers_and_listed_while_live(store: Store) {
    let mut app = spawn_app(store).await;
    let host = appraiser(&mut app).await;
    let other_host = appraiser(&mut app).await;
    let buyer = app.new_user().await;
    let mut wh = app.ws(&host).await;
    let mut wo = app.ws(&other_host).await;
    let mut wb = app.ws(&buyer).await;

    let refused = wb
        .request_err(
            "room.create",
            json!({ "title": "我也想开播", "category": "jade" }),
        )
        .await;
    assert_eq!(code(&refused), "forbidden", "{refused}");
    let contact = wh
        .request_err(
            "room.create",
            json!({ "title": "加微信 jade888 私聊", "category": "jade" }),
        )
        .await;
    assert_eq!(code(&contact), "content_rejected", "{contact}");
    let unknown = wh
        .request_err(
            "room.create",
            json!({ "title": "鉴宝", "category": "jadeite" }),
        )
        .await;
    assert_eq!(code(&unknown), "invalid_field", "{unknown}");
    let long = wh
        .request_err(
            "room.create",
            json!({ "title": "长".repeat(41), "category": "jade" }),
        )
        .await;
    assert_eq!(code(&long), "text_too_long", "{long}");

    let scheduled = wh
        .request_ok(
            "room.create",
            json!({ "title": "翡翠手镯鉴定", "category": "jade" }),
        )
        .await["room"]["id"]
        .as_i64()
        .expect("id");
    let listed = wb.request_ok("room.list", json!({})).await;
    assert_eq!(
        listed["rooms"],
        json!([]),
        "a scheduled room is not live: {listed}"
    );
    let start_by_buyer = wb
        .request_err("room.start", json!({ "room_id": scheduled }))
        .await;
    assert_eq!(code(&start_by_buyer), "forbidden");
    wh.request_ok("room.start", json!({ "room_id": scheduled }))
        .await;
    let pearl = open_room(&mut wo, "南洋金珠直播", "pearl").await;

    let all = wb.request_ok("room.list", json!({})).await;
    let ids: Vec<i64> = all["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, vec![pearl, scheduled], "equal viewers: newest first");
    let jade = wb
        .request_ok("room.list", json!({ "category": "jade" }))
        .await;
    assert_eq!(jade["rooms"].as_array().map(Vec::len), Some(1));
    assert_eq!(jade["rooms"][0]["host"]["id"], json!(host.id));
    let page = wb.request_ok("room.list", json!({ "limit": 1 })).await;
    assert_eq!(page["rooms"][0]["id"], json!(pearl));
    let rest = wb
        .request_ok("room.list", json!({ "limit": 1, "after": page["next"] }))
        .await;
    assert_eq!(rest["rooms"][0]["id"], json!(scheduled), "{rest}");
    assert_eq!(rest["next"], Value::Null, "the last page: {rest}");

    let paused = wh
        .request_ok("room.pause", json!({ "room_id": scheduled }))
        .await;
    assert_eq!(paused["room"]["status"], json!("paused"));
    let listed = wb.request_ok("room.list", json!({})).await;
    assert_eq!(
        listed["rooms"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    let ended = wh
        .request_ok("room.end", json!({ "room_id": scheduled }))
        .await;
    assert_eq!(ended["room"]["status"], json!("ended"));
    let again = wh
        .request_err("room.start", json!({ "room_id": scheduled }))
        .await;
    assert_eq!(code(&again), "room_ended", "{again}");
    let join_ended = wb
        .request_err("room.join", json!({ "room_id": scheduled }))
        .await;
    assert_eq!(code(&join_ended), "room_ended");
    let mine = wh.request_ok("room.mine", json!({})).await;
    assert_eq!(
        mine["rooms"][0]["id"],
        json!(scheduled),
        "ended rooms keep their record"
    );
    let none = wb
        .request_err("room.join", json!({ "room_id": 999_999 }))
        .await;
    assert_eq!(code(&none), "not_found");
}

async fn a_comment_reaches_every_member_once_it_is_durable(store: Store) {
    let mut app = spawn_app(store).await;
    let host = appraiser(&mut app).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let stranger = app.new_user().await;
    let mut wh = app.ws(&host).await;
    let room = open_room(&mut wh, "和田玉籽料鉴定", "nephrite").await;
    let mut wa = app.ws(&a).await;
    let mut wb = app.ws(&b).await;
    let mut ws = app.ws(&stranger).await;
    let hj = join(&mut wh, room).await;
    assert_eq!(hj["me"]["host"], json!(true), "{hj}");
    join(&mut wa, room).await;
    let joined = join(&mut wb, room).await;
    assert_eq!(joined["room"]["title"], json!("和田玉籽料鉴定"));
    assert_eq!(
        joined["me"],
        json!({ "host": false, "helper": false, "muted_until": null })
    );

    let not_in = ws
        .request_err(
            "room.comment",
            json!({ "room_id": room, "text": "路过", "client_id": "x-1" }),
        )
        .await;
    assert_eq!(code(&not_in), "forbidden", "only members comment: {not_in}");

    let comment = wa
        .request_ok(
            "room.comment",
            json!({ "room_id": room, "text": "这是老坑种吗？", "client_id": "a-1" }),
        )
        .await["comment"]
        .clone();
    let seq = comment["seq"].as_i64().expect("seq");
    assert_eq!(comment["user"]["id"], json!(a.id));
    for ws in [&mut wb, &mut wh, &mut wa] {
        let event = next_comment(ws, room, "这是老坑种吗？").await;
        assert_eq!(
            event["seq"],
            json!(seq),
            "the event carries the room's seq: {event}"
        );
    }
    // A retry answers the stored comment and says nothing more.
    let retry = wa
        .request_ok(
            "room.comment",
            json!({ "room_id": room, "text": "这是老坑种吗？", "client_id": "a-1" }),
        )
        .await;
    assert_eq!(retry["comment"]["seq"], json!(seq), "{retry}");
    let next = say(&mut wa, room, "第二条").await;
    assert_eq!(next["seq"], json!(seq + 1), "no gaps, no repeat");
    next_comment(&mut wb, room, "第二条").await;
    let repeats = wb.take_buffered(|f| f["data"]["text"] == json!("这是老坑种吗？"));
    assert!(
        repeats.is_empty(),
        "the retry was not published again: {repeats:?}"
    );

    let long = wa
        .request_err(
            "room.comment",
            json!({ "room_id": room, "text": "字".repeat(201), "client_id": "a-9" }),
        )
        .await;
    assert_eq!(code(&long), "text_too_long");
    let contact = wa
        .request_err(
            "room.comment",
            json!({ "room_id": room, "text": "便宜出，加V：jade888", "client_id": "a-8" }),
        )
        .await;
    assert_eq!(code(&contact), "content_rejected", "{contact}");
    let empty = wa
        .request_err(
            "room.comment",
            json!({ "room_id": room, "text": "  ", "client_id": "a-7" }),
        )
        .await;
    assert_eq!(code(&empty), "invalid_field");
    let bad = wa
        .request_err("room.comment", json!({ "room_id": room, "text": "hi" }))
        .await;
    assert_eq!(code(&bad), "invalid_field", "client_id is required: {bad}");

    // Likes are counted and told once a tick; never one event per tap.
    let liked = wb
        .request_ok("room.like", json!({ "room_id": room, "count": 5 }))
        .await;
    assert_eq!(liked["accepted"], json!(5));
    let too_many = wb
        .request_err("room.like", json!({ "room_id": room, "count": 21 }))
        .await;
    assert_eq!(code(&too_many), "invalid_field");
    let stats = wa
        .next_event_where("room.stats with the likes", |e| {
            e["type"] == json!("room.stats") && e["data"]["likes"] == json!(5)
        })
        .await;
    assert_eq!(stats["data"]["viewers"], json!(3), "{stats}");

    // The join reply holds the comments; a paused room takes none; an ended one neither.
    let late = app.new_user().await;
    let mut wl = app.ws(&late).await;
    let seen = join(&mut wl, room).await;
    let texts: Vec<&str> = seen["comments"]
        .as_array()
        .expect("comments")
        .iter()
        .filter_map(|c| c["text"].as_str())
        .collect();
    assert_eq!(texts, vec!["这是老坑种吗？", "第二条"]);
    assert_eq!(seen["room"]["likes"], json!(5), "the like total is durable");
    wh.request_ok("room.pause", json!({ "room_id": room }))
        .await;
    let status = wa
        .next_event_where("room.status paused", |e| e["type"] == json!("room.status"))
        .await;
    assert_eq!(status["data"]["status"], json!("paused"));
    assert_eq!(
        status["seq"],
        json!(seq + 2),
        "status changes are numbered too"
    );
    let paused = wa
        .request_err(
            "room.comment",
            json!({ "room_id": room, "text": "还在吗", "client_id": "a-3" }),
        )
        .await;
    assert_eq!(code(&paused), "conflict");
    wh.request_ok("room.end", json!({ "room_id": room })).await;
    let ended = wa
        .request_err(
            "room.comment",
            json!({ "room_id": room, "text": "还在吗", "client_id": "a-4" }),
        )
        .await;
    assert_eq!(code(&ended), "room_ended");
    let left = wa
        .request_ok("room.leave", json!({ "room_id": room }))
        .await;
    assert_eq!(left["left"], json!(true));
    let twice = wa
        .request_ok("room.leave", json!({ "room_id": room }))
        .await;
    assert_eq!(twice["left"], json!(false));
}

async fn a_spectator_who_rejoins_gets_what_they_missed_once_in_order(store: Store) {
    let mut app = spawn_app_with(store, |s| s.live.recovery_events = 4).await;
    let host = appraiser(&mut app).await;
    let viewer = app.new_user().await;
    let mut wh = app.ws(&host).await;
    let room = open_room(&mut wh, "琥珀蜜蜡", "amber").await;
    join(&mut wh, room).await;
    let mut wv = app.ws(&viewer).await;
    let first = join(&mut wv, room).await;
    let held = first["room"]["seq"].as_i64().expect("seq");
    wv.close().await;

    say(&mut wh, room, "一").await;
    say(&mut wh, room, "二").await;
    wh.request_ok(
        "room.pin",
        json!({ "room_id": room, "text": "本场只鉴定不交易" }),
    )
    .await;
    let mut wv = app.ws(&viewer).await;
    let back = wv
        .request_ok("room.join", json!({ "room_id": room, "since_seq": held }))
        .await;
    assert_eq!(back["recovered"], json!(true), "{back}");
    let missed: Vec<(i64, String)> = back["missed"]
        .as_array()
        .expect("missed")
        .iter()
        .map(|e| {
            (
                e["seq"].as_i64().expect("seq"),
                e["type"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        missed,
        vec![
            (held + 1, "room.comment".to_owned()),
            (held + 2, "room.comment".to_owned()),
            (held + 3, "room.pinned".to_owned()),
        ]
    );
    assert_eq!(back["missed"][1]["data"]["text"], json!("二"));
    assert_eq!(back["room"]["pinned"], json!("本场只鉴定不交易"));

    for n in 0..5 {
        say(&mut wh, room, &format!("又一条{n}")).await;
    }
    let far = wv
        .request_ok("room.join", json!({ "room_id": room, "since_seq": held }))
        .await;
    assert_eq!(
        far["recovered"],
        json!(false),
        "past the kept window: {far}"
    );
    assert_eq!(far["missed"], json!([]));
    assert_eq!(
        far["comments"]
            .as_array()
            .and_then(|c| c.last())
            .map(|c| c["text"].clone()),
        Some(json!("又一条4")),
        "the current state instead"
    );
}

async fn the_host_and_helpers_keep_order_and_nobody_else_can(store: Store) {
    let mut app = spawn_app(store).await;
    let host = appraiser(&mut app).await;
    let helper = app.new_user().await;
    let helper2 = app.new_user().await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wh = app.ws(&host).await;
    let room = open_room(&mut wh, "钻石4C讲解", "diamond").await;
    let mut wp = app.ws(&helper).await;
    let mut wa = app.ws(&a).await;
    let mut wb = app.ws(&b).await;
    for ws in [&mut wh, &mut wp, &mut wa, &mut wb] {
        join(ws, room).await;
    }

    // Not the host, not a helper: no powers.
    for (ty, data) in [
        (
            "room.mute",
            json!({ "room_id": room, "user_id": a.id, "duration_ms": 60000 }),
        ),
        ("room.kick", json!({ "room_id": room, "user_id": a.id })),
        ("room.ban", json!({ "room_id": room, "user_id": a.id })),
        ("room.pin", json!({ "room_id": room, "text": "我说了算" })),
        ("room.remove_comment", json!({ "room_id": room, "seq": 1 })),
        (
            "room.helper.add",
            json!({ "room_id": room, "user_id": b.id }),
        ),
        ("room.bans", json!({ "room_id": room })),
    ] {
        let refused = wb.request_err(ty, data).await;
        assert_eq!(code(&refused), "forbidden", "{ty}: {refused}");
    }
    let added = wh
        .request_ok(
            "room.helper.add",
            json!({ "room_id": room, "user_id": helper.id }),
        )
        .await;
    assert_eq!(added["helpers"][0]["id"], json!(helper.id));
    let told = wp.next_event("room.helper").await;
    assert_eq!(told["data"], json!({ "host_id": host.id, "helper": true }));
    let listed = wp
        .request_ok("room.helpers", json!({ "room_id": room }))
        .await;
    assert_eq!(listed["helpers"][0]["id"], json!(helper.id), "{listed}");
    let not_listed = wb
        .request_err("room.helpers", json!({ "room_id": room }))
        .await;
    assert_eq!(code(&not_listed), "forbidden");
    wh.request_ok(
        "room.helper.add",
        json!({ "room_id": room, "user_id": helper2.id }),
    )
    .await;
    let by_helper = wp
        .request_err(
            "room.helper.add",
            json!({ "room_id": room, "user_id": b.id }),
        )
        .await;
    assert_eq!(code(&by_helper), "forbidden", "appointing is the host's");
    let on_helper = wp
        .request_err(
            "room.mute",
            json!({ "room_id": room, "user_id": helper2.id, "duration_ms": 60000 }),
        )
        .await;
    assert_eq!(
        code(&on_helper),
        "forbidden",
        "a helper never acts on a helper"
    );
    let on_host = wp
        .request_err("room.kick", json!({ "room_id": room, "user_id": host.id }))
        .await;
    assert_eq!(code(&on_host), "forbidden", "the host is out of reach");

    // A helper mutes a spectator: refused with the time left, told on their devices.
    let muted = wp
        .request_ok(
            "room.mute",
            json!({ "room_id": room, "user_id": a.id, "duration_ms": 600000 }),
        )
        .await;
    assert!(muted["muted_until"].as_i64().is_some(), "{muted}");
    let told = wa.next_event("room.muted").await;
    assert_eq!(told["data"]["room_id"], json!(room));
    let silent = wa
        .request_err(
            "room.comment",
            json!({ "room_id": room, "text": "为什么", "client_id": "a-1" }),
        )
        .await;
    assert_eq!(code(&silent), "room_muted", "{silent}");
    assert!(silent["retry_after_ms"]
        .as_u64()
        .is_some_and(|ms| ms > 500_000));
    wp.request_ok("room.unmute", json!({ "room_id": room, "user_id": a.id }))
        .await;
    let spoke = say(&mut wa, room, "谢谢老师").await;

    // Removing a comment takes it off every screen and out of join replies.
    let seq = spoke["seq"].as_i64().expect("seq");
    wp.request_ok(
        "room.remove_comment",
        json!({ "room_id": room, "seq": seq }),
    )
    .await;
    for ws in [&mut wb, &mut wh] {
        let gone = ws.next_event("room.comment_removed").await;
        assert_eq!(gone["data"]["removed_seq"], json!(seq), "{gone}");
    }
    let twice = wp
        .request_err(
            "room.remove_comment",
            json!({ "room_id": room, "seq": seq }),
        )
        .await;
    assert_eq!(code(&twice), "not_found");

    // A kick: out now, back after the time; a ban: out, and never again from any device.
    let kicked = wh
        .request_ok(
            "room.kick",
            json!({ "room_id": room, "user_id": b.id, "duration_ms": 600000 }),
        )
        .await;
    assert!(kicked["until"].as_i64().is_some());
    let removed = wb.next_event("room.removed").await;
    assert_eq!(removed["data"]["reason"], json!("kicked"), "{removed}");
    let after_kick = wb
        .request_err(
            "room.comment",
            json!({ "room_id": room, "text": "我还在", "client_id": "b-1" }),
        )
        .await;
    assert!(
        ["forbidden", "room_kicked"].contains(&code(&after_kick)),
        "{after_kick}"
    );
    let rejoin = wb
        .request_err("room.join", json!({ "room_id": room }))
        .await;
    assert_eq!(code(&rejoin), "room_kicked", "{rejoin}");
    assert!(rejoin["retry_after_ms"].as_u64().is_some());

    wp.request_ok(
        "room.ban",
        json!({ "room_id": room, "user_id": a.id, "reason": "刷屏" }),
    )
    .await;
    let out = wa.next_event("room.removed").await;
    assert_eq!(out["data"]["reason"], json!("banned"));
    let a_again = app.login_again(&a).await;
    let mut wa2 = app.ws(&a_again).await;
    let banned = wa2
        .request_err("room.join", json!({ "room_id": room }))
        .await;
    assert_eq!(
        code(&banned),
        "room_banned",
        "another device, another token: {banned}"
    );
    // The ban holds in every room of this host.
    wh.request_ok("room.end", json!({ "room_id": room })).await;
    let next_room = open_room(&mut wh, "第二场", "diamond").await;
    let still = wa2
        .request_err("room.join", json!({ "room_id": next_room }))
        .await;
    assert_eq!(code(&still), "room_banned");
    let list = wp
        .request_ok("room.bans", json!({ "room_id": next_room }))
        .await;
    assert_eq!(list["bans"][0]["user"]["id"], json!(a.id), "{list}");
    assert_eq!(list["bans"][0]["reason"], json!("刷屏"));
    let unban_by_helper = wp
        .request_err(
            "room.unban",
            json!({ "room_id": next_room, "user_id": a.id }),
        )
        .await;
    assert_eq!(code(&unban_by_helper), "forbidden");
    wh.request_ok(
        "room.unban",
        json!({ "room_id": next_room, "user_id": a.id }),
    )
    .await;
    join(&mut wa2, next_room).await;

    // Every power is on the record.
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM live_audit WHERE room_id = $1 ORDER BY id")
            .bind(room)
            .fetch_all(&app.db)
            .await
            .expect("the audit");
    for action in [
        "helper_add",
        "mute",
        "unmute",
        "remove_comment",
        "kick",
        "ban",
        "ended",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

async fn moderators_end_and_hide_any_room(store: Store) {
    let mut app = spawn_app(store).await;
    let host = appraiser(&mut app).await;
    let viewer = app.new_user().await;
    let moderator = app.new_user().await;
    app.grant_role(moderator.id, "moderator").await;
    let mut wh = app.ws(&host).await;
    let room = open_room(&mut wh, "黄金回收", "gold").await;
    let mut wv = app.ws(&viewer).await;
    join(&mut wv, room).await;
    let mut wm = app.ws(&moderator).await;

    join(&mut wm, room).await;
    for ty in ["room.mute", "room.kick", "room.ban"] {
        let on_staff = wh
            .request_err(
                ty,
                json!({ "room_id": room, "user_id": moderator.id, "duration_ms": 60000 }),
            )
            .await;
        assert_eq!(
            code(&on_staff),
            "forbidden",
            "{ty} on a moderator: {on_staff}"
        );
    }
    let by_host = wh
        .request_err(
            "room.moderate",
            json!({ "room_id": room, "action": "hide", "reason": "x" }),
        )
        .await;
    assert_eq!(code(&by_host), "forbidden");
    let no_reason = wm
        .request_err(
            "room.moderate",
            json!({ "room_id": room, "action": "hide", "reason": " " }),
        )
        .await;
    assert_eq!(code(&no_reason), "invalid_field");
    wm.request_ok(
        "room.moderate",
        json!({ "room_id": room, "action": "hide", "reason": "直播内容涉嫌站外交易" }),
    )
    .await;
    let removed = wv.next_event("room.removed").await;
    assert_eq!(removed["data"]["reason"], json!("hidden"));
    let gone = wv
        .request_err("room.join", json!({ "room_id": room }))
        .await;
    assert_eq!(code(&gone), "not_found", "a hidden room is not there");
    let list = wv.request_ok("room.list", json!({})).await;
    assert_eq!(list["rooms"], json!([]));
    let own = wh.request_ok("room.mine", json!({})).await;
    assert_eq!(
        own["rooms"][0]["hidden"],
        json!(true),
        "its host still sees it: {own}"
    );
    let ended = wm
        .request_ok(
            "room.moderate",
            json!({ "room_id": room, "action": "end", "reason": "违规直播" }),
        )
        .await;
    assert_eq!(ended["room"]["status"], json!("ended"));
    let who: Vec<(i64, String)> = sqlx::query_as(
        "SELECT actor_id, detail FROM live_audit WHERE room_id = $1 AND action = 'hide'",
    )
    .bind(room)
    .fetch_all(&app.db)
    .await
    .expect("the audit");
    assert_eq!(who, vec![(moderator.id, "直播内容涉嫌站外交易".to_owned())]);
}

async fn limits_refuse_clearly(store: Store) {
    let mut app = spawn_app_with(store, |s| {
        s.live.rooms_per_socket = 1;
        s.live.room_comments_per_sec = 1;
        s.live.user_comments_per_10s = 2;
    })
    .await;
    let host = appraiser(&mut app).await;
    let host2 = appraiser(&mut app).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wh = app.ws(&host).await;
    let mut wh2 = app.ws(&host2).await;
    let room = open_room(&mut wh, "一号房", "other").await;
    let second = open_room(&mut wh2, "二号房", "other").await;
    let mut wa = app.ws(&a).await;
    let mut wb = app.ws(&b).await;
    join(&mut wa, room).await;
    let full = wa
        .request_err("room.join", json!({ "room_id": second }))
        .await;
    assert_eq!(code(&full), "too_many_rooms", "{full}");
    join(&mut wa, room).await; // joining a room one is in is fine
    join(&mut wb, room).await;
    join(&mut wh, room).await;

    say(&mut wa, room, "第一").await;
    let busy = wb
        .request_err(
            "room.comment",
            json!({ "room_id": room, "text": "第二", "client_id": "b-1" }),
        )
        .await;
    assert_eq!(code(&busy), "room_busy", "{busy}");
    assert!(busy["retry_after_ms"].as_u64().is_some_and(|ms| ms <= 1000));
    // The host is never held back by the room's cap.
    say(&mut wh, room, "主播说话").await;
    say(&mut wh, room, "主播再说").await;

    let first_open = wh
        .request_ok("room.create", json!({ "title": "二", "category": "other" }))
        .await;
    assert!(first_open["room"]["id"].is_i64());
    wh.request_ok("room.create", json!({ "title": "三", "category": "other" }))
        .await;
    let fourth = wh
        .request_err("room.create", json!({ "title": "四", "category": "other" }))
        .await;
    assert_eq!(
        code(&fourth),
        "conflict",
        "three rooms open at most: {fourth}"
    );
}

async fn comments_join_the_export_and_leave_with_the_account(store: Store) {
    let mut app = spawn_app(store).await;
    let host = appraiser(&mut app).await;
    let viewer = app.new_user().await;
    let mut wh = app.ws(&host).await;
    let room = open_room(&mut wh, "文玩核桃", "other").await;
    let mut wv = app.ws(&viewer).await;
    join(&mut wv, room).await;
    say(&mut wv, room, "这对狮子头多少钱").await;
    let export = app
        .get("/api/me/export", Some(&viewer.token))
        .await
        .ok("export");
    assert_eq!(
        export["sections"]["live"]["comments"][0]["text"],
        json!("这对狮子头多少钱"),
        "{}",
        export["sections"]["live"]
    );
    let host_export = app
        .get("/api/me/export", Some(&host.token))
        .await
        .ok("export");
    assert_eq!(
        host_export["sections"]["live"]["rooms_hosted"][0]["title"],
        json!("文玩核桃")
    );

    let mut conn = app.db.acquire().await.expect("a connection");
    use duoxie::rights::DataDomain;
    duoxie::live::rights::LiveRights
        .erase(&mut conn, viewer.id)
        .await
        .expect("erase");
    drop(conn);
    let late = app.new_user().await;
    let mut wl = app.ws(&late).await;
    let seen = join(&mut wl, room).await;
    assert_eq!(
        seen["comments"],
        json!([]),
        "an erased account's comments left the room"
    );
    let text: String =
        sqlx::query_scalar("SELECT body FROM live_events WHERE room_id = $1 AND kind = 'comment'")
            .bind(room)
            .fetch_one(&app.db)
            .await
            .expect("the row stays for the numbering");
    assert_eq!(text, "");
}

async fn spectators_on_every_node_see_the_room_and_a_ban_reaches_them(store: Store) {
    let Some(mut cluster) = spawn_cluster(store, 2).await else {
        return;
    };
    let host = cluster.nodes[0].new_user().await;
    cluster.nodes[0].grant_role(host.id, "appraiser").await;
    let far = cluster.nodes[1].new_user().await;
    let near = cluster.nodes[0].new_user().await;
    let mut wh = cluster.nodes[0].ws(&host).await;
    let room = open_room(&mut wh, "跨节点直播", "jade").await;
    join(&mut wh, room).await;
    let mut wf = cluster.nodes[1].ws(&far).await;
    let mut wn = cluster.nodes[0].ws(&near).await;
    join(&mut wf, room).await;
    join(&mut wn, room).await;
    cluster
        .await_topic_subscribers(&format!("room:{room}"), 2)
        .await;

    let said = say(&mut wf, room, "远端节点的评论").await;
    for ws in [&mut wh, &mut wn] {
        let event = next_comment(ws, room, "远端节点的评论").await;
        assert_eq!(event["seq"], said["seq"]);
    }
    say(&mut wh, room, "主播回复").await;
    next_comment(&mut wf, room, "主播回复").await;

    // A burst from one node reaches the other in seq order (one commit batch publishes many
    // comments at once: they must not overtake each other on the way through Redis).
    const BURST: usize = 100;
    for i in 0..BURST {
        wh.send_command(
            "room.comment",
            json!({ "room_id": room, "text": format!("连发{i}"), "client_id": format!("burst-{i}") }),
        )
        .await;
    }
    let mut seqs = Vec::with_capacity(BURST);
    while seqs.len() < BURST {
        let e = wf
            .next_event_where("a burst comment", |e| {
                e["type"] == json!("room.comment")
                    && e["data"]["text"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("连发"))
            })
            .await;
        seqs.push(e["seq"].as_i64().expect("seq"));
    }
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(
        seqs, sorted,
        "the burst arrived out of order on the other node"
    );

    // Counts converge: every node's members are summed.
    wf.request_ok("room.like", json!({ "room_id": room, "count": 3 }))
        .await;
    wn.request_ok("room.like", json!({ "room_id": room, "count": 4 }))
        .await;
    for ws in [&mut wf, &mut wn] {
        ws.next_event_where("room.stats with both nodes' likes and viewers", |e| {
            e["type"] == json!("room.stats")
                && e["data"]["likes"] == json!(7)
                && e["data"]["viewers"] == json!(3)
        })
        .await;
    }

    // A ban on node 0 removes the spectator's socket on node 1.
    wh.request_ok("room.ban", json!({ "room_id": room, "user_id": far.id }))
        .await;
    let out = wf.next_event("room.removed").await;
    assert_eq!(out["data"]["reason"], json!("banned"));
    say(&mut wh, room, "封禁之后").await;
    next_comment(&mut wn, room, "封禁之后").await;
    let far_again = cluster.nodes[1].login_again(&far).await;
    let mut wf2 = cluster.nodes[1].ws(&far_again).await;
    let refused = wf2
        .request_err("room.join", json!({ "room_id": room }))
        .await;
    assert_eq!(code(&refused), "room_banned");
    // Node 1 held only that socket: with it out of the topic, node 1 stops routing the room.
    cluster
        .await_topic_subscribers(&format!("room:{room}"), 1)
        .await;
    wf.read_arrived().await;
    let leaked = wf.take_buffered(|f| f["data"]["text"] == json!("封禁之后"));
    assert!(
        leaked.is_empty(),
        "the banned socket left the room's topic: {leaked:?}"
    );
}

async fn reported_comments_and_rooms_go_when_a_moderator_upholds_the_report(store: Store) {
    let mut app = spawn_app(store).await;
    let host = appraiser(&mut app).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let moderator = app.new_user().await;
    app.grant_role(moderator.id, "moderator").await;
    let mut wh = app.ws(&host).await;
    let room = open_room(&mut wh, "翡翠原石直播", "jade").await;
    let mut wa = app.ws(&a).await;
    let mut wb = app.ws(&b).await;
    join(&mut wa, room).await;
    join(&mut wb, room).await;
    let mut console = app.ws(&moderator).await;
    console.request_ok("mod.subscribe", json!({})).await;
    let said = say(&mut wa, room, "私信我有更便宜的").await;
    let seq = said["seq"].as_i64().expect("seq");

    let own = wa
        .request_err(
            "report.create",
            json!({ "target": "room_comment", "room_id": room, "seq": seq, "category": "off_platform", "reason": "x" }),
        )
        .await;
    assert_eq!(code(&own), "invalid_field", "not one's own: {own}");
    let report = wb
        .request_ok(
            "report.create",
            json!({ "target": "room_comment", "room_id": room, "seq": seq,
                    "category": "off_platform", "reason": "引导私下交易" }),
        )
        .await;
    let item = console.next_event("mod.item").await;
    assert_eq!(item["data"]["kind"], json!("report_room_comment"), "{item}");
    assert_eq!(item["data"]["content"], json!("私信我有更便宜的"));
    assert_eq!(item["data"]["category"], json!("off_platform"));
    crate::moderation::claim_and_decide(&mut console, &report["item_id"], "reject", "站外交易")
        .await;
    for ws in [&mut wa, &mut wb] {
        let gone = ws.next_event("room.comment_removed").await;
        assert_eq!(gone["data"]["removed_seq"], json!(seq), "{gone}");
    }

    let by_host = wh
        .request_err(
            "report.create",
            json!({ "target": "room", "room_id": room, "category": "other", "reason": "x" }),
        )
        .await;
    assert_eq!(
        code(&by_host),
        "invalid_field",
        "not one's own room: {by_host}"
    );
    let report = wb
        .request_ok(
            "report.create",
            json!({ "target": "room", "room_id": room, "category": "fake_goods", "reason": "卖假货" }),
        )
        .await;
    let item = console.next_event("mod.item").await;
    assert_eq!(item["data"]["kind"], json!("report_room"), "{item}");
    assert_eq!(item["data"]["subject_id"], json!(host.id));
    crate::moderation::claim_and_decide(&mut console, &report["item_id"], "reject", "售假").await;
    for ws in [&mut wa, &mut wb] {
        let removed = ws.next_event("room.removed").await;
        assert_eq!(removed["data"]["reason"], json!("hidden"));
    }
    let gone = wa
        .request_err("room.join", json!({ "room_id": room }))
        .await;
    assert_eq!(code(&gone), "not_found");
}

async fn joins_are_announced_only_in_small_rooms(store: Store) {
    let mut app = spawn_app_with(store, |s| s.live.announce_up_to = 2).await;
    let host = appraiser(&mut app).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wh = app.ws(&host).await;
    let room = open_room(&mut wh, "小房间", "other").await;
    join(&mut wh, room).await;
    let mut wa = app.ws(&a).await;
    join(&mut wa, room).await;
    wh.next_event_where("a's join announced", |e| {
        e["type"] == json!("room.joined") && e["data"]["user"]["id"] == json!(a.id)
    })
    .await;
    // A third viewer takes the room past the setting: that join goes unannounced.
    wh.next_event_where("room.stats with two viewers", |e| {
        e["type"] == json!("room.stats") && e["data"]["viewers"] == json!(2)
    })
    .await;
    let mut wb = app.ws(&b).await;
    join(&mut wb, room).await;
    say(&mut wh, room, "之后的评论").await;
    next_comment(&mut wa, room, "之后的评论").await;
    let announced = wa.take_buffered(|f| {
        f["type"] == json!("room.joined") && f["data"]["user"]["id"] == json!(b.id)
    });
    assert!(announced.is_empty(), "{announced:?}");
}

async fn an_account_without_full_standing_watches_but_does_not_comment(store: Store) {
    let mut app = spawn_app(store).await;
    let host = appraiser(&mut app).await;
    let mut wh = app.ws(&host).await;
    let room = open_room(&mut wh, "未成年人规则", "other").await;
    let child = crate::minors::register(&mut app, json!({ "age_bracket": "under_14" })).await;
    let mut wc = app.ws(&child).await;
    join(&mut wc, room).await;
    let refused = wc
        .request_err(
            "room.comment",
            json!({ "room_id": room, "text": "我也想说", "client_id": "c-1" }),
        )
        .await;
    assert_eq!(code(&refused), "guardian_required", "{refused}");
}

/// A node killed with SIGKILL mid-burst loses no acknowledged comment: its spectators rejoin on
/// another node with `since_seq` and get every acknowledged comment, once, gap-free; retried
/// unacknowledged comments are never stored twice.
async fn a_killed_node_loses_no_acknowledged_comment(store: Store) {
    const ACKED_FIRST: usize = 20;
    const IN_FLIGHT: usize = 30;
    let Some(mut cluster) = spawn_cluster(store, 1).await else {
        return;
    };
    let mut doomed = cluster.spawn_process().await;
    let host = cluster.nodes[0].new_user().await;
    cluster.nodes[0].grant_role(host.id, "appraiser").await;
    let viewer = cluster.nodes[0].new_user().await;
    let mut wh = doomed.app.ws(&host).await;
    let room = open_room(&mut wh, "断电测试", "jade").await;
    join(&mut wh, room).await;
    let mut wv = doomed.app.ws(&viewer).await;
    let first = join(&mut wv, room).await;
    let held = first["room"]["seq"].as_i64().expect("seq");
    let comment = |i: usize| json!({ "room_id": room, "text": format!("第{i}条"), "client_id": format!("k-{i}") });
    let mut acked: Vec<(usize, i64)> = Vec::new();
    for i in 0..ACKED_FIRST {
        let reply = wh.request_ok("room.comment", comment(i)).await;
        acked.push((i, reply["comment"]["seq"].as_i64().expect("seq")));
    }
    // Command ids are c1, c2, … per socket: c1 create, c2 start, c3 join, then c4 on.
    let first_burst_command = 4 + ACKED_FIRST;
    for i in ACKED_FIRST..ACKED_FIRST + IN_FLIGHT {
        wh.send_command("room.comment", comment(i)).await;
    }
    wh.read_arrived().await;
    for reply in wh.take_buffered(|f| f.get("re").is_some()) {
        let n: usize = reply["re"]
            .as_str()
            .and_then(|r| r.strip_prefix('c'))
            .and_then(|n| n.parse().ok())
            .expect("a command id");
        if reply["ok"] == json!(true) && n >= first_burst_command {
            acked.push((
                n - first_burst_command + ACKED_FIRST,
                reply["data"]["comment"]["seq"].as_i64().expect("seq"),
            ));
        }
    }
    doomed.kill();
    drop(wh);
    drop(wv);

    let mut wv = cluster.nodes[0].ws(&viewer).await;
    let back = wv
        .request_ok("room.join", json!({ "room_id": room, "since_seq": held }))
        .await;
    assert_eq!(back["recovered"], json!(true), "{back}");
    let missed: Vec<i64> = back["missed"]
        .as_array()
        .expect("missed")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(
        missed,
        ((held + 1)..=back["room"]["seq"].as_i64().expect("seq")).collect::<Vec<_>>(),
        "gap-free after the kill"
    );
    for (i, seq) in &acked {
        let event = back["missed"]
            .as_array()
            .and_then(|m| m.iter().find(|e| e["seq"] == json!(seq)))
            .unwrap_or_else(|| panic!("acknowledged comment {i} (seq {seq}) is gone"));
        assert_eq!(event["data"]["text"], json!(format!("第{i}条")));
    }
    let mut wh = cluster.nodes[0].ws(&host).await;
    join(&mut wh, room).await;
    let mut seqs = std::collections::BTreeSet::new();
    for i in 0..ACKED_FIRST + IN_FLIGHT {
        let retry = wh.request_ok("room.comment", comment(i)).await;
        assert!(
            seqs.insert(retry["comment"]["seq"].as_i64().expect("seq")),
            "comment {i} twice"
        );
        if let Some((_, seq)) = acked.iter().find(|(n, _)| *n == i) {
            assert_eq!(
                retry["comment"]["seq"],
                json!(seq),
                "a retry answers the stored one"
            );
        }
    }
}

store_tests!(
    rooms_are_opened_by_appraisers_and_listed_while_live,
    a_comment_reaches_every_member_once_it_is_durable,
    a_spectator_who_rejoins_gets_what_they_missed_once_in_order,
    the_host_and_helpers_keep_order_and_nobody_else_can,
    moderators_end_and_hide_any_room,
    limits_refuse_clearly,
    comments_join_the_export_and_leave_with_the_account,
    spectators_on_every_node_see_the_room_and_a_ban_reaches_them,
    reported_comments_and_rooms_go_when_a_moderator_upholds_the_report,
    joins_are_announced_only_in_small_rooms,
    an_account_without_full_standing_watches_but_does_not_comment,
    a_killed_node_loses_no_acknowledged_comment,
);
