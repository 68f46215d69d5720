//! Appraisal calls (连线鉴定, #14, docs/live.md "Appraisal calls"): the queue, the call between
//! the host and one buyer, the signalling relayed to exactly the bound device, and every way a
//! call ends, over real sockets, on both stores and across nodes.

use serde_json::{json, Value};

use crate::helpers::{
    spawn_app, spawn_app_with, spawn_cluster, spawn_cluster_with, Store, TestApp, TestUser,
    WsClient,
};

/// An offer as Chromium makes it, trimmed to its structure.
const OFFER: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
    a=group:BUNDLE 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n\
    a=ice-ufrag:Hk3z\r\na=ice-pwd:4Pa2vHXyHVZ7Yx5X6a9n2bqJ\r\n\
    a=fingerprint:sha-256 1B:8D:3A:EF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:01:02:03:04:05:06:07:08:09:0A:0B:0C\r\n\
    a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtpmap:96 VP8/90000\r\n";
const CANDIDATE: &str = "candidate:1 1 udp 2122260223 192.168.1.3 54400 typ host generation 0";

fn code(error: &Value) -> &str {
    error["code"].as_str().unwrap_or_default()
}

/// A user who granted camera and microphone (the gate table's `live_connect`).
async fn with_av(app: &mut TestApp) -> TestUser {
    let user = app.new_user().await;
    app.grant_consents(&user, &["camera", "microphone"]).await;
    user
}

async fn host_with_room(app: &mut TestApp) -> (TestUser, WsClient, i64) {
    let host = with_av(app).await;
    app.grant_role(host.id, "appraiser").await;
    let mut wh = app.ws(&host).await;
    let room = open_room(&mut wh).await;
    (host, wh, room)
}

async fn open_room(wh: &mut WsClient) -> i64 {
    let room = wh
        .request_ok(
            "room.create",
            json!({ "title": "连线鉴定专场", "category": "jade" }),
        )
        .await["room"]["id"]
        .as_i64()
        .expect("room id");
    wh.request_ok("room.start", json!({ "room_id": room }))
        .await;
    wh.request_ok("room.join", json!({ "room_id": room })).await;
    room
}

async fn queue(ws: &mut WsClient, room: i64, description: &str) -> Value {
    ws.request_ok(
        "room.queue.join",
        json!({ "room_id": room, "description": description }),
    )
    .await["entry"]
        .clone()
}

/// The host calls the next buyer, who answers on `wb`: the call's id.
async fn connect(wh: &mut WsClient, wb: &mut WsClient, room: i64) -> i64 {
    let side = wh.request_ok("room.call", json!({ "room_id": room })).await;
    let call = side["call"]["id"].as_i64().expect("call id");
    wb.next_event("room.call.ringing").await;
    wb.request_ok("room.call.answer", json!({ "call_id": call }))
        .await;
    wh.next_event("room.call.connected").await;
    call
}

async fn ended(ws: &mut WsClient, call: i64) -> Value {
    ws.next_event_where("room.call.ended", |e| {
        e["type"] == json!("room.call.ended") && e["data"]["call"]["id"] == json!(call)
    })
    .await["data"]["call"]
        .clone()
}

