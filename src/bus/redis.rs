//! The Redis bus: deliveries reach users' sockets on every node.
//!
//! Routing is per user and per topic: a node subscribes to `<prefix>:u:<user_id>` only while
//! it holds at least one socket of that user, and to `<prefix>:t:<topic>` only while one of
//! its connections is a member, so an event goes only to the nodes that need it (not to
//! every node). A delivery to one connection goes to its node's channel, `<prefix>:n:<node>`,
//! which every node subscribes to from the start. Publishing delivers to this node's registry directly and publishes for the
//! others; a node ignores its own publications (each carries the node id).
//!
//! One RESP3 `ConnectionManager` carries commands and subscriptions: it reconnects by itself
//! and re-subscribes after a Redis restart. Messages published while a node was cut off are
//! lost, which is allowed: the database is the truth and clients fill gaps by `seq`.
//!
//! Presence across nodes lives in a hash per user, `<prefix>:p:<user_id>`, one field per node
//! holding that node's lease expiry (ms). Leases are renewed every [`PRESENCE_RENEW`], so a node
//! that dies stops counting as presence within [`PRESENCE_LEASE`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use anyhow::{bail, Context};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{PushInfo, PushKind, Value};
use tokio::sync::{mpsc, oneshot};

use super::{Audience, Bus, CallerUpdate, ConnectionId, Delivery, EventFrame, StreamPos, Topic};
use crate::bus::registry::{BusRecovered, Deliver, OnlineAmong, Registry};
use crate::metrics::{self, METRICS};
use crate::store::now_ms;

/// How long a node's presence claim on a user lasts without renewal.
pub const PRESENCE_LEASE: Duration = Duration::from_secs(60);
/// How often a node renews the presence of its users.
pub const PRESENCE_RENEW: Duration = Duration::from_secs(20);
/// Longest wait for one Redis call from a request path (publish, presence, readiness).
const REDIS_CALL_TIMEOUT: Duration = Duration::from_secs(1);
/// How often a node that lost Redis checks whether it is back.
const RECOVERY_PROBE: Duration = Duration::from_millis(250);
/// Longest a new socket's commands wait for its user's subscription.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(2);

pub struct RedisBus {
    node_id: u64,
    prefix: Arc<str>,
    conn: ConnectionManager,
    registry: Addr<Registry>,
    ops: mpsc::UnboundedSender<SubscriptionOp>,
    /// Publishes, in the order they were made: one task sends them (see `publish_loop`).
    outgoing: mpsc::UnboundedSender<Outgoing>,
}

/// One publish: the same payload to each channel.
struct Outgoing {
    channels: Vec<String>,
    payload: Bytes,
}

/// Most publishes sent in one pipeline.
const PUBLISH_BATCH_MAX: usize = 1024;

/// Sends every publish in the order it was made, as pipelines of what has queued up meanwhile.
/// One task on one connection keeps the order (a comment batch's events reach other nodes in
/// seq order; a task per publish let them overtake each other), and a pipeline per wake-up
/// costs one round trip for many publishes. During an outage a pipeline fails after the call
/// timeout and its publishes are dropped (clients fill the gap by seq), so the queue holds at
/// most that long's worth.
async fn publish_loop(mut rx: mpsc::UnboundedReceiver<Outgoing>, mut conn: ConnectionManager) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < PUBLISH_BATCH_MAX {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut pipe = redis::pipe();
        let mut commands = 0u64;
        for out in &batch {
            for channel in &out.channels {
                pipe.cmd("PUBLISH")
                    .arg(channel)
                    .arg(out.payload.as_ref())
                    .ignore();
                commands += 1;
            }
        }
        let sent = tokio::time::timeout(REDIS_CALL_TIMEOUT, pipe.query_async::<()>(&mut conn))
            .await
            .unwrap_or_else(|_| Err(redis::RedisError::from((redis::ErrorKind::Io, "timed out"))));
        match sent {
            Ok(()) => {
                METRICS.bus_published.fetch_add(commands, Ordering::Relaxed);
            }
            Err(e) => {
                metrics::inc(&METRICS.bus_publish_errors);
                tracing::warn!(error = %e, dropped = commands, "Redis publish failed; clients will fill the gap by seq");
            }
        }
    }
}

