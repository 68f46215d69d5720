//! The privacy policy's promises about data at rest and in logs: phone numbers are stored
//! only sealed and found by a keyed hash, a node refuses to start with another key, numbers
//! stored before sealing are sealed at start-up, and no phone number, code or token reaches
//! the server's log.

use std::sync::Arc;

use duoxie::startup::App;
use serde_json::json;
use sqlx::Row;
use tempfile::TempDir;

use crate::helpers::{random_phone, spawn_app, spawn_logging_process, test_settings, Store};

async fn phone_numbers_are_stored_only_sealed(store: Store) {
    let sqlite = matches!(store, Store::Sqlite);
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let row = sqlx::query("SELECT phone_lookup, phone_sealed FROM users WHERE id = $1")
        .bind(user.id)
        .fetch_one(&app.db)
        .await
        .expect("the user row");
    let lookup: String = row.get(0);
    let sealed: Option<String> = row.get(1);
    let sealed = sealed.expect("a sealed number");
    assert!(
        lookup.starts_with("h1:") && sealed.starts_with("x1:"),
        "{lookup} {sealed}"
    );
    // Neither the number nor a long part of it is anywhere in the row.
    for stored in [&lookup, &sealed] {
        assert!(!stored.contains(&user.phone[3..]), "{stored}");
    }
    // The owner still sees it masked; a second login finds the same account by the hash.
    let me = app.get("/api/me", Some(&user.token)).await.ok("me");
    let masked = format!("{}****{}", &user.phone[..3], &user.phone[7..]);
    assert_eq!(me["phone_masked"], json!(masked), "{me}");
    app.login_again(&user).await;

    if sqlite {
        // Every byte SQLite has written (database and write-ahead log, free pages included).
        sqlx::query("PRAGMA wal_checkpoint(FULL)")
            .execute(&app.db)
            .await
            .expect("checkpoint");
        let dir = app.data_dir();
        for name in ["duoxie.db", "duoxie.db-wal"] {
            let Ok(bytes) = std::fs::read(dir.join(name)) else {
                continue;
            };
            let needle = user.phone.as_bytes();
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{name} holds the phone number in plain text"
            );
        }
    }
}

async fn a_node_with_another_phone_key_refuses_to_start(store: Store) {
    let data_dir = Arc::new(TempDir::new().expect("tmp"));
    let database_url = store.database_url();
    let first = test_settings(database_url.clone(), &data_dir);
    let app = App::build(first).await.expect("the first node starts");
    drop(app);
    let mut other = test_settings(database_url, &data_dir);
    use base64::Engine;
    other.privacy.phone_key = Some(
        base64::engine::general_purpose::STANDARD
            .encode([9u8; 32])
            .parse()
            .expect("a secret"),
    );
    let refused = match App::build(other).await {
        Ok(_) => panic!("a node with another phone key must not start"),
        Err(e) => format!("{e:#}"),
    };
    assert!(refused.contains("DUOXIE_PRIVACY_PHONE_KEY"), "{refused}");
}

async fn numbers_stored_before_sealing_are_sealed_at_start_up(store: Store) {
    let data_dir = Arc::new(TempDir::new().expect("tmp"));
    let database_url = store.database_url();
    let app = App::build(test_settings(database_url.clone(), &data_dir))
        .await
        .expect("first start");
    let phone = random_phone();
    let legacy_id: i64 = sqlx::query(
        "INSERT INTO users (phone_lookup, nickname, created_at) VALUES ($1, 'old', 1) \
         RETURNING id",
    )
    .bind(&phone)
    .fetch_one(&app.db())
    .await
    .expect("a row as written before sealing")
    .get(0);
    drop(app);

    let settings = test_settings(database_url, &data_dir);
    let mut node = crate::helpers::start_app(settings, data_dir.clone()).await;
    let row = sqlx::query("SELECT phone_lookup, phone_sealed FROM users WHERE id = $1")
        .bind(legacy_id)
        .fetch_one(&node.db)
        .await
        .expect("the legacy row");
    let lookup: String = row.get(0);
    assert!(lookup.starts_with("h1:"), "sealed at start-up: {lookup}");
    assert!(row.get::<Option<String>, _>(1).is_some());
    let user = node.login_with_code(&phone).await;
    assert_eq!(user.id, legacy_id, "the same account, found by its hash");
}

async fn no_phone_number_code_or_token_reaches_the_log(store: Store) {
    let log_dir = TempDir::new().expect("tmp");
    let log = log_dir.path().join("server.log");
    let mut node = spawn_logging_process(store, &log).await;
    let app = &mut node.app;
    let user = app.new_user().await;
    let code = app.request_code(&user.phone).await;
    // Failures log too: a wrong code, a wrong password, a bad number, a revoked token.
    let wrong_code = app
        .post(
            "/api/auth/login",
            None,
            &json!({ "phone": user.phone, "code": "000000" }),
        )
        .await;
    assert_eq!(wrong_code.status, 401, "{wrong_code:?}");
    let no_password = app
        .post(
            "/api/auth/login",
            None,
            &json!({ "phone": user.phone, "password": "not-the-password" }),
        )
        .await;
    assert_eq!(no_password.status, 401, "{no_password:?}");
    let bad_phone = format!("{}x", user.phone);
    app.post("/api/auth/code", None, &json!({ "phone": bad_phone }))
        .await;
    let ws = app.ws(&user).await;
    ws.close().await;
    app.post("/api/auth/logout", Some(&user.token), &json!({}))
        .await
        .ok("log out");
    app.get("/api/me", Some(&user.token)).await;
    node.kill();

    let text = std::fs::read_to_string(&log).expect("read the log");
    assert!(text.contains("login"), "the log is being written: {text}");
    for (what, secret) in [
        ("phone number", user.phone.as_str()),
        ("phone number (last 8 digits)", &user.phone[3..]),
        ("login code", code.as_str()),
        ("token", user.token.as_str()),
    ] {
        assert!(!text.contains(secret), "the log holds a {what}:\n{text}");
    }
}

store_tests!(
    phone_numbers_are_stored_only_sealed,
    a_node_with_another_phone_key_refuses_to_start,
    numbers_stored_before_sealing_are_sealed_at_start_up,
    no_phone_number_code_or_token_reaches_the_log,
);
