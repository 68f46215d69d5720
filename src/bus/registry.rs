//! The connection registry: one actor per node that knows every live socket on this node,
//! whose it is and which topics it joined. The bus delivers through it; shutdown closes
//! through it; presence transitions (a user's first socket opens, their last closes) are
//! reported from it. It sits beside the bus, below every domain and the transport.
//!
//! It addresses sessions only as `Recipient<Push>`, so it never knows the session type, and it
//! holds no database handle: it is pure in-memory routing.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use actix::prelude::*;

use crate::bus::{Audience, CallerUpdate, Delivery, EventFrame, SharedBus, Topic};

/// What a session is told to do.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub enum Push {
    Event(EventFrame),
    Close {
        code: u16,
        reason: String,
    },
    /// The caller's state changed (a mute, or its lifting).
    Caller(CallerUpdate),
    /// The standing of the socket's token as the database has it now (the periodic re-check):
    /// the session applies what changed.
    Standing {
        muted_until: i64,
        /// Whether the account may use restricted features (minors' rules).
        full: bool,
    },
}

/// What the database says of one token with open sockets on this node (see
/// `auth::standing`): close its sockets, or bring their state up to date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enforcement {
    Close {
        code: u16,
        reason: String,
    },
    Current {
        muted_until: i64,
        full: bool,
        /// Topics the token's sockets may no longer be in (a moderator who lost the role
        /// leaves the consoles).
        leave: Vec<Topic>,
    },
}

/// Applies the database's verdicts to every socket of each token on this node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Enforce(pub Vec<(i64, Enforcement)>);

/// The tokens of every authenticated socket on this node, each once.
#[derive(Message)]
#[rtype(result = "Vec<i64>")]
pub struct LiveTokens;

/// The bus was cut off and is back: deliveries may have been lost in between. Every socket is
/// told (`session.resync`), and the standing re-check runs at once.
#[derive(Message)]
#[rtype(result = "()")]
pub struct BusRecovered;

/// Asks the standing re-check to run now rather than at its next tick.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct RecheckNow;

/// Who runs the standing re-check on this node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetStandingWatch(pub Recipient<RecheckNow>);

/// A user's first socket on this node opened (`online`) or their last one closed.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct PresenceChanged {
    pub user_id: i64,
    pub online: bool,
}

#[derive(Message)]
#[rtype(result = "bool")]
pub struct Connect {
    pub conn_id: u64,
    pub recipient: Recipient<Push>,
}

/// Answers once deliveries for the user reach this node (see `Bus::user_arrived`); `false`
/// (and nothing registered) when the user already holds `max_per_user` sockets here.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Identify {
    pub conn_id: u64,
    pub user_id: i64,
    pub token_id: i64,
    pub max_per_user: usize,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    pub conn_id: u64,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver {
    pub audience: Audience,
    pub delivery: Delivery,
}

#[derive(Message)]
#[rtype(result = "HashSet<i64>")]
pub struct OnlineAmong(pub Vec<i64>);

/// Stop accepting sockets and close every open one with `1001`; answers how many were open.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct GoAway;

#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountConnections;

#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPresenceSink(pub Recipient<PresenceChanged>);

/// The bus to tell when a user's first socket arrives on this node or their last one leaves.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetBus(pub SharedBus);

struct Conn {
    recipient: Recipient<Push>,
    who: Option<(i64, i64)>,
    topics: HashSet<Topic>,
}

/// The connection joins the topic (the domain checked that it may). Answers once the
/// topic's deliveries reach this node (see `Bus::topic_joined`); `false` when the connection
/// is gone.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Join {
    pub conn_id: u64,
    pub topic: Topic,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub conn_id: u64,
    pub topic: Topic,
}

impl Handler<Join> for Registry {
    type Result = ResponseFuture<bool>;
    fn handle(&mut self, msg: Join, _: &mut Context<Self>) -> Self::Result {
        let Some(conn) = self.conns.get_mut(&msg.conn_id) else {
            return Box::pin(async { false });
        };
        if !conn.topics.insert(msg.topic.clone()) {
            return Box::pin(async { true });
        }
        let routed = self.add_member(msg.conn_id, &msg.topic);
        Box::pin(async move {
            routed.await;
            true
        })
    }
}

