//! The consent ledger: grants and withdrawals over WebSocket and REST, the history that keeps
//! every change, the event that makes a withdrawal take effect on every device, and refusals.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, Failures, Store};

/// The history without the two documents every registration accepts (`privacy_policy`,
/// `user_agreement`, see `legal.rs`): what these tests granted and withdrew.
fn permission_history(state: &Value) -> Vec<Value> {
    state["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|r| {
            !matches!(
                r["permission"].as_str(),
                Some("privacy_policy" | "user_agreement")
            )
        })
        .cloned()
        .collect()
}

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
        Some(10),
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
    let history: Vec<(Value, Value)> = permission_history(&state)
        .iter()
        .map(|r| (r["permission"].clone(), r["granted"].clone()))
        .collect();
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
    assert_eq!(permission_history(&theirs), Vec::<Value>::new(), "{theirs}");
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
    assert_eq!(
        permission_history(&state),
        Vec::<Value>::new(),
        "nothing was recorded: {state}"
    );
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

fn b64url(part: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_else(|e| panic!("base64url {part:?}: {e}"))
}

/// Verifies a receipt the way a third party would: with nothing but the published JWK.
fn verifies_offline(jwks: &Value, jws: &str) -> bool {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    let x: [u8; 32] = b64url(jwks["keys"][0]["x"].as_str().expect("x"))
        .try_into()
        .expect("a 32-byte Ed25519 key");
    let key = VerifyingKey::from_bytes(&x).expect("a valid public key");
    let Some((signed, signature)) = jws.rsplit_once('.') else {
        return false;
    };
    let Ok(signature) = Signature::from_slice(&b64url(signature)) else {
        return false;
    };
    key.verify(signed.as_bytes(), &signature).is_ok()
}

fn with_claims(jws: &str, edit: impl FnOnce(&mut Value)) -> String {
    use base64::Engine;
    let parts: Vec<&str> = jws.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&b64url(parts[1])).expect("claims JSON");
    edit(&mut claims);
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims).expect("json"));
    format!("{}.{encoded}.{}", parts[0], parts[2])
}

async fn every_change_returns_a_receipt_that_verifies_with_the_published_key(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let other = app.new_user().await;
    let jwks = app.get("/api/consent/keys", None).await.ok("public keys");
    assert_eq!(
        (&jwks["keys"][0]["kty"], &jwks["keys"][0]["crv"]),
        (&json!("OKP"), &json!("Ed25519")),
        "{jwks}"
    );

    let granted = app
        .post(
            "/api/me/consents",
            Some(&user.token),
            &json!({ "permission": "camera", "granted": true, "device": "phone" }),
        )
        .await
        .ok("grant camera");
    let receipt = &granted["record"]["receipt"];
    let jws = receipt["jws"].as_str().expect("a signed receipt");
    assert!(
        verifies_offline(&jwks, jws),
        "signature verifies: {receipt}"
    );
    let claims = &receipt["claims"];
    for (field, want) in [
        ("subject", json!(user.id)),
        ("permission", json!("camera")),
        ("action", json!("granted")),
        ("policy_version", json!("1")),
        ("actor", json!("user")),
        ("device", json!("phone")),
        ("jurisdiction", json!("CN")),
    ] {
        assert_eq!(claims[field], want, "{field}: {claims}");
    }
    for field in ["receipt_id", "purpose", "method"] {
        assert!(
            claims[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field}: {claims}"
        );
    }
    assert!(claims["controller"]["name"].is_string(), "{claims}");

    let verdict = app
        .post(
            "/api/consent/receipts/verify",
            Some(&user.token),
            &json!({ "receipt": jws }),
        )
        .await
        .ok("verify");
    assert_eq!(
        (&verdict["authentic"], &verdict["current"]),
        (&json!(true), &json!(true)),
        "{verdict}"
    );

    // Tampered: the claims say "withdrawn" now; offline and server checks both refuse.
    let tampered = with_claims(jws, |c| c["action"] = json!("withdrawn"));
    assert!(!verifies_offline(&jwks, &tampered));
    let mut failures = Failures::default();
    let cases = [
        ("tampered claims", tampered, "invalid_receipt"),
        (
            "another subject",
            with_claims(jws, |c| c["subject"] = json!(other.id)),
            "invalid_receipt",
        ),
        ("not a receipt", "hello".to_string(), "invalid_receipt"),
        ("four parts", format!("{jws}.x"), "invalid_receipt"),
        (
            "signature cut",
            jws[..jws.len() - 4].to_string(),
            "invalid_receipt",
        ),
    ];
    for (case, receipt, code) in cases {
        let got = app
            .post(
                "/api/consent/receipts/verify",
                Some(&user.token),
                &json!({ "receipt": receipt }),
            )
            .await;
        failures.check(case, code, got.code(), &got);
    }
    // A genuine receipt, but about someone else: not theirs to query.
    let theirs = app
        .post(
            "/api/consent/receipts/verify",
            Some(&other.token),
            &json!({ "receipt": jws }),
        )
        .await;
    failures.check(
        "someone else's receipt",
        "forbidden",
        theirs.code(),
        &theirs,
    );
    let anonymous = app
        .post(
            "/api/consent/receipts/verify",
            None,
            &json!({ "receipt": jws }),
        )
        .await;
    failures.check("no token", "unauthorized", anonymous.code(), &anonymous);
    failures.assert_none("receipt verification");
}

