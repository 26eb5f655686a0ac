//! tower-sessions' sqlx stores, kept in the same database as everything else.
//! The stores need a typed pool, so this wraps whichever backend is configured.

use crate::db::Backend;
use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

#[derive(Clone, Debug)]
pub enum DbSessionStore {
    Sqlite(SqliteStore, SqlitePool),
    Postgres(PostgresStore, PgPool),
}

impl DbSessionStore {
    /// Opens a small pool of its own and creates the session table if needed.
    pub async fn open(backend: Backend, url: &str) -> Result<Self, sqlx::Error> {
        match backend {
            Backend::Sqlite => {
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect(url)
                    .await?;
                sqlx::query("PRAGMA busy_timeout = 5000")
                    .execute(&pool)
                    .await?;
                let store = SqliteStore::new(pool.clone());
                store.migrate().await?;
                Ok(Self::Sqlite(store, pool))
            }
            Backend::Postgres => {
                let pool = PgPoolOptions::new().max_connections(4).connect(url).await?;
                let store = PostgresStore::new(pool.clone());
                store.migrate().await?;
                Ok(Self::Postgres(store, pool))
            }
        }
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(_, pool) => pool.close().await,
            Self::Postgres(_, pool) => pool.close().await,
        }
    }
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(store, _) => store.create(record).await,
            Self::Postgres(store, _) => store.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(store, _) => store.save(record).await,
            Self::Postgres(store, _) => store.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Self::Sqlite(store, _) => store.load(id).await,
            Self::Postgres(store, _) => store.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Sqlite(store, _) => store.delete(id).await,
            Self::Postgres(store, _) => store.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for DbSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            Self::Sqlite(store, _) => store.delete_expired().await,
            Self::Postgres(store, _) => store.delete_expired().await,
        }
    }
}
