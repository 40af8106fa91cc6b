//! SM-DP+ domain core (GSMA SGP.22 v2.2.2), sans-I/O.
//!
//! * [`state`]: the Profile state machine (SGP.22 §3.1 / §5.3).
//! * [`es2p`]: ES2+ JSON bodies (SGP.22 §5.3, binding §6.5/§6.6).
//! * [`order`]: download orders and the pure rules that drive them
//!   (EID binding, matchingId, Confirmation Code, retry limits, expiry).
//! * [`session`]: RSP (ES9+) session records holding only sealed secrets.
//! * [`outbox`]: ES2+.HandleDownloadProgressInfo callbacks as outbox records.
//! * [`seal`]: encryption at rest of session secrets and profile packages.
//! * [`store`]: the [`SmdpStore`] persistence trait (implemented by `store`).
//!
//! Time and randomness are injected: nothing here reads a clock or an OS RNG.

pub mod codes;
pub mod es2p;
pub mod es9p;
pub mod ids;
pub mod inventory;
pub mod order;
pub mod outbox;
/// Secrets at rest (the shared `seal` crate).
pub use ::seal;
pub mod session;
pub mod state;
pub mod store;
pub mod time;

pub use codes::StatusCode;
pub use ids::{Eid, Iccid, MatchingId, TransactionId};
pub use order::{OrderPolicy, OrderRecord, ProfileRecord};
pub use seal::{KeyStore, SealError, SealedBlob, SoftwareKeyStore};
pub use session::{SessionRecord, SessionState};
pub use state::ProfileState;
pub use store::SmdpStore;
pub use time::{Clock, UnixMillis};

/// An SGP.22 function execution failure: a status code plus a contextual
/// message (SGP.22 §5.2.6 `statusCodeData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    pub code: StatusCode,
    pub message: String,
}

impl FunctionError {
    pub fn new(code: StatusCode, message: impl Into<String>) -> Self {
        FunctionError {
            code,
            message: message.into(),
        }
    }

    /// The JSON `statusCodeData` for this failure.
    pub fn status_code_data(&self) -> es2p::StatusCodeData {
        es2p::StatusCodeData::from(self)
    }
}

/// Errors of the SM-DP+ core and of its storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The function was executed and refused with an SGP.22 status code.
    #[error("SGP.22 {}: {}", .0.code, .0.message)]
    Rejected(FunctionError),
    /// The storage back end failed (maps to 1.2/4.2 execution error).
    #[error("storage error: {0}")]
    Storage(String),
    /// A unique key (ICCID, transaction ID, ...) already exists.
    #[error("duplicate: {0}")]
    Duplicate(String),
    /// Sealing or opening a secret failed.
    #[error(transparent)]
    Seal(#[from] SealError),
}

impl Error {
    /// Shorthand for an SGP.22 rejection.
    pub fn rejected(code: StatusCode, message: impl Into<String>) -> Self {
        Error::Rejected(FunctionError::new(code, message))
    }

    /// The SGP.22 status code to report for this error: the rejection code,
    /// or 1.2/4.2 "Execution error" for internal failures.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Error::Rejected(fe) => fe.code,
            _ => codes::PROVIDER_EXECUTION_ERROR,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<&FunctionError> for rsp::es9p::StatusCodeData {
    fn from(e: &FunctionError) -> Self {
        rsp::es9p::StatusCodeData {
            subject_code: e.code.subject.to_string(),
            reason_code: e.code.reason.to_string(),
            subject_identifier: None,
            message: Some(e.message.clone()),
        }
    }
}
