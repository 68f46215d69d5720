//! The WebSocket transport: `GET /ws`, the per-connection [`session::WsSession`] actor (which
//! registers with the node's connection registry, [`crate::bus::registry`]), the envelope in
//! [`protocol`] and the outbound queue bound in [`outbound`]. This folder translates between frames and the domains'
//! command tables; it knows no command name, and holds no SQL and no business rules.

pub mod outbound;
pub mod protocol;
pub mod session;
pub mod settings;

use std::sync::Arc;

use actix::Addr;
use actix_http::ws::Codec;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws::{self as actix_ws, WebsocketContext};

use crate::auth::Auth;
use crate::bus::registry::Registry;
use crate::commands::Routes;
use outbound::{Gauged, OutboundGauge};
use session::WsSession;
use settings::WsSettings;

/// The subprotocol the server speaks; echoed in the handshake.
pub const SUBPROTOCOL: &str = "duoxie.v1";
/// Prefix of the subprotocol entry that carries a token: `auth.<token>`.
const TOKEN_PREFIX: &str = "auth.";

/// What every session needs; shared, immutable.
pub struct WsServices {
    pub auth: Auth,
    /// Every domain's commands, by wire name.
    pub routes: Routes,
    pub registry: Addr<Registry>,
    /// This node's id on the bus (the `node` of its connections' ids).
    pub node_id: u64,
    pub ws: WsSettings,
    /// Sent in `session.ready`, so that a client learns at once when the policy changed.
    pub policy_version: crate::consent::PolicyVersion,
}

/// The offered subprotocols, and the token if one of them carries it.
fn offered_protocols(req: &HttpRequest) -> (bool, Option<String>) {
    let mut speaks_ours = false;
    let mut token = None;
    for header in req
        .headers()
        .get_all(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)
    {
        let Ok(value) = header.to_str() else { continue };
        for entry in value.split(',').map(str::trim) {
            if entry == SUBPROTOCOL {
                speaks_ours = true;
            } else if let Some(t) = entry.strip_prefix(TOKEN_PREFIX) {
                token = Some(t.to_string());
            }
        }
    }
    (speaks_ours, token)
}

/// `GET /ws`: upgrades to a WebSocket session. A token offered in the handshake is checked
/// here (`401` when bad); without one the session waits for an `auth` frame.
pub async fn connect(
    req: HttpRequest,
    payload: web::Payload,
    services: web::Data<WsServices>,
) -> Result<HttpResponse, actix_web::Error> {
    let (speaks_ours, token) = offered_protocols(&req);
    let identity = match token {
        Some(token) => Some(services.auth.authenticate(&token).await?),
        None => None,
    };
    let mut response = if speaks_ours {
        actix_ws::handshake_with_protocols(&req, &[SUBPROTOCOL])?
    } else {
        actix_ws::handshake(&req)?
    };
    let services: Arc<WsServices> = services.into_inner();
    let gauge = Arc::new(OutboundGauge::default());
    // Frames up to 4x the soft limit are read and answered with `frame_too_large`; above that
    // the codec refuses them and the session closes with 1009.
    let hard_limit = services.ws.max_frame_bytes.saturating_mul(4);
    let session = WsSession::new(services, identity, gauge.clone());
    let body = WebsocketContext::with_codec(session, payload, Codec::new().max_size(hard_limit));
    Ok(response.streaming(Gauged::new(Box::pin(body), gauge)))
}
