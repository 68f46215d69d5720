//! The privacy policy's promises about data at rest and in logs: phone numbers are stored
//! only sealed and found by a keyed hash, a node refuses to start with another key, numbers
//! stored before sealing are sealed at start-up, and no phone number, code or token reaches
//! the server's log.

use std::sync::Arc;

use duoxie::startup::App;
use serde_json::{json, Value};
use sqlx::Row;
use tempfile::TempDir;

use crate::helpers::{
    now_ms, random_phone, spawn_app, spawn_app_with, spawn_logging_process, test_settings, Store,
    TestApp, POLL_INTERVAL, WAIT,
};

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
            &json!({ "phone": user.phone, "code": "000000", "accepted_policy_version": "1" }),
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
    // A client that puts its token in the query string: the access log must not keep it.
    app.get(&format!("/ws?token={}", user.token), None).await;
    // Malformed HTTP is the client's fault: no ERROR line for each (log flooding).
    for _ in 0..3 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
            .await
            .expect("connect");
        raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
            .await
            .expect("send garbage");
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(WAIT, raw.read_to_end(&mut answer)).await;
    }
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
    assert!(
        !text.contains("ERROR"),
        "malformed requests or the calls above wrote ERROR lines:\n{text}"
    );
}

/// Every (table, column) with a foreign key to `users`, read from the live schema.
async fn user_columns_in_schema(app: &TestApp, sqlite: bool) -> Vec<(String, String)> {
    let sql = if sqlite {
        "SELECT m.name, p.\"from\" FROM sqlite_master m, pragma_foreign_key_list(m.name) p \
         WHERE m.type = 'table' AND p.\"table\" = 'users'"
    } else {
        "SELECT kcu.table_name::text, kcu.column_name::text \
         FROM information_schema.table_constraints tc \
         JOIN information_schema.key_column_usage kcu \
           ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema \
         JOIN information_schema.constraint_column_usage ccu \
           ON ccu.constraint_name = tc.constraint_name AND ccu.table_schema = tc.table_schema \
         WHERE tc.constraint_type = 'FOREIGN KEY' AND ccu.table_name = 'users' \
           AND tc.table_schema = current_schema()"
    };
    let mut columns: Vec<(String, String)> = sqlx::query(sql)
        .fetch_all(&app.db)
        .await
        .expect("read the schema's foreign keys")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    columns.sort();
    columns
}

async fn every_personal_column_is_exported_and_erased(store: Store) {
    let sqlite = matches!(store, Store::Sqlite);
    let app = spawn_app(store).await;
    let in_schema = user_columns_in_schema(&app, sqlite).await;
    assert!(
        in_schema.len() >= 8,
        "the schema query found them: {in_schema:?}"
    );
    let mut declared: Vec<(String, String)> = app
        .data_sections
        .iter()
        .flat_map(|(_, columns)| columns.iter())
        .map(|(t, c)| (t.to_string(), c.to_string()))
        .collect();
    declared.sort();
    assert_eq!(
        declared, in_schema,
        "a table referencing users must belong to a rights::DataDomain (export + erase)"
    );
}

