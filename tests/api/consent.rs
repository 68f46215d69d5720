//! The consent ledger: grants and withdrawals over WebSocket and REST, the history that keeps
//! every change, the event that makes a withdrawal take effect on every device, and refusals.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, Failures, Store};

fn current<'a>(state: &'a Value, permission: &str) -> &'a Value {
    state["current"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["permission"] == permission))
        .unwrap_or_else(|| panic!("{permission} missing from the current state: {state}"))
}

async fn granting_and_withdrawing_is_kept_in_an_append_only_history(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user).await;

    let granted = ws
        .request_ok(
            "consent.grant",
            json!({ "permission": "camera", "device": "phone" }),
        )
        .await;
    assert_eq!(granted["changed"], json!(true), "{granted}");
    assert_eq!(granted["record"]["granted"], json!(true), "{granted}");
    assert_eq!(granted["record"]["policy_version"], json!("1"), "{granted}");
    // Granting what is granted changes nothing and appends nothing.
    let again = ws
        .request_ok("consent.grant", json!({ "permission": "camera" }))
        .await;
    assert_eq!(again["changed"], json!(false), "{again}");

    let state = ws.request_ok("consent.list", json!({})).await;
    assert_eq!(current(&state, "camera")["granted"], json!(true), "{state}");
    assert_eq!(
        current(&state, "microphone")["granted"],
        json!(false),
        "{state}"
    );
    assert_eq!(
        state["current"].as_array().map(Vec::len),
        Some(8),
        "{state}"
    );

    let withdrawn = ws
        .request_ok("consent.withdraw", json!({ "permission": "camera" }))
        .await;
    assert_eq!(withdrawn["record"]["granted"], json!(false), "{withdrawn}");
    let state = ws.request_ok("consent.list", json!({})).await;
    assert_eq!(
        current(&state, "camera")["granted"],
        json!(false),
        "{state}"
    );
    let history: Vec<(Value, Value)> = state["history"]
        .as_array()
        .map(|h| {
            h.iter()
                .map(|r| (r["permission"].clone(), r["granted"].clone()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        history,
        vec![
            (json!("camera"), json!(true)),
            (json!("camera"), json!(false))
        ],
        "every change is a row, nothing updated in place: {state}"
    );
}

async fn a_withdrawal_reaches_the_users_other_devices_at_once(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let second = app.login_again(&user).await;
    let mut phone = app.ws(&user).await;
    let mut tablet = app.ws(&second).await;
    phone
        .request_ok("consent.grant", json!({ "permission": "microphone" }))
        .await;
    let event = tablet.next_event("consent.changed").await;
    assert_eq!(event["data"]["granted"], json!(true), "{event}");
    phone
        .request_ok("consent.withdraw", json!({ "permission": "microphone" }))
        .await;
    let event = tablet.next_event("consent.changed").await;
    assert_eq!(
        (
            event["data"]["permission"].clone(),
            event["data"]["granted"].clone()
        ),
        (json!("microphone"), json!(false)),
        "{event}"
    );
}

async fn rest_and_websocket_share_one_ledger_and_it_is_per_user(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let other = app.new_user().await;
    let token = Some(user.token.as_str());
    app.post(
        "/api/me/consents",
        token,
        &json!({ "permission": "photo_album", "granted": true }),
    )
    .await
    .ok("grant over REST");
    let mut ws = app.ws(&user).await;
    let state = ws.request_ok("consent.list", json!({})).await;
    assert_eq!(
        current(&state, "photo_album")["granted"],
        json!(true),
        "{state}"
    );
    ws.request_ok("consent.withdraw", json!({ "permission": "photo_album" }))
        .await;
    let state = app
        .get("/api/me/consents", token)
        .await
        .ok("list over REST");
    assert_eq!(
        current(&state, "photo_album")["granted"],
        json!(false),
        "{state}"
    );

    // Another user's ledger is theirs alone.
    let theirs = app
        .get("/api/me/consents", Some(other.token.as_str()))
        .await
        .ok("the other user's list");
    assert_eq!(theirs["history"], json!([]), "{theirs}");
    let anonymous = app.get("/api/me/consents", None).await;
    assert_eq!((anonymous.status, anonymous.code()), (401, "unauthorized"));
}

async fn bad_consent_commands_are_refused_and_change_nothing(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user).await;
    let cases = [
        (
            "an unknown permission",
            "consent.grant",
            json!({ "permission": "contacts" }),
        ),
        (
            "withdrawing what was never granted",
            "consent.withdraw",
            json!({ "permission": "location" }),
        ),
        ("a missing permission", "consent.grant", json!({})),
        (
            "a permission that is not a string",
            "consent.grant",
            json!({ "permission": 3 }),
        ),
    ];
    let mut failures = Failures::default();
    for (case, ty, data) in cases {
        let reply = ws.request(ty, data).await;
        failures.check(
            case,
            (json!(false), json!("invalid_field"), json!("permission")),
            (
                reply["ok"].clone(),
                reply["error"]["code"].clone(),
                reply["error"]["field"].clone(),
            ),
            &reply,
        );
    }
    failures.assert_none("bad consent commands");
    let state = ws.request_ok("consent.list", json!({})).await;
    assert_eq!(state["history"], json!([]), "nothing was recorded: {state}");
}

async fn a_feature_check_names_exactly_the_missing_permissions(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user).await;
    ws.request_ok("consent.grant", json!({ "permission": "camera" }))
        .await;
    let check = |feature: &str, source: Option<&str>| {
        let mut data = json!({ "feature": feature });
        if let Some(s) = source {
            data["source"] = json!(s);
        }
        data
    };
    let cases = [
        (
            "live connect lacks the microphone",
            check("live_connect", None),
            json!({ "allowed": false, "missing": ["microphone"] }),
        ),
        (
            "a chat photo from the camera",
            check("chat_photo", Some("camera")),
            json!({ "allowed": true, "missing": [] }),
        ),
        (
            "a chat photo from the album",
            check("chat_photo", Some("album")),
            json!({ "allowed": false, "missing": ["photo_album"] }),
        ),
        (
            "the personalised feed",
            check("personalized_feed", None),
            json!({ "allowed": false, "missing": ["personalized_recommendation"] }),
        ),
    ];
    let mut failures = Failures::default();
    for (case, data, want) in cases {
        let got = ws.request_ok("consent.check", data).await;
        failures.check(case, want, got.clone(), &got);
    }
    failures.assert_none("feature checks");

    // Withdrawal is seen by the very next check.
    ws.request_ok("consent.withdraw", json!({ "permission": "camera" }))
        .await;
    let got = ws
        .request_ok("consent.check", check("chat_photo", Some("camera")))
        .await;
    assert_eq!(got, json!({ "allowed": false, "missing": ["camera"] }));

    for (data, field) in [
        (check("chat_photo", None), "source"),
        (check("teleport", None), "feature"),
    ] {
        let reply = ws.request("consent.check", data).await;
        assert_eq!(reply["error"]["field"], json!(field), "{reply}");
    }
}

