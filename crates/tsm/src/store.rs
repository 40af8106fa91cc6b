//! Persistence of the central TSM (implemented by the `store` crate on SQLite and PostgreSQL).
//! A state change that spans several rows is one transaction ([`TsmStore::commit_flow`]).

use std::future::Future;

use crate::error::Result;
use crate::model::{
    AuditEntry, CatalogueEntry, Conversation, IdempotencyRecord, Mno, QueueState, QueuedRequest,
    Se, SecurityDomain, ServiceInstance, Sp, UnixMillis,
};

/// The outcome of starting an idempotent request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First time: the request is recorded as in progress and must be executed.
    New,
    /// Seen before with the same request: the stored answer (status, body).
    Replay(u16, String),
    /// Seen before with the same request, still executing.
    InProgress,
    /// Seen before with a different request.
    Conflict,
}

/// Everything a flow changed, written in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowOutcome {
    /// The service instance's new row (insert or replace by its key).
    pub instance: Option<ServiceInstance>,
    /// Security domains created or changed (insert or replace by (se_id, aid)).
    pub put_sds: Vec<SecurityDomain>,
    /// Security domains deleted from the SE: (se_id, aid).
    pub removed_sds: Vec<(String, Vec<u8>)>,
    /// Commands sent (ids assigned by the store).
    pub audit: Vec<AuditEntry>,
}

/// Which audit entries to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub se_id: Option<String>,
    pub sp_id: Option<String>,
    /// Entries with an id greater than this.
    pub after: Option<i64>,
    pub limit: u32,
}

pub trait TsmStore: Send + Sync {
    // ---- operator registrations (CLI) ----

    /// Insert or replace an MNO.
    fn put_mno(&self, mno: Mno) -> impl Future<Output = Result<()>> + Send;
    fn get_mno(&self, id: &str) -> impl Future<Output = Result<Option<Mno>>> + Send;

    /// Insert or replace an SP. Its `cert_subject` is unique ([`crate::TsmError::Duplicate`]).
    fn put_sp(&self, sp: Sp) -> impl Future<Output = Result<()>> + Send;
    fn get_sp(&self, id: &str) -> impl Future<Output = Result<Option<Sp>>> + Send;
    /// The SP whose client certificate has this subject common name.
    fn sp_by_subject(&self, subject: &str) -> impl Future<Output = Result<Option<Sp>>> + Send;
    fn list_sps(&self) -> impl Future<Output = Result<Vec<Sp>>> + Send;

    /// Insert or replace an SE with its MSIs (an MSI belongs to one SE: moving it to another
    /// SE replaces the mapping) and its security domains, in one transaction. The MNO must
    /// exist ([`crate::TsmError::Invalid`] otherwise).
    fn put_se(
        &self,
        se: Se,
        msis: Vec<String>,
        sds: Vec<SecurityDomain>,
    ) -> impl Future<Output = Result<()>> + Send;
    fn get_se(&self, se_id: &str) -> impl Future<Output = Result<Option<Se>>> + Send;
    fn se_by_msi(&self, msi: &str) -> impl Future<Output = Result<Option<Se>>> + Send;
    fn list_ses(&self) -> impl Future<Output = Result<Vec<Se>>> + Send;

    /// All security domains of an SE.
    fn sds(&self, se_id: &str) -> impl Future<Output = Result<Vec<SecurityDomain>>> + Send;

    /// Insert or replace a catalogue entry (key: sp_id, service_id, version).
    fn put_catalogue(&self, entry: CatalogueEntry) -> impl Future<Output = Result<()>> + Send;
    /// A catalogue entry of the SP; `version` `None`: the most recently added version.
    fn catalogue(
        &self,
        sp_id: &str,
        service_id: &str,
        version: Option<&str>,
    ) -> impl Future<Output = Result<Option<CatalogueEntry>>> + Send;
    fn list_catalogue(&self) -> impl Future<Output = Result<Vec<CatalogueEntry>>> + Send;

    // ---- service instances ----

