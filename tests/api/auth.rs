//! Accounts over the wire: phone codes, passwords, profiles, sessions (devices), token
//! revocation reaching live sockets, and the health probes.

use awc::http::Method;
use serde_json::{json, Value};

use crate::helpers::{
    now_ms, random_phone, spawn_app, spawn_app_with, Failures, Response, Store, TestApp,
};

/// How the server shows a phone: `138****1234`.
fn masked(phone: &str) -> String {
    format!("{}****{}", &phone[..3], &phone[7..])
}

/// A six-digit code that is not `code`.
fn wrong_code(code: &str) -> &'static str {
    if code == "000000" {
        "000001"
    } else {
        "000000"
    }
}

/// A login as a client makes it: a code login accepts the documents of version 1 unless the
/// body says otherwise.
async fn login_with(app: &TestApp, mut body: Value) -> Response {
    if body.get("code").is_some() && body.get("accepted_policy_version").is_none() {
        body["accepted_policy_version"] = json!("1");
    }
    app.post("/api/auth/login", None, &body).await
}

async fn a_first_code_login_registers_the_account_and_later_ones_log_into_it(store: Store) {
    let mut app = spawn_app(store).await;
    let phone = random_phone();

    let sent = app
        .post("/api/auth/code", None, &json!({ "phone": phone }))
        .await
        .ok("request a code");
    assert_eq!(sent["sent"], json!(true), "{sent}");
    assert!(sent["expires_in_ms"].as_i64() > Some(0), "{sent}");
    let code = sent["dev_code"]
        .as_str()
        .expect("dev_code with dev codes on");
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "a code is six digits: {code}"
    );

    let first = login_with(
        &app,
        json!({ "phone": phone, "code": code, "device": "Chrome on Mac" }),
    )
    .await
    .ok("the first login registers");
    let me = &first["user"];
    assert!(me["id"].is_i64(), "{first}");
    assert!(
        first["token"].as_str().is_some_and(|t| !t.is_empty()),
        "{first}"
    );
    assert!(first["session_id"].is_i64(), "{first}");
    assert_eq!(
        me["roles"],
        json!(["buyer"]),
        "a new account is a buyer: {me}"
    );
    assert_eq!(me["phone_masked"], json!(masked(&phone)), "{me}");
    assert_eq!(me["has_password"], json!(false), "{me}");
    assert!(
        me.get("phone").is_none(),
        "the owner never gets the full phone: {me}"
    );
    assert!(
        !first.to_string().contains(&phone),
        "no full phone anywhere: {first}"
    );

    let reused = login_with(
        &app,
        json!({ "phone": phone, "code": code, "device": "again" }),
    )
    .await;
    reused.assert_error(401, "invalid_code", "a used code is single-use");

    let second = app.login_with_code(&phone).await;
    assert_eq!(
        second.id,
        me["id"].as_i64().expect("id"),
        "the same account"
    );
    assert_ne!(
        Some(second.token.as_str()),
        first["token"].as_str(),
        "a token per device"
    );
    let me_again = app.get("/api/me", Some(&second.token)).await.ok("read me");
    assert_eq!(me_again["id"], me["id"]);
}

async fn a_wrong_code_is_refused_with_invalid_code(store: Store) {
    let app = spawn_app(store).await;
    let phone = random_phone();
    let code = app.request_code(&phone).await;

    let cases = [
        (
            "a wrong code",
            json!({ "phone": phone, "code": wrong_code(&code) }),
        ),
        (
            "a phone that never asked for a code",
            json!({ "phone": random_phone(), "code": code }),
        ),
    ];
    for (case, body) in cases {
        login_with(&app, body)
            .await
            .assert_error(401, "invalid_code", case);
    }

    login_with(&app, json!({ "phone": phone, "code": code, "device": "d" }))
        .await
        .ok("one wrong try does not burn the code");
}

