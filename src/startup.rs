//! Wiring: `App::build(settings)` opens the database, applies migrations, starts the actors
//! and binds the HTTP server; `run_until_stopped` serves until SIGTERM/SIGINT or a
//! [`ShutdownHandle`] trigger, then drains. `main` and every integration test use exactly this.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, Addr};
use actix_web::{dev::Server, middleware, web, HttpServer};
use anyhow::Context;
use tokio::sync::mpsc;

use crate::auth::Auth;
use crate::bus::registry::{CountConnections, GoAway, Registry, SetBus, SetPresenceSink};
use crate::bus::{local::LocalBus, redis::RedisBus, SharedBus};
use crate::chat::{ChatServer, IsIdle};
use crate::codes::OutboxCodeSender;
use crate::consent::receipt::{Controller, ReceiptSigner};
use crate::consent::{ConsentServer, PolicyVersion};
use crate::domain::Accounts;
use crate::http::{self, Readiness};
use crate::minors::Minors;
use crate::phone::PhoneVault;
use crate::privacy::retention::RetentionJob;
use crate::privacy::Privacy;
use crate::settings::Settings;
use crate::store::{self, Db};
use crate::ws::WsServices;

pub struct App {
    port: u16,
    /// Publishes as a domain would (the tests address single connections with it).
    bus: SharedBus,
    server: Server,
    db: Db,
    registry: Addr<Registry>,
    chat: Addr<ChatServer>,
    drain: Duration,
    shutdown_tx: mpsc::UnboundedSender<()>,
    shutdown_rx: mpsc::UnboundedReceiver<()>,
    /// The routed WebSocket commands (for the test that holds them to `docs/protocol.md`).
    command_names: Vec<&'static str>,
    /// The export's sections and the columns each answers for (for the schema test).
    data_sections: Vec<(&'static str, &'static [(&'static str, &'static str)])>,
}

/// A node's live connections, by user (for operations and tests; a domain addresses one
/// with the [`crate::commands::Caller`] it was handed).
#[derive(Clone)]
pub struct Connections {
    registry: Addr<Registry>,
    node: u64,
}

impl Connections {
    /// The user's connections on this node, oldest first.
    pub async fn of(&self, user_id: i64) -> Vec<crate::bus::ConnectionId> {
        let ids = self
            .registry
            .send(crate::bus::registry::ConnectionsOf(user_id))
            .await
            .unwrap_or_default();
        ids.into_iter()
            .map(|conn| crate::bus::ConnectionId {
                node: self.node,
                conn,
            })
            .collect()
    }
}

/// Triggers the same graceful shutdown as SIGTERM.
#[derive(Clone)]
pub struct ShutdownHandle(mpsc::UnboundedSender<()>);

impl ShutdownHandle {
    pub fn trigger(&self) {
        // A closed channel means the app already stopped: nothing left to do.
        let _ = self.0.send(());
    }
}

impl App {
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        settings.validate()?;
        let (db, backend) = store::connect(&settings.store()).await?;
        store::migrate(&db, backend).await?;
        let keys = settings.keys(&db).await?;
        let vault = Arc::new(PhoneVault::new(&keys.phone_master));
        crate::auth::seal_legacy_phones(&db, &vault).await?;
        let signer = Arc::new(ReceiptSigner::new(
            &keys.receipt_seed,
            Controller {
                name: settings.privacy.controller.clone(),
                contact: settings.privacy.contact.clone(),
            },
        ));