impl Registry {
    /// Adds the connection (its own `topics` already updated) to the topic's members; resolves
    /// once the topic's deliveries reach this node.
    fn add_member(
        &mut self,
        conn_id: u64,
        topic: &Topic,
    ) -> futures_util::future::BoxFuture<'static, ()> {
        let members = self.by_topic.entry(topic.clone()).or_default();
        members.insert(conn_id);
        let first = members.len() == 1;
        match &self.bus {
            Some(bus) => bus.topic_joined(topic, first),
            None => Box::pin(async {}),
        }
    }
}

impl Handler<Leave> for Registry {
    type Result = ();
    fn handle(&mut self, msg: Leave, _: &mut Context<Self>) {
        if let Some(conn) = self.conns.get_mut(&msg.conn_id) {
            if conn.topics.remove(&msg.topic) {
                self.left_topic(msg.conn_id, &msg.topic);
            }
        }
    }
}

impl Registry {
    /// Drops the connection from the topic's members (its own `topics` already updated).
    fn left_topic(&mut self, conn_id: u64, topic: &Topic) {
        let Some(members) = self.by_topic.get_mut(topic) else {
            return;
        };
        members.remove(&conn_id);
        if members.is_empty() {
            self.by_topic.remove(topic);
            if let Some(bus) = &self.bus {
                bus.topic_left(topic);
            }
        }
    }
}

pub struct Registry {
    conns: HashMap<u64, Conn>,
    by_user: HashMap<i64, HashSet<u64>>,
    by_topic: HashMap<Topic, HashSet<u64>>,
    /// Users whose last socket closed less than the presence grace period ago.
    lingering: HashMap<i64, SpawnHandle>,
    presence_grace: Duration,
    presence_sink: Option<Recipient<PresenceChanged>>,
    bus: Option<SharedBus>,
    standing_watch: Option<Recipient<RecheckNow>>,
    going_away: bool,
}

pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Mailbox size: `send`ers beyond it wait (back-pressure); `do_send` is never refused.
const MAILBOX_CAPACITY: usize = 4096;

