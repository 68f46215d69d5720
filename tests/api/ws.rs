//! The socket itself: the envelope and its errors, authentication on the socket, size and rate
//! limits, heartbeats, slow readers and shutdown. Every refusal that the protocol says leaves
//! the socket open is followed by a request that must still work.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use sqlx::Row;

use crate::helpers::{spawn_app, spawn_app_with, Failures, RawWs, Store, WsClient, OP_TEXT};

/// The next reply (a frame with `re`, whatever its value) that is an error with this code.
async fn next_error(ws: &mut WsClient, code: &str) -> Value {
    let what = format!("an error reply {code}");
    ws.next_frame_where(&what, |f| {
        f.get("re").is_some() && f["error"]["code"] == code
    })
    .await
}

/// Proves the socket still serves commands.
async fn still_works(ws: &mut WsClient, after: &str) {
    let reply = ws.request("chat.list", json!({})).await;
    assert_eq!(
        reply["ok"],
        json!(true),
        "the socket works after {after}: {reply}"
    );
}

async fn bad_frames_get_their_error_and_the_socket_keeps_working(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user).await;

    struct Case {
        name: &'static str,
        frame: &'static str,
        code: &'static str,
        re: Value,
        field: Option<&'static str>,
    }
    let case = |name, frame, code, re: Value, field| Case {
        name,
        frame,
        code,
        re,
        field,
    };
    let cases = [
        case(
            "malformed JSON",
            r#"{"id":"x1","type":"chat.list""#,
            "bad_request",
            Value::Null,
            None,
        ),
        case("an empty frame", "", "bad_request", Value::Null, None),
        case(
            "a JSON array",
            r#"[{"id":"x2","type":"chat.list"}]"#,
            "bad_request",
            Value::Null,
            None,
        ),
        case(
            "a JSON string",
            r#""chat.list""#,
            "bad_request",
            Value::Null,
            None,
        ),
        case(
            "no id",
            r#"{"type":"chat.list","data":{}}"#,
            "bad_request",
            Value::Null,
            None,
        ),
        case(
            "an id that is a number",
            r#"{"id":7,"type":"chat.list"}"#,
            "bad_request",
            Value::Null,
            None,
        ),
        case(
            "no type",
            r#"{"id":"x3","data":{}}"#,
            "bad_request",
            json!("x3"),
            None,
        ),
        case(
            "a type that is a number",
            r#"{"id":"x4","type":7}"#,
            "bad_request",
            json!("x4"),
            None,
        ),
        case(
            "an unknown type",
            r#"{"id":"x5","type":"chat.explode","data":{}}"#,
            "unknown_type",
            json!("x5"),
            None,
        ),
        case(
            "data that is not an object",
            r#"{"id":"x6","type":"chat.history","data":[3]}"#,
            "invalid_field",
            json!("x6"),
            Some("data"),
        ),
        case(
            "a field of the wrong type",
            r#"{"id":"x7","type":"chat.history","data":{"conversation_id":"three"}}"#,
            "invalid_field",
            json!("x7"),
            Some("conversation_id"),
        ),
        case(
            "a missing field",
            r#"{"id":"x8","type":"chat.history","data":{}}"#,
            "invalid_field",
            json!("x8"),
            Some("conversation_id"),
        ),
    ];
    let mut failures = Failures::default();
    for Case {
        name,
        frame,
        code,
        re,
        field,
    } in cases
    {
        ws.send_text(frame).await;
        let what = format!("the reply to {name}");
        let reply = ws.next_frame_where(&what, |f| f.get("re").is_some()).await;
        failures.check_ws_error(name, &reply, code, field);
        failures.check(name, &re, &reply["re"], &reply);
        failures.check(name, true, reply["error"]["message"].is_string(), &reply);
        still_works(&mut ws, name).await;
    }
    failures.assert_none("bad frames");
}