async fn the_export_holds_everything_held_about_the_user(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let second_device = app.login_again(&user).await;
    let seller = app.new_user().await;
    let pest = app.new_user().await;
    let staff = app.new_user().await;
    app.grant_role(staff.id, "moderator").await;
    let staff = app.login_again(&staff).await;

    let mut ws = app.ws(&user).await;
    ws.request_ok("consent.grant", json!({ "permission": "camera" }))
        .await;
    let conv = ws.open_chat(seller.id).await;
    ws.say(conv, "is the jade ring still for sale?").await;
    let mut seller_ws = app.ws(&seller).await;
    seller_ws.say(conv, "yes, it is").await;
    ws.request_ok("user.block", json!({ "user_id": pest.id }))
        .await;
    app.get(
        &format!("/api/users/{}?reason=report%2017", user.id),
        Some(&staff.token),
    )
    .await
    .ok("staff read with a reason");

    let export = app
        .get("/api/me/export", Some(&second_device.token))
        .await
        .ok("export");
    let sections = &export["sections"];
    let names: Vec<&str> = app.data_sections.iter().map(|(name, _)| *name).collect();
    for name in &names {
        assert!(
            !sections[name].is_null(),
            "section {name} missing: {export}"
        );
    }
    assert_eq!(export["user_id"], json!(user.id));
    let account = &sections["account"];
    assert_eq!(
        account["phone"],
        json!(user.phone),
        "the owner's own copy: {account}"
    );
    assert_eq!(
        account["sessions"].as_array().map(Vec::len),
        Some(2),
        "{account}"
    );
    let history = &sections["consents"]["history"];
    let permissions: Vec<&Value> = history
        .as_array()
        .expect("history")
        .iter()
        .map(|r| &r["permission"])
        .collect();
    assert_eq!(
        permissions,
        vec![
            &json!("privacy_policy"),
            &json!("user_agreement"),
            &json!("camera")
        ],
        "registration's acceptances, then the grant: {history}"
    );
    assert!(history[2]["receipt"]["jws"].is_string(), "{history}");
    let chat = &sections["chat"];
    assert_eq!(
        chat["conversations"][0]["peer_id"],
        json!(seller.id),
        "{chat}"
    );
    let texts: Vec<&str> = chat["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["body"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        texts.iter().any(|t| t.contains("jade ring"))
            && texts.iter().any(|t| t.contains("yes, it is")),
        "both sides of the conversation: {chat}"
    );
    assert_eq!(chat["blocks"][0]["blocked_id"], json!(pest.id), "{chat}");
    let access = &sections["staff_access"];
    assert_eq!(
        (&access[0]["staff_id"], &access[0]["why"]),
        (&json!(staff.id), &json!("report 17")),
        "who read the user's data, and why: {access}"
    );
    // Nobody else's export: the seller's holds the conversation but not the user's account.
    let theirs = app
        .get("/api/me/export", Some(&seller.token))
        .await
        .ok("seller export");
    assert_eq!(theirs["sections"]["account"]["id"], json!(seller.id));
    assert!(theirs["sections"]["staff_access"]
        .as_array()
        .is_some_and(Vec::is_empty));
    app.get("/api/me/export", None).await.assert_error(
        401,
        "unauthorized",
        "an export without a token",
    );
}

async fn a_login_during_the_cooling_off_period_cancels_the_deletion(store: Store) {
    let mut app = spawn_app_with(store, |s| s.privacy.deletion_cooling_off_ms = 3_600_000).await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user).await;
    let scheduled = app
        .post("/api/me/deletion", Some(&user.token), &json!({}))
        .await
        .ok("request deletion");
    let due = scheduled["deletion"]["due_at"].as_i64().expect("due_at");
    assert!(due >= now_ms() + 3_500_000, "{scheduled}");
    assert_eq!(ws.expect_close().await, Some(4003), "logged out everywhere");
    app.get("/api/me", Some(&user.token)).await.assert_error(
        401,
        "unauthorized",
        "the token after the request",
    );

    let code = app.request_code(&user.phone).await;
    let login = app
        .post(
            "/api/auth/login",
            None,
            &json!({ "phone": user.phone, "code": code, "accepted_policy_version": "1" }),
        )
        .await
        .ok("log in again");
    assert_eq!(login["user"]["id"], json!(user.id));
    assert_eq!(login["deletion_cancelled"], json!(true), "{login}");
    let due: Option<i64> = sqlx::query("SELECT deletion_due_at FROM users WHERE id = $1")
        .bind(user.id)
        .fetch_one(&app.db)
        .await
        .expect("row")
        .get(0);
    assert_eq!(due, None, "no deletion pending");
    // A later login says nothing about deletions.
    let again = app.login_again(&user).await;
    let me = app.get("/api/me", Some(&again.token)).await.ok("me");
    assert_eq!(me["id"], json!(user.id));
}

