//! Minors (policy: 未成年人): registration records the age; an account without one, or under
//! 14 without its guardian's verified consent, cannot set profile data or chat; the guardian
//! verifies with a code sent to their own phone and can later withdraw or ask for deletion;
//! an under-14 account left without consent is deleted.

use duoxie::minors::policy::CivilDate;
use serde_json::{json, Value};

use crate::helpers::{
    now_ms, random_phone, spawn_app, spawn_app_with, Failures, Store, TestApp, TestUser,
    POLL_INTERVAL, WAIT,
};

fn born_years_ago(years: i32) -> String {
    let today = CivilDate::today_in_china(now_ms());
    format!("{:04}-01-01", today.year - years)
}

/// Registers `phone` with whatever age fields `age` holds (none, a date, a bracket).
pub(crate) async fn register(app: &mut TestApp, age: Value) -> TestUser {
    let phone = random_phone();
    let code = app.request_code(&phone).await;
    let mut body = json!({ "phone": phone, "code": code, "device": "kid's tablet", "accepted_policy_version": "1" });
    if let (Some(body), Some(age)) = (body.as_object_mut(), age.as_object()) {
        body.extend(age.clone());
    }
    let login = app
        .post("/api/auth/login", None, &body)
        .await
        .ok("register");
    TestUser {
        id: login["user"]["id"].as_i64().expect("id"),
        token: login["token"].as_str().expect("token").to_owned(),
        phone,
        session_id: login["session_id"].as_i64().expect("session"),
    }
}

async fn standing(app: &TestApp, user: &TestUser) -> Value {
    app.get("/api/me", Some(&user.token)).await.ok("me")["standing"].clone()
}

async fn an_account_without_a_declared_age_is_read_only_until_it_declares(store: Store) {
    let mut app = spawn_app(store).await;
    let user = register(&mut app, json!({})).await;
    let peer = app.new_user().await;
    assert_eq!(standing(&app, &user).await, json!("age_undeclared"));
    app.patch("/api/me", Some(&user.token), &json!({ "nickname": "Lin" }))
        .await
        .assert_error(403, "age_required", "profile data before declaring");
    let mut ws = app.ws(&user).await;
    let refused = ws
        .request_err("chat.open", json!({ "peer_id": peer.id }))
        .await;
    assert_eq!(refused["code"], json!("age_required"), "{refused}");
    // Features that do not depend on age stay open (PIPL art. 16 in spirit).
    ws.request_ok("consent.grant", json!({ "permission": "notifications" }))
        .await;

    let mut failures = Failures::default();
    for (case, body) in [
        (
            "both",
            json!({ "birth_date": "1990-01-01", "age_bracket": "adult" }),
        ),
        ("neither", json!({})),
        ("future", json!({ "birth_date": "2999-01-01" })),
        ("not a day", json!({ "birth_date": "2013-02-29" })),
        ("wrong shape", json!({ "birth_date": "1/2/1990" })),
        ("unknown bracket", json!({ "age_bracket": "teen" })),
        (
            "unknown field",
            json!({ "birth_date": "1990-01-01", "sex": "f" }),
        ),
    ] {
        let got = app.post("/api/me/age", Some(&user.token), &body).await;
        failures.check(case, (400, "invalid_field"), (got.status, got.code()), &got);
    }
    failures.assert_none("bad declarations");

    let declared = app
        .post(
            "/api/me/age",
            Some(&user.token),
            &json!({ "age_bracket": "adult" }),
        )
        .await
        .ok("declare");
    assert_eq!(declared["standing"], json!("full"), "{declared}");
    // The open socket picks the lifted restriction up on its next command.
    ws.request_ok("chat.open", json!({ "peer_id": peer.id }))
        .await;
    // Declared once: a child cannot re-declare themselves older.
    app.post(
        "/api/me/age",
        Some(&user.token),
        &json!({ "birth_date": "1980-01-01" }),
    )
    .await
    .assert_error(400, "invalid_field", "a second declaration");
}

