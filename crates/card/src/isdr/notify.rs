//! Notifications: ES10b.ListNotification (§5.7.9), RetrieveNotificationsList (§5.7.10),
//! RemoveNotificationFromList (§5.7.11), and their generation for profile operations (§2.6,
//! §3.5): each carries a sequence number from a counter that never goes back.

use rsp::es10b::{
    DeleteNotificationStatus, ListNotificationRequest, ListNotificationResponse,
    NotificationSentRequest, NotificationSentResponse, NotificationsListResultError,
    RetrieveNotificationsListRequest, RetrieveNotificationsListResponse, RetrieveSearchCriteria,
};
use rsp::notification::{
    NotificationEvent, NotificationEvents, NotificationMetadata, OtherSignedNotification,
    PendingNotification,
};
use rsp::{Asn1, Iccid, Signed};

use super::{decode, Isdr};
use crate::state::{NotificationKind, StoredNotification};
use crate::ApduResult;

fn metadata(n: &StoredNotification) -> NotificationMetadata {
    NotificationMetadata {
        seq_number: n.seq_number,
        profile_management_operation: n.kind.event(),
        notification_address: n.address.clone(),
        iccid: n.iccid.map(Iccid),
    }
}

fn matches(events: &NotificationEvents, n: &StoredNotification) -> bool {
    events.contains(n.kind.event())
}

impl Isdr<'_> {
    pub(super) fn list_notification(&mut self, request: &[u8]) -> ApduResult {
        let req: ListNotificationRequest = decode(request)?;
        let list = self
            .state
            .notifications
            .iter()
            .filter(|n| {
                req.profile_management_operation
                    .as_ref()
                    .is_none_or(|e| matches(e, n))
            })
            .map(metadata)
            .collect();
        Ok(ListNotificationResponse::List(list).encode())
    }

    /// Returns the signed notifications as stored ('BF2B' { 'A0' { PendingNotification... } }).
    pub(super) fn retrieve_notifications(&mut self, request: &[u8]) -> ApduResult {
        let req: RetrieveNotificationsListRequest = decode(request)?;
        let selected: Vec<&StoredNotification> = self
            .state
            .notifications
            .iter()
            .filter(|n| match &req.search_criteria {
                None => true,
                Some(RetrieveSearchCriteria::SeqNumber(s)) => n.seq_number == *s,
                Some(RetrieveSearchCriteria::ProfileManagementOperation(e)) => matches(e, n),
            })
            .collect();
        if selected.is_empty() && req.search_criteria.is_some() {
            return Ok(RetrieveNotificationsListResponse::Error(
                NotificationsListResultError::NO_RESULT_AVAILABLE,
            )
            .encode());
        }
        // Stored as encoded by the card; decoding keeps the signed parts byte for byte.
        let list: Result<Vec<PendingNotification>, _> = selected
            .iter()
            .map(|n| PendingNotification::decode(&n.pending))
            .collect();
        let response = match list {
            Ok(l) => RetrieveNotificationsListResponse::List(l),
            Err(_) => RetrieveNotificationsListResponse::Error(
                NotificationsListResultError::UNDEFINED_ERROR,
            ),
        };
        Ok(response.encode())
    }

    pub(super) fn remove_notification(&mut self, request: &[u8]) -> ApduResult {
        let req: NotificationSentRequest = decode(request)?;
        let before = self.state.notifications.len();
        self.state
            .notifications
            .retain(|n| n.seq_number != req.seq_number);
        let status = if self.state.notifications.len() < before {
            DeleteNotificationStatus::OK
        } else {
            DeleteNotificationStatus::NOTHING_TO_DELETE
        };
        Ok(NotificationSentResponse {
            delete_notification_status: status,
        }
        .encode())
    }

    /// Creates, signs and stores an OtherSignedNotification.
    pub(super) fn add_other_notification(
        &mut self,
        kind: NotificationKind,
        address: String,
        iccid: Iccid,
    ) {
        let seq = self.state.next_seq();
        let tbs = Signed::new(NotificationMetadata {
            seq_number: seq,
            profile_management_operation: kind.event(),
            notification_address: address.clone(),
            iccid: Some(iccid),
        });
        let signature = self.sign(tbs.raw());
        let pending = OtherSignedNotification {
            tbs_other_notification: tbs,
            euicc_notification_signature: signature,
            euicc_certificate: self.identity.euicc_cert_der.clone(),
            eum_certificate: self.identity.eum_cert_der.clone(),
        }
        .encode();
        self.state.notifications.push(StoredNotification {
            seq_number: seq,
            kind,
            address,
            iccid: Some(iccid.0),
            pending,
        });
    }

    /// Notifications for `kind` on the profile `iccid`, one per configured address
    /// (NotificationConfigurationInfo of its metadata).
    pub(super) fn notify_profile_event(
        &mut self,
        kind: NotificationKind,
        iccid: [u8; 10],
        metadata_der: &[u8],
    ) {
        let Ok(md) = rsp::es8p::StoreMetadataRequest::decode(metadata_der) else {
            return;
        };
        let event: NotificationEvent = kind.event();
        for nci in md.notification_configuration_info.iter().flatten() {
            if nci.profile_management_operation.contains(event) {
                self.add_other_notification(kind, nci.notification_address.clone(), Iccid(iccid));
            }
        }
    }
}
