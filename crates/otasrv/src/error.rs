//! Errors of the OTA server service.

/// Everything the service can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The card is not known to the server.
    #[error("unknown card {0}")]
    UnknownCard(String),
    /// The card is known but has no OTA key set: nothing can be secured for it.
    #[error("card {0} has no OTA key set (import KIc/KID keys first)")]
    NoKeySet(String),
    /// No catalogue item with this name.
    #[error("unknown catalogue item {0}")]
    UnknownItem(String),
    /// No campaign with this name.
    #[error("unknown campaign {0}")]
    UnknownCampaign(String),
    /// Already exists.
    #[error("duplicate: {0}")]
    Duplicate(String),
    /// Bad input (addresses, key lengths, hex, ...).
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The TS 102 225 counter of a card's TAR reached its 40-bit maximum.
    #[error("counter exhausted for card {0}")]
    CounterExhausted(String),
    /// Securing or parsing a packet failed.
    #[error("OTA: {0}")]
    Ota(#[from] ota::OtaError),
    /// SMPP link failure.
    #[error("SMPP: {0}")]
    Smpp(#[from] smpp::SmppError),
    /// Database failure.
    #[error("storage: {0}")]
    Storage(String),
    /// The SMSC refused an exchange's command packet with a permanent error: nothing went
    /// to the card (a counter value was still used up).
    #[error("the SMSC refused the command packet for card {address}: {status}")]
    Refused {
        /// The card.
        address: String,
        /// The submit_sm_resp status.
        status: smpp::CommandStatus,
    },
    /// No PoR for an exchange's packet within its timeout. The packet may still have reached
    /// (or may still reach) the card and been executed: only its PoR is missing.
    #[error(
        "no PoR from card {address} for counter {counter} in time \
         (the command packet may still reach the card)"
    )]
    NoPor {
        /// The card.
        address: String,
        /// The counter value of the unanswered packet.
        counter: u64,
    },
    /// The service has stopped (or is stopping): the request was not served.
    #[error("the OTA service is stopped")]
    Stopped,
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;
