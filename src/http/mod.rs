//! Thin REST routes and the static web client. Handlers only translate between HTTP and the
//! domain services: no SQL and no rules here.

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::extractor::Authenticated;
use crate::auth::{Auth, LoginRequest, ProfilePatch};
use crate::bus::redis::RedisBus;
use crate::consent::messages::{Grant, ListConsents, VerifyReceipt, Withdraw};
use crate::consent::receipt::ReceiptSigner;
use crate::consent::ConsentServer;
use crate::domain::As;
use crate::error::{parse_value, AppError, AppResult, ErrorCode};
use crate::media::{Media, UploadQuery};
use crate::minors::{AgeDeclaration, Minors};
use crate::privacy::Privacy;
use crate::store::{self, Backend, Db};
use actix::Addr;
use std::sync::Arc;

/// Largest accepted REST body; everything here is small JSON.
const JSON_LIMIT_BYTES: usize = 64 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(JSON_LIMIT_BYTES)
            .error_handler(|err, _| json_error(&err).into()),
    )
    // A path that does not parse (`/api/users/abc`) names nothing that exists; the
    // deserialiser's words stay out of the answer.
    .app_data(
        web::PathConfig::default().error_handler(|_, _| AppError::not_found("resource").into()),
    )
    .app_data(web::QueryConfig::default().error_handler(|err, _| query_error(&err).into()))
    .route("/healthz", web::get().to(healthz))
    .route("/readyz", web::get().to(readyz))
    .route("/metrics", web::get().to(metrics))
    .route("/api/auth/code", web::post().to(request_code))
    .route("/api/auth/login", web::post().to(login))
    .route("/api/auth/logout", web::post().to(logout))
    .route("/api/me", web::get().to(get_me))
    .route("/api/me", web::patch().to(patch_me))
    .route("/api/me/password", web::post().to(set_password))
    .route("/api/me/sessions", web::get().to(list_sessions))
    .route("/api/me/sessions/{id}", web::delete().to(revoke_session))
    .route("/api/me/phone/codes", web::post().to(phone_change_codes))
    .route("/api/me/phone", web::post().to(confirm_phone_change))
    .route("/api/me/age", web::post().to(declare_age))
    .route("/api/me/guardian/code", web::post().to(guardian_code))
    .route("/api/me/guardian/verify", web::post().to(guardian_verify))
    .route("/api/guardian/wards", web::get().to(list_wards))
    .route(
        "/api/guardian/wards/{id}/withdraw",
        web::post().to(withdraw_ward),
    )
    .route(
        "/api/guardian/wards/{id}/deletion",
        web::post().to(delete_ward),
    )
    .route(
        "/api/admin/users/{id}/birth-date",
        web::post().to(correct_birth_date),
    )
    .route("/api/me/export", web::get().to(export_me))
    .route("/api/media", web::post().to(upload_media))
    .route("/api/media/{id}", web::get().to(get_media))
    .route("/api/media/{id}/content", web::get().to(media_content))
    .route("/api/me/deletion", web::post().to(request_deletion))
    .route("/api/me/consents", web::get().to(list_consents))
    .route("/api/me/consents", web::post().to(change_consent))
    .route("/api/consent/keys", web::get().to(receipt_keys))
    .route(
        "/api/consent/receipts/verify",
        web::post().to(verify_receipt),
    )
    .route("/api/users", web::get().to(directory))
    .route("/api/users/{id}", web::get().to(get_user))
    .route("/ws", web::get().to(crate::ws::connect))
    .route("/", web::get().to(index))
    .route("/", web::head().to(index))
    .route("/console", web::get().to(console))
    .route("/console", web::head().to(console))
    .route("/static/{file}", web::get().to(static_file));
}

/// A JSON body whose shape errors name the field (`invalid_field` with `field`), unlike
/// `web::Json`, whose serde errors do not say where they are.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let value = json.await?.into_inner();
            Ok(Body(parse_value(value)?))
        })
    }
}

