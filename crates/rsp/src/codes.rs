//! SGP.22 status codes: subject codes and reason codes (SGP.22 §6.5.1.4, inherited from the
//! SGP.02 code tables) and the pairs each ES9+ function returns (SGP.22 §6.5.2.6–6.5.2.10).
//! In JSON they travel as strings in `header.functionExecutionStatus.statusCodeData`.

/// Subject codes: what the error is about.
pub mod subject {
    pub const EUICC: &str = "8.1";
    pub const EID: &str = "8.1.1";
    pub const EUM_CERTIFICATE: &str = "8.1.2";
    pub const EUICC_CERTIFICATE: &str = "8.1.3";
    pub const PROFILE: &str = "8.2";
    pub const PROFILE_ICCID: &str = "8.2.1";
    pub const PROFILE_TYPE: &str = "8.2.5";
    pub const MATCHING_ID: &str = "8.2.6";
    pub const CONFIRMATION_CODE: &str = "8.2.7";
    pub const SMDP: &str = "8.8";
    pub const SMDP_ADDRESS: &str = "8.8.1";
    pub const SECURITY_CONFIGURATION: &str = "8.8.2";
    pub const SPECIFICATION_VERSION_NUMBER: &str = "8.8.3";
    pub const SMDP_CERTIFICATE: &str = "8.8.4";
    pub const DOWNLOAD_ORDER: &str = "8.8.5";
    pub const SMDS: &str = "8.9";
    pub const SMDS_ADDRESS: &str = "8.9.1";
    pub const TRANSACTION_ID: &str = "8.10.1";
    pub const CI_PUBLIC_KEY: &str = "8.11.1";

    /// Human-readable name of a subject code.
    pub fn name(code: &str) -> Option<&'static str> {
        Some(match code {
            EUICC => "eUICC",
            EID => "EID",
            EUM_CERTIFICATE => "EUM Certificate",
            EUICC_CERTIFICATE => "eUICC Certificate",
            PROFILE => "Profile",
            PROFILE_ICCID => "Profile ICCID",
            PROFILE_TYPE => "Profile Type",
            MATCHING_ID => "Matching ID",
            CONFIRMATION_CODE => "Confirmation Code",
            SMDP => "SM-DP+",
            SMDP_ADDRESS => "SM-DP+ Address",
            SECURITY_CONFIGURATION => "Security configuration",
            SPECIFICATION_VERSION_NUMBER => "Specification Version Number",
            SMDP_CERTIFICATE => "SM-DP+ Certificate",
            DOWNLOAD_ORDER => "Download order",
            SMDS => "SM-DS",
            SMDS_ADDRESS => "SM-DS Address",
            TRANSACTION_ID => "TransactionId",
            CI_PUBLIC_KEY => "CI Public Key",
            _ => return None,
        })
    }
}

/// Reason codes: what went wrong.
pub mod reason {
    // 1 Access error
    pub const UNKNOWN_FUNCTION_REQUESTER: &str = "1.1";
    pub const NOT_ALLOWED: &str = "1.2";
    // 2 Format error
    pub const INVALID: &str = "2.1";
    pub const MANDATORY_ELEMENT_MISSING: &str = "2.2";
    pub const CONDITIONAL_ELEMENT_MISSING: &str = "2.3";
    // 3 Conditions of use not satisfied
    pub const NOT_SUPPORTED: &str = "3.1";
    pub const MAXIMUM_SIZE_EXCEEDED: &str = "3.2";
    pub const ALREADY_IN_USE: &str = "3.3";
    pub const UNAVAILABLE: &str = "3.7";
    pub const REFUSED: &str = "3.8";
    pub const UNKNOWN: &str = "3.9";
    pub const INVALID_ASSOCIATION: &str = "3.10";
    // 4 Processing error
    pub const EXECUTION_ERROR: &str = "4.2";
    pub const NO_ELIGIBLE_PROFILE: &str = "4.3";
    pub const INSUFFICIENT_MEMORY: &str = "4.8";
    pub const TIME_TO_LIVE_EXPIRED: &str = "4.10";
    // 5 Transport error
    pub const INACCESSIBLE: &str = "5.1";
    pub const TIMEOUT: &str = "5.2";
    // 6 Security error
    pub const VERIFICATION_FAILED: &str = "6.1";
    pub const DECRYPTION_FAILED: &str = "6.2";
    pub const EXPIRED: &str = "6.3";
    pub const MAX_RETRIES_EXCEEDED: &str = "6.4";

    /// Human-readable name of a reason code.
    pub fn name(code: &str) -> Option<&'static str> {
        Some(match code {
            UNKNOWN_FUNCTION_REQUESTER => "Unknown Function Requester",
            NOT_ALLOWED => "Not Allowed (Authorisation)",
            INVALID => "Invalid",
            MANDATORY_ELEMENT_MISSING => "Mandatory Element Missing",
            CONDITIONAL_ELEMENT_MISSING => "Conditional Element Missing",
            NOT_SUPPORTED => "Not Supported",
            MAXIMUM_SIZE_EXCEEDED => "Maximum Size Exceeded",
            ALREADY_IN_USE => "Already in Use",
            UNAVAILABLE => "Unavailable",
            REFUSED => "Refused",
            UNKNOWN => "Unknown",
            INVALID_ASSOCIATION => "Invalid Association",
            EXECUTION_ERROR => "Execution Error",
            NO_ELIGIBLE_PROFILE => "No Eligible Profile",
            INSUFFICIENT_MEMORY => "Insufficient Memory",
            TIME_TO_LIVE_EXPIRED => "Time to Live Expired",
            INACCESSIBLE => "Inaccessible",
            TIMEOUT => "Timeout",
            VERIFICATION_FAILED => "Verification Failed",
            DECRYPTION_FAILED => "Decryption Failed",
            EXPIRED => "Expired",
            MAX_RETRIES_EXCEEDED => "Maximum number of retries exceeded",
            _ => return None,
        })
    }
}

