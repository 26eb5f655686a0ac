//! The store: one sqlx `AnyPool` so that one set of queries serves SQLite and
//! PostgreSQL (placeholders are `$1`, ids are TEXT, times are BIGINT microseconds),
//! migrations per backend, and a typed pool beside it for tower-sessions and the
//! verifier's lookup.

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::pool::PoolOptions;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use sqlx::{Any, AnyPool, Database, Executor, Transaction};
use std::path::Path;
use std::time::Duration;

use crate::auth::session_store::DbSessionStore;
use crate::changes::ChangeFeed;

/// Which database engine the URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }

    /// The backend behind a connection (or a transaction): the one place that
    /// reads the Any driver's backend name.
    pub fn of(connection: &sqlx::AnyConnection) -> Self {
        if connection.backend_name() == "PostgreSQL" {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }
}

/// A transaction on the store.
pub type Tx = Transaction<'static, Any>;

/// The same database through its own driver: tower-sessions' stores take
/// nothing else, and the verifier's one query on a cache miss decodes its row
/// without the `Any` driver's copy of every column.
#[derive(Clone, Debug)]
pub enum TypedPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Connections per pool and instance, on (SQLite, PostgreSQL). On PostgreSQL
/// an instance holds 16 + 16 + 4, and one more for the change listener: 37 of
/// the server's `max_connections` (100 by default).
const DASHBOARD_CONNECTIONS: (u32, u32) = (8, 16);
const VERIFIER_CONNECTIONS: (u32, u32) = (8, 16);
const SESSION_CONNECTIONS: (u32, u32) = (4, 4);

impl TypedPool {
    async fn open(
        backend: Backend,
        url: &str,
        connections: (u32, u32),
    ) -> Result<Self, sqlx::Error> {
        Ok(match backend {
            Backend::Sqlite => Self::Sqlite(
                pool_options(PoolOptions::new(), backend, connections)
                    .connect(url)
                    .await?,
            ),
            Backend::Postgres => Self::Postgres(
                pool_options(PoolOptions::new(), backend, connections)
                    .connect(url)
                    .await?,
            ),
        })
    }

    async fn is_reachable(&self) -> bool {
        match self {
            Self::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.is_ok(),
            Self::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.is_ok(),
        }
    }

