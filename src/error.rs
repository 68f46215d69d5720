//! The one error type at the boundary.
//!
//! Every failure a client can see is an [`ErrorCode`] from a closed list (documented in
//! `docs/protocol.md`), serialised the same way on HTTP and in WebSocket replies. Internal
//! causes (`anyhow` chains) are logged once, here, and never sent to the client.

use actix_web::{http::StatusCode, HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{json, Value};

/// The closed list of error codes. Adding one means documenting it in `docs/protocol.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    InvalidField,
    InvalidPhone,
    TextTooLong,
    FrameTooLarge,
    BinaryNotSupported,
    UnknownType,
    Unauthorized,
    AuthRequired,
    AlreadyAuthenticated,
    InvalidCode,
    CodeExpired,
    TooManyAttempts,
    CodeCooldown,
    InvalidCredentials,
    Forbidden,
    NotFound,
    Blocked,
    ConsentRequired,
    PolicyNotAccepted,
    AgeRequired,
    GuardianRequired,
    InvalidReceipt,
    ContentRejected,
    Conflict,
    RecallExpired,
    Muted,
    Suspended,
    FileTooLarge,
    QuotaExceeded,
    HeadersTooLarge,
    UnsupportedMedia,
    MediaTypeMismatch,
    InvalidMedia,
    ImageTooLarge,
    RateLimited,
    RoomEnded,
    RoomBanned,
    RoomKicked,
    RoomMuted,
    RoomBusy,
    TooManyRooms,
    QueueFull,
    CallBusy,
    CallEnded,
    InvalidSdp,
    InvalidCandidate,
    SignalTooLarge,
    ShareCodeInvalid,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidField => "invalid_field",
            Self::InvalidPhone => "invalid_phone",
            Self::TextTooLong => "text_too_long",
            Self::FrameTooLarge => "frame_too_large",
            Self::BinaryNotSupported => "binary_not_supported",
            Self::UnknownType => "unknown_type",
            Self::Unauthorized => "unauthorized",
            Self::AuthRequired => "auth_required",
            Self::AlreadyAuthenticated => "already_authenticated",
            Self::InvalidCode => "invalid_code",
            Self::CodeExpired => "code_expired",
            Self::TooManyAttempts => "too_many_attempts",
            Self::CodeCooldown => "code_cooldown",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Blocked => "blocked",
            Self::ConsentRequired => "consent_required",
            Self::PolicyNotAccepted => "policy_not_accepted",
            Self::InvalidReceipt => "invalid_receipt",
            Self::ContentRejected => "content_rejected",
            Self::Conflict => "conflict",
            Self::RecallExpired => "recall_expired",
            Self::Muted => "muted",
            Self::Suspended => "suspended",
            Self::FileTooLarge => "file_too_large",
            Self::QuotaExceeded => "quota_exceeded",
            Self::HeadersTooLarge => "headers_too_large",
            Self::UnsupportedMedia => "unsupported_media",
            Self::MediaTypeMismatch => "media_type_mismatch",
            Self::InvalidMedia => "invalid_media",
            Self::ImageTooLarge => "image_too_large",
            Self::AgeRequired => "age_required",
            Self::GuardianRequired => "guardian_required",
            Self::RateLimited => "rate_limited",
            Self::RoomEnded => "room_ended",
            Self::RoomBanned => "room_banned",
            Self::RoomKicked => "room_kicked",
            Self::RoomMuted => "room_muted",
            Self::RoomBusy => "room_busy",
            Self::TooManyRooms => "too_many_rooms",
            Self::QueueFull => "queue_full",
            Self::CallBusy => "call_busy",
            Self::CallEnded => "call_ended",
            Self::InvalidSdp => "invalid_sdp",
            Self::InvalidCandidate => "invalid_candidate",
            Self::SignalTooLarge => "signal_too_large",
            Self::ShareCodeInvalid => "share_code_invalid",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest
            | Self::InvalidField
            | Self::InvalidPhone
            | Self::TextTooLong
            | Self::FrameTooLarge
            | Self::BinaryNotSupported
            | Self::UnknownType
            | Self::InvalidReceipt
            | Self::InvalidMedia
            | Self::InvalidSdp
            | Self::InvalidCandidate
            | Self::AlreadyAuthenticated => StatusCode::BAD_REQUEST,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::FileTooLarge
            | Self::ImageTooLarge
            | Self::QuotaExceeded
            | Self::SignalTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ContentRejected => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict
            | Self::RecallExpired
            | Self::RoomEnded
            | Self::TooManyRooms
            | Self::QueueFull
            | Self::CallBusy
            | Self::CallEnded => StatusCode::CONFLICT,
            Self::RoomBanned | Self::RoomKicked | Self::RoomMuted => StatusCode::FORBIDDEN,
            Self::Muted | Self::Suspended => StatusCode::FORBIDDEN,
            Self::UnsupportedMedia | Self::MediaTypeMismatch => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthorized
            | Self::AuthRequired
            | Self::InvalidCode
            | Self::CodeExpired
            | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden
            | Self::Blocked
            | Self::ConsentRequired
            | Self::PolicyNotAccepted
            | Self::AgeRequired
            | Self::GuardianRequired => StatusCode::FORBIDDEN,
            Self::NotFound | Self::ShareCodeInvalid => StatusCode::NOT_FOUND,
            Self::TooManyAttempts | Self::CodeCooldown | Self::RateLimited | Self::RoomBusy => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error a client sees: a code, a human message, optional details (`field`,
/// `retry_after_ms`), and for `internal` the cause that is logged but never sent.
#[derive(Debug)]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    pub retry_after_ms: Option<u64>,
    /// For `consent_required`: the permissions the feature still needs (boxed: errors travel
    /// in `Result`s everywhere and should stay small).
    pub missing_permissions: Option<Box<Vec<String>>>,
    cause: Option<anyhow::Error>,
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            retry_after_ms: None,
            missing_permissions: None,
            cause: None,
        }
    }

    /// A missing or invalid field, named so that clients can point at it.
    pub fn field(field: &'static str, why: impl std::fmt::Display) -> Self {
        let mut e = Self::new(ErrorCode::InvalidField, format!("{field}: {why}"));
        e.field = Some(field.to_string());
        e
    }

    pub fn retry_after(mut self, ms: u64) -> Self {
        self.retry_after_ms = Some(ms);
        self
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("no such {what}"))
    }

    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            "missing, unknown, expired or revoked token",
        )
    }

    /// A feature refused for want of consent, naming the permissions to ask for.
    pub fn consent_required(missing: &[&str]) -> Self {
        let mut e = Self::new(
            ErrorCode::ConsentRequired,
            format!("this needs your consent to: {}", missing.join(", ")),
        );
        e.missing_permissions = Some(Box::new(missing.iter().map(|p| p.to_string()).collect()));
        e
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    /// The error body shared by HTTP responses and WebSocket replies.
    pub fn body(&self) -> Value {
        let mut body = json!({ "code": self.code, "message": self.message });
        if let Some(field) = &self.field {
            body["field"] = json!(field);
        }
        if let Some(ms) = self.retry_after_ms {
            body["retry_after_ms"] = json!(ms);
        }
        if let Some(missing) = &self.missing_permissions {
            body["missing_permissions"] = json!(missing);
        }
        body
    }

    /// Logs the internal cause once; called where the error leaves the server.
    pub fn log(&self) {
        if let Some(cause) = &self.cause {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
    }
}

/// Broken JSON (syntax, truncation): `bad_request`. Well-formed JSON of the wrong shape goes
/// through [`parse_value`] instead, which can name the field.
pub fn from_serde(e: &serde_json::Error) -> AppError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => AppError::new(ErrorCode::InvalidField, e.to_string()),
        _ => AppError::new(ErrorCode::BadRequest, format!("malformed JSON: {e}")),
    }
}

