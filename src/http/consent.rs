//! Consents: the caller's ledger and changes, the receipt keys and receipt verification, and
//! the legal texts a user accepts.

use super::*;

type Consent = web::Data<Addr<ConsentServer>>;

/// GET /api/me/consents: every permission's current state and the whole history.
pub(super) async fn list_consents(consent: Consent, who: Authenticated) -> AppResult<HttpResponse> {
    let state = consent
        .send(As::new(who.0.user_id, ListConsents {}))
        .await
        .map_err(|_| AppError::unavailable("consent service unavailable"))??;
    Ok(HttpResponse::Ok().json(state))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsentChange {
    permission: String,
    granted: bool,
    #[serde(default)]
    device: Option<String>,
}

/// POST /api/me/consents: grants or withdraws one permission; as easy one way as the other.
pub(super) async fn change_consent(
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
pub(super) async fn receipt_keys(signer: web::Data<Arc<ReceiptSigner>>) -> HttpResponse {
    HttpResponse::Ok().json(signer.jwks())
}

/// POST /api/consent/receipts/verify: is this receipt authentic, and still current?
pub(super) async fn verify_receipt(
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
#[serde(deny_unknown_fields)]
pub(super) struct LegalQuery {
    #[serde(default)]
    version: Option<String>,
}

/// GET /api/legal/{document}?version=: the privacy policy or the user agreement, of the
/// version in force unless another is asked for. No login needed: the login page shows them.
pub(super) async fn legal_text(
    ready: web::Data<Readiness>,
    document: web::Path<String>,
    query: web::Query<LegalQuery>,
) -> AppResult<HttpResponse> {
    let document = crate::consent::legal::document(&document)?;
    let version = match &query.version {
        Some(v) => v.clone(),
        None => crate::consent::policy_version_in_force(&ready.db).await?,
    };
    Ok(HttpResponse::Ok().json(crate::consent::legal::text(document, &version)?))
}