async fn an_under_14_account_waits_for_its_guardian_who_can_later_withdraw_and_delete(
    store: Store,
) {
    let mut app = spawn_app_with(store, |s| s.privacy.retention_interval_ms = 20).await;
    let child = register(&mut app, json!({ "birth_date": born_years_ago(10) })).await;
    let peer = app.new_user().await;
    assert_eq!(standing(&app, &child).await, json!("awaiting_guardian"));
    app.patch(
        "/api/me",
        Some(&child.token),
        &json!({ "intro": "I like jade" }),
    )
    .await
    .assert_error(403, "guardian_required", "profile data");
    let mut ws = app.ws(&child).await;
    let refused = ws
        .request_err("chat.open", json!({ "peer_id": peer.id }))
        .await;
    assert_eq!(refused["code"], json!("guardian_required"), "{refused}");

    // The code goes to the guardian's own phone, never the child's.
    app.post(
        "/api/me/guardian/code",
        Some(&child.token),
        &json!({ "guardian_phone": child.phone }),
    )
    .await
    .assert_error(400, "invalid_field", "the child's own phone");
    let guardian_phone = random_phone();
    let sent = app
        .post(
            "/api/me/guardian/code",
            Some(&child.token),
            &json!({ "guardian_phone": guardian_phone }),
        )
        .await
        .ok("guardian code");
    let code = sent["dev_code"].as_str().expect("dev code").to_owned();
    let forged = if code == "000000" { "111111" } else { "000000" };
    app.post(
        "/api/me/guardian/verify",
        Some(&child.token),
        &json!({ "code": forged }),
    )
    .await
    .assert_error(401, "invalid_code", "a forged guardian code");
    // An adult with no pending code cannot verify anything.
    app.post(
        "/api/me/guardian/verify",
        Some(&peer.token),
        &json!({ "code": code }),
    )
    .await
    .assert_error(401, "invalid_code", "someone else's code");
    let verified = app
        .post(
            "/api/me/guardian/verify",
            Some(&child.token),
            &json!({ "code": code }),
        )
        .await
        .ok("verify");
    assert_eq!(verified["standing"], json!("full"), "{verified}");
    let event = ws.next_event("account.standing").await;
    assert_eq!(event["data"]["standing"], json!("full"), "{event}");
    ws.request_ok("chat.open", json!({ "peer_id": peer.id }))
        .await;

    // The guardian, from their own account, sees the ward; a stranger cannot act on it.
    let mut guardian = app.login_with_code(&guardian_phone).await;
    let wards = app
        .get("/api/guardian/wards", Some(&guardian.token))
        .await
        .ok("wards");
    assert_eq!(
        (&wards["wards"][0]["child_id"], &wards["wards"][0]["state"]),
        (&json!(child.id), &json!("verified")),
        "{wards}"
    );
    let withdraw = format!("/api/guardian/wards/{}/withdraw", child.id);
    app.post(&withdraw, Some(&peer.token), &json!({}))
        .await
        .assert_error(404, "not_found", "a stranger withdrawing");
    app.post(&withdraw, Some(&guardian.token), &json!({}))
        .await
        .ok("guardian withdraws");
    assert_eq!(ws.expect_close().await, Some(4004), "restricted at once");
    app.patch("/api/me", Some(&child.token), &json!({ "intro": "again" }))
        .await
        .assert_error(403, "guardian_required", "after the withdrawal");

    guardian = app.login_again(&guardian).await;
    app.post(
        &format!("/api/guardian/wards/{}/deletion", child.id),
        Some(&guardian.token),
        &json!({}),
    )
    .await
    .ok("guardian asks for deletion");
    app.get("/api/me", Some(&child.token)).await.assert_error(
        401,
        "unauthorized",
        "the child is logged out",
    );
    await_deleted(&app, child.id).await;
}

