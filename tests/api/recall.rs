//! Message recall (撤回, #12): the sender takes a message back within
//! `DUOXIE_CHAT_RECALL_WINDOW_MS`; every device of both sides sees it become a `recalled`
//! notice at once, and its text and picture are deleted from storage.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, Store, TestApp, TestUser, WsClient};

fn photo() -> Vec<u8> {
    use image::ImageEncoder;
    let mut pixels = Vec::with_capacity(64 * 64 * 3);
    for y in 0..64u32 {
        for x in 0..64u32 {
            pixels.extend_from_slice(&[(x * 4) as u8, (y * 4) as u8, 90]);
        }
    }
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&pixels, 64, 64, image::ExtendedColorType::Rgb8)
        .expect("encode");
    out
}

async fn upload_photo(app: &TestApp, user: &TestUser) -> String {
    app.grant_consents(user, &["photo_album"]).await;
    let up = app
        .upload(
            &user.token,
            "purpose=chat_photo&source=album",
            "image/png",
            photo(),
        )
        .await
        .ok("a chat photo");
    up["id"].as_str().expect("media id").to_owned()
}

fn files_named(dir: &std::path::Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == name) {
                found.push(path);
            }
        }
    }
    found
}

async fn history(ws: &mut WsClient, conv: i64) -> Vec<Value> {
    let reply = ws
        .request_ok("chat.history", json!({ "conversation_id": conv }))
        .await;
    reply["messages"].as_array().expect("messages").clone()
}

async fn the_sender_recalls_a_message_for_every_screen(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let a_again = app.login_again(&a).await;
    let b = app.new_user().await;
    let mut wa = app.ws(&a).await;
    let mut wa2 = app.ws(&a_again).await;
    let mut wb = app.ws(&b).await;
    let conv = wa.open_chat(b.id).await;
    let sent = wa.say(conv, "价格说错了").await;
    let seq = sent["seq"].as_i64().expect("seq");
    wb.next_message(conv).await;

    // Only the sender may recall; a stranger learns nothing.
    let by_peer = wb
        .request_err(
            "chat.recall",
            json!({ "conversation_id": conv, "seq": seq }),
        )
        .await;
    assert_eq!(by_peer["code"], json!("forbidden"), "{by_peer}");
    let stranger = app.new_user().await;
    let mut ws_stranger = app.ws(&stranger).await;
    let by_stranger = ws_stranger
        .request_err(
            "chat.recall",
            json!({ "conversation_id": conv, "seq": seq }),
        )
        .await;
    assert!(
        ["forbidden", "not_found"].contains(&by_stranger["code"].as_str().unwrap_or("")),
        "{by_stranger}"
    );
    let unknown = wa
        .request_err("chat.recall", json!({ "conversation_id": conv, "seq": 99 }))
        .await;
    assert_eq!(unknown["code"], json!("not_found"), "{unknown}");

    let recalled = wa
        .request_ok(
            "chat.recall",
            json!({ "conversation_id": conv, "seq": seq }),
        )
        .await;
    assert_eq!(recalled, json!({ "conversation_id": conv, "seq": seq }));
    for (who, ws) in [
        ("the peer", &mut wb),
        ("the sender's other device", &mut wa2),
    ] {
        let event = ws.next_event("chat.recalled").await;
        assert_eq!(
            event["data"],
            json!({ "conversation_id": conv, "seq": seq }),
            "{who}: {event}"
        );
    }
    for ws in [&mut wa, &mut wb] {
        let messages = history(ws, conv).await;
        assert_eq!(
            (&messages[0]["kind"], &messages[0]["text"]),
            (&json!("recalled"), &json!("")),
            "{messages:?}"
        );
    }
    let stored: String =
        sqlx::query_scalar("SELECT body FROM messages WHERE conversation_id = $1 AND seq = $2")
            .bind(conv)
            .bind(seq)
            .fetch_one(&app.db)
            .await
            .expect("the row");
    assert_eq!(stored, "", "the text is gone from storage");

    let again = wa
        .request_err(
            "chat.recall",
            json!({ "conversation_id": conv, "seq": seq }),
        )
        .await;
    assert_eq!(again["code"], json!("conflict"), "{again}");
}

async fn a_recall_past_its_window_is_refused(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wa = app.ws(&a).await;
    let conv = wa.open_chat(b.id).await;
    let sent = wa.say(conv, "old news").await;
    let seq = sent["seq"].as_i64().expect("seq");
    // Sent three minutes ago, as far as the server can tell.
    sqlx::query(
        "UPDATE messages SET created_at = created_at - 180000 \
         WHERE conversation_id = $1 AND seq = $2",
    )
    .bind(conv)
    .bind(seq)
    .execute(&app.db)
    .await
    .expect("age the message");
    let late = wa
        .request_err(
            "chat.recall",
            json!({ "conversation_id": conv, "seq": seq }),
        )
        .await;
    assert_eq!(late["code"], json!("recall_expired"), "{late}");
    assert_eq!(history(&mut wa, conv).await[0]["text"], json!("old news"));
}

async fn a_recalled_photo_is_deleted_from_storage(store: Store) {
    let mut app = spawn_app(store).await;
    let a = app.new_user().await;
    let b = app.new_user().await;
    let mut wa = app.ws(&a).await;
    let mut wb = app.ws(&b).await;
    let conv = wa.open_chat(b.id).await;
    let media_id = upload_photo(&app, &a).await;
    let sent = wa
        .request_ok(
            "chat.send",
            json!({ "conversation_id": conv, "client_id": "p1", "media_id": media_id }),
        )
        .await;
    let seq = sent["message"]["seq"].as_i64().expect("seq");
    wb.next_message(conv).await;
    let shown = app
        .get(&format!("/api/media/{media_id}/content"), Some(&b.token))
        .await;
    assert_eq!(shown.status, 200, "the peer sees the photo");
    let blob: String = sqlx::query_scalar("SELECT blob FROM media WHERE id = $1")
        .bind(&media_id)
        .fetch_one(&app.db)
        .await
        .expect("the media row");
    let file = files_named(app.data_dir(), &blob);
    assert_eq!(file.len(), 1, "the picture's file is stored once: {file:?}");

    wa.request_ok(
        "chat.recall",
        json!({ "conversation_id": conv, "seq": seq }),
    )
    .await;
    wb.next_event("chat.recalled").await;
    for user in [&a, &b] {
        app.get(&format!("/api/media/{media_id}"), Some(&user.token))
            .await
            .assert_error(404, "not_found", "the recalled picture is gone");
    }
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM media WHERE id = $1")
        .bind(&media_id)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(rows, 0, "the media row is deleted");
    assert!(
        files_named(app.data_dir(), &blob).is_empty(),
        "the picture's file is deleted"
    );
    let message = &history(&mut wb, conv).await[0];
    assert_eq!(
        (&message["kind"], &message["text"]),
        (&json!("recalled"), &json!("")),
        "{message}"
    );
}

store_tests!(
    the_sender_recalls_a_message_for_every_screen,
    a_recall_past_its_window_is_refused,
    a_recalled_photo_is_deleted_from_storage,
);
