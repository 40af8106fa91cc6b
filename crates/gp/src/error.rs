//! The crate's error type and its mapping to GlobalPlatform status words.

use apdu::{ApduError, StatusWord};

/// The shared primitives' errors: key material → [`GpError::BadKey`], block and ICV lengths →
/// [`GpError::WrongLength`], bad padding → [`GpError::SecurityStatus`] (`6982`).
impl From<symcrypto::Error> for GpError {
    fn from(e: symcrypto::Error) -> GpError {
        match e {
            symcrypto::Error::BadKey(what) => GpError::BadKey(what),
            symcrypto::Error::BadIcv(_) => GpError::WrongLength("ICV is not one cipher block"),
            symcrypto::Error::NotWholeBlocks(16) => {
                GpError::WrongLength("AES-CBC data not a multiple of 16")
            }
            symcrypto::Error::NotWholeBlocks(_) => {
                GpError::WrongLength("3DES data not a multiple of 8")
            }
            symcrypto::Error::BadPadding => GpError::SecurityStatus("bad padding"),
        }
    }
}

/// Errors of the `gp` crate. Card-side failures carry the status word GlobalPlatform prescribes
/// ([`GpError::status_word`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpError {
    /// A C-MAC did not verify, secure messaging was missing where the security level requires it,
    /// or decrypted data had bad padding. The card answers `6982` and closes the session
    /// (GP CS v2.3.1 §10.2.3, Amd D §6.2.4).
    #[error("security status not satisfied: {0}")]
    SecurityStatus(&'static str),
    /// The host cryptogram of EXTERNAL AUTHENTICATE did not verify (`6300`, GP CS §11.9.3.2).
    #[error("authentication of host cryptogram failed")]
    HostCryptogram,
    /// Host side: the card cryptogram of the INITIALIZE UPDATE response did not verify.
    #[error("card cryptogram does not verify")]
    CardCryptogram,
    /// Host side: a pseudo-random card challenge is not the one the card's sequence counter
    /// and AID give (Amd D §6.2.2.1).
    #[error("card challenge is not the expected pseudo-random value")]
    CardChallenge,
    /// Host side: the R-MAC of a response did not verify.
    #[error("R-MAC does not verify")]
    ResponseMac,
    /// No key set with this key version number (`6A88`, GP CS §11.8.3.2).
    #[error("referenced data not found: key version {0:#04x}")]
    KeyNotFound(u8),
    /// The command is not allowed in the current state, e.g. EXTERNAL AUTHENTICATE without a
    /// preceding INITIALIZE UPDATE, or an exhausted sequence counter (`6985`).
    #[error("conditions of use not satisfied: {0}")]
    ConditionsNotSatisfied(&'static str),
    /// P1/P2 not allowed (`6A86`).
    #[error("incorrect P1/P2: {0}")]
    IncorrectP1P2(&'static str),
    /// Lc/data length wrong for the command (`6700`).
    #[error("wrong length: {0}")]
    WrongLength(&'static str),
    /// Malformed command or response data (`6A80`).
    #[error("incorrect data: {0}")]
    IncorrectData(&'static str),
    /// A key check value did not match (`6A80`).
    #[error("key check value mismatch")]
    KcvMismatch,
    /// Key material of the wrong length or type.
    #[error("bad key: {0}")]
    BadKey(&'static str),
    /// An option (SCP "i" parameter, key type, ...) this implementation does not support (`6A81`).
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    /// The card answered with an error status word (host side).
    #[error("card returned status {0}")]
    Status(StatusWord),
    /// BER-TLV codec error in command or response data (`6A80`).
    #[error("TLV: {0}")]
    Tlv(#[from] tlv::Error),
    /// APDU codec error.
    #[error(transparent)]
    Apdu(#[from] ApduError),
}

impl GpError {
    /// The status word a card answers with for this error.
    pub fn status_word(&self) -> StatusWord {
        match self {
            GpError::SecurityStatus(_) => StatusWord::SECURITY_STATUS_NOT_SATISFIED,
            GpError::HostCryptogram => StatusWord::WARNING_NVM_CHANGED, // '6300'
            GpError::KeyNotFound(_) => StatusWord::REFERENCED_DATA_NOT_FOUND,
            GpError::ConditionsNotSatisfied(_) => StatusWord::CONDITIONS_NOT_SATISFIED,
            GpError::IncorrectP1P2(_) => StatusWord::INCORRECT_P1_P2,
            GpError::WrongLength(_) => StatusWord::WRONG_LENGTH,
            GpError::IncorrectData(_)
            | GpError::KcvMismatch
            | GpError::BadKey(_)
            | GpError::Tlv(_) => StatusWord::INCORRECT_DATA,
            GpError::Unsupported(_) => StatusWord::FUNCTION_NOT_SUPPORTED,
            GpError::Status(sw) => *sw,
            GpError::Apdu(e) => e.status_word(),
            GpError::CardCryptogram | GpError::CardChallenge | GpError::ResponseMac => {
                StatusWord::NO_PRECISE_DIAGNOSIS
            }
        }
    }

    /// True when a card must terminate the secure channel session after this error
    /// (GP CS v2.3.1 §10.2.3: secure messaging errors abort the session).
    pub fn closes_session(&self) -> bool {
        matches!(self, GpError::SecurityStatus(_))
    }
}

pub type Result<T> = std::result::Result<T, GpError>;