/// After the policy version changes, grants given under the old one no longer count until the
/// user accepts again; the socket learns the version in force from session.ready.
async fn a_new_policy_version_must_be_accepted_before_gated_features_work(store: Store) {
    let mut app = spawn_app_with(store, |s| s.policy_version = "2".into()).await;
    let user = app.new_user().await;
    // A grant recorded under version 1, before this deployment moved to version 2.
    sqlx::query(
        "INSERT INTO consent_events \
         (user_id, permission, granted, policy_version, actor, device, created_at) \
         VALUES ($1, 'camera', 1, '1', 'user', 'old phone', 1)",
    )
    .bind(user.id)
    .execute(&app.db)
    .await
    .expect("insert an old-version grant");

    let mut raw = app.ws_raw().await;
    raw.request_ok("auth", json!({ "token": user.token })).await;
    let ready = raw.next_event("session.ready").await;
    assert_eq!(ready["data"]["policy_version"], json!("2"), "{ready}");

    let state = raw.request_ok("consent.list", json!({})).await;
    assert_eq!(state["policy_version"], json!("2"), "{state}");
    let camera = current(&state, "camera");
    assert_eq!(
        (
            camera["granted"].clone(),
            camera["needs_acceptance"].clone()
        ),
        (json!(false), json!(true)),
        "{state}"
    );
    let check = json!({ "feature": "chat_photo", "source": "camera" });
    let refused = raw.request_ok("consent.check", check.clone()).await;
    assert_eq!(refused["allowed"], json!(false), "{refused}");

    let accepted = raw
        .request_ok("consent.grant", json!({ "permission": "camera" }))
        .await;
    assert_eq!(
        (
            accepted["changed"].clone(),
            accepted["record"]["policy_version"].clone()
        ),
        (json!(true), json!("2")),
        "{accepted}"
    );
    let allowed = raw.request_ok("consent.check", check).await;
    assert_eq!(allowed["allowed"], json!(true), "{allowed}");
}

store_tests!(
    a_new_policy_version_must_be_accepted_before_gated_features_work,
    a_feature_check_names_exactly_the_missing_permissions,
    granting_and_withdrawing_is_kept_in_an_append_only_history,
    a_withdrawal_reaches_the_users_other_devices_at_once,
    rest_and_websocket_share_one_ledger_and_it_is_per_user,
    bad_consent_commands_are_refused_and_change_nothing,
);
