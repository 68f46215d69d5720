//! Appraisal verdicts (鉴定结果, #14, docs/live.md "Verdicts"): issued by the call's appraiser
//! only, signed and verifiable offline with the published key, public by number without the
//! buyer, corrected by new versions, kept de-identified after the buyer's account goes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Store, TestApp, TestUser, WsClient};

fn code(error: &Value) -> &str {
    error["code"].as_str().unwrap_or_default()
}

async fn with_av(app: &mut TestApp) -> TestUser {
    let user = app.new_user().await;
    app.grant_consents(&user, &["camera", "microphone"]).await;
    user
}

/// A room, a buyer called and answered, then hung up: (host socket, buyer socket, call id).
async fn a_finished_call(
    app: &mut TestApp,
    host: &TestUser,
    buyer: &TestUser,
) -> (WsClient, WsClient, i64) {
    let mut wh = app.ws(host).await;
    let mut wb = app.ws(buyer).await;
    let room = wh
        .request_ok(
            "room.create",
            json!({ "title": "翡翠连线鉴定", "category": "jade" }),
        )
        .await["room"]["id"]
        .as_i64()
        .expect("room");
    wh.request_ok("room.start", json!({ "room_id": room }))
        .await;
    wb.request_ok(
        "room.queue.join",
        json!({ "room_id": room, "description": "翡翠手镯，想看种水" }),
    )
    .await;
    let side = wh.request_ok("room.call", json!({ "room_id": room })).await;
    let call = side["call"]["id"].as_i64().expect("call");
    wb.next_event("room.call.ringing").await;
    wb.request_ok("room.call.answer", json!({ "call_id": call }))
        .await;
    wh.request_ok("rtc.hangup", json!({ "call_id": call }))
        .await;
    (wh, wb, call)
}

fn fields(call: i64) -> Value {
    json!({ "call_id": call, "item_type": "手镯", "material": "翡翠", "conclusion": "natural",
            "grade": "冰种", "notes": "种水好，无明显纹裂", "price_low": 8000, "price_high": 12000 })
}

/// Verifies a compact JWS with the JWK set the server publishes, as anyone could offline.
fn verifies_offline(jws: &str, jwks: &Value) -> Value {
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3, "{jws}");
    let header: Value =
        serde_json::from_slice(&B64URL.decode(parts[0]).expect("header b64")).expect("header");
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the signing key is published");
    let x: [u8; 32] = B64URL
        .decode(key["x"].as_str().expect("x"))
        .expect("x b64")
        .try_into()
        .expect("32 bytes");
    let signature = Signature::from_slice(&B64URL.decode(parts[2]).expect("sig b64")).expect("sig");
    VerifyingKey::from_bytes(&x)
        .expect("key")
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the signature verifies with the published key");
    serde_json::from_slice(&B64URL.decode(parts[1]).expect("claims b64")).expect("claims")
}