async fn await_deleted(app: &TestApp, user_id: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if duoxie::privacy::deleted_at(&app.db, user_id)
            .await
            .expect("read deleted_at")
            .is_some()
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "user {user_id} not deleted within {WAIT:?}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

async fn after_the_cooling_off_period_the_account_is_erased_but_delivered_messages_stay(
    store: Store,
) {
    let mut app = spawn_app_with(store, |s| {
        s.privacy.deletion_cooling_off_ms = 0;
        s.privacy.retention_interval_ms = 20;
    })
    .await;
    let user = app.new_user().await;
    let seller = app.new_user().await;
    let pest = app.new_user().await;
    let mut ws = app.ws(&user).await;
    ws.request_ok("consent.grant", json!({ "permission": "camera" }))
        .await;
    ws.request_ok("user.block", json!({ "user_id": pest.id }))
        .await;
    let conv = ws.open_chat(seller.id).await;
    ws.say(conv, "please hold the bracelet for me").await;
    app.patch(
        "/api/me",
        Some(&user.token),
        &json!({ "nickname": "Jade Fan", "intro": "collector in Suzhou" }),
    )
    .await
    .ok("profile");

    app.post("/api/me/deletion", Some(&user.token), &json!({}))
        .await
        .ok("request deletion");
    await_deleted(&app, user.id).await;

    // The other party keeps the conversation, attributed to a deleted user.
    let mut seller_ws = app.ws(&seller).await;
    let history = seller_ws
        .request_ok("chat.history", json!({ "conversation_id": conv }))
        .await;
    let text = history.to_string();
    assert!(text.contains("hold the bracelet"), "{history}");
    let shell = app
        .get(&format!("/api/users/{}", user.id), Some(&seller.token))
        .await
        .ok("the deleted user's profile");
    assert_eq!(
        (&shell["nickname"], &shell["intro"], &shell["deleted"]),
        (&json!("已注销用户"), &json!(""), &json!(true)),
        "{shell}"
    );

    let mut failures = crate::helpers::Failures::default();
    let left = |sql: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query(sql)
                .bind(user.id)
                .fetch_one(&db)
                .await
                .expect(sql)
                .get::<i64, _>(0)
        }
    };
    for (what, sql) in [
        (
            "consents",
            "SELECT COUNT(*) FROM consent_events WHERE user_id = $1",
        ),
        (
            "blocks",
            "SELECT COUNT(*) FROM blocks WHERE blocker_id = $1",
        ),
        (
            "tokens",
            "SELECT COUNT(*) FROM auth_tokens WHERE user_id = $1",
        ),
        (
            "roles",
            "SELECT COUNT(*) FROM user_roles WHERE user_id = $1",
        ),
        (
            "phone",
            "SELECT COUNT(*) FROM users WHERE id = $1 AND (phone_sealed IS NOT NULL \
             OR phone_lookup NOT LIKE 'deleted:%')",
        ),
        (
            "messages kept",
            "SELECT 1 - COUNT(*) FROM messages WHERE sender_id = $1",
        ),
    ] {
        failures.check(what, 0, left(sql).await, "rows left");
    }
    failures.assert_none("after the deletion");

    // The number is free again: logging in with it makes a new, empty account.
    let fresh = app.login_with_code(&user.phone).await;
    assert_ne!(fresh.id, user.id, "a new account");
    let export = app
        .get("/api/me/export", Some(&fresh.token))
        .await
        .ok("export");
    assert!(
        export["sections"]["chat"]["conversations"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "{export}"
    );
}

