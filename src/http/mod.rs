//! Thin REST routes and the static web client. Handlers only translate between HTTP and the
//! domain services: no SQL and no rules here. The route table, the shared extractors' error
//! mapping, header limits, request-line redaction and the health and metrics endpoints are
//! here; the handlers by concern in [`accounts`], [`minors`], [`media`], [`privacy`],
//! [`consent`], [`verdicts`] and [`client`] (the compiled-in web client).

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

mod accounts;
mod client;
mod consent;
mod media;
mod minors;
mod privacy;
mod verdicts;

use accounts::*;
use client::*;
use consent::*;
use media::*;
use minors::*;
use privacy::*;
use verdicts::*;

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
    .route("/api/verdicts/verify", web::post().to(verify_verdict))
    .route("/api/verdicts/{number}", web::get().to(public_verdict))
    .route("/api/legal/{document}", web::get().to(legal_text))
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
    .route("/static/{path:.*}", web::get().to(static_file));
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
    let (moderation_depth, moderation_oldest_ms) = crate::moderation::queue_health(&ready.db)
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
