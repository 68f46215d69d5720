//! One-to-one chat over the socket: delivery to every device, ordering and gap-free `seq`,
//! idempotent sends, recovery through `chat.sync`, reads, typing, presence, blocking, and
//! who may touch which conversation.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, Failures, Store, WsClient};

fn seq_of(frame: &Value) -> i64 {
    frame["seq"]
        .as_i64()
        .unwrap_or_else(|| panic!("no seq in {frame}"))
}

fn seqs(messages: &Value) -> Vec<i64> {
    messages
        .as_array()
        .unwrap_or_else(|| panic!("not a list of messages: {messages}"))
        .iter()
        .map(seq_of)
        .collect()
}

/// The conversation with this id in a `chat.list` answer.
fn conversation_in(list: &Value, id: i64) -> Value {
    list["conversations"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("conversation {id} not in {list}"))
}

/// The next event of one conversation that is a message, a read or a typing notice.
async fn next_conversation_event(ws: &mut WsClient, conversation_id: i64) -> Value {
    let what = format!("a message, read or typing event in conversation {conversation_id}");
    ws.next_event_where(&what, |e| {
        ["chat.message", "chat.read", "chat.typing"].contains(&e["type"].as_str().unwrap_or(""))
            && e["data"]["conversation_id"] == conversation_id
    })
    .await
}

async fn every_device_of_both_users_sees_every_message_in_order(store: Store) {
    let mut app = spawn_app(store).await;
    let a1 = app.new_user().await;
    let a2 = app.login_again(&a1).await;
    let b1 = app.new_user().await;
    let b2 = app.login_again(&b1).await;
    let mut sockets = vec![
        app.ws(&a1).await,
        app.ws(&a2).await,
        app.ws(&b1).await,
        app.ws(&b2).await,
    ];
    for ws in &mut sockets {
        ws.request_ok("chat.list", json!({})).await;
    }
    let conv = sockets[0].open_chat(b1.id).await;

    // Both directions, from every device: a1, b1, a2, b2, b1, a1, b2, a2.
    let senders = [0, 2, 1, 3, 2, 0, 3, 1];
    let mut texts = Vec::new();
    for (i, &s) in senders.iter().enumerate() {
        let text = format!("message {} from socket {s}", i + 1);
        let message = sockets[s].say(conv, &text).await;
        assert_eq!(message["seq"], json!(i + 1), "{message}");
        let sender = if s < 2 { a1.id } else { b1.id };
        assert_eq!(message["sender_id"], json!(sender), "{message}");
        texts.push(text);
    }

    for (n, ws) in sockets.iter_mut().enumerate() {
        for (i, text) in texts.iter().enumerate() {
            let event = ws.next_message(conv).await;
            assert_eq!(event["seq"], json!(i + 1), "socket {n}, in order: {event}");
            assert_eq!(event["data"]["seq"], json!(i + 1), "socket {n}: {event}");
            assert_eq!(event["data"]["text"], json!(text), "socket {n}: {event}");
        }
    }
}

async fn a_sent_message_is_acknowledged_with_its_seq_and_kept_in_history(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wa = app.ws(&a).await;
    let mut wb = app.ws(&b).await;
    let conv = wa.open_chat(b.id).await;

    let sent = wa
        .request_ok(
            "chat.send",
            json!({ "conversation_id": conv, "client_id": "m-1", "text": "hello" }),
        )
        .await;
    assert_eq!(sent["duplicate"], json!(false), "{sent}");
    let message = &sent["message"];
    assert_eq!(message["conversation_id"], json!(conv));
    assert_eq!(message["seq"], json!(1));
    assert_eq!(message["sender_id"], json!(a.id));
    assert_eq!(message["client_id"], json!("m-1"));
    assert_eq!(message["kind"], json!("text"));
    assert_eq!(message["text"], json!("hello"));
    assert!(message["created_at"].is_i64(), "{message}");

    for (who, ws) in [("sender", &mut wa), ("peer", &mut wb)] {
        let history = ws
            .request_ok("chat.history", json!({ "conversation_id": conv }))
            .await;
        assert_eq!(history["messages"], json!([message]), "{who}: {history}");
        assert_eq!(history["more"], json!(false), "{who}: {history}");
    }
}

