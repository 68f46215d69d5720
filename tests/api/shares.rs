//! Share codes (口令, #15, docs/feed.md "Share codes"): a code opens a post, a live room or a
//! profile for whoever may see it, until it expires or its creator revokes it; every other
//! case is one answer (`share_code_invalid`); guessing is rate-limited; codes join the
//! export and go with the account. On both stores.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, Store, TestApp, WsClient};

fn code(error: &Value) -> &str {
    error["code"].as_str().unwrap_or_default()
}

async fn share(ws: &mut WsClient, target: &str, id: i64) -> Value {
    ws.request_ok("share.create", json!({ "target": target, "id": id }))
        .await
}

async fn resolve_err(ws: &mut WsClient, text: &str) -> String {
    let e = ws
        .request_err("share.resolve", json!({ "code": text }))
        .await;
    code(&e).to_string()
}

async fn set_expiry(app: &TestApp, code: &str, at: i64) {
    // Time passing, without waiting for it: the code's end moved into the past.
    sqlx::query("UPDATE share_codes SET expires_at = $2 WHERE code = $1")
        .bind(code)
        .bind(at)
        .execute(&app.db)
        .await
        .expect("move the expiry");
}

async fn a_code_opens_a_post_for_those_who_may_see_it_until_revoked_or_expired(store: Store) {
    let mut app = spawn_app(store).await;
    let author = app.new_user().await;
    let reader = app.new_user().await;
    let blocked = app.new_user().await;
    let mut wa = app.ws(&author).await;
    let mut wr = app.ws(&reader).await;
    let mut wb = app.ws(&blocked).await;
    wa.request_ok("user.block", json!({ "user_id": blocked.id }))
        .await;

    let post = wa
        .request_ok(
            "post.create",
            json!({ "text": "新疆和田玉籽料手镯", "category": "nephrite" }),
        )
        .await["post"]
        .clone();
    let post_id = post["id"].as_i64().expect("id");
    assert_eq!(post["shares"], json!(0), "{post}");

    // Each user's share counts once, however many codes they make.
    let made = share(&mut wa, "post", post_id).await;
    let c = made["code"].as_str().expect("code").to_string();
    assert_eq!(c.len(), 10, "{made}");
    assert!(
        c.bytes()
            .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b)),
        "{c}"
    );
    assert_eq!(made["shares"], json!(1), "{made}");
    assert!(made["expires_at"].as_i64().expect("expiry") > 0);
    let again = share(&mut wa, "post", post_id).await;
    assert_ne!(again["code"], made["code"], "a fresh code each time");
    assert_eq!(again["shares"], json!(1), "the same user counts once");
    assert_eq!(share(&mut wr, "post", post_id).await["shares"], json!(2));
    let got = wr
        .request_ok("post.get", json!({ "post_id": post_id }))
        .await;
    assert_eq!(got["post"]["shares"], json!(2), "{got}");

    // However the code comes back: alone, lower case, spaced, inside the share sentence.
    for text in [
        c.clone(),
        c.to_lowercase(),
        format!(" {} {} ", &c[..5], &c[5..]),
        format!("【多些】新疆和田玉籽料手镯 ￥{c}￥ 复制这段话，打开多些查看"),
    ] {
        let opened = wr
            .request_ok("share.resolve", json!({ "code": text }))
            .await;
        assert_eq!(opened["target"], json!("post"), "{text}: {opened}");
        assert_eq!(opened["post"]["id"], json!(post_id), "{opened}");
    }
    // Someone the author blocks learns nothing from the code.
    assert_eq!(resolve_err(&mut wb, &c).await, "share_code_invalid");
    assert_eq!(
        resolve_err(&mut wr, "ZZZZZZZZZZ").await,
        "share_code_invalid",
        "an unknown code"
    );
    assert_eq!(resolve_err(&mut wr, "你好").await, "invalid_field");

    // A post still being screened has nothing to share.
    let held = wa
        .request_ok(
            "post.create",
            json!({ "text": "有意私聊，加微信 jade888", "category": "jade" }),
        )
        .await["post"]
        .clone();
    assert_eq!(held["status"], json!("screening"));
    let e = wa
        .request_err(
            "share.create",
            json!({ "target": "post", "id": held["id"] }),
        )
        .await;
    assert_eq!(code(&e), "not_found", "{e}");
    let e = wb
        .request_err("share.create", json!({ "target": "post", "id": post_id }))
        .await;
    assert_eq!(code(&e), "not_found", "a post one may not see: {e}");

    // Revoked by its creator only; then it opens nothing, and is off the creator's list.
    let mine = wa.request_ok("share.mine", json!({})).await;
    assert_eq!(mine["codes"].as_array().map(Vec::len), Some(2), "{mine}");
    assert_eq!(mine["codes"][0]["target"], json!("post"));
    assert_eq!(mine["codes"][0]["target_id"], json!(post_id));
    let e = wr.request_err("share.revoke", json!({ "code": c })).await;
    assert_eq!(code(&e), "share_code_invalid", "not the reader's code: {e}");
    let revoked = wa.request_ok("share.revoke", json!({ "code": c })).await;
    assert_eq!(revoked["revoked"], json!(true));
    assert_eq!(resolve_err(&mut wr, &c).await, "share_code_invalid");
    let mine = wa.request_ok("share.mine", json!({})).await;
    assert_eq!(mine["codes"].as_array().map(Vec::len), Some(1), "{mine}");

    // Expired: the same answer.
    let other = again["code"].as_str().expect("code").to_string();
    wr.request_ok("share.resolve", json!({ "code": other }))
        .await;
    set_expiry(&app, &other, 1).await;
    assert_eq!(resolve_err(&mut wr, &other).await, "share_code_invalid");

    // A deleted post: every code of it stops opening.
    let fresh = share(&mut wr, "post", post_id).await["code"]
        .as_str()
        .expect("code")
        .to_string();
    wa.request_ok("post.delete", json!({ "post_id": post_id }))
        .await;
    assert_eq!(resolve_err(&mut wa, &fresh).await, "share_code_invalid");

    // A minor without a guardian makes no codes.
    let child = crate::minors::register(&mut app, json!({ "age_bracket": "under_14" })).await;
    let mut wc = app.ws(&child).await;
    let e = wc
        .request_err(
            "share.create",
            json!({ "target": "profile", "id": author.id }),
        )
        .await;
    assert_eq!(code(&e), "guardian_required", "{e}");
}