/// A (subject code, reason code) pair with the condition text of the SGP.22 function tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusCode {
    pub subject: &'static str,
    pub reason: &'static str,
    pub description: &'static str,
}

const fn sc(subject: &'static str, reason: &'static str, description: &'static str) -> StatusCode {
    StatusCode {
        subject,
        reason,
        description,
    }
}

/// The error conditions of the ES9+ functions.
pub mod es9p {
    use super::{reason as r, sc, subject as s, StatusCode};

    // InitiateAuthentication (SGP.22 §6.5.2.6)
    pub const INVALID_SMDP_ADDRESS: StatusCode =
        sc(s::SMDP_ADDRESS, r::REFUSED, "Invalid SM-DP+ Address");
    pub const SECURITY_CONFIGURATION_NOT_SUPPORTED: StatusCode = sc(
        s::SECURITY_CONFIGURATION,
        r::NOT_SUPPORTED,
        "None of the proposed Public Key Identifiers is supported by the SM-DP+",
    );
    pub const SVN_NOT_SUPPORTED: StatusCode = sc(
        s::SPECIFICATION_VERSION_NUMBER,
        r::NOT_SUPPORTED,
        "The Specification Version Number indicated by the eUICC is not supported by the SM-DP+",
    );
    pub const NO_SUITABLE_CERTIFICATE: StatusCode = sc(
        s::SMDP_CERTIFICATE,
        r::UNAVAILABLE,
        "The SM-DP+ has no CERT.DPauth.ECDSA signed by one of the CI Public Keys supported by the eUICC",
    );

    // AuthenticateClient (SGP.22 §6.5.2.8)
    pub const EUM_CERTIFICATE_INVALID: StatusCode = sc(
        s::EUM_CERTIFICATE,
        r::VERIFICATION_FAILED,
        "CERT.EUM.ECDSA signature is invalid",
    );
    pub const EUM_CERTIFICATE_EXPIRED: StatusCode =
        sc(s::EUM_CERTIFICATE, r::EXPIRED, "CERT.EUM.ECDSA has expired");
    pub const EUICC_CERTIFICATE_INVALID: StatusCode = sc(
        s::EUICC_CERTIFICATE,
        r::VERIFICATION_FAILED,
        "CERT.EUICC.ECDSA signature is invalid",
    );
    pub const EUICC_CERTIFICATE_EXPIRED: StatusCode = sc(
        s::EUICC_CERTIFICATE,
        r::EXPIRED,
        "CERT.EUICC.ECDSA has expired",
    );
    pub const EUICC_SIGNATURE_INVALID: StatusCode = sc(
        s::EUICC,
        r::VERIFICATION_FAILED,
        "eUICC signature is invalid",
    );
    pub const MATCHING_ID_REFUSED: StatusCode = sc(
        s::MATCHING_ID,
        r::REFUSED,
        "MatchingID (AC_Token or EventID) is refused",
    );
    pub const EID_REFUSED: StatusCode =
        sc(s::EID, r::REFUSED, "EID doesn't match the expected value");
    pub const NO_ELIGIBLE_PROFILE: StatusCode = sc(
        s::PROFILE_TYPE,
        r::NO_ELIGIBLE_PROFILE,
        "No eligible Profile for this eUICC/Device",
    );
    pub const PROFILE_NOT_RELEASED: StatusCode = sc(
        s::PROFILE,
        r::NOT_ALLOWED,
        "Profile has not yet been released",
    );
    pub const CI_PUBLIC_KEY_UNKNOWN: StatusCode =
        sc(s::CI_PUBLIC_KEY, r::UNKNOWN, "Unknown CI Public Key");
    pub const TRANSACTION_ID_UNKNOWN: StatusCode = sc(
        s::TRANSACTION_ID,
        r::UNKNOWN,
        "The RSP session identified by the TransactionID is unknown",
    );

    // GetBoundProfilePackage (SGP.22 §6.5.2.7)
    pub const CONFIRMATION_CODE_MISSING: StatusCode = sc(
        s::CONFIRMATION_CODE,
        r::MANDATORY_ELEMENT_MISSING,
        "Confirmation Code is missing",
    );
    pub const CONFIRMATION_CODE_REFUSED: StatusCode = sc(
        s::CONFIRMATION_CODE,
        r::REFUSED,
        "Confirmation Code is refused",
    );
    pub const CONFIRMATION_CODE_RETRIES_EXCEEDED: StatusCode = sc(
        s::CONFIRMATION_CODE,
        r::MAX_RETRIES_EXCEEDED,
        "The maximum number of retries for the Confirmation Code has been exceeded",
    );
    pub const BPP_UNAVAILABLE: StatusCode = sc(
        s::PROFILE,
        r::UNAVAILABLE,
        "The BPP is not available for a new binding",
    );

    // CancelSession (SGP.22 §6.5.2.10)
    pub const INVALID_SMDP_OID: StatusCode = sc(
        s::SMDP,
        r::INVALID_ASSOCIATION,
        "The provided SM-DP+ OID is invalid",
    );
}