async fn five_wrong_codes_burn_the_code_so_even_the_right_one_is_refused(store: Store) {
    let app = spawn_app_with(store, |s| s.auth.code_max_attempts = 5).await;
    let phone = random_phone();
    let code = app.request_code(&phone).await;
    let wrong = json!({ "phone": phone, "code": wrong_code(&code) });

    for attempt in 1..=4 {
        login_with(&app, wrong.clone()).await.assert_error(
            401,
            "invalid_code",
            &format!("wrong attempt {attempt}"),
        );
    }
    // The fifth wrong attempt burns the code; its own answer may say either.
    let fifth = login_with(&app, wrong).await;
    assert!(
        matches!(
            (fifth.status, fifth.code()),
            (401, "invalid_code") | (429, "too_many_attempts")
        ),
        "fifth wrong attempt: {fifth:?}"
    );

    login_with(&app, json!({ "phone": phone, "code": code }))
        .await
        .assert_error(
            429,
            "too_many_attempts",
            "the right code after the code was burnt",
        );

    let fresh = app.request_code(&phone).await;
    login_with(
        &app,
        json!({ "phone": phone, "code": fresh, "device": "d" }),
    )
    .await
    .ok("a new code works after a burnt one");
}

async fn an_expired_code_is_refused_with_code_expired(store: Store) {
    let app = spawn_app_with(store, |s| s.auth.code_ttl_ms = 0).await;
    let phone = random_phone();
    let code = app.request_code(&phone).await;
    // The code expired the millisecond it was issued. Make sure the clock has moved on, by
    // doing real round trips rather than sleeping.
    let issued = now_ms();
    while now_ms() <= issued {
        app.get("/healthz", None).await.ok("health check");
    }

    login_with(&app, json!({ "phone": phone, "code": code }))
        .await
        .assert_error(401, "code_expired", "a code past its TTL");
}

async fn a_second_code_within_the_resend_interval_is_refused_with_code_cooldown(store: Store) {
    let app = spawn_app_with(store, |s| s.auth.code_resend_ms = 60_000).await;
    let phone = random_phone();
    app.request_code(&phone).await;

    let again = app
        .post("/api/auth/code", None, &json!({ "phone": phone }))
        .await;
    again.assert_error(429, "code_cooldown", "a second code at once");
    let retry = again.body["error"]["retry_after_ms"].as_i64();
    assert!(
        retry.is_some_and(|ms| ms > 0 && ms <= 60_000),
        "retry_after_ms within the interval: {again:?}"
    );

    app.request_code(&random_phone()).await;
}

async fn invalid_phones_are_refused_with_invalid_phone(store: Store) {
    let app = spawn_app(store).await;
    let cases = [
        ("empty", ""),
        ("ten digits", "1381234123"),
        ("twelve digits", "138123412345"),
        ("second digit 1", "11812341234"),
        ("second digit 2", "12812341234"),
        ("not starting with 1", "23812341234"),
        ("a landline", "01012345678"),
        ("a letter", "1381234123a"),
        ("dashes in a bad number", "138-1234-123"),
        ("another country code", "+4413812341234"),
        ("+86 with ten digits", "+861381234123"),
        ("fullwidth digits", "１３８１２３４１２３４"),
    ];
    let mut failures = Failures::default();
    for (case, phone) in cases {
        let resp = app
            .post("/api/auth/code", None, &json!({ "phone": phone }))
            .await;
        failures.check(
            case,
            (400, "invalid_phone"),
            (resp.status, resp.code()),
            &resp,
        );
    }
    failures.assert_none("invalid phones");

    app.post(
        "/api/auth/code",
        None,
        &json!({ "phone": "+8613812341234" }),
    )
    .await
    .ok("+86 prefix is accepted");
    // Spaces and dashes as people type them are ignored.
    app.post("/api/auth/code", None, &json!({ "phone": "139 8765-4321" }))
        .await
        .ok("spaces and dashes are ignored");
}

