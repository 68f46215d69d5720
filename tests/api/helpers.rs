//! The test harness: a real server per test on port 0 with a fresh database, an HTTP client,
//! a WebSocket client that matches replies by `re` and buffers events, and a raw WebSocket
//! client for what awc cannot do (invalid UTF-8, a socket that never reads or never pongs).
//!
//! Nothing here sleeps: every wait reads frames until a predicate holds, under a deadline that
//! fails the test with what it was waiting for.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use awc::error::WsProtocolError;
use awc::http::Method;
use awc::ws::{CloseCode, Frame, Message};
use bytes::Bytes;
use duoxie::config::Settings;
use duoxie::startup::App;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::{json, Value};
use sqlx::Connection;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

/// The birth date `login_with_code` registers accounts with.
pub const ADULT_BIRTH_DATE: &str = "1990-01-01";

/// How long any single wait may take before the test fails. Generous on purpose: it only
/// bounds a hang, it never decides a pass.
pub const WAIT: Duration = Duration::from_secs(10);

/// Generates, for each listed `async fn name(store: Store)`, one test per store:
/// `<module>::sqlite::name` and `<module>::postgres::name`.
macro_rules! store_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[actix_rt::test]
                async fn $name() {
                    super::$name(crate::helpers::Store::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[actix_rt::test]
                async fn $name() {
                    if let Some(base) = crate::helpers::postgres_url_from_env() {
                        let schema = crate::helpers::PgSchema::create(&base).await;
                        super::$name(crate::helpers::Store::Postgres(schema.url())).await;
                        // Only after a pass: a failed test leaves its schema to look at.
                        schema.drop().await;
                    }
                }
            )+
        }
    };
}

/// Which database a test runs against.
pub enum Store {
    Sqlite,
    /// A URL into `TEST_DATABASE_URL` whose connections use this test's own schema.
    Postgres(String),
}

/// `TEST_DATABASE_URL`, or `None` (after saying so on stderr) when it is unset.
pub fn postgres_url_from_env() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("postgres variant skipped: TEST_DATABASE_URL unset");
            None
        }
    }
}

/// One test's schema in the PostgreSQL test database.
pub struct PgSchema {
    base: String,
    name: String,
}

impl PgSchema {
    pub async fn create(base: &str) -> PgSchema {
        let schema = PgSchema {
            base: base.to_owned(),
            name: format!("t_{:016x}", random_u64()),
        };
        schema
            .execute(&format!("CREATE SCHEMA {}", schema.name))
            .await;
        schema
    }

    /// The base URL with this schema as the search path.
    pub fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.base, self.name)
    }

    /// Drops the schema after a passing test. A node of the test may still be finishing a
    /// periodic query there (its shutdown is not awaited), which PostgreSQL can answer with a
    /// deadlock: the drop is tried again, and a schema that still will not go is left for
    /// `.ci/run` to drop at the next run, with a warning; cleanup never fails a passing test.
    pub async fn drop(self) {
        let sql = format!("DROP SCHEMA {} CASCADE", self.name);
        let mut last = String::new();
        for _ in 0..5 {
            sqlx::any::install_default_drivers();
            let attempt = async {
                let mut conn = sqlx::AnyConnection::connect(&self.base).await?;
                sqlx::query(&sql).execute(&mut conn).await?;
                conn.close().await
            };
            match attempt.await {
                Ok(()) => return,
                Err(e) => last = e.to_string(),
            }
        }
        eprintln!("warning: {sql} failed five times ({last}); left for the next run");
    }

    async fn execute(&self, sql: &str) {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.base)
            .await
            .unwrap_or_else(|e| {
                panic!("TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {e}")
            });
        sqlx::query(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        conn.close().await.expect("close the admin connection");
    }
}

/// A random number without a dependency: every `RandomState` is seeded afresh.
pub fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now_ms() as u128);
    h.finish()
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// A mainland mobile number nobody else in this test has (with overwhelming probability).
pub fn random_phone() -> String {
    format!("139{:08}", random_u64() % 100_000_000)
}

pub async fn spawn_app(store: Store) -> TestApp {
    spawn_app_with(store, |_| {}).await
}

/// Starts a server with test defaults, then lets the test adjust the settings.
pub async fn spawn_app_with(store: Store, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = Arc::new(TempDir::new().expect("create a temporary data dir"));
    let mut settings = test_settings(store.database_url(), &data_dir);
    configure(&mut settings);
    start_app(settings, data_dir).await
}

impl Store {
    /// The URL a server gets, or `None` for SQLite in its data folder.
    pub fn database_url(self) -> Option<String> {
        match self {
            Store::Sqlite => None,
            Store::Postgres(url) => Some(url),
        }
    }
}

/// The settings every test server starts from.
pub fn test_settings(database_url: Option<String>, data_dir: &TempDir) -> Settings {
    let mut settings = Settings {
        listen: "127.0.0.1:0".into(),
        workers: 2,
        data_dir: data_dir.path().to_path_buf(),
        database_url,
        redis_url: None,
        ..Settings::default()
    };
    settings.auth.dev_codes = true;
    // A second device needs a second code; tests that test the cooldown set it back.
    settings.auth.code_resend_ms = 0;
    settings.ws.rate_per_sec = 1000.0;
    settings.ws.rate_burst = 2000.0;
    // Every test logs in from 127.0.0.1, many times: the abuse limits are tested on their own.
    settings.auth.codes_per_ip_per_hour = 1_000_000;
    settings.auth.codes_per_phone_per_day = 1_000_000;
    settings.auth.codes_global_per_minute = 1_000_000;
    settings.auth.logins_per_ip_per_hour = 1_000_000;
    settings.media.uploads_per_hour = 1_000_000;
    settings.moderation.reports_per_hour = 1_000_000;
    settings.chat.new_conversations_per_hour = 1_000_000;
    settings.ws.max_sockets_per_user = 1000;
    // Presence tests wait for "offline"; the production grace (5 s) would only slow them.
    settings.chat.presence_grace_ms = 50;
    settings
}