/// A query string of the wrong shape: `invalid_field`, naming the parameter where serde says
/// which one it is.
fn query_error(err: &actix_web::error::QueryPayloadError) -> AppError {
    use actix_web::error::QueryPayloadError as E;
    let text = match err {
        E::Deserialize(inner) => inner.to_string(),
        _ => "malformed query string".to_string(),
    };
    let named = (text.starts_with("missing field") || text.starts_with("unknown field"))
        .then(|| text.split('`').nth(1))
        .flatten()
        .unwrap_or("query")
        .to_string();
    let mut e = AppError::new(ErrorCode::InvalidField, format!("{named}: {text}"));
    e.field = Some(named);
    e
}

fn json_error(err: &actix_web::error::JsonPayloadError) -> AppError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::Deserialize(e) => crate::error::from_serde(e),
        E::Overflow { .. } | E::OverflowKnownLength { .. } => {
            AppError::new(ErrorCode::BadRequest, "request body too large")
        }
        E::ContentType => AppError::new(
            ErrorCode::BadRequest,
            "expected Content-Type: application/json",
        ),
        other => AppError::new(ErrorCode::BadRequest, format!("bad JSON body: {other}")),
    }
}

/// What `/readyz` checks.
pub struct Readiness {
    pub db: Db,
    pub backend: Backend,
    pub redis: Option<Arc<RedisBus>>,
}

/// GET /healthz: the process is alive.
/// Refuses a request whose headers add up to more than `max_bytes` (`DUOXIE_MAX_HEADER_BYTES`)
/// with `431 headers_too_large`, before any handler runs.
pub async fn limit_headers<B: actix_web::body::MessageBody>(
    max_bytes: usize,
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<B>,
) -> Result<actix_web::dev::ServiceResponse<B>, actix_web::Error> {
    let total: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if total > max_bytes {
        return Err(AppError::new(
            ErrorCode::HeadersTooLarge,
            format!("request headers are limited to {max_bytes} bytes"),
        )
        .into());
    }
    next.call(req).await
}

/// Query parameters whose values are secrets or personal data: never written to a log.
const REDACTED_QUERY_KEYS: &[&str] = &[
    "token",
    "access_token",
    "auth",
    "code",
    "password",
    "phone",
    "key",
    "secret",
    "sig",
    "signature",
    "reason",
];

/// The access log's request line: method, path and query, with the values of
/// [`REDACTED_QUERY_KEYS`] replaced by `***` (a client that puts its token in `/ws?token=`
/// must not have it logged).
pub fn redacted_request_line(req: &actix_web::dev::ServiceRequest) -> String {
    let query = req.query_string();
    if query.is_empty() {
        return format!("{} {}", req.method(), req.path());
    }
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if REDACTED_QUERY_KEYS.contains(&key.to_ascii_lowercase().as_str()) => {
                format!("{key}=***")
            }
            _ => pair.chars().take(256).collect(),
        })
        .collect();
    format!("{} {}?{}", req.method(), req.path(), redacted.join("&"))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// GET /readyz: the database answers, every migration is applied, and Redis (when
/// configured) answers.
async fn readyz(ready: web::Data<Readiness>) -> HttpResponse {
    if let Err(part) = store::readiness(&ready.db, ready.backend).await {
        return HttpResponse::ServiceUnavailable().json(json!({
            "status": "not_ready", "failing": part
        }));
    }
    let mut body = json!({ "status": "ready", "database": "ok", "migrations": "ok" });
    if let Some(redis) = &ready.redis {
        if !redis.ping().await {
            return HttpResponse::ServiceUnavailable().json(json!({
                "status": "not_ready", "failing": "redis"
            }));
        }
        body["redis"] = json!("ok");
    }
    HttpResponse::Ok().json(body)
}

