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
    fn backoff() {
        assert_eq!(retry_delay_ms(0), 5_000);
        assert_eq!(retry_delay_ms(1), 5_000);
        assert_eq!(retry_delay_ms(2), 10_000);
        assert_eq!(retry_delay_ms(10), 2_560_000);
        assert_eq!(retry_delay_ms(11), 3_600_000);
        assert_eq!(retry_delay_ms(u32::MAX), 3_600_000);
    }
}