async fn opening_the_same_pair_and_listing_gives_the_same_conversation(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let c = app.new_user().await;
    let mut wa = app.ws(&a).await;
    let mut wb = app.ws(&b).await;

    let first = wa.request_ok("chat.open", json!({ "peer_id": b.id })).await;
    assert_eq!(first["created"], json!(true), "{first}");
    let conversation = &first["conversation"];
    let conv = conversation["id"].as_i64().expect("conversation id");
    assert_eq!(conversation["peer"]["id"], json!(b.id), "{first}");
    assert_eq!(conversation["last_seq"], json!(0), "{first}");
    assert_eq!(conversation["last_message"], Value::Null, "{first}");
    assert_eq!(conversation["unread"], json!(0), "{first}");

    let again = wa.request_ok("chat.open", json!({ "peer_id": b.id })).await;
    assert_eq!(
        (
            again["created"].clone(),
            again["conversation"]["id"].clone()
        ),
        (json!(false), json!(conv))
    );
    let other_side = wb.request_ok("chat.open", json!({ "peer_id": a.id })).await;
    assert_eq!(other_side["created"], json!(false), "{other_side}");
    assert_eq!(
        other_side["conversation"]["id"],
        json!(conv),
        "the pair is unordered"
    );
    assert_eq!(
        other_side["conversation"]["peer"]["id"],
        json!(a.id),
        "{other_side}"
    );

    let listing = wa
        .request_ok(
            "chat.open",
            json!({ "peer_id": b.id, "listing_ref": "ring-881" }),
        )
        .await;
    assert_eq!(listing["created"], json!(true), "{listing}");
    assert_eq!(listing["conversation"]["listing_ref"], json!("ring-881"));
    let listing_conv = listing["conversation"]["id"].as_i64().expect("id");
    assert_ne!(listing_conv, conv, "a listing gets its own conversation");
    let listing_again = wb
        .request_ok(
            "chat.open",
            json!({ "peer_id": a.id, "listing_ref": "ring-881" }),
        )
        .await;
    assert_eq!(listing_again["conversation"]["id"], json!(listing_conv));
    assert_eq!(listing_again["created"], json!(false));

    // Most recent first.
    let with_c = wa.open_chat(c.id).await;
    wa.say(conv, "to b").await;
    wa.say(with_c, "to c").await;
    let position = |list: &Value, id: i64| {
        list["conversations"]
            .as_array()
            .and_then(|all| all.iter().position(|x| x["id"] == id))
            .unwrap_or_else(|| panic!("{id} not in {list}"))
    };
    let list = wa.request_ok("chat.list", json!({})).await;
    assert!(position(&list, with_c) < position(&list, conv), "{list}");
    wa.say(conv, "to b again").await;
    let list = wa.request_ok("chat.list", json!({})).await;
    assert!(position(&list, conv) < position(&list, with_c), "{list}");
}

async fn the_list_counts_unread_until_read_and_reads_reach_everyone(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let b1 = app.new_user().await;
    let b2 = app.login_again(&b1).await;
    let mut wa = app.ws(&a).await;
    let mut wb1 = app.ws(&b1).await;
    let mut wb2 = app.ws(&b2).await;
    wb2.request_ok("chat.list", json!({})).await;
    let conv = wa.open_chat(b1.id).await;
    for text in ["first", "second", "third"] {
        wa.say(conv, text).await;
    }

    let list = wb1.request_ok("chat.list", json!({})).await;
    let seen = conversation_in(&list, conv);
    assert_eq!(seen["last_seq"], json!(3), "{seen}");
    assert_eq!(seen["last_message"]["text"], json!("third"), "{seen}");
    assert_eq!(seen["unread"], json!(3), "{seen}");
    assert_eq!(seen["my_last_read_seq"], json!(0), "{seen}");
    assert_eq!(seen["peer"]["id"], json!(a.id), "{seen}");
    let own = conversation_in(&wa.request_ok("chat.list", json!({})).await, conv);
    assert_eq!(
        own["unread"],
        json!(0),
        "your own messages are not unread: {own}"
    );

    let read = wb1
        .request_ok("chat.read", json!({ "conversation_id": conv, "seq": 3 }))
        .await;
    assert_eq!(read, json!({ "last_read_seq": 3 }));
    let expected = json!({ "conversation_id": conv, "user_id": b1.id, "seq": 3 });
    for (who, ws) in [
        ("the peer", &mut wa),
        ("the reader's other device", &mut wb2),
    ] {
        let event = ws.next_event("chat.read").await;
        assert_eq!(event["data"], expected, "{who}: {event}");
    }

    let seen = conversation_in(&wb1.request_ok("chat.list", json!({})).await, conv);
    assert_eq!(
        (seen["unread"].clone(), seen["my_last_read_seq"].clone()),
        (json!(0), json!(3)),
        "{seen}"
    );
    let own = conversation_in(&wa.request_ok("chat.list", json!({})).await, conv);
    assert_eq!(own["peer_last_read_seq"], json!(3), "{own}");

    let backwards = wb1
        .request_ok("chat.read", json!({ "conversation_id": conv, "seq": 1 }))
        .await;
    assert_eq!(
        backwards,
        json!({ "last_read_seq": 3 }),
        "reads move forward only"
    );

    wa.say(conv, "fourth").await;
    wa.say(conv, "fifth").await;
    let seen = conversation_in(&wb2.request_ok("chat.list", json!({})).await, conv);
    assert_eq!(seen["unread"], json!(2), "{seen}");
}

