//! The persistence the service needs, as a trait (implemented by the `store` crate on SQLite
//! and PostgreSQL). Every method is one transaction.

use std::future::Future;

use ota::Counter;

use crate::error::Result;
use crate::model::{
    CampaignStatus, CardImport, CatalogueItem, JobState, KeySet, RetryPolicy, UnixMillis,
};

/// One attempt claimed for sending: its intent (counter, submission id) is already committed.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Submission id (unique, never reused): the SMPP client references derive from it.
    pub submission: i64,
    /// Job id.
    pub job: i64,
    /// Card address (MSISDN).
    pub address: String,
    /// The card's key set.
    pub keys: KeySet,
    /// What to send.
    pub item: CatalogueItem,
    /// The counter value allocated for this packet.
    pub counter: Counter,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// A PoR as received: matched to its submission by (card address, TAR, counter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PorReport {
    /// Originating address of the deliver_sm.
    pub address: String,
    /// TAR of the response packet.
    pub tar: [u8; 3],
    /// CNTR of the response packet.
    pub counter: Counter,
    /// Response status code.
    pub status: u8,
}

/// What a PoR did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PorMatch {
    /// No submission has this (address, TAR, counter).
    Unknown,
    /// Matched; the job was already final (a duplicate or late PoR).
    AlreadyFinal { job: i64 },
    /// Matched; the job moved to `state`.
    Updated { job: i64, state: JobState },
}

/// One submitted packet, for audits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionRecord {
    /// Submission id.
    pub id: i64,
    /// Card.
    pub address: String,
    /// TAR.
    pub tar: [u8; 3],
    /// Counter value.
    pub counter: u64,
    /// `submitting`, `accepted`, `failed`, `por`.
    pub state: String,
    /// SMSC message_id, when accepted.
    pub message_id: Option<String>,
}

/// Persistence of the OTA server.
pub trait OtaStore: Send + Sync {
    /// Insert or replace cards (key sets and initial counters). Returns how many.
    fn import_cards(&self, cards: Vec<CardImport>) -> impl Future<Output = Result<u64>> + Send;

    /// The key set of a card: [`crate::Error::UnknownCard`] or [`crate::Error::NoKeySet`].
    fn card_keys(&self, address: &str) -> impl Future<Output = Result<KeySet>> + Send;

    /// Allocate the next counter value of (card, TAR) atomically (`UPDATE .. RETURNING`):
    /// concurrent callers never get the same value.
    fn allocate_counter(
        &self,
        address: &str,
        tar: [u8; 3],
    ) -> impl Future<Output = Result<Counter>> + Send;

    /// Add a catalogue item ([`crate::Error::Duplicate`] if the name exists).
    fn put_item(&self, item: CatalogueItem) -> impl Future<Output = Result<()>> + Send;

    /// A catalogue item.
    fn get_item(&self, name: &str) -> impl Future<Output = Result<CatalogueItem>> + Send;

    /// All catalogue items.
    fn list_items(&self) -> impl Future<Output = Result<Vec<CatalogueItem>>> + Send;

    /// Create a campaign: one queued job per address. Refuses the whole campaign if a card is
    /// unknown or has no key set.
    fn create_campaign(
        &self,
        name: &str,
        item: &str,
        addresses: Vec<String>,
        policy: RetryPolicy,
        now: UnixMillis,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Claim up to `limit` due jobs (queued, or retrying whose back-off is over), in one
    /// transaction: allocate each a counter, record the submission (state `submitting`, the
    /// intent) and move the job to `submitting` with the submit deadline.
    fn claim(
        &self,
        now: UnixMillis,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Claimed>>> + Send;

    /// The SMSC accepted these submissions (id, message_id): their jobs go to `sent` with the
    /// PoR deadline (only jobs still `submitting` on that submission).
    fn submissions_accepted(
        &self,
        accepted: Vec<(i64, String)>,
        now: UnixMillis,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The SMSC refused a submission permanently: the job retries after back-off, or expires.
    fn submission_failed(
        &self,
        submission: i64,
        now: UnixMillis,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Record PoRs, matched by (address, TAR, counter); idempotent.
    fn record_pors(
        &self,
        pors: Vec<PorReport>,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Vec<PorMatch>>> + Send;

    /// Jobs `submitting` or `sent` past their deadline: `retrying` (after back-off) or
    /// `expired`. Returns how many moved.
    fn sweep(&self, now: UnixMillis) -> impl Future<Output = Result<u64>> + Send;

    /// Counts per state.
    fn campaign_status(&self, name: &str) -> impl Future<Output = Result<CampaignStatus>> + Send;

    /// Campaign names, oldest first.
    fn list_campaigns(&self) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// Every packet of a campaign.
    fn campaign_submissions(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<SubmissionRecord>>> + Send;

    /// Whether some campaign still has a job that is not final.
    fn has_unfinished(&self) -> impl Future<Output = Result<bool>> + Send;
}
