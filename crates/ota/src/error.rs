//! The crate's error type and the Proof-of-Receipt response status codes it maps to.

use serde::{Deserialize, Serialize};

/// Response Status Code of a Response Packet (ETSI TS 102 225 §5.2, table 5; codes '0B' and '0C'
/// are reserved for 3GPP and defined in TS 31.115 §6/§7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PorStatus {
    /// '00' PoR OK.
    PorOk,
    /// '01' RC/CC/DS failed.
    IntegrityFailed,
    /// '02' CNTR low.
    CounterLow,
    /// '03' CNTR high.
    CounterHigh,
    /// '04' CNTR blocked.
    CounterBlocked,
    /// '05' Ciphering error.
    CipheringError,
    /// '06' Unidentified security error: the receiving entity cannot interpret the command
    /// header; the response packet is then sent unciphered and without RC/CC/DS.
    UnidentifiedSecurityError,
    /// '07' Insufficient memory to process the incoming message.
    InsufficientMemory,
    /// '08' More time needed; a later response packet follows.
    MoreTime,
    /// '09' TAR unknown.
    TarUnknown,
    /// '0A' Insufficient security level.
    InsufficientSecurityLevel,
    /// '0B' Actual response data sent using SMS-SUBMIT (TS 31.115).
    ResponseInSmsSubmit,
    /// '0C' Actual response data sent using USSD (TS 31.115).
    ResponseInUssd,
    /// '0D'–'BF' RFU, 'C0'–'FE' proprietary, 'FF' RFU: kept as received.
    Other(u8),
}

impl PorStatus {
    /// The one-octet wire code.
    pub fn code(self) -> u8 {
        match self {
            PorStatus::PorOk => 0x00,
            PorStatus::IntegrityFailed => 0x01,
            PorStatus::CounterLow => 0x02,
            PorStatus::CounterHigh => 0x03,
            PorStatus::CounterBlocked => 0x04,
            PorStatus::CipheringError => 0x05,
            PorStatus::UnidentifiedSecurityError => 0x06,
            PorStatus::InsufficientMemory => 0x07,
            PorStatus::MoreTime => 0x08,
            PorStatus::TarUnknown => 0x09,
            PorStatus::InsufficientSecurityLevel => 0x0A,
            PorStatus::ResponseInSmsSubmit => 0x0B,
            PorStatus::ResponseInUssd => 0x0C,
            PorStatus::Other(c) => c,
        }
    }

    /// Decode a wire code (total: unknown codes become [`PorStatus::Other`]).
    pub fn from_code(code: u8) -> PorStatus {
        match code {
            0x00 => PorStatus::PorOk,
            0x01 => PorStatus::IntegrityFailed,
            0x02 => PorStatus::CounterLow,
            0x03 => PorStatus::CounterHigh,
            0x04 => PorStatus::CounterBlocked,
            0x05 => PorStatus::CipheringError,
            0x06 => PorStatus::UnidentifiedSecurityError,
            0x07 => PorStatus::InsufficientMemory,
            0x08 => PorStatus::MoreTime,
            0x09 => PorStatus::TarUnknown,
            0x0A => PorStatus::InsufficientSecurityLevel,
            0x0B => PorStatus::ResponseInSmsSubmit,
            0x0C => PorStatus::ResponseInUssd,
            c => PorStatus::Other(c),
        }
    }

    /// Whether the response packet carrying this status may be secured as SPI2 asks.
    /// For '06' the card could not interpret the header, so the PoR goes out unciphered and
    /// without RC/CC/DS (TS 102 225 §5.2, table 5).
    pub fn allows_secured_por(self) -> bool {
        self != PorStatus::UnidentifiedSecurityError
    }
}

