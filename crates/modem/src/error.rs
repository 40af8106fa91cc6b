//! The modem's errors.

use apdu::StatusWord;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ModemError>;

/// What can go wrong between the radio side and the card.
#[derive(Debug, thiserror::Error)]
pub enum ModemError {
    /// The card link failed, or an APDU could not be built or parsed.
    #[error("card: {0}")]
    Apdu(#[from] apdu::ApduError),
    /// A TPDU, UDH or secured packet framing error.
    #[error("sms: {0}")]
    Ota(#[from] ota::OtaError),
    /// The card answered a toolkit command with an error status word.
    #[error("card refused {command} with {sw}")]
    Card {
        /// Which command.
        command: &'static str,
        /// The card's status word.
        sw: StatusWord,
    },
    /// A proactive command or capability object the terminal cannot decode.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// Too many concatenated messages are being reassembled (TS 23.040 §9.2.3.24.1 leaves
    /// the limit to the receiving entity).
    #[error("reassembly buffers full")]
    BuffersFull,
}