/// GET /metrics: Prometheus text format. Operational counters only, no user data; expose it
/// to the scraper, not to the internet.
async fn metrics(ready: web::Data<Readiness>) -> HttpResponse {
    // The queue lives in the database; a failed read shows an empty queue rather than no
    // metrics at all (the pool gauges say why).
    let (moderation_depth, moderation_oldest_ms) =
        crate::moderation::store::queue_health(&ready.db, store::now_ms())
            .await
            .unwrap_or_default();
    let gauges = crate::metrics::Gauges {
        db_pool_size: ready.db.size(),
        db_pool_idle: ready.db.num_idle(),
        db_pool_max: ready.db.options().get_max_connections(),
        moderation_depth,
        moderation_oldest_ms,
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::METRICS.render(&gauges))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeRequest {
    phone: String,
}

/// POST /api/auth/code: sends a one-time login code.
async fn request_code(
    auth: web::Data<Auth>,
    req: HttpRequest,
    body: Body<CodeRequest>,
) -> AppResult<HttpResponse> {
    let ip = auth.client_ip(&req);
    Ok(HttpResponse::Ok().json(auth.request_code(&body.0.phone, &ip).await?))
}

/// POST /api/auth/login: exchanges a code or password for a device token.
async fn login(
    auth: web::Data<Auth>,
    req: HttpRequest,
    body: Body<LoginRequest>,
) -> AppResult<HttpResponse> {
    let ip = auth.client_ip(&req);
    Ok(HttpResponse::Ok().json(auth.login(body.0, &ip).await?))
}

/// POST /api/auth/logout: revokes this device's token and closes its sockets.
async fn logout(auth: web::Data<Auth>, who: Authenticated) -> AppResult<HttpResponse> {
    auth.revoke_session(who.0.user_id, who.0.token_id).await?;
    Ok(HttpResponse::Ok().json(json!({ "revoked": true })))
}

/// GET /api/me: the caller's own account.
async fn get_me(auth: web::Data<Auth>, who: Authenticated) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(auth.me(who.0.user_id).await?))
}

