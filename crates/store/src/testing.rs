//! Test databases for integration tests that must pass on both back ends: a SQLite file in a
//! temporary directory, and a PostgreSQL schema of its own (dropped by [`TestDatabase::finish`]).
//!
//! PostgreSQL comes from `SIMKIT_TEST_POSTGRES_URL`. When it is unset the PostgreSQL variant
//! prints a notice and is skipped, unless `CI` is set: then a skip is a failure.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AnyConnection, Connection, Executor};

use crate::{Database, DatabaseOptions};

/// The variable that names the PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "SIMKIT_TEST_POSTGRES_URL";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A migrated database that exists for one test.
pub struct TestDatabase {
    pub opts: DatabaseOptions,
    pub db: Database,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<String>,
}

impl TestDatabase {
    /// A SQLite file in a fresh temporary directory.
    pub async fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = DatabaseOptions {
            url: format!("sqlite://{}?mode=rwc", dir.path().join("smdp.db").display()),
            ..Default::default()
        };
        let db = Database::connect_with(opts.clone())
            .await
            .expect("open sqlite");
        TestDatabase {
            opts,
            db,
            _dir: Some(dir),
            pg_schema: None,
        }
    }

    /// A fresh schema on the test PostgreSQL server, or `None` (skip) when none is configured.
    /// Panics under CI when none is configured.
    pub async fn postgres(test: &str) -> Option<TestDatabase> {
        let Ok(url) = std::env::var(POSTGRES_URL_VAR) else {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "{POSTGRES_URL_VAR} not set but CI is set: PostgreSQL tests must run ({test})"
                );
            }
            eprintln!("skipping PostgreSQL: {POSTGRES_URL_VAR} not set ({test})");
            return None;
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let label: String = test
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(24)
            .collect();
        let schema = format!(
            "t_{label}_{}_{}_{}",
            std::process::id(),
            nanos % 1_000_000_000,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let opts = DatabaseOptions {
            url,
            pg_schema: Some(schema.clone()),
            ..Default::default()
        };
        let db = Database::connect_with(opts.clone())
            .await
            .expect("connect postgres");
        Some(TestDatabase {
            opts,
            db,
            _dir: None,
            pg_schema: Some(schema),
        })
    }

    /// A raw connection to the same database and schema, to inspect what is stored.
    pub async fn raw(&self) -> AnyConnection {
        sqlx::any::install_default_drivers();
        let mut c = AnyConnection::connect(&self.opts.url)
            .await
            .expect("raw connect");
        if let Some(s) = &self.pg_schema {
            c.execute(sqlx::raw_sql(&format!("SET search_path TO {s}")))
                .await
                .expect("search_path");
        }
        c
    }

    /// Closes the pool and opens the same database again (a restart).
    pub async fn reopen(&mut self) {
        self.db.close().await;
        self.db = Database::connect_with(self.opts.clone())
            .await
            .expect("reopen");
    }

    /// Closes the pool and drops the PostgreSQL schema.
    pub async fn finish(self) {
        self.db.close().await;
        if let Some(s) = &self.pg_schema {
            let mut c = AnyConnection::connect(&self.opts.url)
                .await
                .expect("connect for cleanup");
            c.execute(sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {s} CASCADE")))
                .await
                .expect("drop schema");
        }
    }
}

/// For each `async fn name(db: &mut TestDatabase)` (or `&TestDatabase`) in scope, declares a
/// module `name` with two tests, `sqlite` and `postgres`, that run it on a fresh database and
/// clean up afterwards. The calling crate needs tokio (with the `macros` feature).
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let mut db = $crate::testing::TestDatabase::sqlite().await;
                super::$name(&mut db).await;
                db.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(mut db) = $crate::testing::TestDatabase::postgres(stringify!($name)).await else {
                    return;
                };
                super::$name(&mut db).await;
                db.finish().await;
            }
        }
    )*};
}
