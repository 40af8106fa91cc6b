//! The SM-DP+ persistence contract. Implemented for SQLite and PostgreSQL
//! by the `store` crate.
//!
//! Every method is one transaction. Methods that apply an order rule lock
//! the Profile row, run the pure rule from [`crate::order`], then write the
//! Profile, the order, the session and the outbox together, so a refusal
//! that changes state (retry limit reached) is persisted with its callback.
//! Refusals are `Err(Error::Rejected(..))` carrying the SGP.22 status code.
//!
//! Handlers can be generic over `S: SmdpStore + Clone + Send + Sync + 'static`.

use std::future::Future;

use crate::ids::{Eid, Iccid, MatchingId, TransactionId};
use crate::order::{
    CancelOrderInput, ConfirmOrderInput, ConfirmOutcome, DownloadAuthorization, DownloadOrderInput,
    InstallOutcome, InstallResult, NewProfile, OrderPolicy, OrderRecord, ProfileCount,
    ProfileRecord, ReleaseProfileInput,
};
use crate::outbox::{OutboxEntry, OutboxMessage, ProgressReports};
use crate::seal::SealedBlob;
use crate::session::{NewSession, SessionRecord, SessionState};
use crate::time::UnixMillis;
use crate::{FunctionError, Result};

/// What [`SmdpStore::verify_download_confirmation`] read for the BPP, in the same consistent
/// read as the check: the Profile and its sealed Unprotected Profile Package.
#[derive(Debug, Clone)]
pub struct ConfirmedDownload {
    pub profile: ProfileRecord,
    pub package: SealedBlob,
}

pub trait SmdpStore: Send + Sync {
    // ----- inventory -------------------------------------------------------

    /// Add Profiles as `Available`, all or none ([`crate::Error::Duplicate`]
    /// if an ICCID exists).
    fn insert_profiles(
        &self,
        profiles: Vec<NewProfile>,
        now: UnixMillis,
    ) -> impl Future<Output = Result<()>> + Send;

    fn get_profile(
        &self,
        iccid: &Iccid,
    ) -> impl Future<Output = Result<Option<ProfileRecord>>> + Send;

    /// The sealed Unprotected Profile Package of a Profile.
    fn get_profile_package(
        &self,
        iccid: &Iccid,
    ) -> impl Future<Output = Result<Option<SealedBlob>>> + Send;

    /// Number of Profiles per (type, state).
    fn profile_counts(&self) -> impl Future<Output = Result<Vec<ProfileCount>>> + Send;

    // ----- ES2+ (SGP.22 §5.3) ---------------------------------------------

    /// ES2+.DownloadOrder. With a profileType and no ICCID, atomically picks
    /// one `Available` Profile of that type the requester may use (two
    /// concurrent calls never get the same Profile): 8.2.5/3.9 if the type is
    /// unknown, 8.2.5/3.7 if none is left.
    fn download_order(
        &self,
        input: DownloadOrderInput,
        now: UnixMillis,
        policy: OrderPolicy,
    ) -> impl Future<Output = Result<Iccid>> + Send;

    /// ES2+.ConfirmOrder (MatchingID uniqueness checked here: 8.2.6/3.3).
    fn confirm_order(
        &self,
        input: ConfirmOrderInput,
        now: UnixMillis,
    ) -> impl Future<Output = Result<ConfirmOutcome>> + Send;

    /// ES2+.CancelOrder: removes the order and its sessions.
    fn cancel_order(
        &self,
        input: CancelOrderInput,
        now: UnixMillis,
    ) -> impl Future<Output = Result<()>> + Send;

    /// ES2+.ReleaseProfile.
    fn release_profile(
        &self,
        input: ReleaseProfileInput,
        now: UnixMillis,
    ) -> impl Future<Output = Result<()>> + Send;

    fn get_order(&self, iccid: &Iccid) -> impl Future<Output = Result<Option<OrderRecord>>> + Send;

    fn find_order_by_matching_id(
        &self,
        matching_id: &MatchingId,
    ) -> impl Future<Output = Result<Option<OrderRecord>>> + Send;

    // ----- ES9+ sessions (SGP.22 §5.6) -------------------------------------

    /// Store a new session in state `Initiated` (Duplicate if the
    /// TransactionID exists).
    fn create_session(&self, session: NewSession) -> impl Future<Output = Result<()>> + Send;

