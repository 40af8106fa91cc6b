//! The SQLite fast path of the ES9+ download and the outbox: rusqlite on one connection, run
//! on the calling thread.
//!
//! sqlx's SQLite driver hands every statement to a worker thread over a channel and wakes the
//! task again for each result: two thread switches per statement, which cost more than the
//! statements themselves (BENCHMARKS.md). Here a whole store call (a transaction of several
//! statements) runs in one go on the caller's thread, on a connection behind a mutex: no
//! hand-off at all. Each call is short (tens of microseconds: the write lock is taken with
//! `BEGIN IMMEDIATE`, no statement waits on the network) and the connection is in WAL mode with
//! `synchronous = NORMAL`, so a commit does not wait for the disk. It never waits for a lock
//! another connection holds (an sqlx connection of this process, another process): the call
//! fails with [`BUSY`] at once and the store runs it on the sqlx path, which waits without
//! blocking the async runtime.
//!
//! The SQL is the same text as the sqlx path with its `$N` placeholders written as SQLite's
//! numbered `?N`, and rows are mapped by the same functions ([`Cols`]). Other functions (ES2+,
//! inventory, migrations) stay on sqlx; both share the database file, and SQLite's locking
//! keeps them consistent. An in-memory database has no fast path (a second connection would be
//! a second database).

use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::ToSqlOutput;
use rusqlite::{Connection, OpenFlags, Row, ToSql, TransactionBehavior};
use smdp::order::{
    self, DownloadAuthorization, InstallOutcome, InstallResult, OrderCtx, OrderPolicy,
};
use smdp::outbox::{OutboxEntry, ProgressReports};
use smdp::session::{NewSession, SessionRecord, SessionState};
use smdp::store::ConfirmedDownload;
use smdp::{codes, Eid, Error, Iccid, MatchingId, ProfileState, Result, SealedBlob};
use smdp::{TransactionId, UnixMillis};

use crate::smdp_impl::{
    corrupt, ctx_from_joined_row, outbox_from_row, session_ctx_from_row, session_ctx_sql,
    session_from_row, unknown_tid, Arg, Cols, Writes, CTX_JOIN_COLS, OUTBOX_COLS, SESSION_COLS,
    SQL_BIND_SESSION, SQL_BIND_SESSION_SEALED,
};

/// The error of a fast-path call that found the database locked by another connection (an
/// sqlx connection of this process, or another process). The fast path never waits for a lock
/// (`busy_timeout` 0: it would block the calling thread, an async runtime's worker); the
/// caller then runs the same function on the sqlx path, which waits without blocking.
const BUSY: &str = "SQLite database busy (fast path)";

/// `e` is [`BUSY`]: run the sqlx path instead.
pub(crate) fn is_busy(e: &Error) -> bool {
    matches!(e, Error::Storage(m) if m == BUSY)
}

fn lite_err(e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        if matches!(
            f.code,
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
        ) {
            return Error::Storage(BUSY.into());
        }
    }
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        let unique = f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY;
        if unique {
            return Error::Duplicate(msg.clone().unwrap_or_else(|| e.to_string()));
        }
    }
    Error::Storage(e.to_string())
}

/// A row with its statement's column names read once. rusqlite's lookup by name asks SQLite
/// for every column's name on each call (a joined row of ~25 columns read by name is ~300
/// calls); here a name is found in this list, exact match first (the SQL names its columns as
/// the mapping asks), then ignoring ASCII case as rusqlite does.
pub(crate) struct Named<'r, 's> {
    row: &'r Row<'s>,
    names: Vec<&'r str>,
}

impl<'r, 's> Named<'r, 's> {
    fn new(row: &'r Row<'s>) -> Self {
        Named {
            row,
            names: row.as_ref().column_names(),
        }
    }

