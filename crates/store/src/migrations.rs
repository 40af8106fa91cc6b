//! Versioned schema migrations, embedded in the binary.
//!
//! Our own small runner (no compile-time database, no sqlx-cli): table
//! `simkit_migrations(version, description, applied_at)`, one transaction
//! per migration. DDL is written once with placeholders that differ per
//! back end: `{BLOB}` (BLOB / BYTEA), `{ID}` (the auto-increment key) and
//! `{WITHOUT_ROWID}` (SQLite's table option; nothing on PostgreSQL).
//! Concurrent runners serialise on the migrations table lock (PostgreSQL)
//! or the write lock (SQLite `BEGIN IMMEDIATE`).

use sqlx::AnyPool;
use sqlx::{Executor, Row};

use crate::{Backend, Database, Error};

/// A schema migration.
#[derive(Debug)]
pub struct Migration {
    pub version: i64,
    pub description: &'static str,
    pub sql: &'static str,
}

/// All migrations, in order. Never edit a released one: add a new version.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "SM-DP+ inventory, orders, sessions, outbox, notification receipts",
        sql: r#"
CREATE TABLE smdp_profiles (
    iccid         TEXT PRIMARY KEY,
    imsi          TEXT,
    profile_type  TEXT NOT NULL,
    owner         TEXT,
    state         TEXT NOT NULL,
    package       {BLOB} NOT NULL,
    metadata      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX smdp_profiles_alloc ON smdp_profiles (profile_type, state);

CREATE TABLE smdp_orders (
    iccid             TEXT PRIMARY KEY REFERENCES smdp_profiles (iccid),
    requester         TEXT NOT NULL,
    eid               TEXT,
    matching_id       TEXT UNIQUE,
    cc_hash           {BLOB},
    smds_address      TEXT,
    cc_failures       BIGINT NOT NULL,
    download_attempts BIGINT NOT NULL,
    bpp_delivered     BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT
);
CREATE INDEX smdp_orders_eid ON smdp_orders (eid);

CREATE TABLE smdp_sessions (
    transaction_id  {BLOB} PRIMARY KEY,
    state           TEXT NOT NULL,
    eid             TEXT,
    iccid           TEXT,
    matching_id     TEXT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    sealed          {BLOB} NOT NULL
);
CREATE INDEX smdp_sessions_expiry ON smdp_sessions (expires_at);
CREATE INDEX smdp_sessions_iccid ON smdp_sessions (iccid);

CREATE TABLE smdp_outbox (
    id               {ID},
    target           TEXT NOT NULL,
    payload          TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT
);
CREATE INDEX smdp_outbox_due ON smdp_outbox (next_attempt_at);

CREATE TABLE smdp_notification_receipts (
    eid          TEXT NOT NULL,
    seq_number   BIGINT NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (eid, seq_number)
);
"#,
    },
    // A Profile's sealed package (~12 KB) lived in its row: SQLite rewrites a whole row on every
    // UPDATE, overflow pages included, so each state change of a download wrote the package to
    // the WAL again. The package now has its own table and is written once, at import.
    Migration {
        version: 2,
        description: "Profile packages in their own table",
        sql: r#"
CREATE TABLE smdp_profile_packages (
    iccid    TEXT PRIMARY KEY REFERENCES smdp_profiles (iccid),
    package  {BLOB} NOT NULL
);
INSERT INTO smdp_profile_packages (iccid, package) SELECT iccid, package FROM smdp_profiles;
ALTER TABLE smdp_profiles DROP COLUMN package;
"#,
    },
    // The OTA server (crate `otasrv`): cards with their SCP80 key sets, per-(card, TAR)
    // counters, the item catalogue, campaigns, jobs and every submitted packet. The unique
    // (address, tar, counter) of ota_submissions makes a reused counter value impossible.
    Migration {
        version: 3,
        description: "OTA server: cards, key sets, counters, catalogue, campaigns, jobs",
        sql: r#"
CREATE TABLE ota_cards (
    address     TEXT PRIMARY KEY,
    iccid       TEXT,
    kic         BIGINT,
    kic_key     {BLOB},
    kid         BIGINT,
    kid_key     {BLOB},
    created_at  BIGINT NOT NULL
);

CREATE TABLE ota_counters (
    address  TEXT NOT NULL REFERENCES ota_cards (address),
    tar      TEXT NOT NULL,
    value    BIGINT NOT NULL,
    PRIMARY KEY (address, tar)
);

CREATE TABLE ota_items (
    name        TEXT PRIMARY KEY,
    tar         TEXT NOT NULL,
    spi         TEXT NOT NULL,
    data        {BLOB} NOT NULL,
    class       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE ota_campaigns (
    name        TEXT PRIMARY KEY,
    item        TEXT NOT NULL REFERENCES ota_items (name),
    policy      TEXT NOT NULL,
    por_timeout_ms BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE ota_jobs (
    id          {ID},
    campaign    TEXT NOT NULL REFERENCES ota_campaigns (name),
    address     TEXT NOT NULL REFERENCES ota_cards (address),
    state       TEXT NOT NULL,
    attempts    BIGINT NOT NULL,
    next_at     BIGINT NOT NULL,
    deadline    BIGINT,
    submission  BIGINT,
    por_status  BIGINT,
    updated_at  BIGINT NOT NULL,
    UNIQUE (campaign, address)
);
CREATE INDEX ota_jobs_due ON ota_jobs (state, next_at);
CREATE INDEX ota_jobs_deadline ON ota_jobs (deadline);

CREATE TABLE ota_submissions (
    id          {ID},
    job_id      BIGINT NOT NULL REFERENCES ota_jobs (id),
    address     TEXT NOT NULL,
    tar         TEXT NOT NULL,
    counter     BIGINT NOT NULL,
    state       TEXT NOT NULL,
    message_id  TEXT,
    por_status  BIGINT,
    created_at  BIGINT NOT NULL,
    UNIQUE (address, tar, counter)
);
CREATE INDEX ota_submissions_job ON ota_submissions (job_id);
"#,
    },
    // The central TSM (crate `tsm`). AIDs, key sets and APDUs are bytes; booleans are 0/1
    // BIGINTs. SE-scoped rows reference `tsm_ses` (a flow for an unknown SE fails whole);
    // `tsm_catalogue.id` is the insertion order (the latest version of a service), its key is
    // the UNIQUE (sp_id, service_id, version).
    Migration {
        version: 4,
        description: "Central TSM: MNOs, SPs, SEs, security domains, catalogue, instances, conversations, audit, queue, idempotency",
        sql: r#"
CREATE TABLE tsm_mnos (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    bearer  TEXT NOT NULL
);

CREATE TABLE tsm_sps (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    cert_subject  TEXT NOT NULL UNIQUE
);

CREATE TABLE tsm_ses (
    se_id             TEXT PRIMARY KEY,
    mno_id            TEXT NOT NULL REFERENCES tsm_mnos (id),
    se_type           TEXT NOT NULL,
    profile_id        TEXT NOT NULL,
    gp_version        TEXT NOT NULL,
    jc_version        TEXT NOT NULL,
    cert_level        TEXT NOT NULL,
    cert_expiry       TEXT NOT NULL,
    isd_aid           {BLOB} NOT NULL,
    link              TEXT NOT NULL,
    ssd_initial_keys  {BLOB}
);

CREATE TABLE tsm_msis (
    msi    TEXT PRIMARY KEY,
    se_id  TEXT NOT NULL REFERENCES tsm_ses (se_id)
);
CREATE INDEX tsm_msis_se ON tsm_msis (se_id);

CREATE TABLE tsm_sds (
    se_id    TEXT NOT NULL REFERENCES tsm_ses (se_id),
    aid      {BLOB} NOT NULL,
    kind     TEXT NOT NULL,
    sp_id    TEXT,
    keys     {BLOB},
    kvn      BIGINT NOT NULL,
    rotated  BIGINT NOT NULL,
    PRIMARY KEY (se_id, aid)
);

CREATE TABLE tsm_catalogue (
    id              {ID},
    sp_id           TEXT NOT NULL REFERENCES tsm_sps (id),
    service_id      TEXT NOT NULL,
    version         TEXT NOT NULL,
    package_aid     {BLOB} NOT NULL,
    module_aid      {BLOB} NOT NULL,
    instance_aid    {BLOB} NOT NULL,
    memory          BIGINT NOT NULL,
    privileges      {BLOB} NOT NULL,
    install_params  {BLOB} NOT NULL,
    UNIQUE (sp_id, service_id, version)
);

CREATE TABLE tsm_instances (
    se_id         TEXT NOT NULL REFERENCES tsm_ses (se_id),
    sp_id         TEXT NOT NULL REFERENCES tsm_sps (id),
    service_id    TEXT NOT NULL,
    qualifier     TEXT NOT NULL,
    version       TEXT NOT NULL,
    instance_aid  {BLOB} NOT NULL,
    ssd_aid       {BLOB} NOT NULL,
    state         TEXT NOT NULL,
    detail        TEXT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (se_id, sp_id, service_id, qualifier)
);
CREATE INDEX tsm_instances_sp ON tsm_instances (sp_id);

CREATE TABLE tsm_conversations (
    id                TEXT PRIMARY KEY,
    sp_id             TEXT NOT NULL REFERENCES tsm_sps (id),
    se_id             TEXT NOT NULL REFERENCES tsm_ses (se_id),
    sd_aid            {BLOB} NOT NULL,
    opened_at         BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    max_scripts       BIGINT NOT NULL,
    max_script_bytes  BIGINT NOT NULL,
    scripts_used      BIGINT NOT NULL,
    ended             TEXT
);

CREATE TABLE tsm_audit (
    id               {ID},
    at               BIGINT NOT NULL,
    se_id            TEXT NOT NULL,
    sp_id            TEXT,
    conversation_id  TEXT,
    operation        TEXT NOT NULL,
    sd_aid           {BLOB} NOT NULL,
    command          {BLOB} NOT NULL,
    response         {BLOB} NOT NULL
);
CREATE INDEX tsm_audit_se ON tsm_audit (se_id, id);
CREATE INDEX tsm_audit_sp ON tsm_audit (sp_id, id);

CREATE TABLE tsm_queue (
    id          {ID},
    se_id       TEXT NOT NULL REFERENCES tsm_ses (se_id),
    sp_id       TEXT NOT NULL REFERENCES tsm_sps (id),
    operation   TEXT NOT NULL,
    body        TEXT NOT NULL,
    state       TEXT NOT NULL,
    result      TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX tsm_queue_se ON tsm_queue (se_id, state, id);

CREATE TABLE tsm_idempotency (
    sp_id         TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    request_hash  {BLOB} NOT NULL,
    status        BIGINT,
    body          TEXT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (sp_id, idem_key)
);
"#,
    },
    // Fewer index writes per download: on SQLite each changed index page is one more WAL frame
    // of the commit (BENCHMARKS.md counts them by b-tree).
    // * The allocation index holds Available Profiles only: a download's state changes
    //   (Released, Downloaded, Installed) no longer move an entry in it.
    // * No index on a session's expiry: the periodic purge scans the table, which holds live
    //   sessions only, and a download no longer moves an entry at creation, at BPP delivery
    //   (the expiry is extended for the result) and at the end.
    // * The EID index of orders and the ICCID index of sessions leave out rows without one:
    //   binding an order or a session to a download adds an entry instead of moving one.
    // * A notification receipt is its key: on SQLite the table is that key's b-tree
    //   (WITHOUT ROWID) instead of a rowid table beside its primary-key index.
    Migration {
        version: 5,
        description: "SM-DP+: fewer index writes per download",
        sql: r#"
DROP INDEX smdp_profiles_alloc;
CREATE INDEX smdp_profiles_available ON smdp_profiles (profile_type, iccid)
    WHERE state = 'Available';
DROP INDEX smdp_sessions_expiry;
DROP INDEX smdp_sessions_iccid;
CREATE INDEX smdp_sessions_iccid ON smdp_sessions (iccid) WHERE iccid IS NOT NULL;
DROP INDEX smdp_orders_eid;
CREATE INDEX smdp_orders_eid ON smdp_orders (eid) WHERE eid IS NOT NULL;
CREATE TABLE smdp_notification_receipts_v5 (
    eid          TEXT NOT NULL,
    seq_number   BIGINT NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (eid, seq_number)
){WITHOUT_ROWID};
INSERT INTO smdp_notification_receipts_v5 (eid, seq_number, received_at)
    SELECT eid, seq_number, received_at FROM smdp_notification_receipts;
DROP TABLE smdp_notification_receipts;
ALTER TABLE smdp_notification_receipts_v5 RENAME TO smdp_notification_receipts;
"#,
    },
];

/// The DDL of `m` for `backend`.
pub(crate) fn render(m: &Migration, backend: Backend) -> String {
    let (blob, id, without_rowid) = match backend {
        Backend::Sqlite => (
            "BLOB",
            "INTEGER PRIMARY KEY AUTOINCREMENT",
            " WITHOUT ROWID",
        ),
        Backend::Postgres => (
            "BYTEA",
            "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
            "",
        ),
    };
    m.sql
        .replace("{BLOB}", blob)
        .replace("{ID}", id)
        .replace("{WITHOUT_ROWID}", without_rowid)
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS simkit_migrations (\
     version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)";

pub(crate) async fn current_version(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM simkit_migrations")
        .fetch_one(pool)
        .await?;
    row.try_get::<i64, _>("v")
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) async fn migrate(db: &Database) -> Result<u32, Error> {
    // Concurrent `CREATE TABLE IF NOT EXISTS` can race on PostgreSQL's
    // catalog; a unique violation here means another runner created it.
    if let Err(e) = db.pool.execute(CREATE_TABLE).await {
        let raced = matches!(&e, sqlx::Error::Database(d) if d.is_unique_violation());
        if !raced {
            return Err(e.into());
        }
    }
    let latest = MIGRATIONS.last().map_or(0, |m| m.version);
    let found = current_version(&db.pool).await?;
    if found > latest {
        return Err(Error::SchemaTooNew {
            found,
            supported: latest,
        });
    }
    let mut applied = 0;
    for m in MIGRATIONS {
        let mut tx = db.begin().await?;
        if db.backend == Backend::Postgres {
            tx.execute("LOCK TABLE simkit_migrations IN EXCLUSIVE MODE")
                .await?;
        }
        let done = sqlx::query("SELECT 1 AS one FROM simkit_migrations WHERE version = $1")
            .bind(m.version)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if done {
            continue;
        }
        let ddl = render(m, db.backend);
        let fail = |source| Error::Migration {
            version: m.version,
            description: m.description,
            source,
        };
        tx.execute(sqlx::raw_sql(&ddl)).await.map_err(fail)?;
        sqlx::query(
            "INSERT INTO simkit_migrations (version, description, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.description)
        .bind(now_millis())
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        applied += 1;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_per_backend() {
        let m = &MIGRATIONS[0];
        let s = render(m, Backend::Sqlite);
        assert!(s.contains("package       BLOB NOT NULL"));
        assert!(render(&MIGRATIONS[1], Backend::Postgres).contains("package  BYTEA NOT NULL"));
        assert!(s.contains("INTEGER PRIMARY KEY AUTOINCREMENT"));
        assert!(!s.contains('{'));
        let p = render(m, Backend::Postgres);
        assert!(p.contains("BYTEA"));
        assert!(p.contains("GENERATED ALWAYS AS IDENTITY"));
        assert!(!p.contains('{'));
        let v5 = MIGRATIONS.iter().find(|m| m.version == 5).unwrap();
        assert!(render(v5, Backend::Sqlite).contains(") WITHOUT ROWID;"));
        assert!(!render(v5, Backend::Postgres).contains("ROWID"));
    }

    /// An in-memory SQLite database at version 1.
    async fn database_at_v1() -> Database {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let db = Database {
            pool,
            backend: Backend::Sqlite,
            lite: None,
        };
        db.pool.execute(CREATE_TABLE).await.unwrap();
        db.pool
            .execute(sqlx::raw_sql(&render(&MIGRATIONS[0], Backend::Sqlite)))
            .await
            .unwrap();
        db.pool
            .execute(
                "INSERT INTO simkit_migrations (version, description, applied_at) VALUES (1, 'v1', 0)",
            )
            .await
            .unwrap();
        db
    }

    /// Version 2 moves each existing package to `smdp_profile_packages`, byte for byte.
    #[tokio::test]
    async fn v2_moves_packages() {
        let db = database_at_v1().await;
        let package: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        sqlx::query(
            "INSERT INTO smdp_profiles (iccid, profile_type, state, package, metadata, created_at, \
             updated_at) VALUES ('8949449999000000004', 't', 'Available', $1, '{}', 0, 0)",
        )
        .bind(package.clone())
        .execute(&db.pool)
        .await
        .unwrap();
        // v2 and every later migration.
        assert_eq!(migrate(&db).await.unwrap() as usize, MIGRATIONS.len() - 1);
        let row = sqlx::query("SELECT iccid, package FROM smdp_profile_packages")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(
            row.try_get::<String, _>("iccid").unwrap(),
            "8949449999000000004"
        );
        assert_eq!(row.try_get::<Vec<u8>, _>("package").unwrap(), package);
        // The column is gone from the Profile row.
        assert!(sqlx::query("SELECT package FROM smdp_profiles")
            .fetch_optional(&db.pool)
            .await
            .is_err());
    }

    /// Version 5 keeps every notification receipt, and the allocation query finds Available
    /// Profiles through the partial index.
    #[tokio::test]
    async fn v5_keeps_receipts_and_indexes_available_profiles() {
        let db = database_at_v1().await;
        for seq in [1i64, 2, 7] {
            sqlx::query(
                "INSERT INTO smdp_notification_receipts (eid, seq_number, received_at) \
                 VALUES ('89049032123451234512345678901235', $1, $2)",
            )
            .bind(seq)
            .bind(seq * 10)
            .execute(&db.pool)
            .await
            .unwrap();
        }
        migrate(&db).await.unwrap();
        let rows: Vec<(i64, i64)> = sqlx::query(
            "SELECT seq_number, received_at FROM smdp_notification_receipts ORDER BY seq_number",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.try_get("seq_number").unwrap(),
                r.try_get("received_at").unwrap(),
            )
        })
        .collect();
        assert_eq!(rows, vec![(1, 10), (2, 20), (7, 70)]);
        let plan: Vec<String> = sqlx::query(
            "EXPLAIN QUERY PLAN SELECT iccid FROM smdp_profiles WHERE profile_type = $1 \
             AND state = 'Available' AND (owner IS NULL OR owner = $2) ORDER BY iccid LIMIT 1",
        )
        .bind("t")
        .bind("op")
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>("detail").unwrap())
        .collect();
        assert!(
            plan.iter().any(|d| d.contains("smdp_profiles_available")),
            "{plan:?}"
        );
    }

    #[test]
    fn versions_increase() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
        assert_eq!(MIGRATIONS[0].version, 1);
    }
}