async fn the_retention_job_purges_what_is_past_its_time_and_only_that(store: Store) {
    let app = spawn_app_with(store, |s| {
        s.privacy.log_retention_ms = 1_000_000;
        s.privacy.retention_interval_ms = 20;
    })
    .await;
    let mut app = app;
    let user = app.new_user().await;
    let staff = app.new_user().await;
    let now = now_ms();
    let old = now - 2_000_000;
    for (sql, at) in [
        (
            "INSERT INTO one_time_codes (purpose, subject, code_hash, payload, sent_at, \
             expires_at, attempts_left) VALUES ('login', 'h1:expired', 'x', '{}', $1, $1, 5)",
            old,
        ),
        (
            "INSERT INTO one_time_codes (purpose, subject, code_hash, payload, sent_at, \
             expires_at, attempts_left) VALUES ('login', 'h1:fresh', 'x', '{}', $1, $1 + 3600000, 5)",
            now,
        ),
    ] {
        sqlx::query(sql).bind(at).execute(&app.db).await.expect(sql);
    }
    for (hash, revoked) in [("old-revoked", Some(old)), ("recently-revoked", Some(now))] {
        sqlx::query(
            "INSERT INTO auth_tokens (user_id, token_hash, device, created_at, last_used_at, \
             expires_at, revoked_at) VALUES ($1, $2, 'd', $3, $3, $4, $5)",
        )
        .bind(user.id)
        .bind(hash)
        .bind(old)
        .bind(now + 3_600_000)
        .bind(revoked)
        .execute(&app.db)
        .await
        .expect("a token row");
    }
    for (why, at) in [("old", old), ("recent", now)] {
        sqlx::query(
            "INSERT INTO staff_access_log (staff_id, subject_id, what, why, created_at) \
             VALUES ($1, $2, 'profile', $3, $4)",
        )
        .bind(staff.id)
        .bind(user.id)
        .bind(why)
        .bind(at)
        .execute(&app.db)
        .await
        .expect("an audit row");
    }
    let count = |sql: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query(sql)
                .fetch_one(&db)
                .await
                .expect(sql)
                .get::<i64, _>(0)
        }
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    let gone = "SELECT (SELECT COUNT(*) FROM one_time_codes WHERE subject = 'h1:expired') \
         + (SELECT COUNT(*) FROM auth_tokens WHERE token_hash = 'old-revoked') \
         + (SELECT COUNT(*) FROM staff_access_log WHERE why = 'old')";
    while count(gone).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not purged within {WAIT:?}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    let kept = "SELECT (SELECT COUNT(*) FROM one_time_codes WHERE subject = 'h1:fresh') \
         + (SELECT COUNT(*) FROM auth_tokens WHERE token_hash = 'recently-revoked') \
         + (SELECT COUNT(*) FROM staff_access_log WHERE why = 'recent')";
    assert_eq!(count(kept).await, 3, "what is within its period stays");
    // The user's live session is untouched.
    app.get("/api/me", Some(&user.token))
        .await
        .ok("still logged in");
}

async fn a_due_deletion_is_claimed_once_however_many_nodes_try(store: Store) {
    let mut app = spawn_app_with(store, |s| s.privacy.deletion_cooling_off_ms = 3_600_000).await;
    let user = app.new_user().await;
    app.post("/api/me/deletion", Some(&user.token), &json!({}))
        .await
        .ok("request deletion");
    sqlx::query("UPDATE users SET deletion_due_at = 1 WHERE id = $1")
        .bind(user.id)
        .execute(&app.db)
        .await
        .expect("make it due");
    let mut first = app.db.acquire().await.expect("conn");
    let mut second = app.db.acquire().await.expect("conn");
    let now = now_ms();
    let a = duoxie::privacy::claim_deletion(&mut first, user.id, now)
        .await
        .expect("claim");
    let b = duoxie::privacy::claim_deletion(&mut second, user.id, now)
        .await
        .expect("claim");
    assert_eq!((a, b), (true, false), "exactly one claim wins");
}