    fn get<T: rusqlite::types::FromSql>(&self, col: &str) -> Result<T> {
        let idx = self
            .names
            .iter()
            .position(|n| *n == col)
            .or_else(|| self.names.iter().position(|n| n.eq_ignore_ascii_case(col)))
            .ok_or_else(|| lite_err(rusqlite::Error::InvalidColumnName(col.to_string())))?;
        self.row.get(idx).map_err(lite_err)
    }
}

impl Cols for Named<'_, '_> {
    fn text(&self, col: &str) -> Result<String> {
        self.get(col)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        self.get(col)
    }
    fn int(&self, col: &str) -> Result<i64> {
        self.get(col)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        self.get(col)
    }
    fn blob(&self, col: &str) -> Result<Vec<u8>> {
        self.get(col)
    }
    fn opt_blob(&self, col: &str) -> Result<Option<Vec<u8>>> {
        self.get(col)
    }
}

impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Arg::Text(v) => v.to_sql(),
            Arg::OptText(v) => v.to_sql(),
            Arg::Int(v) => v.to_sql(),
            Arg::OptInt(v) => v.to_sql(),
            Arg::OptBlob(v) => v.to_sql(),
        }
    }
}

/// Our `$N` placeholders as SQLite's `?N` (the SQL has no `$` elsewhere).
fn q(sql: &str) -> String {
    sql.replace('$', "?")
}

/// One row of `sql` (cached statement) or `None`, mapped by `map`.
fn query_one<T>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
    map: impl FnOnce(&Named<'_, '_>) -> Result<T>,
) -> Result<Option<T>> {
    let mut stmt = conn.prepare_cached(&q(sql)).map_err(lite_err)?;
    let mut rows = stmt.query(params).map_err(lite_err)?;
    match rows.next().map_err(lite_err)? {
        Some(row) => map(&Named::new(row)).map(Some),
        None => Ok(None),
    }
}

fn execute(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> Result<usize> {
    conn.prepare_cached(&q(sql))
        .map_err(lite_err)?
        .execute(params)
        .map_err(lite_err)
}

fn run_writes(conn: &Connection, w: Writes) -> Result<()> {
    for (sql, args) in w.statements {
        conn.prepare_cached(&q(sql))
            .map_err(lite_err)?
            .execute(rusqlite::params_from_iter(args.iter()))
            .map_err(lite_err)?;
    }
    Ok(())
}

fn load_session(
    conn: &Connection,
    tid: &TransactionId,
    now: UnixMillis,
) -> Result<Option<SessionRecord>> {
    let sql = format!(
        "SELECT {SESSION_COLS} FROM smdp_sessions WHERE transaction_id = $1 AND expires_at > $2"
    );
    query_one(conn, &sql, &[&tid.as_bytes(), &now.0], |r| {
        session_from_row(r)
    })
}

fn load_session_ctx(
    conn: &Connection,
    tid: &TransactionId,
    now: UnixMillis,
    states: &[SessionState],
    package: bool,
) -> Result<(SessionRecord, OrderCtx, Option<SealedBlob>)> {
    query_one(
        conn,
        &session_ctx_sql(package),
        &[&tid.as_bytes(), &now.0],
        |r| session_ctx_from_row(r, states, package),
    )?
    .ok_or_else(unknown_tid)
}

fn load_ctx(conn: &Connection, iccid: &Iccid) -> Result<Option<OrderCtx>> {
    let sql = format!(
        "SELECT {CTX_JOIN_COLS} FROM smdp_profiles p \
         LEFT JOIN smdp_orders o ON o.iccid = p.iccid WHERE p.iccid = $1"
    );
    query_one(conn, &sql, &[&iccid.as_str()], |r| ctx_from_joined_row(r))
}

fn insert_receipt(conn: &Connection, eid: &Eid, seq: i64, now: UnixMillis) -> Result<bool> {
    let n = execute(
        conn,
        "INSERT INTO smdp_notification_receipts (eid, seq_number, received_at) VALUES ($1, $2, $3) \
         ON CONFLICT (eid, seq_number) DO NOTHING",
        &[&eid.as_str(), &seq, &now.0],
    )?;
    Ok(n == 1)
}

/// Lookaside slots of the fast-path connection ([`set_lookaside`]) and their size in bytes
/// (SQLite's default slot size).
const LOOKASIDE_SLOTS: i32 = 512;
const LOOKASIDE_SLOT_SIZE: i32 = 1200;

/// Gives the connection a larger lookaside allocator (SQLite's per-connection pool of small
/// allocations; <https://sqlite.org/malloc.html#lookaside>). The default 40 slots are held
/// by the cached prepared statements, so every cursor and value a statement allocates while it
/// runs fell through to `malloc` behind SQLite's global memory mutex (~230 of them per
/// download). Only memory placement changes. SQLite accepts the change only while the
/// connection holds no lookaside memory, i.e. right after it is opened; if it refuses, the
/// default stays.
fn set_lookaside(conn: &Connection) {
    // SAFETY: `handle` is this open connection's pointer, used on this thread only, before
    // any statement exists. With a null buffer SQLite allocates (and later frees) the
    // lookaside memory itself (SQLITE_DBCONFIG_LOOKASIDE takes: void*, int size, int count).
    unsafe {
        rusqlite::ffi::sqlite3_db_config(
            conn.handle(),
            rusqlite::ffi::SQLITE_DBCONFIG_LOOKASIDE,
            std::ptr::null_mut::<std::os::raw::c_void>(),
            LOOKASIDE_SLOT_SIZE,
            LOOKASIDE_SLOTS,
        );
    }
}

/// The fast-path connection.
pub(crate) struct Lite {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Lite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lite(SQLite fast path)")
    }
}

