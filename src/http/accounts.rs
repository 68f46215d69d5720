//! Accounts: codes and login, the caller's profile, password and sessions, phone change,
//! another user's profile and the seller/appraiser directory.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CodeRequest {
    phone: String,
}

/// POST /api/auth/code: sends a one-time login code.
pub(super) async fn request_code(
    auth: web::Data<Auth>,
    req: HttpRequest,
    body: Body<CodeRequest>,
) -> AppResult<HttpResponse> {
    let ip = auth.client_ip(&req);
    Ok(HttpResponse::Ok().json(auth.request_code(&body.0.phone, &ip).await?))
}

/// POST /api/auth/login: exchanges a code or password for a device token.
pub(super) async fn login(
    auth: web::Data<Auth>,
    req: HttpRequest,
    body: Body<LoginRequest>,
) -> AppResult<HttpResponse> {
    let ip = auth.client_ip(&req);
    Ok(HttpResponse::Ok().json(auth.login(body.0, &ip).await?))
}

/// POST /api/auth/logout: revokes this device's token and closes its sockets.
pub(super) async fn logout(auth: web::Data<Auth>, who: Authenticated) -> AppResult<HttpResponse> {
    auth.revoke_session(who.0.user_id, who.0.token_id).await?;
    Ok(HttpResponse::Ok().json(json!({ "revoked": true })))
}

/// GET /api/me: the caller's own account.
pub(super) async fn get_me(auth: web::Data<Auth>, who: Authenticated) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(auth.me(who.0.user_id).await?))
}

/// PATCH /api/me: edits nickname, avatar, gender, intro.
pub(super) async fn patch_me(
    auth: web::Data<Auth>,
    who: Authenticated,
    body: Body<ProfilePatch>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(auth.update_profile(&who.0, body.0).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordRequest {
    password: String,
    #[serde(default)]
    current_password: Option<String>,
}

/// POST /api/me/password: sets or changes the password.
pub(super) async fn set_password(
    auth: web::Data<Auth>,
    who: Authenticated,
    body: Body<PasswordRequest>,
) -> AppResult<HttpResponse> {
    let body = body.0;
    auth.set_password(who.0.user_id, body.password, body.current_password)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "password_set": true })))
}

/// GET /api/me/sessions: the caller's live device tokens.
pub(super) async fn list_sessions(
    auth: web::Data<Auth>,
    who: Authenticated,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(json!({ "sessions": auth.sessions(&who.0).await? })))
}

/// DELETE /api/me/sessions/{id}: revokes one device and closes its sockets.
pub(super) async fn revoke_session(
    auth: web::Data<Auth>,
    who: Authenticated,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    auth.revoke_session(who.0.user_id, path.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "revoked": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserQuery {
    /// Staff only: why they read this user's personal data (audited).
    #[serde(default)]
    reason: Option<String>,
}

/// GET /api/users/{id}?reason=: a public profile; with a reason, staff also see personal data.
pub(super) async fn get_user(
    auth: web::Data<Auth>,
    who: Authenticated,
    path: web::Path<i64>,
    query: web::Query<UserQuery>,
) -> AppResult<HttpResponse> {
    let user = auth
        .public_user(&who.0, path.into_inner(), query.reason.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(user))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PhoneChangeRequest {
    new_phone: String,
}

/// POST /api/me/phone/codes: codes to the current and the new number.
pub(super) async fn phone_change_codes(
    auth: web::Data<Auth>,
    who: Authenticated,
    req: HttpRequest,
    body: Body<PhoneChangeRequest>,
) -> AppResult<HttpResponse> {
    let ip = auth.client_ip(&req);
    let sent = auth
        .request_phone_change(who.0.user_id, &body.0.new_phone, &ip)
        .await?;
    Ok(HttpResponse::Ok().json(sent))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PhoneChangeConfirm {
    old_code: String,
    new_code: String,
}

/// POST /api/me/phone: both codes; the account moves to the new number.
pub(super) async fn confirm_phone_change(
    auth: web::Data<Auth>,
    who: Authenticated,
    body: Body<PhoneChangeConfirm>,
) -> AppResult<HttpResponse> {
    let me = auth
        .confirm_phone_change(who.0.user_id, &body.0.old_code, &body.0.new_code)
        .await?;
    Ok(HttpResponse::Ok().json(me))
}

#[derive(Deserialize)]
pub(super) struct DirectoryQuery {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    before_id: Option<i64>,
    #[serde(default)]
    limit: Option<i64>,
}

/// GET /api/users?role=seller: the directory of sellers or appraisers; with `q`, a search by
/// nickname (of sellers or appraisers only, with `role`).
pub(super) async fn directory(
    auth: web::Data<Auth>,
    who: Authenticated,
    query: web::Query<DirectoryQuery>,
) -> AppResult<HttpResponse> {
    let limit = query.limit.unwrap_or(50);
    if let Some(q) = &query.q {
        let (users, more) = auth
            .search(
                who.0.user_id,
                q,
                query.role.as_deref(),
                query.before_id,
                limit,
            )
            .await?;
        return Ok(HttpResponse::Ok().json(json!({ "users": users, "more": more })));
    }
    let Some(role) = &query.role else {
        return Err(AppError::field("role", "give a role or a search (q)"));
    };
    let users = auth.directory(role, limit).await?;
    Ok(HttpResponse::Ok().json(json!({ "users": users })))
}