async fn a_buyer_queues_is_called_answers_and_signals_reach_only_the_bound_device(store: Store) {
    let mut app = spawn_app(store).await;
    let (host, mut wh, room) = host_with_room(&mut app).await;
    let buyer = with_av(&mut app).await;
    let second_device = app.login_again(&buyer).await;
    let later = app.new_user().await;
    let spectator = app.new_user().await;
    let mut wb = app.ws(&buyer).await;
    let mut wb2 = app.ws(&second_device).await;
    let mut wl = app.ws(&later).await;
    let mut ws = app.ws(&spectator).await;
    ws.request_ok("room.join", json!({ "room_id": room })).await;
    wl.request_ok("room.join", json!({ "room_id": room })).await;

    // The gate: no camera and microphone, no turn; the host never queues in their own room.
    let no_consent = wl
        .request_err(
            "room.queue.join",
            json!({ "room_id": room, "description": "玉镯" }),
        )
        .await;
    assert_eq!(code(&no_consent), "consent_required", "{no_consent}");
    assert_eq!(
        no_consent["missing_permissions"],
        json!(["camera", "microphone"]),
        "{no_consent}"
    );
    let own_room = wh
        .request_err(
            "room.queue.join",
            json!({ "room_id": room, "description": "自己" }),
        )
        .await;
    assert_eq!(code(&own_room), "forbidden");
    let contact = wb
        .request_err(
            "room.queue.join",
            json!({ "room_id": room, "description": "加微信 jade888 详聊" }),
        )
        .await;
    assert_eq!(code(&contact), "content_rejected", "{contact}");
    let not_mine = wb
        .request_err(
            "room.queue.join",
            json!({ "room_id": room, "description": "手镯", "photos": ["m_nobody"] }),
        )
        .await;
    assert_eq!(code(&not_mine), "invalid_field", "{not_mine}");

    let entry = queue(&mut wb, room, "冰种手镯，想看种水").await;
    assert_eq!(entry["position"], json!(1), "{entry}");
    assert_eq!(entry["status"], json!("waiting"));
    let seen = ws.next_event("room.queue").await;
    assert_eq!(seen["data"]["order"], json!([entry["id"]]), "{seen}");
    let twice = wb
        .request_err(
            "room.queue.join",
            json!({ "room_id": room, "description": "再来" }),
        )
        .await;
    assert_eq!(code(&twice), "queue_full", "one entry per user: {twice}");
    app.grant_consents(&later, &["camera", "microphone"]).await;
    let second = queue(&mut wl, room, "和田玉挂件").await;
    assert_eq!(second["position"], json!(2));

    // Who sees what of the queue.
    let hosts = wh
        .request_ok("room.queue.list", json!({ "room_id": room }))
        .await;
    assert_eq!(hosts["length"], json!(2));
    assert_eq!(
        hosts["entries"][0]["user"]["id"],
        json!(buyer.id),
        "{hosts}"
    );
    let spectators = ws
        .request_ok("room.queue.list", json!({ "room_id": room }))
        .await;
    assert_eq!(spectators["entries"], Value::Null, "{spectators}");
    assert_eq!(spectators["mine"], json!([]));
    let buyers = wl
        .request_ok("room.queue.list", json!({ "room_id": room }))
        .await;
    assert_eq!(buyers["mine"][0]["position"], json!(2), "{buyers}");

    // Only the host calls; the call rings on every device of the buyer.
    let by_spectator = ws
        .request_err("room.call", json!({ "room_id": room }))
        .await;
    assert_eq!(code(&by_spectator), "forbidden");
    let side = wh.request_ok("room.call", json!({ "room_id": room })).await;
    assert_eq!(side["role"], json!("offerer"), "{side}");
    assert_eq!(side["call"]["state"], json!("ringing"));
    assert_eq!(side["ice_servers"], json!([]), "nothing configured: {side}");
    let call = side["call"]["id"].as_i64().expect("call id");
    for device in [&mut wb, &mut wb2] {
        let ring = device.next_event("room.call.ringing").await;
        assert_eq!(ring["data"]["call"]["id"], json!(call));
        assert_eq!(ring["data"]["call"]["host"]["id"], json!(host.id));
    }
    let busy = wh
        .request_err("room.call", json!({ "room_id": room }))
        .await;
    assert_eq!(code(&busy), "call_busy", "{busy}");
    for (who, device) in [("a spectator", &mut ws), ("the next buyer", &mut wl)] {
        let refused = device
            .request_err("room.call.answer", json!({ "call_id": call }))
            .await;
        assert_eq!(code(&refused), "forbidden", "{who}: {refused}");
    }
    let answered = wb
        .request_ok("room.call.answer", json!({ "call_id": call }))
        .await;
    assert_eq!(answered["role"], json!("answerer"));
    assert_eq!(answered["call"]["state"], json!("connected"));
    wb2.next_event("room.call.answered").await;
    let late = wb2
        .request_err("room.call.answer", json!({ "call_id": call }))
        .await;
    assert_eq!(
        code(&late),
        "conflict",
        "answered on the other device: {late}"
    );
    let connected = wh.next_event("room.call.connected").await;
    assert_eq!(connected["data"]["role"], json!("offerer"));
    let state = ws
        .next_event_where("the room sees the call connected", |e| {
            e["type"] == json!("room.call.state") && e["data"]["state"] == json!("connected")
        })
        .await;
    assert_eq!(state["data"]["guest"]["id"], json!(buyer.id));

    // Signalling: the server decides who offers, checks every frame, and relays to one device.
    #[derive(Clone, Copy)]
    enum From {
        Host,
        Buyer,
        BuyersOtherDevice,
        Spectator,
    }
    let padded = format!("{OFFER}{}", "a=x-pad:0\r\n".repeat(2000));
    let cases = [
        (
            From::Buyer,
            "rtc.offer",
            json!({ "call_id": call, "sdp": OFFER }),
            "forbidden",
            "the answerer offering",
        ),
        (
            From::Spectator,
            "rtc.offer",
            json!({ "call_id": call, "sdp": OFFER }),
            "forbidden",
            "not a party",
        ),
        (
            From::BuyersOtherDevice,
            "rtc.answer",
            json!({ "call_id": call, "sdp": OFFER }),
            "forbidden",
            "the buyer's other device",
        ),
        (
            From::Host,
            "rtc.offer",
            json!({ "call_id": call, "sdp": "hello" }),
            "invalid_sdp",
            "not SDP",
        ),
        (
            From::Host,
            "rtc.offer",
            json!({ "call_id": call, "sdp": OFFER.replace("a=fingerprint", "a=x") }),
            "invalid_sdp",
            "no fingerprint",
        ),
        (
            From::Host,
            "rtc.offer",
            json!({ "call_id": call, "sdp": padded }),
            "signal_too_large",
            "oversized",
        ),
        (
            From::Host,
            "rtc.ice",
            json!({ "call_id": call, "candidate": "candidate:1 1 udp 1 10.0.0.1 1 typ alien" }),
            "invalid_candidate",
            "bad type",
        ),
        (
            From::Host,
            "rtc.ice",
            json!({ "call_id": call, "candidate": "<script>" }),
            "invalid_candidate",
            "garbage",
        ),
        (
            From::Host,
            "rtc.offer",
            json!({ "call_id": call + 1000, "sdp": OFFER }),
            "not_found",
            "no such call",
        ),
        (
            From::Host,
            "rtc.offer",
            json!({ "call_id": call, "sdp": OFFER, "extra": 1 }),
            "invalid_field",
            "unknown field",
        ),
    ];
    for (from, kind, data, want, why) in cases {
        let device = match from {
            From::Host => &mut wh,
            From::Buyer => &mut wb,
            From::BuyersOtherDevice => &mut wb2,
            From::Spectator => &mut ws,
        };
        let refused = device.request_err(kind, data).await;
        assert_eq!(code(&refused), want, "{why}: {refused}");
    }
    wh.request_ok("rtc.offer", json!({ "call_id": call, "sdp": OFFER }))
        .await;
    let offer = wb.next_event("rtc.offer").await;
    assert_eq!(offer["data"]["sdp"], json!(OFFER));
    wb.request_ok("rtc.answer", json!({ "call_id": call, "sdp": OFFER }))
        .await;
    wh.next_event("rtc.answer").await;
    wb.request_ok(
        "rtc.ice",
        json!({ "call_id": call, "candidate": CANDIDATE, "sdp_mid": "0", "sdp_mline_index": 0 }),
    )
    .await;
    let ice = wh.next_event("rtc.ice").await;
    assert_eq!(ice["data"]["candidate"], json!(CANDIDATE));
    assert_eq!(ice["data"]["sdp_mid"], json!("0"));
    wb.request_ok("rtc.restart", json!({ "call_id": call }))
        .await;
    assert_eq!(
        wh.next_event("rtc.restart").await["data"]["fresh"],
        json!(false)
    );
    for device in [&mut wb2, &mut ws] {
        device.read_arrived().await;
        let leaked =
            device.take_buffered(|f| f["type"].as_str().is_some_and(|t| t.starts_with("rtc.")));
        assert!(
            leaked.is_empty(),
            "signalling reached another device: {leaked:?}"
        );
    }

    // A hangup ends it for both; nothing more is relayed.
    let hung = wh
        .request_ok("rtc.hangup", json!({ "call_id": call }))
        .await;
    assert_eq!(hung["call"]["end_reason"], json!("hangup"));
    assert_eq!(hung["call"]["ended_by"], json!(host.id));
    for device in [&mut wh, &mut wb] {
        let over = ended(device, call).await;
        assert_eq!(over["end_reason"], json!("hangup"));
    }
    let after = wb
        .request_err(
            "rtc.ice",
            json!({ "call_id": call, "candidate": CANDIDATE }),
        )
        .await;
    assert_eq!(code(&after), "call_ended", "{after}");
    let moved_on = wl
        .next_event_where("the queue moved on", |e| {
            e["type"] == json!("room.queue") && e["data"]["order"] == json!([second["id"]])
        })
        .await;
    assert_eq!(moved_on["data"]["length"], json!(1));
    let mine = wb
        .request_ok("room.queue.list", json!({ "room_id": room }))
        .await;
    assert_eq!(mine["mine"], json!([]), "the turn is over: {mine}");

    // The record, for both parties.
    for (who, device) in [("buyer", &mut wb), ("host", &mut wh)] {
        let records = device.request_ok("room.calls", json!({})).await;
        let record = &records["calls"][0];
        assert_eq!(record["id"], json!(call), "{who}: {records}");
        assert_eq!(record["end_reason"], json!("hangup"));
        assert!(
            record["answered_at"].is_i64() && record["ended_at"].is_i64(),
            "{record}"
        );
        assert_eq!(record["entry"]["description"], json!("冰种手镯，想看种水"));
    }
    let strangers = ws.request_ok("room.calls", json!({})).await;
    assert_eq!(strangers["calls"], json!([]));
}

