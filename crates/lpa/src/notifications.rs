//! Pending notifications (SGP.22 §3.5): ES10b.RetrieveNotificationsList, ES9+.HandleNotification
//! to each notification's address, ES10b.RemoveNotificationFromList once delivered.

use apdu::CardTransport;
use rsp::es10b::{
    NotificationsListResultError, RetrieveNotificationsListRequest, RetrieveSearchCriteria,
};
use rsp::notification::{NotificationEvent, PendingNotification};
use rsp::{Asn1, Iccid};
use tlv::{Tag, Tlv};

use crate::{es9, Es9Transport, Lpa, LpaError, Result};

/// A pending notification with the exact bytes the eUICC signed and returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrievedNotification {
    /// The `PendingNotification` TLV ('BF37' or '30') as received: what ES9+ carries.
    pub der: Vec<u8>,
    pub notification: PendingNotification,
}

/// What became of one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationStatus {
    /// Delivered and removed from the eUICC.
    Removed,
    /// Delivered, but ES10b.RemoveNotificationFromList failed (it will be sent again).
    DeliveredNotRemoved(LpaError),
    /// Not delivered; it stays on the eUICC.
    NotDelivered(LpaError),
}

/// The outcome of one notification in [`Lpa::process_notifications`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationOutcome {
    pub seq_number: i64,
    pub event: NotificationEvent,
    pub address: String,
    pub iccid: Option<Iccid>,
    pub status: NotificationStatus,
}

impl<T: CardTransport> Lpa<T> {
    /// ES10b.RetrieveNotificationsList (SGP.22 §5.7.10): all pending notifications, or the one
    /// with `seq_number`. `noResultAvailable` is an empty list.
    pub fn retrieve_notifications(
        &mut self,
        seq_number: Option<i64>,
    ) -> Result<Vec<RetrievedNotification>> {
        const F: &str = "RetrieveNotificationsList";
        let req = RetrieveNotificationsListRequest {
            search_criteria: seq_number.map(RetrieveSearchCriteria::SeqNumber),
        };
        let raw = self.es10_raw(F, &req.encode())?;
        let decode_err = |source| LpaError::Decode {
            function: F,
            source,
        };
        match rsp::es10b::RetrieveNotificationsListResponse::decode(&raw).map_err(decode_err)? {
            rsp::es10b::RetrieveNotificationsListResponse::List(list) => {
                // Keep each element's bytes as received (the decoder has validated the structure).
                let tlv_err = |source| decode_err(rsp::Error::Tlv { ty: F, source });
                let outer = Tlv::parse_expecting(&raw, Tag(0xBF2B)).map_err(tlv_err)?;
                let (a0, _) = Tlv::parse(outer.value).map_err(tlv_err)?;
                let ders = tlv::iter(a0.value)
                    .map(|t| t.map(|t| t.raw.to_vec()))
                    .collect::<tlv::Result<Vec<_>>>();
                let ders = ders.map_err(tlv_err)?;
                if ders.len() != list.len() {
                    return Err(LpaError::Protocol(
                        "RetrieveNotificationsList: list mismatch".into(),
                    ));
                }
                Ok(ders
                    .into_iter()
                    .zip(list)
                    .map(|(der, notification)| RetrievedNotification { der, notification })
                    .collect())
            }
            rsp::es10b::RetrieveNotificationsListResponse::Error(
                NotificationsListResultError::NO_RESULT_AVAILABLE,
            ) => Ok(Vec::new()),
            rsp::es10b::RetrieveNotificationsListResponse::Error(e) => Err(LpaError::Es10 {
                function: F,
                code: e.0,
                name: e.name(),
            }),
        }
    }

    /// Delivers every pending notification to its notificationAddress with
    /// ES9+.HandleNotification and removes the delivered ones from the eUICC (SGP.22 §3.5).
    /// Card failures while listing are errors; per-notification failures are in the outcomes.
    pub async fn process_notifications<E: Es9Transport>(
        &mut self,
        es9: &E,
    ) -> Result<Vec<NotificationOutcome>> {
        let pending = self.retrieve_notifications(None)?;
        let mut out = Vec::with_capacity(pending.len());
        for n in pending {
            let m = n.notification.metadata();
            let status = match es9::handle_notification(es9, &m.notification_address, &n.der).await
            {
                Err(e) => NotificationStatus::NotDelivered(e),
                Ok(()) => match self.remove_notification(m.seq_number) {
                    Ok(()) => NotificationStatus::Removed,
                    Err(e) => NotificationStatus::DeliveredNotRemoved(e),
                },
            };
            out.push(NotificationOutcome {
                seq_number: m.seq_number,
                event: m.profile_management_operation,
                address: m.notification_address.clone(),
                iccid: m.iccid,
                status,
            });
        }
        Ok(out)
    }
}