        let registry =
            Registry::new(Duration::from_millis(settings.chat.presence_grace_ms)).start();
        let (bus, redis): (SharedBus, Option<Arc<RedisBus>>) = match &settings.redis_url {
            Some(url) => {
                let redis = Arc::new(
                    RedisBus::connect(url, &settings.redis_prefix, registry.clone()).await?,
                );
                (redis.clone(), Some(redis))
            }
            None => (Arc::new(LocalBus::new(registry.clone())), None),
        };
        registry.do_send(SetBus(bus.clone()));
        let node_id = bus.node_id();
        let app_bus = bus.clone();
        let standing = crate::auth::standing::StandingWatch::new(
            db.clone(),
            registry.clone(),
            Duration::from_millis(settings.auth.standing_recheck_ms),
        )
        .start();
        registry.do_send(crate::bus::registry::SetStandingWatch(standing.recipient()));
        // The accounts, as every other domain may ask about them.
        let accounts: Arc<dyn Accounts> = Arc::new(crate::auth::AccountDirectory::new(
            db.clone(),
            vault.clone(),
        ));
        // Moderation loads the keyword list (and reloads it); chat screens texts with it.
        let empty = crate::moderation::policy::Keywords::parse("")
            .map_err(|e| anyhow::anyhow!("an empty keyword list: {e}"))?;
        let (keywords_out, keywords_in) = tokio::sync::watch::channel(Arc::new(empty));
        let live_keywords = keywords_in.clone();
        let feed_keywords = keywords_in.clone();
        let blobs: Arc<dyn crate::media::blob::BlobStore> =
            Arc::new(crate::media::blob::FsBlobStore::new(&settings.data_dir));
        let chat = ChatServer::new(
            db.clone(),
            backend,
            bus.clone(),
            settings.chat.clone(),
            settings.ws.max_reply_bytes,
            keywords_in,
            crate::chat::Reach {
                accounts: accounts.clone(),
                blobs: blobs.clone(),
            },
        )
        .start();
        registry.do_send(SetPresenceSink(chat.clone().recipient()));
        let policy_version = PolicyVersion::new(
            crate::consent::publish_policy_version(&db, &settings.policy_version)
                .await
                .map_err(|e| anyhow::anyhow!("publish the policy version: {}", e.message))?,
        );
        let in_force = policy_version.get();
        let missing = crate::consent::legal::missing_texts(&in_force);
        if !missing.is_empty() {
            tracing::warn!(
                version = %in_force,
                missing = ?missing,
                "the policy version in force has no shipped text: users cannot read what they accept"
            );
        }
        let live = Arc::new(crate::live::Live::new(
            db.clone(),
            backend,
            bus.clone(),
            registry.clone(),
            settings.live.clone(),
            live_keywords,
            accounts.clone(),
            policy_version.clone(),
            signer.clone(),
        ));
        let consent = ConsentServer::new(
            db.clone(),
            bus.clone(),
            policy_version.clone(),
            signer.clone(),
            registry.clone().recipient(),
            Duration::from_millis(settings.policy_poll_ms),
            vec![live.clone() as Arc<dyn crate::consent::WithdrawalListener>],
        )
        .start();
        crate::live::call_watch::CallWatch::new(live.clone()).start();

        // The content moderation decides on, each kind owned by its domain; chat is also
        // where pictures are used.
        let chat_content = Arc::new(crate::chat::moderated::ChatUnderModeration {
            db: db.clone(),
            bus: bus.clone(),
            chat: chat.clone(),
        });