impl Registry {
    pub fn new(presence_grace: Duration) -> Self {
        Self {
            conns: HashMap::new(),
            by_user: HashMap::new(),
            by_topic: HashMap::new(),
            lingering: HashMap::new(),
            presence_grace,
            presence_sink: None,
            bus: None,
            standing_watch: None,
            going_away: false,
        }
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

impl Registry {
    fn report_presence(&self, user_id: i64, online: bool) {
        // Sockets closing because this node stops say nothing about the user: they reconnect
        // elsewhere, and the database may already be closing.
        if self.going_away {
            return;
        }
        if let Some(sink) = &self.presence_sink {
            sink.do_send(PresenceChanged { user_id, online });
        }
    }
}

impl Handler<SetBus> for Registry {
    type Result = ();
    fn handle(&mut self, msg: SetBus, _: &mut Context<Self>) {
        self.bus = Some(msg.0);
    }
}

impl Handler<SetPresenceSink> for Registry {
    type Result = ();
    fn handle(&mut self, msg: SetPresenceSink, _: &mut Context<Self>) {
        self.presence_sink = Some(msg.0);
    }
}

impl Handler<Connect> for Registry {
    type Result = bool;
    /// Refused (false) while the node is going away.
    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) -> bool {
        if self.going_away {
            return false;
        }
        self.conns.insert(
            msg.conn_id,
            Conn {
                recipient: msg.recipient,
                who: None,
                topics: HashSet::new(),
            },
        );
        true
    }
}

impl Handler<Identify> for Registry {
    type Result = ResponseFuture<bool>;
    fn handle(&mut self, msg: Identify, ctx: &mut Context<Self>) -> Self::Result {
        let held = self.by_user.get(&msg.user_id).map_or(0, HashSet::len);
        if held >= msg.max_per_user {
            return Box::pin(async { false });
        }
        let Some(conn) = self.conns.get_mut(&msg.conn_id) else {
            return Box::pin(async { true });
        };
        conn.who = Some((msg.user_id, msg.token_id));
        let sockets = self.by_user.entry(msg.user_id).or_default();
        sockets.insert(msg.conn_id);
        let mut first = sockets.len() == 1;
        if first {
            match self.lingering.remove(&msg.user_id) {
                // Back within the grace period: never went away, still subscribed.
                Some(timer) => {
                    ctx.cancel_future(timer);
                    first = false;
                }
                None => self.report_presence(msg.user_id, true),
            }
        }
        match &self.bus {
            Some(bus) => {
                let arrived = bus.user_arrived(msg.user_id, first);
                Box::pin(async move {
                    arrived.await;
                    true
                })
            }
            None => Box::pin(async { true }),
        }
    }
}

impl Handler<LiveTokens> for Registry {
    type Result = MessageResult<LiveTokens>;
    fn handle(&mut self, _: LiveTokens, _: &mut Context<Self>) -> Self::Result {
        let tokens: HashSet<i64> = self
            .conns
            .values()
            .filter_map(|c| c.who)
            .map(|w| w.1)
            .collect();
        MessageResult(tokens.into_iter().collect())
    }
}

impl Handler<Enforce> for Registry {
    type Result = ();
    fn handle(&mut self, msg: Enforce, _: &mut Context<Self>) {
        let verdicts: HashMap<i64, Enforcement> = msg.0.into_iter().collect();
        let mut left = Vec::new();
        for (conn_id, conn) in self.conns.iter_mut() {
            let Some(verdict) = conn.who.and_then(|(_, token)| verdicts.get(&token)) else {
                continue;
            };
            let push = match verdict {
                Enforcement::Close { code, reason } => Push::Close {
                    code: *code,
                    reason: reason.clone(),
                },
                Enforcement::Current {
                    muted_until,
                    full,
                    leave,
                } => {
                    for topic in leave {
                        if conn.topics.remove(topic) {
                            left.push((*conn_id, topic.clone()));
                        }
                    }
                    Push::Standing {
                        muted_until: *muted_until,
                        full: *full,
                    }
                }
            };
            conn.recipient.do_send(push);
        }
        for (conn_id, topic) in left {
            self.left_topic(conn_id, &topic);
        }
    }
}

impl Handler<SetStandingWatch> for Registry {
    type Result = ();
    fn handle(&mut self, msg: SetStandingWatch, _: &mut Context<Self>) {
        self.standing_watch = Some(msg.0);
    }
}

impl Handler<BusRecovered> for Registry {
    type Result = ();
    fn handle(&mut self, _: BusRecovered, _: &mut Context<Self>) {
        if let Some(watch) = &self.standing_watch {
            watch.do_send(RecheckNow);
        }
        let frame = EventFrame::new(
            "session.resync",
            &serde_json::json!({ "reason": "bus_recovered" }),
            None,
        );
        for conn in self.conns.values().filter(|c| c.who.is_some()) {
            conn.recipient.do_send(Push::Event(frame.clone()));
        }
    }
}

impl Handler<Disconnect> for Registry {
    type Result = ();
    /// A user's last socket closing starts the presence grace period: they still count as
    /// here (for presence queries, and on the bus for other nodes) until it runs out, and a
    /// socket of theirs opening meanwhile makes the whole gap no news.
    fn handle(&mut self, msg: Disconnect, ctx: &mut Context<Self>) {
        let Some(conn) = self.conns.remove(&msg.conn_id) else {
            return;
        };
        for topic in &conn.topics {
            self.left_topic(msg.conn_id, topic);
        }
        let Some((user_id, _)) = conn.who else {
            return;
        };
        let Some(sockets) = self.by_user.get_mut(&user_id) else {
            return;
        };
        sockets.remove(&msg.conn_id);
        if !sockets.is_empty() {
            return;
        }
        self.by_user.remove(&user_id);
        let timer = ctx.run_later(self.presence_grace, move |act, _| {
            act.lingering.remove(&user_id);
            if !act.by_user.contains_key(&user_id) {
                if let Some(bus) = &act.bus {
                    bus.user_left(user_id);
                }
                act.report_presence(user_id, false);
            }
        });
        if let Some(previous) = self.lingering.insert(user_id, timer) {
            ctx.cancel_future(previous);
        }
    }
}

impl Registry {
    /// The sockets of the audience that are in `topic` leave it and get `event`.
    fn leave_topic(&mut self, audience: &Audience, topic: &Topic, event: &EventFrame) {
        let conns: Vec<u64> = match audience {
            Audience::Connection(id) => vec![id.conn],
            Audience::Topic(t) if t == topic => self
                .by_topic
                .get(topic)
                .map(|m| m.iter().copied().collect())
                .unwrap_or_default(),
            Audience::Topic(_) => Vec::new(),
            other => other
                .user_ids()
                .iter()
                .filter_map(|u| self.by_user.get(u))
                .flatten()
                .copied()
                .collect(),
        };
        for conn_id in conns {
            let Some(conn) = self.conns.get_mut(&conn_id) else {
                continue;
            };
            if conn.topics.remove(topic) {
                conn.recipient.do_send(Push::Event(event.clone()));
                self.left_topic(conn_id, topic);
            }
        }
    }
}

impl Handler<Deliver> for Registry {
    type Result = ();
    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) {
        if let Delivery::LeaveTopic { topic, event } = &msg.delivery {
            self.leave_topic(&msg.audience, topic, event);
            return;
        }
        if let Audience::Connection(id) = &msg.audience {
            // The bus routes a connection's deliveries to its node only.
            if let Some(conn) = self.conns.get(&id.conn) {
                conn.recipient.do_send(match msg.delivery {
                    Delivery::Event(frame) => Push::Event(frame),
                    Delivery::CloseToken { code, reason, .. }
                    | Delivery::CloseUser { code, reason } => Push::Close { code, reason },
                    Delivery::Caller(update) => Push::Caller(update),
                    Delivery::LeaveTopic { .. } => return,
                });
            }
            return;
        }
        if let Audience::Topic(topic) = &msg.audience {
            // Topics carry events; closing and muting address users.
            if let (Delivery::Event(frame), Some(members)) =
                (&msg.delivery, self.by_topic.get(topic))
            {
                for conn in members.iter().filter_map(|id| self.conns.get(id)) {
                    conn.recipient.do_send(Push::Event(frame.clone()));
                }
            }
            return;
        }
        for user_id in msg.audience.user_ids() {
            let Some(sockets) = self.by_user.get(user_id) else {
                continue;
            };
            for conn_id in sockets {
                let Some(conn) = self.conns.get(conn_id) else {
                    continue;
                };
                let push = match &msg.delivery {
                    Delivery::Event(frame) => Push::Event(frame.clone()),
                    Delivery::CloseToken {
                        token_id,
                        code,
                        reason,
                    } => {
                        if conn.who.map(|(_, t)| t) != Some(*token_id) {
                            continue;
                        }
                        Push::Close {
                            code: *code,
                            reason: reason.clone(),
                        }
                    }
                    Delivery::CloseUser { code, reason } => Push::Close {
                        code: *code,
                        reason: reason.clone(),
                    },
                    Delivery::Caller(update) => Push::Caller(*update),
                    Delivery::LeaveTopic { .. } => continue,
                };
                conn.recipient.do_send(push);
            }
        }
    }
}

