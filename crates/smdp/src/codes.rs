//! SGP.22 v2.2.2 §5.2.6 status codes (subject code + reason code) used by
//! the SM-DP+ order/session logic. Each constant names the function table
//! it comes from (§5.3.x for ES2+, §5.6.x for ES9+).

use std::fmt;

/// A (subject code, reason code) pair, SGP.22 §5.2.6.1 / §5.2.6.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusCode {
    pub subject: &'static str,
    pub reason: &'static str,
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.subject, self.reason)
    }
}

const fn sc(subject: &'static str, reason: &'static str) -> StatusCode {
    StatusCode { subject, reason }
}

// --- Generic (§5.2.6) ------------------------------------------------------
/// 1.1 Function requester / 1.2 Not allowed (authorisation).
pub const REQUESTER_NOT_ALLOWED: StatusCode = sc("1.1", "1.2");
/// 1.2 Function provider / 4.2 Execution error.
pub const PROVIDER_EXECUTION_ERROR: StatusCode = sc("1.2", "4.2");
/// 1.6 Function / 2.1 Invalid: a parameter has a wrong format or value.
pub const FUNCTION_INVALID_PARAM: StatusCode = sc("1.6", "2.1");
/// 1.6 Function / 2.2 Mandatory element missing.
pub const FUNCTION_MANDATORY_MISSING: StatusCode = sc("1.6", "2.2");
/// 1.6 Function / 2.3 Conditional element missing.
pub const FUNCTION_CONDITIONAL_MISSING: StatusCode = sc("1.6", "2.3");

// --- ES2+ (§5.3.1 DownloadOrder .. §5.3.4 ReleaseProfile) -------------------
/// 8.1.1 EID / 2.2: EID is missing in the context of this order (SM-DS
/// address provided or MatchingID value has zero length). §5.3.2
pub const EID_MISSING: StatusCode = sc("8.1.1", "2.2");
/// 8.1.1 EID / 3.10 Invalid association: a different EID is already
/// associated with this ICCID. §5.3.2, §5.3.3
pub const EID_INVALID_ASSOCIATION: StatusCode = sc("8.1.1", "3.10");
/// 8.2.1 Profile ICCID / 1.2: the caller may not act on this Profile.
pub const ICCID_NOT_ALLOWED: StatusCode = sc("8.2.1", "1.2");
/// 8.2.1 Profile ICCID / 3.3: the Profile identified by the ICCID is not
/// available (already in use). §5.3.1
pub const ICCID_NOT_AVAILABLE: StatusCode = sc("8.2.1", "3.3");
/// 8.2.1 Profile ICCID / 3.5 Invalid transition: the target Profile is not
/// in a state that allows the operation (e.g. cannot be released). §5.3.2-4
pub const ICCID_INVALID_TRANSITION: StatusCode = sc("8.2.1", "3.5");
/// 8.2.1 Profile ICCID / 3.9: the ICCID is unknown to the SM-DP+.
pub const ICCID_UNKNOWN: StatusCode = sc("8.2.1", "3.9");
/// 8.2.5 Profile Type / 1.2: caller not allowed on this Profile Type.
pub const PROFILE_TYPE_NOT_ALLOWED: StatusCode = sc("8.2.5", "1.2");
/// 8.2.5 Profile Type / 3.7: no more Profile available for the type. §5.3.1
pub const PROFILE_TYPE_UNAVAILABLE: StatusCode = sc("8.2.5", "3.7");
/// 8.2.5 Profile Type / 3.8: the Profile Type is not aligned with the
/// Profile Type of the Profile identified by the ICCID. §5.3.1
pub const PROFILE_TYPE_MISMATCH: StatusCode = sc("8.2.5", "3.8");
/// 8.2.5 Profile Type / 3.9: the Profile Type is unknown. §5.3.1
pub const PROFILE_TYPE_UNKNOWN: StatusCode = sc("8.2.5", "3.9");
/// 8.2.6 Matching ID / 3.3 Already in use: conflicting MatchingID value. §5.3.2
pub const MATCHING_ID_IN_USE: StatusCode = sc("8.2.6", "3.3");
/// 8.2.6 Matching ID / 3.10: a different MatchingID is associated. §5.3.3
pub const MATCHING_ID_INVALID_ASSOCIATION: StatusCode = sc("8.2.6", "3.10");
/// 8.9 SM-DS / 5.1 Inaccessible: smdsAddress invalid or not reachable. §5.3.2
pub const SMDS_INACCESSIBLE: StatusCode = sc("8.9", "5.1");

// --- ES9+ (§5.6.2 GetBoundProfilePackage, §5.6.3 AuthenticateClient) --------
/// 8.1.1 EID / 3.8: EID doesn't match the expected value. §5.6.3
pub const EID_REFUSED: StatusCode = sc("8.1.1", "3.8");
/// 8.2 Profile / 1.2: Profile has not yet been released. §5.6.3
pub const PROFILE_NOT_RELEASED: StatusCode = sc("8.2", "1.2");
/// 8.2.6 Matching ID / 3.8: MatchingID (AC_Token or EventID) is refused. §5.6.3
pub const MATCHING_ID_REFUSED: StatusCode = sc("8.2.6", "3.8");
/// 8.2.7 Confirmation Code / 2.2: Confirmation Code is missing. §5.6.2
pub const CC_MISSING: StatusCode = sc("8.2.7", "2.2");
/// 8.2.7 Confirmation Code / 3.8: Confirmation Code is refused. §5.6.2
pub const CC_REFUSED: StatusCode = sc("8.2.7", "3.8");
/// 8.2.7 Confirmation Code / 6.4: maximum number of retries for the
/// Confirmation Code exceeded. §5.6.2
pub const CC_RETRIES_EXCEEDED: StatusCode = sc("8.2.7", "6.4");
/// 8.8.5 Download order / 4.10 Time to live expired: the download order has
/// expired. §5.6.2, §5.6.3
pub const DOWNLOAD_ORDER_EXPIRED: StatusCode = sc("8.8.5", "4.10");
/// 8.8.5 Download order / 6.4: maximum number of retries for the Profile
/// download order exceeded. §5.6.3
pub const DOWNLOAD_RETRIES_EXCEEDED: StatusCode = sc("8.8.5", "6.4");
/// 8.10.1 TransactionId / 3.9: the RSP session identified by the
/// TransactionID is unknown. §5.6.2, §5.6.3, §5.6.5
pub const TRANSACTION_ID_UNKNOWN: StatusCode = sc("8.10.1", "3.9");
