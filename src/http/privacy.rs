//! The user's rights over their data: the streamed export and the deletion request.

use super::*;

/// GET /api/me/export: everything held about the caller, as one JSON document (streamed).
pub(super) async fn export_me(
    privacy: web::Data<Privacy>,
    who: Authenticated,
) -> AppResult<HttpResponse> {
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
pub(super) async fn request_deletion(
    privacy: web::Data<Privacy>,
    who: Authenticated,
) -> AppResult<HttpResponse> {
    let scheduled = privacy.request_deletion(who.0.user_id).await?;
    Ok(HttpResponse::Ok().json(json!({ "deletion": scheduled })))
}
