//! [`smdp::SmdpStore`] for [`Database`].

use smdp::codes;
use smdp::order::{
    self, CancelOrderInput, ConfirmOrderInput, ConfirmOutcome, DownloadAuthorization,
    DownloadOrderInput, InstallOutcome, InstallResult, NewProfile, OrderCtx, OrderPolicy,
    OrderRecord, ProfileCount, ProfileRecord, ReleaseProfileInput,
};
use smdp::outbox::{OutboxEntry, OutboxMessage, ProgressReports};
use smdp::session::{NewSession, SessionRecord, SessionState};
use smdp::store::ConfirmedDownload;
use smdp::{
    Eid, Error, FunctionError, Iccid, MatchingId, ProfileState, Result, SealedBlob, SmdpStore,
    TransactionId, UnixMillis,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::{lite, Database};

/// On an SQLite file, answer from the fast path ([`crate::lite`]) unless it found the database
/// locked by another connection: then fall through to the sqlx path below, which waits.
macro_rules! fast {
    ($self:ident, $lite:ident => $call:expr) => {
        if let Some($lite) = &$self.lite {
            match $call {
                Err(e) if lite::is_busy(&e) => {}
                r => return r,
            }
        }
    };
}

// ---------------------------------------------------------------------------
// Error and row mapping
// ---------------------------------------------------------------------------

fn db_err(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            Error::Duplicate(d.message().to_string())
        }
        _ => Error::Storage(e.to_string()),
    }
}

pub(crate) fn corrupt(what: &str) -> Error {
    Error::Storage(format!("corrupt row: {what}"))
}

fn get<'r, T>(row: &'r AnyRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get::<T, _>(col).map_err(db_err)
}

/// Column access shared by sqlx's `AnyRow` and rusqlite's `Row` (the SQLite fast path,
/// [`crate::lite`]), so both back ends map rows with the same code.
pub(crate) trait Cols {
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
    fn blob(&self, col: &str) -> Result<Vec<u8>>;
    fn opt_blob(&self, col: &str) -> Result<Option<Vec<u8>>>;
}

impl Cols for AnyRow {
    fn text(&self, col: &str) -> Result<String> {
        get(self, col)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        get(self, col)
    }
    fn int(&self, col: &str) -> Result<i64> {
        get(self, col)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        get(self, col)
    }
    fn blob(&self, col: &str) -> Result<Vec<u8>> {
        get(self, col)
    }
    fn opt_blob(&self, col: &str) -> Result<Option<Vec<u8>>> {
        get(self, col)
    }
}

fn u32_col(row: &impl Cols, col: &str) -> Result<u32> {
    u32::try_from(row.int(col)?).map_err(|_| corrupt(col))
}

fn opt_parse<T>(v: Option<String>, f: impl Fn(&str) -> Result<T>) -> Result<Option<T>> {
    v.map(|s| f(&s)).transpose()
}

pub(crate) const PROFILE_COLS: &str =
    "iccid, imsi, profile_type, owner, state, metadata, created_at, updated_at";

pub(crate) fn profile_from_row(row: &impl Cols) -> Result<ProfileRecord> {
    let state = row.text("state")?;
    let metadata = row.text("metadata")?;
    Ok(ProfileRecord {
        iccid: Iccid::parse(&row.text("iccid")?).map_err(|_| corrupt("iccid"))?,
        imsi: row.opt_text("imsi")?,
        profile_type: row.text("profile_type")?,
        owner: row.opt_text("owner")?,
        state: ProfileState::parse(&state).ok_or_else(|| corrupt("state"))?,
        metadata: serde_json::from_str(&metadata).map_err(|_| corrupt("metadata"))?,
        created_at: UnixMillis(row.int("created_at")?),
        updated_at: UnixMillis(row.int("updated_at")?),
    })
}

pub(crate) const ORDER_COLS: &str =
    "iccid, requester, eid, matching_id, cc_hash, smds_address, cc_failures, \
                          download_attempts, bpp_delivered, created_at, expires_at";

pub(crate) fn order_from_row(row: &impl Cols) -> Result<OrderRecord> {
    order_from_row_as(row, "")
}