async fn a_binary_frame_is_refused_and_the_socket_survives(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user).await;
    ws.send_binary(&br#"{"id":"b1","type":"chat.list","data":{}}"#[..])
        .await;
    let reply = next_error(&mut ws, "binary_not_supported").await;
    assert_eq!(reply["ok"], json!(false), "{reply}");
    still_works(&mut ws, "a binary frame").await;
}

async fn a_frame_over_the_soft_limit_is_refused_and_the_socket_survives(store: Store) {
    let mut app = spawn_app_with(store, |s| s.ws.max_frame_bytes = 1024).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut ws = app.ws(&a).await;
    let conv = ws.open_chat(b.id).await;

    let data = json!({ "conversation_id": conv, "client_id": "big", "text": "a".repeat(2000) });
    ws.send_command("chat.send", data).await;
    next_error(&mut ws, "frame_too_large").await;
    still_works(&mut ws, "a frame over the soft limit").await;

    let message = ws.say(conv, "small").await;
    assert_eq!(
        message["seq"],
        json!(1),
        "the large frame was not run: {message}"
    );
}

async fn a_frame_over_four_times_the_soft_limit_closes_with_1009(store: Store) {
    let mut app = spawn_app_with(store, |s| s.ws.max_frame_bytes = 1024).await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user).await;
    ws.request_ok("chat.list", json!({})).await;
    let data = json!({ "conversation_id": 1, "client_id": "huge", "text": "a".repeat(5000) });
    // The server may close while the frame is still being written.
    ws.try_send_text(json!({ "id": "h1", "type": "chat.send", "data": data }).to_string())
        .await;
    assert_eq!(ws.expect_close().await, Some(1009));
}

