//! What every scenario's clients share: accounts through the dev-code login, authenticated
//! sockets, the command envelope, and chatting pairs of users.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

use anyhow::{bail, Context};
use futures_util::{stream, SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::http;
use crate::progress::{per_sec, Progress};

pub struct User {
    pub id: i64,
    pub token: String,
}

/// Phone numbers for the accounts of one run. Each run takes a block of 100k numbers keyed
/// by the second it started, so runs started in different seconds never share a phone and
/// the server's per-phone resend interval (60 s by default) never refuses a code.
pub struct Phones {
    base: u64,
}

impl Phones {
    const BLOCK: u64 = 100_000;

    pub fn for_this_run() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // 9000 blocks of 100k fill the 9 digits after the "15" prefix.
        Self {
            base: (secs % 9_000) * Self::BLOCK,
        }
    }

    /// Fails when a run needs more numbers than its block holds.
    pub fn check(&self, count: usize) -> anyhow::Result<()> {
        if count as u64 > Self::BLOCK {
            bail!("at most {} accounts per run", Self::BLOCK);
        }
        Ok(())
    }

    /// The `i`-th number of this run: a mainland mobile number, "15" and 9 digits.
    pub fn phone(&self, i: usize) -> String {
        format!("15{:09}", self.base + i as u64 % Self::BLOCK)
    }
}

/// The policy version in force, which a code login accepts: asked once per run.
async fn policy_version(addr: SocketAddr) -> anyhow::Result<String> {
    static VERSION: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    VERSION
        .get_or_try_init(|| async {
            let policy = http::get_json(addr, "/api/legal/privacy_policy").await?;
            policy["version"]
                .as_str()
                .map(str::to_owned)
                .context("no version in GET /api/legal/privacy_policy")
        })
        .await
        .cloned()
}