async fn a_code_opens_a_room_or_a_profile_and_never_what_is_hidden(store: Store) {
    let mut app = spawn_app(store).await;
    let host = app.new_user().await;
    app.grant_role(host.id, "appraiser").await;
    let fan = app.new_user().await;
    let banned = app.new_user().await;
    let moderator = app.new_user().await;
    app.grant_role(moderator.id, "moderator").await;
    let mut wh = app.ws(&host).await;
    let mut wf = app.ws(&fan).await;
    let mut wx = app.ws(&banned).await;
    let mut wm = app.ws(&moderator).await;

    let room = wh
        .request_ok(
            "room.create",
            json!({ "title": "和田玉直播鉴定", "category": "nephrite" }),
        )
        .await["room"]["id"]
        .as_i64()
        .expect("room id");
    let room_code = share(&mut wf, "room", room).await;
    assert!(
        room_code.get("shares").is_none(),
        "only posts count shares: {room_code}"
    );
    let room_code = room_code["code"].as_str().expect("code").to_string();
    let opened = wx
        .request_ok("share.resolve", json!({ "code": room_code }))
        .await;
    assert_eq!(opened["target"], json!("room"), "{opened}");
    assert_eq!(opened["room"]["id"], json!(room));
    assert_eq!(opened["room"]["title"], json!("和田玉直播鉴定"));
    assert_eq!(opened["room"]["host"]["id"], json!(host.id));

    // Banned by the host: the room's code opens nothing for them.
    wh.request_ok(
        "room.ban",
        json!({ "room_id": room, "user_id": banned.id, "reason": "多次刷屏" }),
    )
    .await;
    assert_eq!(resolve_err(&mut wx, &room_code).await, "share_code_invalid");

    // The profile: nickname and counts, for those neither blocks.
    let profile_code = share(&mut wf, "profile", host.id).await["code"]
        .as_str()
        .expect("code")
        .to_string();
    let opened = wm
        .request_ok("share.resolve", json!({ "code": profile_code }))
        .await;
    assert_eq!(opened["target"], json!("profile"), "{opened}");
    assert_eq!(opened["user"]["id"], json!(host.id), "{opened}");
    assert!(opened["user"]["nickname"].is_string(), "{opened}");
    assert_eq!(opened["profile"]["followers"], json!(0));
    wx.request_ok("user.block", json!({ "user_id": host.id }))
        .await;
    assert_eq!(
        resolve_err(&mut wx, &profile_code).await,
        "share_code_invalid",
        "blocking the host hides their profile"
    );
    let e = wx
        .request_err(
            "share.create",
            json!({ "target": "profile", "id": host.id }),
        )
        .await;
    assert_eq!(code(&e), "not_found", "{e}");

    // A room a moderator hides: its codes open nothing (its host still sees it).
    wm.request_ok(
        "room.moderate",
        json!({ "room_id": room, "action": "hide", "reason": "违规内容" }),
    )
    .await;
    assert_eq!(resolve_err(&mut wf, &room_code).await, "share_code_invalid");
    let own = wh
        .request_ok("share.resolve", json!({ "code": room_code }))
        .await;
    assert_eq!(own["room"]["id"], json!(room));

    // An unknown target kind or id is a clear error.
    let e = wf
        .request_err("share.create", json!({ "target": "listing", "id": 1 }))
        .await;
    assert_eq!(code(&e), "invalid_field", "{e}");
    let e = wf
        .request_err("share.create", json!({ "target": "room", "id": 999_999 }))
        .await;
    assert_eq!(code(&e), "not_found", "{e}");
}