async fn a_password_can_be_set_changed_and_used_to_log_in(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let token = Some(user.token.as_str());

    let bad = [
        ("empty", String::new()),
        ("seven characters", "1234567".to_owned()),
        ("129 characters", "p".repeat(129)),
    ];
    let mut failures = Failures::default();
    for (case, password) in bad {
        let resp = app
            .post("/api/me/password", token, &json!({ "password": password }))
            .await;
        failures.check(
            case,
            (400, "invalid_field", &json!("password")),
            (resp.status, resp.code(), resp.field()),
            &resp,
        );
    }
    failures.assert_none("invalid passwords");

    let set = app
        .post(
            "/api/me/password",
            token,
            &json!({ "password": "correct horse" }),
        )
        .await
        .ok("set a first password");
    assert_eq!(set, json!({ "password_set": true }));
    let me = app.get("/api/me", token).await.ok("read me");
    assert_eq!(me["has_password"], json!(true), "{me}");

    let by_password = login_with(
        &app,
        json!({ "phone": user.phone, "password": "correct horse" }),
    )
    .await
    .ok("log in with the password");
    assert_eq!(by_password["user"]["id"], json!(user.id));
    assert_ne!(
        by_password["token"],
        json!(user.token),
        "a new device token"
    );

    let refused = [
        (
            "a wrong password",
            json!({ "phone": user.phone, "password": "wrong horse" }),
        ),
        (
            "an unknown phone",
            json!({ "phone": random_phone(), "password": "correct horse" }),
        ),
    ];
    for (case, body) in refused {
        login_with(&app, body)
            .await
            .assert_error(401, "invalid_credentials", case);
    }

    let missing_current = app
        .post(
            "/api/me/password",
            token,
            &json!({ "password": "battery staple" }),
        )
        .await;
    missing_current.assert_error(400, "invalid_field", "changing without current_password");
    assert_eq!(
        missing_current.body["error"]["field"],
        json!("current_password")
    );
    app.post(
        "/api/me/password",
        token,
        &json!({ "password": "battery staple", "current_password": "wrong horse" }),
    )
    .await
    .assert_error(
        401,
        "invalid_credentials",
        "changing with a wrong current_password",
    );

    app.post(
        "/api/me/password",
        token,
        &json!({ "password": "battery staple", "current_password": "correct horse" }),
    )
    .await
    .ok("change the password");
    login_with(
        &app,
        json!({ "phone": user.phone, "password": "correct horse" }),
    )
    .await
    .assert_error(
        401,
        "invalid_credentials",
        "the old password after a change",
    );
    login_with(
        &app,
        json!({ "phone": user.phone, "password": "battery staple" }),
    )
    .await
    .ok("the new password");
}