async fn a_retried_client_id_returns_the_original_and_stores_one_copy(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wa = app.ws(&a).await;
    let mut wb = app.ws(&b).await;
    let conv = wa.open_chat(b.id).await;
    let send =
        |text: &str| json!({ "conversation_id": conv, "client_id": "retry-me", "text": text });

    let first = wa.request_ok("chat.send", send("once")).await;
    assert_eq!(first["duplicate"], json!(false), "{first}");
    for (case, text) in [
        ("the same retry", "once"),
        ("a retry with other text", "changed"),
    ] {
        let retry = wa.request_ok("chat.send", send(text)).await;
        assert_eq!(retry["duplicate"], json!(true), "{case}: {retry}");
        assert_eq!(
            retry["message"], first["message"],
            "{case}: the original comes back"
        );
    }

    let next = wa.say(conv, "twice").await;
    assert_eq!(next["seq"], json!(2), "no seq was spent on retries: {next}");
    let event_seqs = [
        seq_of(&wb.next_message(conv).await),
        seq_of(&wb.next_message(conv).await),
    ];
    assert_eq!(event_seqs, [1, 2], "the peer got no second copy");
    let history = wa
        .request_ok("chat.history", json!({ "conversation_id": conv }))
        .await;
    assert_eq!(seqs(&history["messages"]), vec![2, 1], "{history}");
}

async fn a_device_that_reconnects_gets_exactly_what_it_missed(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wa = app.ws(&a).await;
    let mut wb = app.ws(&b).await;
    let conv = wa.open_chat(b.id).await;
    wa.say(conv, "one").await;
    wa.say(conv, "two").await;
    assert_eq!(seq_of(&wb.next_message(conv).await), 1);
    assert_eq!(seq_of(&wb.next_message(conv).await), 2);
    wb.close().await;

    let missed: Vec<String> = (3..=7).map(|n| format!("missed {n}")).collect();
    for text in &missed {
        wa.say(conv, text).await;
    }

    let mut wb = app.ws(&b).await;
    let seen = conversation_in(&wb.request_ok("chat.list", json!({})).await, conv);
    assert_eq!(seen["last_seq"], json!(7), "{seen}");
    let cursors = json!({ conv.to_string(): 2 });
    let sync = wb
        .request_ok("chat.sync", json!({ "cursors": cursors }))
        .await;
    let results = sync["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{sync}");
    assert_eq!(results[0]["conversation_id"], json!(conv), "{sync}");
    assert_eq!(results[0]["more"], json!(false), "{sync}");
    let messages = &results[0]["messages"];
    assert_eq!(seqs(messages), vec![3, 4, 5, 6, 7], "oldest first: {sync}");
    let texts: Vec<&str> = messages
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(
        texts,
        missed.iter().map(String::as_str).collect::<Vec<_>>(),
        "{sync}"
    );
}

/// Pages through `chat.sync` from `cursor` with `limit`; the seqs of each page.
async fn sync_pages(ws: &mut WsClient, conv: i64, mut cursor: i64, limit: i64) -> Vec<Vec<i64>> {
    let mut pages = Vec::new();
    loop {
        let sync = ws
            .request_ok(
                "chat.sync",
                json!({ "cursors": { conv.to_string(): cursor }, "limit": limit }),
            )
            .await;
        let result = &sync["results"][0];
        let page = seqs(&result["messages"]);
        let more = result["more"] == json!(true);
        pages.push(page.clone());
        if !more {
            return pages;
        }
        cursor = *page
            .last()
            .unwrap_or_else(|| panic!("more is true but the page is empty: {sync}"));
        assert!(pages.len() < 10, "more never ends: {pages:?}");
    }
}