async fn the_queue_is_first_come_first_served_and_changes_need_reasons(store: Store) {
    let mut app = spawn_app(store).await;
    let (_host, mut wh, room) = host_with_room(&mut app).await;
    let mut buyers = Vec::new();
    for i in 0..3 {
        let user = with_av(&mut app).await;
        let mut ws = app.ws(&user).await;
        let entry = queue(&mut ws, room, &format!("第{i}件")).await;
        buyers.push((user, ws, entry["id"].as_i64().expect("entry id")));
    }
    let ids: Vec<i64> = buyers.iter().map(|b| b.2).collect();
    let listed = wh
        .request_ok("room.queue.list", json!({ "room_id": room }))
        .await;
    assert_eq!(listed["order"], json!(ids), "first come, first served");

    let no_reason = wh
        .request_err(
            "room.queue.skip",
            json!({ "room_id": room, "entry_id": ids[0], "reason": " " }),
        )
        .await;
    assert_eq!(code(&no_reason), "invalid_field", "{no_reason}");
    let by_buyer = buyers[1]
        .1
        .request_err(
            "room.queue.skip",
            json!({ "room_id": room, "entry_id": ids[0], "reason": "插队" }),
        )
        .await;
    assert_eq!(code(&by_buyer), "forbidden");
    let moved_by_buyer = buyers[2]
        .1
        .request_err(
            "room.queue.move",
            json!({ "room_id": room, "entry_id": ids[2], "position": 1, "reason": "急" }),
        )
        .await;
    assert_eq!(code(&moved_by_buyer), "forbidden");

    let moved = wh
        .request_ok(
            "room.queue.move",
            json!({ "room_id": room, "entry_id": ids[2], "position": 1,
                    "reason": "照片最清楚，先看这件" }),
        )
        .await;
    assert_eq!(moved["order"], json!([ids[2], ids[0], ids[1]]), "{moved}");
    let told = buyers[2].1.next_event("room.queue.entry").await;
    assert_eq!(
        told["data"]["entry"]["reason"],
        json!("照片最清楚，先看这件")
    );
    assert_eq!(told["data"]["entry"]["position"], json!(1));
    let bad_position = wh
        .request_err(
            "room.queue.move",
            json!({ "room_id": room, "entry_id": ids[0], "position": 9, "reason": "x" }),
        )
        .await;
    assert_eq!(code(&bad_position), "invalid_field");

    wh.request_ok(
        "room.queue.skip",
        json!({ "room_id": room, "entry_id": ids[0], "reason": "照片看不清，请重新排队" }),
    )
    .await;
    let skipped = buyers[0].1.next_event("room.queue.entry").await;
    assert_eq!(skipped["data"]["entry"]["status"], json!("skipped"));
    assert_eq!(
        skipped["data"]["entry"]["reason"],
        json!("照片看不清，请重新排队")
    );

    // Calling out of turn needs a reason too; leaving is the buyer's own.
    let out_of_turn = wh
        .request_err("room.call", json!({ "room_id": room, "entry_id": ids[1] }))
        .await;
    assert_eq!(code(&out_of_turn), "invalid_field", "{out_of_turn}");
    let not_theirs = buyers[2]
        .1
        .request_err(
            "room.queue.leave",
            json!({ "room_id": room, "entry_id": ids[1] }),
        )
        .await;
    assert_eq!(code(&not_theirs), "not_found");
    let left = buyers[2]
        .1
        .request_ok(
            "room.queue.leave",
            json!({ "room_id": room, "entry_id": ids[2] }),
        )
        .await;
    assert_eq!(left["entry"]["status"], json!("left"));
    wh.request_ok(
        "room.call",
        json!({ "room_id": room, "entry_id": ids[1], "reason": "按顺序" }),
    )
    .await;

    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM live_audit WHERE room_id = $1 AND action LIKE 'queue_%' ORDER BY id",
    )
    .bind(room)
    .fetch_all(&app.db)
    .await
    .expect("audit");
    assert_eq!(audited, ["queue_move", "queue_skip"]);
}