impl Handler<OnlineAmong> for Registry {
    type Result = MessageResult<OnlineAmong>;
    fn handle(&mut self, msg: OnlineAmong, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            msg.0
                .into_iter()
                .filter(|u| self.by_user.contains_key(u) || self.lingering.contains_key(u))
                .collect(),
        )
    }
}

impl Handler<GoAway> for Registry {
    type Result = usize;
    fn handle(&mut self, _: GoAway, _: &mut Context<Self>) -> usize {
        self.going_away = true;
        for conn in self.conns.values() {
            conn.recipient.do_send(Push::Close {
                code: CLOSE_GOING_AWAY,
                reason: "server shutting down; reconnect".into(),
            });
        }
        self.conns.len()
    }
}

/// An event for every authenticated socket on this node (a new policy version). Each node
/// broadcasts to its own sockets; nothing crosses the bus.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct BroadcastLocal(pub EventFrame);

impl Handler<BroadcastLocal> for Registry {
    type Result = usize;
    fn handle(&mut self, msg: BroadcastLocal, _: &mut Context<Self>) -> usize {
        let mut sent = 0;
        for conn in self.conns.values().filter(|c| c.who.is_some()) {
            conn.recipient.do_send(Push::Event(msg.0.clone()));
            sent += 1;
        }
        sent
    }
}