impl Lite {
    /// A connection to the database file of an `sqlite:` URL sqlx already opened and migrated,
    /// or `None` when there is no plain file to share (in-memory, read-only, percent-encoded
    /// or otherwise unusual URLs keep the sqlx path for everything).
    pub(crate) fn open(url: &str) -> Option<Lite> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let plain = !path.is_empty()
            && !path.contains(":memory:")
            && !path.contains('%')
            && query
                .split('&')
                .all(|kv| kv.is_empty() || kv == "mode=rwc" || kv == "mode=rw");
        if !plain {
            return None;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).ok()?;
        set_lookaside(&conn);
        conn.busy_timeout(Duration::ZERO).ok()?;
        // Reads through a memory map instead of a read() per page that misses the page cache.
        // The checkpoint interval is the one of every connection ([`crate::WAL_AUTOCHECKPOINT`]).
        conn.execute_batch(&format!(
            "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA mmap_size = 268435456; PRAGMA cache_size = -16384; \
             PRAGMA wal_autocheckpoint = {};",
            crate::WAL_AUTOCHECKPOINT
        ))
        .ok()?;
        conn.set_prepared_statement_cache_capacity(64);
        Some(Lite {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        // A panic while holding the lock leaves no transaction open (rusqlite rolls back on
        // drop), so a poisoned connection is still usable.
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }

    pub(crate) fn create_session(&self, s: &NewSession) -> Result<()> {
        self.with(|c| {
            execute(
                c,
                "INSERT INTO smdp_sessions (transaction_id, state, created_at, expires_at, sealed) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &s.transaction_id.as_bytes(),
                    &SessionState::Initiated.as_str(),
                    &s.created_at.0,
                    &s.expires_at.0,
                    &s.sealed.0,
                ],
            )
            .map(|_| ())
        })
    }

    pub(crate) fn get_session(
        &self,
        tid: &TransactionId,
        now: UnixMillis,
    ) -> Result<Option<SessionRecord>> {
        self.with(|c| load_session(c, tid, now))
    }