        // Home timelines in Redis when the deployment has it (a cache the database's posts
        // rebuild), else in the database.
        let timelines: Arc<dyn crate::feed::timeline::Timelines> = match &redis {
            Some(r) => Arc::new(crate::feed::timeline::RedisTimelines {
                db: db.clone(),
                conn: r.connection(),
                prefix: settings.redis_prefix.clone(),
                ttl_secs: (settings.feed.inactive_after_ms / 1000).max(60) as u64,
                keep: settings.feed.home_max,
            }),
            None => Arc::new(crate::feed::timeline::DbTimelines {
                db: db.clone(),
                backend,
            }),
        };
        let feed = Arc::new(crate::feed::Feed::new(
            db.clone(),
            backend,
            bus.clone(),
            settings.feed.clone(),
            feed_keywords,
            accounts.clone(),
            policy_version.clone(),
            timelines,
            registry.clone(),
        ));
        let mut contents = crate::moderation::content::ContentKinds::default();
        contents.add(Arc::new(crate::feed::moderated::PostsUnderModeration(
            feed.clone(),
        )))?;
        contents.add(Arc::new(crate::feed::moderated::CommentsUnderModeration(
            feed.clone(),
        )))?;
        contents.add(Arc::new(crate::live::moderated::CommentsUnderModeration(
            live.clone(),
        )))?;
        contents.add(Arc::new(crate::live::moderated::RoomsUnderModeration(
            live.clone(),
        )))?;
        contents.add(chat_content.clone())?;
        contents.add(Arc::new(crate::media::moderated::MediaUnderModeration {
            db: db.clone(),
            uses: chat_content.clone(),
        }))?;
        contents.add(Arc::new(crate::auth::moderated::ProfilesUnderModeration {
            db: db.clone(),
        }))?;
        let pictures: Arc<dyn crate::moderation::content::StoredPictures> =
            Arc::new(crate::media::moderated::PictureFiles {
                db: db.clone(),
                blobs: blobs.clone(),
            });
        // Before the first upload is screened: blocklist entries an older hash made are
        // compared by the current one.
        crate::moderation::pictures::rehash(&db, pictures.as_ref())
            .await
            .map_err(|e| anyhow::anyhow!("rehash the picture blocklist: {}", e.message))?;
        let moderation = crate::moderation::ModerationServer::new(
            db.clone(),
            bus.clone(),
            settings.moderation.clone(),
            keywords_out,
            crate::moderation::Reach {
                contents,
                pictures,
                accounts: accounts.clone(),
            },
        )?
        .start();
        chat.do_send(crate::chat::SetModeration(moderation.clone()));
        feed.set_moderation(moderation.clone());
        let fanout = crate::feed::fanout::FanoutWorker::new(feed.clone()).start();
        crate::feed::counts::CountsTicker::new(feed.clone()).start();
        feed.set_worker(fanout.recipient());
        let media = web::Data::new(crate::media::Media::new(
            db.clone(),
            blobs.clone(),
            settings.media.clone(),
            policy_version.clone(),
            moderation.clone(),
            chat_content,
        ));
        // Every domain holding personal data, in the export's section order.
        let personal_data: Vec<Arc<dyn crate::rights::DataDomain>> = vec![
            Arc::new(crate::chat::rights::ChatRights),
            Arc::new(crate::consent::rights::ConsentRights {
                signer: signer.clone(),
            }),
            Arc::new(crate::privacy::StaffAccess),
            Arc::new(crate::minors::rights::MinorsRights {
                vault: vault.clone(),
                accounts: accounts.clone(),
            }),
            Arc::new(crate::media::rights::MediaRights {
                blobs: blobs.clone(),
            }),
            Arc::new(crate::moderation::rights::ModerationRights),
            Arc::new(crate::live::rights::LiveRights),
            Arc::new(crate::feed::rights::FeedRights),
            Arc::new(crate::share::rights::ShareRights),
            Arc::new(crate::auth::rights::AccountRights {
                vault: vault.clone(),
            }),
        ];
        let privacy = Privacy::new(
            db.clone(),
            personal_data,
            backend,
            bus.clone(),
            settings.privacy.clone(),
        );
        let data_sections = privacy.sections();
        RetentionJob::new(
            privacy.clone(),
            settings.privacy.clone(),
            settings.moderation.appeal_window_ms,
        )
        .start();
        let privacy = web::Data::new(privacy);