/// Everything that can go wrong in this crate. Secured-packet failures map to the PoR status
/// the receiving entity answers with ([`OtaError::por_status`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtaError {
    /// Input ended before a field was complete.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A length field (CPL, CHL, RPL, RHL, UDL, UDHL, IE length) disagrees with the data.
    #[error("bad length: {0}")]
    BadLength(&'static str),
    /// Data left over after a complete structure.
    #[error("{0} trailing bytes")]
    TrailingData(usize),
    /// A reserved or unknown SPI/KIc/KID coding, or a key/algorithm that does not match it.
    #[error("unsupported security parameter: {0}")]
    UnsupportedSecurity(&'static str),
    /// Key material of the wrong length for its algorithm.
    #[error("bad key: {0}")]
    BadKey(&'static str),
    /// SPI asks for a security function whose key was not supplied.
    #[error("missing key: {0}")]
    MissingKey(&'static str),
    /// Ciphertext not a whole number of blocks, or a padding counter that cannot be right.
    #[error("ciphering error: {0}")]
    Ciphering(&'static str),
    /// The RC/CC/DS did not verify.
    #[error("RC/CC/DS failed")]
    IntegrityFailed,
    /// Replay protection: received counter not above the stored one.
    #[error("counter low")]
    CounterLow,
    /// Sequence check: received counter more than one above the stored one.
    #[error("counter high")]
    CounterHigh,
    /// The stored counter has reached its maximum value.
    #[error("counter blocked")]
    CounterBlocked,
    /// The TAR addresses no application the receiving entity knows.
    #[error("TAR unknown")]
    TarUnknown,
    /// The packet's security is below the application's minimum security level.
    #[error("insufficient security level")]
    InsufficientSecurityLevel,
    /// A resource limit of the receiving entity (e.g. reassembly buffers) was hit.
    #[error("insufficient memory: {0}")]
    InsufficientMemory(&'static str),
    /// The data does not fit the transport (e.g. more than 255 SMS segments, 65535-byte CPL).
    #[error("too long: {0}")]
    TooLong(&'static str),
    /// A malformed SMS TPDU field (TS 23.040).
    #[error("bad TPDU: {0}")]
    BadTpdu(&'static str),
    /// Concatenated-SMS reassembly problem (TS 23.040 §9.2.3.24.1).
    #[error("concatenation: {0}")]
    Concatenation(&'static str),
    /// A response packet reported something else than the status expected.
    #[error("unexpected IEI or identifier: {0}")]
    UnexpectedIdentifier(&'static str),
    /// A C-APDU given for a remote command script is not a short ISO/IEC 7816-4 APDU, or does
    /// not fit the compact format (TS 102 226 §5.1.1).
    #[error("bad C-APDU for a script: {0}")]
    BadCommandApdu(&'static str),
    /// The additional response data of a PoR is not a valid remote response (TS 102 226 §5).
    #[error("bad remote response: {0}")]
    BadRemoteResponse(&'static str),
}

/// The shared primitives' errors: key material → [`OtaError::BadKey`], block and ICV lengths
/// and padding → [`OtaError::Ciphering`] (PoR '05').
impl From<symcrypto::Error> for OtaError {
    fn from(e: symcrypto::Error) -> OtaError {
        match e {
            symcrypto::Error::BadKey(what) => OtaError::BadKey(what),
            symcrypto::Error::BadIcv(_) => OtaError::Ciphering("ICV is not one cipher block"),
            symcrypto::Error::NotWholeBlocks(_) => {
                OtaError::Ciphering("data is not a whole number of blocks")
            }
            symcrypto::Error::BadPadding => OtaError::Ciphering("bad padding"),
        }
    }
}

impl OtaError {
    /// The PoR response status a receiving entity (the card) answers with when it meets this
    /// error while processing a command packet (TS 102 225 §5.2 table 5).
    ///
    /// Header and framing problems, unknown algorithms and missing keys are "unidentified
    /// security error" ('06'); bad ciphertext length or padding counter is '05'.
    pub fn por_status(&self) -> PorStatus {
        match self {
            OtaError::IntegrityFailed => PorStatus::IntegrityFailed,
            OtaError::CounterLow => PorStatus::CounterLow,
            OtaError::CounterHigh => PorStatus::CounterHigh,
            OtaError::CounterBlocked => PorStatus::CounterBlocked,
            OtaError::Ciphering(_) => PorStatus::CipheringError,
            OtaError::TarUnknown => PorStatus::TarUnknown,
            OtaError::InsufficientSecurityLevel => PorStatus::InsufficientSecurityLevel,
            OtaError::InsufficientMemory(_) => PorStatus::InsufficientMemory,
            OtaError::Truncated(_)
            | OtaError::BadLength(_)
            | OtaError::TrailingData(_)
            | OtaError::UnsupportedSecurity(_)
            | OtaError::BadKey(_)
            | OtaError::MissingKey(_)
            | OtaError::TooLong(_)
            | OtaError::BadTpdu(_)
            | OtaError::Concatenation(_)
            | OtaError::UnexpectedIdentifier(_)
            | OtaError::BadCommandApdu(_)
            | OtaError::BadRemoteResponse(_) => PorStatus::UnidentifiedSecurityError,
        }
    }
}

/// Result alias of the crate.
pub type Result<T> = core::result::Result<T, OtaError>;
