//! Several nodes: in-process apps on one database and a Redis, a server process, a private
//! Redis server to stop and start.

use super::*;

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

impl Cluster {
    /// A connection to the cluster's Redis, for reading and changing what the nodes keep there.
    async fn redis(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.redis_url.as_str()).expect("the Redis URL");
        client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to Redis")
    }

    /// The post ids of `user`'s home timeline as the nodes keep it in Redis, newest first.
    pub async fn redis_timeline(&self, user_id: i64) -> Vec<i64> {
        let mut conn = self.redis().await;
        let members: Vec<String> = redis::cmd("ZREVRANGEBYLEX")
            .arg(format!("{}:home:{user_id}", self.redis_prefix))
            .arg("+")
            .arg("-")
            .query_async(&mut conn)
            .await
            .expect("read a timeline");
        // Post ids are above 0; id 0 is the mark of a complete timeline (`has_complete_mark`).
        members
            .iter()
            .filter_map(|m| m.split_once(':').and_then(|(_, id)| id.parse().ok()))
            .filter(|id: &i64| *id > 0)
            .collect()
    }

    /// Takes `member` (`<published_at>:<post id>`, zero-padded) out of `user`'s Redis
    /// timeline behind the server's back.
    pub async fn remove_from_redis_timeline(&self, user_id: i64, member: &str) {
        let mut conn = self.redis().await;
        let _: i64 = redis::cmd("ZREM")
            .arg(format!("{}:home:{user_id}", self.redis_prefix))
            .arg(member)
            .query_async(&mut conn)
            .await
            .expect("remove a member");
    }

    /// Whether `user`'s Redis timeline carries the mark that it holds every post of those they
    /// follow (its lowest member, `0…0:0…0`).
    pub async fn has_complete_mark(&self, user_id: i64) -> bool {
        let mut conn = self.redis().await;
        let mark = format!("{:020}:{:020}", 0, 0);
        let score: Option<f64> = redis::cmd("ZSCORE")
            .arg(format!("{}:home:{user_id}", self.redis_prefix))
            .arg(mark)
            .query_async(&mut conn)
            .await
            .expect("read a timeline's mark");
        score.is_some()
    }

    /// Loses `user`'s Redis timeline, as a Redis restart without persistence would.
    pub async fn lose_redis_timeline(&self, user_id: i64) {
        let mut conn = self.redis().await;
        redis::cmd("DEL")
            .arg(format!("{}:home:{user_id}", self.redis_prefix))
            .query_async::<()>(&mut conn)
            .await
            .expect("delete a timeline");
    }
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

pub(super) async fn spawn_cluster_configured(
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
        self.spawn_process_with_env(&[]).await
    }

    /// As [`Cluster::spawn_process`], with more settings for the process (`DUOXIE_…`).
    pub async fn spawn_process_with_env(&self, env: &[(&str, &str)]) -> ProcessNode {
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
            .envs(env.iter().copied())
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
                in_process: None,
                _data_dir: self.data_dir.clone(),
            },
        };
        node.await_ready().await;
        node
    }

    /// How many nodes route the topic (`<prefix>:t:<name>`): one per node holding a member.
    pub async fn topic_subscribers(&self, topic: &str) -> i64 {
        self.channel_subscribers(&format!("t:{topic}")).await
    }

    /// How many nodes are subscribed to `<prefix>:<suffix>` (see `src/bus/redis.rs`): a
    /// user's channel (`u:<id>`) has one per node holding a socket of the user, a topic's
    /// (`t:<name>`) one per node holding a member, once the subscription is in place. Asked of
    /// Redis directly, on a connection of its own.
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
        self.await_channel_subscribers(&format!("t:{topic}"), &format!("topic {topic}"), nodes)
            .await
    }

    /// Polls until exactly `nodes` nodes route this user's deliveries: a socket opened (or
    /// closed) on a node is only then reachable from (or gone for) the others.
    pub async fn await_subscribers(&self, user_id: i64, nodes: i64) {
        self.await_channel_subscribers(&format!("u:{user_id}"), &format!("user {user_id}"), nodes)
            .await
    }

    async fn await_channel_subscribers(&self, suffix: &str, what: &str, nodes: i64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let now = self.channel_subscribers(suffix).await;
            if now == nodes {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {now} node(s) subscribed after {WAIT:?}, waiting for {nodes}"
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// `duoxie serve` on `port` and `data_dir` with dev codes and no resend interval, and only
/// the settings the caller adds: none from the environment the tests run in.
pub(super) fn serve_command(port: u16, data_dir: &std::path::Path) -> std::process::Command {
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
            in_process: None,
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
    /// Where `stop_keeping_data` saves its snapshot, which the next start loads.
    dir: TempDir,
}

impl RedisServer {
    /// Starts one and waits until it answers PING; `None` (after saying so) when
    /// `redis-server` is not installed, which fails the test when `CI` is set.
    pub async fn start() -> Option<RedisServer> {
        let mut server = RedisServer {
            port: free_port(),
            child: None,
            dir: TempDir::new().expect("create a folder for redis-server"),
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
        let _ = std::fs::remove_file(self.dir.path().join("dump.rdb"));
        self.spawn()
            .unwrap_or_else(|e| panic!("start redis-server again: {e}"));
        self.await_pong().await;
    }

    /// Saves what it holds to disk, then SIGKILL: as far as the nodes can tell, Redis is
    /// unreachable (a partition), until `start_again_with_data`.
    pub async fn stop_keeping_data(&mut self) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to redis-server");
        stream.write_all(b"SAVE\r\n").await.expect("send SAVE");
        let mut answer = Vec::new();
        let mut chunk = [0u8; 64];
        while !answer.ends_with(b"\r\n") {
            let n = stream.read(&mut chunk).await.expect("read SAVE's answer");
            assert!(n > 0, "redis-server closed the connection during SAVE");
            answer.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(answer, b"+OK\r\n", "SAVE");
        self.kill();
    }

    /// Starts it again with what `stop_keeping_data` saved, and waits until it answers PING.
    pub async fn start_again_with_data(&mut self) {
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
            .arg("--dir")
            .arg(self.dir.path())
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
pub(super) async fn ping(port: u16) -> bool {
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
