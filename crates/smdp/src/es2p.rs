//! ES2+ (Operator <-> SM-DP+) JSON bodies, SGP.22 v2.2.2 §5.3 with the
//! HTTPS/JSON binding of §6.5 (common header, §6.5.1) and §6.6 (function
//! bodies). Field names are exactly those of the specification.
//!
//! Requests carry `header.functionRequesterIdentifier` and
//! `header.functionCallIdentifier`; responses carry
//! `header.functionExecutionStatus` (`status` + optional `statusCodeData`).

use serde::{Deserialize, Serialize};

/// HTTP paths (SGP.22 §6.5 / §6.6: `/gsma/rsp2/es2plus/<function>`).
pub const PATH_DOWNLOAD_ORDER: &str = "/gsma/rsp2/es2plus/downloadOrder";
pub const PATH_CONFIRM_ORDER: &str = "/gsma/rsp2/es2plus/confirmOrder";
pub const PATH_CANCEL_ORDER: &str = "/gsma/rsp2/es2plus/cancelOrder";
pub const PATH_RELEASE_PROFILE: &str = "/gsma/rsp2/es2plus/releaseProfile";
pub const PATH_HANDLE_DOWNLOAD_PROGRESS_INFO: &str =
    "/gsma/rsp2/es2plus/handleDownloadProgressInfo";

/// Request header, §6.5.1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestHeader {
    pub function_requester_identifier: String,
    pub function_call_identifier: String,
}

// The response header and its status are the same JSON for ES2+ and ES9+ (SGP.22 §6.5.1).
pub use rsp::es9p::{ExecutionStatus, FunctionExecutionStatus, ResponseHeader, StatusCodeData};

/// A response that carries only the header (failures of every function,
/// and the success of CancelOrder / ReleaseProfile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderOnlyResponse {
    pub header: ResponseHeader,
}

/// ES2+.DownloadOrder request, §5.3.1. One of `iccid` / `profileType` is
/// required (conditional).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadOrderRequest {
    pub header: RequestHeader,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iccid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_type: Option<String>,
}

/// ES2+.DownloadOrder response, §5.3.1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadOrderResponse {
    pub header: ResponseHeader,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iccid: Option<String>,
}

/// ES2+.ConfirmOrder request, §5.3.2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmOrderRequest {
    pub header: RequestHeader,
    pub iccid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matching_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smds_address: Option<String>,
    pub release_flag: bool,
}

/// ES2+.ConfirmOrder response, §5.3.2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmOrderResponse {
    pub header: ResponseHeader,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matching_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smdp_address: Option<String>,
}

/// ES2+.CancelOrder request, §5.3.3. `finalProfileStatusIndicator` is
/// "Available" or "Unavailable" (kept as a string so that an invalid value
/// is reported as 1.6/2.1 rather than a JSON parse failure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelOrderRequest {
    pub header: RequestHeader,
    pub iccid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matching_id: Option<String>,
    pub final_profile_status_indicator: String,
}

/// ES2+.ReleaseProfile request, §5.3.4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseProfileRequest {
    pub header: RequestHeader,
    pub iccid: String,
}

/// Notification points of ES2+.HandleDownloadProgressInfo (§5.3.5 /
/// §3.1.3): where in the download procedure the report was produced.
pub mod notification_point {
    /// Eligibility and retry limit check (after ES9+.AuthenticateClient).
    pub const ELIGIBILITY_AND_RETRY_LIMIT_CHECK: u32 = 1;
    /// Confirmation Code verification failed (ES9+.GetBoundProfilePackage).
    pub const CONFIRMATION_FAILURE: u32 = 2;
    /// Bound Profile Package delivered (ES9+.GetBoundProfilePackage).
    pub const BPP_DOWNLOAD: u32 = 3;
    /// Profile Installation Result received (ES9+.HandleNotification).
    pub const BPP_INSTALLATION: u32 = 4;
}

/// Body of ES2+.HandleDownloadProgressInfo (SM-DP+ -> Operator), §5.3.5,
/// without the request header: the I/O edge adds the header
/// (`functionRequesterIdentifier` = the SM-DP+, a fresh
/// `functionCallIdentifier`) when it delivers the outbox record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadProgressInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid: Option<String>,
    pub iccid: String,
    pub profile_type: String,
    /// W3C `YYYY-MM-DDThh:mm:ssTZD`.
    pub timestamp: String,
    pub notification_point_id: u32,
    pub notification_point_status: FunctionExecutionStatus,
    /// Base64 of the Profile Installation Result (notification point 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_data: Option<String>,
}

