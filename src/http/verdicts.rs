//! Appraisal verdicts in public: anyone may look a verdict up by its number (what it says of
//! the item, never who the buyer is) and check a signed verdict a buyer shows them, without
//! an account.

use super::*;
use crate::live::verdict::Verify;
use crate::live::Live;

type LiveData = web::Data<Arc<Live>>;

/// GET /api/verdicts/{number}: the public view of a number's current version.
pub(super) async fn public_verdict(
    live: LiveData,
    number: web::Path<String>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(live.public_verdict(&number).await?))
}

/// POST /api/verdicts/verify: is this signed verdict authentic, and the number's current one?
pub(super) async fn verify_verdict(live: LiveData, body: Body<Verify>) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(live.verify_verdict(&body.0.jws).await?))
}
