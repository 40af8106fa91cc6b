//! RSP PKI of GSMA SGP.22 v2.2.2 §4.5: EC keys on NIST P-256 and brainpoolP256r1, ECDSA-SHA256
//! signatures (BSI TR-03111 plain `r || s` in the RSP messages, DER in X.509), ECKA-DH, X.509
//! certificate parsing, RSP chain validation (CI → EUM → eUICC, CI → SM-DP+) and minting of test
//! PKIs shaped like GSMA SGP.26.
//!
//! Everything is pure: time (`now`, unix seconds) and randomness are passed in. The only file I/O
//! is [`mint::TestPki::write_to_dir`].

mod any_oid;
mod cert;
mod curve;
mod error;
mod keys;
pub mod mint;
mod role;
mod sig;
mod validate;

pub use any_oid::Oid;
pub use cert::{BasicConstraints, Certificate, KeyUsage, Name};
pub use const_oid::ObjectIdentifier;
pub use curve::Curve;
pub use error::PkiError;
pub use keys::{PrivateKey, PublicKey};
pub use role::{oid, RspRole};
pub use sig::{der_to_plain, plain_to_der};
pub use validate::{
    verify_dp_certificate, verify_euicc_chain, verify_euicc_chain_cached, EuiccIdentity,
    EumSignatureCache,
};

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, PkiError>;