enum SubscriptionOp {
    Arrived(i64, oneshot::Sender<()>),
    Barrier(oneshot::Sender<()>),
    Left(i64),
    TopicJoined(Topic, oneshot::Sender<()>),
    TopicLeft(Topic),
    /// The connection was lost (Redis may have restarted empty): rewrite our leases now
    /// rather than at the next renewal, and probe until it is back.
    RenewAll,
}

impl RedisBus {
    /// Connects (RESP3), starts the receive and subscription tasks on the current arbiter.
    pub async fn connect(
        url: &str,
        prefix: &str,
        registry: Addr<Registry>,
    ) -> anyhow::Result<Self> {
        let url = if url.contains("protocol=") {
            url.to_string()
        } else if url.contains('?') {
            format!("{url}&protocol=resp3")
        } else {
            format!("{url}?protocol=resp3")
        };
        let client = redis::Client::open(url.as_str()).context("parse REDIS_URL")?;
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(push_tx)
            .set_automatic_resubscription()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_max_delay(Duration::from_secs(1))
            .set_number_of_retries(usize::MAX);
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .context("connect to Redis (REDIS_URL)")?;
        let node_id = rand::random::<u64>() >> 1;
        let prefix: Arc<str> = Arc::from(prefix);
        // Deliveries to one of this node's connections come on the node's own channel.
        let mut subscriber = conn.clone();
        subscriber
            .subscribe(node_channel(&prefix, node_id))
            .await
            .context("subscribe to the node's channel")?;
        let (ops, ops_rx) = mpsc::unbounded_channel();
        actix_web::rt::spawn(receive_loop(
            push_rx,
            node_id,
            prefix.clone(),
            registry.clone(),
            ops.clone(),
        ));
        actix_web::rt::spawn(subscription_loop(
            ops_rx,
            conn.clone(),
            node_id,
            prefix.clone(),
            registry.clone(),
        ));
        let (outgoing, outgoing_rx) = mpsc::unbounded_channel();
        actix_web::rt::spawn(publish_loop(outgoing_rx, conn.clone()));
        tracing::info!(node_id, "Redis bus connected");
        Ok(Self {
            node_id,
            prefix,
            conn,
            registry,
            ops,
            outgoing,
        })
    }

    /// A handle on the bus's connection for a domain's own keys (the home timelines): the
    /// manager multiplexes commands and reconnects by itself.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Whether Redis answers (for `/readyz`) within the call timeout: while Redis is down the
    /// connection manager keeps reconnecting, and a probe must not wait for it.
    pub async fn ping(&self) -> bool {
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<String>(&mut conn);
        matches!(
            tokio::time::timeout(REDIS_CALL_TIMEOUT, ping).await,
            Ok(Ok(_))
        )
    }
}

fn user_channel(prefix: &str, user_id: i64) -> String {
    format!("{prefix}:u:{user_id}")
}

fn topic_channel(prefix: &str, topic: &Topic) -> String {
    format!("{prefix}:t:{}", topic.name())
}

fn node_channel(prefix: &str, node_id: u64) -> String {
    format!("{prefix}:n:{node_id}")
}

fn presence_key(prefix: &str, user_id: i64) -> String {
    format!("{prefix}:p:{user_id}")
}

impl Bus for RedisBus {
    fn node_id(&self) -> u64 {
        self.node_id
    }