async fn a_text_frame_that_is_not_utf8_closes_with_1007(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let mut raw = RawWs::connect(&app, &user, None).await;
    // First prove the hand-made framing is right, so that the close below is about UTF-8.
    raw.send_frame(OP_TEXT, br#"{"id":"r1","type":"chat.list","data":{}}"#)
        .await;
    let reply = raw
        .next_json_where("the reply to r1", |f| f["re"] == "r1")
        .await;
    assert_eq!(reply["ok"], json!(true), "{reply}");

    raw.send_frame(OP_TEXT, &[b'{', 0xff, 0xfe, 0x80, b'}'])
        .await;
    assert_eq!(raw.expect_close().await, Some(1007));
}

async fn a_command_before_auth_gets_auth_required(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let mut ws = app.ws_raw().await;
    let cases = [
        ("chat.list", json!({})),
        ("chat.open", json!({ "peer_id": user.id })),
        ("presence.query", json!({ "user_ids": [user.id] })),
    ];
    for (ty, data) in cases {
        let err = ws.request_err(ty, data).await;
        assert_eq!(err["code"], json!("auth_required"), "{ty}: {err}");
    }
    let authed = ws.request_ok("auth", json!({ "token": user.token })).await;
    assert_eq!(authed["user"]["id"], json!(user.id), "{authed}");
    still_works(&mut ws, "authenticating late").await;
}

async fn authenticating_with_the_first_frame_works_once(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let mut ws = app.ws_raw().await;
    let authed = ws.request_ok("auth", json!({ "token": user.token })).await;
    assert_eq!(authed["user"]["id"], json!(user.id), "{authed}");
    assert!(authed["user"].get("phone").is_none(), "{authed}");
    still_works(&mut ws, "first-frame auth").await;

    let mut by_header = app.ws(&user).await;
    for (how, socket) in [("first frame", &mut ws), ("header", &mut by_header)] {
        let err = socket
            .request_err("auth", json!({ "token": user.token }))
            .await;
        assert_eq!(err["code"], json!("already_authenticated"), "{how}: {err}");
        still_works(socket, "a second auth").await;
    }
}

async fn a_bad_token_in_the_first_frame_is_unauthorized(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let cases = [
        ("a garbage token", "garbage".to_owned()),
        ("an empty token", String::new()),
        (
            "the token with a character more",
            format!("{}x", user.token),
        ),
    ];
    for (case, token) in cases {
        let mut ws = app.ws_raw().await;
        let err = ws.request_err("auth", json!({ "token": token })).await;
        assert_eq!(err["code"], json!("unauthorized"), "{case}: {err}");
    }
}

async fn a_socket_that_never_authenticates_is_closed_with_4000(store: Store) {
    let mut app = spawn_app_with(store, |s| s.ws.auth_timeout_ms = 300).await;
    let user = app.new_user().await;
    let mut by_frame = app.ws_raw().await;
    by_frame
        .request_ok("auth", json!({ "token": user.token }))
        .await;
    let mut by_header = app.ws(&user).await;
    by_header.request_ok("chat.list", json!({})).await;

    let mut idle = app.ws_raw().await;
    assert_eq!(idle.expect_close().await, Some(4000));
    // Both were opened before the idle one, so their auth timeout has passed too.
    still_works(&mut by_frame, "the auth timeout (first-frame auth)").await;
    still_works(&mut by_header, "the auth timeout (header auth)").await;
}

async fn a_flood_is_rate_limited_and_committed_messages_survive(store: Store) {
    let mut app = spawn_app_with(store, |s| {
        s.ws.rate_per_sec = 5.0;
        s.ws.rate_burst = 5.0;
    })
    .await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wb = app.ws(&b).await;
    let conv = wb.open_chat(a.id).await;
    let mut wa = app.ws(&a).await;

    let mut committed = BTreeSet::new();
    for n in 1..=3 {
        let message = wa.say(conv, &format!("before the flood {n}")).await;
        committed.insert(message["client_id"].as_str().expect("client_id").to_owned());
    }

    let mut in_flight = Vec::new();
    for n in 0..30 {
        let client_id = format!("flood-{n}");
        let data = json!({ "conversation_id": conv, "client_id": client_id, "text": "flood" });
        in_flight.push((client_id, wa.send_command("chat.send", data).await));
    }
    let mut refused = 0;
    for (client_id, id) in in_flight {
        let reply = wa.reply(&id).await;
        if reply["ok"] == json!(true) {
            committed.insert(client_id);
            continue;
        }
        refused += 1;
        assert_eq!(reply["error"]["code"], json!("rate_limited"), "{reply}");
        assert!(
            reply["error"]["retry_after_ms"].as_i64() > Some(0),
            "rate_limited says when to retry: {reply}"
        );
    }
    assert!(
        refused > 0,
        "30 frames at once against a burst of 5 were all accepted"
    );

    // A fresh socket has a fresh allowance.
    let mut reader = app.ws(&a).await;
    let history = reader
        .request_ok(
            "chat.history",
            json!({ "conversation_id": conv, "limit": 100 }),
        )
        .await;
    let messages = history["messages"].as_array().expect("messages");
    let stored: BTreeSet<String> = messages
        .iter()
        .filter_map(|m| m["client_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        stored, committed,
        "exactly the acknowledged messages are stored"
    );
    let mut stored_seqs: Vec<i64> = messages.iter().filter_map(|m| m["seq"].as_i64()).collect();
    stored_seqs.sort_unstable();
    assert_eq!(
        stored_seqs,
        (1..=committed.len() as i64).collect::<Vec<_>>(),
        "gap-free"
    );
}

async fn a_sustained_flood_is_closed_with_4008(store: Store) {
    let mut app = spawn_app_with(store, |s| {
        s.ws.rate_per_sec = 5.0;
        s.ws.rate_burst = 5.0;
        s.ws.flood_close_after = 10;
    })
    .await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user).await;
    for n in 0..200 {
        let frame = json!({ "id": format!("f{n}"), "type": "chat.list", "data": {} });
        if !ws.try_send_text(frame.to_string()).await {
            break;
        }
    }
    assert_eq!(ws.expect_close().await, Some(4008));
}

async fn a_client_that_never_answers_pings_is_closed_with_4002(store: Store) {
    let mut app = spawn_app_with(store, |s| {
        s.ws.heartbeat_interval_ms = 100;
        s.ws.client_timeout_ms = 400;
    })
    .await;
    let user = app.new_user().await;
    let mut raw = RawWs::connect(&app, &user, None).await;
    assert_eq!(raw.expect_close().await, Some(4002));
}

async fn a_client_that_does_not_read_is_closed_with_4009_and_nothing_is_lost(store: Store) {
    const MESSAGES: i64 = 400;
    let mut app = spawn_app_with(store, |s| {
        s.ws.outbound_queue_bytes = 65536;
        s.chat.max_text_chars = 8000;
        // The reply limit must leave room for one more maximal message in the queue.
        s.ws.max_reply_bytes = 16384;
    })
    .await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wa = app.ws(&a).await;
    let conv = wa.open_chat(b.id).await;
    let mut slow = RawWs::connect(&app, &b, Some(4096)).await;

    // 7000 characters of three bytes each: 8.4 MB in all, more than the kernel's socket
    // buffers on loopback (up to 4 MiB of send buffer) can hide from the server.
    let text = "玉".repeat(7000);
    let mut client_ids = Vec::new();
    for _ in 0..MESSAGES {
        let message = wa.say(conv, &text).await;
        client_ids.push(message["client_id"].as_str().expect("client_id").to_owned());
    }
    still_works(&mut wa, "its peer was cut off").await;

    assert_eq!(
        slow.expect_close().await,
        Some(4009),
        "the reader that never read"
    );

    let rows =
        sqlx::query("SELECT seq, client_id FROM messages WHERE conversation_id = $1 ORDER BY seq")
            .bind(conv)
            .fetch_all(&app.db)
            .await
            .expect("read the stored messages");
    let stored: Vec<(i64, String)> = rows
        .iter()
        .map(|r| (r.get::<i64, _>("seq"), r.get::<String, _>("client_id")))
        .collect();
    let expected: Vec<(i64, String)> = (1..=MESSAGES).zip(client_ids).collect();
    assert_eq!(
        stored, expected,
        "every acknowledged message is stored, in order"
    );
}

async fn shutdown_closes_every_socket_with_1001(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let a2 = app.login_again(&a).await;
    let b = app.new_user().await;
    let mut sockets = vec![app.ws(&a).await, app.ws(&a2).await, app.ws(&b).await];
    for ws in &mut sockets {
        ws.request_ok("chat.list", json!({})).await;
    }
    let mut unauthenticated = app.ws_raw().await;
    let err = unauthenticated.request_err("chat.list", json!({})).await;
    assert_eq!(err["code"], json!("auth_required"), "{err}");
    sockets.push(unauthenticated);

    app.shutdown();
    for (n, ws) in sockets.iter_mut().enumerate() {
        assert_eq!(ws.expect_close().await, Some(1001), "socket {n}");
    }
}

store_tests!(
    bad_frames_get_their_error_and_the_socket_keeps_working,
    a_binary_frame_is_refused_and_the_socket_survives,
    a_frame_over_the_soft_limit_is_refused_and_the_socket_survives,
    a_frame_over_four_times_the_soft_limit_closes_with_1009,
    a_text_frame_that_is_not_utf8_closes_with_1007,
    a_command_before_auth_gets_auth_required,
    authenticating_with_the_first_frame_works_once,
    a_bad_token_in_the_first_frame_is_unauthorized,
    a_socket_that_never_authenticates_is_closed_with_4000,
    a_flood_is_rate_limited_and_committed_messages_survive,
    a_sustained_flood_is_closed_with_4008,
    a_client_that_never_answers_pings_is_closed_with_4002,
    a_client_that_does_not_read_is_closed_with_4009_and_nothing_is_lost,
    shutdown_closes_every_socket_with_1001,
);