/// Deserialises a JSON body or `data` object; a mismatch is `invalid_field` naming the field
/// (`nickname`, `cursors.3`), also for missing and unknown fields.
pub fn parse_value<T: serde::de::DeserializeOwned>(value: Value) -> AppResult<T> {
    // PostgreSQL cannot store a NUL character in text: refused here, for every field of every
    // body and frame, before any handler has consumed anything (a code, an attempt).
    if let Some(path) = path_of_nul(&value) {
        let mut err = AppError::new(
            ErrorCode::InvalidField,
            format!("{path}: NUL characters are not allowed"),
        );
        err.field = Some(path);
        return Err(err);
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let text = inner.to_string();
        // serde names missing and unknown fields only in its message: "missing field `phone`".
        let named = (text.starts_with("missing field") || text.starts_with("unknown field"))
            .then(|| text.split('`').nth(1).map(str::to_string))
            .flatten();
        let field = match (path.as_str(), named) {
            (".", Some(name)) => name,
            (".", None) => "data".to_string(),
            // An unknown field's path already ends with its name.
            (p, Some(name)) if p == name || p.ends_with(&format!(".{name}")) => p.to_string(),
            (p, Some(name)) => format!("{p}.{name}"),
            (p, None) => p.to_string(),
        };
        let mut err = AppError::new(ErrorCode::InvalidField, format!("{field}: {text}"));
        err.field = Some(field);
        err
    })
}