    /// The instance (se_id, sp_id, service_id, qualifier).
    fn instance(
        &self,
        se_id: &str,
        sp_id: &str,
        service_id: &str,
        qualifier: &str,
    ) -> impl Future<Output = Result<Option<ServiceInstance>>> + Send;
    /// Instances, optionally of one SE and/or one SP.
    fn list_instances(
        &self,
        se_id: Option<&str>,
        sp_id: Option<&str>,
    ) -> impl Future<Output = Result<Vec<ServiceInstance>>> + Send;

    /// Write a flow's changes in one transaction.
    fn commit_flow(&self, outcome: FlowOutcome) -> impl Future<Output = Result<()>> + Send;

    // ---- conversations ----

    /// Insert a new conversation ([`crate::TsmError::Duplicate`] if the id exists).
    fn open_conversation(&self, c: Conversation) -> impl Future<Output = Result<()>> + Send;
    fn conversation(&self, id: &str) -> impl Future<Output = Result<Option<Conversation>>> + Send;
    /// Count one more script on an open conversation, atomically, if that keeps it within
    /// `max_scripts`; returns the conversation after the update, or `None` when it was already
    /// at its limit (or ended).
    fn count_script(&self, id: &str) -> impl Future<Output = Result<Option<Conversation>>> + Send;
    /// Mark a conversation ended with the SP's status (idempotent: an ended conversation
    /// keeps its first status).
    fn end_conversation(&self, id: &str, status: &str) -> impl Future<Output = Result<()>> + Send;

    // ---- audit ----

    /// Append audit entries (ids assigned in order).
    fn append_audit(&self, entries: Vec<AuditEntry>) -> impl Future<Output = Result<()>> + Send;
    /// Audit entries in id order.
    fn audit(&self, filter: AuditFilter) -> impl Future<Output = Result<Vec<AuditEntry>>> + Send;

    // ---- the per-SE queue ----

    /// Add a pending request at the end of its SE's queue; returns its id.
    fn enqueue(&self, req: QueuedRequest) -> impl Future<Output = Result<i64>> + Send;
    /// The pending requests of an SE, oldest first.
    fn pending(&self, se_id: &str) -> impl Future<Output = Result<Vec<QueuedRequest>>> + Send;
    /// One queued request by id.
    fn queued(&self, id: i64) -> impl Future<Output = Result<Option<QueuedRequest>>> + Send;
    /// Take a pending request for delivery (pending → delivering), atomically: `false` when
    /// it was not pending (another process took it).
    fn claim_queued(&self, id: i64) -> impl Future<Output = Result<bool>> + Send;
    /// The SEs that have pending requests.
    fn ses_with_pending(&self) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Give a claimed request back (delivering → pending): the SE went offline before it.
    fn release_queued(&self, id: i64) -> impl Future<Output = Result<()>> + Send;
    /// Record a queued request's outcome.
    fn finish_queued(
        &self,
        id: i64,
        state: QueueState,
        result: String,
    ) -> impl Future<Output = Result<()>> + Send;

    // ---- idempotency ----

    /// Start an idempotent request (atomically: two concurrent callers with the same key
    /// cannot both get [`IdempotencyBegin::New`]).
    fn idempotency_begin(
        &self,
        sp_id: &str,
        key: &str,
        request_hash: [u8; 32],
        now: UnixMillis,
    ) -> impl Future<Output = Result<IdempotencyBegin>> + Send;
    /// Store the answer of an idempotent request.
    fn idempotency_finish(
        &self,
        sp_id: &str,
        key: &str,
        status: u16,
        body: String,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Forget an in-progress key whose request failed before changing anything (so the SP may
    /// retry with the same key).
    fn idempotency_abandon(
        &self,
        sp_id: &str,
        key: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// After a restart: every request that was executing when the TSM stopped is in doubt
    /// (it may have reached the SE). In one transaction, in-progress idempotency records get
    /// `status`/`body` as their answer and `delivering` queue rows become `failed` with
    /// `queue_result`. Returns (records, queue rows) resolved. Only for a TSM that is the
    /// database's sole user (one process, as the per-SE locks assume).
    fn recover_interrupted(
        &self,
        status: u16,
        body: String,
        queue_result: String,
    ) -> impl Future<Output = Result<(u64, u64)>> + Send;
    /// The stored record, if any (for tests and the CLI).
    fn idempotency_record(
        &self,
        sp_id: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>>> + Send;
}