/// The ids of a user's connections on this node, oldest first.
#[derive(Message)]
#[rtype(result = "Vec<u64>")]
pub struct ConnectionsOf(pub i64);

impl Handler<ConnectionsOf> for Registry {
    type Result = MessageResult<ConnectionsOf>;
    fn handle(&mut self, msg: ConnectionsOf, _: &mut Context<Self>) -> Self::Result {
        let mut ids: Vec<u64> = self
            .by_user
            .get(&msg.0)
            .map(|conns| conns.iter().copied().collect())
            .unwrap_or_default();
        ids.sort_unstable();
        MessageResult(ids)
    }
}

impl Handler<CountConnections> for Registry {
    type Result = usize;
    fn handle(&mut self, _: CountConnections, _: &mut Context<Self>) -> usize {
        self.conns.len()
    }
}

/// The connections on this node in a topic, each with its user (a live room's members, read
/// by the room's actor once a second: sockets that closed are simply gone).
#[derive(Message)]
#[rtype(result = "Vec<(u64, i64)>")]
pub struct TopicMembers(pub Topic);

impl Handler<TopicMembers> for Registry {
    type Result = MessageResult<TopicMembers>;
    fn handle(&mut self, msg: TopicMembers, _: &mut Context<Self>) -> Self::Result {
        let members = self
            .by_topic
            .get(&msg.0)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| {
                        let who = self.conns.get(id)?.who?;
                        Some((*id, who.0))
                    })
                    .collect()
            })
            .unwrap_or_default();
        MessageResult(members)
    }
}

/// Joins the topic unless the connection already holds `max` topics whose names start with
/// `kind` (live rooms per socket). Answers once the topic's deliveries reach this node.
#[derive(Message)]
#[rtype(result = "JoinOutcome")]
pub struct JoinLimited {
    pub conn_id: u64,
    pub topic: Topic,
    pub kind: &'static str,
    pub max: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinOutcome {
    Joined,
    AlreadyIn,
    TooMany,
    /// The connection closed meanwhile.
    Gone,
}

impl Handler<JoinLimited> for Registry {
    type Result = ResponseFuture<JoinOutcome>;
    fn handle(&mut self, msg: JoinLimited, _: &mut Context<Self>) -> Self::Result {
        let Some(conn) = self.conns.get_mut(&msg.conn_id) else {
            return Box::pin(async { JoinOutcome::Gone });
        };
        if conn.topics.contains(&msg.topic) {
            return Box::pin(async { JoinOutcome::AlreadyIn });
        }
        let held = conn
            .topics
            .iter()
            .filter(|t| t.name().starts_with(msg.kind))
            .count();
        if held >= msg.max {
            return Box::pin(async { JoinOutcome::TooMany });
        }
        conn.topics.insert(msg.topic.clone());
        let routed = self.add_member(msg.conn_id, &msg.topic);
        Box::pin(async move {
            routed.await;
            JoinOutcome::Joined
        })
    }
}

/// Which of these connections are open on this node, each still signed in as the given user
/// (a call's watch renews the lease of the devices it holds).
#[derive(Message)]
#[rtype(result = "HashSet<u64>")]
pub struct OpenAmong(pub Vec<(u64, i64)>);

impl Handler<OpenAmong> for Registry {
    type Result = MessageResult<OpenAmong>;
    fn handle(&mut self, msg: OpenAmong, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            msg.0
                .into_iter()
                .filter(|(conn, user)| {
                    self.conns
                        .get(conn)
                        .and_then(|c| c.who)
                        .is_some_and(|who| who.0 == *user)
                })
                .map(|(conn, _)| conn)
                .collect(),
        )
    }
}