    /// The session, or `None` if unknown or expired at `now`.
    fn get_session(
        &self,
        tid: &TransactionId,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Option<SessionRecord>>> + Send;

    /// Compare-and-set the session state (and optionally replace its sealed
    /// data). 8.10.1/3.9 if the session is unknown, expired or not in
    /// `expected` (a replayed or out-of-order request).
    fn update_session(
        &self,
        tid: &TransactionId,
        expected: SessionState,
        new_state: SessionState,
        sealed: Option<SealedBlob>,
        now: UnixMillis,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Remove a session; `true` if it existed.
    fn delete_session(&self, tid: &TransactionId) -> impl Future<Output = Result<bool>> + Send;

    /// Remove sessions expired at `now`; returns how many.
    fn purge_expired_sessions(&self, now: UnixMillis) -> impl Future<Output = Result<u64>> + Send;

    /// After ES9+.AuthenticateClient verified the eUICC: find the order (by
    /// MatchingID, or for a zero-length one the oldest downloadable order
    /// bound to `eid`), apply [`crate::order::authorize_download`], and bind
    /// the `Initiated` session to it (`-> Authenticated`).
    ///
    /// In this and the other download methods, `reports` says which progress reports
    /// (ES2+.HandleDownloadProgressInfo) are written to the outbox.
    fn authorize_download(
        &self,
        tid: &TransactionId,
        matching_id: Option<MatchingId>,
        eid: Eid,
        now: UnixMillis,
        policy: OrderPolicy,
        reports: &ProgressReports,
    ) -> impl Future<Output = Result<DownloadAuthorization>> + Send {
        async move {
            self.authorize_download_with(tid, matching_id, eid, now, policy, reports, |_| {
                Ok((None, ()))
            })
            .await
            .map(|(auth, ())| auth)
        }
    }

    /// [`SmdpStore::authorize_download`] that also replaces the session's sealed data in the
    /// same write: once the rule authorized the download, `session_data` runs (inside the
    /// transaction) and returns the new sealed data, if any, and a value handed back to the
    /// caller. AuthenticateClient signs smdpSigned2 there, since ccRequiredFlag depends on the
    /// order, and stores the signature with the session binding: one write instead of two.
    /// An error from `session_data` rolls everything back.
    fn authorize_download_with<T, F>(
        &self,
        tid: &TransactionId,
        matching_id: Option<MatchingId>,
        eid: Eid,
        now: UnixMillis,
        policy: OrderPolicy,
        reports: &ProgressReports,
        session_data: F,
    ) -> impl Future<Output = Result<(DownloadAuthorization, T)>> + Send
    where
        T: Send,
        F: FnOnce(&DownloadAuthorization) -> Result<(Option<SealedBlob>, T)> + Send;

    /// An eligibility failure found by the handler for the session's order:
    /// Profile -> `Error`, callback at `notification_point`.
    fn record_download_failure(
        &self,
        tid: &TransactionId,
        notification_point: u32,
        error: FunctionError,
        now: UnixMillis,
        reports: &ProgressReports,
    ) -> impl Future<Output = Result<()>> + Send;

    /// ES9+.GetBoundProfilePackage checks for an `Authenticated` session:
    /// order still active and unexpired, Hashed Confirmation Code
    /// ([`crate::order::verify_download_confirmation`]). On success returns the Profile and its
    /// sealed package, so the handler needs no further reads to bind the BPP.
    fn verify_download_confirmation(
        &self,
        tid: &TransactionId,
        hash_cc: Option<Vec<u8>>,
        now: UnixMillis,
        policy: OrderPolicy,
        reports: &ProgressReports,
    ) -> impl Future<Output = Result<ConfirmedDownload>> + Send;

    /// The BPP was returned: Profile -> `Downloaded`, session ->
    /// `BppDelivered` and kept until `keep_until` for the Profile Installation Result,
    /// callback at notification point 3.
    fn record_bpp_delivered(
        &self,
        tid: &TransactionId,
        now: UnixMillis,
        keep_until: UnixMillis,
        reports: &ProgressReports,
    ) -> impl Future<Output = Result<()>> + Send;

    /// A Profile Installation Result: deduplicated on (EID, seqNumber); then
    /// [`crate::order::install_result`]; the Profile's sessions are removed.
    fn record_install_result(
        &self,
        result: InstallResult,
        now: UnixMillis,
        policy: OrderPolicy,
        reports: &ProgressReports,
    ) -> impl Future<Output = Result<InstallOutcome>> + Send;

    /// Record receipt of a notification; `false` if (EID, seqNumber) was
    /// already recorded (SGP.22 §3.5: notifications may be re-sent).
    fn record_notification(
        &self,
        eid: &Eid,
        seq_number: i64,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// An installed Profile was deleted: `Installed -> Unavailable`.
    fn retire_profile(
        &self,
        iccid: &Iccid,
        now: UnixMillis,
    ) -> impl Future<Output = Result<()>> + Send;

    // ----- outbox (ES2+.HandleDownloadProgressInfo) ------------------------

    /// Append a message (normally written by the methods above).
    fn enqueue_outbox(
        &self,
        message: OutboxMessage,
        now: UnixMillis,
    ) -> impl Future<Output = Result<i64>> + Send;

    /// Lease up to `limit` due messages for `lease_ms` (they are not handed
    /// out again until the lease ends); increments their attempt counters.
    fn claim_outbox(
        &self,
        now: UnixMillis,
        limit: u32,
        lease_ms: u64,
    ) -> impl Future<Output = Result<Vec<OutboxEntry>>> + Send;

    /// Delivered: remove it.
    fn ack_outbox(&self, id: i64) -> impl Future<Output = Result<()>> + Send;

    /// Remove several delivered (or dropped) messages; a store may do it in one write.
    fn ack_outbox_many(&self, ids: &[i64]) -> impl Future<Output = Result<()>> + Send {
        async move {
            for &id in ids {
                self.ack_outbox(id).await?;
            }
            Ok(())
        }
    }

    /// Delivery failed: retry at `next_attempt_at`.
    fn retry_outbox(
        &self,
        id: i64,
        error: String,
        next_attempt_at: UnixMillis,
    ) -> impl Future<Output = Result<()>> + Send;
}
