//! The web client and the moderators' console, compiled into the binary.

use super::*;

// The web client is compiled in, so the binary serves it from any working directory: every
// page, module, stylesheet, message table and legal text under `static/`, listed by build.rs.
pub(super) const STATIC_FILES: &[(&str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/static_files.rs"));

fn static_text(path: &str) -> Option<&'static str> {
    STATIC_FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, body)| *body)
}

const INDEX_HTML: &str = include_str!("../../static/index.html");
const CONSOLE_HTML: &str = include_str!("../../static/console.html");

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

/// GET /static/{path}: the client's modules, scripts and styles, by their path under `static/`.
pub(super) async fn static_file(req: HttpRequest) -> HttpResponse {
    let path = req.match_info().get("path").unwrap_or_default();
    let kind = match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("txt") | Some("md") => "text/plain; charset=utf-8",
        _ => return AppError::not_found("file").error_response_json(),
    };
    match static_text(path) {
        Some(body) => HttpResponse::Ok().content_type(kind).body(body),
        None => AppError::not_found("file").error_response_json(),
    }
}

impl AppError {
    fn error_response_json(&self) -> HttpResponse {
        actix_web::ResponseError::error_response(self)
    }
}

#[cfg(test)]
mod tests {
    /// Every file under `static/` is compiled in, and nothing listed is missing.
    #[test]
    fn every_static_file_is_served() {
        fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("read static") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    let rel = path.strip_prefix(root).expect("under static");
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
        let mut on_disk = Vec::new();
        walk(&root, &root, &mut on_disk);
        on_disk.sort();
        let mut listed: Vec<String> = super::STATIC_FILES
            .iter()
            .map(|(p, _)| p.to_string())
            .collect();
        listed.sort();
        assert_eq!(
            on_disk, listed,
            "every file of static/ is served (build.rs serves only .js .css .html .txt .md)"
        );
    }
}
