//! Persistence for simkit services: SQLite (embedded, zero configuration)
//! and PostgreSQL (shared by stateless replicas), behind one [`Database`].
//!
//! * `Database::connect("sqlite://path?mode=rwc")`, `"sqlite::memory:"` or
//!   `"postgres://..."`; [`Database::open_sqlite_file`] for the default data
//!   directory file. Connecting applies the versioned migrations.
//! * SQL is shared between back ends (`$N` placeholders work on both); only
//!   the DDL ([`migrations`]) and row locking (`FOR UPDATE [SKIP LOCKED]`
//!   on PostgreSQL, `BEGIN IMMEDIATE` on SQLite) differ.
//! * Implements [`smdp::SmdpStore`], [`otasrv::OtaStore`] and [`tsm::TsmStore`]; every method is one transaction.
//! * On an SQLite file, the ES9+ download, session and outbox methods run on one rusqlite
//!   connection on the caller's thread, a whole transaction at a time (`lite`): sqlx's SQLite
//!   driver costs two thread switches per statement. The rest, PostgreSQL and in-memory
//!   SQLite use sqlx.

mod lite;
mod migrations;
mod ota_impl;
mod smdp_impl;
#[cfg(feature = "testing")]
pub mod testing;
mod tsm_impl;

use std::path::Path;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use sqlx::{Any, Executor, Transaction};

pub use migrations::MIGRATIONS;

/// SQLite checkpoints the WAL into the database file once it holds this many pages (4 MiB of
/// 1 KiB pages) instead of its default 1000: a page changed by many commits is written to the
/// file once per checkpoint, and the two fsyncs of a checkpoint come 4 times less often. More
/// would cost every page read: SQLite looks a page up in each 4096-frame hash table of the
/// WAL (BENCHMARKS.md, session 5).
pub(crate) const WAL_AUTOCHECKPOINT: u32 = 4096;

/// Errors while opening or migrating a database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unsupported database URL (expected sqlite: or postgres:): {0}")]
    UnsupportedUrl(String),
    #[error("invalid PostgreSQL schema name: {0}")]
    InvalidSchema(String),
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration {version} ({description}) failed: {source}")]
    Migration {
        version: i64,
        description: &'static str,
        source: sqlx::Error,
    },
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
}

/// Which SQL back end a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Connection settings. `Default` + `url` is enough.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    pub url: String,
    /// Pool size; default 2 for an SQLite file (SQLite has one writer at a time: more
    /// connections only add lock contention and cross-connection page-cache invalidation; see
    /// BENCHMARKS.md), 1 for `sqlite::memory:`
    /// (each connection would be a separate database), 10 for PostgreSQL.
    pub max_connections: Option<u32>,
    /// PostgreSQL only: create and use this schema (`search_path`) instead
    /// of the default. Lets tests and tenants share one database.
    pub pg_schema: Option<String>,
    /// SQLite only: how long a writer waits for the write lock (the sqlx path; the fast path
    /// never waits and hands a locked call to the sqlx path).
    pub sqlite_busy_timeout: Duration,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        DatabaseOptions {
            url: "sqlite::memory:".into(),
            max_connections: None,
            pg_schema: None,
            sqlite_busy_timeout: Duration::from_secs(5),
        }
    }
}

/// A migrated connection pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
    /// SQLite file databases: the download hot path on one rusqlite connection ([`lite`]).
    lite: Option<std::sync::Arc<lite::Lite>>,
}

fn valid_schema_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Database {
    /// Connect with default options and apply migrations.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(DatabaseOptions {
            url: url.to_string(),
            ..Default::default()
        })
        .await
    }

    /// The zero-configuration default: an SQLite file (created if missing).
    pub async fn open_sqlite_file(path: &Path) -> Result<Self, Error> {
        Self::connect(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Connect and apply migrations.
    pub async fn connect_with(opts: DatabaseOptions) -> Result<Self, Error> {
        sqlx::any::install_default_drivers();
        let url = opts.url.as_str();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::UnsupportedUrl(url.to_string()));
        };
        if let Some(s) = &opts.pg_schema {
            if !valid_schema_name(s) {
                return Err(Error::InvalidSchema(s.clone()));
            }
        }
        let memory = backend == Backend::Sqlite && url.contains(":memory:");
        let max = opts.max_connections.unwrap_or(match backend {
            Backend::Sqlite if memory => 1,
            Backend::Sqlite => 2,
            Backend::Postgres => 10,
        });
        let mut pool_opts = AnyPoolOptions::new().max_connections(max);
        if backend == Backend::Sqlite {
            // An embedded database file cannot drop a connection: skip the liveness ping sqlx
            // otherwise sends (a round trip to the connection's worker thread) on every acquire.
            pool_opts = pool_opts.test_before_acquire(false);
        }
        if memory {
            // The in-memory database lives as long as its one connection.
            pool_opts = pool_opts
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let setup: String = match backend {
            Backend::Sqlite => format!(
                "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; PRAGMA page_size = 1024; \
                 PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT};",
                opts.sqlite_busy_timeout.as_millis()
            ),
            Backend::Postgres => match &opts.pg_schema {
                Some(s) => format!("SET search_path TO {s}"),
                None => String::new(),
            },
        };
        if !setup.is_empty() {
            pool_opts = pool_opts.after_connect(move |conn, _meta| {
                let setup = setup.clone();
                Box::pin(async move {
                    conn.execute(sqlx::raw_sql(&setup)).await?;
                    Ok(())
                })
            });
        }
        let pool = pool_opts.connect(url).await?;
        if let (Backend::Postgres, Some(s)) = (backend, &opts.pg_schema) {
            // Name validated above: [a-z_][a-z0-9_]*.
            let ddl = format!("CREATE SCHEMA IF NOT EXISTS {s}");
            pool.execute(sqlx::raw_sql(&ddl)).await?;
        }
        let mut db = Database {
            pool,
            backend,
            lite: None,
        };
        db.migrate().await?;
        if backend == Backend::Sqlite && !memory {
            db.lite = lite::Lite::open(url).map(std::sync::Arc::new);
        }
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Close the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Apply pending migrations; returns how many were applied. Safe to call
    /// repeatedly and from several processes at once.
    pub async fn migrate(&self) -> Result<u32, Error> {
        migrations::migrate(self).await
    }

    /// The highest applied migration version.
    pub async fn schema_version(&self) -> Result<i64, Error> {
        migrations::current_version(&self.pool)
            .await
            .map_err(Error::from)
    }

    /// Start a write transaction: `BEGIN IMMEDIATE` on SQLite (take the
    /// write lock up front, so read-then-write cannot hit SQLITE_BUSY
    /// mid-transaction), a plain `BEGIN` on PostgreSQL (rows are locked
    /// with `FOR UPDATE`).
    async fn begin(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Row lock clause for a read that is followed by a write.
    fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// Row lock clause for work queues (allocation, outbox claims).
    fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names() {
        assert!(valid_schema_name("t_abc_123"));
        assert!(!valid_schema_name("1abc"));
        assert!(!valid_schema_name("a;drop"));
        assert!(!valid_schema_name("Abc"));
        assert!(!valid_schema_name(""));
    }

    #[tokio::test]
    async fn rejects_unknown_url() {
        assert!(matches!(
            Database::connect("mysql://x").await,
            Err(Error::UnsupportedUrl(_))
        ));
    }
}