async fn sync_pages_by_limit_until_more_is_false(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wa = app.ws(&a).await;
    let conv = wa.open_chat(b.id).await;
    for n in 1..=7 {
        wa.say(conv, &format!("number {n}")).await;
    }
    // Connected after the sends: nothing reached this socket live.
    let mut wb = app.ws(&b).await;
    // `more` says ask again from the last one.
    let pages = sync_pages(&mut wb, conv, 2, 2).await;
    assert_eq!(pages, vec![vec![3, 4], vec![5, 6], vec![7]]);
}

async fn a_sync_answers_in_full_even_what_this_socket_already_got(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wa = app.ws(&a).await;
    let mut wb = app.ws(&b).await;
    let conv = wa.open_chat(b.id).await;
    for n in 1..=3 {
        wa.say(conv, &format!("number {n}")).await;
        assert_eq!(seq_of(&wb.next_message(conv).await), n);
    }
    // A client that lost what it held asks again from the start: the reply is what it asked
    // for, and a page is never empty while `more` is true.
    let pages = sync_pages(&mut wb, conv, 0, 2).await;
    assert_eq!(pages, vec![vec![1, 2], vec![3]], "paged");
    let pages = sync_pages(&mut wb, conv, 0, 100).await;
    assert_eq!(pages, vec![vec![1, 2, 3]], "asked a second time");
}

async fn a_sync_in_flight_never_repeats_live_messages_after_its_reply(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wa = app.ws(&a).await;
    let mut wb = app.ws(&b).await;
    let conv = wa.open_chat(b.id).await;
    for n in 1..=3 {
        wa.say(conv, &format!("before {n}")).await;
        assert_eq!(seq_of(&wb.next_message(conv).await), n);
    }

    // b syncs from what it holds while a sends ten more.
    let sync_id = wb
        .send_command("chat.sync", json!({ "cursors": { conv.to_string(): 3 } }))
        .await;
    let mut sends = Vec::new();
    for n in 0..10 {
        let client_id = wa.client_id();
        let data = json!({ "conversation_id": conv, "client_id": client_id, "text": format!("during {n}") });
        sends.push(wa.send_command("chat.send", data).await);
    }
    for id in &sends {
        let reply = wa.reply(id).await;
        assert_eq!(reply["ok"], json!(true), "{reply}");
    }

    let (before, reply) = wb.reply_with_preceding_events(&sync_id).await;
    assert_eq!(reply["ok"], json!(true), "{reply}");
    // A conversation with nothing new may be left out of the results.
    let synced = reply["data"]["results"]
        .as_array()
        .and_then(|results| results.first())
        .map(|result| seqs(&result["messages"]))
        .unwrap_or_default();
    let live_before: Vec<i64> = before
        .iter()
        .filter(|e| e["type"] == "chat.message" && e["data"]["conversation_id"] == conv)
        .map(seq_of)
        .collect();
    let marker = wa.say(conv, "marker").await;
    assert_eq!(marker["seq"], json!(14), "{marker}");
    let mut live_after = Vec::new();
    loop {
        let seq = seq_of(&wb.next_message(conv).await);
        if seq == 14 {
            break;
        }
        live_after.push(seq);
    }

    if let Some(first) = synced.first() {
        assert_eq!(*first, 4, "sync starts after the cursor: {synced:?}");
    }
    assert!(
        synced.windows(2).all(|w| w[1] == w[0] + 1),
        "sync is gap-free: {synced:?}"
    );
    let repeated: Vec<i64> = live_after
        .iter()
        .copied()
        .filter(|s| synced.contains(s))
        .collect();
    assert!(
        repeated.is_empty(),
        "live messages sent after the sync reply repeat {repeated:?} (sync {synced:?}, live before {live_before:?}, after {live_after:?})"
    );
    let mut live = live_before.clone();
    live.extend(&live_after);
    let unique_live: BTreeSet<i64> = live.iter().copied().collect();
    assert_eq!(
        unique_live.len(),
        live.len(),
        "a live message twice: {live:?}"
    );
    let all: BTreeSet<i64> = live.iter().chain(&synced).copied().collect();
    assert_eq!(
        all,
        (4..=13).collect(),
        "every message reached b once way or another"
    );
}