    async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    typed: TypedPool,
    session_pool: TypedPool,
    sessions: DbSessionStore,
    changes: ChangeFeed,
    /// Rung after a commit that queued webhook deliveries (`webhooks::outbox::wake`).
    outbox: std::sync::Arc<tokio::sync::Notify>,
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("could not create the database directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("could not connect to the {backend} database: {source}")]
    Connect {
        backend: &'static str,
        source: sqlx::Error,
    },
    #[error("could not read the first-run setup state: {0}")]
    SetupState(#[source] sqlx::Error),
    #[error("could not migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    /// Connects, creating the SQLite file and its directory when missing, and migrates.
    pub async fn open(url: &str) -> Result<Self, DbError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_file(url)?,
            Backend::Postgres => url.to_owned(),
        };
        let connect_error = |source| DbError::Connect {
            backend: backend.name(),
            source,
        };
        let pool = pool_options(AnyPoolOptions::new(), backend, DASHBOARD_CONNECTIONS)
            .connect(&url)
            .await
            .map_err(connect_error)?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&pool).await?,
        }
        let typed = TypedPool::open(backend, &url, VERIFIER_CONNECTIONS)
            .await
            .map_err(connect_error)?;
        // Sessions get a pool of their own, so that a flood of cache misses (anyone can
        // make keys with a valid checksum) cannot keep the dashboard from loading them.
        let session_pool = TypedPool::open(backend, &url, SESSION_CONNECTIONS)
            .await
            .map_err(connect_error)?;
        let sessions = DbSessionStore::open(&session_pool)
            .await
            .map_err(connect_error)?;
        Ok(Self {
            pool,
            backend,
            typed,
            session_pool,
            sessions,
            changes: ChangeFeed::default(),
            outbox: Default::default(),
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn typed_pool(&self) -> &TypedPool {
        &self.typed
    }

    pub fn session_store(&self) -> DbSessionStore {
        self.sessions.clone()
    }

    /// Where writers announce, after committing, what in-memory caches must forget.
    pub fn changes(&self) -> &ChangeFeed {
        &self.changes
    }

    /// Wakes this instance's webhook worker (see `webhooks::outbox`).
    pub fn outbox_signal(&self) -> &tokio::sync::Notify {
        &self.outbox
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so two writers queue instead of failing mid-way.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// True when a trivial query succeeds on the dashboard's and the verifier's pools (for `/readyz`).
    pub async fn is_reachable(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok() && self.typed.is_reachable().await
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.typed.close().await;
        self.session_pool.close().await;
    }
}

/// How every pool connects, whichever driver it uses.
fn pool_options<DB: Database>(
    options: PoolOptions<DB>,
    backend: Backend,
    (sqlite, postgres): (u32, u32),
) -> PoolOptions<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    options
        .max_connections(match backend {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        })
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings every connection again as it returns to the pool; a second ping as
        // it leaves would put one more round trip before every query (a third of a cache
        // miss's cost on PostgreSQL, docs/benchmarks.md). A connection that died while
        // idle fails its next query instead, and sqlx then drops it.
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL lets readers run beside the writer; foreign keys are off by default in SQLite.
                    // Each connection caches pages of its own, 2 MiB by default: with 20
                    // connections that was a fifth of the server's memory at a million keys.
                    // 1 MiB still holds every index's upper levels; the leaves a verification
                    // reads are random either way, and the OS caches the file (docs/benchmarks.md).
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -1024;").await?;
                }
                Ok(())
            })
        })
}

/// Makes sure the directory of a `sqlite://path` URL exists and asks SQLite to create the file.
fn prepare_sqlite_file(url: &str) -> Result<String, DbError> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or_default();
    if path != ":memory:"
        && let Some(parent) = Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|source| DbError::Directory {
            path: parent.display().to_string(),
            source,
        })?;
    }
    Ok(if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}

/// True when the error is a unique-constraint violation (a duplicate), on either backend.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Tries a read again when it failed on a connection the server had closed.
/// After a PostgreSQL restart every connection a pool held fails its next
/// statement once and is then dropped (the pool does not test connections
/// before handing them out: that would be one more round trip per query), so
/// without this the first reads after the restart fail, and the verifier
/// answers 503 although the store is back. At most one try per connection a
/// pool can hold, and one more, all within [`RETRY_WITHIN`]: while the server
/// is still down a retry waits for a connection that is not coming, and the
/// first failure is the answer (the verifier then answers from what it knows).
/// Any other failure is returned at once.
pub async fn retry_on_closed_connection<T, F, Fut>(mut read: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let first = match read().await {
        Err(error) if is_closed_connection(&error) => error,
        result => return result,
    };
    let retries = async {
        let mut last = None;
        for _ in 0..DASHBOARD_CONNECTIONS.1.max(VERIFIER_CONNECTIONS.1) {
            match read().await {
                Err(error) if is_closed_connection(&error) => last = Some(error),
                result => return Some(result),
            }
        }
        last.map(Err)
    };
    match tokio::time::timeout(RETRY_WITHIN, retries).await {
        Ok(Some(result)) => result,
        Ok(None) | Err(_) => Err(first),
    }
}

/// How long [`retry_on_closed_connection`] keeps trying.
const RETRY_WITHIN: Duration = Duration::from_millis(250);

/// Whether `error` says the connection was closed under the statement: a
/// broken socket, or PostgreSQL's "terminating connection" on shutdown.
fn is_closed_connection(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(error) => matches!(
            error.code().as_deref(),
            // admin_shutdown, crash_shutdown
            Some("57P01" | "57P02")
        ),
        _ => false,
    }
}