    pub(crate) fn update_session(
        &self,
        tid: &TransactionId,
        expected: SessionState,
        new_state: SessionState,
        sealed: Option<&SealedBlob>,
        now: UnixMillis,
    ) -> Result<()> {
        let n = self.with(|c| match sealed {
            Some(blob) => execute(
                c,
                "UPDATE smdp_sessions SET state = $1, sealed = $2 \
                 WHERE transaction_id = $3 AND state = $4 AND expires_at > $5",
                &[
                    &new_state.as_str(),
                    &blob.0,
                    &tid.as_bytes(),
                    &expected.as_str(),
                    &now.0,
                ],
            ),
            None => execute(
                c,
                "UPDATE smdp_sessions SET state = $1 \
                 WHERE transaction_id = $2 AND state = $3 AND expires_at > $4",
                &[
                    &new_state.as_str(),
                    &tid.as_bytes(),
                    &expected.as_str(),
                    &now.0,
                ],
            ),
        })?;
        if n == 1 {
            Ok(())
        } else {
            Err(unknown_tid())
        }
    }

    pub(crate) fn delete_session(&self, tid: &TransactionId) -> Result<bool> {
        self.with(|c| {
            execute(
                c,
                "DELETE FROM smdp_sessions WHERE transaction_id = $1",
                &[&tid.as_bytes()],
            )
            .map(|n| n > 0)
        })
    }

    pub(crate) fn purge_expired_sessions(&self, now: UnixMillis) -> Result<u64> {
        self.with(|c| {
            execute(
                c,
                "DELETE FROM smdp_sessions WHERE expires_at <= $1",
                &[&now.0],
            )
            .map(|n| n as u64)
        })
    }

