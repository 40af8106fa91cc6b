use crate::RspRole;

/// Errors of the RSP PKI.
///
/// Chain errors name the certificate they concern (by its RSP role) so that callers can map them
/// to SGP.22 v2.2.2 status codes, e.g. for ES9+ AuthenticateClient (§5.6.3): EUM certificate
/// (subject 8.1.2) or eUICC certificate (8.1.3) "verification failed" (6.1) / "expired" (6.3),
/// and "unknown CI public key" (8.11.1 / 3.9).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkiError {
    /// Input that does not decode (DER, PEM, EID syntax ...).
    #[error("malformed input: {0}")]
    Malformed(String),
    /// Not a point on the curve, or not an uncompressed SEC1 point.
    #[error("invalid EC public key")]
    InvalidPoint,
    /// Private scalar out of range or inconsistent with its public key.
    #[error("invalid EC private key")]
    InvalidKey,
    /// Curve (or key algorithm) other than P-256 / brainpoolP256r1.
    #[error("unsupported curve or key algorithm {0}")]
    UnsupportedCurve(String),
    /// Signature algorithm other than ecdsa-with-SHA256.
    #[error("unsupported signature algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// Keys / certificates of one operation or chain are on different curves
    /// (SGP.22 §4.5.2.2: a chain SHALL use one curve).
    #[error("curve mismatch")]
    CurveMismatch,
    /// A signature over a message does not verify (or is not a valid encoding).
    #[error("signature verification failed")]
    BadSignature,
    /// The signature of the given certificate does not verify under its issuer's key.
    #[error("{0:?} certificate: signature verification failed")]
    InvalidCertSignature(RspRole),
    /// No trusted CI certificate matches the chain's authority key identifier.
    #[error("unknown CI public key")]
    UnknownCi,
    /// Authority key identifier / issuer name does not match the issuing certificate.
    #[error("{0:?} certificate: issuer does not match")]
    IssuerMismatch(RspRole),
    #[error("{0:?} certificate expired")]
    Expired(RspRole),
    #[error("{0:?} certificate not yet valid")]
    NotYetValid(RspRole),
    /// Certificate policy (id-rspRole-*) is not the one required.
    #[error("wrong certificate role: expected {expected:?}, found {found:?}")]
    WrongRole {
        expected: RspRole,
        found: Option<RspRole>,
    },
    /// keyUsage / extendedKeyUsage / basicConstraints not as the role requires.
    #[error("{0:?} certificate: key usage or basic constraints not as required")]
    KeyUsage(RspRole),
    /// A critical extension this profile does not know (RFC 5280 §4.2).
    #[error("unsupported critical extension {0}")]
    UnsupportedCriticalExtension(String),
    /// The eUICC's EID is not inside the EUM's permitted range (name constraints).
    #[error("EID {0} outside the EUM's permitted range")]
    EidOutOfRange(String),
}

impl From<tlv::Error> for PkiError {
    fn from(e: tlv::Error) -> Self {
        PkiError::Malformed(e.to_string())
    }
}

impl From<der::Error> for PkiError {
    fn from(e: der::Error) -> Self {
        PkiError::Malformed(e.to_string())
    }
}
