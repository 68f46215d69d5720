//! The delivery bus: "deliver this to user U" without knowing where U's sockets are.
//!
//! Domain actors publish through [`Bus`]; they never reach into sessions. The
//! [`local::LocalBus`] (default) hands deliveries to this node's connection registry. A Redis
//! implementation (multi-node) publishes them so that other nodes' registries get them too;
//! no domain code changes with the choice. Pub/sub may drop: anything that matters is in the
//! database first and carries a sequence number so that clients can fill gaps.

pub mod local;

use std::collections::HashSet;
use std::sync::Arc;

use bytestring::ByteString;
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::json;

/// Who a delivery is for.
#[derive(Clone, Debug)]
pub enum Audience {
    User(i64),
    Users(Vec<i64>),
}

impl Audience {
    pub fn user_ids(&self) -> &[i64] {
        match self {
            Audience::User(id) => std::slice::from_ref(id),
            Audience::Users(ids) => ids,
        }
    }
}

/// The position of a chat message in its conversation's stream, carried beside the
/// serialised frame so that sessions can order and de-duplicate without parsing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamPos {
    pub conversation_id: i64,
    pub seq: i64,
}

/// A server event, serialised once and shared by every recipient socket.
#[derive(Clone, Debug)]
pub struct EventFrame {
    pub text: ByteString,
    pub pos: Option<StreamPos>,
}

impl EventFrame {
    /// `{"type":..,"seq":..,"data":..}`; `seq` only for events of an ordered stream.
    pub fn new(kind: &str, data: &impl Serialize, pos: Option<StreamPos>) -> Self {
        let mut frame = json!({ "type": kind, "data": data });
        if let Some(p) = pos {
            frame["seq"] = json!(p.seq);
        }
        Self {
            text: ByteString::from(frame.to_string()),
            pos,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Delivery {
    Event(EventFrame),
    /// Close every socket authenticated with this token (revocation, expiry).
    CloseToken {
        token_id: i64,
        code: u16,
        reason: String,
    },
}

pub trait Bus: Send + Sync + 'static {
    fn publish(&self, audience: Audience, delivery: Delivery);

    /// Which of `users` have at least one live socket.
    fn online(&self, users: Vec<i64>) -> BoxFuture<'static, HashSet<i64>>;
}

pub type SharedBus = Arc<dyn Bus>;
