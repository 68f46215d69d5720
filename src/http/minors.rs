//! Minors: the age declaration, the guardian's code and verification, wards, an admin's
//! correction of a birth date.

use super::*;

/// POST /api/me/age: the user's one-time age declaration (a birth date or a bracket).
pub(super) async fn declare_age(
    minors: web::Data<Minors>,
    who: Authenticated,
    body: Body<AgeDeclaration>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(minors.declare(who.0.user_id, &body.0).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GuardianCodeRequest {
    guardian_phone: String,
}

/// POST /api/me/guardian/code: sends a code to the guardian's own phone.
pub(super) async fn guardian_code(
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
pub(super) struct GuardianVerifyRequest {
    code: String,
}

/// POST /api/me/guardian/verify: the guardian's code; records their consent.
pub(super) async fn guardian_verify(
    minors: web::Data<Minors>,
    who: Authenticated,
    body: Body<GuardianVerifyRequest>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(minors.verify_guardian(&who.0, &body.0.code).await?))
}

/// GET /api/guardian/wards: the children this account's phone is the guardian of.
pub(super) async fn list_wards(
    minors: web::Data<Minors>,
    who: Authenticated,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(json!({ "wards": minors.wards(&who.0).await? })))
}

/// POST /api/guardian/wards/{id}/withdraw: withdraws the guardian's consent.
pub(super) async fn withdraw_ward(
    minors: web::Data<Minors>,
    who: Authenticated,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    minors.withdraw(&who.0, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({ "withdrawn": true })))
}

/// POST /api/guardian/wards/{id}/deletion: the guardian asks for the child's deletion.
pub(super) async fn delete_ward(
    minors: web::Data<Minors>,
    who: Authenticated,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    minors.delete_ward(&who.0, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({ "deletion_requested": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BirthDateCorrection {
    birth_date: String,
    reason: String,
}

/// POST /api/admin/users/{id}/birth-date: an admin corrects a birth date (audited).
pub(super) async fn correct_birth_date(
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
