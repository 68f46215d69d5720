//! The delivery bus: "deliver this to user U" (or to the members of a topic, or to one
//! connection) without knowing where their sockets are.
//!
//! Domain actors publish through [`Bus`]; they never reach into sessions. The node's
//! connection [`registry::Registry`] knows every socket on the node, by user and by topic.
//! The [`local::LocalBus`] (default) hands deliveries to it;
//! [`redis::RedisBus`] (when `REDIS_URL` is set) also publishes them so that other nodes'
//! registries get them too. No domain code changes with the choice. Pub/sub may drop: anything that matters is in the
//! database first and carries a sequence number so that clients can fill gaps.

pub mod local;
pub mod redis;
pub mod registry;

use std::collections::HashSet;
use std::sync::Arc;

use bytestring::ByteString;
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::json;

/// A named group of connections that join and leave it (the moderators' consoles; a room's
/// audience next). A multi-node bus routes a topic only to the nodes holding a member.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(Arc<str>);

impl Topic {
    /// A topic's name: the server's own (`consoles`, `room:12`), never a client's text.
    pub fn new(name: impl Into<Arc<str>>) -> Topic {
        Topic(name.into())
    }

    /// Every moderator console on any node (`mod.subscribe` joins it).
    pub fn consoles() -> Topic {
        Topic::new("consoles")
    }

    pub fn name(&self) -> &str {
        &self.0
    }
}

/// One connection (one device's socket), on whatever node holds it: the node's id on the
/// bus and the connection's id on that node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionId {
    pub node: u64,
    pub conn: u64,
}

/// Who a delivery is for.
#[derive(Clone, Debug)]
pub enum Audience {
    User(i64),
    Users(Vec<i64>),
    /// Every connection that joined the topic, on any node.
    Topic(Topic),
    /// One connection only (a call's signal goes to the device that took the call).
    Connection(ConnectionId),
}

impl Audience {
    /// The users addressed; none for a topic (it goes by membership) or a connection.
    pub fn user_ids(&self) -> &[i64] {
        match self {
            Audience::User(id) => std::slice::from_ref(id),
            Audience::Users(ids) => ids,
            Audience::Topic(_) | Audience::Connection(_) => &[],
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
    /// Wall-clock time of publication, µs since the epoch: the start of the delivery-latency
    /// measurement (comparable across nodes with synchronised clocks).
    pub published_at_us: i64,
}

impl EventFrame {
    /// `{"type":..,"seq":..,"data":..}` for an event of a numbered stream the session does
    /// not order (a live room's: its clients drop what they already hold).
    pub fn numbered(kind: &str, data: &impl Serialize, seq: i64) -> Self {
        let frame = json!({ "type": kind, "seq": seq, "data": data });
        Self {
            text: ByteString::from(frame.to_string()),
            pos: None,
            published_at_us: now_us(),
        }
    }

    /// `{"type":..,"seq":..,"data":..}`; `seq` only for events of an ordered stream.
    pub fn new(kind: &str, data: &impl Serialize, pos: Option<StreamPos>) -> Self {
        let mut frame = json!({ "type": kind, "data": data });
        if let Some(p) = pos {
            frame["seq"] = json!(p.seq);
        }
        Self {
            text: ByteString::from(frame.to_string()),
            pos,
            published_at_us: now_us(),
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
    /// Close every socket of the audience (account deletion, suspension).
    CloseUser {
        code: u16,
        reason: String,
    },
    /// A change to the state every socket of the audience holds about its caller (the
    /// identity the session checks gates against), applied without a reconnect.
    Caller(CallerUpdate),
    /// Every socket of the audience that is in `topic` leaves it and gets `event` (a kick or
    /// ban out of a live room, on whatever node the sockets are; a hidden room empties).
    LeaveTopic {
        topic: Topic,
        event: EventFrame,
    },
}

/// What changed in a caller's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallerUpdate {
    /// No speaking (chat) until this time, Unix ms; 0 lifts a mute.
    MutedUntil(i64),
}

pub trait Bus: Send + Sync + 'static {
    fn publish(&self, audience: Audience, delivery: Delivery);

    /// This node's id on the bus: the `node` of its connections' [`ConnectionId`]s.
    fn node_id(&self) -> u64 {
        0
    }

    /// Which of `users` have at least one live socket, on any node.
    fn online(&self, users: Vec<i64>) -> BoxFuture<'static, HashSet<i64>>;

    /// Which of `users` have a live socket on another node (none for a single node).
    fn online_elsewhere(&self, _users: Vec<i64>) -> BoxFuture<'static, HashSet<i64>> {
        Box::pin(async { HashSet::new() })
    }

    /// This node now holds a socket of `user_id` (its first, when `first`): a multi-node bus
    /// starts routing that user's deliveries here. Resolves once deliveries published from
    /// now on reach this node (for a later socket: once the first socket's subscription is
    /// in place), so that a session can hold its commands until nothing can slip past it.
    fn user_arrived(&self, _user_id: i64, _first: bool) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }

    /// This node's last socket of `user_id` closed.
    fn user_left(&self, _user_id: i64) {}

    /// A connection on this node joined the topic (the node's first member, when `first`):
    /// a multi-node bus starts routing the topic here. Resolves once deliveries published
    /// from now on reach this node, as [`Bus::user_arrived`] does.
    fn topic_joined(&self, _topic: &Topic, _first: bool) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }

    /// The topic's last member on this node left.
    fn topic_left(&self, _topic: &Topic) {}
}

pub type SharedBus = Arc<dyn Bus>;

pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