        let sender: Arc<dyn crate::codes::CodeSender> =
            Arc::new(OutboxCodeSender::new(&settings.data_dir));
        let minors = web::Data::new(Minors::new(
            db.clone(),
            vault.clone(),
            sender.clone(),
            bus.clone(),
            settings.auth.codes(),
            accounts.clone(),
        ));
        let auth = web::Data::new(Auth::new(
            db.clone(),
            settings.auth.clone(),
            sender,
            bus,
            vault,
            backend,
            moderation.clone(),
        ));
        // One line per domain that has WebSocket commands.
        let mut routes = crate::commands::Routes::default();
        routes.add(
            Arc::new(crate::chat::commands::ChatCommands::new(
                chat.clone(),
                settings.chat.typing_interval_ms,
            )),
            crate::chat::commands::COMMANDS,
        )?;
        routes.add(
            Arc::new(consent.clone()),
            crate::consent::commands::COMMANDS,
        )?;
        routes.add(
            Arc::new(crate::relations::Relations {
                db: db.clone(),
                accounts: accounts.clone(),
            }),
            crate::relations::commands::COMMANDS,
        )?;
        routes.add(
            Arc::new(crate::moderation::commands::ModerationCommands {
                moderation: moderation.clone(),
                registry: registry.clone(),
            }),
            crate::moderation::commands::COMMANDS,
        )?;
        routes.add(live.clone(), crate::live::commands::COMMANDS)?;
        routes.add(feed.clone(), crate::feed::commands::COMMANDS)?;
        routes.add(
            Arc::new(crate::share::Shares::new(
                db.clone(),
                feed.clone(),
                live.clone(),
                settings.share.clone(),
            )),
            crate::share::commands::COMMANDS,
        )?;
        let command_names = routes.names();
        let ws = web::Data::new(WsServices {
            auth: Auth::clone(&auth),
            routes,
            registry: registry.clone(),
            node_id,
            ws: settings.ws.clone(),
            policy_version,
        });
        let readiness = web::Data::new(Readiness {
            db: db.clone(),
            backend,
            redis,
        });

        let max_header_bytes = settings.max_header_bytes;
        let server = HttpServer::new(move || {
            actix_web::App::new()
                .wrap(middleware::from_fn(move |req, next| {
                    http::limit_headers(max_header_bytes, req, next)
                }))
                .wrap(
                    middleware::Logger::new("%a \"%{request}xi\" %s %b %Dms")
                        .custom_request_replace("request", http::redacted_request_line)
                        .log_target("duoxie::http"),
                )
                .app_data(auth.clone())
                .app_data(ws.clone())
                .app_data(readiness.clone())
                .app_data(web::Data::new(consent.clone()))
                .app_data(web::Data::new(signer.clone()))
                .app_data(web::Data::new(live.clone()))
                .app_data(privacy.clone())
                .app_data(minors.clone())
                .app_data(media.clone())
                .configure(http::routes)
        })
        .workers(settings.workers)
        .tcp_nodelay(true)
        .disable_signals()
        .shutdown_timeout(1)
        // Set before bind: actix applies it to the sockets it binds. A reconnect storm of
        // thousands overflows the kernel's default of 128 and costs clients a 1 s SYN retry.
        .backlog(settings.listen_backlog)
        .bind(&settings.listen)
        .with_context(|| format!("bind DUOXIE_LISTEN={}", settings.listen))?;
        let port = server
            .addrs()
            .first()
            .map(|a| a.port())
            .context("no bound address")?;
        let server = server.run();
        tracing::info!(port, backend = ?backend, data_dir = %settings.data_dir.display(), "listening");