async fn a_verdict_is_issued_by_the_appraiser_signed_public_and_corrected(store: Store) {
    let mut app = spawn_app(store).await;
    let host = with_av(&mut app).await;
    app.grant_role(host.id, "appraiser").await;
    let buyer = with_av(&mut app).await;
    let stranger = app.new_user().await;
    let (mut wh, mut wb, call) = a_finished_call(&mut app, &host, &buyer).await;
    let mut wx = app.ws(&stranger).await;

    // Only the call's appraiser, with well-formed fields.
    for (ws, who) in [(&mut wb, "the buyer"), (&mut wx, "a stranger")] {
        let refused = ws.request_err("verdict.issue", fields(call)).await;
        assert_eq!(code(&refused), "forbidden", "{who}: {refused}");
    }
    let mut bad = fields(call);
    bad["conclusion"] = json!("probably fine");
    assert_eq!(
        code(&wh.request_err("verdict.issue", bad).await),
        "invalid_field"
    );
    let mut bad = fields(call);
    bad["price_low"] = json!(20000);
    assert_eq!(
        code(&wh.request_err("verdict.issue", bad).await),
        "invalid_field"
    );
    let mut bad = fields(call);
    bad["notes"] = json!("加微信 jade888 私下交易");
    assert_eq!(
        code(&wh.request_err("verdict.issue", bad).await),
        "content_rejected"
    );
    let mut bad = fields(call);
    bad["snapshots"] = json!(["m_not_mine"]);
    assert_eq!(
        code(&wh.request_err("verdict.issue", bad).await),
        "invalid_field"
    );

    // A snapshot the appraiser took (their own screened upload), with the buyer's camera on.
    let snapshot = app
        .upload(
            &host.token,
            "purpose=post_photo&source=camera",
            "image/png",
            crate::media::png(64, 48),
        )
        .await
        .ok("snapshot upload");
    assert_eq!(snapshot["status"], json!("approved"), "{snapshot}");
    let mut with_snapshot = fields(call);
    with_snapshot["snapshots"] = json!([snapshot["id"]]);
    let issued = wh.request_ok("verdict.issue", with_snapshot).await["verdict"].clone();
    let number = issued["number"].as_str().expect("number").to_string();
    assert!(number.starts_with("DX") && number.len() == 14, "{issued}");
    assert_eq!(issued["version"], json!(1));
    assert!(
        issued["basis"]
            .as_str()
            .is_some_and(|b| b.contains("GB/T 16553") && b.contains("非实验室")),
        "it says what it is not: {issued}"
    );
    let told = wb.next_event("verdict.issued").await;
    assert_eq!(told["data"]["verdict"]["number"], json!(number));
    let twice = wh.request_err("verdict.issue", fields(call)).await;
    assert_eq!(code(&twice), "conflict", "one verdict per call: {twice}");

    // Offline: the JWS verifies with the published key and names no buyer.
    let jwks = app.get("/api/consent/keys", None).await.ok("keys");
    let jws = issued["jws"].as_str().expect("jws").to_string();
    let claims = verifies_offline(&jws, &jwks);
    assert_eq!(claims["number"], json!(number));
    assert_eq!(claims["conclusion"], json!("natural"));
    assert_eq!(claims["typ"], json!("duoxie-verdict/1"));
    for who in ["buyer", "buyer_id", "subject"] {
        assert!(
            claims.get(who).is_none(),
            "no buyer in the signed claims: {claims}"
        );
    }

    // In public, by number: the item, the conclusion, the appraiser's name and the date only.
    let public = app
        .get(&format!("/api/verdicts/{number}"), None)
        .await
        .ok("public view");
    assert_eq!(public["item_type"], json!("手镯"));
    assert_eq!(public["conclusion"], json!("natural"));
    assert!(
        public["appraiser"].is_string() && public["issued_at"].is_i64(),
        "{public}"
    );
    for hidden in ["buyer", "notes", "price_low", "grade", "snapshots", "jws"] {
        assert!(
            public.get(hidden).is_none(),
            "{hidden} is not public: {public}"
        );
    }
    let unknown = app.get("/api/verdicts/DX000000000000", None).await;
    assert_eq!(unknown.status, 404);
    let verified = app
        .post("/api/verdicts/verify", None, &json!({ "jws": jws }))
        .await
        .ok("verify");
    assert_eq!(
        (verified["authentic"].clone(), verified["current"].clone()),
        (json!(true), json!(true))
    );
    let mut tampered_claims = claims.clone();
    tampered_claims["conclusion"] = json!("imitation");
    let parts: Vec<&str> = jws.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64URL.encode(tampered_claims.to_string()),
        parts[2]
    );
    let refused = app
        .post("/api/verdicts/verify", None, &json!({ "jws": tampered }))
        .await;
    refused.assert_error(400, "invalid_receipt", "an altered verdict");

    // The parties read every version; others do not.
    let mine = wb.request_ok("verdict.mine", json!({})).await;
    assert_eq!(mine["verdicts"][0]["number"], json!(number), "{mine}");
    assert_eq!(mine["verdicts"][0]["buyer"]["id"], json!(buyer.id));
    let not_theirs = wx
        .request_err("verdict.get", json!({ "number": number }))
        .await;
    assert_eq!(code(&not_theirs), "not_found");

    // A correction is a new version; the old one stays, authentic but no longer current.
    let mut corrected = fields(call);
    corrected.as_object_mut().expect("object").remove("call_id");
    corrected["number"] = json!(number);
    corrected["conclusion"] = json!("treated");
    let no_reason = wh.request_err("verdict.correct", corrected.clone()).await;
    assert_eq!(code(&no_reason), "invalid_field", "{no_reason}");
    corrected["correction"] = json!("复看视频，有充胶迹象");
    let by_buyer = wb.request_err("verdict.correct", corrected.clone()).await;
    assert_eq!(code(&by_buyer), "forbidden");
    let v2 = wh.request_ok("verdict.correct", corrected).await["verdict"].clone();
    assert_eq!(v2["version"], json!(2));
    let versions = wb
        .request_ok("verdict.get", json!({ "number": number }))
        .await;
    assert_eq!(
        versions["verdicts"].as_array().map(Vec::len),
        Some(2),
        "{versions}"
    );
    assert!(versions["verdicts"][0]["superseded_at"].is_i64());
    assert_eq!(
        versions["verdicts"][0]["conclusion"],
        json!("natural"),
        "the old version stays"
    );
    let old = app
        .post("/api/verdicts/verify", None, &json!({ "jws": jws }))
        .await
        .ok("verify the old version");
    assert_eq!(
        (old["authentic"].clone(), old["current"].clone()),
        (json!(true), json!(false))
    );
    let public = app
        .get(&format!("/api/verdicts/{number}"), None)
        .await
        .ok("public");
    assert_eq!(
        (public["version"].clone(), public["conclusion"].clone()),
        (json!(2), json!("treated"))
    );
}

