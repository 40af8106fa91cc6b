//! ISO/IEC 7816-4 command and response APDUs, sans-I/O.
//!
//! * [`Command`]: parse/encode all APDU cases of ISO/IEC 7816-3 §12.1 (1, 2S, 3S, 4S, 2E, 3E, 4E).
//! * [`Response`] and [`StatusWord`]: response trailer, named status words (ISO/IEC 7816-4 §5.6).
//! * [`channel`]: logical channel coding in CLA (ISO/IEC 7816-4 §5.4.1) and MANAGE CHANNEL.
//! * [`es10`]: SGP.22 §5.7.2 ES10 transport (STORE DATA chaining to the ISD-R).
//! * [`transport`]: a host-side [`CardTransport`] trait and the helpers an LPA needs
//!   (GET RESPONSE / 6Cxx handling, channel management, SELECT, ES10 exchanges).

pub mod channel;
pub mod command;
pub mod es10;
pub mod status;
pub mod transport;

pub use channel::{channel_of, close_channel_command, open_channel_command, with_channel};
pub use command::{Case, Command};
pub use es10::{store_data_blocks, store_data_blocks_sized, StoreDataChain, ECASD_AID, ISD_R_AID};
pub use status::{Response, StatusWord};
pub use transport::{
    close_channel, es10_exchange, open_channel, select_aid, select_command, transceive,
    transceive_ok, CardTransport, TransportError,
};

/// Errors of this crate. Codec errors map to the ISO/IEC 7816-4 status word a card answers with
/// ([`ApduError::status_word`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApduError {
    /// Fewer than 4 header bytes (command) or 2 trailer bytes (response).
    #[error("APDU truncated ({0} bytes)")]
    Truncated(usize),
    /// The body length does not match any APDU case (ISO/IEC 7816-3 §12.1.3).
    #[error("wrong length: body of {body} bytes does not match Lc/Le")]
    WrongLength { body: usize },
    /// Extended Lc = 0000 (ISO/IEC 7816-4 §5.1: Lc is never zero).
    #[error("Lc field is zero")]
    LcZero,
    /// Extended length field misuse (e.g. 6-byte APDU `00` + one byte).
    #[error("extended length misused")]
    ExtendedMisuse,
    /// Command data longer than 65535 bytes cannot be encoded.
    #[error("command data too long ({0} bytes)")]
    DataTooLong(usize),
    /// Le larger than 65536.
    #[error("Le too large ({0})")]
    LeTooLarge(usize),
    /// CLA byte cannot carry the requested logical channel or is not an ISO/GP class.
    #[error("class byte {0:#04x} not supported")]
    ClaNotSupported(u8),
    /// Logical channel number outside 0..=19.
    #[error("logical channel {0} out of range 0..=19")]
    BadChannel(u8),
    /// The card answered with an error status word.
    #[error("card returned status {0}")]
    Status(StatusWord),
    /// The card's answer was not what the protocol expects.
    #[error("unexpected response: {0}")]
    UnexpectedResponse(&'static str),
    /// The reader/transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl ApduError {
    /// The status word a card returns for this error.
    pub fn status_word(&self) -> StatusWord {
        match self {
            ApduError::Truncated(_)
            | ApduError::WrongLength { .. }
            | ApduError::LcZero
            | ApduError::ExtendedMisuse
            | ApduError::DataTooLong(_)
            | ApduError::LeTooLarge(_) => StatusWord::WRONG_LENGTH,
            ApduError::ClaNotSupported(_) => StatusWord::CLA_NOT_SUPPORTED,
            ApduError::BadChannel(_) => StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED,
            ApduError::Status(sw) => *sw,
            ApduError::UnexpectedResponse(_) | ApduError::Transport(_) => {
                StatusWord::NO_PRECISE_DIAGNOSIS
            }
        }
    }
}

pub type Result<T> = std::result::Result<T, ApduError>;