    fn publish(&self, audience: Audience, delivery: Delivery) {
        let mut payload = encode(self.node_id, &delivery);
        // Connection ids are only unique on their node: another node's goes there alone.
        let here = !matches!(&audience, Audience::Connection(id) if id.node != self.node_id);
        let channels: Vec<String> = match &audience {
            Audience::Topic(topic) => vec![topic_channel(&self.prefix, topic)],
            // Another node's connection: its node's channel, the connection id first.
            Audience::Connection(id) if id.node != self.node_id => {
                let mut addressed = BytesMut::with_capacity(8 + payload.len());
                addressed.put_u64(id.conn);
                addressed.extend_from_slice(&payload);
                payload = addressed.freeze();
                vec![node_channel(&self.prefix, id.node)]
            }
            other => other
                .user_ids()
                .iter()
                .map(|u| user_channel(&self.prefix, *u))
                .collect(),
        };
        if here {
            self.registry.do_send(Deliver { audience, delivery });
        }
        if channels.is_empty() {
            // One of this node's own connections: delivered above.
            return;
        }
        // The loop is gone only when the runtime is: nothing is left to deliver then.
        let _ = self.outgoing.send(Outgoing { channels, payload });
    }

    fn online(&self, users: Vec<i64>) -> BoxFuture<'static, HashSet<i64>> {
        let registry = self.registry.clone();
        let elsewhere = self.online_elsewhere(users.clone());
        Box::pin(async move {
            // This node's sockets are known exactly from the registry; Redis answers for the
            // others (this node's own lease there may lag behind a socket that just closed).
            let mut online = registry.send(OnlineAmong(users)).await.unwrap_or_default();
            online.extend(elsewhere.await);
            online
        })
    }

    fn online_elsewhere(&self, users: Vec<i64>) -> BoxFuture<'static, HashSet<i64>> {
        let mut conn = self.conn.clone();
        let prefix = self.prefix.clone();
        let own_field = self.node_id.to_string();
        Box::pin(async move {
            let mut online = HashSet::new();
            if users.is_empty() {
                return online;
            }
            let mut pipe = redis::pipe();
            for u in &users {
                pipe.cmd("HGETALL").arg(presence_key(&prefix, *u));
            }
            let now = now_ms();
            let leases = tokio::time::timeout(
                REDIS_CALL_TIMEOUT,
                pipe.query_async::<Vec<HashMap<String, i64>>>(&mut conn),
            )
            .await;
            match leases {
                Ok(Ok(leases)) => {
                    for (u, lease) in users.iter().zip(leases) {
                        if lease
                            .iter()
                            .any(|(node, expires)| *node != own_field && *expires > now)
                        {
                            online.insert(*u);
                        }
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "Redis presence lookup failed"),
                Err(_) => tracing::warn!("Redis presence lookup timed out"),
            }
            online
        })
    }

    fn user_arrived(&self, user_id: i64, first: bool) -> BoxFuture<'static, ()> {
        let (done, subscribed) = oneshot::channel();
        // Ops run in order, so a barrier queued behind the first socket's subscription
        // resolves once that is in place.
        let op = if first {
            SubscriptionOp::Arrived(user_id, done)
        } else {
            SubscriptionOp::Barrier(done)
        };
        let _ = self.ops.send(op);
        Box::pin(async move {
            // Redis down: do not hold the session forever; the client's sync covers the gap.
            let _ = tokio::time::timeout(SUBSCRIBE_WAIT, subscribed).await;
        })
    }

    fn user_left(&self, user_id: i64) {
        let _ = self.ops.send(SubscriptionOp::Left(user_id));
    }

    fn topic_joined(&self, topic: &Topic, first: bool) -> BoxFuture<'static, ()> {
        let (done, subscribed) = oneshot::channel();
        let op = if first {
            SubscriptionOp::TopicJoined(topic.clone(), done)
        } else {
            SubscriptionOp::Barrier(done)
        };
        let _ = self.ops.send(op);
        Box::pin(async move {
            let _ = tokio::time::timeout(SUBSCRIBE_WAIT, subscribed).await;
        })
    }

    fn topic_left(&self, topic: &Topic) {
        let _ = self.ops.send(SubscriptionOp::TopicLeft(topic.clone()));
    }
}