/// Builds and runs an app in this process; `data_dir` lives as long as the `TestApp`.
pub async fn start_app(settings: Settings, data_dir: Arc<TempDir>) -> TestApp {
    let app = App::build(settings).await.expect("build the app");
    let port = app.port();
    let db = app.db();
    let data_sections = app.data_sections().to_vec();
    let handle = app.shutdown_handle();
    actix_rt::spawn(app.run_until_stopped());
    TestApp {
        port,
        db,
        shutdown: Box::new(move || handle.trigger()),
        shut_down: false,
        http: http_client(),
        next_device: 0,
        data_sections,
        _data_dir: data_dir,
    }
}

fn retry_after_of<S>(resp: &awc::ClientResponse<S>) -> Option<u64> {
    resp.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn http_client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
}

pub struct TestApp {
    pub port: u16,
    /// The app's own pool, for the few things the wire cannot do (ageing a token, counting rows).
    pub db: sqlx::AnyPool,
    /// The export's sections and the `users` columns each domain answers for.
    pub data_sections: Vec<(&'static str, &'static [(&'static str, &'static str)])>,
    shutdown: Box<dyn Fn()>,
    shut_down: bool,
    http: awc::Client,
    next_device: u32,
    /// Shared by the nodes of a cluster; removed when the last of them is dropped.
    _data_dir: Arc<TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop the server so that its workers and pool do not outlive the test; not while
        // unwinding, where a second panic would abort the whole test binary.
        if !self.shut_down && !std::thread::panicking() {
            (self.shutdown)();
        }
    }
}

/// A user logged in on one device.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: i64,
    pub token: String,
    pub phone: String,
    pub session_id: i64,
}

/// An HTTP answer: status and JSON body (`Null` when empty, a string when not JSON).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Value,
    /// The `Retry-After` header, seconds, when there is one.
    pub retry_after: Option<u64>,
}

impl Response {
    /// `error.code`, or "" when the body is not an error.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// `error.field`, or `Null`.
    pub fn field(&self) -> &Value {
        &self.body["error"]["field"]
    }

    /// Fails the test unless this is the given error.
    pub fn assert_error(&self, status: u16, code: &str, case: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "{case}: expected {status} {code}, got {self:?}"
        );
        assert!(
            self.body["error"]["message"].is_string(),
            "{case}: an error carries a message: {self:?}"
        );
    }

    /// Fails the test unless the status is 200; returns the body.
    pub fn ok(self, case: &str) -> Value {
        assert_eq!(self.status, 200, "{case}: expected 200, got {self:?}");
        self.body
    }
}

/// Collects the failing cases of a table, so that one run names every one of them.
#[derive(Default)]
pub struct Failures(Vec<String>);

impl Failures {
    /// Records `case` as failed unless it got what it wanted; `detail` is shown if not.
    pub fn check<T: PartialEq + std::fmt::Debug>(
        &mut self,
        case: &str,
        want: T,
        got: T,
        detail: impl std::fmt::Debug,
    ) {
        if want != got {
            // Bodies can be long (that is what some cases test); the start says enough.
            let detail: String = format!("{detail:?}").chars().take(400).collect();
            self.0
                .push(format!("{case}: want {want:?}, got {got:?} ({detail})"));
        }
    }

    /// Records `case` as failed unless `reply` is an error with this code (and field).
    pub fn check_ws_error(&mut self, case: &str, reply: &Value, code: &str, field: Option<&str>) {
        let error = &reply["error"];
        let got_field = if field.is_some() {
            &error["field"]
        } else {
            &Value::Null
        };
        self.check(
            case,
            (&json!(false), &json!(code), &json!(field)),
            (&reply["ok"], &error["code"], got_field),
            reply,
        );
    }

