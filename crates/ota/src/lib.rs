//! OTA secured packets, sans-I/O: ETSI TS 102 225 / 3GPP TS 31.115 (GlobalPlatform SCP80)
//! command and response packets over SMS-PP, and the 3GPP TS 23.040 SMS TPDUs that carry them.
//!
//! * [`spi`]: SPI, KIc, KID, CNTR and the counter modes (with the receiver's replay check).
//! * [`crypto`]: [`CipherKey`] (DES, 2/3-key 3DES, AES CBC) and [`CcKey`] (DES/3DES CBC-MAC,
//!   AES CMAC); [`crc`]: the CRC-16/CRC-32 redundancy checks.
//! * [`ts102225`]: one core for both ends — [`build_command`] / [`parse_response`] for the OTA
//!   server, [`CommandPacket::parse`] + [`CommandPacket::open`] (or [`receive_command`]) /
//!   [`build_response`] for the card.
//! * [`ts102226`]: the remote command formats (compact and expanded scripts and their
//!   responses), host and card side.
//! * [`ts31115`]: the SMS-PP framing (UDH IEs '70'/'71', concatenated command packets).
//! * [`ts23040`]: SMS-DELIVER, SMS-SUBMIT, SMS-DELIVER-REPORT, SMS-SUBMIT-REPORT, addresses,
//!   user data headers, segmentation and reassembly.
//!
//! Every failure is an [`OtaError`]; [`OtaError::por_status`] gives the PoR status code the
//! card answers with. Key material is zeroized on drop and never shown by `Debug`.

pub mod crc;
pub mod crypto;
pub mod error;
pub mod spi;
pub mod ts102225;
pub mod ts102226;
pub mod ts23040;
pub mod ts31115;

pub use crypto::{CcKey, CipherKey};
pub use error::{OtaError, PorStatus, Result};
pub use spi::{
    CcAlgorithm, CipherAlgorithm, Counter, CounterMode, IntegrityType, Kic, Kid, PorRequest,
    PorTransport, RcAlgorithm, Spi,
};
pub use ts102225::{
    build_command, build_response, parse_response, receive_command, AcceptedCommand, CommandHeader,
    CommandPacket, KeyLookup, OpenedCommand, PorSecurity, RejectedCommand, ResponsePacket,
    SecurityKeys,
};