async fn the_profile_can_be_read_and_updated_and_bad_fields_are_named(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let token = Some(user.token.as_str());

    let me = app.get("/api/me", token).await.ok("read me");
    assert_eq!(me["id"], json!(user.id));
    assert!(
        me["nickname"].as_str().is_some_and(|n| !n.is_empty()),
        "{me}"
    );
    assert_eq!(me["avatar"], Value::Null, "{me}");
    assert_eq!(me["gender"], json!("unspecified"), "{me}");
    assert_eq!(me["intro"], json!(""), "{me}");
    assert!(me["created_at"].is_i64(), "{me}");

    // The avatar is the id of an avatar upload of one's own that passed screening.
    app.grant_consents(&user, &["camera"]).await;
    let avatar_upload = app
        .upload(
            &user.token,
            "purpose=avatar&source=camera",
            "image/png",
            tiny_png(),
        )
        .await
        .ok("upload an avatar");
    let avatar_id = avatar_upload["id"].as_str().expect("media id").to_owned();
    let updated = app
        .patch(
            "/api/me",
            token,
            &json!({ "nickname": "翡翠小王", "gender": "female", "intro": "收藏和田玉", "avatar": avatar_id }),
        )
        .await
        .ok("update the profile");
    assert_eq!(updated["nickname"], json!("翡翠小王"));
    assert_eq!(updated["gender"], json!("female"));
    assert_eq!(updated["intro"], json!("收藏和田玉"));
    assert_eq!(updated["avatar"], json!(avatar_id));
    assert_eq!(
        app.get("/api/me", token).await.ok("read me"),
        updated,
        "persisted"
    );

    let partial = app
        .patch("/api/me", token, &json!({ "gender": "other" }))
        .await
        .ok("a partial update");
    assert_eq!(partial["gender"], json!("other"));
    assert_eq!(
        partial["nickname"],
        json!("翡翠小王"),
        "untouched fields stay"
    );

    let cleared = app
        .patch("/api/me", token, &json!({ "avatar": null, "intro": null }))
        .await
        .ok("clear avatar and intro");
    assert_eq!(cleared["avatar"], Value::Null, "{cleared}");
    assert_eq!(cleared["intro"].as_str().unwrap_or(""), "", "{cleared}");

    let limits = app
        .patch(
            "/api/me",
            token,
            &json!({ "nickname": "玉".repeat(24), "intro": "介".repeat(200), "avatar": avatar_id }),
        )
        .await
        .ok("values at their limits");
    assert_eq!(limits["nickname"], json!("玉".repeat(24)));

    let before = app.get("/api/me", token).await.ok("read me");
    let cases = [
        ("an empty nickname", json!({ "nickname": "" }), "nickname"),
        (
            "a nickname of 25 characters",
            json!({ "nickname": "玉".repeat(25) }),
            "nickname",
        ),
        (
            "a nickname with a bell",
            json!({ "nickname": "bad\u{7}name" }),
            "nickname",
        ),
        (
            "a nickname with a newline",
            json!({ "nickname": "two\nlines" }),
            "nickname",
        ),
        ("a null nickname", json!({ "nickname": null }), "nickname"),
        ("a number as nickname", json!({ "nickname": 7 }), "nickname"),
        ("an unknown gender", json!({ "gender": "robot" }), "gender"),
        ("a null gender", json!({ "gender": null }), "gender"),
        (
            "an intro of 201 characters",
            json!({ "intro": "介".repeat(201) }),
            "intro",
        ),
        (
            "an avatar of 513 characters",
            json!({ "avatar": "a".repeat(513) }),
            "avatar",
        ),
        (
            "an avatar that is no upload",
            json!({ "avatar": "https://example.com/me.png" }),
            "avatar",
        ),
        (
            "a good nickname with a bad gender",
            json!({ "nickname": "好名字", "gender": "robot" }),
            "gender",
        ),
    ];
    let mut failures = Failures::default();
    for (case, body, field) in cases {
        let resp = app.patch("/api/me", token, &body).await;
        failures.check(
            case,
            (400, "invalid_field", &json!(field)),
            (resp.status, resp.code(), resp.field()),
            &resp,
        );
    }
    failures.assert_none("invalid profile fields");
    assert_eq!(
        app.get("/api/me", token).await.ok("read me"),
        before,
        "refused updates change nothing, not even their valid parts"
    );

    app.patch("/api/me", None, &json!({ "nickname": "x" }))
        .await
        .assert_error(401, "unauthorized", "an update without a token");
}

