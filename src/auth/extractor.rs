//! `Authenticated`: the request extractor that turns `Authorization: Bearer <token>` into an
//! [`Identity`], or answers `401 unauthorized`. Handlers that take it cannot run anonymously.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

use super::{Auth, Identity};
use crate::error::AppError;

pub struct Authenticated(pub Identity);

/// The bearer token of a request, if any; never logged.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get(actix_web::http::header::AUTHORIZATION)?;
    let value = header.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim().to_string())
}

impl FromRequest for Authenticated {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let auth = req.app_data::<web::Data<Auth>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let auth =
                auth.ok_or_else(|| AppError::from(anyhow::anyhow!("Auth not registered")))?;
            let token = token.ok_or_else(AppError::unauthorized)?;
            auth.authenticate(&token).await.map(Authenticated)
        })
    }
}