async fn every_end_of_a_turn_moves_the_queue_on(store: Store) {
    let mut app = spawn_app_with(store, |s| {
        s.live.call_answer_ms = 1000;
        s.live.tick_ms = 100;
    })
    .await;
    let (_host, mut wh, room) = host_with_room(&mut app).await;
    let mut devices = Vec::new();
    for i in 0..4 {
        let user = with_av(&mut app).await;
        let mut ws = app.ws(&user).await;
        queue(&mut ws, room, &format!("第{i}件")).await;
        devices.push((user, ws));
    }

    // No answer in time: the turn is lost, the buyer is told.
    let side = wh.request_ok("room.call", json!({ "room_id": room })).await;
    let call = side["call"]["id"].as_i64().expect("id");
    devices[0].1.next_event("room.call.ringing").await;
    assert_eq!(ended(&mut wh, call).await["end_reason"], json!("no_answer"));
    assert_eq!(
        ended(&mut devices[0].1, call).await["end_reason"],
        json!("no_answer")
    );
    let missed = devices[0].1.next_event("room.queue.entry").await;
    assert_eq!(missed["data"]["entry"]["status"], json!("missed"));
    let too_late = devices[0]
        .1
        .request_err("room.call.answer", json!({ "call_id": call }))
        .await;
    assert_eq!(code(&too_late), "call_ended");

    // Declined.
    let side = wh.request_ok("room.call", json!({ "room_id": room })).await;
    let call = side["call"]["id"].as_i64().expect("id");
    devices[1].1.next_event("room.call.ringing").await;
    devices[1]
        .1
        .request_ok("room.call.decline", json!({ "call_id": call }))
        .await;
    assert_eq!(ended(&mut wh, call).await["end_reason"], json!("declined"));

    // A kick ends the buyer's call and their turn; a kicked, banned or muted user cannot queue.
    let call = connect(&mut wh, &mut devices[2].1, room).await;
    let kicked = devices[2].0.id;
    wh.request_ok("room.kick", json!({ "room_id": room, "user_id": kicked }))
        .await;
    assert_eq!(ended(&mut wh, call).await["end_reason"], json!("kicked"));
    let again = devices[2]
        .1
        .request_err(
            "room.queue.join",
            json!({ "room_id": room, "description": "再试" }),
        )
        .await;
    assert_eq!(code(&again), "room_kicked", "{again}");
    let muted = with_av(&mut app).await;
    let banned = with_av(&mut app).await;
    wh.request_ok("room.mute", json!({ "room_id": room, "user_id": muted.id }))
        .await;
    wh.request_ok("room.ban", json!({ "room_id": room, "user_id": banned.id }))
        .await;
    for (user, want) in [(&muted, "room_muted"), (&banned, "room_banned")] {
        let mut ws = app.ws(user).await;
        let refused = ws
            .request_err(
                "room.queue.join",
                json!({ "room_id": room, "description": "看看" }),
            )
            .await;
        assert_eq!(code(&refused), want, "{refused}");
    }

    // The room ends: its call ends and its queue closes.
    let call = connect(&mut wh, &mut devices[3].1, room).await;
    let fifth = with_av(&mut app).await;
    let mut wf = app.ws(&fifth).await;
    queue(&mut wf, room, "最后一件").await;
    wh.request_ok("room.end", json!({ "room_id": room })).await;
    assert_eq!(
        ended(&mut devices[3].1, call).await["end_reason"],
        json!("room_ended")
    );
    let closed = wf.next_event("room.queue.entry").await;
    assert_eq!(closed["data"]["entry"]["status"], json!("removed"));
    let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM live_calls WHERE ended_at IS NULL")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(open, 0);
}