    /// As the sqlx path: `BEGIN IMMEDIATE` holds the write lock, so one joined read finds the
    /// order and its Profile.
    /// `session_data` is taken only once the write lock is held: after a [`BUSY`] error it is
    /// still there for the sqlx path.
    pub(crate) fn authorize_download<T, F>(
        &self,
        tid: &TransactionId,
        matching_id: Option<&MatchingId>,
        eid: &Eid,
        now: UnixMillis,
        policy: OrderPolicy,
        reports: &ProgressReports,
        session_data: &mut Option<F>,
    ) -> Result<(DownloadAuthorization, T)>
    where
        F: FnOnce(&DownloadAuthorization) -> Result<(Option<SealedBlob>, T)>,
    {
        let refused = || {
            Error::rejected(
                codes::MATCHING_ID_REFUSED,
                "MatchingID (AC_Token or EventID) is refused",
            )
        };
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(lite_err)?;
            let before = match matching_id {
                Some(m) => {
                    let sql = format!(
                        "SELECT {CTX_JOIN_COLS} FROM smdp_orders o \
                         JOIN smdp_profiles p ON p.iccid = o.iccid WHERE o.matching_id = $1"
                    );
                    query_one(&tx, &sql, &[&m.as_str()], |r| ctx_from_joined_row(r))?
                }
                None => {
                    let sql = format!(
                        "SELECT {CTX_JOIN_COLS} FROM smdp_orders o \
                         JOIN smdp_profiles p ON p.iccid = o.iccid \
                         WHERE o.eid = $1 AND p.state IN ($2, $3) \
                         ORDER BY o.created_at, o.iccid LIMIT 1"
                    );
                    query_one(
                        &tx,
                        &sql,
                        &[
                            &eid.as_str(),
                            &ProfileState::Released.as_str(),
                            &ProfileState::Downloaded.as_str(),
                        ],
                        |r| ctx_from_joined_row(r),
                    )?
                }
            }
            .ok_or_else(refused)?;
            let mut ctx = before.clone();
            let mut out = Vec::new();
            let result = order::authorize_download(&mut ctx, eid, now, &policy, &mut out);
            let mut extra = None;
            match &result {
                // Bind the session, compare-and-set: it must still be live and `Initiated`.
                Ok(auth) => {
                    let session_data = session_data
                        .take()
                        .ok_or_else(|| Error::Storage("session data already used".into()))?;
                    let (sealed, value) = session_data(auth)?;
                    extra = Some(value);
                    let params: [&dyn ToSql; 7] = [
                        &SessionState::Authenticated.as_str(),
                        &auth.eid.as_str(),
                        &auth.iccid.as_str(),
                        &auth.matching_id.as_ref().map(|m| m.as_str()),
                        &tid.as_bytes(),
                        &SessionState::Initiated.as_str(),
                        &now.0,
                    ];
                    let n = match &sealed {
                        Some(blob) => {
                            let mut all = params.to_vec();
                            all.push(&blob.0);
                            execute(&tx, SQL_BIND_SESSION_SEALED, &all)?
                        }
                        None => execute(&tx, SQL_BIND_SESSION, &params)?,
                    };
                    if n != 1 {
                        return Err(unknown_tid()); // rolled back: nothing of the rule is kept
                    }
                }
                // A refusal is only persisted for a live `Initiated` session.
                Err(_) => {
                    let session = load_session(&tx, tid, now)?.ok_or_else(unknown_tid)?;
                    if session.state != SessionState::Initiated {
                        return Err(unknown_tid());
                    }
                }
            }
            let mut w = Writes::default();
            w.ctx(&before, &ctx);
            w.outbox(&out, now, reports)?;
            run_writes(&tx, w)?;
            tx.commit().map_err(lite_err)?;
            let auth = result?;
            let value = extra.ok_or_else(|| Error::Storage("session data missing".into()))?;
            Ok((auth, value))
        })
    }

    pub(crate) fn verify_download_confirmation(
        &self,
        tid: &TransactionId,
        hash_cc: Option<&[u8]>,
        now: UnixMillis,
        policy: OrderPolicy,
        reports: &ProgressReports,
    ) -> Result<ConfirmedDownload> {
        let states = [SessionState::Authenticated];
        self.with(|c| {
            // A correct (or not required) Confirmation Code changes nothing: one consistent read.
            let (_, before, package) = load_session_ctx(c, tid, now, &states, true)?;
            let mut ctx = before.clone();
            let mut out = Vec::new();
            let result =
                order::verify_download_confirmation(&mut ctx, tid, hash_cc, now, &policy, &mut out);
            if ctx == before && out.is_empty() {
                result?;
                let package = package.ok_or_else(|| corrupt("package"))?;
                return Ok(ConfirmedDownload {
                    profile: ctx.profile,
                    package,
                });
            }
            // The rule changes state (wrong code counted, order expired): redo it under the lock.
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(lite_err)?;
            let (_, before, package) = load_session_ctx(&tx, tid, now, &states, true)?;
            let mut ctx = before.clone();
            let mut out = Vec::new();
            let result =
                order::verify_download_confirmation(&mut ctx, tid, hash_cc, now, &policy, &mut out);
            let mut w = Writes::default();
            w.ctx(&before, &ctx);
            w.outbox(&out, now, reports)?;
            run_writes(&tx, w)?;
            tx.commit().map_err(lite_err)?;
            result?;
            let package = package.ok_or_else(|| corrupt("package"))?;
            Ok(ConfirmedDownload {
                profile: ctx.profile,
                package,
            })
        })
    }

    pub(crate) fn record_bpp_delivered(
        &self,
        tid: &TransactionId,
        now: UnixMillis,
        keep_until: UnixMillis,
        reports: &ProgressReports,
    ) -> Result<()> {
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(lite_err)?;
            let (_, before, _) =
                load_session_ctx(&tx, tid, now, &[SessionState::Authenticated], false)?;
            let mut ctx = before.clone();
            let mut out = Vec::new();
            order::bpp_delivered(&mut ctx, now, &mut out)?;
            let mut w = Writes::default();
            w.session_delivered(tid, keep_until);
            w.ctx(&before, &ctx);
            w.outbox(&out, now, reports)?;
            run_writes(&tx, w)?;
            tx.commit().map_err(lite_err)
        })
    }

    pub(crate) fn record_install_result(
        &self,
        result: &InstallResult,
        now: UnixMillis,
        policy: OrderPolicy,
        reports: &ProgressReports,
    ) -> Result<InstallOutcome> {
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(lite_err)?;
            let Some(before) = load_ctx(&tx, &result.iccid)? else {
                // Unknown ICCID: remember the receipt so re-sends are cheap.
                insert_receipt(&tx, &result.eid, result.seq_number, now)?;
                tx.commit().map_err(lite_err)?;
                return Ok(InstallOutcome::Ignored);
            };
            if !insert_receipt(&tx, &result.eid, result.seq_number, now)? {
                return Ok(InstallOutcome::Duplicate);
            }
            let mut ctx = before.clone();
            let mut out = Vec::new();
            let outcome = order::install_result(&mut ctx, result, now, &policy, &mut out);
            let mut w = Writes::default();
            if outcome != InstallOutcome::Ignored {
                w.push(
                    "DELETE FROM smdp_sessions WHERE iccid = $1",
                    vec![Arg::Text(result.iccid.as_str().to_string())],
                );
            }
            w.ctx(&before, &ctx);
            w.outbox(&out, now, reports)?;
            run_writes(&tx, w)?;
            tx.commit().map_err(lite_err)?;
            Ok(outcome)
        })
    }

    pub(crate) fn record_notification(
        &self,
        eid: &Eid,
        seq_number: i64,
        now: UnixMillis,
    ) -> Result<bool> {
        self.with(|c| insert_receipt(c, eid, seq_number, now))
    }

    pub(crate) fn claim_outbox(
        &self,
        now: UnixMillis,
        limit: u32,
        lease_ms: u64,
    ) -> Result<Vec<OutboxEntry>> {
        let sql = format!(
            "UPDATE smdp_outbox SET attempts = attempts + 1, next_attempt_at = $1 \
             WHERE id IN (SELECT id FROM smdp_outbox WHERE next_attempt_at <= $2 \
                          ORDER BY id LIMIT $3) \
             RETURNING {OUTBOX_COLS}"
        );
        let mut entries = self.with(|c| {
            let mut stmt = c.prepare_cached(&q(&sql)).map_err(lite_err)?;
            let mut rows = stmt
                .query(rusqlite::params![
                    now.plus_millis(lease_ms).0,
                    now.0,
                    i64::from(limit)
                ])
                .map_err(lite_err)?;
            let mut entries = Vec::new();
            while let Some(row) = rows.next().map_err(lite_err)? {
                entries.push(outbox_from_row(&Named::new(row))?);
            }
            Ok(entries)
        })?;
        entries.sort_by_key(|e| e.id);
        Ok(entries)
    }

    pub(crate) fn ack_outbox(&self, id: i64) -> Result<()> {
        self.with(|c| execute(c, "DELETE FROM smdp_outbox WHERE id = $1", &[&id]).map(|_| ()))
    }

    /// One transaction (one commit) for all of them.
    pub(crate) fn ack_outbox_many(&self, ids: &[i64]) -> Result<()> {
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(lite_err)?;
            for id in ids {
                execute(&tx, "DELETE FROM smdp_outbox WHERE id = $1", &[id])?;
            }
            tx.commit().map_err(lite_err)
        })
    }

    pub(crate) fn retry_outbox(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: UnixMillis,
    ) -> Result<()> {
        self.with(|c| {
            execute(
                c,
                "UPDATE smdp_outbox SET last_error = $1, next_attempt_at = $2 WHERE id = $3",
                &[&error, &next_attempt_at.0, &id],
            )
            .map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookaside_connection_runs_statements() {
        let conn = Connection::open_in_memory().unwrap();
        set_lookaside(&conn);
        conn.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        // Values of every size: those above a lookaside slot still go to malloc.
        for n in [0usize, 100, 1199, 1200, 5000] {
            execute(&conn, "INSERT INTO t (v) VALUES ($1)", &[&vec![7u8; n]]).unwrap();
        }
        let lens: Vec<i64> = conn
            .prepare("SELECT length(v) FROM t ORDER BY rowid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(lens, vec![0, 100, 1199, 1200, 5000]);
    }
}
