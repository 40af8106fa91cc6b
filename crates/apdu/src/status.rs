//! Response APDUs and status words (ISO/IEC 7816-4 §5.6, tables 5 and 6).

use std::fmt;

use crate::{ApduError, Result};

/// SW1-SW2.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// 9000: normal processing.
    pub const OK: StatusWord = StatusWord(0x9000);
    /// 6200: warning, state of non-volatile memory unchanged.
    pub const WARNING_NVM_UNCHANGED: StatusWord = StatusWord(0x6200);
    /// 6282: end of file or record reached before reading Ne bytes.
    pub const END_OF_FILE: StatusWord = StatusWord(0x6282);
    /// 6300: verification failed / warning, NVM changed, no information.
    pub const WARNING_NVM_CHANGED: StatusWord = StatusWord(0x6300);
    /// 6400: execution error, state of non-volatile memory unchanged.
    pub const EXECUTION_ERROR: StatusWord = StatusWord(0x6400);
    /// 6581: memory failure.
    pub const MEMORY_FAILURE: StatusWord = StatusWord(0x6581);
    /// 6700: wrong length.
    pub const WRONG_LENGTH: StatusWord = StatusWord(0x6700);
    /// 6881: logical channel not supported.
    pub const LOGICAL_CHANNEL_NOT_SUPPORTED: StatusWord = StatusWord(0x6881);
    /// 6882: secure messaging not supported.
    pub const SECURE_MESSAGING_NOT_SUPPORTED: StatusWord = StatusWord(0x6882);
    /// 6883: last command of the chain expected.
    pub const LAST_COMMAND_EXPECTED: StatusWord = StatusWord(0x6883);
    /// 6884: command chaining not supported.
    pub const CHAINING_NOT_SUPPORTED: StatusWord = StatusWord(0x6884);
    /// 6982: security status not satisfied.
    pub const SECURITY_STATUS_NOT_SATISFIED: StatusWord = StatusWord(0x6982);
    /// 6983: authentication method blocked.
    pub const AUTH_METHOD_BLOCKED: StatusWord = StatusWord(0x6983);
    /// 6984: reference data not usable.
    pub const REFERENCE_DATA_NOT_USABLE: StatusWord = StatusWord(0x6984);
    /// 6985: conditions of use not satisfied.
    pub const CONDITIONS_NOT_SATISFIED: StatusWord = StatusWord(0x6985);
    /// 6986: command not allowed (no current EF).
    pub const COMMAND_NOT_ALLOWED: StatusWord = StatusWord(0x6986);
    /// 6A80: incorrect parameters in the command data field.
    pub const INCORRECT_DATA: StatusWord = StatusWord(0x6A80);
    /// 6A81: function not supported.
    pub const FUNCTION_NOT_SUPPORTED: StatusWord = StatusWord(0x6A81);
    /// 6A82: file or application not found.
    pub const FILE_NOT_FOUND: StatusWord = StatusWord(0x6A82);
    /// 6A83: record not found.
    pub const RECORD_NOT_FOUND: StatusWord = StatusWord(0x6A83);
    /// 6A84: not enough memory space in the file.
    pub const NOT_ENOUGH_MEMORY: StatusWord = StatusWord(0x6A84);
    /// 6A86: incorrect parameters P1-P2.
    pub const INCORRECT_P1_P2: StatusWord = StatusWord(0x6A86);
    /// 6A88: referenced data or reference data not found.
    pub const REFERENCED_DATA_NOT_FOUND: StatusWord = StatusWord(0x6A88);
    /// 6B00: wrong parameters P1-P2.
    pub const WRONG_P1_P2: StatusWord = StatusWord(0x6B00);
    /// 6D00: instruction code not supported or invalid.
    pub const INS_NOT_SUPPORTED: StatusWord = StatusWord(0x6D00);
    /// 6E00: class not supported.
    pub const CLA_NOT_SUPPORTED: StatusWord = StatusWord(0x6E00);
    /// 6F00: no precise diagnosis.
    pub const NO_PRECISE_DIAGNOSIS: StatusWord = StatusWord(0x6F00);

    pub const fn new(sw1: u8, sw2: u8) -> StatusWord {
        StatusWord(((sw1 as u16) << 8) | sw2 as u16)
    }
    /// 61xx: xx more bytes available with GET RESPONSE (00 = 256 or more).
    pub const fn bytes_available(xx: u8) -> StatusWord {
        StatusWord::new(0x61, xx)
    }
    /// 6Cxx: wrong Le, xx is the exact length (00 = 256).
    pub const fn wrong_le(xx: u8) -> StatusWord {
        StatusWord::new(0x6C, xx)
    }
    /// 63Cx: verification failed, x retries left.
    pub const fn retries_left(x: u8) -> StatusWord {
        StatusWord::new(0x63, 0xC0 | (x & 0x0F))
    }

    pub const fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }
    pub const fn sw2(self) -> u8 {
        self.0 as u8
    }
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// Exactly 9000.
    pub const fn is_ok(self) -> bool {
        self.0 == 0x9000
    }

    /// Normal processing: 9000, 61xx (more data), and the TS 102 221 §10.2.1 variants
    /// 91xx (proactive command pending) and 92xx.
    pub const fn is_success(self) -> bool {
        matches!(self.sw1(), 0x90 | 0x61 | 0x91 | 0x92) && (self.sw1() != 0x90 || self.sw2() == 0)
    }

    /// 62xx / 63xx warnings.
    pub const fn is_warning(self) -> bool {
        matches!(self.sw1(), 0x62 | 0x63)
    }

    /// Checking and execution errors (64xx..6Fxx) other than 61xx / 6Cxx.
    pub const fn is_error(self) -> bool {
        matches!(self.sw1(), 0x64..=0x6F) && self.sw1() != 0x6C
    }

    /// For 61xx: how many bytes GET RESPONSE may fetch (00 = 256).
    pub const fn more_data(self) -> Option<usize> {
        if self.sw1() == 0x61 {
            Some(if self.sw2() == 0 {
                256
            } else {
                self.sw2() as usize
            })
        } else {
            None
        }
    }

    /// For 6Cxx: the exact Ne to re-issue the command with (00 = 256).
    pub const fn correct_le(self) -> Option<usize> {
        if self.sw1() == 0x6C {
            Some(if self.sw2() == 0 {
                256
            } else {
                self.sw2() as usize
            })
        } else {
            None
        }
    }

    /// For 63Cx: the retry counter.
    pub const fn retries(self) -> Option<u8> {
        if self.sw1() == 0x63 && self.sw2() & 0xF0 == 0xC0 {
            Some(self.sw2() & 0x0F)
        } else {
            None
        }
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SW({:04X})", self.0)
    }
}

