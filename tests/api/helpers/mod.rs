//! The test harness: a real server per test on port 0 with a fresh database and an HTTP
//! client (here), a WebSocket client that matches replies by `re` and buffers events
//! ([`ws`]), a raw WebSocket client for what awc cannot do ([`raw_ws`]: invalid UTF-8, a socket
//! that never reads or never pongs), and several nodes, a server process and a private Redis
//! ([`cluster`]).
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
use duoxie::settings::Settings;
use duoxie::startup::App;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::{json, Value};
use sqlx::Connection;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

mod cluster;
mod coturn;
mod raw_ws;
mod ws;

pub use cluster::*;
pub use coturn::Coturn;
pub use raw_ws::*;
pub use ws::*;

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
                #[actix_rt::test(system = "duoxie::startup::ServerSystem")]
                async fn $name() {
                    super::$name(crate::helpers::Store::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[actix_rt::test(system = "duoxie::startup::ServerSystem")]
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
    let (bus, connections) = (app.bus(), app.connections());
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
        in_process: Some((bus, connections)),
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
    /// Publishes as a domain would (`None` for a `duoxie serve` process).
    in_process: Option<(duoxie::bus::SharedBus, duoxie::startup::Connections)>,
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
    /// The node's bus, to publish as a domain would.
    pub fn bus(&self) -> duoxie::bus::SharedBus {
        self.in_process
            .as_ref()
            .map(|(bus, _)| bus.clone())
            .expect("a `duoxie serve` process node has no bus in this process")
    }

    /// The user's live connections on this node, oldest first.
    pub async fn connections_of(&self, user_id: i64) -> Vec<duoxie::bus::ConnectionId> {
        let (_, connections) = self
            .in_process
            .as_ref()
            .expect("a `duoxie serve` process node has no registry in this process");
        connections.of(user_id).await
    }

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
        // A code login accepts the user agreement and the privacy policy in force.
        let version = duoxie::consent::policy_version_in_force(&self.db)
            .await
            .expect("a policy version in force");
        let body = self
            .post(
                "/api/auth/login",
                None,
                // An adult: registration records the age (see `minors` for the other cases).
                &json!({ "phone": phone, "code": code, "device": device, "birth_date": ADULT_BIRTH_DATE, "accepted_policy_version": version }),
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