/// Applies subscription changes in the order they happened (a leave racing ahead of an
/// arrival would leave a user's socket deaf) and renews presence leases.
async fn subscription_loop(
    mut ops: mpsc::UnboundedReceiver<SubscriptionOp>,
    mut conn: ConnectionManager,
    node_id: u64,
    prefix: Arc<str>,
    registry: Addr<Registry>,
) {
    let mut local: HashSet<i64> = HashSet::new();
    let mut renew = tokio::time::interval(PRESENCE_RENEW);
    // Set while the connection is lost: publications in between are gone, so once Redis
    // answers again every socket on this node is told to resync.
    let mut lost = false;
    let mut probe = tokio::time::interval(RECOVERY_PROBE);
    let field = node_id.to_string();
    loop {
        tokio::select! {
            op = ops.recv() => {
                let Some(op) = op else { return };
                let result = match op {
                    SubscriptionOp::Barrier(done) => {
                        let _ = done.send(());
                        Ok(())
                    }
                    SubscriptionOp::Arrived(user_id, done) => {
                        local.insert(user_id);
                        let lease = now_ms() + PRESENCE_LEASE.as_millis() as i64;
                        let key = presence_key(&prefix, user_id);
                        let presence = redis::pipe()
                            .cmd("HSET").arg(&key).arg(&field).arg(lease).ignore()
                            .cmd("PEXPIRE").arg(&key).arg(PRESENCE_LEASE.as_millis() as u64).ignore()
                            .query_async::<()>(&mut conn)
                            .await;
                        let subscribed = conn.subscribe(user_channel(&prefix, user_id)).await;
                        let _ = done.send(());
                        match subscribed {
                            Ok(()) => presence,
                            Err(e) => Err(e),
                        }
                    }
                    // Automatic resubscription keeps a topic after a reconnect, as a user.
                    SubscriptionOp::TopicJoined(topic, done) => {
                        let subscribed = conn.subscribe(topic_channel(&prefix, &topic)).await;
                        let _ = done.send(());
                        subscribed
                    }
                    SubscriptionOp::TopicLeft(topic) => {
                        conn.unsubscribe(topic_channel(&prefix, &topic)).await
                    }
                    SubscriptionOp::RenewAll => {
                        lost = true;
                        renew.reset_immediately();
                        Ok(())
                    }
                    SubscriptionOp::Left(user_id) => {
                        local.remove(&user_id);
                        let _ = redis::cmd("HDEL")
                            .arg(presence_key(&prefix, user_id))
                            .arg(&field)
                            .query_async::<()>(&mut conn)
                            .await;
                        conn.unsubscribe(user_channel(&prefix, user_id)).await
                    }
                };
                if let Err(e) = result {
                    tracing::warn!(error = %e, "Redis subscription change failed");
                }
            }
            _ = probe.tick(), if lost => {
                let pong = tokio::time::timeout(
                    REDIS_CALL_TIMEOUT,
                    redis::cmd("PING").query_async::<String>(&mut conn),
                )
                .await;
                if matches!(pong, Ok(Ok(_))) {
                    lost = false;
                    metrics::inc(&METRICS.bus_recoveries);
                    tracing::warn!("Redis connection is back; telling clients to resync");
                    registry.do_send(BusRecovered);
                }
            }
            _ = renew.tick() => {
                if local.is_empty() {
                    continue;
                }
                let lease = now_ms() + PRESENCE_LEASE.as_millis() as i64;
                let mut pipe = redis::pipe();
                for user_id in &local {
                    let key = presence_key(&prefix, *user_id);
                    pipe.cmd("HSET").arg(&key).arg(&field).arg(lease).ignore();
                    pipe.cmd("PEXPIRE").arg(&key).arg(PRESENCE_LEASE.as_millis() as u64).ignore();
                }
                if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                    tracing::warn!(error = %e, "Redis presence renewal failed");
                }
            }
        }
    }
}