async fn guessing_codes_is_rate_limited_and_codes_follow_the_account(store: Store) {
    let mut app = spawn_app_with(store, |s| {
        s.share.resolves_per_minute = 3;
        s.share.codes_per_hour = 2;
    })
    .await;
    let user = app.new_user().await;
    let other = app.new_user().await;
    let mut wu = app.ws(&user).await;
    let mut wo = app.ws(&other).await;
    for guess in ["AAAAAAAAAA", "BBBBBBBBBB", "CCCCCCCCCC"] {
        assert_eq!(resolve_err(&mut wu, guess).await, "share_code_invalid");
    }
    let limited = wu
        .request_err("share.resolve", json!({ "code": "DDDDDDDDDD" }))
        .await;
    assert_eq!(code(&limited), "rate_limited", "{limited}");
    assert!(limited["retry_after_ms"].as_u64().is_some(), "{limited}");

    let first = share(&mut wu, "profile", other.id).await["code"]
        .as_str()
        .expect("code")
        .to_string();
    share(&mut wu, "profile", other.id).await;
    let e = wu
        .request_err(
            "share.create",
            json!({ "target": "profile", "id": other.id }),
        )
        .await;
    assert_eq!(code(&e), "rate_limited", "{e}");
    // A refused code shares nothing: the post's count stays.
    let post = wo
        .request_ok(
            "post.create",
            json!({ "text": "南红玛瑙手串", "category": "other" }),
        )
        .await["post"]
        .clone();
    let refused = wu
        .request_err(
            "share.create",
            json!({ "target": "post", "id": post["id"] }),
        )
        .await;
    assert_eq!(code(&refused), "rate_limited", "{refused}");
    let after = wo
        .request_ok("post.get", json!({ "post_id": post["id"] }))
        .await;
    assert_eq!(after["post"]["shares"], json!(0), "{after}");

    let export = app
        .get("/api/me/export", Some(&user.token))
        .await
        .ok("export");
    let codes = export["sections"]["shares"]["share_codes"]
        .as_array()
        .unwrap_or_else(|| panic!("share codes in the export: {export}"));
    assert_eq!(codes.len(), 2, "{export}");
    assert!(codes.iter().any(|c| c["code"] == json!(first)), "{codes:?}");

    // The account goes, its codes with it.
    let mut conn = app.db.acquire().await.expect("a connection");
    use duoxie::rights::DataDomain;
    duoxie::share::rights::ShareRights
        .erase(&mut conn, user.id)
        .await
        .expect("erase");
    drop(conn);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM share_codes WHERE creator_id = $1")
        .bind(user.id)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(left, 0);
    assert_eq!(resolve_err(&mut wo, &first).await, "share_code_invalid");
}

store_tests!(
    a_code_opens_a_post_for_those_who_may_see_it_until_revoked_or_expired,
    a_code_opens_a_room_or_a_profile_and_never_what_is_hidden,
    guessing_codes_is_rate_limited_and_codes_follow_the_account,
);
