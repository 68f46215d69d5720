//! The web client and the moderators' console, compiled into the binary.

use super::*;

// The web client is compiled in, so the binary serves it from any working directory.
pub(super) const INDEX_HTML: &str = include_str!("../../static/index.html");
pub(super) const APP_JS: &str = include_str!("../../static/app.js");
pub(super) const APP_CSS: &str = include_str!("../../static/app.css");
pub(super) const CONSOLE_HTML: &str = include_str!("../../static/console.html");
pub(super) const CONSOLE_JS: &str = include_str!("../../static/console.js");
pub(super) const CONSOLE_CSS: &str = include_str!("../../static/console.css");

/// GET /: the web client.
pub(super) async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(INDEX_HTML)
}

/// GET /console: the moderator console.
pub(super) async fn console() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(CONSOLE_HTML)
}

/// GET /static/{file}: the client's script and style.
pub(super) async fn static_file(req: HttpRequest) -> HttpResponse {
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