/// Hands deliveries published by other nodes to this node's registry.
async fn receive_loop(
    mut pushes: mpsc::UnboundedReceiver<PushInfo>,
    node_id: u64,
    prefix: Arc<str>,
    registry: Addr<Registry>,
    ops: mpsc::UnboundedSender<SubscriptionOp>,
) {
    let channel_prefix = format!("{prefix}:u:");
    let topic_prefix = format!("{prefix}:t:");
    let own_channel = node_channel(&prefix, node_id);
    while let Some(push) = pushes.recv().await {
        match push.kind {
            PushKind::Message => {
                let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
                    (push.data.first(), push.data.get(1))
                else {
                    continue;
                };
                let channel = std::str::from_utf8(channel).unwrap_or("");
                let mut payload: &[u8] = payload;
                let audience = if channel == own_channel {
                    if payload.len() < 8 {
                        tracing::warn!("a connection's bus message without its id dropped");
                        continue;
                    }
                    let conn = payload.get_u64();
                    Audience::Connection(ConnectionId {
                        node: node_id,
                        conn,
                    })
                } else if let Some(topic) = channel.strip_prefix(&topic_prefix) {
                    Audience::Topic(Topic::new(topic))
                } else {
                    let Some(user_id) = channel
                        .strip_prefix(&channel_prefix)
                        .and_then(|id| id.parse::<i64>().ok())
                    else {
                        continue;
                    };
                    Audience::User(user_id)
                };
                match decode(payload) {
                    Ok((origin, _)) if origin == node_id => {}
                    Ok((_, delivery)) => {
                        metrics::inc(&METRICS.bus_received);
                        registry.do_send(Deliver { audience, delivery });
                    }
                    Err(e) => tracing::warn!(error = %e, "undecodable bus message dropped"),
                }
            }
            PushKind::Disconnection => {
                metrics::inc(&METRICS.bus_disconnects);
                let _ = ops.send(SubscriptionOp::RenewAll);
                tracing::warn!("Redis connection lost; reconnecting, clients fill gaps by seq");
            }
            _ => {}
        }
    }
}

const KIND_EVENT: u8 = 1;
const KIND_EVENT_AT: u8 = 2;
const KIND_CLOSE_TOKEN: u8 = 3;
const KIND_CLOSE_USER: u8 = 4;
const KIND_MUTED: u8 = 5;
const KIND_LEAVE_TOPIC: u8 = 6;

/// Binary layout: node id (u64) · kind (u8) · fields (events: publication time, position,
/// text). The event text is carried as is, so a
/// frame crosses nodes without being parsed or re-serialised.
fn encode(node_id: u64, delivery: &Delivery) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_u64(node_id);
    buf.put_u8(match delivery {
        Delivery::Event(EventFrame { pos: Some(_), .. }) => KIND_EVENT_AT,
        Delivery::Event(_) => KIND_EVENT,
        Delivery::CloseToken { .. } => KIND_CLOSE_TOKEN,
        Delivery::CloseUser { .. } => KIND_CLOSE_USER,
        Delivery::Caller(CallerUpdate::MutedUntil(_)) => KIND_MUTED,
        Delivery::LeaveTopic { .. } => KIND_LEAVE_TOPIC,
    });
    match delivery {
        Delivery::Event(frame) => {
            buf.put_i64(frame.published_at_us);
            if let Some(p) = frame.pos {
                buf.put_i64(p.conversation_id);
                buf.put_i64(p.seq);
            }
            buf.put_slice(frame.text.as_bytes());
        }
        Delivery::CloseToken {
            token_id,
            code,
            reason,
        } => {
            buf.put_i64(*token_id);
            buf.put_u16(*code);
            buf.put_slice(reason.as_bytes());
        }
        Delivery::CloseUser { code, reason } => {
            buf.put_u16(*code);
            buf.put_slice(reason.as_bytes());
        }
        Delivery::Caller(CallerUpdate::MutedUntil(until)) => buf.put_i64(*until),
        Delivery::LeaveTopic { topic, event } => {
            // Topic names are the server's own (`room:12`), far below u16::MAX bytes.
            let name = topic.name().as_bytes();
            buf.put_u16(name.len() as u16);
            buf.put_slice(name);
            buf.put_i64(event.published_at_us);
            buf.put_slice(event.text.as_bytes());
        }
    }
    buf.freeze()
}