async fn a_dropped_party_resumes_within_the_grace_period_or_the_call_ends(store: Store) {
    let mut app = spawn_app_with(store, |s| {
        s.live.call_grace_ms = 1500;
        s.live.tick_ms = 100;
        s.live.call_max_ms = 60_000;
    })
    .await;
    let (_host, mut wh, room) = host_with_room(&mut app).await;
    let buyer = with_av(&mut app).await;
    let mut wb = app.ws(&buyer).await;
    queue(&mut wb, room, "南红手串").await;
    let call = connect(&mut wh, &mut wb, room).await;

    // The buyer's network drops: the host is told, and the buyer comes back on a new socket.
    wb.close().await;
    let away = wh.next_event("room.call.peer").await;
    assert_eq!(away["data"]["state"], json!("away"));
    let back_device = app.login_again(&buyer).await;
    let mut wb = app.ws(&back_device).await;
    let stranger = app.new_user().await;
    let mut wx = app.ws(&stranger).await;
    let refused = wx
        .request_err("room.call.resume", json!({ "call_id": call }))
        .await;
    assert_eq!(code(&refused), "forbidden");
    let resumed = wb
        .request_ok("room.call.resume", json!({ "call_id": call }))
        .await;
    assert_eq!(resumed["role"], json!("answerer"));
    let back = wh
        .next_event_where("the peer is back", |e| {
            e["type"] == json!("room.call.peer") && e["data"]["state"] == json!("back")
        })
        .await;
    assert_eq!(back["data"]["call_id"], json!(call));
    assert_eq!(
        wh.next_event("rtc.restart").await["data"]["fresh"],
        json!(true)
    );
    wh.request_ok("rtc.offer", json!({ "call_id": call, "sdp": OFFER }))
        .await;
    wb.next_event("rtc.offer").await;

    // Gone for longer than the grace period: the call ends.
    wb.close().await;
    assert_eq!(ended(&mut wh, call).await["end_reason"], json!("dropped"));
}