/// Logs a host in and grants it the `appraiser` role by running `grant_with admin grant-role`
/// when given (before anything else, so that a missing role fails the run at once); the
/// command inherits this process's environment, so set the server's DUOXIE_DATA_DIR (and
/// DATABASE_URL) for it.
pub async fn login_appraiser(
    addr: SocketAddr,
    phone: &str,
    grant_with: Option<&std::path::Path>,
) -> anyhow::Result<User> {
    let host = login(addr, phone).await.context("host login")?;
    if let Some(bin) = grant_with {
        let status = std::process::Command::new(bin)
            .args([
                "admin",
                "grant-role",
                "--phone",
                phone,
                "--role",
                "appraiser",
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .with_context(|| format!("run {}", bin.display()))?;
        if !status.success() {
            bail!("{} admin grant-role failed ({status})", bin.display());
        }
    }
    Ok(host)
}

/// Registers (or logs in) a user through the dev-code login: two HTTP requests.
pub async fn login(addr: SocketAddr, phone: &str) -> anyhow::Result<User> {
    let sent = http::post_json(addr, "/api/auth/code", &json!({ "phone": phone })).await?;
    let code = sent["dev_code"]
        .as_str()
        .context("no dev_code in the reply: run the server with DUOXIE_AUTH_DEV_CODES=true")?;
    let version = policy_version(addr).await?;
    let login = http::post_json(
        addr,
        "/api/auth/login",
        &json!({ "phone": phone, "code": code, "device": "loadtest", "birth_date": "1990-01-01",
                 "accepted_policy_version": version }),
    )
    .await?;
    Ok(User {
        id: login["user"]["id"]
            .as_i64()
            .context("login reply without user id")?,
        token: login["token"]
            .as_str()
            .context("login reply without token")?
            .to_string(),
    })
}

/// How many logins (or pair set-ups) run at once: enough to hide round trips, few enough not
/// to queue thousands of requests on the server's accept backlog.
pub const SETUP_CONCURRENCY: usize = 32;

/// Logs in `count` users of this run's phone block, in order, showing progress.
pub async fn login_many(
    addr: SocketAddr,
    phones: &Phones,
    count: usize,
) -> anyhow::Result<Vec<User>> {
    phones.check(count)?;
    let mut progress = Progress::start("login");
    let mut logins = stream::iter(0..count)
        .map(|i| {
            let phone = phones.phone(i);
            async move { login(addr, &phone).await }
        })
        .buffered(SETUP_CONCURRENCY);
    let mut users = Vec::with_capacity(count);
    while let Some(user) = logins.next().await {
        users.push(user?);
        let status = format!(
            "{}/{count} users ({:.0}/s)",
            users.len(),
            per_sec(users.len() as u64, progress.elapsed())
        );
        progress.update(&status);
    }
    progress.finish(&format!("{count} users logged in"));
    Ok(users)
}

pub type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// tungstenite allocates its read buffer eagerly, 128 KiB by default: 2.6 GB for the 20k
/// sockets a process may hold. Frames here are small, and a larger message still arrives
/// whole (the buffer only sets the size of each read), so 4 KiB it is.
const READ_BUFFER_BYTES: usize = 4096;

/// Source addresses for client sockets, used round-robin. One port range per address: a
/// single address gives about 28k sockets to one server port, so more need more addresses.
#[derive(Clone, Default)]
pub struct SourceAddrs(Vec<IpAddr>);

impl SourceAddrs {
    pub fn new(addrs: Vec<IpAddr>) -> Self {
        Self(addrs)
    }

    /// The address the `i`-th socket binds to; `None` (let the kernel choose, no bind) unless
    /// there are several, because an explicit bind to port 0 takes a port for good at bind
    /// time and so runs out of ports that linger in TIME_WAIT.
    pub fn pick(&self, i: usize) -> Option<IpAddr> {
        (self.0.len() > 1).then(|| self.0[i % self.0.len()])
    }

    pub fn count(&self) -> usize {
        self.0.len().max(1)
    }

    pub fn to_arg(&self) -> String {
        self.0
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A TCP connection from `source` (if any), with Nagle disabled: a client that batches its
/// small frames reports the batching delay as server latency.
async fn tcp(addr: SocketAddr, source: Option<IpAddr>) -> anyhow::Result<TcpStream> {
    let stream = match source {
        None => TcpStream::connect(addr).await,
        Some(ip) => {
            let socket = match ip {
                IpAddr::V4(_) => TcpSocket::new_v4()?,
                IpAddr::V6(_) => TcpSocket::new_v6()?,
            };
            bind_address_no_port(&socket);
            socket.bind(SocketAddr::new(ip, 0))?;
            socket.connect(addr).await
        }
    }
    .context("connect")?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Asks Linux to choose the port at connect() rather than at bind(), so that a port need only
/// be unique per (source, destination) pair: bound sockets then reuse ports like unbound ones.
fn bind_address_no_port(socket: &TcpSocket) {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads `on` (an int, its size passed) on a socket we own; failure
    // (an old kernel) only means ports are chosen at bind time.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Opens a socket authenticated at the handshake (subprotocols `duoxie.v1`, `auth.<token>`).
pub async fn connect(addr: SocketAddr, token: &str, source: Option<IpAddr>) -> anyhow::Result<Ws> {
    let stream = tcp(addr, source).await?;
    let mut request = format!("ws://{addr}/ws").into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        format!("duoxie.v1, auth.{token}").parse()?,
    );
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .context("websocket handshake")?;
    Ok(ws)
}

/// The command envelope of `docs/protocol.md`.
pub fn command(id: &str, kind: &str, data: Value) -> Message {
    Message::text(json!({ "id": id, "type": kind, "data": data }).to_string())
}

/// Sends one command and waits for its reply, ignoring events (used only during set-up).
pub async fn request(ws: &mut Ws, id: &str, kind: &str, data: Value) -> anyhow::Result<Value> {
    ws.send(command(id, kind, data)).await?;
    while let Some(msg) = ws.next().await {
        if let Message::Text(text) = msg? {
            let v: Value = serde_json::from_str(&text)?;
            if v["re"] == id {
                if v["ok"] == true {
                    return Ok(v["data"].clone());
                }
                bail!("{kind} failed: {}", v["error"]);
            }
        }
    }
    bail!("socket closed while waiting for {kind}")
}

/// Two users with a conversation between them, each on a socket of their own.
pub struct Pair {
    pub a: User,
    pub b: User,
    pub ws_a: Ws,
    pub ws_b: Ws,
    pub conversation_id: i64,
    /// The conversation's last seq when the pair was set up (0 for a new one).
    pub start_seq: i64,
}

/// Sets up `count` pairs from this run's phones (2p and 2p+1 for pair p), several at once.
/// Registers `count` pairs of users with a conversation each, then connects the first user of
/// each pair to `addr` and the second to `peer_addr` (the same node, or another one).
pub async fn open_pairs(
    addr: SocketAddr,
    peer_addr: SocketAddr,
    phones: &Phones,
    count: usize,
) -> anyhow::Result<Vec<Pair>> {
    phones.check(2 * count)?;
    let mut progress = Progress::start("setup");
    // Users and conversations first, sockets last: a socket opened early would sit unread
    // through a long set-up and be closed by the server's heartbeat timeout (30 s).
    let mut setups = stream::iter(0..count)
        .map(|p| {
            let (phone_a, phone_b) = (phones.phone(2 * p), phones.phone(2 * p + 1));
            async move {
                let a = login(addr, &phone_a).await?;
                let b = login(addr, &phone_b).await?;
                let mut ws = connect(addr, &a.token, None).await?;
                let opened =
                    request(&mut ws, "open", "chat.open", json!({ "peer_id": b.id })).await?;
                let _ = ws.close(None).await;
                let conversation = &opened["conversation"];
                anyhow::Ok((
                    conversation["id"].as_i64().context("conversation id")?,
                    conversation["last_seq"].as_i64().unwrap_or(0),
                    a,
                    b,
                ))
            }
        })
        .buffered(SETUP_CONCURRENCY);
    let mut prepared = Vec::with_capacity(count);
    while let Some(pair) = setups.next().await {
        prepared.push(pair?);
        progress.update(&format!("{}/{count} pairs", prepared.len()));
    }
    let mut sockets = stream::iter(prepared)
        .map(|(conversation_id, start_seq, a, b)| async move {
            let mut ws_a = connect(addr, &a.token, None).await?;
            let mut ws_b = connect(peer_addr, &b.token, None).await?;
            // A socket's first command is answered once its user's deliveries reach its node
            // (on several nodes, after the bus subscription): one round trip each before anyone
            // sends, as a real client's first chat.list, so that the live path is what is measured.
            request(&mut ws_a, "ready", "chat.list", json!({ "limit": 1 })).await?;
            request(&mut ws_b, "ready", "chat.list", json!({ "limit": 1 })).await?;
            anyhow::Ok(Pair {
                conversation_id,
                start_seq,
                a,
                b,
                ws_a,
                ws_b,
            })
        })
        .buffered(SETUP_CONCURRENCY);
    let mut pairs = Vec::with_capacity(count);
    while let Some(pair) = sockets.next().await {
        pairs.push(pair?);
        progress.update(&format!("{}/{count} pairs connected", pairs.len()));
    }
    progress.finish(&format!("{count} pairs set up"));
    Ok(pairs)
}

/// A message text of about `size` bytes, mostly three-byte characters as in real chats.
pub fn message_text(size: usize) -> String {
    let mut text = "玉".repeat(size / 3);
    text.push_str(&"x".repeat(size % 3));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_valid_and_distinct() {
        let phones = Phones {
            base: 8_999 * Phones::BLOCK,
        };
        let (first, last) = (phones.phone(0), phones.phone(99_999));
        assert_eq!(first.len(), 11);
        assert_eq!(last, "15899999999");
        assert_ne!(first, phones.phone(1));
    }

    #[test]
    fn a_single_source_address_is_never_bound() {
        let one = SourceAddrs::new(vec!["127.0.0.1".parse().unwrap()]);
        assert_eq!(one.pick(0), None);
        let two = SourceAddrs::new(vec![
            "127.0.0.1".parse().unwrap(),
            "127.0.0.2".parse().unwrap(),
        ]);
        assert_eq!(two.pick(3), Some("127.0.0.2".parse().unwrap()));
        assert_eq!(two.to_arg(), "127.0.0.1,127.0.0.2");
        assert_eq!(SourceAddrs::default().count(), 1);
    }

    #[test]
    fn message_text_has_the_asked_size() {
        for size in [0, 1, 2, 3, 64, 100] {
            assert_eq!(message_text(size).len(), size);
        }
    }
}
