//! What a client that follows `docs/protocol.md` does when its socket or its events are lost:
//! reconnect with a back-off (so that a node's clients do not all come back in the same
//! millisecond), wait for `session.ready` (only then does every event reach the new socket),
//! and page `chat.sync` until no conversation says `more`. A reply is bounded in bytes, so
//! `more` may come with fewer messages than `limit`, or with none for a conversation the reply
//! did not reach. Shared by the `chat` and `reconnect-storm` scenarios; what a client holds is
//! the business of `tracker`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::client::{self, Ws};

/// Delays between reconnect attempts: `first`, doubling up to `cap`. With jitter each delay
/// is drawn from its upper half, [d/2, d]: clients dropped together spread out, yet none
/// retries sooner than half the schedule says.
pub struct Backoff {
    first: Duration,
    cap: Duration,
    next: Duration,
    jitter: Option<SplitMix64>,
}

impl Backoff {
    /// The exact schedule, for scenarios whose figures must not depend on chance.
    pub fn new(first: Duration, cap: Duration) -> Self {
        Self {
            first,
            cap,
            next: first.min(cap),
            jitter: None,
        }
    }

    pub fn jittered(first: Duration, cap: Duration, seed: u64) -> Self {
        Self {
            jitter: Some(SplitMix64(seed)),
            ..Self::new(first, cap)
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.cap);
        match &mut self.jitter {
            None => base,
            Some(rng) => base / 2 + (base / 2).mul_f64(rng.unit()),
        }
    }

    /// Starts the schedule again (after a successful connection).
    pub fn reset(&mut self) {
        self.next = self.first.min(self.cap);
    }
}

/// SplitMix64: enough randomness for jitter, without a dependency for it.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A seed that differs between clients and between runs.
pub fn seed(client: i64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (client as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A socket that stopped working: why (as the report groups causes) and whether connecting
/// again can help. Carried through `anyhow` so that any read or write can end a session.
#[derive(Debug)]
pub struct SocketLost {
    pub cause: String,
    pub retry: bool,
}

impl SocketLost {
    /// The server closed the socket; the close code says whether to come back
    /// (`docs/protocol.md`, close codes).
    pub fn closed(frame: Option<&CloseFrame>) -> Self {
        let Some(frame) = frame else {
            return Self {
                cause: "close without a code".into(),
                retry: true,
            };
        };
        let code = u16::from(frame.code);
        // Logged out, deleted, suspended or over the per-user socket limit: reconnecting in a
        // loop cannot help (and for 4010 the protocol asks not to). 1007/1009: a client bug.
        let retry = !matches!(code, 1007 | 1009 | 4001 | 4003 | 4005 | 4010);
        Self {
            cause: format!("close {code}"),
            retry,
        }
    }

    /// The connection broke without a close frame: a killed node, a reset, a timeout.
    pub fn broken(e: &tungstenite::Error) -> Self {
        Self {
            cause: e.to_string(),
            retry: true,
        }
    }

    pub fn ended() -> Self {
        Self {
            cause: "stream ended without a close frame".into(),
            retry: true,
        }
    }

    pub fn silent(for_how_long: Duration) -> Self {
        Self {
            cause: format!("nothing received for {}s", for_how_long.as_secs()),
            retry: true,
        }
    }
}

impl fmt::Display for SocketLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "socket lost: {}", self.cause)
    }
}

impl std::error::Error for SocketLost {}

/// The next frame: its text, `None` for a control or binary frame (tungstenite answers pings
/// as it reads, and a ping still shows the socket is alive), or why no more will come.
pub async fn next_frame(ws: &mut Ws) -> anyhow::Result<Option<String>> {
    match ws.next().await {
        Some(Ok(Message::Text(text))) => Ok(Some(text.to_string())),
        Some(Ok(Message::Close(frame))) => Err(SocketLost::closed(frame.as_ref()).into()),
        Some(Ok(_)) => Ok(None),
        Some(Err(e)) => Err(SocketLost::broken(&e).into()),
        None => Err(SocketLost::ended().into()),
    }
}

/// Opens a socket authenticated at the handshake and waits for `session.ready`: a sync sent
/// earlier could be answered before this node delivers the user's events. A refused token
/// (HTTP 401) is a `SocketLost` that must not be retried.
pub async fn connect_ready(addr: SocketAddr, token: &str) -> anyhow::Result<Ws> {
    let mut ws = match client::connect(addr, token, None).await {
        Ok(ws) => ws,
        Err(e) => {
            let refused = e.chain().any(|cause| {
                matches!(cause.downcast_ref::<tungstenite::Error>(),
                    Some(tungstenite::Error::Http(response)) if response.status() == 401)
            });
            if refused {
                return Err(SocketLost {
                    cause: format!("{addr} refused the token (HTTP 401)"),
                    retry: false,
                }
                .into());
            }
            return Err(e.context(format!("connect to {addr}")));
        }
    };
    loop {
        let Some(text) = next_frame(&mut ws).await? else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).context("frame is not JSON")?;
        // Nothing precedes session.ready on a healthy socket; anything else is not ours to
        // handle yet.
        if frame["type"] == "session.ready" {
            return Ok(ws);
        }
    }
}

/// The `data` of a `chat.sync` command.
pub fn sync_data(cursors: &BTreeMap<i64, i64>, limit: Option<i64>) -> Value {
    let cursors: serde_json::Map<String, Value> = cursors
        .iter()
        .map(|(conversation_id, seq)| (conversation_id.to_string(), json!(seq)))
        .collect();
    let mut data = json!({ "cursors": cursors });
    if let Some(limit) = limit {
        data["limit"] = json!(limit);
    }
    data
}