async fn limits_on_signalling_and_call_time_hold(store: Store) {
    let mut app = spawn_app_with(store, |s| {
        s.live.rtc_frames_per_10s = 10;
        s.live.call_max_ms = 1500;
        s.live.turn_ttl_ms = 3_600_000;
        s.live.tick_ms = 100;
        s.live.stun_urls = "stun:stun.example.cn:3478".into();
        s.live.turn_urls = "turn:turn.example.cn:3478?transport=udp".into();
        s.live.turn_secret = Some("a-turn-secret-for-tests".parse().expect("secret"));
    })
    .await;
    let (host, mut wh, room) = host_with_room(&mut app).await;
    let buyer = with_av(&mut app).await;
    let mut wb = app.ws(&buyer).await;
    queue(&mut wb, room, "翡翠蛋面").await;
    let side = wh.request_ok("room.call", json!({ "room_id": room })).await;
    let call = side["call"]["id"].as_i64().expect("id");

    // TURN REST credentials: `<expiry>:<user>` signed with the shared secret, never the secret.
    let servers = &side["ice_servers"];
    assert_eq!(servers[0]["urls"], json!(["stun:stun.example.cn:3478"]));
    let username = servers[1]["username"].as_str().expect("username");
    let (expiry, user) = username.split_once(':').expect("expiry:user");
    assert_eq!(user, host.id.to_string());
    let expiry: i64 = expiry.parse().expect("unix seconds");
    let now_s = crate::helpers::now_ms() / 1000;
    assert!(
        (now_s + 3500..=now_s + 3700).contains(&expiry),
        "{expiry} vs {now_s}"
    );
    use base64::Engine;
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha1::Sha1>::new_from_slice(b"a-turn-secret-for-tests").expect("key");
    mac.update(username.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(servers[1]["credential"], json!(expected));
    assert!(!side.to_string().contains("a-turn-secret-for-tests"));

    wb.next_event("room.call.ringing").await;
    wb.request_ok("room.call.answer", json!({ "call_id": call }))
        .await;
    let mut limited = None;
    for i in 0..12 {
        let reply = wh
            .request(
                "rtc.ice",
                json!({ "call_id": call, "candidate": CANDIDATE }),
            )
            .await;
        if reply["ok"] == json!(false) {
            limited = Some((i, reply));
            break;
        }
    }
    let (at, reply) = limited.expect("a flood is refused");
    assert_eq!(at, 10, "ten frames pass, the eleventh does not: {reply}");
    assert_eq!(reply["error"]["code"], json!("rate_limited"), "{reply}");
    assert!(reply["error"]["retry_after_ms"].is_u64(), "{reply}");

    assert_eq!(
        ended(&mut wb, call).await["end_reason"],
        json!("time_limit")
    );
}

async fn call_records_join_both_exports_and_outlive_the_buyers_account(store: Store) {
    let mut app = spawn_app(store).await;
    let (host, mut wh, room) = host_with_room(&mut app).await;
    let buyer = with_av(&mut app).await;
    let mut wb = app.ws(&buyer).await;
    queue(&mut wb, room, "老蜜蜡").await;
    let call = connect(&mut wh, &mut wb, room).await;
    wb.request_ok("rtc.hangup", json!({ "call_id": call }))
        .await;
    for (who, user) in [("buyer", &buyer), ("host", &host)] {
        let export = app
            .get("/api/me/export", Some(&user.token))
            .await
            .ok("export");
        let calls = &export["sections"]["live"]["calls"];
        assert_eq!(calls[0]["id"], json!(call), "{who}: {calls}");
        assert_eq!(
            calls[0]["role"],
            json!(if who == "host" { "host" } else { "buyer" })
        );
        assert!(calls[0]["duration_ms"].is_i64(), "{calls}");
    }
    let buyer_export = app
        .get("/api/me/export", Some(&buyer.token))
        .await
        .ok("export");
    assert_eq!(
        buyer_export["sections"]["live"]["queue_entries"][0]["description"],
        json!("老蜜蜡")
    );

    // Staff read someone's records only with a reason, and the read is on record.
    let moderator = app.new_user().await;
    app.grant_role(moderator.id, "moderator").await;
    let mut wm = app.ws(&moderator).await;
    let by_buyer = wb
        .request_err(
            "room.calls.of",
            json!({ "user_id": host.id, "reason": "好奇" }),
        )
        .await;
    assert_eq!(code(&by_buyer), "forbidden", "{by_buyer}");
    let no_reason = wm
        .request_err(
            "room.calls.of",
            json!({ "user_id": host.id, "reason": " " }),
        )
        .await;
    assert_eq!(code(&no_reason), "invalid_field", "{no_reason}");
    let read = wm
        .request_ok(
            "room.calls.of",
            json!({ "user_id": host.id, "reason": "核查对鉴定师的举报" }),
        )
        .await;
    assert_eq!(read["calls"][0]["id"], json!(call), "{read}");
    let logged: Vec<(String, String)> = sqlx::query_as(
        "SELECT what, why FROM staff_access_log WHERE staff_id = $1 AND subject_id = $2",
    )
    .bind(moderator.id)
    .bind(host.id)
    .fetch_all(&app.db)
    .await
    .expect("the staff-access log");
    assert_eq!(
        logged,
        [(
            "appraisal call records".to_string(),
            "核查对鉴定师的举报".to_string()
        )]
    );

    let mut conn = app.db.acquire().await.expect("a connection");
    use duoxie::rights::DataDomain;
    duoxie::live::rights::LiveRights
        .erase(&mut conn, buyer.id)
        .await
        .expect("erase");
    drop(conn);
    let records = wh.request_ok("room.calls", json!({})).await;
    let record = &records["calls"][0];
    assert_eq!(
        record["id"],
        json!(call),
        "the host keeps the record: {records}"
    );
    assert_eq!(
        record["guest"]["id"],
        Value::Null,
        "de-identified: {record}"
    );
    assert_eq!(record["entry"]["description"], json!(""));
}

/// A buyer whose device dropped on one node resumes the call on another, and the signalling
/// finds its new device there.
async fn a_call_resumes_on_another_node(store: Store) {
    let Some(mut cluster) = spawn_cluster_with(store, 2, |s| {
        s.live.tick_ms = 100;
        s.live.call_grace_ms = 20_000;
    })
    .await
    else {
        return;
    };
    let host = cluster.nodes[0].new_user().await;
    cluster.nodes[0]
        .grant_consents(&host, &["camera", "microphone"])
        .await;
    cluster.nodes[0].grant_role(host.id, "appraiser").await;
    let mut wh = cluster.nodes[0].ws(&host).await;
    let room = open_room(&mut wh).await;
    let buyer = cluster.nodes[0].new_user().await;
    cluster.nodes[0]
        .grant_consents(&buyer, &["camera", "microphone"])
        .await;
    let mut wb = cluster.nodes[0].ws(&buyer).await;
    queue(&mut wb, room, "和田玉籽料").await;
    let call = connect(&mut wh, &mut wb, room).await;

    wb.close().await;
    let away = wh.next_event("room.call.peer").await;
    assert_eq!(away["data"]["state"], json!("away"));
    let elsewhere = cluster.nodes[1].login_again(&buyer).await;
    let mut wb = cluster.nodes[1].ws(&elsewhere).await;
    let resumed = wb
        .request_ok("room.call.resume", json!({ "call_id": call }))
        .await;
    assert_eq!(resumed["call"]["state"], json!("connected"));
    wh.next_event_where("the buyer is back", |e| {
        e["type"] == json!("room.call.peer") && e["data"]["state"] == json!("back")
    })
    .await;
    assert_eq!(
        wh.next_event("rtc.restart").await["data"]["fresh"],
        json!(true)
    );
    wh.request_ok("rtc.offer", json!({ "call_id": call, "sdp": OFFER }))
        .await;
    let offer = wb.next_event("rtc.offer").await;
    assert_eq!(
        offer["data"]["call_id"],
        json!(call),
        "relayed to the node now holding it"
    );
    wb.request_ok("rtc.answer", json!({ "call_id": call, "sdp": OFFER }))
        .await;
    wh.next_event("rtc.answer").await;
    wh.request_ok("rtc.hangup", json!({ "call_id": call }))
        .await;
    assert_eq!(ended(&mut wb, call).await["end_reason"], json!("hangup"));
}

/// Two devices of the host on two nodes call at once, again and again: one call wins each time.
async fn two_nodes_calling_at_once_never_connect_two_buyers(store: Store) {
    let Some(mut cluster) = spawn_cluster(store, 2).await else {
        return;
    };
    let host = cluster.nodes[0].new_user().await;
    cluster.nodes[0]
        .grant_consents(&host, &["camera", "microphone"])
        .await;
    cluster.nodes[0].grant_role(host.id, "appraiser").await;
    let host_there = cluster.nodes[1].login_again(&host).await;
    let mut wh0 = cluster.nodes[0].ws(&host).await;
    let mut wh1 = cluster.nodes[1].ws(&host_there).await;
    let room = open_room(&mut wh0).await;
    const ROUNDS: usize = 4;
    let mut buyers = Vec::new();
    for i in 0..ROUNDS * 2 {
        let node = &mut cluster.nodes[i % 2];
        let user = node.new_user().await;
        node.grant_consents(&user, &["camera", "microphone"]).await;
        let mut ws = node.ws(&user).await;
        queue(&mut ws, room, &format!("第{i}件")).await;
        buyers.push(ws);
    }
    for round in 0..ROUNDS {
        let a = wh0
            .send_command("room.call", json!({ "room_id": room }))
            .await;
        let b = wh1
            .send_command("room.call", json!({ "room_id": room }))
            .await;
        let (ra, rb) = (wh0.reply(&a).await, wh1.reply(&b).await);
        let oks = [&ra, &rb].iter().filter(|r| r["ok"] == json!(true)).count();
        assert_eq!(oks, 1, "round {round}: exactly one call: {ra} / {rb}");
        let loser = if ra["ok"] == json!(true) { &rb } else { &ra };
        assert!(
            ["call_busy", "conflict"].contains(&loser["error"]["code"].as_str().unwrap_or("")),
            "round {round}: {loser}"
        );
        let winner = if ra["ok"] == json!(true) { &ra } else { &rb };
        let call = winner["data"]["call"]["id"].as_i64().expect("id");
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM live_calls WHERE room_id = $1 AND ended_at IS NULL",
        )
        .bind(room)
        .fetch_one(&cluster.nodes[0].db)
        .await
        .expect("count");
        assert_eq!(open, 1, "round {round}");
        let ws = if ra["ok"] == json!(true) {
            &mut wh0
        } else {
            &mut wh1
        };
        ws.request_ok("rtc.hangup", json!({ "call_id": call }))
            .await;
    }
    let called: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM live_queue WHERE room_id = $1 AND status <> 'waiting'",
    )
    .bind(room)
    .fetch_one(&cluster.nodes[0].db)
    .await
    .expect("count");
    assert_eq!(
        called, ROUNDS as i64,
        "a losing call leaves its entry waiting"
    );
    drop(buyers);
}