async fn a_public_profile_hides_the_phone_and_only_staff_see_it_masked(store: Store) {
    let mut app = spawn_app(store).await;
    let subject = app.new_user().await;
    let viewer = app.new_user().await;
    let path = format!("/api/users/{}", subject.id);

    let seen = app.get(&path, Some(&viewer.token)).await.ok("view a user");
    assert_eq!(seen["id"], json!(subject.id));
    assert!(
        seen["nickname"].is_string() && seen["roles"].is_array(),
        "{seen}"
    );
    assert!(seen.get("phone").is_none(), "{seen}");
    assert!(seen.get("phone_masked").is_none(), "not staff: {seen}");
    assert!(!seen.to_string().contains(&subject.phone), "{seen}");

    for role in ["moderator", "admin"] {
        let staff = app.new_user().await;
        app.grant_role(staff.id, role).await;
        let staff = app.login_again(&staff).await;
        let plain = app.get(&path, Some(&staff.token)).await.ok(role);
        assert!(
            plain.get("phone_masked").is_none(),
            "{role}: personal data only with a reason: {plain}"
        );
        let with_reason = format!("{path}?reason=report%20%2312");
        let seen = app.get(&with_reason, Some(&staff.token)).await.ok(role);
        assert_eq!(
            seen["phone_masked"],
            json!(masked(&subject.phone)),
            "{role}: {seen}"
        );
        assert!(seen.get("phone").is_none(), "{role}: {seen}");
        assert!(!seen.to_string().contains(&subject.phone), "{role}: {seen}");
    }

    app.get(&format!("{path}?reason=curious"), Some(&viewer.token))
        .await
        .assert_error(403, "forbidden", "a reason does not make a buyer staff");
    app.get("/api/users/987654321", Some(&viewer.token))
        .await
        .assert_error(404, "not_found", "a user that does not exist");
    app.get(&path, None)
        .await
        .assert_error(401, "unauthorized", "a profile without a token");
}

async fn the_seller_directory_lists_only_sellers_and_no_phones(store: Store) {
    let mut app = spawn_app(store).await;
    let seller = app.new_user().await;
    let buyer = app.new_user().await;
    app.grant_role(seller.id, "seller").await;

    let list = app
        .get("/api/users?role=seller&limit=50", Some(&buyer.token))
        .await
        .ok("the seller directory");
    let users = list["users"].as_array().expect("users array");
    let ids: Vec<&Value> = users.iter().map(|u| &u["id"]).collect();
    assert_eq!(ids, vec![&json!(seller.id)], "only the seller: {list}");
    assert!(users[0]["roles"]
        .as_array()
        .is_some_and(|r| r.contains(&json!("seller"))));
    assert!(!list.to_string().contains(&seller.phone), "{list}");
    assert!(users[0].get("phone_masked").is_none(), "not staff: {list}");
}

async fn the_sessions_list_shows_every_device_and_marks_the_current_one(store: Store) {
    let mut app = spawn_app(store).await;
    let first = app.new_user().await;
    let second = app.login_again(&first).await;

    let list = app
        .get("/api/me/sessions", Some(&first.token))
        .await
        .ok("list sessions");
    let sessions = list["sessions"].as_array().expect("sessions array");
    let mut ids: Vec<i64> = sessions.iter().filter_map(|s| s["id"].as_i64()).collect();
    ids.sort_unstable();
    let mut expected = vec![first.session_id, second.session_id];
    expected.sort_unstable();
    assert_eq!(ids, expected, "{list}");
    for session in sessions {
        let is_first = session["id"] == json!(first.session_id);
        assert_eq!(session["current"], json!(is_first), "{session}");
        assert!(
            session["device"].as_str().is_some_and(|d| !d.is_empty()),
            "{session}"
        );
        assert!(session["expires_at"].as_i64() > Some(now_ms()), "{session}");
        assert!(session.get("token").is_none() && session.get("token_hash").is_none());
    }
}

