//! Uploads: the upload itself (streamed, screened) and what may be read of a picture.

use super::*;

/// POST /api/media?purpose=chat_photo&source=album: the raw file as the body.
pub(super) async fn upload_media(
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
pub(super) async fn get_media(
    media: web::Data<Media>,
    who: Authenticated,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(media.get(&who.0, &path.into_inner()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ContentQuery {
    #[serde(default)]
    size: Option<u32>,
}

/// GET /api/media/{id}/content?size=256: the stored (sanitised) bytes.
pub(super) async fn media_content(
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