async fn the_phone_number_is_rebound_only_with_codes_to_the_old_and_the_new_number(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let other = app.new_user().await;
    let new_phone = random_phone();
    let start = |phone: &str| json!({ "new_phone": phone });

    let mut failures = crate::helpers::Failures::default();
    for (case, body, want) in [
        ("the same number", start(&user.phone), "invalid_field"),
        ("not a number", start("12345"), "invalid_field"),
        (
            "unknown field",
            json!({ "phone": new_phone }),
            "invalid_field",
        ),
    ] {
        let got = app
            .post("/api/me/phone/codes", Some(&user.token), &body)
            .await;
        failures.check(case, want, got.code(), &got);
    }
    let anonymous = app
        .post("/api/me/phone/codes", None, &start(&new_phone))
        .await;
    failures.check("no token", "unauthorized", anonymous.code(), &anonymous);
    let nothing_pending = app
        .post(
            "/api/me/phone",
            Some(&user.token),
            &json!({ "old_code": "123456", "new_code": "123456" }),
        )
        .await;
    failures.check(
        "nothing pending",
        "invalid_code",
        nothing_pending.code(),
        &nothing_pending,
    );
    // Another account's number is answered as a free one is: no way to probe who is registered.
    let taken = app
        .post(
            "/api/me/phone/codes",
            Some(&user.token),
            &start(&other.phone),
        )
        .await;
    let free = app
        .post(
            "/api/me/phone/codes",
            Some(&user.token),
            &start(&random_phone()),
        )
        .await;
    let keys = |r: &crate::helpers::Response| {
        r.body
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
    };
    failures.check(
        "another account's number looks like a free one",
        (free.status, keys(&free)),
        (taken.status, keys(&taken)),
        &taken,
    );
    failures.assert_none("refused phone changes");

    let sent = app
        .post("/api/me/phone/codes", Some(&user.token), &start(&new_phone))
        .await
        .ok("codes");
    let old_code = sent["dev_old_code"].as_str().expect("old").to_owned();
    let new_code = sent["dev_new_code"].as_str().expect("new").to_owned();
    // Each code proves one number: swapped or one wrong, nothing changes.
    for (old, new) in [(&new_code, &old_code), (&old_code, &old_code)] {
        if old == &old_code && new == &new_code {
            continue;
        }
        app.post(
            "/api/me/phone",
            Some(&user.token),
            &json!({ "old_code": old, "new_code": new }),
        )
        .await
        .assert_error(401, "invalid_code", "a wrong pair");
    }
    let me = app
        .post(
            "/api/me/phone",
            Some(&user.token),
            &json!({ "old_code": old_code, "new_code": new_code }),
        )
        .await
        .ok("rebind");
    let masked = format!("{}****{}", &new_phone[..3], &new_phone[7..]);
    assert_eq!(me["phone_masked"], json!(masked), "{me}");
    // The new number logs into this account; the old one is free (a new, empty account).
    let by_new = app.login_with_code(&new_phone).await;
    assert_eq!(by_new.id, user.id);
    let by_old = app.login_with_code(&user.phone).await;
    assert_ne!(by_old.id, user.id);
}

store_tests!(
    the_phone_number_is_rebound_only_with_codes_to_the_old_and_the_new_number,
    every_personal_column_is_exported_and_erased,
    the_export_holds_everything_held_about_the_user,
    a_login_during_the_cooling_off_period_cancels_the_deletion,
    after_the_cooling_off_period_the_account_is_erased_but_delivered_messages_stay,
    the_retention_job_purges_what_is_past_its_time_and_only_that,
    a_due_deletion_is_claimed_once_however_many_nodes_try,
    phone_numbers_are_stored_only_sealed,
    a_node_with_another_phone_key_refuses_to_start,
    numbers_stored_before_sealing_are_sealed_at_start_up,
    no_phone_number_code_or_token_reaches_the_log,
);
