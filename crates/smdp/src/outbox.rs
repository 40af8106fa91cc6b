//! ES2+.HandleDownloadProgressInfo (SGP.22 §5.3.5) as an outbox.
//!
//! State changes that the Operator must hear about write an
//! [`OutboxMessage`] in the same transaction as the change. The I/O edge
//! claims due entries ([`crate::SmdpStore::claim_outbox`]), POSTs them to the
//! Operator identified by `target` (the `functionRequesterIdentifier` that
//! placed the order), then acknowledges or reschedules them. Delivery is
//! at-least-once; a claim is a lease, so several replicas can share the work.

use crate::es2p::{DownloadProgressInfo, FunctionExecutionStatus};
use crate::order::{OrderRecord, ProfileRecord};
use crate::time::UnixMillis;

/// A callback to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The Operator to notify (its `functionRequesterIdentifier`).
    pub target: String,
    pub body: DownloadProgressInfo,
}

impl OutboxMessage {
    /// A progress report for `profile`/`order` at `notification_point_id`.
    pub fn progress(
        profile: &ProfileRecord,
        order: &OrderRecord,
        notification_point_id: u32,
        status: FunctionExecutionStatus,
        result_data: Option<String>,
        now: UnixMillis,
    ) -> Self {
        OutboxMessage {
            target: order.requester.clone(),
            body: DownloadProgressInfo {
                eid: order.eid.as_ref().map(|e| e.to_string()),
                iccid: profile.iccid.to_string(),
                profile_type: profile.profile_type.clone(),
                timestamp: now.to_w3c(),
                notification_point_id,
                notification_point_status: status,
                result_data,
            },
        }
    }
}

/// Which Operators' progress reports are written to the outbox.
///
/// The outbox exists only to deliver ES2+.HandleDownloadProgressInfo, and a report can only be
/// delivered to an Operator with a callback URL; the deliverer drops the others unsent. With
/// [`ProgressReports::Only`] the store does not write those reports in the first place (no
/// insert now, no claim and delete later); the order rules and their state changes are the
/// same either way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProgressReports {
    /// Every report is written (the deliverer decides what to do with it).
    #[default]
    All,
    /// Only reports whose `target` (the `functionRequesterIdentifier` that placed the order)
    /// is in this set.
    Only(std::collections::BTreeSet<String>),
}

impl ProgressReports {
    /// Reports only for these Operators, e.g. those with a callback URL configured.
    pub fn only<I, T>(targets: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        ProgressReports::Only(targets.into_iter().map(Into::into).collect())
    }

    /// `true` when a report for `target` is to be written.
    pub fn wants(&self, target: &str) -> bool {
        match self {
            ProgressReports::All => true,
            ProgressReports::Only(set) => set.contains(target),
        }
    }
}

/// A stored outbox record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub target: String,
    pub body: DownloadProgressInfo,
    /// Delivery attempts made so far (claims).
    pub attempts: u32,
    pub created_at: UnixMillis,
    pub next_attempt_at: UnixMillis,
    pub last_error: Option<String>,
}

/// Delay before retry number `attempts` (1-based): 5 s doubling, capped at
/// one hour.
pub fn retry_delay_ms(attempts: u32) -> u64 {
    let exp = attempts.saturating_sub(1).min(20);
    (5_000u64 << exp).min(3_600_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_report_filter() {
        assert!(ProgressReports::All.wants("MNO1"));
        assert!(ProgressReports::default().wants(""));
        let only = ProgressReports::only(["MNO1", "MNO2"]);
        assert!(only.wants("MNO1"));
        assert!(only.wants("MNO2"));
        assert!(!only.wants("MNO3"));
        assert!(!only.wants("mno1"), "requester identifiers compare exactly");
        assert!(!ProgressReports::only(Vec::<String>::new()).wants("MNO1"));
    }

    #[test]
    fn backoff() {
        assert_eq!(retry_delay_ms(0), 5_000);
        assert_eq!(retry_delay_ms(1), 5_000);
        assert_eq!(retry_delay_ms(2), 10_000);
        assert_eq!(retry_delay_ms(10), 2_560_000);
        assert_eq!(retry_delay_ms(11), 3_600_000);
        assert_eq!(retry_delay_ms(u32::MAX), 3_600_000);
    }
}