/// PATCH /api/me: edits nickname, avatar, gender, intro.
async fn patch_me(
    auth: web::Data<Auth>,
    who: Authenticated,
    body: Body<ProfilePatch>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(auth.update_profile(&who.0, body.0).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordRequest {
    password: String,
    #[serde(default)]
    current_password: Option<String>,
}

/// POST /api/me/password: sets or changes the password.
async fn set_password(
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
async fn list_sessions(auth: web::Data<Auth>, who: Authenticated) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(json!({ "sessions": auth.sessions(&who.0).await? })))
}

/// DELETE /api/me/sessions/{id}: revokes one device and closes its sockets.
async fn revoke_session(
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
struct UserQuery {
    /// Staff only: why they read this user's personal data (audited).
    #[serde(default)]
    reason: Option<String>,
}

/// GET /api/users/{id}?reason=: a public profile; with a reason, staff also see personal data.
async fn get_user(
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
struct PhoneChangeRequest {
    new_phone: String,
}

/// POST /api/me/phone/codes: codes to the current and the new number.
async fn phone_change_codes(
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
struct PhoneChangeConfirm {
    old_code: String,
    new_code: String,
}

/// POST /api/me/phone: both codes; the account moves to the new number.
async fn confirm_phone_change(
    auth: web::Data<Auth>,
    who: Authenticated,
    body: Body<PhoneChangeConfirm>,
) -> AppResult<HttpResponse> {
    let me = auth
        .confirm_phone_change(who.0.user_id, &body.0.old_code, &body.0.new_code)
        .await?;
    Ok(HttpResponse::Ok().json(me))
}

/// POST /api/me/age: the user's one-time age declaration (a birth date or a bracket).
async fn declare_age(
    minors: web::Data<Minors>,
    who: Authenticated,
    body: Body<AgeDeclaration>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(minors.declare(who.0.user_id, &body.0).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardianCodeRequest {
    guardian_phone: String,
}

/// POST /api/me/guardian/code: sends a code to the guardian's own phone.
async fn guardian_code(
    minors: web::Data<Minors>,
    auth: web::Data<Auth>,
    who: Authenticated,
    req: HttpRequest,
    body: Body<GuardianCodeRequest>,
) -> AppResult<HttpResponse> {
    let ip = auth.client_ip(&req);
    let sent = minors
        .request_guardian_code(&who.0, &body.0.guardian_phone, &ip)
        .await?;
    Ok(HttpResponse::Ok().json(sent))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardianVerifyRequest {
    code: String,
}

/// POST /api/me/guardian/verify: the guardian's code; records their consent.
async fn guardian_verify(
    minors: web::Data<Minors>,
    who: Authenticated,
    body: Body<GuardianVerifyRequest>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(minors.verify_guardian(&who.0, &body.0.code).await?))
}

/// GET /api/guardian/wards: the children this account's phone is the guardian of.
async fn list_wards(minors: web::Data<Minors>, who: Authenticated) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(json!({ "wards": minors.wards(&who.0).await? })))
}

/// POST /api/guardian/wards/{id}/withdraw: withdraws the guardian's consent.
async fn withdraw_ward(
    minors: web::Data<Minors>,
    who: Authenticated,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    minors.withdraw(&who.0, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({ "withdrawn": true })))
}

/// POST /api/guardian/wards/{id}/deletion: the guardian asks for the child's deletion.
async fn delete_ward(
    minors: web::Data<Minors>,
    who: Authenticated,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    minors.delete_ward(&who.0, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({ "deletion_requested": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BirthDateCorrection {
    birth_date: String,
    reason: String,
}

/// POST /api/admin/users/{id}/birth-date: an admin corrects a birth date (audited).
async fn correct_birth_date(
    minors: web::Data<Minors>,
    who: Authenticated,
    path: web::Path<i64>,
    body: Body<BirthDateCorrection>,
) -> AppResult<HttpResponse> {
    let status = minors
        .correct_birth_date(
            &who.0,
            path.into_inner(),
            &body.0.birth_date,
            &body.0.reason,
        )
        .await?;
    Ok(HttpResponse::Ok().json(status))
}

/// POST /api/media?purpose=chat_photo&source=album: the raw file as the body.
async fn upload_media(
    media: web::Data<Media>,
    who: Authenticated,
    req: HttpRequest,
    body: web::Payload,
) -> AppResult<HttpResponse> {
    // Through a JSON value, so that a missing or unknown `purpose` or `source` is an
    // `invalid_field` naming it.
    let pairs =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .map_err(|e| query_error(&e))?;
    let query: UploadQuery = parse_value(json!(pairs.into_inner()))?;
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let declared_type = header(actix_web::http::header::CONTENT_TYPE);
    let declared_length =
        header(actix_web::http::header::CONTENT_LENGTH).and_then(|l| l.parse().ok());
    let view = media
        .upload(&who.0, query, declared_type, declared_length, body)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// GET /api/media/{id}: an upload's metadata and URLs.
async fn get_media(
    media: web::Data<Media>,
    who: Authenticated,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(media.get(&who.0, &path.into_inner()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContentQuery {
    #[serde(default)]
    size: Option<u32>,
}

/// GET /api/media/{id}/content?size=256: the stored (sanitised) bytes.
async fn media_content(
    media: web::Data<Media>,
    who: Authenticated,
    path: web::Path<String>,
    query: web::Query<ContentQuery>,
) -> AppResult<HttpResponse> {
    let (bytes, content_type) = media
        .content(&who.0, &path.into_inner(), query.size)
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "private, max-age=31536000, immutable"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(bytes))
}

/// GET /api/me/export: everything held about the caller, as one JSON document (streamed).
async fn export_me(privacy: web::Data<Privacy>, who: Authenticated) -> AppResult<HttpResponse> {
    let export = privacy.export(who.0.user_id)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"duoxie-export.json\"",
        ))
        .streaming(export))
}

/// POST /api/me/deletion: requests account deletion after the cooling-off period; every
/// device is logged out, and logging in again before it ends cancels the deletion.
async fn request_deletion(
    privacy: web::Data<Privacy>,
    who: Authenticated,
) -> AppResult<HttpResponse> {
    let scheduled = privacy.request_deletion(who.0.user_id).await?;
    Ok(HttpResponse::Ok().json(json!({ "deletion": scheduled })))
}

type Consent = web::Data<Addr<ConsentServer>>;

/// GET /api/me/consents: every permission's current state and the whole history.
async fn list_consents(consent: Consent, who: Authenticated) -> AppResult<HttpResponse> {
    let state = consent
        .send(As::new(who.0.user_id, ListConsents {}))
        .await
        .map_err(|_| AppError::unavailable("consent service unavailable"))??;
    Ok(HttpResponse::Ok().json(state))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentChange {
    permission: String,
    granted: bool,
    #[serde(default)]
    device: Option<String>,
}

/// POST /api/me/consents: grants or withdraws one permission; as easy one way as the other.
async fn change_consent(
    consent: Consent,
    who: Authenticated,
    body: Body<ConsentChange>,
) -> AppResult<HttpResponse> {
    let ConsentChange {
        permission,
        granted,
        device,
    } = body.0;
    let user_id = who.0.user_id;
    let answer = if granted {
        consent
            .send(As::new(user_id, Grant { permission, device }))
            .await
    } else {
        consent
            .send(As::new(user_id, Withdraw { permission, device }))
            .await
    };
    let changed = answer.map_err(|_| AppError::unavailable("consent service unavailable"))??;
    Ok(HttpResponse::Ok().json(changed))
}

/// GET /api/consent/keys: the JWK set that verifies consent receipts. Public.
async fn receipt_keys(signer: web::Data<Arc<ReceiptSigner>>) -> HttpResponse {
    HttpResponse::Ok().json(signer.jwks())
}

/// POST /api/consent/receipts/verify: is this receipt authentic, and still current?
async fn verify_receipt(
    consent: Consent,
    who: Authenticated,
    body: Body<VerifyReceipt>,
) -> AppResult<HttpResponse> {
    let verdict = consent
        .send(As::new(who.0.user_id, body.0))
        .await
        .map_err(|_| AppError::unavailable("consent service unavailable"))??;
    Ok(HttpResponse::Ok().json(verdict))
}

#[derive(Deserialize)]
struct DirectoryQuery {
    role: String,
    #[serde(default)]
    limit: Option<i64>,
}

/// GET /api/users?role=seller: the directory of sellers or appraisers.
async fn directory(
    auth: web::Data<Auth>,
    _who: Authenticated,
    query: web::Query<DirectoryQuery>,
) -> AppResult<HttpResponse> {
    let users = auth
        .directory(&query.role, query.limit.unwrap_or(50))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "users": users })))
}

// The web client is compiled in, so the binary serves it from any working directory.
const INDEX_HTML: &str = include_str!("../../static/index.html");
const APP_JS: &str = include_str!("../../static/app.js");
const APP_CSS: &str = include_str!("../../static/app.css");
const CONSOLE_HTML: &str = include_str!("../../static/console.html");
const CONSOLE_JS: &str = include_str!("../../static/console.js");
const CONSOLE_CSS: &str = include_str!("../../static/console.css");

/// GET /: the web client.
async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(INDEX_HTML)
}

/// GET /console: the moderator console.
async fn console() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(CONSOLE_HTML)
}

/// GET /static/{file}: the client's script and style.
async fn static_file(req: HttpRequest) -> HttpResponse {
    let (body, kind) = match req.match_info().get("file") {
        Some("app.js") => (APP_JS, "text/javascript; charset=utf-8"),
        Some("app.css") => (APP_CSS, "text/css; charset=utf-8"),
        Some("console.js") => (CONSOLE_JS, "text/javascript; charset=utf-8"),
        Some("console.css") => (CONSOLE_CSS, "text/css; charset=utf-8"),
        _ => return AppError::not_found("file").error_response_json(),
    };
    HttpResponse::Ok().content_type(kind).body(body)
}

impl AppError {
    fn error_response_json(&self) -> HttpResponse {
        actix_web::ResponseError::error_response(self)
    }
}
