//! SGP.22 status codes: subject codes and reason codes (SGP.22 §6.5.1.4, inherited from the
//! SGP.02 code tables) and the pairs each ES9+ function returns (SGP.22 §6.5.2.6–6.5.2.10).
//! In JSON they travel as strings in `header.functionExecutionStatus.statusCodeData`.

/// Declares code constants and their `name` lookup from one list.
macro_rules! code_table {
    ($($konst:ident = $code:literal => $name:literal,)*) => {
        $(pub const $konst: &str = $code;)*

        /// Human-readable name of a code.
        pub fn name(code: &str) -> Option<&'static str> {
            match code {
                $($code => Some($name),)*
                _ => None,
            }
        }
    };
}

/// Subject codes: what the error is about.
pub mod subject {
    code_table! {
        EUICC = "8.1" => "eUICC",
        EID = "8.1.1" => "EID",
        EUM_CERTIFICATE = "8.1.2" => "EUM Certificate",
        EUICC_CERTIFICATE = "8.1.3" => "eUICC Certificate",
        PROFILE = "8.2" => "Profile",
        PROFILE_ICCID = "8.2.1" => "Profile ICCID",
        PROFILE_TYPE = "8.2.5" => "Profile Type",
        MATCHING_ID = "8.2.6" => "Matching ID",
        CONFIRMATION_CODE = "8.2.7" => "Confirmation Code",
        SMDP = "8.8" => "SM-DP+",
        SMDP_ADDRESS = "8.8.1" => "SM-DP+ Address",
        SECURITY_CONFIGURATION = "8.8.2" => "Security configuration",
        SPECIFICATION_VERSION_NUMBER = "8.8.3" => "Specification Version Number",
        SMDP_CERTIFICATE = "8.8.4" => "SM-DP+ Certificate",
        DOWNLOAD_ORDER = "8.8.5" => "Download order",
        SMDS = "8.9" => "SM-DS",
        SMDS_ADDRESS = "8.9.1" => "SM-DS Address",
        TRANSACTION_ID = "8.10.1" => "TransactionId",
        CI_PUBLIC_KEY = "8.11.1" => "CI Public Key",
    }
}

/// Reason codes: what went wrong.
pub mod reason {
    code_table! {
        // 1 Access error
        UNKNOWN_FUNCTION_REQUESTER = "1.1" => "Unknown Function Requester",
        NOT_ALLOWED = "1.2" => "Not Allowed (Authorisation)",
        // 2 Format error
        INVALID = "2.1" => "Invalid",
        MANDATORY_ELEMENT_MISSING = "2.2" => "Mandatory Element Missing",
        CONDITIONAL_ELEMENT_MISSING = "2.3" => "Conditional Element Missing",
        // 3 Conditions of use not satisfied
        NOT_SUPPORTED = "3.1" => "Not Supported",
        MAXIMUM_SIZE_EXCEEDED = "3.2" => "Maximum Size Exceeded",
        ALREADY_IN_USE = "3.3" => "Already in Use",
        UNAVAILABLE = "3.7" => "Unavailable",
        REFUSED = "3.8" => "Refused",
        UNKNOWN = "3.9" => "Unknown",
        INVALID_ASSOCIATION = "3.10" => "Invalid Association",
        // 4 Processing error
        EXECUTION_ERROR = "4.2" => "Execution Error",
        NO_ELIGIBLE_PROFILE = "4.3" => "No Eligible Profile",
        INSUFFICIENT_MEMORY = "4.8" => "Insufficient Memory",
        TIME_TO_LIVE_EXPIRED = "4.10" => "Time to Live Expired",
        // 5 Transport error
        INACCESSIBLE = "5.1" => "Inaccessible",
        TIMEOUT = "5.2" => "Timeout",
        // 6 Security error
        VERIFICATION_FAILED = "6.1" => "Verification Failed",
        DECRYPTION_FAILED = "6.2" => "Decryption Failed",
        EXPIRED = "6.3" => "Expired",
        MAX_RETRIES_EXCEEDED = "6.4" => "Maximum number of retries exceeded",
    }
}

/// A (subject code, reason code) pair with the condition text of the SGP.22 function tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusCode {
    pub subject: &'static str,
    pub reason: &'static str,
    pub description: &'static str,
}

impl StatusCode {
    pub const fn new(
        subject: &'static str,
        reason: &'static str,
        description: &'static str,
    ) -> StatusCode {
        StatusCode {
            subject,
            reason,
            description,
        }
    }
}

impl std::fmt::Display for StatusCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.subject, self.reason)
    }
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
    pub const DOWNLOAD_ORDER_EXPIRED: StatusCode = sc(
        s::DOWNLOAD_ORDER,
        r::TIME_TO_LIVE_EXPIRED,
        "The Download order has expired",
    );
    pub const DOWNLOAD_RETRIES_EXCEEDED: StatusCode = sc(
        s::DOWNLOAD_ORDER,
        r::MAX_RETRIES_EXCEEDED,
        "The maximum number of retries for the Profile download order has been exceeded",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_tables() {
        // SGP.22 §6.5.1.4 / SGP.02 code tables.
        assert_eq!(subject::name(subject::EUICC), Some("eUICC"));
        assert_eq!(subject::name("8.11.1"), Some("CI Public Key"));
        assert_eq!(
            reason::name(reason::INVALID_ASSOCIATION),
            Some("Invalid Association")
        );
        assert_eq!(
            reason::name("6.4"),
            Some("Maximum number of retries exceeded")
        );
        assert_eq!(subject::name("9.9"), None);
        assert_eq!(reason::name(""), None);
    }
}
