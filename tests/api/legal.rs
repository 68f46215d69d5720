//! The user agreement and the privacy policy (#12): published per version, readable without
//! an account, accepted by every code login (which registers new accounts) and recorded in
//! the consent ledger under the version, asked again when a new version is published.

use serde_json::{json, Value};

use crate::helpers::{random_phone, spawn_app, Store, TestApp, ADULT_BIRTH_DATE};

async fn code_login(
    app: &TestApp,
    phone: &str,
    code: &str,
    accepted: Option<&str>,
) -> crate::helpers::Response {
    let mut body = json!({ "phone": phone, "code": code, "birth_date": ADULT_BIRTH_DATE });
    if let Some(version) = accepted {
        body["accepted_policy_version"] = json!(version);
    }
    app.post("/api/auth/login", None, &body).await
}

async fn both_documents_are_readable_without_an_account(store: Store) {
    let app = spawn_app(store).await;
    let policy = app
        .get("/api/legal/privacy_policy", None)
        .await
        .ok("the privacy policy");
    assert_eq!(
        (&policy["document"], &policy["version"], &policy["title"]),
        (
            &json!("privacy_policy"),
            &json!("1"),
            &json!("多些隐私政策")
        ),
        "{policy}"
    );
    let text = policy["text"].as_str().expect("text");
    assert!(
        text.contains("隐私") && text.chars().count() > 1000,
        "the policy's text"
    );
    let agreement = app
        .get("/api/legal/user_agreement?version=1", None)
        .await
        .ok("the user agreement");
    assert!(
        agreement["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("多些用户协议")),
        "{agreement}"
    );
    app.get("/api/legal/camera", None)
        .await
        .assert_error(404, "not_found", "not a document");
    app.get("/api/legal/user_agreement?version=9", None)
        .await
        .assert_error(404, "not_found", "a version this server does not ship");
}

async fn a_code_login_accepts_both_documents_under_the_version_in_force(store: Store) {
    let app = spawn_app(store).await;
    let phone = random_phone();
    let code = app.request_code(&phone).await;
    for (accepted, why) in [(None, "no acceptance"), (Some("0"), "another version")] {
        code_login(&app, &phone, &code, accepted)
            .await
            .assert_error(403, "policy_not_accepted", why);
    }
    let login = code_login(&app, &phone, &code, Some("1"))
        .await
        .ok("the same code, the documents accepted: it was not spent");
    let token = login["token"].as_str().expect("token").to_owned();
    let state = app
        .get("/api/me/consents", Some(&token))
        .await
        .ok("consents");
    for document in ["privacy_policy", "user_agreement"] {
        let current = state["current"]
            .as_array()
            .expect("current")
            .iter()
            .find(|c| c["permission"] == json!(document))
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(
            (&current["granted"], &current["policy_version"]),
            (&json!(true), &json!("1")),
            "{document}: {state}"
        );
        let record = state["history"]
            .as_array()
            .expect("history")
            .iter()
            .find(|r| r["permission"] == json!(document))
            .cloned()
            .unwrap_or(Value::Null);
        assert!(
            record["receipt"]["jws"].is_string(),
            "a signed receipt for {document}: {record}"
        );
    }
    // An acceptance is ended by deleting the account, not withdrawn.
    app.post(
        "/api/me/consents",
        Some(&token),
        &json!({ "permission": "privacy_policy", "granted": false }),
    )
    .await
    .assert_error(400, "invalid_field", "withdrawing the privacy policy");
    // A password login asks nothing new.
    app.post(
        "/api/me/password",
        Some(&token),
        &json!({ "password": "a long enough one 1" }),
    )
    .await
    .ok("set a password");
    app.post(
        "/api/auth/login",
        None,
        &json!({ "phone": phone, "password": "a long enough one 1" }),
    )
    .await
    .ok("a password login");
}

async fn a_new_policy_version_is_accepted_again(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    duoxie::consent::publish_policy_version(&app.db, "2")
        .await
        .expect("publish version 2");
    let code = app.request_code(&user.phone).await;
    code_login(&app, &user.phone, &code, Some("1"))
        .await
        .assert_error(
            403,
            "policy_not_accepted",
            "the old version after a new one",
        );
    code_login(&app, &user.phone, &code, Some("2"))
        .await
        .ok("version 2 accepted");
    let versions: Vec<String> = sqlx::query_scalar(
        "SELECT policy_version FROM consent_events WHERE user_id = $1 \
         AND permission = 'user_agreement' ORDER BY id",
    )
    .bind(user.id)
    .fetch_all(&app.db)
    .await
    .expect("the ledger");
    assert_eq!(versions, vec!["1".to_string(), "2".to_string()]);
}

store_tests!(
    both_documents_are_readable_without_an_account,
    a_code_login_accepts_both_documents_under_the_version_in_force,
    a_new_policy_version_is_accepted_again,
);