fn decode(raw: &[u8]) -> anyhow::Result<(u64, Delivery)> {
    let mut buf = raw;
    if buf.remaining() < 9 {
        bail!("bus message too short");
    }
    let node_id = buf.get_u64();
    let kind = buf.get_u8();
    let text = |rest: &[u8]| -> anyhow::Result<String> {
        Ok(std::str::from_utf8(rest)
            .context("bus text is not UTF-8")?
            .to_string())
    };
    let delivery = match kind {
        KIND_EVENT | KIND_EVENT_AT => {
            let need = if kind == KIND_EVENT_AT { 24 } else { 8 };
            if buf.remaining() < need {
                bail!("bus event too short");
            }
            let published_at_us = buf.get_i64();
            let pos = (kind == KIND_EVENT_AT).then(|| StreamPos {
                conversation_id: buf.get_i64(),
                seq: buf.get_i64(),
            });
            Delivery::Event(EventFrame {
                text: ByteString::from(text(buf)?),
                pos,
                published_at_us,
            })
        }
        KIND_CLOSE_TOKEN => {
            if buf.remaining() < 10 {
                bail!("bus close too short");
            }
            let token_id = buf.get_i64();
            let code = buf.get_u16();
            Delivery::CloseToken {
                token_id,
                code,
                reason: text(buf)?,
            }
        }
        KIND_CLOSE_USER => {
            if buf.remaining() < 2 {
                bail!("bus close too short");
            }
            let code = buf.get_u16();
            Delivery::CloseUser {
                code,
                reason: text(buf)?,
            }
        }
        KIND_MUTED => {
            if buf.remaining() < 8 {
                bail!("bus mute too short");
            }
            Delivery::Caller(CallerUpdate::MutedUntil(buf.get_i64()))
        }
        KIND_LEAVE_TOPIC => {
            if buf.remaining() < 2 {
                bail!("bus leave too short");
            }
            let len = usize::from(buf.get_u16());
            if buf.remaining() < len + 8 {
                bail!("bus leave too short");
            }
            let topic = Topic::new(text(&buf[..len])?);
            buf.advance(len);
            let published_at_us = buf.get_i64();
            Delivery::LeaveTopic {
                topic,
                event: EventFrame {
                    text: ByteString::from(text(buf)?),
                    pos: None,
                    published_at_us,
                },
            }
        }
        other => bail!("unknown bus message kind {other}"),
    };
    Ok((node_id, delivery))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_survive_the_wire() {
        let cases = [
            Delivery::Event(EventFrame {
                text: ByteString::from("{\"type\":\"presence\"}"),
                pos: None,
                published_at_us: 1,
            }),
            Delivery::Event(EventFrame {
                text: ByteString::from("{\"type\":\"chat.message\",\"seq\":9}"),
                pos: Some(StreamPos {
                    conversation_id: 4,
                    seq: 9,
                }),
                published_at_us: 1_795_000_000_000_000,
            }),
            Delivery::CloseToken {
                token_id: 77,
                code: 4001,
                reason: "token revoked".into(),
            },
            Delivery::CloseUser {
                code: 4003,
                reason: "account deleted".into(),
            },
            Delivery::Caller(CallerUpdate::MutedUntil(1_795_000_000_000)),
            Delivery::LeaveTopic {
                topic: Topic::new("room:7"),
                event: EventFrame {
                    text: ByteString::from("{\"type\":\"room.removed\"}"),
                    pos: None,
                    published_at_us: 3,
                },
            },
        ];
        for delivery in cases {
            let (node, back) = decode(&encode(42, &delivery)).expect("decodes");
            assert_eq!(node, 42);
            assert_eq!(format!("{back:?}"), format!("{delivery:?}"));
        }
    }

    #[test]
    fn garbage_is_refused() {
        for raw in [&b""[..], &[0u8; 8][..], &[0, 0, 0, 0, 0, 0, 0, 1, 9, 1][..]] {
            assert!(decode(raw).is_err(), "{raw:?}");
        }
    }
}