    pub fn assert_none(self, table: &str) {
        assert!(
            self.0.is_empty(),
            "{table}: {} case(s) failed:\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// The server's data folder (SQLite database, keys, code outbox).
    pub fn data_dir(&self) -> &std::path::Path {
        self._data_dir.path()
    }

    /// Triggers the same shutdown as SIGTERM.
    pub fn shutdown(&mut self) {
        self.shut_down = true;
        (self.shutdown)();
    }

    /// One request with a raw `Authorization` header value (or none).
    pub async fn request_with_authorization(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.http.request(method.clone(), self.url(path));
        if let Some(value) = authorization {
            req = req.insert_header(("Authorization", value));
        }
        let sent = match body {
            Some(body) => req.send_json(body).await,
            None => req.send().await,
        };
        let mut resp = sent.unwrap_or_else(|e| panic!("{method} {path}: request failed: {e}"));
        let bytes = resp
            .body()
            .limit(16 << 20)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: reading the body failed: {e}"));
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Response {
            status: resp.status().as_u16(),
            body,
            retry_after: retry_after_of(&resp),
        }
    }

    /// `POST /api/media?<query>` with raw bytes and a declared Content-Type.
    pub async fn upload(
        &self,
        token: &str,
        query: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Response {
        let path = format!("/api/media?{query}");
        let mut resp = self
            .http
            .post(self.url(&path))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .insert_header(("Content-Type", content_type))
            .send_body(bytes)
            .await
            .unwrap_or_else(|e| panic!("POST {path}: request failed: {e}"));
        let bytes = resp.body().limit(1 << 20).await.expect("read the answer");
        Response {
            retry_after: retry_after_of(&resp),
            status: resp.status().as_u16(),
            body: serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        }
    }

    /// A GET whose answer is bytes: status, Content-Type and body.
    pub async fn get_bytes(&self, path: &str, token: &str) -> (u16, String, Vec<u8>) {
        let mut resp = self
            .http
            .get(self.url(path))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: request failed: {e}"));
        let kind = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = resp.body().limit(64 << 20).await.expect("read the body");
        (resp.status().as_u16(), kind, bytes.to_vec())
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let authorization = token.map(|t| format!("Bearer {t}"));
        self.request_with_authorization(method, path, authorization.as_deref(), body)
            .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::DELETE, path, token, None).await
    }

    /// POST /api/auth/code and return the dev code.
    pub async fn request_code(&self, phone: &str) -> String {
        let body = self
            .post("/api/auth/code", None, &json!({ "phone": phone }))
            .await
            .ok("request a code");
        body["dev_code"]
            .as_str()
            .unwrap_or_else(|| panic!("dev_code missing with dev codes on: {body}"))
            .to_owned()
    }

    /// Logs in with a fresh code on a new device name; registers the phone the first time.
    pub async fn login_with_code(&mut self, phone: &str) -> TestUser {
        let code = self.request_code(phone).await;
        self.next_device += 1;
        let device = format!("test device {}", self.next_device);
        let body = self
            .post(
                "/api/auth/login",
                None,
                // An adult: registration records the age (see `minors` for the other cases).
                &json!({ "phone": phone, "code": code, "device": device, "birth_date": ADULT_BIRTH_DATE }),
            )
            .await
            .ok("log in with a code");
        user_from_login(phone, &body)
    }

    pub async fn new_user(&mut self) -> TestUser {
        self.login_with_code(&random_phone()).await
    }

    /// The same user on another device.
    pub async fn login_again(&mut self, user: &TestUser) -> TestUser {
        let again = self.login_with_code(&user.phone).await;
        assert_eq!(again.id, user.id, "a second login reaches the same account");
        again
    }

    /// Grants each permission over REST, as the user.
    pub async fn grant_consents(&self, user: &TestUser, permissions: &[&str]) {
        for permission in permissions {
            self.post(
                "/api/me/consents",
                Some(&user.token),
                &json!({ "permission": permission, "granted": true }),
            )
            .await
            .ok("grant a permission");
        }
    }

    pub async fn grant_role(&self, user_id: i64, role: &str) {
        duoxie::auth::grant_role(&self.db, user_id, role)
            .await
            .unwrap_or_else(|e| panic!("grant {role} to {user_id}: {e:?}"));
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// Opens a socket offering these subprotocols; the handshake's result is the test's.
    pub async fn ws_connect(
        &self,
        protocols: &[&str],
    ) -> Result<(awc::ClientResponse, WsClient), awc::error::WsClientError> {
        let mut req = self.http.ws(self.ws_url()).max_frame_size(16 << 20);
        if !protocols.is_empty() {
            req = req.protocols(protocols);
        }
        let (resp, framed) = req.connect().await?;
        Ok((resp, WsClient::new(framed)))
    }

    /// The handshake's HTTP status for these subprotocols: 101 when upgraded.
    pub async fn ws_handshake_status(&self, protocols: &[&str]) -> u16 {
        match self.ws_connect(protocols).await {
            Ok(_) => 101,
            Err(awc::error::WsClientError::InvalidResponseStatus(status)) => status.as_u16(),
            Err(e) => panic!("the handshake failed other than by status: {e}"),
        }
    }

    /// A socket authenticated by the subprotocol header.
    pub async fn ws(&self, user: &TestUser) -> WsClient {
        let auth = format!("auth.{}", user.token);
        let (_, ws) = self
            .ws_connect(&["duoxie.v1", &auth])
            .await
            .unwrap_or_else(|e| panic!("open an authenticated socket for user {}: {e}", user.id));
        let mut ws = ws;
        // From session.ready on, every event for the user reaches this socket.
        ws.next_event("session.ready").await;
        ws
    }

    /// A socket that has not authenticated.
    pub async fn ws_raw(&self) -> WsClient {
        let (_, ws) = self
            .ws_connect(&[])
            .await
            .unwrap_or_else(|e| panic!("open an unauthenticated socket: {e}"));
        ws
    }
}

fn user_from_login(phone: &str, body: &Value) -> TestUser {
    TestUser {
        id: body["user"]["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("login answer without user.id: {body}")),
        token: body["token"]
            .as_str()
            .unwrap_or_else(|| panic!("login answer without token: {body}"))
            .to_owned(),
        phone: phone.to_owned(),
        session_id: body["session_id"]
            .as_i64()
            .unwrap_or_else(|| panic!("login answer without session_id: {body}")),
    }
}

/// What awc's framed socket is, without naming `actix_codec::Framed`.
trait Transport:
    Stream<Item = Result<Frame, WsProtocolError>> + Sink<Message, Error = WsProtocolError> + Unpin
{
}

impl<T> Transport for T where
    T: Stream<Item = Result<Frame, WsProtocolError>>
        + Sink<Message, Error = WsProtocolError>
        + Unpin
{
}

/// A JSON WebSocket client. Frames that arrive while waiting for something else are kept, in
/// arrival order, for later waits.
pub struct WsClient {
    conn: Box<dyn Transport>,
    pending: VecDeque<Value>,
    next_id: u64,
    next_client_id: u64,
    /// Set once the socket closed: the close code if the server sent one.
    closed: Option<Option<u16>>,
    close_detail: String,
}

/// What one bounded read got.
enum Read {
    Frame(Value),
    Closed,
    TimedOut,
}

impl WsClient {
    fn new(conn: impl Transport + 'static) -> WsClient {
        WsClient {
            conn: Box::new(conn),
            pending: VecDeque::new(),
            next_id: 0,
            next_client_id: 0,
            closed: None,
            close_detail: String::new(),
        }
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        let text: String = text.into();
        self.conn
            .send(Message::Text(text.into()))
            .await
            .unwrap_or_else(|e| panic!("send a text frame: {e}"));
    }

    /// Like `send_text`, but a socket the server already closed is not a failure.
    pub async fn try_send_text(&mut self, text: impl Into<String>) -> bool {
        let text: String = text.into();
        self.conn.send(Message::Text(text.into())).await.is_ok()
    }

    pub async fn send_json(&mut self, value: &Value) {
        self.send_text(value.to_string()).await;
    }

    pub async fn send_binary(&mut self, bytes: impl Into<Bytes>) {
        self.conn
            .send(Message::Binary(bytes.into()))
            .await
            .unwrap_or_else(|e| panic!("send a binary frame: {e}"));
    }

    /// Sends a command with a fresh id and returns the id; the reply is awaited separately.
    pub async fn send_command(&mut self, ty: &str, data: Value) -> String {
        self.next_id += 1;
        let id = format!("c{}", self.next_id);
        self.send_json(&json!({ "id": id, "type": ty, "data": data }))
            .await;
        id
    }

    /// The whole reply envelope to a command.
    pub async fn request(&mut self, ty: &str, data: Value) -> Value {
        let id = self.send_command(ty, data).await;
        self.reply(&id).await
    }

    /// The reply's `data`; fails the test unless the reply is `ok`.
    pub async fn request_ok(&mut self, ty: &str, data: Value) -> Value {
        let reply = self.request(ty, data.clone()).await;
        assert_eq!(
            reply["ok"],
            json!(true),
            "{ty} {data} should succeed: {reply}"
        );
        reply["data"].clone()
    }

    /// The reply's `error`; fails the test unless the reply is an error.
    pub async fn request_err(&mut self, ty: &str, data: Value) -> Value {
        let reply = self.request(ty, data.clone()).await;
        assert_eq!(
            reply["ok"],
            json!(false),
            "{ty} {data} should fail: {reply}"
        );
        reply["error"].clone()
    }

    pub async fn reply(&mut self, id: &str) -> Value {
        self.find_reply(id).await.0
    }

    async fn find_reply(&mut self, id: &str) -> (Value, usize) {
        let what = format!("the reply to {id}");
        self.find_frame(&what, |f| f.get("re").and_then(Value::as_str) == Some(id))
            .await
    }

    /// The reply to `id` and the not yet claimed events that arrived before it.
    pub async fn reply_with_preceding_events(&mut self, id: &str) -> (Vec<Value>, Value) {
        let (reply, arrived_before) = self.find_reply(id).await;
        let later = self.pending.split_off(arrived_before);
        let earlier = std::mem::replace(&mut self.pending, later);
        let (events, others): (Vec<Value>, Vec<Value>) =
            earlier.into_iter().partition(|f| f.get("re").is_none());
        for frame in others.into_iter().rev() {
            self.pending.push_front(frame);
        }
        (events, reply)
    }

    /// The next event (a frame without `re`) of this type.
    pub async fn next_event(&mut self, ty: &str) -> Value {
        let what = format!("a {ty} event");
        self.next_event_where(&what, |e| e["type"] == ty).await
    }

    /// The next event (a frame without `re`) that satisfies `pred`.
    pub async fn next_event_where(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.next_frame_where(what, |f| f.get("re").is_none() && pred(f))
            .await
    }

    /// The first frame, buffered or new, that satisfies `pred`; all others stay buffered.
    pub async fn next_frame_where(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.find_frame(what, pred).await.0
    }

    /// The first matching frame and how many of the buffered frames arrived before it.
    async fn find_frame(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> (Value, usize) {
        if let Some(i) = self.pending.iter().position(&pred) {
            let frame = self.pending.remove(i).expect("index from position");
            return (frame, i);
        }
        let deadline = Instant::now() + WAIT;
        loop {
            match self.read_frame(what, deadline).await {
                Some(frame) if pred(&frame) => return (frame, self.pending.len()),
                Some(frame) => self.pending.push_back(frame),
                None => panic!(
                    "socket closed (code {:?}{}) while waiting for {what}; unclaimed frames: {:?}",
                    self.closed.flatten(),
                    self.close_detail,
                    self.pending
                ),
            }
        }
    }

    /// Reads until the socket closes and returns the close code (`None`: closed without one).
    /// Frames read meanwhile stay buffered.
    pub async fn expect_close(&mut self) -> Option<u16> {
        let deadline = Instant::now() + WAIT;
        while self.closed.is_none() {
            if let Some(frame) = self.read_frame("the socket to close", deadline).await {
                self.pending.push_back(frame);
            }
        }
        self.closed.flatten()
    }

    /// Closes from the client side and waits for the server to finish the close.
    pub async fn close(mut self) {
        // Error ignored: a server that already closed has nothing left to close.
        let _ = self
            .conn
            .send(Message::Close(Some(CloseCode::Normal.into())))
            .await;
        self.expect_close().await;
    }

    /// Reads one JSON frame, answering pings meanwhile; `None` once the socket is closed.
    async fn read_frame(&mut self, what: &str, deadline: Instant) -> Option<Value> {
        match self.read_frame_by(deadline).await {
            Read::Frame(frame) => Some(frame),
            Read::Closed => None,
            Read::TimedOut => panic!(
                "timed out after {WAIT:?} waiting for {what}; unclaimed frames: {:?}",
                self.pending
            ),
        }
    }

    /// Reads one JSON frame, answering pings meanwhile, unless `deadline` passes first. A
    /// frame that has already arrived is returned even when the deadline is past.
    async fn read_frame_by(&mut self, deadline: Instant) -> Read {
        loop {
            if self.closed.is_some() {
                return Read::Closed;
            }
            // `Next` holds no data of its own: dropping it on timeout loses no frame.
            let Ok(next) = tokio::time::timeout_at(deadline, self.conn.next()).await else {
                return Read::TimedOut;
            };
            match next {
                None => self.closed = Some(None),
                Some(Err(e)) => {
                    self.closed = Some(None);
                    self.close_detail = format!(", error {e}");
                }
                Some(Ok(Frame::Text(bytes))) => {
                    return Read::Frame(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                        panic!("server sent a text frame that is not JSON ({e}): {bytes:?}")
                    }))
                }
                Some(Ok(Frame::Ping(payload))) => {
                    // Error ignored: a failed pong shows up as a closed socket on the next read.
                    let _ = self.conn.send(Message::Pong(payload)).await;
                }
                Some(Ok(Frame::Pong(_))) => {}
                Some(Ok(Frame::Close(reason))) => {
                    self.closed = Some(reason.map(|r| u16::from(r.code)));
                }
                Some(Ok(other)) => panic!("unexpected frame: {other:?}"),
            }
        }
    }

    /// The first event, buffered or arriving within `within`, that satisfies `pred`; `None`
    /// if none came in time. For polling a condition; a closed socket fails the test.
    pub async fn next_event_within(
        &mut self,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let is_match = |f: &Value| f.get("re").is_none() && pred(f);
        if let Some(i) = self.pending.iter().position(is_match) {
            return self.pending.remove(i);
        }
        let deadline = Instant::now() + within;
        loop {
            match self.read_frame_by(deadline).await {
                Read::Frame(frame) if is_match(&frame) => return Some(frame),
                Read::Frame(frame) => self.pending.push_back(frame),
                Read::TimedOut => return None,
                Read::Closed => panic!(
                    "socket closed (code {:?}{}) while polling for an event; unclaimed frames: {:?}",
                    self.closed.flatten(),
                    self.close_detail,
                    self.pending
                ),
            }
        }
    }

    /// Moves the frames that have already arrived into the buffer, without waiting.
    pub async fn read_arrived(&mut self) {
        while let Read::Frame(frame) = self.read_frame_by(Instant::now()).await {
            self.pending.push_back(frame);
        }
    }

    /// Removes and returns the buffered frames (events and replies) that satisfy `pred`, in
    /// arrival order; reads nothing new.
    pub fn take_buffered(&mut self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let (taken, kept): (VecDeque<Value>, VecDeque<Value>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|f| pred(f));
        self.pending = kept;
        taken.into()
    }

    // ---- chat conveniences ----

    /// `chat.open` with a peer; returns the conversation id.
    pub async fn open_chat(&mut self, peer_id: i64) -> i64 {
        let data = self
            .request_ok("chat.open", json!({ "peer_id": peer_id }))
            .await;
        data["conversation"]["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("chat.open without conversation.id: {data}"))
    }

    /// A fresh client id for `chat.send`.
    pub fn client_id(&mut self) -> String {
        self.next_client_id += 1;
        format!("m-{:x}-{}", random_u64(), self.next_client_id)
    }

    /// `chat.send` with a fresh client id; returns the committed message.
    pub async fn say(&mut self, conversation_id: i64, text: &str) -> Value {
        let client_id = self.client_id();
        let data = self
            .request_ok(
                "chat.send",
                json!({ "conversation_id": conversation_id, "client_id": client_id, "text": text }),
            )
            .await;
        assert_eq!(data["duplicate"], json!(false), "a fresh client id: {data}");
        data["message"].clone()
    }

    /// The next `chat.message` event of one conversation.
    pub async fn next_message(&mut self, conversation_id: i64) -> Value {
        let what = format!("a chat.message in conversation {conversation_id}");
        self.next_event_where(&what, |e| {
            e["type"] == "chat.message" && e["data"]["conversation_id"] == conversation_id
        })
        .await
    }
}

/// Client side of RFC 6455 by hand: a masked frame.
fn encode_client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    encode_client_fragment(opcode, payload, true)
}

/// A masked client frame; `fin: false` leaves a fragmented message open.
fn encode_client_fragment(opcode: u8, payload: &[u8], fin: bool) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xffff {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let mask = random_u64().to_be_bytes();
    out.extend_from_slice(&mask[..4]);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// One frame as the server sent it.
#[derive(Debug)]
pub struct RawFrame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

pub const OP_TEXT: u8 = 0x1;
pub const OP_CLOSE: u8 = 0x8;

/// A WebSocket client on a bare TCP stream: it sends exactly the bytes a test asks for, and
/// reads (or does not read) only when told to.
pub struct RawWs {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawWs {
    /// Connects and upgrades with the token in the subprotocol header. `recv_buffer` shrinks
    /// the socket's receive buffer before connecting (so that a non-reading client backs up
    /// the server quickly).
    pub async fn connect(app: &TestApp, user: &TestUser, recv_buffer: Option<u32>) -> RawWs {
        let addr = ([127, 0, 0, 1], app.port).into();
        let socket = TcpSocket::new_v4().expect("create a TCP socket");
        if let Some(size) = recv_buffer {
            socket
                .set_recv_buffer_size(size)
                .expect("set the receive buffer size");
        }
        let mut stream = tokio::time::timeout(WAIT, socket.connect(addr))
            .await
            .expect("timed out connecting")
            .expect("connect to the server");
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: duoxie.v1, auth.{}\r\n\r\n",
            app.port, user.token
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send the upgrade request");
        let mut raw = RawWs {
            stream,
            buf: Vec::new(),
        };
        let deadline = Instant::now() + WAIT;
        let head_end = loop {
            if let Some(i) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(
                raw.fill(deadline, "the upgrade response").await,
                "closed during the upgrade"
            );
        };
        let head = String::from_utf8_lossy(&raw.buf[..head_end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        raw.buf.drain(..head_end);
        raw
    }

    /// One fragment of a message: `opcode` 0 for a continuation; `fin` ends the message.
    /// False once the server has closed the connection.
    pub async fn send_fragment(&mut self, opcode: u8, payload: &[u8], fin: bool) -> bool {
        self.stream
            .write_all(&encode_client_fragment(opcode, payload, fin))
            .await
            .is_ok()
    }

    pub async fn send_frame(&mut self, opcode: u8, payload: &[u8]) {
        self.stream
            .write_all(&encode_client_frame(opcode, payload))
            .await
            .expect("send a raw frame");
    }

    /// Reads more bytes into the buffer; false at end of stream (or a reset).
    async fn fill(&mut self, deadline: Instant, what: &str) -> bool {
        let mut chunk = [0u8; 65536];
        let read = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk))
            .await
            .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"));
        match read {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next whole frame, or `None` at end of stream.
    pub async fn read_frame(&mut self, what: &str) -> Option<RawFrame> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            if !self.fill(deadline, what).await {
                return None;
            }
        }
    }

    /// The next text frame whose JSON satisfies `pred`; other frames are skipped.
    pub async fn next_json_where(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let frame = self
                .read_frame(what)
                .await
                .unwrap_or_else(|| panic!("the stream ended while waiting for {what}"));
            if frame.opcode == OP_TEXT {
                let value: Value = serde_json::from_slice(&frame.payload)
                    .unwrap_or_else(|e| panic!("a text frame that is not JSON ({e})"));
                if pred(&value) {
                    return value;
                }
            }
            assert_ne!(
                frame.opcode, OP_CLOSE,
                "closed while waiting for {what}: {frame:?}"
            );
        }
    }

    /// Reads (and discards) frames until the close frame; its code, or `None` if the
    /// stream ended without one.
    pub async fn expect_close(&mut self) -> Option<u16> {
        while let Some(frame) = self.read_frame("a close frame").await {
            if frame.opcode == OP_CLOSE {
                return frame
                    .payload
                    .get(..2)
                    .map(|code| u16::from_be_bytes([code[0], code[1]]));
            }
        }
        None
    }
}

/// Parses one frame from the front of `buf`: the frame and how many bytes it took.
fn parse_frame(buf: &[u8]) -> Option<(RawFrame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let opcode = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7f {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let mask = if masked {
        let m: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(m)
    } else {
        None
    };
    let mut payload = buf.get(at..at + len)?.to_vec();
    if let Some(m) = mask {
        payload
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b ^= m[i % 4]);
    }
    Some((RawFrame { opcode, payload }, at + len))
}

// ---- several nodes: in-process apps, a server process, a private Redis ----

/// How often a condition is polled while waiting for it (never a wait for an event: those
/// read frames).
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// `TEST_REDIS_URL`, or `None` (after saying so on stderr) when it is unset.
pub fn redis_url_from_env() -> Option<String> {
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("cluster test skipped: TEST_REDIS_URL unset");
            None
        }
    }
}

/// A port that was free a moment ago: bound on port 0, then released.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port")
        .port()
}

/// Nodes of one deployment: one database, one Redis, and a Redis prefix of their own, so that
/// tests running in parallel never see each other's channels (user ids repeat across the
/// tests' fresh databases).
pub struct Cluster {
    pub nodes: Vec<TestApp>,
    redis_url: String,
    redis_prefix: String,
    database_url: Option<String>,
    data_dir: Arc<TempDir>,
}

/// `n` in-process nodes on `TEST_REDIS_URL`, or `None` (after saying so) when it is unset.
pub async fn spawn_cluster(store: Store, n: usize) -> Option<Cluster> {
    spawn_cluster_with(store, n, |_| {}).await
}

/// As [`spawn_cluster`], with settings adjusted (the same way on every node).
pub async fn spawn_cluster_with(
    store: Store,
    n: usize,
    configure: impl Fn(&mut Settings),
) -> Option<Cluster> {
    let redis_url = redis_url_from_env()?;
    Some(spawn_cluster_configured(store, &redis_url, n, configure).await)
}

/// `n` in-process nodes sharing one database (SQLite: one data folder; PostgreSQL: one
/// schema) and this Redis. Started one after the other, so only the first migrates.
pub async fn spawn_cluster_on(store: Store, redis_url: &str, n: usize) -> Cluster {
    spawn_cluster_configured(store, redis_url, n, |_| {}).await
}

/// As [`spawn_cluster_on`], with settings adjusted (the same way on every node).
pub async fn spawn_cluster_on_with(
    store: Store,
    redis_url: &str,
    n: usize,
    configure: impl Fn(&mut Settings),
) -> Cluster {
    spawn_cluster_configured(store, redis_url, n, configure).await
}

async fn spawn_cluster_configured(
    store: Store,
    redis_url: &str,
    n: usize,
    configure: impl Fn(&mut Settings),
) -> Cluster {
    let mut cluster = Cluster {
        nodes: Vec::new(),
        redis_url: redis_url.to_owned(),
        redis_prefix: format!("t{:016x}", random_u64()),
        database_url: store.database_url(),
        data_dir: Arc::new(TempDir::new().expect("create a temporary data dir")),
    };
    for _ in 0..n {
        let mut settings = test_settings(cluster.database_url.clone(), &cluster.data_dir);
        settings.redis_url = Some(cluster.redis_url.clone());
        settings.redis_prefix = cluster.redis_prefix.clone();
        configure(&mut settings);
        let node = start_app(settings, cluster.data_dir.clone()).await;
        cluster.nodes.push(node);
    }
    cluster
}

impl Cluster {
    /// One more node of this cluster as a real `duoxie serve` process, ready when this
    /// returns. Its `app` is a client handle (HTTP, sockets) to it; the process is killed
    /// when the `ProcessNode` is dropped.
    pub async fn spawn_process(&self) -> ProcessNode {
        let first = self
            .nodes
            .first()
            .expect("a cluster with an in-process node (its pool serves the process node's `db`)");
        let port = free_port();
        let mut command = serve_command(port, self.data_dir.path());
        command
            .env("REDIS_URL", &self.redis_url)
            .env("DUOXIE_REDIS_PREFIX", &self.redis_prefix)
            .env("DUOXIE_WS_RATE_PER_SEC", "1000")
            .env("DUOXIE_WS_RATE_BURST", "2000")
            .env("DUOXIE_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        if let Some(url) = &self.database_url {
            command.env("DATABASE_URL", url);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start `duoxie serve`: {e}"));
        let mut node = ProcessNode {
            child,
            app: TestApp {
                port,
                db: first.db.clone(),
                shutdown: Box::new(|| {}),
                shut_down: true,
                http: http_client(),
                next_device: 0,
                data_sections: first.data_sections.clone(),
                _data_dir: self.data_dir.clone(),
            },
        };
        node.await_ready().await;
        node
    }

    /// How many nodes are subscribed to this user's channel (`<prefix>:u:<id>`, see
    /// `src/bus/redis.rs`): one per node holding a socket of the user, once its subscription
    /// is in place. Asked of Redis directly, on a connection of its own.
    pub async fn subscribers(&self, user_id: i64) -> i64 {
        self.channel_subscribers(&format!("u:{user_id}")).await
    }

    /// How many nodes route the topic (`<prefix>:t:<name>`): one per node holding a member.
    pub async fn topic_subscribers(&self, topic: &str) -> i64 {
        self.channel_subscribers(&format!("t:{topic}")).await
    }

    async fn channel_subscribers(&self, suffix: &str) -> i64 {
        let client = redis::Client::open(self.redis_url.as_str()).expect("parse the Redis URL");
        let mut conn = tokio::time::timeout(WAIT, client.get_multiplexed_async_connection())
            .await
            .expect("timed out connecting to Redis")
            .unwrap_or_else(|e| panic!("connect to Redis: {e}"));
        let channel = format!("{}:{suffix}", self.redis_prefix);
        let (_, count): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query_async(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("PUBSUB NUMSUB {channel}: {e}"));
        count
    }

    /// Polls until exactly `nodes` nodes route the topic.
    pub async fn await_topic_subscribers(&self, topic: &str, nodes: i64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let now = self.topic_subscribers(topic).await;
            if now == nodes {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "topic {topic}: {now} node(s) subscribed after {WAIT:?}, waiting for {nodes}"
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Polls until exactly `nodes` nodes route this user's deliveries: a socket opened (or
    /// closed) on a node is only then reachable from (or gone for) the others.
    pub async fn await_subscribers(&self, user_id: i64, nodes: i64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let now = self.subscribers(user_id).await;
            if now == nodes {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "user {user_id}: {now} node(s) subscribed after {WAIT:?}, waiting for {nodes}"
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// `duoxie serve` on `port` and `data_dir` with dev codes and no resend interval, and only
/// the settings the caller adds: none from the environment the tests run in.
fn serve_command(port: u16, data_dir: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_duoxie"));
    command.arg("serve");
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("DUOXIE_") || key == "DATABASE_URL" || key == "REDIS_URL" {
            command.env_remove(key.as_ref());
        }
    }
    command
        .env("DUOXIE_LISTEN", format!("127.0.0.1:{port}"))
        .env("DUOXIE_WORKERS", "2")
        .env("DUOXIE_DATA_DIR", data_dir)
        .env("DUOXIE_AUTH_DEV_CODES", "true")
        .env("DUOXIE_AUTH_CODE_RESEND_MS", "0")
        .env("DUOXIE_AUTH_CODES_PER_IP_PER_HOUR", "1000000")
        .env("DUOXIE_AUTH_CODES_PER_PHONE_PER_DAY", "1000000")
        .env("DUOXIE_AUTH_CODES_GLOBAL_PER_MINUTE", "1000000")
        .env("DUOXIE_AUTH_LOGINS_PER_IP_PER_HOUR", "1000000")
        .env("DUOXIE_MEDIA_UPLOADS_PER_HOUR", "1000000")
        .env("DUOXIE_MODERATION_REPORTS_PER_HOUR", "1000000")
        .env("DUOXIE_CHAT_NEW_CONVERSATIONS_PER_HOUR", "1000000");
    command
}

/// A lone `duoxie serve` process on a data folder of its own, logging at `debug` (stdout and
/// stderr) into `log`: for tests that read what the server writes to its log.
pub async fn spawn_logging_process(store: Store, log: &std::path::Path) -> ProcessNode {
    let data_dir = Arc::new(TempDir::new().expect("create a temporary data dir"));
    let port = free_port();
    let database_url = store.database_url();
    let log_file = std::fs::File::create(log).expect("create the log file");
    let mut command = serve_command(port, data_dir.path());
    command
        .env("DUOXIE_LOG", "debug")
        .stdin(std::process::Stdio::null())
        .stdout(log_file.try_clone().expect("clone the log file handle"))
        .stderr(log_file);
    let pool_url = match &database_url {
        Some(url) => {
            command.env("DATABASE_URL", url);
            url.clone()
        }
        None => format!(
            "sqlite://{}?mode=rwc",
            data_dir.path().join("duoxie.db").display()
        ),
    };
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect_lazy(&pool_url).expect("a lazy pool");
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("start `duoxie serve`: {e}"));
    let mut node = ProcessNode {
        child,
        app: TestApp {
            port,
            db,
            shutdown: Box::new(|| {}),
            shut_down: true,
            http: http_client(),
            next_device: 0,
            // A process node's sections are its own binary's; none are read from it.
            data_sections: Vec::new(),
            _data_dir: data_dir,
        },
    };
    node.await_ready().await;
    node
}

/// A node running as its own `duoxie serve` process, so that a test can SIGKILL it.
pub struct ProcessNode {
    child: std::process::Child,
    /// HTTP and sockets to this node (its `db` is another node's pool on the same database).
    pub app: TestApp,
}

impl ProcessNode {
    async fn await_ready(&mut self) {
        let url = self.app.url("/readyz");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the server process") {
                panic!("the server process exited before it was ready: {status}");
            }
            let answer = tokio::time::timeout_at(deadline, self.app.http.get(&url).send()).await;
            if matches!(&answer, Ok(Ok(resp)) if resp.status().as_u16() == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server process was not ready within {WAIT:?}"
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no drain, no goodbye, whatever it was doing.
    pub fn kill(&mut self) {
        // Errors ignored: a process that is already gone has nothing left to kill or reap.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ProcessNode {
    fn drop(&mut self) {
        // Also while unwinding: a failed test must not leave a server running.
        self.kill();
    }
}

/// A `redis-server` of this test's own on a free port, which it may kill and start again
/// (never the shared one of `TEST_REDIS_URL`). Killed when dropped.
pub struct RedisServer {
    port: u16,
    child: Option<std::process::Child>,
}

impl RedisServer {
    /// Starts one and waits until it answers PING; `None` (after saying so) when
    /// `redis-server` is not installed, which fails the test when `CI` is set.
    pub async fn start() -> Option<RedisServer> {
        let mut server = RedisServer {
            port: free_port(),
            child: None,
        };
        match server.spawn() {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI is set but redis-server is not installed: this test would be skipped"
                );
                eprintln!("cluster test skipped: redis-server not installed");
                return None;
            }
            Err(e) => panic!("start redis-server: {e}"),
        }
        server.await_pong().await;
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL; everything it held (channels, keys, connections) is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Errors ignored: a process that is already gone has nothing left to kill or reap.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again, empty, on the same port, and waits until it answers PING.
    pub async fn start_again(&mut self) {
        self.kill();
        self.spawn()
            .unwrap_or_else(|e| panic!("start redis-server again: {e}"));
        self.await_pong().await;
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let port = self.port.to_string();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    async fn await_pong(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().expect("poll redis-server") {
                    panic!(
                        "redis-server on port {} exited before answering: {status}",
                        self.port
                    );
                }
            }
            if tokio::time::timeout_at(deadline, ping(self.port))
                .await
                .unwrap_or(false)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within {WAIT:?}",
                self.port
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether a Redis on this port answers an inline PING with `+PONG`.
async fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if stream.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let mut chunk = [0u8; 64];
    while !answer.ends_with(b"\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
    answer == b"+PONG\r\n"
}