/// A withdrawal of camera or microphone on any device and node ends the call for both parties,
/// and nothing more is relayed for it.
async fn consent_withdrawn_mid_call_ends_it_for_both_across_nodes(store: Store) {
    let Some(mut cluster) = spawn_cluster(store, 2).await else {
        return;
    };
    let host = cluster.nodes[0].new_user().await;
    cluster.nodes[0]
        .grant_consents(&host, &["camera", "microphone"])
        .await;
    cluster.nodes[0].grant_role(host.id, "appraiser").await;
    let mut wh = cluster.nodes[0].ws(&host).await;
    let room = open_room(&mut wh).await;
    let buyer = cluster.nodes[1].new_user().await;
    cluster.nodes[1]
        .grant_consents(&buyer, &["camera", "microphone"])
        .await;
    let settings_device = cluster.nodes[0].login_again(&buyer).await;
    let mut wb = cluster.nodes[1].ws(&buyer).await;
    let mut wsettings = cluster.nodes[0].ws(&settings_device).await;
    queue(&mut wb, room, "金镶玉").await;
    let call = connect(&mut wh, &mut wb, room).await;

    // The buyer withdraws the camera on another device, on the host's node.
    wsettings
        .request_ok("consent.withdraw", json!({ "permission": "camera" }))
        .await;
    for device in [&mut wh, &mut wb] {
        let over = ended(device, call).await;
        assert_eq!(over["end_reason"], json!("consent_withdrawn"), "{over}");
        assert_eq!(over["ended_by"], json!(buyer.id));
    }
    let after = wh
        .request_err("rtc.offer", json!({ "call_id": call, "sdp": OFFER }))
        .await;
    assert_eq!(code(&after), "call_ended");
    let again = wb
        .request_err(
            "room.queue.join",
            json!({ "room_id": room, "description": "再来" }),
        )
        .await;
    assert_eq!(code(&again), "consent_required", "{again}");

    // The appraiser withdrawing the microphone ends theirs the same way.
    let other = cluster.nodes[1].new_user().await;
    cluster.nodes[1]
        .grant_consents(&other, &["camera", "microphone"])
        .await;
    let mut wo = cluster.nodes[1].ws(&other).await;
    queue(&mut wo, room, "田黄").await;
    let call = connect(&mut wh, &mut wo, room).await;
    wh.request_ok("consent.withdraw", json!({ "permission": "microphone" }))
        .await;
    assert_eq!(
        ended(&mut wo, call).await["end_reason"],
        json!("consent_withdrawn")
    );
    let refused = wh
        .request_err("room.call", json!({ "room_id": room }))
        .await;
    assert_eq!(code(&refused), "consent_required");
}

store_tests!(
    a_buyer_queues_is_called_answers_and_signals_reach_only_the_bound_device,
    the_queue_is_first_come_first_served_and_changes_need_reasons,
    every_end_of_a_turn_moves_the_queue_on,
    a_dropped_party_resumes_within_the_grace_period_or_the_call_ends,
    limits_on_signalling_and_call_time_hold,
    call_records_join_both_exports_and_outlive_the_buyers_account,
    two_nodes_calling_at_once_never_connect_two_buyers,
    a_call_resumes_on_another_node,
    consent_withdrawn_mid_call_ends_it_for_both_across_nodes,
);