/// The `data` of a `chat.sync` reply.
#[derive(Deserialize, Debug)]
pub struct SyncReply {
    pub results: Vec<SyncedStream>,
}

impl SyncReply {
    pub fn parse(reply_data: &Value) -> anyhow::Result<Self> {
        Self::deserialize(reply_data).context("malformed chat.sync reply")
    }
}

/// One conversation's part of a sync reply.
#[derive(Deserialize, Debug)]
pub struct SyncedStream {
    pub conversation_id: i64,
    pub messages: Vec<SyncedMessage>,
    pub more: bool,
}

/// The fields of a `Message` the load generator looks at.
#[derive(Deserialize, Debug)]
pub struct SyncedMessage {
    pub seq: i64,
    pub sender_id: i64,
    #[serde(default)]
    pub client_id: Option<String>,
}

impl SyncedStream {
    /// Where the next page starts when this stream said `more`: after the last message it
    /// carried, or at the same cursor when the reply did not reach it (`messages: []`). Not
    /// the highest seq the client holds: a live message past a hole would skip the hole.
    pub fn next_cursor(&self, asked: i64) -> Option<i64> {
        self.more
            .then(|| self.messages.last().map_or(asked, |m| m.seq.max(asked)))
    }

    /// Whether the messages are as promised: oldest first, each after the cursor.
    pub fn in_order(&self, asked: i64) -> bool {
        let mut previous = asked;
        self.messages.iter().all(|m| {
            let ok = m.seq > previous;
            previous = m.seq;
            ok
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap_and_starts_again_after_a_reset() {
        let mut b = Backoff::new(ms(50), Duration::from_secs(2));
        let schedule: Vec<_> = (0..8).map(|_| b.next_delay()).collect();
        assert_eq!(
            schedule,
            [50, 100, 200, 400, 800, 1600, 2000, 2000].map(ms).to_vec()
        );
        b.reset();
        assert_eq!(b.next_delay(), ms(50));
    }

    #[test]
    fn jitter_stays_in_the_upper_half_of_each_delay_and_varies() {
        let mut exact = Backoff::new(ms(50), Duration::from_secs(2));
        let mut jittered = Backoff::jittered(ms(50), Duration::from_secs(2), 42);
        let mut seen = Vec::new();
        for _ in 0..12 {
            let (d, j) = (exact.next_delay(), jittered.next_delay());
            assert!(j >= d / 2 && j <= d, "{j:?} outside [{:?}, {d:?}]", d / 2);
            seen.push(j);
        }
        let capped = &seen[7..];
        assert!(capped.windows(2).any(|w| w[0] != w[1]), "not random");
        // Two clients with different seeds do not retry in step.
        let mut other = Backoff::jittered(ms(50), Duration::from_secs(2), 43);
        let mut again = Backoff::jittered(ms(50), Duration::from_secs(2), 42);
        let a: Vec<_> = (0..5).map(|_| again.next_delay()).collect();
        let b: Vec<_> = (0..5).map(|_| other.next_delay()).collect();
        assert_eq!(a, seen[..5], "a seed gives one schedule");
        assert_ne!(a, b);
    }

    #[test]
    fn close_codes_say_whether_to_come_back() {
        let close = |code: u16| {
            SocketLost::closed(Some(&CloseFrame {
                code: CloseCode::from(code),
                reason: "".into(),
            }))
        };
        assert!(close(1001).retry && close(1011).retry && close(4009).retry);
        for code in [4001, 4003, 4005, 4010, 1007] {
            assert!(!close(code).retry, "{code}");
        }
        assert_eq!(close(1001).cause, "close 1001");
        assert!(SocketLost::closed(None).retry);
    }

    fn stream(seqs: &[i64], more: bool) -> SyncedStream {
        SyncedStream {
            conversation_id: 3,
            messages: seqs
                .iter()
                .map(|&seq| SyncedMessage {
                    seq,
                    sender_id: 1,
                    client_id: None,
                })
                .collect(),
            more,
        }
    }

    #[test]
    fn paging_goes_on_from_the_last_message_or_the_same_cursor() {
        assert_eq!(stream(&[11, 12], true).next_cursor(10), Some(12));
        assert_eq!(stream(&[], true).next_cursor(10), Some(10), "not reached");
        assert_eq!(stream(&[11, 12], false).next_cursor(10), None);
        assert!(stream(&[11, 12, 14], false).in_order(10));
        assert!(!stream(&[12, 11], false).in_order(10));
        assert!(!stream(&[10, 11], false).in_order(10), "at the cursor");
    }

    #[test]
    fn sync_replies_and_commands_have_the_protocol_shape() {
        let data = sync_data(&BTreeMap::from([(3, 41), (9, 0)]), Some(200));
        assert_eq!(
            data,
            json!({ "cursors": { "3": 41, "9": 0 }, "limit": 200 })
        );
        assert_eq!(sync_data(&BTreeMap::new(), None), json!({ "cursors": {} }));
        let reply = SyncReply::parse(&json!({ "results": [{ "conversation_id": 3, "more": true,
            "messages": [{ "conversation_id": 3, "seq": 42, "sender_id": 1, "client_id": "m-1",
                           "kind": "text", "text": "hi", "created_at": 1 }] }] }))
        .expect("valid reply");
        let m = &reply.results[0].messages[0];
        assert_eq!(
            (m.seq, m.sender_id, m.client_id.as_deref()),
            (42, 1, Some("m-1"))
        );
        assert!(SyncReply::parse(&json!({ "results": [{ "conversation_id": 3 }] })).is_err());
    }
}
