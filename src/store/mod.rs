//! The database: one sqlx `Any` pool for SQLite (default) or PostgreSQL, embedded migrations
//! per backend, and the few helpers every domain's `store.rs` shares.
//!
//! Domain SQL lives in each domain's `store.rs` and is written once for both backends: `$N`
//! placeholders, times as integer milliseconds, booleans as 0/1, `BIGINT` ids. This module
//! holds no domain SQL.

pub mod rate;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};

use crate::config::SqliteSynchronous;

pub type Db = AnyPool;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Self {
        if url.starts_with("postgres") {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Self::Sqlite => &SQLITE_MIGRATIONS,
            Self::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// Where the database is and how it is opened (the top-level settings `database_url`,
/// `data_dir`, `db_max_connections`, `sqlite_synchronous`).
#[derive(Clone, Debug)]
pub struct StoreSettings {
    /// The database URL in force: the configured one, or SQLite in the data folder.
    pub url: String,
    pub data_dir: std::path::PathBuf,
    pub max_connections: u32,
    pub sqlite_synchronous: SqliteSynchronous,
}

/// Opens the pool. SQLite gets WAL, the configured `synchronous` mode, foreign keys and a
/// busy timeout on every connection; its folder is created when missing.
pub async fn connect(settings: &StoreSettings) -> anyhow::Result<(Db, Backend)> {
    sqlx::any::install_default_drivers();
    let url = settings.url.clone();
    let backend = Backend::of_url(&url);
    // Every backend needs the data folder: SQLite keeps its database there, and all keep the
    // code outbox (and later uploaded files).
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("create data folder {}", settings.data_dir.display()))?;
    let synchronous = match settings.sqlite_synchronous {
        SqliteSynchronous::Full => "PRAGMA synchronous = FULL",
        SqliteSynchronous::Normal => "PRAGMA synchronous = NORMAL",
    };
    let pool = AnyPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if conn.backend_name().eq_ignore_ascii_case("sqlite") {
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        synchronous,
                        "PRAGMA foreign_keys = ON",
                        "PRAGMA busy_timeout = 10000",
                    ] {
                        conn.execute(pragma).await?;
                    }
                }
                Ok(())
            })
        })
        .connect(&url)
        .await
        .with_context(|| format!("connect to the {backend:?} database"))?;
    Ok((pool, backend))
}

/// Applies the embedded migrations that are not yet applied.
pub async fn migrate(db: &Db, backend: Backend) -> anyhow::Result<()> {
    backend
        .migrator()
        .run(db)
        .await
        .context("apply database migrations")
}

/// Whether the database answers and every embedded migration is applied; `Err` says which
/// part is not ready.
pub async fn readiness(db: &Db, backend: Backend) -> Result<(), &'static str> {
    let latest = backend
        .migrator()
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    let row: AnyRow = sqlx::query("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(db)
        .await
        .map_err(|_| "database")?;
    let applied: Option<i64> = row.try_get(0).map_err(|_| "migrations")?;
    if applied.unwrap_or(0) >= latest {
        Ok(())
    } else {
        Err("migrations")
    }
}

/// Wall-clock time in Unix milliseconds, the unit every stored time uses.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Whether an error is a unique-constraint violation (a lost insert race), on either backend.
/// A subquery over a JSON array of ids bound at `param` (`ids_json`), so that a statement
/// taking a list of any length is prepared once.
pub fn id_list(backend: Backend, param: &str) -> String {
    match backend {
        Backend::Sqlite => format!("SELECT value FROM json_each({param})"),
        Backend::Postgres => format!("SELECT (jsonb_array_elements_text({param}::jsonb))::bigint"),
    }
}

/// The ids as the JSON array [`id_list`] reads.
pub fn ids_json(ids: &[i64]) -> String {
    serde_json::Value::from(ids.to_vec()).to_string()
}

pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
                || db
                    .code()
                    .is_some_and(|c| c == "23505" || c == "2067" || c == "1555")
        }
        _ => false,
    }
}

/// Begins a write transaction. On SQLite it is `BEGIN IMMEDIATE`, taking the write lock up
/// front: a deferred transaction that reads first and writes later fails with
/// `SQLITE_BUSY_SNAPSHOT` (which the busy timeout does not retry) when another connection
/// committed in between.
pub async fn begin_write(
    db: &Db,
    backend: Backend,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    match backend {
        Backend::Sqlite => db.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => db.begin().await,
    }
}