/// `{prefix}{column}` for the row mappers, without an allocation per column: the two
/// prefixed spellings in use (`o_`, `s_`) are written out, anything else is formatted.
fn prefixed(prefix: &str, c: &'static str) -> std::borrow::Cow<'static, str> {
    macro_rules! names {
        ($($n:literal),*) => {
            match (prefix, c) {
                ("", _) => return c.into(),
                $(("o_", $n) => return concat!("o_", $n).into(),
                  ("s_", $n) => return concat!("s_", $n).into(),)*
                _ => {}
            }
        };
    }
    names!(
        "cc_hash",
        "iccid",
        "requester",
        "eid",
        "matching_id",
        "smds_address",
        "cc_failures",
        "download_attempts",
        "bpp_delivered",
        "created_at",
        "expires_at",
        "state",
        "transaction_id",
        "sealed"
    );
    format!("{prefix}{c}").into()
}

/// An order from columns named `{prefix}{column}` (joined reads alias them `o_...`).
fn order_from_row_as(row: &impl Cols, prefix: &str) -> Result<OrderRecord> {
    let col = |c: &'static str| prefixed(prefix, c);
    let cc_hash = match row.opt_blob(&col("cc_hash"))? {
        None => None,
        Some(v) => Some(<[u8; 32]>::try_from(v.as_slice()).map_err(|_| corrupt("cc_hash"))?),
    };
    Ok(OrderRecord {
        iccid: Iccid::parse(&row.text(&col("iccid"))?).map_err(|_| corrupt("iccid"))?,
        requester: row.text(&col("requester"))?,
        eid: opt_parse(row.opt_text(&col("eid"))?, Eid::parse).map_err(|_| corrupt("eid"))?,
        matching_id: opt_parse(row.opt_text(&col("matching_id"))?, MatchingId::parse)
            .map_err(|_| corrupt("matching_id"))?,
        cc_hash,
        smds_address: row.opt_text(&col("smds_address"))?,
        cc_failures: u32_col(row, &col("cc_failures"))?,
        download_attempts: u32_col(row, &col("download_attempts"))?,
        bpp_delivered: row.int(&col("bpp_delivered"))? != 0,
        created_at: UnixMillis(row.int(&col("created_at"))?),
        expires_at: row.opt_int(&col("expires_at"))?.map(UnixMillis),
    })
}

pub(crate) const SESSION_COLS: &str =
    "transaction_id, state, eid, iccid, matching_id, created_at, expires_at, sealed";

pub(crate) fn session_from_row(row: &impl Cols) -> Result<SessionRecord> {
    session_from_row_as(row, "")
}

/// A session from columns named `{prefix}{column}` (joined reads alias them `s_...`).
fn session_from_row_as(row: &impl Cols, prefix: &str) -> Result<SessionRecord> {
    let col = |c: &'static str| prefixed(prefix, c);
    let state = row.text(&col("state"))?;
    Ok(SessionRecord {
        transaction_id: TransactionId::new(&row.blob(&col("transaction_id"))?)
            .map_err(|_| corrupt("transaction_id"))?,
        state: SessionState::parse(&state).ok_or_else(|| corrupt("session state"))?,
        eid: opt_parse(row.opt_text(&col("eid"))?, Eid::parse).map_err(|_| corrupt("eid"))?,
        iccid: opt_parse(row.opt_text(&col("iccid"))?, Iccid::parse)
            .map_err(|_| corrupt("iccid"))?,
        matching_id: opt_parse(row.opt_text(&col("matching_id"))?, MatchingId::parse)
            .map_err(|_| corrupt("matching_id"))?,
        created_at: UnixMillis(row.int(&col("created_at"))?),
        expires_at: UnixMillis(row.int(&col("expires_at"))?),
        sealed: SealedBlob(row.blob(&col("sealed"))?),
    })
}

pub(crate) const OUTBOX_COLS: &str =
    "id, target, payload, attempts, created_at, next_attempt_at, last_error";

pub(crate) fn outbox_from_row(row: &impl Cols) -> Result<OutboxEntry> {
    let payload = row.text("payload")?;
    Ok(OutboxEntry {
        id: row.int("id")?,
        target: row.text("target")?,
        body: serde_json::from_str(&payload).map_err(|_| corrupt("outbox payload"))?,
        attempts: u32_col(row, "attempts")?,
        created_at: UnixMillis(row.int("created_at")?),
        next_attempt_at: UnixMillis(row.int("next_attempt_at")?),
        last_error: row.opt_text("last_error")?,
    })
}

pub(crate) fn unknown_tid() -> Error {
    Error::rejected(
        codes::TRANSACTION_ID_UNKNOWN,
        "the RSP session identified by the TransactionID is unknown",
    )
}

// ---------------------------------------------------------------------------
// Transaction helpers (all on one connection inside a transaction)
// ---------------------------------------------------------------------------

/// Profile columns as themselves, order columns as `o_...`, of
/// `smdp_profiles p LEFT JOIN smdp_orders o`: a Profile and its order in one statement.
pub(crate) const CTX_JOIN_COLS: &str = "p.iccid AS iccid, p.imsi AS imsi, p.profile_type AS profile_type, \
     p.owner AS owner, p.state AS state, p.metadata AS metadata, p.created_at AS created_at, \
     p.updated_at AS updated_at, o.iccid AS o_iccid, o.requester AS o_requester, o.eid AS o_eid, \
     o.matching_id AS o_matching_id, o.cc_hash AS o_cc_hash, o.smds_address AS o_smds_address, \
     o.cc_failures AS o_cc_failures, o.download_attempts AS o_download_attempts, \
     o.bpp_delivered AS o_bpp_delivered, o.created_at AS o_created_at, o.expires_at AS o_expires_at";

/// Session columns as `s_...` (see [`CTX_JOIN_COLS`]).
pub(crate) const SESSION_JOIN_COLS: &str =
    "s.transaction_id AS s_transaction_id, s.state AS s_state, \
     s.eid AS s_eid, s.iccid AS s_iccid, s.matching_id AS s_matching_id, \
     s.created_at AS s_created_at, s.expires_at AS s_expires_at, s.sealed AS s_sealed";

/// The Profile and order of a row selected with [`CTX_JOIN_COLS`].
pub(crate) fn ctx_from_joined_row(row: &impl Cols) -> Result<OrderCtx> {
    let profile = profile_from_row(row)?;
    let order = match row.opt_text("o_iccid")? {
        Some(_) => Some(order_from_row_as(row, "o_")?),
        None => None,
    };
    Ok(OrderCtx { profile, order })
}

/// A Profile and its order. Without a row lock (`lock` empty: SQLite, whose `BEGIN IMMEDIATE`
/// already holds the database's write lock, or an unlocked read) one joined statement is a
/// consistent read. With one (PostgreSQL), lock the Profile first and then read the order in a
/// fresh statement: under READ COMMITTED a joined `FOR UPDATE` that waited for the lock could
/// return the order row as it was before the lock holder changed it.
async fn load_ctx(conn: &mut AnyConnection, iccid: &Iccid, lock: &str) -> Result<Option<OrderCtx>> {
    if lock.is_empty() {
        let sql = format!(
            "SELECT {CTX_JOIN_COLS} FROM smdp_profiles p \
             LEFT JOIN smdp_orders o ON o.iccid = p.iccid WHERE p.iccid = $1"
        );
        return sqlx::query(&sql)
            .bind(iccid.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?
            .map(|r| ctx_from_joined_row(&r))
            .transpose();
    }
    let sql = format!("SELECT {PROFILE_COLS} FROM smdp_profiles WHERE iccid = $1{lock}");
    let Some(row) = sqlx::query(&sql)
        .bind(iccid.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
    else {
        return Ok(None);
    };
    let profile = profile_from_row(&row)?;
    let sql = format!("SELECT {ORDER_COLS} FROM smdp_orders WHERE iccid = $1");
    let order = sqlx::query(&sql)
        .bind(iccid.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .map(|r| order_from_row(&r))
        .transpose()?;
    Ok(Some(OrderCtx { profile, order }))
}

async fn load_ctx_or_unknown(
    conn: &mut AnyConnection,
    iccid: &Iccid,
    lock: &str,
) -> Result<OrderCtx> {
    load_ctx(conn, iccid, lock)
        .await?
        .ok_or_else(|| Error::rejected(codes::ICCID_UNKNOWN, "the ICCID is unknown to the SM-DP+"))
}

/// Binds the `Initiated` session to its order (compare-and-set): state, EID, ICCID,
/// MatchingID, then TransactionID, expected state and now; [`SQL_BIND_SESSION_SEALED`] also
/// replaces the sealed data (its last parameter).
pub(crate) const SQL_BIND_SESSION: &str =
    "UPDATE smdp_sessions SET state = $1, eid = $2, iccid = $3, matching_id = $4 \
     WHERE transaction_id = $5 AND state = $6 AND expires_at > $7";
pub(crate) const SQL_BIND_SESSION_SEALED: &str =
    "UPDATE smdp_sessions SET state = $1, eid = $2, iccid = $3, matching_id = $4, sealed = $8 \
     WHERE transaction_id = $5 AND state = $6 AND expires_at > $7";

/// One bind value of a [`Writes`] statement.
pub(crate) enum Arg {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    OptBlob(Option<Vec<u8>>),
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_arg(q: AnyQuery<'_>, a: Arg) -> AnyQuery<'_> {
    match a {
        Arg::Text(v) => q.bind(v),
        Arg::OptText(v) => q.bind(v),
        Arg::Int(v) => q.bind(v),
        Arg::OptInt(v) => q.bind(v),
        Arg::OptBlob(v) => q.bind(v),
    }
}

/// `$N` placeholders of `sql` shifted by `offset` (our SQL has no `$` elsewhere).
fn shift_placeholders(sql: &str, offset: usize, out: &mut String) {
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut n = 0usize;
        while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
            n = n * 10 + d as usize;
            chars.next();
        }
        out.push('$');
        out.push_str(&(n + offset).to_string());
    }
}

/// The unconditional writes of one transaction, run together at the end. On SQLite they go
/// as one multi-statement query (sqlx binds `$N` across its statements): one hand-off to the
/// connection's worker thread instead of one per statement. PostgreSQL's extended protocol
/// takes one statement per query, so there they run one by one.
#[derive(Default)]
pub(crate) struct Writes {
    pub(crate) statements: Vec<(&'static str, Vec<Arg>)>,
}

impl Writes {
    pub(crate) fn push(&mut self, sql: &'static str, args: Vec<Arg>) {
        self.statements.push((sql, args));
    }

    /// What a rule changed in the Profile and its order.
    pub(crate) fn ctx(&mut self, before: &OrderCtx, after: &OrderCtx) {
        let iccid = || Arg::Text(after.profile.iccid.as_str().to_string());
        if before.profile != after.profile {
            // `state` is indexed (smdp_profiles_alloc): set only when it changed, so an
            // unchanged index entry is not deleted and re-inserted (one more page per commit).
            if before.profile.state != after.profile.state {
                self.push(
                    "UPDATE smdp_profiles SET state = $1, updated_at = $2 WHERE iccid = $3",
                    vec![
                        Arg::Text(after.profile.state.as_str().to_string()),
                        Arg::Int(after.profile.updated_at.0),
                        iccid(),
                    ],
                );
            } else {
                self.push(
                    "UPDATE smdp_profiles SET updated_at = $1 WHERE iccid = $2",
                    vec![Arg::Int(after.profile.updated_at.0), iccid()],
                );
            }
        }
        match (&before.order, &after.order) {
            (None, None) => {}
            (Some(_), None) => {
                self.push("DELETE FROM smdp_orders WHERE iccid = $1", vec![iccid()]);
                self.push("DELETE FROM smdp_sessions WHERE iccid = $1", vec![iccid()]);
            }
            (Some(b), Some(o)) if b != o => self.order_update(b, o, iccid()),
            (None, Some(o)) => {
                self.push(
                    "INSERT INTO smdp_orders (requester, eid, matching_id, cc_hash, smds_address, \
                     cc_failures, download_attempts, bpp_delivered, created_at, expires_at, iccid) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    vec![
                        Arg::Text(o.requester.clone()),
                        Arg::OptText(o.eid.as_ref().map(|e| e.as_str().to_string())),
                        Arg::OptText(o.matching_id.as_ref().map(|m| m.as_str().to_string())),
                        Arg::OptBlob(o.cc_hash.map(|h| h.to_vec())),
                        Arg::OptText(o.smds_address.clone()),
                        Arg::Int(i64::from(o.cc_failures)),
                        Arg::Int(i64::from(o.download_attempts)),
                        Arg::Int(i64::from(o.bpp_delivered)),
                        Arg::Int(o.created_at.0),
                        Arg::OptInt(o.expires_at.map(|t| t.0)),
                        iccid(),
                    ],
                );
            }
            _ => {}
        }
    }

    /// The UPDATE of an order row. `eid` and `matching_id` are indexed (smdp_orders_eid and
    /// the UNIQUE index): SQLite deletes and re-inserts the index entry of every indexed column
    /// a SET names, changed or not, which writes that index page to the WAL again. So they are
    /// set only when they changed; the other columns are always written.
    fn order_update(&mut self, before: &OrderRecord, o: &OrderRecord, iccid: Arg) {
        let eid = before.eid != o.eid;
        let matching_id = before.matching_id != o.matching_id;
        let sql = match (eid, matching_id) {
            (false, false) => {
                "UPDATE smdp_orders SET requester = $1, cc_hash = $2, smds_address = $3, \
                 cc_failures = $4, download_attempts = $5, bpp_delivered = $6, created_at = $7, \
                 expires_at = $8 WHERE iccid = $9"
            }
            (true, false) => {
                "UPDATE smdp_orders SET requester = $1, cc_hash = $2, smds_address = $3, \
                 cc_failures = $4, download_attempts = $5, bpp_delivered = $6, created_at = $7, \
                 expires_at = $8, eid = $9 WHERE iccid = $10"
            }
            (false, true) => {
                "UPDATE smdp_orders SET requester = $1, cc_hash = $2, smds_address = $3, \
                 cc_failures = $4, download_attempts = $5, bpp_delivered = $6, created_at = $7, \
                 expires_at = $8, matching_id = $9 WHERE iccid = $10"
            }
            (true, true) => {
                "UPDATE smdp_orders SET requester = $1, cc_hash = $2, smds_address = $3, \
                 cc_failures = $4, download_attempts = $5, bpp_delivered = $6, created_at = $7, \
                 expires_at = $8, eid = $9, matching_id = $10 WHERE iccid = $11"
            }
        };
        let mut args = vec![
            Arg::Text(o.requester.clone()),
            Arg::OptBlob(o.cc_hash.map(|h| h.to_vec())),
            Arg::OptText(o.smds_address.clone()),
            Arg::Int(i64::from(o.cc_failures)),
            Arg::Int(i64::from(o.download_attempts)),
            Arg::Int(i64::from(o.bpp_delivered)),
            Arg::Int(o.created_at.0),
            Arg::OptInt(o.expires_at.map(|t| t.0)),
        ];
        if eid {
            args.push(Arg::OptText(o.eid.as_ref().map(|e| e.as_str().to_string())));
        }
        if matching_id {
            args.push(Arg::OptText(
                o.matching_id.as_ref().map(|m| m.as_str().to_string()),
            ));
        }
        args.push(iccid);
        self.push(sql, args);
    }

    /// Outbox inserts for the messages `reports` wants; the others are not written.
    pub(crate) fn outbox(
        &mut self,
        msgs: &[OutboxMessage],
        now: UnixMillis,
        reports: &ProgressReports,
    ) -> Result<()> {
        for m in msgs.iter().filter(|m| reports.wants(&m.target)) {
            let payload =
                serde_json::to_string(&m.body).map_err(|e| Error::Storage(e.to_string()))?;
            self.push(
                "INSERT INTO smdp_outbox (target, payload, attempts, created_at, next_attempt_at) \
                 VALUES ($1, $2, 0, $3, $3)",
                vec![
                    Arg::Text(m.target.clone()),
                    Arg::Text(payload),
                    Arg::Int(now.0),
                ],
            );
        }
        Ok(())
    }

    /// The session moves to `BppDelivered` and lives until `keep_until` (the PIR window).
    pub(crate) fn session_delivered(&mut self, tid: &TransactionId, keep_until: UnixMillis) {
        self.push(
            "UPDATE smdp_sessions SET state = $1, expires_at = $2 WHERE transaction_id = $3",
            vec![
                Arg::Text(SessionState::BppDelivered.as_str().to_string()),
                Arg::Int(keep_until.0),
                Arg::OptBlob(Some(tid.as_bytes().to_vec())),
            ],
        );
    }

    async fn run(self, conn: &mut AnyConnection) -> Result<()> {
        if self.statements.is_empty() {
            return Ok(());
        }
        if conn.backend_name() == "SQLite" && self.statements.len() > 1 {
            let mut sql = String::new();
            let mut args = Vec::new();
            for (stmt, a) in self.statements {
                shift_placeholders(stmt, args.len(), &mut sql);
                sql.push_str(";\n");
                args.extend(a);
            }
            let mut q = sqlx::query(&sql);
            for a in args {
                q = bind_arg(q, a);
            }
            q.execute(&mut *conn).await.map_err(db_err)?;
            return Ok(());
        }
        for (stmt, a) in self.statements {
            let mut q = sqlx::query(stmt);
            for a in a {
                q = bind_arg(q, a);
            }
            q.execute(&mut *conn).await.map_err(db_err)?;
        }
        Ok(())
    }
}

/// Write what a rule changed.
async fn save_ctx(conn: &mut AnyConnection, before: &OrderCtx, after: &OrderCtx) -> Result<()> {
    let mut w = Writes::default();
    w.ctx(before, after);
    w.run(conn).await
}

async fn load_session(
    conn: &mut AnyConnection,
    tid: &TransactionId,
    now: UnixMillis,
    lock: &str,
) -> Result<Option<SessionRecord>> {
    let sql = format!(
        "SELECT {SESSION_COLS} FROM smdp_sessions WHERE transaction_id = $1 AND expires_at > $2{lock}"
    );
    sqlx::query(&sql)
        .bind(tid.as_bytes().to_vec())
        .bind(now.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .map(|r| session_from_row(&r))
        .transpose()
}

/// In one statement (a consistent read without row locks): a live session in one of `states`,
/// bound to an order, with its Profile and order, and the sealed package if `package`.
/// Unknown, expired, unbound or in another state: 8.10.1/3.9; the session's Profile gone:
/// 8.2.1/3.9 (as [`load_ctx_or_unknown`]).
async fn load_session_ctx(
    conn: &mut AnyConnection,
    tid: &TransactionId,
    now: UnixMillis,
    states: &[SessionState],
    package: bool,
) -> Result<(SessionRecord, OrderCtx, Option<SealedBlob>)> {
    let sql = session_ctx_sql(package);
    let row = sqlx::query(&sql)
        .bind(tid.as_bytes().to_vec())
        .bind(now.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or_else(unknown_tid)?;
    session_ctx_from_row(&row, states, package)
}

/// The statement of [`load_session_ctx`] (`$1` TransactionID, `$2` now).
pub(crate) fn session_ctx_sql(package: bool) -> String {
    format!(
        "SELECT {SESSION_JOIN_COLS}, {CTX_JOIN_COLS}{} FROM smdp_sessions s \
         LEFT JOIN smdp_profiles p ON p.iccid = s.iccid \
         LEFT JOIN smdp_orders o ON o.iccid = p.iccid{} \
         WHERE s.transaction_id = $1 AND s.expires_at > $2",
        if package {
            ", pk.package AS package"
        } else {
            ""
        },
        if package {
            " LEFT JOIN smdp_profile_packages pk ON pk.iccid = s.iccid"
        } else {
            ""
        }
    )
}

/// The checks and mapping of [`load_session_ctx`] on its row.
pub(crate) fn session_ctx_from_row(
    row: &impl Cols,
    states: &[SessionState],
    package: bool,
) -> Result<(SessionRecord, OrderCtx, Option<SealedBlob>)> {
    let session = session_from_row_as(row, "s_")?;
    if !states.contains(&session.state) || session.iccid.is_none() {
        return Err(unknown_tid());
    }
    if row.opt_text("iccid")?.is_none() {
        return Err(Error::rejected(
            codes::ICCID_UNKNOWN,
            "the ICCID is unknown to the SM-DP+",
        ));
    }
    let ctx = ctx_from_joined_row(row)?;
    let package = if package {
        Some(SealedBlob(row.blob("package")?))
    } else {
        None
    };
    Ok((session, ctx, package))
}

/// A live session in one of `states`, bound to an order.
async fn bound_session(
    conn: &mut AnyConnection,
    tid: &TransactionId,
    now: UnixMillis,
    states: &[SessionState],
    lock: &str,
) -> Result<(SessionRecord, Iccid)> {
    let s = load_session(conn, tid, now, lock)
        .await?
        .ok_or_else(unknown_tid)?;
    if !states.contains(&s.state) {
        return Err(unknown_tid());
    }
    let iccid = s.iccid.clone().ok_or_else(unknown_tid)?;
    Ok((s, iccid))
}

async fn insert_receipt(
    conn: &mut AnyConnection,
    eid: &Eid,
    seq: i64,
    now: UnixMillis,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO smdp_notification_receipts (eid, seq_number, received_at) VALUES ($1, $2, $3) \
         ON CONFLICT (eid, seq_number) DO NOTHING",
    )
    .bind(eid.as_str())
    .bind(seq)
    .bind(now.0)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(r.rows_affected() == 1)
}

impl Database {
    /// Inside a write transaction: a live session in one of `states`, bound to an order, and its
    /// Profile (locked) and order. SQLite holds the database write lock since `BEGIN IMMEDIATE`,
    /// so one joined read suffices; PostgreSQL locks the Profile, then re-checks the session
    /// under a row lock (lock order: Profile, then session; it may have moved on meanwhile).
    async fn locked_session_ctx(
        &self,
        conn: &mut AnyConnection,
        tid: &TransactionId,
        now: UnixMillis,
        states: &[SessionState],
    ) -> Result<(SessionRecord, OrderCtx)> {
        if self.backend() == crate::Backend::Sqlite {
            let (session, ctx, _) = load_session_ctx(conn, tid, now, states, false).await?;
            return Ok((session, ctx));
        }
        let (_, iccid) = bound_session(conn, tid, now, states, "").await?;
        let ctx = load_ctx_or_unknown(conn, &iccid, self.for_update()).await?;
        let (session, _) = bound_session(conn, tid, now, states, self.for_update()).await?;
        Ok((session, ctx))
    }

    /// Lock the Profile, run `rule`, persist the (possibly changed) context
    /// and outbox, commit, and return the rule's result. A rule error that
    /// changed state is still committed.
    async fn with_ctx<T>(
        &self,
        iccid: &Iccid,
        now: UnixMillis,
        reports: &ProgressReports,
        rule: impl FnOnce(&mut OrderCtx, &mut Vec<OutboxMessage>) -> Result<T> + Send,
    ) -> Result<T> {
        let mut tx = self.begin().await.map_err(db_err)?;
        let before = load_ctx_or_unknown(&mut tx, iccid, self.for_update()).await?;
        let mut ctx = before.clone();
        let mut out = Vec::new();
        let result = rule(&mut ctx, &mut out);
        let mut w = Writes::default();
        w.ctx(&before, &ctx);
        w.outbox(&out, now, reports)?;
        w.run(&mut tx).await?;
        tx.commit().await.map_err(db_err)?;
        result
    }
}

// ---------------------------------------------------------------------------
// SmdpStore
// ---------------------------------------------------------------------------

impl SmdpStore for Database {
    async fn insert_profiles(&self, profiles: Vec<NewProfile>, now: UnixMillis) -> Result<()> {
        let mut tx = self.begin().await.map_err(db_err)?;
        for p in profiles {
            let metadata =
                serde_json::to_string(&p.metadata).map_err(|e| Error::Storage(e.to_string()))?;
            let duplicate = |e| match db_err(e) {
                Error::Duplicate(_) => {
                    Error::Duplicate(format!("ICCID {} already exists", p.iccid))
                }
                other => other,
            };
            sqlx::query(
                "INSERT INTO smdp_profiles (iccid, imsi, profile_type, owner, state, \
                 metadata, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(p.iccid.as_str())
            .bind(p.imsi)
            .bind(p.profile_type)
            .bind(p.owner)
            .bind(ProfileState::Available.as_str())
            .bind(metadata)
            .bind(now.0)
            .execute(&mut *tx)
            .await
            .map_err(duplicate)?;
            sqlx::query("INSERT INTO smdp_profile_packages (iccid, package) VALUES ($1, $2)")
                .bind(p.iccid.as_str())
                .bind(p.package.0)
                .execute(&mut *tx)
                .await
                .map_err(duplicate)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn get_profile(&self, iccid: &Iccid) -> Result<Option<ProfileRecord>> {
        let sql = format!("SELECT {PROFILE_COLS} FROM smdp_profiles WHERE iccid = $1");
        sqlx::query(&sql)
            .bind(iccid.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(|r| profile_from_row(&r))
            .transpose()
    }

    async fn get_profile_package(&self, iccid: &Iccid) -> Result<Option<SealedBlob>> {
        let row = sqlx::query("SELECT package FROM smdp_profile_packages WHERE iccid = $1")
            .bind(iccid.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.map(|r| get::<Vec<u8>>(&r, "package").map(SealedBlob))
            .transpose()
    }

    async fn profile_counts(&self) -> Result<Vec<ProfileCount>> {
        let rows = sqlx::query(
            "SELECT profile_type, state, COUNT(*) AS n FROM smdp_profiles \
             GROUP BY profile_type, state ORDER BY profile_type, state",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let state: String = get(r, "state")?;
                Ok(ProfileCount {
                    profile_type: get(r, "profile_type")?,
                    state: ProfileState::parse(&state).ok_or_else(|| corrupt("state"))?,
                    count: u64::try_from(get::<i64>(r, "n")?).map_err(|_| corrupt("count"))?,
                })
            })
            .collect()
    }

    async fn download_order(
        &self,
        input: DownloadOrderInput,
        now: UnixMillis,
        policy: OrderPolicy,
    ) -> Result<Iccid> {
        let mut tx = self.begin().await.map_err(db_err)?;
        let iccid = match (&input.iccid, &input.profile_type) {
            (Some(iccid), _) => iccid.clone(),
            (None, Some(ptype)) => {
                // SGP.22 §5.3.1: reserve one Available Profile of the type.
                // PostgreSQL: SKIP LOCKED lets concurrent orders take
                // different rows; SQLite: the write lock serialises them.
                // The state is a literal: the planners use the partial index of
                // Available Profiles only for a condition they can see.
                let sql = format!(
                    "SELECT iccid FROM smdp_profiles WHERE profile_type = $1 AND state = '{}' \
                     AND (owner IS NULL OR owner = $2) ORDER BY iccid LIMIT 1{}",
                    ProfileState::Available.as_str(),
                    self.skip_locked()
                );
                let row = sqlx::query(&sql)
                    .bind(ptype)
                    .bind(&input.requester)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
                match row {
                    Some(r) => {
                        Iccid::parse(&get::<String>(&r, "iccid")?).map_err(|_| corrupt("iccid"))?
                    }
                    None => {
                        let r = sqlx::query(
                            "SELECT COUNT(*) AS n, \
                             COALESCE(SUM(CASE WHEN owner IS NULL OR owner = $2 THEN 1 ELSE 0 END), 0) AS mine \
                             FROM smdp_profiles WHERE profile_type = $1",
                        )
                        .bind(ptype)
                        .bind(&input.requester)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_err)?;
                        let (n, mine) = (get::<i64>(&r, "n")?, get::<i64>(&r, "mine")?);
                        return Err(if n == 0 {
                            Error::rejected(
                                codes::PROFILE_TYPE_UNKNOWN,
                                "the Profile Type is unknown to the SM-DP+",
                            )
                        } else if mine == 0 {
                            Error::rejected(
                                codes::PROFILE_TYPE_NOT_ALLOWED,
                                "the Profile Type belongs to another Operator",
                            )
                        } else {
                            Error::rejected(
                                codes::PROFILE_TYPE_UNAVAILABLE,
                                "no more Profile available for the requested Profile Type",
                            )
                        });
                    }
                }
            }
            (None, None) => {
                return Err(Error::rejected(
                    codes::FUNCTION_CONDITIONAL_MISSING,
                    "one of iccid or profileType is required",
                ))
            }
        };
        let before = load_ctx_or_unknown(&mut tx, &iccid, self.for_update()).await?;
        let mut ctx = before.clone();
        let result = order::download_order(&mut ctx, &input, now, &policy);
        save_ctx(&mut tx, &before, &ctx).await?;
        tx.commit().await.map_err(db_err)?;
        result
    }

    async fn confirm_order(
        &self,
        input: ConfirmOrderInput,
        now: UnixMillis,
    ) -> Result<ConfirmOutcome> {
        let mut tx = self.begin().await.map_err(db_err)?;
        let before = load_ctx_or_unknown(&mut tx, &input.iccid, self.for_update()).await?;
        let taken = match input.matching_id.value() {
            Some(m) => {
                sqlx::query("SELECT iccid FROM smdp_orders WHERE matching_id = $1 AND iccid <> $2")
                    .bind(m.as_str())
                    .bind(input.iccid.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .is_some()
            }
            None => false,
        };
        let mut ctx = before.clone();
        let result = order::confirm_order(&mut ctx, &input, taken, now)?;
        // The UNIQUE index catches a concurrent confirm with the same value.
        save_ctx(&mut tx, &before, &ctx)
            .await
            .map_err(|e| match e {
                Error::Duplicate(_) => {
                    Error::rejected(codes::MATCHING_ID_IN_USE, "conflicting MatchingID value")
                }
                other => other,
            })?;
        tx.commit().await.map_err(db_err)?;
        Ok(result)
    }

    async fn cancel_order(&self, input: CancelOrderInput, now: UnixMillis) -> Result<()> {
        let iccid = input.iccid.clone();
        self.with_ctx(&iccid, now, &ProgressReports::All, |ctx, _| {
            order::cancel_order(ctx, &input, now)
        })
        .await
    }

    async fn release_profile(&self, input: ReleaseProfileInput, now: UnixMillis) -> Result<()> {
        let iccid = input.iccid.clone();
        self.with_ctx(&iccid, now, &ProgressReports::All, |ctx, _| {
            order::release_profile(ctx, &input, now)
        })
        .await
    }

    async fn get_order(&self, iccid: &Iccid) -> Result<Option<OrderRecord>> {
        let sql = format!("SELECT {ORDER_COLS} FROM smdp_orders WHERE iccid = $1");
        sqlx::query(&sql)
            .bind(iccid.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(|r| order_from_row(&r))
            .transpose()
    }

    async fn find_order_by_matching_id(
        &self,
        matching_id: &MatchingId,
    ) -> Result<Option<OrderRecord>> {
        let sql = format!("SELECT {ORDER_COLS} FROM smdp_orders WHERE matching_id = $1");
        sqlx::query(&sql)
            .bind(matching_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(|r| order_from_row(&r))
            .transpose()
    }

    async fn create_session(&self, s: NewSession) -> Result<()> {
        fast!(self, lite => lite.create_session(&s));
        sqlx::query(
            "INSERT INTO smdp_sessions (transaction_id, state, created_at, expires_at, sealed) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(s.transaction_id.as_bytes().to_vec())
        .bind(SessionState::Initiated.as_str())
        .bind(s.created_at.0)
        .bind(s.expires_at.0)
        .bind(s.sealed.0)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn get_session(
        &self,
        tid: &TransactionId,
        now: UnixMillis,
    ) -> Result<Option<SessionRecord>> {
        fast!(self, lite => lite.get_session(tid, now));
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        load_session(&mut conn, tid, now, "").await
    }

    async fn update_session(
        &self,
        tid: &TransactionId,
        expected: SessionState,
        new_state: SessionState,
        sealed: Option<SealedBlob>,
        now: UnixMillis,
    ) -> Result<()> {
        fast!(self, lite => lite.update_session(tid, expected, new_state, sealed.as_ref(), now));
        // Compare-and-set in one statement.
        let r = match sealed {
            Some(blob) => sqlx::query(
                "UPDATE smdp_sessions SET state = $1, sealed = $2 \
                 WHERE transaction_id = $3 AND state = $4 AND expires_at > $5",
            )
            .bind(new_state.as_str())
            .bind(blob.0),
            None => sqlx::query(
                "UPDATE smdp_sessions SET state = $1 \
                 WHERE transaction_id = $2 AND state = $3 AND expires_at > $4",
            )
            .bind(new_state.as_str()),
        }
        .bind(tid.as_bytes().to_vec())
        .bind(expected.as_str())
        .bind(now.0)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if r.rows_affected() == 1 {
            Ok(())
        } else {
            Err(unknown_tid())
        }
    }

    async fn delete_session(&self, tid: &TransactionId) -> Result<bool> {
        fast!(self, lite => lite.delete_session(tid));
        let r = sqlx::query("DELETE FROM smdp_sessions WHERE transaction_id = $1")
            .bind(tid.as_bytes().to_vec())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn purge_expired_sessions(&self, now: UnixMillis) -> Result<u64> {
        fast!(self, lite => lite.purge_expired_sessions(now));
        let r = sqlx::query("DELETE FROM smdp_sessions WHERE expires_at <= $1")
            .bind(now.0)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn authorize_download_with<T, F>(
        &self,
        tid: &TransactionId,
        matching_id: Option<MatchingId>,
        eid: Eid,
        now: UnixMillis,
        policy: OrderPolicy,
        reports: &ProgressReports,
        session_data: F,
    ) -> Result<(DownloadAuthorization, T)>
    where
        T: Send,
        F: FnOnce(&DownloadAuthorization) -> Result<(Option<SealedBlob>, T)> + Send,
    {
        let mut session_data = Some(session_data);
        if let Some(lite) = &self.lite {
            let r = lite.authorize_download(
                tid,
                matching_id.as_ref(),
                &eid,
                now,
                policy,
                reports,
                &mut session_data,
            );
            match r {
                Err(e) if lite::is_busy(&e) && session_data.is_some() => {}
                r => return r,
            }
        }
        let session_data = session_data
            .take()
            .ok_or_else(|| Error::Storage("session data already used".into()))?;
        let mut tx = self.begin().await.map_err(db_err)?;
        let refused = || {
            Error::rejected(
                codes::MATCHING_ID_REFUSED,
                "MatchingID (AC_Token or EventID) is refused",
            )
        };
        // Find the order: by MatchingID, or for a zero-length one the oldest downloadable order
        // bound to the EID.
        let (condition, by_eid) = match &matching_id {
            Some(_) => ("o.matching_id = $1", false),
            None => (
                "o.eid = $1 AND p.state IN ($2, $3) ORDER BY o.created_at, o.iccid LIMIT 1",
                true,
            ),
        };
        let key = match &matching_id {
            Some(m) => m.as_str().to_string(),
            None => eid.as_str().to_string(),
        };
        // SQLite holds the write lock: read the order and its Profile in one statement.
        // PostgreSQL has no lock yet (lock order is Profile, then session): find the ICCID,
        // then lock and load.
        let joined = self.backend() == crate::Backend::Sqlite;
        let columns = if joined {
            CTX_JOIN_COLS
        } else {
            "o.iccid AS iccid"
        };
        let sql = format!(
            "SELECT {columns} FROM smdp_orders o \
             JOIN smdp_profiles p ON p.iccid = o.iccid WHERE {condition}"
        );
        let mut q = sqlx::query(&sql).bind(key);
        if by_eid {
            q = q
                .bind(ProfileState::Released.as_str())
                .bind(ProfileState::Downloaded.as_str());
        }
        let row = q
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or_else(refused)?;
        let before = if joined {
            ctx_from_joined_row(&row)?
        } else {
            let iccid =
                Iccid::parse(&get::<String>(&row, "iccid")?).map_err(|_| corrupt("iccid"))?;
            load_ctx(&mut tx, &iccid, self.for_update())
                .await?
                .ok_or_else(refused)?
        };
        let mut ctx = before.clone();
        let mut out = Vec::new();
        let result = order::authorize_download(&mut ctx, &eid, now, &policy, &mut out);
        let mut extra = None;
        match &result {
            // Bind the session, compare-and-set: it must still be live and `Initiated`.
            Ok(auth) => {
                let (sealed, value) = session_data(auth)?;
                extra = Some(value);
                let q = sqlx::query(match sealed {
                    Some(_) => SQL_BIND_SESSION_SEALED,
                    None => SQL_BIND_SESSION,
                })
                .bind(SessionState::Authenticated.as_str())
                .bind(auth.eid.as_str())
                .bind(auth.iccid.as_str())
                .bind(auth.matching_id.as_ref().map(|m| m.as_str().to_string()))
                .bind(tid.as_bytes().to_vec())
                .bind(SessionState::Initiated.as_str())
                .bind(now.0);
                let q = match sealed {
                    Some(blob) => q.bind(blob.0),
                    None => q,
                };
                let r = q.execute(&mut *tx).await.map_err(db_err)?;
                if r.rows_affected() != 1 {
                    return Err(unknown_tid()); // rolled back: nothing of the rule is kept
                }
            }
            // A refusal is only persisted for a live `Initiated` session.
            Err(_) => {
                let session = load_session(&mut tx, tid, now, self.for_update())
                    .await?
                    .ok_or_else(unknown_tid)?;
                if session.state != SessionState::Initiated {
                    return Err(unknown_tid());
                }
            }
        }
        let mut w = Writes::default();
        w.ctx(&before, &ctx);
        w.outbox(&out, now, reports)?;
        w.run(&mut tx).await?;
        tx.commit().await.map_err(db_err)?;
        let auth = result?;
        let value = extra.ok_or_else(|| Error::Storage("session data missing".into()))?;
        Ok((auth, value))
    }

    async fn record_download_failure(
        &self,
        tid: &TransactionId,
        notification_point: u32,
        error: FunctionError,
        now: UnixMillis,
        reports: &ProgressReports,
    ) -> Result<()> {
        let (_, iccid) = {
            let mut conn = self.pool.acquire().await.map_err(db_err)?;
            let states = [SessionState::Authenticated, SessionState::BppDelivered];
            bound_session(&mut conn, tid, now, &states, "").await?
        };
        self.with_ctx(&iccid, now, reports, |ctx, out| {
            order::download_failed(ctx, notification_point, error, now, out)
        })
        .await
    }

    async fn verify_download_confirmation(
        &self,
        tid: &TransactionId,
        hash_cc: Option<Vec<u8>>,
        now: UnixMillis,
        policy: OrderPolicy,
        reports: &ProgressReports,
    ) -> Result<ConfirmedDownload> {
        fast!(self, lite => lite.verify_download_confirmation(tid, hash_cc.as_deref(), now, policy, reports));
        // A correct (or not required) Confirmation Code changes nothing: answer from one
        // consistent read, without a write transaction. A later state change is caught by
        // record_bpp_delivered, as it was after this check's commit before.
        {
            let mut conn = self.pool.acquire().await.map_err(db_err)?;
            let (_, before, package) =
                load_session_ctx(&mut conn, tid, now, &[SessionState::Authenticated], true).await?;
            let mut ctx = before.clone();
            let mut out = Vec::new();
            let result = order::verify_download_confirmation(
                &mut ctx,
                tid,
                hash_cc.as_deref(),
                now,
                &policy,
                &mut out,
            );
            if ctx == before && out.is_empty() {
                result?;
                let package = package.ok_or_else(|| corrupt("package"))?;
                return Ok(ConfirmedDownload {
                    profile: ctx.profile,
                    package,
                });
            }
        }
        // The rule changes state (wrong code counted, order expired): redo it under the lock.
        let mut tx = self.begin().await.map_err(db_err)?;
        let (_, before) = self
            .locked_session_ctx(&mut tx, tid, now, &[SessionState::Authenticated])
            .await?;
        let mut ctx = before.clone();
        let mut out = Vec::new();
        let result = order::verify_download_confirmation(
            &mut ctx,
            tid,
            hash_cc.as_deref(),
            now,
            &policy,
            &mut out,
        );
        let mut w = Writes::default();
        w.ctx(&before, &ctx);
        w.outbox(&out, now, reports)?;
        w.run(&mut tx).await?;
        let package = match result {
            Ok(()) => sqlx::query("SELECT package FROM smdp_profile_packages WHERE iccid = $1")
                .bind(ctx.profile.iccid.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .map(|r| get::<Vec<u8>>(&r, "package").map(SealedBlob))
                .transpose()?,
            Err(_) => None,
        };
        tx.commit().await.map_err(db_err)?;
        result?;
        let package = package.ok_or_else(|| corrupt("package"))?;
        Ok(ConfirmedDownload {
            profile: ctx.profile,
            package,
        })
    }

    async fn record_bpp_delivered(
        &self,
        tid: &TransactionId,
        now: UnixMillis,
        keep_until: UnixMillis,
        reports: &ProgressReports,
    ) -> Result<()> {
        fast!(self, lite => lite.record_bpp_delivered(tid, now, keep_until, reports));
        let mut tx = self.begin().await.map_err(db_err)?;
        let (_, before) = self
            .locked_session_ctx(&mut tx, tid, now, &[SessionState::Authenticated])
            .await?;
        let mut ctx = before.clone();
        let mut out = Vec::new();
        order::bpp_delivered(&mut ctx, now, &mut out)?;
        let mut w = Writes::default();
        w.session_delivered(tid, keep_until);
        w.ctx(&before, &ctx);
        w.outbox(&out, now, reports)?;
        w.run(&mut tx).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn record_install_result(
        &self,
        result: InstallResult,
        now: UnixMillis,
        policy: OrderPolicy,
        reports: &ProgressReports,
    ) -> Result<InstallOutcome> {
        fast!(self, lite => lite.record_install_result(&result, now, policy, reports));
        let mut tx = self.begin().await.map_err(db_err)?;
        let Some(before) = load_ctx(&mut tx, &result.iccid, self.for_update()).await? else {
            // Unknown ICCID: remember the receipt so re-sends are cheap.
            insert_receipt(&mut tx, &result.eid, result.seq_number, now).await?;
            tx.commit().await.map_err(db_err)?;
            return Ok(InstallOutcome::Ignored);
        };
        if !insert_receipt(&mut tx, &result.eid, result.seq_number, now).await? {
            return Ok(InstallOutcome::Duplicate);
        }
        let mut ctx = before.clone();
        let mut out = Vec::new();
        let outcome = order::install_result(&mut ctx, &result, now, &policy, &mut out);
        let mut w = Writes::default();
        if outcome != InstallOutcome::Ignored {
            w.push(
                "DELETE FROM smdp_sessions WHERE iccid = $1",
                vec![Arg::Text(result.iccid.as_str().to_string())],
            );
        }
        w.ctx(&before, &ctx);
        w.outbox(&out, now, reports)?;
        w.run(&mut tx).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(outcome)
    }

    async fn record_notification(
        &self,
        eid: &Eid,
        seq_number: i64,
        now: UnixMillis,
    ) -> Result<bool> {
        fast!(self, lite => lite.record_notification(eid, seq_number, now));
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        insert_receipt(&mut conn, eid, seq_number, now).await
    }

    async fn retire_profile(&self, iccid: &Iccid, now: UnixMillis) -> Result<()> {
        self.with_ctx(iccid, now, &ProgressReports::All, |ctx, _| {
            order::retire(ctx, now)
        })
        .await
    }

    async fn enqueue_outbox(&self, message: OutboxMessage, now: UnixMillis) -> Result<i64> {
        let payload =
            serde_json::to_string(&message.body).map_err(|e| Error::Storage(e.to_string()))?;
        let row = sqlx::query(
            "INSERT INTO smdp_outbox (target, payload, attempts, created_at, next_attempt_at) \
             VALUES ($1, $2, 0, $3, $3) RETURNING id",
        )
        .bind(message.target)
        .bind(payload)
        .bind(now.0)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        get(&row, "id")
    }

    async fn claim_outbox(
        &self,
        now: UnixMillis,
        limit: u32,
        lease_ms: u64,
    ) -> Result<Vec<OutboxEntry>> {
        fast!(self, lite => lite.claim_outbox(now, limit, lease_ms));
        let mut tx = self.begin().await.map_err(db_err)?;
        let sql = format!(
            "UPDATE smdp_outbox SET attempts = attempts + 1, next_attempt_at = $1 \
             WHERE id IN (SELECT id FROM smdp_outbox WHERE next_attempt_at <= $2 \
                          ORDER BY id LIMIT $3{}) \
             RETURNING {OUTBOX_COLS}",
            self.skip_locked()
        );
        let rows = sqlx::query(&sql)
            .bind(now.plus_millis(lease_ms).0)
            .bind(now.0)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        let mut entries = rows
            .iter()
            .map(outbox_from_row)
            .collect::<Result<Vec<_>>>()?;
        entries.sort_by_key(|e| e.id);
        Ok(entries)
    }

    async fn ack_outbox(&self, id: i64) -> Result<()> {
        fast!(self, lite => lite.ack_outbox(id));
        sqlx::query("DELETE FROM smdp_outbox WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn ack_outbox_many(&self, ids: &[i64]) -> Result<()> {
        fast!(self, lite => lite.ack_outbox_many(ids));
        let mut tx = self.begin().await.map_err(db_err)?;
        for &id in ids {
            sqlx::query("DELETE FROM smdp_outbox WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn retry_outbox(
        &self,
        id: i64,
        error: String,
        next_attempt_at: UnixMillis,
    ) -> Result<()> {
        fast!(self, lite => lite.retry_outbox(id, &error, next_attempt_at));
        sqlx::query("UPDATE smdp_outbox SET last_error = $1, next_attempt_at = $2 WHERE id = $3")
            .bind(error)
            .bind(next_attempt_at.0)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_shift() {
        let mut out = String::new();
        shift_placeholders("UPDATE t SET a = $1, b = $2 WHERE c = $10", 3, &mut out);
        assert_eq!(out, "UPDATE t SET a = $4, b = $5 WHERE c = $13");
    }

    #[test]
    fn prefixed_names() {
        assert_eq!(prefixed("", "iccid"), "iccid");
        assert_eq!(prefixed("o_", "download_attempts"), "o_download_attempts");
        assert_eq!(prefixed("s_", "sealed"), "s_sealed");
        assert_eq!(prefixed("x_", "iccid"), "x_iccid");
        assert!(matches!(
            prefixed("o_", "eid"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    /// Every statement of a batch runs, each with its own parameters, on both back ends.
    #[tokio::test]
    async fn batched_writes_all_apply() {
        let mut urls = vec!["sqlite::memory:".to_string()];
        if let Ok(pg) = std::env::var("SIMKIT_TEST_POSTGRES_URL") {
            urls.push(pg);
        }
        for url in urls {
            let db = Database::connect(&url).await.unwrap();
            let mut conn = db.pool.acquire().await.unwrap();
            // Temporary: private to this connection on both back ends.
            sqlx::raw_sql("CREATE TEMP TABLE batch_probe (k BIGINT, v TEXT)")
                .execute(&mut *conn)
                .await
                .unwrap();
            let mut w = Writes::default();
            for k in 0..3i64 {
                w.push(
                    "INSERT INTO batch_probe (k, v) VALUES ($1, $2)",
                    vec![Arg::Int(k), Arg::Text(format!("v{k}"))],
                );
            }
            w.push(
                "UPDATE batch_probe SET v = $1 WHERE k = $2",
                vec![Arg::Text("x".into()), Arg::Int(1)],
            );
            w.run(&mut conn).await.unwrap();
            let rows = sqlx::query("SELECT k, v FROM batch_probe ORDER BY k")
                .fetch_all(&mut *conn)
                .await
                .unwrap();
            let got: Vec<(i64, String)> = rows
                .iter()
                .map(|r| (get(r, "k").unwrap(), get(r, "v").unwrap()))
                .collect();
            assert_eq!(
                got,
                vec![(0, "v0".into()), (1, "x".into()), (2, "v2".into())],
                "{url}"
            );
        }
    }
}