async fn revoking_a_device_ends_its_token_and_socket_but_not_the_other_devices(store: Store) {
    let mut app = spawn_app(store).await;
    let first = app.new_user().await;
    let second = app.login_again(&first).await;
    let mut first_ws = app.ws(&first).await;
    let mut second_ws = app.ws(&second).await;
    first_ws.request_ok("chat.list", json!({})).await;
    second_ws.request_ok("chat.list", json!({})).await;

    let revoked = app
        .delete(
            &format!("/api/me/sessions/{}", first.session_id),
            Some(&second.token),
        )
        .await
        .ok("revoke the first device");
    assert_eq!(revoked, json!({ "revoked": true }));

    app.get("/api/me", Some(&first.token)).await.assert_error(
        401,
        "unauthorized",
        "the revoked device's token",
    );
    assert_eq!(
        first_ws.expect_close().await,
        Some(4001),
        "the revoked device's socket"
    );
    let auth = format!("auth.{}", first.token);
    assert_eq!(app.ws_handshake_status(&["duoxie.v1", &auth]).await, 401);

    second_ws.request_ok("chat.list", json!({})).await;
    app.get("/api/me", Some(&second.token))
        .await
        .ok("the other device");
    let list = app
        .get("/api/me/sessions", Some(&second.token))
        .await
        .ok("list sessions");
    assert_eq!(list["sessions"].as_array().map(Vec::len), Some(1), "{list}");

    let stranger = app.new_user().await;
    let cases = [
        ("someone else's session", second.session_id),
        ("a session that does not exist", 987_654_321),
    ];
    for (case, id) in cases {
        app.delete(&format!("/api/me/sessions/{id}"), Some(&stranger.token))
            .await
            .assert_error(404, "not_found", case);
    }
    app.get("/api/me", Some(&second.token))
        .await
        .ok("a stranger cannot revoke my session");
    second_ws.request_ok("chat.list", json!({})).await;
}

async fn logging_out_ends_this_device_only(store: Store) {
    let mut app = spawn_app(store).await;
    let first = app.new_user().await;
    let second = app.login_again(&first).await;
    let mut first_ws = app.ws(&first).await;
    let mut second_ws = app.ws(&second).await;
    first_ws.request_ok("chat.list", json!({})).await;
    second_ws.request_ok("chat.list", json!({})).await;

    let out = app
        .request(Method::POST, "/api/auth/logout", Some(&first.token), None)
        .await
        .ok("log out");
    assert_eq!(out, json!({ "revoked": true }));

    app.get("/api/me", Some(&first.token)).await.assert_error(
        401,
        "unauthorized",
        "the logged-out token",
    );
    assert_eq!(
        first_ws.expect_close().await,
        Some(4001),
        "the logged-out device's socket"
    );
    second_ws.request_ok("chat.list", json!({})).await;
    app.get("/api/me", Some(&second.token))
        .await
        .ok("the other device");
    app.request(Method::POST, "/api/auth/logout", Some(&first.token), None)
        .await
        .assert_error(401, "unauthorized", "logging out twice");
}

async fn an_expired_token_is_refused_on_rest_and_on_the_socket(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let other_device = app.login_again(&user).await;

    sqlx::query("UPDATE auth_tokens SET expires_at = 0 WHERE id = $1")
        .bind(user.session_id)
        .execute(&app.db)
        .await
        .expect("age the token");

    app.get("/api/me", Some(&user.token)).await.assert_error(
        401,
        "unauthorized",
        "an expired token",
    );
    let auth = format!("auth.{}", user.token);
    assert_eq!(
        app.ws_handshake_status(&["duoxie.v1", &auth]).await,
        401,
        "the handshake with an expired token"
    );
    let mut ws = app.ws_raw().await;
    let err = ws.request_err("auth", json!({ "token": user.token })).await;
    assert_eq!(
        err["code"],
        json!("unauthorized"),
        "first-frame auth: {err}"
    );

    let list = app
        .get("/api/me/sessions", Some(&other_device.token))
        .await
        .ok("list sessions");
    let ids: Vec<&Value> = list["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert_eq!(
        ids,
        vec![&json!(other_device.session_id)],
        "expired ones are not listed"
    );
}