        let (shutdown_tx, shutdown_rx) = mpsc::unbounded_channel();
        Ok(App {
            port,
            bus: app_bus,
            server,
            db,
            registry,
            chat,
            drain: Duration::from_millis(settings.shutdown_drain_ms),
            shutdown_tx,
            shutdown_rx,
            command_names,
            data_sections,
        })
    }

    /// The export's sections, in order, each with the `users` columns its domain answers for.
    pub fn data_sections(&self) -> &[(&'static str, &'static [(&'static str, &'static str)])] {
        &self.data_sections
    }

    /// Every WebSocket command the session routes (besides its own `auth`), sorted.
    pub fn command_names(&self) -> &[&'static str] {
        &self.command_names
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn bus(&self) -> SharedBus {
        self.bus.clone()
    }

    /// This node's connections, as the bus addresses them.
    pub fn connections(&self) -> Connections {
        Connections {
            registry: self.registry.clone(),
            node: self.bus.node_id(),
        }
    }

    pub fn db(&self) -> Db {
        self.db.clone()
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown_tx.clone())
    }

    /// Serves until a signal or a trigger, then: stop accepting, close every socket with
    /// `1001`, give them the drain period to go, let in-flight commits finish, stop.
    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let mut server = actix_web::rt::spawn(self.server);
        tokio::select! {
            finished = &mut server => {
                return finished.context("server task")?.context("server");
            }
            _ = self.shutdown_rx.recv() => tracing::info!("shutdown requested"),
            _ = terminate_signal() => tracing::info!("termination signal received"),
        }
        handle.pause().await;
        let open = self.registry.send(GoAway).await.unwrap_or(0);
        tracing::info!(
            open,
            drain_ms = self.drain.as_millis() as u64,
            "draining sockets"
        );
        let deadline = Instant::now() + self.drain;
        while Instant::now() < deadline {
            let sockets = self.registry.send(CountConnections).await.unwrap_or(0);
            let idle = self.chat.send(IsIdle).await.unwrap_or(true);
            if sockets == 0 && idle {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        handle.stop(true).await;
        let _ = server.await;
        self.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

async fn terminate_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The actix system `main` and the integration tests run on, torn down inside a Tokio context.
///
/// actix-rt drops its `LocalSet`, and with it every actor's pending futures, after leaving its
/// runtime; a sqlx pool connection dropped there panics (its return to the pool is spawned),
/// and a panic in that teardown aborts the process. A presence write in flight when the server
/// stops was enough (CI saw it abort the test binary). Here the teardown runs with a spare
/// runtime entered, which takes those spawns and drops them unpolled.
pub struct ServerSystem {
    teardown: tokio::runtime::Runtime,
    system: actix_web::rt::SystemRunner,
}

impl ServerSystem {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let teardown = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a Tokio runtime without drivers cannot fail to build");
        ServerSystem {
            teardown,
            system: actix_web::rt::System::new(),
        }
    }

    /// Runs `fut` to completion on the actix system, then tears the system down.
    pub fn block_on<F: std::future::Future>(self, fut: F) -> F::Output {
        let teardown = self.teardown;
        let _context = teardown.enter();
        // Bound after the guard, so dropped before it: on return, and as well when `fut`
        // panics and the unwinding drops the system.
        let system = self.system;
        system.block_on(fut)
    }
}

/// Raises the open-files soft limit to the hard limit (each socket is a file) and logs both.
pub fn raise_fd_limit() {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                tracing::warn!("could not read the open-files limit");
                return;
            }
            let before = lim.rlim_cur;
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                tracing::warn!(
                    soft = before,
                    hard = lim.rlim_max,
                    "could not raise the open-files limit"
                );
                return;
            }
            tracing::info!(
                soft_before = before,
                soft = lim.rlim_cur,
                hard = lim.rlim_max,
                "open-files limit"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ServerSystem;

    /// An actor's pending future holding two pool connections, as one would be at shutdown (a
    /// presence write in flight). Two, as an actor's context holds several: a panic dropping
    /// the first is caught by Tokio, the second panics while unwinding and aborts.
    async fn hold_connections_in_a_pending_future() {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .connect("sqlite::memory:")
            .await
            .expect("an in-memory SQLite pool");
        let held = [
            pool.acquire().await.expect("a connection"),
            pool.acquire().await.expect("another connection"),
        ];
        actix_web::rt::spawn(async move {
            let _held = held;
            std::future::pending::<()>().await
        });
        actix_web::rt::task::yield_now().await;
    }

    /// Those connections are dropped at shutdown without a panic; on a bare actix system
    /// their drop panics for want of a Tokio context, and the process aborts.
    #[test]
    fn a_pool_connection_held_at_shutdown_is_dropped_without_a_panic() {
        ServerSystem::new().block_on(hold_connections_in_a_pending_future());
    }

    /// The same when the future panics (a failing test): the panic comes out as a panic, not
    /// as an abort of the whole test binary from a second one while unwinding.
    #[test]
    fn a_panic_with_pool_connections_held_is_a_panic_not_an_abort() {
        let caught = std::panic::catch_unwind(|| {
            ServerSystem::new().block_on(async {
                hold_connections_in_a_pending_future().await;
                panic!("the test failed");
            })
        });
        assert!(caught.is_err());
    }
}
