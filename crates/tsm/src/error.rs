//! Errors of the central TSM. Each has an HTTP status and a stable error code (the `code` of
//! the API's error body, [`crate::api::ErrorBody`]). Cross-SP access is answered exactly like
//! an unknown object, so an SP cannot learn whether another SP's service exists on an SE.

use apdu::StatusWord;

pub type Result<T, E = TsmError> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsmError {
    /// Malformed request (bad JSON, bad field).
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// Request body over the limit.
    #[error("request too large (limit {limit} bytes)")]
    TooLarge { limit: usize },
    /// No or unknown client certificate.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    #[error("unknown MSI")]
    UnknownMsi,
    #[error("unknown SE")]
    UnknownSe,
    /// Unknown service (or another SP's: indistinguishable on purpose).
    #[error("unknown service")]
    UnknownService,
    /// Unknown security domain (or another SP's).
    #[error("unknown security domain")]
    UnknownSd,
    /// Unknown conversation (or another SP's).
    #[error("no open conversation with this identifier")]
    NoConversation,
    #[error("the conversation has expired")]
    ConversationExpired,
    #[error("the conversation has ended")]
    ConversationEnded,
    /// A script over the conversation's limits (number of scripts or script size).
    #[error("script limit exceeded: {0}")]
    ScriptLimit(String),
    /// The operation is not allowed in the service's current state.
    #[error("service is {state}: {operation} not allowed")]
    InvalidState {
        state: &'static str,
        operation: &'static str,
    },
    /// The eligibility check before an install failed; nothing was created.
    #[error("not eligible: {0}")]
    NotEligible(String),
    /// The same idempotency key with a different request.
    #[error("idempotency key already used for a different request")]
    IdempotencyConflict,
    /// The first request with this idempotency key is still executing.
    #[error("a request with this idempotency key is in progress")]
    IdempotencyInProgress,
    /// The SE answered a command with an error status.
    #[error("the SE answered {sw} to {step}")]
    Se { step: String, sw: StatusWord },
    /// The SE's channel failed in the middle of a flow or script (what was done is recorded).
    #[error("SE unreachable: {0}")]
    Unreachable(String),
    /// The SE is not connected: nothing was sent (service requests queue on this).
    #[error("SE offline: {0}")]
    Offline(String),
    /// The secure channel with a security domain could not be opened.
    #[error("secure channel: {0}")]
    SecureChannel(String),
    /// The TSM no longer holds keys for this SD (the SP rotated them): pre-protected scripts only.
    #[error("the SP has rotated this security domain's keys; send pre-protected scripts")]
    KeysRotated,
    /// The TSM stopped while this request was executing: what reached the SE is in the audit
    /// log and the service state; the request is not run again.
    #[error("interrupted: {0}")]
    Interrupted(String),
    /// The SE's bearer is one this TSM cannot deliver over (yet).
    #[error("not supported: {0}")]
    NotSupported(String),
    #[error("already exists: {0}")]
    Duplicate(String),
    #[error("storage: {0}")]
    Storage(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl TsmError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> TsmError {
        TsmError::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// The HTTP status of the SP API answer.
    pub fn http_status(&self) -> u16 {
        use TsmError::*;
        match self {
            Invalid { .. } => 400,
            Unauthenticated(_) => 401,
            UnknownMsi | UnknownSe | UnknownService | UnknownSd | NoConversation => 404,
            ConversationEnded
            | InvalidState { .. }
            | NotEligible(_)
            | IdempotencyInProgress
            | Duplicate(_)
            | KeysRotated => 409,
            ConversationExpired => 410,
            TooLarge { .. } => 413,
            ScriptLimit(_) | IdempotencyConflict => 422,
            Se { .. } | SecureChannel(_) => 502,
            Unreachable(_) | Offline(_) => 503,
            Storage(_) | Internal(_) | Interrupted(_) => 500,
            NotSupported(_) => 501,
        }
    }

    /// The stable error code of the SP API.
    pub fn code(&self) -> &'static str {
        use TsmError::*;
        match self {
            Invalid { .. } => "malformedRequest",
            TooLarge { .. } => "requestTooLarge",
            Unauthenticated(_) => "unauthenticated",
            UnknownMsi => "unknownMsi",
            UnknownSe => "unknownSe",
            UnknownService => "unknownService",
            UnknownSd => "unknownSecurityDomain",
            NoConversation => "unknownConversation",
            ConversationExpired => "conversationExpired",
            ConversationEnded => "conversationEnded",
            ScriptLimit(_) => "scriptLimitExceeded",
            InvalidState { .. } => "invalidServiceState",
            NotEligible(_) => "notEligible",
            IdempotencyConflict => "idempotencyKeyReused",
            IdempotencyInProgress => "idempotentRequestInProgress",
            Se { .. } => "seError",
            Unreachable(_) => "seUnreachable",
            Offline(_) => "seOffline",
            SecureChannel(_) => "secureChannelFailed",
            KeysRotated => "keysRotated",
            NotSupported(_) => "notSupported",
            Duplicate(_) => "duplicate",
            Interrupted(_) => "requestInterrupted",
            Storage(_) => "storageError",
            Internal(_) => "internalError",
        }
    }

    /// The status word, for errors the SE reported.
    pub fn sw(&self) -> Option<StatusWord> {
        match self {
            TsmError::Se { sw, .. } => Some(*sw),
            _ => None,
        }
    }
}