async fn a_replayed_receipt_is_authentic_but_no_longer_current(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user).await;
    let first = ws
        .request_ok("consent.grant", json!({ "permission": "microphone" }))
        .await;
    let first_jws = first["record"]["receipt"]["jws"].clone();
    let withdrawn = ws
        .request_ok("consent.withdraw", json!({ "permission": "microphone" }))
        .await;
    assert_eq!(
        withdrawn["record"]["receipt"]["claims"]["action"],
        json!("withdrawn"),
        "{withdrawn}"
    );
    let again = ws
        .request_ok("consent.grant", json!({ "permission": "microphone" }))
        .await;

    let replay = ws
        .request_ok("consent.verify_receipt", json!({ "receipt": first_jws }))
        .await;
    assert_eq!(
        (&replay["authentic"], &replay["current"]),
        (&json!(true), &json!(false)),
        "an old grant shown again proves the past, not the present: {replay}"
    );
    let latest = ws
        .request_ok(
            "consent.verify_receipt",
            json!({ "receipt": again["record"]["receipt"]["jws"] }),
        )
        .await;
    assert_eq!(latest["current"], json!(true), "{latest}");
    // Replaying the old grant did not grant anything either.
    ws.request_ok("consent.withdraw", json!({ "permission": "microphone" }))
        .await;
    let check = ws
        .request_ok("consent.check", json!({ "feature": "live_connect" }))
        .await;
    assert_eq!(check["allowed"], json!(false), "{check}");

    // The history carries every row's receipt, the very same bytes as when it was issued.
    let state = app
        .get("/api/me/consents", Some(&user.token))
        .await
        .ok("history");
    let history = permission_history(&state);
    assert_eq!(history.len(), 4, "{state}");
    assert_eq!(history[0]["receipt"]["jws"], first_jws, "{state}");
    assert!(
        history.iter().all(|r| r["receipt"]["jws"].is_string()),
        "{state}"
    );
}

async fn a_newly_published_policy_version_reaches_connected_clients_at_once(store: Store) {
    let mut app = spawn_app_with(store, |s| s.policy_poll_ms = 20).await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user).await;
    ws.request_ok("consent.grant", json!({ "permission": "camera" }))
        .await;
    let check = json!({ "feature": "chat_photo", "source": "camera" });
    let allowed = ws.request_ok("consent.check", check.clone()).await;
    assert_eq!(allowed["allowed"], json!(true), "{allowed}");

    let in_force = duoxie::consent::publish_policy_version(&app.db, "2")
        .await
        .unwrap_or_else(|e| panic!("publish: {}", e.message));
    assert_eq!(in_force, "2");
    let announced = ws.next_event("consent.policy_changed").await;
    assert_eq!(
        announced["data"]["policy_version"],
        json!("2"),
        "{announced}"
    );
    let refused = ws.request_ok("consent.check", check.clone()).await;
    assert_eq!(
        refused["allowed"],
        json!(false),
        "grants under 1 no longer count"
    );
    ws.request_ok("consent.grant", json!({ "permission": "camera" }))
        .await;
    let allowed = ws.request_ok("consent.check", check).await;
    assert_eq!(allowed["allowed"], json!(true), "accepted again under 2");

    // A node restarted with the old setting does not bring the old version back.
    let still = duoxie::consent::publish_policy_version(&app.db, "1")
        .await
        .unwrap_or_else(|e| panic!("publish: {}", e.message));
    assert_eq!(still, "2");
    let mut raw = app.ws_raw().await;
    raw.request_ok("auth", json!({ "token": user.token })).await;
    let ready = raw.next_event("session.ready").await;
    assert_eq!(ready["data"]["policy_version"], json!("2"), "{ready}");
}

/// `duoxie admin …` against the server's own data folder and database: accounts are found by
/// the keyed hash of the number, and a published policy version reaches connected clients.
async fn the_admin_cli_finds_accounts_by_phone_and_publishes_policy_versions(store: Store) {
    let database_url = match &store {
        Store::Sqlite => None,
        Store::Postgres(url) => Some(url.clone()),
    };
    let mut app = spawn_app_with(store, |s| s.policy_poll_ms = 20).await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user).await;
    let data_dir = app.data_dir().to_path_buf();
    let admin = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_duoxie"));
        command.arg("admin").args(args);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("DUOXIE_") || key == "DATABASE_URL" || key == "REDIS_URL" {
                command.env_remove(key.as_ref());
            }
        }
        command.env("DUOXIE_DATA_DIR", &data_dir);
        if let Some(url) = &database_url {
            command.env("DATABASE_URL", url);
        }
        let out = command.output().expect("run duoxie admin");
        assert!(
            out.status.success(),
            "duoxie admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let said = admin(&["grant-role", "--phone", &user.phone, "--role", "seller"]);
    assert!(said.contains(&format!("user {}", user.id)), "{said}");
    assert!(
        !said.contains(&user.phone),
        "the CLI masks the number too: {said}"
    );
    let again = app.login_again(&user).await;
    let me = app.get("/api/me", Some(&again.token)).await.ok("me");
    assert!(me["roles"].to_string().contains("seller"), "{me}");

    let said = admin(&["publish-policy", "--version", "2026-12"]);
    assert!(said.contains("2026-12"), "{said}");
    let announced = ws.next_event("consent.policy_changed").await;
    assert_eq!(announced["data"]["policy_version"], json!("2026-12"));
}

store_tests!(
    a_newly_published_policy_version_reaches_connected_clients_at_once,
    the_admin_cli_finds_accounts_by_phone_and_publishes_policy_versions,
    every_change_returns_a_receipt_that_verifies_with_the_published_key,
    a_replayed_receipt_is_authentic_but_no_longer_current,
    a_new_policy_version_must_be_accepted_before_gated_features_work,
    a_feature_check_names_exactly_the_missing_permissions,
    granting_and_withdrawing_is_kept_in_an_append_only_history,
    a_withdrawal_reaches_the_users_other_devices_at_once,
    rest_and_websocket_share_one_ledger_and_it_is_per_user,
    bad_consent_commands_are_refused_and_change_nothing,
);