async fn a_verdict_needs_a_connected_call_within_its_window(store: Store) {
    let mut app = spawn_app(store).await;
    let host = with_av(&mut app).await;
    app.grant_role(host.id, "appraiser").await;
    let buyer = with_av(&mut app).await;
    let (mut wh, mut wb, call) = a_finished_call(&mut app, &host, &buyer).await;

    // A call the buyer declined was never connected: nothing was appraised.
    let room: i64 = sqlx::query_scalar("SELECT room_id FROM live_calls WHERE id = $1")
        .bind(call)
        .fetch_one(&app.db)
        .await
        .expect("room");
    wb.request_ok(
        "room.queue.join",
        json!({ "room_id": room, "description": "第二件" }),
    )
    .await;
    let declined = wh.request_ok("room.call", json!({ "room_id": room })).await["call"]["id"]
        .as_i64()
        .expect("call");
    wb.next_event("room.call.ringing").await;
    wb.request_ok("room.call.decline", json!({ "call_id": declined }))
        .await;
    let never = wh.request_err("verdict.issue", fields(declined)).await;
    assert_eq!(code(&never), "conflict", "{never}");

    // Past DUOXIE_LIVE_VERDICT_WINDOW_MS (24 h) after the call ended.
    sqlx::query("UPDATE live_calls SET ended_at = ended_at - 90000000 WHERE id = $1")
        .bind(call)
        .execute(&app.db)
        .await
        .expect("age the call");
    let late = wh.request_err("verdict.issue", fields(call)).await;
    assert_eq!(code(&late), "conflict", "{late}");
}

async fn verdicts_stay_deidentified_for_the_legal_period_after_the_buyer_goes(store: Store) {
    let mut app = spawn_app(store).await;
    let host = with_av(&mut app).await;
    app.grant_role(host.id, "appraiser").await;
    let buyer = with_av(&mut app).await;
    let (mut wh, _wb, call) = a_finished_call(&mut app, &host, &buyer).await;
    let issued = wh.request_ok("verdict.issue", fields(call)).await["verdict"].clone();
    let number = issued["number"].as_str().expect("number").to_string();
    let export = app
        .get("/api/me/export", Some(&buyer.token))
        .await
        .ok("export");
    assert_eq!(
        export["sections"]["live"]["verdicts"][0]["number"],
        json!(number),
        "{export}"
    );

    use duoxie::rights::{DataDomain, Retention};
    let mut conn = app.db.acquire().await.expect("a connection");
    duoxie::live::rights::LiveRights
        .erase(&mut conn, buyer.id)
        .await
        .expect("erase");
    drop(conn);
    let kept: (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT buyer_id, deidentified_at FROM live_verdicts WHERE number = $1")
            .bind(&number)
            .fetch_one(&app.db)
            .await
            .expect("the verdict stays");
    assert_eq!(kept.0, None, "de-identified");
    let since = kept.1.expect("the retention clock started");
    let public = app
        .get(&format!("/api/verdicts/{number}"), None)
        .await
        .ok("still public");
    assert_eq!(public["number"], json!(number));
    let verified = app
        .post(
            "/api/verdicts/verify",
            None,
            &json!({ "jws": issued["jws"] }),
        )
        .await
        .ok("the buyer's copy still verifies");
    assert_eq!(verified["authentic"], json!(true));

    let run = |legal_cutoff: i64| Retention {
        now: legal_cutoff,
        log_cutoff: 0,
        appeal_cutoff: 0,
        guardian_cutoff: 0,
        legal_cutoff,
        batch: 100,
    };
    let within = duoxie::live::rights::LiveRights
        .expire(&app.db, &run(since))
        .await
        .expect("expire");
    assert_eq!(
        within.purged,
        vec![("deidentified_verdicts", 0)],
        "within the period"
    );
    let after = duoxie::live::rights::LiveRights
        .expire(&app.db, &run(since + 1))
        .await
        .expect("expire");
    assert_eq!(after.purged, vec![("deidentified_verdicts", 1)], "after it");
    let gone = app.get(&format!("/api/verdicts/{number}"), None).await;
    assert_eq!(gone.status, 404);
}

store_tests!(
    a_verdict_is_issued_by_the_appraiser_signed_public_and_corrected,
    a_verdict_needs_a_connected_call_within_its_window,
    verdicts_stay_deidentified_for_the_legal_period_after_the_buyer_goes,
);