async fn await_deleted(app: &TestApp, user_id: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while duoxie::privacy::deleted_at(&app.db, user_id)
        .await
        .expect("deleted_at")
        .is_none()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "user {user_id} not deleted within {WAIT:?}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

async fn an_under_14_account_left_without_consent_is_deleted(store: Store) {
    let mut app = spawn_app_with(store, |s| {
        s.privacy.minor_guardian_grace_ms = 0;
        s.privacy.retention_interval_ms = 20;
    })
    .await;
    let adult = app.new_user().await;
    // A child whose guardian consented before the age was declared (the row is written
    // directly, so that no job run can fall between declaring and verifying).
    let guarded = register(&mut app, json!({})).await;
    sqlx::query(
        "INSERT INTO guardian_events (child_id, guardian_lookup, guardian_sealed, action, created_at) \
         VALUES ($1, 'h1:guardian', 'x1:sealed', 'verified', $2)",
    )
    .bind(guarded.id)
    .bind(now_ms())
    .execute(&app.db)
    .await
    .expect("a verified guardian");
    let declared = app
        .post(
            "/api/me/age",
            Some(&guarded.token),
            &json!({ "age_bracket": "under_14" }),
        )
        .await
        .ok("declare under 14");
    assert_eq!(declared["standing"], json!("full"), "{declared}");
    let unguarded = register(&mut app, json!({ "birth_date": born_years_ago(9) })).await;
    await_deleted(&app, unguarded.id).await;
    let shell = app
        .get(&format!("/api/users/{}", unguarded.id), Some(&adult.token))
        .await
        .ok("shell");
    assert_eq!(shell["deleted"], json!(true), "{shell}");
    app.get("/api/me", Some(&adult.token))
        .await
        .ok("the adult stays");
}

async fn an_account_found_to_be_under_14_is_deleted_at_once(store: Store) {
    let mut app = spawn_app_with(store, |s| s.privacy.retention_interval_ms = 20).await;
    let user = app.new_user().await;
    let moderator = app.new_user().await;
    app.grant_role(moderator.id, "moderator").await;
    let moderator = app.login_again(&moderator).await;
    let admin = app.new_user().await;
    app.grant_role(admin.id, "admin").await;
    let admin = app.login_again(&admin).await;
    let mut ws = app.ws(&user).await;
    let path = format!("/api/admin/users/{}/birth-date", user.id);
    let body =
        json!({ "birth_date": born_years_ago(12), "reason": "school ID shown in report 88" });

    app.post(&path, Some(&moderator.token), &body)
        .await
        .assert_error(403, "forbidden", "a moderator");
    app.post(&path, Some(&user.token), &body)
        .await
        .assert_error(403, "forbidden", "the user themselves");
    app.post(
        &path,
        Some(&admin.token),
        &json!({ "birth_date": born_years_ago(12), "reason": " " }),
    )
    .await
    .assert_error(400, "invalid_field", "no reason");
    // An adult's correction is audited and shown to them.
    let adult = app.new_user().await;
    let adult_path = format!("/api/admin/users/{}/birth-date", adult.id);
    app.post(
        &adult_path,
        Some(&admin.token),
        &json!({ "birth_date": "1985-06-01", "reason": "typo reported by the user" }),
    )
    .await
    .ok("correct an adult");
    let export = app
        .get("/api/me/export", Some(&adult.token))
        .await
        .ok("export");
    let access = &export["sections"]["staff_access"][0];
    assert_eq!(
        (&access["staff_id"], &access["what"]),
        (&json!(admin.id), &json!("birth date corrected")),
        "{export}"
    );
    assert_eq!(
        export["sections"]["age_and_guardian"]["birth_date"],
        json!("1985-06-01")
    );

    let corrected = app
        .post(&path, Some(&admin.token), &body)
        .await
        .ok("correct");
    assert_eq!(
        corrected["standing"],
        json!("awaiting_guardian"),
        "{corrected}"
    );
    assert_eq!(ws.expect_close().await, Some(4003), "logged out at once");
    app.get("/api/me", Some(&user.token)).await.assert_error(
        401,
        "unauthorized",
        "after the correction",
    );
    await_deleted(&app, user.id).await;
}

/// The child logging in again must not undo what the guardian asked for.
async fn a_deletion_the_guardian_asked_for_is_not_cancelled_by_the_childs_login(store: Store) {
    // No retention run during the test: the first runs at start, the next in an hour.
    let mut app = spawn_app_with(store, |s| s.privacy.retention_interval_ms = 3_600_000).await;
    let child = register(&mut app, json!({ "birth_date": born_years_ago(11) })).await;
    let guardian_phone = random_phone();
    let sent = app
        .post(
            "/api/me/guardian/code",
            Some(&child.token),
            &json!({ "guardian_phone": guardian_phone }),
        )
        .await
        .ok("guardian code");
    app.post(
        "/api/me/guardian/verify",
        Some(&child.token),
        &json!({ "code": sent["dev_code"] }),
    )
    .await
    .ok("verify");
    let guardian = app.login_with_code(&guardian_phone).await;
    app.post(
        &format!("/api/guardian/wards/{}/deletion", child.id),
        Some(&guardian.token),
        &json!({}),
    )
    .await
    .ok("guardian asks for deletion");
    let code = app.request_code(&child.phone).await;
    app.post(
        "/api/auth/login",
        None,
        &json!({ "phone": child.phone, "code": code, "accepted_policy_version": "1" }),
    )
    .await
    .assert_error(403, "forbidden", "the child logging in again");
    let pending: Option<i64> = {
        use sqlx::Row;
        sqlx::query("SELECT deletion_due_at FROM users WHERE id = $1")
            .bind(child.id)
            .fetch_one(&app.db)
            .await
            .expect("row")
            .get(0)
    };
    assert!(pending.is_some(), "still scheduled");
}

store_tests!(
    a_deletion_the_guardian_asked_for_is_not_cancelled_by_the_childs_login,
    an_account_without_a_declared_age_is_read_only_until_it_declares,
    an_under_14_account_waits_for_its_guardian_who_can_later_withdraw_and_delete,
    an_under_14_account_left_without_consent_is_deleted,
    an_account_found_to_be_under_14_is_deleted_at_once,
);