async fn missing_or_garbage_bearer_tokens_are_unauthorized(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let longer = format!("Bearer {}x", user.token);
    let cases: [(&str, Option<&str>); 8] = [
        ("no header", None),
        ("an empty header", Some("")),
        ("Bearer alone", Some("Bearer")),
        ("Bearer and a space", Some("Bearer ")),
        ("a garbage token", Some("Bearer garbage")),
        ("the token with a character more", Some(&longer)),
        ("the token without Bearer", Some(&user.token)),
        ("basic auth", Some("Basic dXNlcjpwYXNzd29yZA==")),
    ];
    let mut failures = Failures::default();
    for (case, authorization) in cases {
        let resp = app
            .request_with_authorization(Method::GET, "/api/me", authorization, None)
            .await;
        failures.check(
            case,
            (401, "unauthorized"),
            (resp.status, resp.code()),
            &resp,
        );
    }
    failures.assert_none("bad Authorization headers");
    app.get("/api/me", Some(&user.token))
        .await
        .ok("the right token");
}

async fn health_and_readiness_answer_200(store: Store) {
    let app = spawn_app(store).await;
    let health = app.get("/healthz", None).await.ok("healthz");
    assert_eq!(health, json!({ "status": "ok" }));
    let ready = app.get("/readyz", None).await.ok("readyz");
    assert_eq!(
        ready,
        json!({ "status": "ready", "database": "ok", "migrations": "ok" })
    );
}

async fn a_socket_authenticated_by_subprotocol_gets_duoxie_v1_back(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let auth = format!("auth.{}", user.token);
    let (resp, mut ws) = app
        .ws_connect(&["duoxie.v1", &auth])
        .await
        .expect("the handshake succeeds");
    let protocol = resp
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok());
    assert_eq!(protocol, Some("duoxie.v1"), "the server picks duoxie.v1");
    ws.request_ok("chat.list", json!({})).await;

    let cases = [
        ("a garbage token", "auth.garbage".to_owned()),
        (
            "the token with a character more",
            format!("auth.{}x", user.token),
        ),
    ];
    for (case, auth) in cases {
        assert_eq!(
            app.ws_handshake_status(&["duoxie.v1", &auth]).await,
            401,
            "{case}"
        );
    }
}

async fn wrong_passwords_lock_password_login_until_a_code_login(store: Store) {
    let mut app = spawn_app_with(store, |s| s.auth.password_max_attempts = 3).await;
    let user = app.new_user().await;
    app.post(
        "/api/me/password",
        Some(user.token.as_str()),
        &json!({ "password": "correct horse" }),
    )
    .await
    .ok("set a password");
    let attempt = |password: &'static str| json!({ "phone": user.phone, "password": password });
    for n in 1..=3 {
        let resp = login_with(&app, attempt("wrong horse")).await;
        assert_eq!(
            (resp.status, resp.code()),
            (401, "invalid_credentials"),
            "wrong password {n}: {resp:?}"
        );
    }
    // Locked: even the right password is refused, and says for how long.
    let resp = login_with(&app, attempt("correct horse")).await;
    assert_eq!(
        (resp.status, resp.code()),
        (429, "too_many_attempts"),
        "{resp:?}"
    );
    assert!(
        resp.body["error"]["retry_after_ms"]
            .as_u64()
            .is_some_and(|ms| ms > 0),
        "{resp:?}"
    );
    // Proving the phone with a code lifts the lock.
    app.login_again(&user).await;
    login_with(&app, attempt("correct horse"))
        .await
        .ok("the password works again after a code login");
}

/// The data folder holds the code outbox on every store, not only SQLite's database.
async fn a_missing_data_folder_is_created_at_start(store: Store) {
    let app = spawn_app_with(store, |s| s.data_dir = s.data_dir.join("not").join("yet")).await;
    app.request_code(&random_phone()).await;
}