impl From<u16> for StatusWord {
    fn from(v: u16) -> Self {
        StatusWord(v)
    }
}

/// A response APDU: data field and trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub data: Vec<u8>,
    pub sw: StatusWord,
}

impl Response {
    pub fn new(data: Vec<u8>, sw: StatusWord) -> Response {
        Response { data, sw }
    }
    /// A response with no data.
    pub fn status(sw: StatusWord) -> Response {
        Response {
            data: Vec::new(),
            sw,
        }
    }
    /// `data` with 9000.
    pub fn ok(data: Vec<u8>) -> Response {
        Response {
            data,
            sw: StatusWord::OK,
        }
    }

    /// Splits `data || SW1 SW2`.
    pub fn parse(bytes: &[u8]) -> Result<Response> {
        match bytes.split_last_chunk::<2>() {
            Some((data, sw)) => Ok(Response {
                data: data.to_vec(),
                sw: StatusWord::new(sw[0], sw[1]),
            }),
            None => Err(ApduError::Truncated(bytes.len())),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.to_bytes());
        out
    }

    /// The data if the status is 9000, else `Err(Status(sw))`.
    pub fn into_ok(self) -> Result<Vec<u8>> {
        if self.sw.is_ok() {
            Ok(self.data)
        } else {
            Err(ApduError::Status(self.sw))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert!(StatusWord::OK.is_ok() && StatusWord::OK.is_success());
        assert!(StatusWord(0x6110).is_success());
        assert_eq!(StatusWord(0x6110).more_data(), Some(16));
        assert_eq!(StatusWord(0x6100).more_data(), Some(256));
        assert_eq!(StatusWord(0x6C05).correct_le(), Some(5));
        assert!(!StatusWord(0x6C05).is_error());
        assert!(StatusWord(0x910A).is_success());
        assert!(!StatusWord(0x9001).is_success());
        assert!(StatusWord::WRONG_LENGTH.is_error());
        assert!(StatusWord::retries_left(3).is_warning());
        assert_eq!(StatusWord(0x63C2).retries(), Some(2));
        assert_eq!(StatusWord(0x6300).retries(), None);
        assert_eq!(StatusWord::INCORRECT_P1_P2.to_bytes(), [0x6A, 0x86]);
        assert_eq!(format!("{}", StatusWord::INS_NOT_SUPPORTED), "6D00");
    }

    #[test]
    fn response_codec() {
        let r = Response::parse(&[0xBF, 0x2E, 0x00, 0x90, 0x00]).unwrap();
        assert_eq!(r.data, [0xBF, 0x2E, 0x00]);
        assert!(r.sw.is_ok());
        assert_eq!(r.encode(), [0xBF, 0x2E, 0x00, 0x90, 0x00]);
        assert_eq!(Response::parse(&[0x90]), Err(ApduError::Truncated(1)));
        assert_eq!(
            Response::parse(&[0x6A, 0x82]).unwrap().into_ok(),
            Err(ApduError::Status(StatusWord::FILE_NOT_FOUND))
        );
    }
}
