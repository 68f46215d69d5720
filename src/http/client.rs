//! The web client and the moderators' console, compiled into the binary.

use super::*;

// The web client is compiled in, so the binary serves it from any working directory. Every
// file under `static/` is listed here (a test fails on one that is not): pages, their modules,
// the client library and its message tables.
macro_rules! static_files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../static/", $path)))),*]
    };
}

pub(super) const STATIC_FILES: &[(&str, &str)] = static_files![
    "app.css",
    "app.js",
    "console.css",
    "console.html",
    "console.js",
    "index.html",
    "js/client.js",
    "js/i18n.js",
    "js/locales/en.js",
    "js/locales/zh-CN.js",
    "legal/README.md",
    "legal/privacy-policy-1.txt",
    "legal/user-agreement-1.txt",
];

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
            "list every file of static/ in STATIC_FILES"
        );
    }
}