/// The full HandleDownloadProgressInfo request as sent on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleDownloadProgressInfoRequest {
    pub header: RequestHeader,
    #[serde(flatten)]
    pub body: DownloadProgressInfo,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes;
    use crate::FunctionError;
    use serde_json::json;

    fn hdr() -> RequestHeader {
        RequestHeader {
            function_requester_identifier: "MNO1".into(),
            function_call_identifier: "FCI-1".into(),
        }
    }

    // Golden field names: SGP.22 §6.5.1 / §5.3 (cross-checked against the
    // ES2+ definitions in osmocom pySim `pySim/esim/es2p.py`).
    #[test]
    fn download_order_golden() {
        let j = json!({
            "header": {"functionRequesterIdentifier": "MNO1", "functionCallIdentifier": "FCI-1"},
            "eid": "89049032123451234512345678901235",
            "profileType": "Test"
        });
        let r: DownloadOrderRequest = serde_json::from_value(j.clone()).unwrap();
        assert_eq!(r.header, hdr());
        assert_eq!(r.iccid, None);
        assert_eq!(r.profile_type.as_deref(), Some("Test"));
        assert_eq!(serde_json::to_value(&r).unwrap(), j);

        let resp = DownloadOrderResponse {
            header: ResponseHeader::success(),
            iccid: Some("8944500102198304826".into()),
        };
        assert_eq!(
            serde_json::to_value(&resp).unwrap(),
            json!({"header": {"functionExecutionStatus": {"status": "Executed-Success"}},
                   "iccid": "8944500102198304826"})
        );
    }

    #[test]
    fn confirm_order_golden() {
        let j = json!({
            "header": {"functionRequesterIdentifier": "MNO1", "functionCallIdentifier": "FCI-1"},
            "iccid": "8944500102198304826",
            "eid": "89049032123451234512345678901235",
            "matchingId": "ABCDE-12345",
            "confirmationCode": "1234",
            "smdsAddress": "lpa.ds.gsma.com",
            "releaseFlag": true
        });
        let r: ConfirmOrderRequest = serde_json::from_value(j.clone()).unwrap();
        assert!(r.release_flag);
        assert_eq!(r.confirmation_code.as_deref(), Some("1234"));
        assert_eq!(serde_json::to_value(&r).unwrap(), j);
        // releaseFlag is mandatory.
        assert!(serde_json::from_value::<ConfirmOrderRequest>(json!({
            "header": {"functionRequesterIdentifier": "a", "functionCallIdentifier": "b"},
            "iccid": "8944500102198304826"
        }))
        .is_err());

        let resp = ConfirmOrderResponse {
            header: ResponseHeader::success(),
            eid: None,
            matching_id: Some("ABCDE-12345".into()),
            smdp_address: Some("smdp.example.com".into()),
        };
        assert_eq!(
            serde_json::to_value(&resp).unwrap(),
            json!({"header": {"functionExecutionStatus": {"status": "Executed-Success"}},
                   "matchingId": "ABCDE-12345", "smdpAddress": "smdp.example.com"})
        );
    }

    #[test]
    fn cancel_and_release_golden() {
        let j = json!({
            "header": {"functionRequesterIdentifier": "MNO1", "functionCallIdentifier": "FCI-1"},
            "iccid": "8944500102198304826",
            "matchingId": "ABCDE-12345",
            "finalProfileStatusIndicator": "Unavailable"
        });
        let r: CancelOrderRequest = serde_json::from_value(j.clone()).unwrap();
        assert_eq!(r.final_profile_status_indicator, "Unavailable");
        assert_eq!(serde_json::to_value(&r).unwrap(), j);

        let j = json!({
            "header": {"functionRequesterIdentifier": "MNO1", "functionCallIdentifier": "FCI-1"},
            "iccid": "8944500102198304826"
        });
        let r: ReleaseProfileRequest = serde_json::from_value(j.clone()).unwrap();
        assert_eq!(serde_json::to_value(&r).unwrap(), j);
    }

    #[test]
    fn failed_header_golden() {
        let e = FunctionError::new(codes::ICCID_UNKNOWN, "unknown ICCID");
        let resp = HeaderOnlyResponse {
            header: ResponseHeader::failed(&e),
        };
        assert_eq!(
            serde_json::to_value(&resp).unwrap(),
            json!({"header": {"functionExecutionStatus": {
                "status": "Failed",
                "statusCodeData": {"subjectCode": "8.2.1", "reasonCode": "3.9", "message": "unknown ICCID"}
            }}})
        );
    }

    #[test]
    fn handle_download_progress_info_golden() {
        let req = HandleDownloadProgressInfoRequest {
            header: hdr(),
            body: DownloadProgressInfo {
                eid: Some("89049032123451234512345678901235".into()),
                iccid: "8944500102198304826".into(),
                profile_type: "Test".into(),
                timestamp: "2001-12-17T09:30:47Z".into(),
                notification_point_id: notification_point::CONFIRMATION_FAILURE,
                notification_point_status: FunctionExecutionStatus::failed(&FunctionError::new(
                    codes::CC_REFUSED,
                    "Confirmation Code is refused",
                )),
                result_data: None,
            },
        };
        let j = json!({
            "header": {"functionRequesterIdentifier": "MNO1", "functionCallIdentifier": "FCI-1"},
            "eid": "89049032123451234512345678901235",
            "iccid": "8944500102198304826",
            "profileType": "Test",
            "timestamp": "2001-12-17T09:30:47Z",
            "notificationPointId": 2,
            "notificationPointStatus": {"status": "Failed", "statusCodeData": {
                "subjectCode": "8.2.7", "reasonCode": "3.8", "message": "Confirmation Code is refused"}}
        });
        assert_eq!(serde_json::to_value(&req).unwrap(), j);
        let back: HandleDownloadProgressInfoRequest = serde_json::from_value(j).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn unknown_status_rejected() {
        assert!(
            serde_json::from_value::<FunctionExecutionStatus>(json!({"status": "OK"})).is_err()
        );
        let s: FunctionExecutionStatus =
            serde_json::from_value(json!({"status": "Executed-WithWarning"})).unwrap();
        assert_eq!(s.status, ExecutionStatus::ExecutedWithWarning);
    }
}