async fn history_pages_backwards_with_before_seq(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wa = app.ws(&a).await;
    let conv = wa.open_chat(b.id).await;
    for n in 1..=7 {
        wa.say(conv, &format!("number {n}")).await;
    }

    let pages = [
        (None, vec![7, 6, 5], true),
        (Some(5), vec![4, 3, 2], true),
        (Some(2), vec![1], false),
    ];
    for (before_seq, expected, more) in pages {
        let mut data = json!({ "conversation_id": conv, "limit": 3 });
        if let Some(before) = before_seq {
            data["before_seq"] = json!(before);
        }
        let page = wa.request_ok("chat.history", data).await;
        assert_eq!(
            seqs(&page["messages"]),
            expected,
            "before {before_seq:?}: {page}"
        );
        assert_eq!(page["more"], json!(more), "before {before_seq:?}: {page}");
    }
}

async fn twenty_concurrent_senders_get_gap_free_unique_seqs(store: Store) {
    const PER_SOCKET: usize = 5;
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut sockets = Vec::new();
    for user in [&a, &b] {
        for _ in 0..10 {
            let device = app.login_again(user).await;
            sockets.push(app.ws(&device).await);
        }
    }
    let observer_device = app.login_again(&b).await;
    let mut observer = app.ws(&observer_device).await;
    observer.request_ok("chat.list", json!({})).await;
    let conv = sockets[0].open_chat(b.id).await;

    // Everything in flight at once, then the replies.
    let mut in_flight = Vec::new();
    for (n, ws) in sockets.iter_mut().enumerate() {
        for k in 0..PER_SOCKET {
            let client_id = format!("s{n}-k{k}");
            let data = json!({ "conversation_id": conv, "client_id": client_id, "text": format!("from {n}, number {k}") });
            in_flight.push((n, client_id, ws.send_command("chat.send", data).await));
        }
    }
    let total = sockets.len() * PER_SOCKET;
    let mut acked = Vec::new();
    let mut sent_ids = BTreeSet::new();
    for (n, client_id, id) in in_flight {
        let reply = sockets[n].reply(&id).await;
        assert_eq!(reply["ok"], json!(true), "{client_id}: {reply}");
        assert_eq!(reply["data"]["duplicate"], json!(false), "{reply}");
        assert_eq!(
            reply["data"]["message"]["client_id"],
            json!(client_id),
            "{reply}"
        );
        acked.push(seq_of(&reply["data"]["message"]));
        sent_ids.insert(client_id);
    }
    acked.sort_unstable();
    assert_eq!(
        acked,
        (1..=total as i64).collect::<Vec<_>>(),
        "1..N, no gaps, no duplicates"
    );

    let mut live = Vec::new();
    for _ in 0..total {
        live.push(seq_of(&observer.next_message(conv).await));
    }
    assert_eq!(
        live,
        (1..=total as i64).collect::<Vec<_>>(),
        "the observer sees them in seq order"
    );

    let mut stored = Vec::new();
    let mut before_seq: Option<i64> = None;
    loop {
        let mut data = json!({ "conversation_id": conv, "limit": 50 });
        if let Some(before) = before_seq {
            data["before_seq"] = json!(before);
        }
        let page = observer.request_ok("chat.history", data).await;
        let messages = page["messages"].as_array().expect("messages").clone();
        before_seq = messages.last().map(seq_of);
        stored.extend(messages);
        if page["more"] != json!(true) {
            break;
        }
        assert!(stored.len() <= total, "history goes on past {total}");
    }
    let stored_seqs: Vec<i64> = stored.iter().rev().map(seq_of).collect();
    assert_eq!(stored_seqs, (1..=total as i64).collect::<Vec<_>>());
    let stored_ids: BTreeSet<String> = stored
        .iter()
        .filter_map(|m| m["client_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(stored_ids, sent_ids, "every send stored exactly once");
}

async fn typing_reaches_the_peer_and_is_throttled_per_socket(store: Store) {
    let mut app = spawn_app_with(store, |s| s.chat.typing_interval_ms = 60_000).await;
    let a = app.new_user().await;
    let a2 = app.login_again(&a).await;
    let b = app.new_user().await;
    let mut wa = app.ws(&a).await;
    let mut wa2 = app.ws(&a2).await;
    let mut wb = app.ws(&b).await;
    wb.request_ok("chat.list", json!({})).await;
    let conv = wa.open_chat(b.id).await;

    let first = wa
        .request_ok("chat.typing", json!({ "conversation_id": conv }))
        .await;
    assert_eq!(first, json!({ "delivered": true }));
    let event = wb.next_event("chat.typing").await;
    assert_eq!(
        event["data"],
        json!({ "conversation_id": conv, "user_id": a.id }),
        "{event}"
    );

    let second = wa
        .request_ok("chat.typing", json!({ "conversation_id": conv }))
        .await;
    assert_eq!(second, json!({ "delivered": false }), "within the interval");
    wa.say(conv, "marker").await;
    let next = next_conversation_event(&mut wb, conv).await;
    assert_eq!(
        (next["type"].clone(), next["data"]["text"].clone()),
        (json!("chat.message"), json!("marker")),
        "no second typing reached the peer: {next}"
    );

    let other_socket = wa2
        .request_ok("chat.typing", json!({ "conversation_id": conv }))
        .await;
    assert_eq!(
        other_socket,
        json!({ "delivered": true }),
        "the throttle is per socket"
    );
    let event = wb.next_event("chat.typing").await;
    assert_eq!(event["data"]["user_id"], json!(a.id), "{event}");
}

async fn presence_follows_the_first_and_last_socket_of_a_user(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wb = app.ws(&b).await;
    let conv = wb.open_chat(a.id).await;
    let query = json!({ "user_ids": [a.id] });
    let online = |answer: &Value| answer["presence"][0]["online"].clone();

    let answer = wb.request_ok("presence.query", query.clone()).await;
    assert_eq!(answer["presence"][0]["user_id"], json!(a.id), "{answer}");
    assert_eq!(online(&answer), json!(false), "{answer}");

    let mut first = app.ws(&a).await;
    let event = wb.next_event("presence").await;
    assert_eq!(
        (
            event["data"]["user_id"].clone(),
            event["data"]["online"].clone()
        ),
        (json!(a.id), json!(true)),
        "{event}"
    );
    assert_eq!(
        online(&wb.request_ok("presence.query", query.clone()).await),
        json!(true)
    );

    // A second socket opening and the first closing are not news.
    let mut second = app.ws(&a).await;
    second.request_ok("chat.list", json!({})).await;
    first.request_ok("chat.list", json!({})).await;
    first.close().await;
    second.say(conv, "still here").await;
    let next = wb
        .next_event_where("a presence or message event", |e| {
            e["type"] == "presence" || e["type"] == "chat.message"
        })
        .await;
    assert_eq!(
        next["type"],
        json!("chat.message"),
        "no presence while a socket is open: {next}"
    );

    second.close().await;
    let event = wb.next_event("presence").await;
    assert_eq!(event["data"]["user_id"], json!(a.id), "{event}");
    assert_eq!(
        event["data"]["online"],
        json!(false),
        "the last socket closed: {event}"
    );
    assert!(event["data"]["last_seen_at"].is_i64(), "{event}");
    assert_eq!(
        online(&wb.request_ok("presence.query", query).await),
        json!(false)
    );

    let _back = app.ws(&a).await;
    let event = wb.next_event("presence").await;
    assert_eq!(
        event["data"]["online"],
        json!(true),
        "exactly one offline came before: {event}"
    );
}

async fn a_reconnect_within_the_presence_grace_is_no_news(store: Store) {
    let mut app = spawn_app_with(store, |s| s.chat.presence_grace_ms = 60_000).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wb = app.ws(&b).await;
    let conv = wb.open_chat(a.id).await;
    let first = app.ws(&a).await;
    let event = wb.next_event("presence").await;
    assert_eq!(event["data"]["online"], json!(true), "{event}");

    // Gone and back (a reload, a network blip): partners hear nothing, and A still counts
    // as online while gone.
    first.close().await;
    let answer = wb
        .request_ok("presence.query", json!({ "user_ids": [a.id] }))
        .await;
    assert_eq!(answer["presence"][0]["online"], json!(true), "{answer}");
    let mut back = app.ws(&a).await;
    back.say(conv, "back").await;
    let next = wb
        .next_event_where("a presence or message event", |e| {
            e["type"] == "presence" || e["type"] == "chat.message"
        })
        .await;
    assert_eq!(
        next["type"],
        json!("chat.message"),
        "no presence news: {next}"
    );
}

async fn a_blocked_user_can_neither_send_nor_open_until_unblocked(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wa = app.ws(&a).await;
    let mut wb = app.ws(&b).await;
    let conv = wa.open_chat(b.id).await;
    wa.say(conv, "before").await;
    assert_eq!(seq_of(&wb.next_message(conv).await), 1);

    let blocked = wb
        .request_ok("user.block", json!({ "user_id": a.id }))
        .await;
    assert_eq!(blocked, json!({ "blocked": true }));
    let blocks = wb.request_ok("user.blocks", json!({})).await;
    assert_eq!(blocks, json!({ "user_ids": [a.id] }));

    let cases = [
        (
            "chat.send",
            json!({ "conversation_id": conv, "client_id": "while-blocked", "text": "hello?" }),
        ),
        ("chat.open", json!({ "peer_id": b.id })),
        (
            "chat.open",
            json!({ "peer_id": b.id, "listing_ref": "bangle-7" }),
        ),
    ];
    for (ty, data) in cases {
        let err = wa.request_err(ty, data.clone()).await;
        assert_eq!(err["code"], json!("blocked"), "{ty} {data}: {err}");
    }
    // Whatever typing answers, it must not reach b (checked by the marker below).
    wa.request("chat.typing", json!({ "conversation_id": conv }))
        .await;

    let unblocked = wb
        .request_ok("user.unblock", json!({ "user_id": a.id }))
        .await;
    assert_eq!(unblocked, json!({ "blocked": false }));
    assert_eq!(
        wb.request_ok("user.blocks", json!({})).await,
        json!({ "user_ids": [] })
    );

    let after = wa.say(conv, "after").await;
    assert_eq!(
        after["seq"],
        json!(2),
        "the refused send used no seq: {after}"
    );
    let next = next_conversation_event(&mut wb, conv).await;
    assert_eq!(
        (next["type"].clone(), next["data"]["text"].clone()),
        (json!("chat.message"), json!("after")),
        "nothing from the blocked time reached b: {next}"
    );
    assert_eq!(wa.open_chat(b.id).await, conv, "opening works again");
}

async fn a_stranger_cannot_touch_someone_elses_conversation(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let c = app.new_user().await;
    let mut wa = app.ws(&a).await;
    let mut wb = app.ws(&b).await;
    let mut wc = app.ws(&c).await;
    let conv = wa.open_chat(b.id).await;
    wa.say(conv, "private words").await;
    assert_eq!(seq_of(&wb.next_message(conv).await), 1);
    assert_eq!(seq_of(&wa.next_message(conv).await), 1);

    let cases = [
        (
            "chat.send",
            json!({ "conversation_id": conv, "client_id": "intruder-1", "text": "let me in" }),
        ),
        ("chat.history", json!({ "conversation_id": conv })),
        ("chat.sync", json!({ "cursors": { conv.to_string(): 0 } })),
        ("chat.read", json!({ "conversation_id": conv, "seq": 1 })),
        ("chat.typing", json!({ "conversation_id": conv })),
    ];
    let mut failures = Failures::default();
    for (ty, data) in cases {
        let reply = wc.request(ty, data).await;
        failures.check_ws_error(ty, &reply, "forbidden", None);
        let leaks = reply.get("data").is_some() || reply.to_string().contains("private words");
        failures.check(ty, false, leaks, &reply);
    }
    failures.assert_none("a stranger's commands");
    let err = wc
        .request_err("chat.history", json!({ "conversation_id": 987_654_321 }))
        .await;
    assert_eq!(
        err["code"],
        json!("not_found"),
        "a conversation that does not exist: {err}"
    );

    wa.say(conv, "marker").await;
    for (who, ws) in [("a", &mut wa), ("b", &mut wb)] {
        let next = next_conversation_event(ws, conv).await;
        assert_eq!(
            (next["type"].clone(), next["seq"].clone()),
            (json!("chat.message"), json!(2)),
            "{who} got nothing from the stranger: {next}"
        );
    }
    let history = wa
        .request_ok("chat.history", json!({ "conversation_id": conv }))
        .await;
    assert_eq!(seqs(&history["messages"]), vec![2, 1], "{history}");
    assert!(!history.to_string().contains("let me in"), "{history}");
    let own = conversation_in(&wa.request_ok("chat.list", json!({})).await, conv);
    assert_eq!(
        own["peer_last_read_seq"],
        json!(0),
        "the stranger's read counted: {own}"
    );
    let strangers_list = wc.request_ok("chat.list", json!({})).await;
    assert_eq!(
        strangers_list["conversations"],
        json!([]),
        "{strangers_list}"
    );
}

async fn opening_a_conversation_with_yourself_or_nobody_is_refused(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wa = app.ws(&a).await;
    let cases = [
        (
            "yourself",
            json!({ "peer_id": a.id }),
            "invalid_field",
            Some("peer_id"),
        ),
        (
            "a user that does not exist",
            json!({ "peer_id": 987_654_321 }),
            "not_found",
            None,
        ),
        ("no peer_id", json!({}), "invalid_field", Some("peer_id")),
        (
            "a peer_id that is not a number",
            json!({ "peer_id": "two" }),
            "invalid_field",
            Some("peer_id"),
        ),
        (
            "a listing_ref of 129 characters",
            json!({ "peer_id": b.id, "listing_ref": "r".repeat(129) }),
            "invalid_field",
            Some("listing_ref"),
        ),
    ];
    let mut failures = Failures::default();
    for (case, data, code, field) in cases {
        let reply = wa.request("chat.open", data).await;
        failures.check_ws_error(case, &reply, code, field);
    }
    failures.assert_none("refused chat.open");
    let list = wa.request_ok("chat.list", json!({})).await;
    assert_eq!(
        list["conversations"],
        json!([]),
        "nothing was created: {list}"
    );
}

async fn empty_or_overlong_texts_and_bad_client_ids_are_refused(store: Store) {
    let mut app = spawn_app_with(store, |s| s.chat.max_text_chars = 4000).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wa = app.ws(&a).await;
    let conv = wa.open_chat(b.id).await;
    let send = |client_id: &str, text: String| json!({ "conversation_id": conv, "client_id": client_id, "text": text });

    let cases = [
        (
            "an empty text",
            send("c1", String::new()),
            "invalid_field",
            Some("text"),
        ),
        (
            "only spaces",
            send("c2", "   \n ".to_owned()),
            "invalid_field",
            Some("text"),
        ),
        (
            "4001 characters",
            send("c3", "a".repeat(4001)),
            "text_too_long",
            None,
        ),
        (
            "4001 CJK characters",
            send("c4", "玉".repeat(4001)),
            "text_too_long",
            None,
        ),
        (
            "no text",
            json!({ "conversation_id": conv, "client_id": "c5" }),
            "invalid_field",
            Some("text"),
        ),
        (
            "no client_id",
            json!({ "conversation_id": conv, "text": "hi" }),
            "invalid_field",
            Some("client_id"),
        ),
        (
            "an empty client_id",
            send("", "hi".to_owned()),
            "invalid_field",
            Some("client_id"),
        ),
        (
            "a client_id of 65 characters",
            send(&"c".repeat(65), "hi".to_owned()),
            "invalid_field",
            Some("client_id"),
        ),
    ];
    let mut failures = Failures::default();
    for (case, data, code, field) in cases {
        let reply = wa.request("chat.send", data).await;
        failures.check_ws_error(case, &reply, code, field);
    }
    failures.assert_none("refused chat.send");

    let longest = wa.say(conv, &"玉".repeat(4000)).await;
    assert_eq!(
        longest["seq"],
        json!(1),
        "the refused ones used no seq: {longest}"
    );
    assert_eq!(
        longest["text"].as_str().map(|t| t.chars().count()),
        Some(4000)
    );
    let history = wa
        .request_ok("chat.history", json!({ "conversation_id": conv }))
        .await;
    assert_eq!(
        seqs(&history["messages"]),
        vec![1],
        "only the accepted message is stored"
    );
}

store_tests!(
    every_device_of_both_users_sees_every_message_in_order,
    a_sent_message_is_acknowledged_with_its_seq_and_kept_in_history,
    opening_the_same_pair_and_listing_gives_the_same_conversation,
    the_list_counts_unread_until_read_and_reads_reach_everyone,
    a_retried_client_id_returns_the_original_and_stores_one_copy,
    a_device_that_reconnects_gets_exactly_what_it_missed,
    sync_pages_by_limit_until_more_is_false,
    a_sync_answers_in_full_even_what_this_socket_already_got,
    a_sync_in_flight_never_repeats_live_messages_after_its_reply,
    history_pages_backwards_with_before_seq,
    twenty_concurrent_senders_get_gap_free_unique_seqs,
    typing_reaches_the_peer_and_is_throttled_per_socket,
    presence_follows_the_first_and_last_socket_of_a_user,
    a_reconnect_within_the_presence_grace_is_no_news,
    a_blocked_user_can_neither_send_nor_open_until_unblocked,
    a_stranger_cannot_touch_someone_elses_conversation,
    opening_a_conversation_with_yourself_or_nobody_is_refused,
    empty_or_overlong_texts_and_bad_client_ids_are_refused,
);