/// Refuses a NUL character in a text that did not come through [`parse_value`] (a query
/// parameter).
pub fn refuse_nul(field: &'static str, text: &str) -> AppResult<()> {
    if text.contains('\0') {
        return Err(AppError::field(field, "NUL characters are not allowed"));
    }
    Ok(())
}

/// The path (`device`, `cursors.3`, `items.0.name`) of the first string or key holding NUL.
fn path_of_nul(value: &Value) -> Option<String> {
    fn walk(value: &Value, path: &str) -> Option<String> {
        let join = |key: &str| {
            if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            }
        };
        match value {
            Value::String(s) if s.contains('\0') => Some(if path.is_empty() {
                "data".into()
            } else {
                path.into()
            }),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk(v, &join(&i.to_string()))),
            Value::Object(map) => map.iter().find_map(|(k, v)| {
                if k.contains('\0') {
                    Some(join(&k.replace('\0', "\\0")))
                } else {
                    walk(v, &join(k))
                }
            }),
            _ => None,
        }
    }
    walk(value, "")
}

impl From<anyhow::Error> for AppError {
    fn from(cause: anyhow::Error) -> Self {
        Self {
            code: ErrorCode::Internal,
            message: "internal error".into(),
            field: None,
            retry_after_ms: None,
            missing_permissions: None,
            cause: Some(cause),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        let unavailable = matches!(
            e,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
        );
        let mut err = AppError::from(anyhow::Error::new(e).context("database"));
        if unavailable {
            err.code = ErrorCode::Unavailable;
            err.message = "database unavailable".into();
        }
        err
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.log();
        let mut response = HttpResponse::build(self.status_code());
        if let Some(ms) = self.retry_after_ms {
            // RFC 9110 `Retry-After` is whole seconds; round up so a client never retries early.
            response.insert_header(("Retry-After", ms.div_ceil(1000).to_string()));
        }
        response.json(json!({ "error": self.body() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_their_documented_names() {
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::TooManyAttempts,
            ErrorCode::BinaryNotSupported,
        ] {
            assert_eq!(json!(code), json!(code.as_str()));
        }
    }

    #[test]
    fn shape_errors_name_their_field() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Body {
            name: String,
            #[serde(default)]
            age: Option<i64>,
        }
        let cases = [
            (json!({ "name": 7 }), "name"),
            (json!({}), "name"),
            (json!({ "name": "a", "age": "x" }), "age"),
            (json!({ "name": "a", "zzz": 1 }), "zzz"),
            (json!("text"), "data"),
        ];
        for (value, field) in cases {
            let e = parse_value::<Body>(value.clone()).expect_err("invalid");
            assert_eq!(e.code, ErrorCode::InvalidField, "{value}");
            assert_eq!(e.field.as_deref(), Some(field), "{value}");
        }
    }

    #[test]
    fn consent_refusals_name_the_missing_permissions() {
        let e = AppError::consent_required(&["camera", "microphone"]);
        assert_eq!(e.code.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            e.body()["missing_permissions"],
            json!(["camera", "microphone"])
        );
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = AppError::from(anyhow::anyhow!("secret detail"));
        assert_eq!(e.body()["message"], "internal error");
        assert!(!e.body().to_string().contains("secret"));
    }
}
