//! SGP.22 v2.2.2 §5.2.6 status codes (subject code + reason code) used by
//! the SM-DP+ order/session logic. Each constant names the function table
//! it comes from (§5.3.x for ES2+, §5.6.x for ES9+).

pub use rsp::codes::StatusCode;

const fn sc(subject: &'static str, reason: &'static str, description: &'static str) -> StatusCode {
    StatusCode::new(subject, reason, description)
}

// --- Generic (§5.2.6) ------------------------------------------------------
/// 1.1 Function requester / 1.1 Unknown Function Requester: the caller could not be
/// identified or authenticated (ES2+ without a valid operator client certificate).
pub const REQUESTER_UNKNOWN: StatusCode = sc(
    "1.1",
    "1.1",
    "Unknown Function Requester (identification or authentication failed)",
);
/// 1.1 Function requester / 1.2 Not allowed (authorisation).
pub const REQUESTER_NOT_ALLOWED: StatusCode = sc("1.1", "1.2", "Not allowed (authorisation)");
/// 1.2 Function provider / 4.2 Execution error.
pub const PROVIDER_EXECUTION_ERROR: StatusCode = sc("1.2", "4.2", "Execution error");
/// 1.6 Function / 2.1 Invalid
pub const FUNCTION_INVALID_PARAM: StatusCode = sc(
    "1.6",
    "2.1",
    "Invalid: a parameter has a wrong format or value",
);
/// 1.6 Function / 2.2 Mandatory element missing.
pub const FUNCTION_MANDATORY_MISSING: StatusCode = sc("1.6", "2.2", "Mandatory element missing");
/// 1.6 Function / 2.3 Conditional element missing.
pub const FUNCTION_CONDITIONAL_MISSING: StatusCode =
    sc("1.6", "2.3", "Conditional element missing");

// --- ES2+ (§5.3.1 DownloadOrder .. §5.3.4 ReleaseProfile) -------------------
/// 8.1.1 EID / 2.2 (§5.3.2)
pub const EID_MISSING: StatusCode = sc("8.1.1", "2.2", "EID is missing in the context of this order (SM-DS address provided or MatchingID value has zero length)");
/// 8.1.1 EID / 3.10 Invalid association (§5.3.2, §5.3.3)
pub const EID_INVALID_ASSOCIATION: StatusCode = sc(
    "8.1.1",
    "3.10",
    "Invalid association: a different EID is already associated with this ICCID",
);
/// 8.2.1 Profile ICCID / 1.2
pub const ICCID_NOT_ALLOWED: StatusCode =
    sc("8.2.1", "1.2", "The caller may not act on this Profile");
/// 8.2.1 Profile ICCID / 3.3 (§5.3.1)
pub const ICCID_NOT_AVAILABLE: StatusCode = sc(
    "8.2.1",
    "3.3",
    "The Profile identified by the ICCID is not available (already in use)",
);
/// 8.2.1 Profile ICCID / 3.5 Invalid transition (§5.3.2-4)
pub const ICCID_INVALID_TRANSITION: StatusCode = sc("8.2.1", "3.5", "Invalid transition: the target Profile is not in a state that allows the operation (e.g. cannot be released)");
/// 8.2.1 Profile ICCID / 3.9
pub const ICCID_UNKNOWN: StatusCode = sc("8.2.1", "3.9", "The ICCID is unknown to the SM-DP+");
/// 8.2.5 Profile Type / 1.2
pub const PROFILE_TYPE_NOT_ALLOWED: StatusCode =
    sc("8.2.5", "1.2", "Caller not allowed on this Profile Type");
/// 8.2.5 Profile Type / 3.7 (§5.3.1)
pub const PROFILE_TYPE_UNAVAILABLE: StatusCode =
    sc("8.2.5", "3.7", "No more Profile available for the type");
/// 8.2.5 Profile Type / 3.8 (§5.3.1)
pub const PROFILE_TYPE_MISMATCH: StatusCode = sc(
    "8.2.5",
    "3.8",
    "The Profile Type is not aligned with the Profile Type of the Profile identified by the ICCID",
);
/// 8.2.5 Profile Type / 3.9 (§5.3.1)
pub const PROFILE_TYPE_UNKNOWN: StatusCode = sc("8.2.5", "3.9", "The Profile Type is unknown");
/// 8.2.6 Matching ID / 3.3 Already in use (§5.3.2)
pub const MATCHING_ID_IN_USE: StatusCode = sc(
    "8.2.6",
    "3.3",
    "Already in use: conflicting MatchingID value",
);
/// 8.2.6 Matching ID / 3.10 (§5.3.3)
pub const MATCHING_ID_INVALID_ASSOCIATION: StatusCode =
    sc("8.2.6", "3.10", "A different MatchingID is associated");
/// 8.9 SM-DS / 5.1 Inaccessible (§5.3.2)
pub const SMDS_INACCESSIBLE: StatusCode = sc(
    "8.9",
    "5.1",
    "Inaccessible: smdsAddress invalid or not reachable",
);

// --- ES9+ (§5.6): the codes the order rules return, from the ES9+ table in `rsp`.
pub use rsp::codes::es9p::{
    CONFIRMATION_CODE_MISSING as CC_MISSING, CONFIRMATION_CODE_REFUSED as CC_REFUSED,
    CONFIRMATION_CODE_RETRIES_EXCEEDED as CC_RETRIES_EXCEEDED, DOWNLOAD_ORDER_EXPIRED,
    DOWNLOAD_RETRIES_EXCEEDED, EID_REFUSED, MATCHING_ID_REFUSED, PROFILE_NOT_RELEASED,
    TRANSACTION_ID_UNKNOWN,
};