async fn names_that_deceive_are_refused_and_staff_keep_theirs(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let mut failures = Failures::default();
    for (case, name) in [
        ("a right-to-left override", "abc\u{202E}gnp.exe"),
        ("a Zalgo stack", "Z\u{0351}\u{0358}\u{0362}a"),
        ("the platform's own support", "多些官方客服"),
        ("the brand in English", "Duoxie official support"),
        ("the brand with a zero", "DU0XIE"),
        ("an office", "平台管理员"),
        ("another user's default name", "用户99999"),
    ] {
        let answer = app
            .patch("/api/me", Some(&user.token), &json!({ "nickname": name }))
            .await;
        failures.check(
            case,
            (400, "invalid_field", json!("nickname")),
            (answer.status, answer.code(), answer.field().clone()),
            &answer,
        );
    }
    let cleaned = app
        .patch(
            "/api/me",
            Some(&user.token),
            &json!({ "nickname": "玉\u{200B}石" }),
        )
        .await
        .ok("invisible characters are dropped");
    failures.check(
        "cleaned name",
        json!("玉石"),
        cleaned["nickname"].clone(),
        &cleaned,
    );
    failures.assert_none("deceiving names");

    let staff = app.new_user().await;
    app.grant_role(staff.id, "moderator").await;
    let staff = app.login_again(&staff).await;
    app.patch(
        "/api/me",
        Some(&staff.token),
        &json!({ "nickname": "多些客服小林" }),
    )
    .await
    .ok("staff may say they are support");
}

async fn the_resend_interval_holds_after_a_successful_login(store: Store) {
    let mut app = spawn_app_with(store, |s| s.auth.code_resend_ms = 60_000).await;
    let user = app.new_user().await;
    let again = app
        .post("/api/auth/code", None, &json!({ "phone": user.phone }))
        .await;
    again.assert_error(
        429,
        "code_cooldown",
        "a code right after logging in with one",
    );
    assert!(again.retry_after.is_some_and(|s| s > 0), "{again:?}");
}

async fn a_path_that_does_not_parse_is_not_found_without_internals(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let answer = app.get("/api/users/abc", Some(&user.token)).await;
    answer.assert_error(404, "not_found", "a user id that is not a number");
    let message = answer.body["error"]["message"].as_str().unwrap_or("");
    assert!(
        !message.to_lowercase().contains("deserial"),
        "no deserialiser words: {message}"
    );
}

store_tests!(
    wrong_passwords_lock_password_login_until_a_code_login,
    a_missing_data_folder_is_created_at_start,
    a_first_code_login_registers_the_account_and_later_ones_log_into_it,
    a_wrong_code_is_refused_with_invalid_code,
    five_wrong_codes_burn_the_code_so_even_the_right_one_is_refused,
    an_expired_code_is_refused_with_code_expired,
    a_second_code_within_the_resend_interval_is_refused_with_code_cooldown,
    invalid_phones_are_refused_with_invalid_phone,
    a_password_can_be_set_changed_and_used_to_log_in,
    the_profile_can_be_read_and_updated_and_bad_fields_are_named,
    a_public_profile_hides_the_phone_and_only_staff_see_it_masked,
    the_seller_directory_lists_only_sellers_and_no_phones,
    the_sessions_list_shows_every_device_and_marks_the_current_one,
    revoking_a_device_ends_its_token_and_socket_but_not_the_other_devices,
    logging_out_ends_this_device_only,
    an_expired_token_is_refused_on_rest_and_on_the_socket,
    missing_or_garbage_bearer_tokens_are_unauthorized,
    health_and_readiness_answer_200,
    a_socket_authenticated_by_subprotocol_gets_duoxie_v1_back,
    names_that_deceive_are_refused_and_staff_keep_theirs,
    the_resend_interval_holds_after_a_successful_login,
    a_path_that_does_not_parse_is_not_found_without_internals,
);

/// A 4×4 PNG: the smallest real picture for an avatar upload.
fn tiny_png() -> Vec<u8> {
    use image::ImageEncoder;
    let pixels = [200u8; 4 * 4 * 3];
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&pixels, 4, 4, image::ExtendedColorType::Rgb8)
        .expect("encode");
    out
}
