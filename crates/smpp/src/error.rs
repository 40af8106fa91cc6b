//! The crate's error type; every protocol failure carries the SMPP command_status it maps to.

use crate::status::CommandStatus;

/// Errors of the codec, the session and the network edges.
#[derive(Debug, thiserror::Error)]
pub enum SmppError {
    /// command_length below the 16-octet header, above the configured limit, or not
    /// matching the body (ESME_RINVCMDLEN).
    #[error("invalid command_length {0}")]
    InvalidCommandLength(u32),
    /// A command_id this implementation does not know (ESME_RINVCMDID).
    #[error("invalid command_id 0x{0:08X}")]
    InvalidCommandId(u32),
    /// A mandatory field is malformed; `status` is the code the receiver answers with.
    #[error("{field}: {reason} ({status})")]
    Field {
        /// The field's name in the specification.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
        /// The command_status to answer with.
        status: CommandStatus,
    },
    /// The optional parameter (TLV) part is malformed (ESME_RINVOPTPARSTREAM) or a known
    /// TLV has the wrong length (ESME_RINVPARLEN).
    #[error("optional parameter 0x{tag:04X}: {reason} ({status})")]
    Tlv {
        /// The TLV tag (0 when the stream is cut inside a tag).
        tag: u16,
        /// What is wrong.
        reason: &'static str,
        /// ESME_RINVOPTPARSTREAM or ESME_RINVPARLEN.
        status: CommandStatus,
    },
    /// A value cannot be encoded (too long for its field, non-Latin-1 text, ...).
    #[error("cannot encode {0}")]
    Encode(&'static str),
    /// The peer answered with an error status.
    #[error("peer answered {0}")]
    Status(CommandStatus),
    /// The operation is not possible in the session's current state (ESME_RINVBNDSTS).
    #[error("not possible in this session state: {0}")]
    State(&'static str),
    /// A client reference given twice.
    #[error("client reference {0} is already queued")]
    DuplicateReference(u64),
    /// A TS 23.040 / TS 31.115 error from the OTA layer.
    #[error(transparent)]
    Ota(#[from] ota::OtaError),
    /// A socket error in the network adapters.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The session or simulator task is gone.
    #[error("session closed")]
    Closed,
    /// A response did not arrive in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
}

impl SmppError {
    /// The command_status a receiver answers this error with.
    pub fn command_status(&self) -> CommandStatus {
        match self {
            SmppError::InvalidCommandLength(_) => CommandStatus::ESME_RINVCMDLEN,
            SmppError::InvalidCommandId(_) => CommandStatus::ESME_RINVCMDID,
            SmppError::Field { status, .. } | SmppError::Tlv { status, .. } => *status,
            SmppError::Status(s) => *s,
            SmppError::State(_) => CommandStatus::ESME_RINVBNDSTS,
            SmppError::Encode(_)
            | SmppError::DuplicateReference(_)
            | SmppError::Ota(_)
            | SmppError::Io(_)
            | SmppError::Closed
            | SmppError::Timeout(_) => CommandStatus::ESME_RSYSERR,
        }
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, SmppError>;
