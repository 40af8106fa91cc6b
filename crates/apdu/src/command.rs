//! Command APDUs: ISO/IEC 7816-3 §12.1 (cases) and ISO/IEC 7816-4 §5.1 (coding).

use crate::{ApduError, Result};

/// Largest Nc in short form and largest Ne in short form (Le = `00`).
pub const SHORT_MAX_NC: usize = 255;
pub const SHORT_MAX_NE: usize = 256;
/// Largest Nc in extended form and largest Ne in extended form (Le = `0000`).
pub const EXTENDED_MAX_NC: usize = 65_535;
pub const EXTENDED_MAX_NE: usize = 65_536;

/// The seven APDU cases of ISO/IEC 7816-3 §12.1.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// No data, no Le.
    Case1,
    /// Le only, short.
    Case2S,
    /// Lc + data, short.
    Case3S,
    /// Lc + data + Le, short.
    Case4S,
    /// Le only, extended.
    Case2E,
    /// Lc + data, extended.
    Case3E,
    /// Lc + data + Le, extended.
    Case4E,
}

impl Case {
    pub fn is_extended(self) -> bool {
        matches!(self, Case::Case2E | Case::Case3E | Case::Case4E)
    }
}

/// A command APDU. `le` is Ne, the maximum number of response bytes expected (1..=65536);
/// `None` means no Le field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Command {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: Vec<u8>,
    pub le: Option<usize>,
}

impl Command {
    /// Case 1 command.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Command {
        Command {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
        }
    }

    /// Case 3 command (or case 1 when `data` is empty).
    pub fn with_data(cla: u8, ins: u8, p1: u8, p2: u8, data: impl Into<Vec<u8>>) -> Command {
        Command {
            cla,
            ins,
            p1,
            p2,
            data: data.into(),
            le: None,
        }
    }

    /// Sets Ne (builder style).
    pub fn le(mut self, ne: usize) -> Command {
        self.le = Some(ne);
        self
    }

    /// Parses a command APDU (ISO/IEC 7816-3 §12.1.3 decoding of the body).
    ///
    /// Short Le `00` means 256, extended Le `0000` means 65536. A body starting with `00` and
    /// longer than one byte is extended; extended Lc `0000` is invalid.
    pub fn parse(bytes: &[u8]) -> Result<Command> {
        let (header, body) = match bytes.split_first_chunk::<4>() {
            Some(x) => x,
            None => return Err(ApduError::Truncated(bytes.len())),
        };
        let [cla, ins, p1, p2] = *header;
        let mut cmd = Command::new(cla, ins, p1, p2);
        match body {
            // Case 1.
            [] => {}
            // Case 2S.
            [le] => cmd.le = Some(short_ne(*le)),
            // Short form with Lc != 0: case 3S or 4S.
            [lc, rest @ ..] if *lc != 0 => {
                let nc = *lc as usize;
                if rest.len() == nc {
                    cmd.data = rest.to_vec();
                } else if rest.len() == nc + 1 {
                    cmd.data = rest[..nc].to_vec();
                    cmd.le = Some(short_ne(rest[nc]));
                } else {
                    return Err(ApduError::WrongLength { body: body.len() });
                }
            }
            // Extended form: a zero byte then at least two more bytes.
            // (the first byte is 0 here: the arms above took every other value)
            [_, ext @ ..] => match ext {
                [] | [_] => return Err(ApduError::ExtendedMisuse),
                // Case 2E.
                [hi, lo] => cmd.le = Some(extended_ne(*hi, *lo)),
                [hi, lo, rest @ ..] => {
                    let nc = u16::from_be_bytes([*hi, *lo]) as usize;
                    if nc == 0 {
                        return Err(ApduError::LcZero);
                    }
                    if rest.len() == nc {
                        cmd.data = rest.to_vec();
                    } else if rest.len() == nc + 2 {
                        cmd.data = rest[..nc].to_vec();
                        cmd.le = Some(extended_ne(rest[nc], rest[nc + 1]));
                    } else if rest.len() == nc + 1 {
                        // A one-byte (short) Le after an extended Lc.
                        return Err(ApduError::ExtendedMisuse);
                    } else {
                        return Err(ApduError::WrongLength { body: body.len() });
                    }
                }
            },
        }
        Ok(cmd)
    }

    /// The case this command encodes as (short whenever Nc <= 255 and Ne <= 256).
    pub fn case(&self) -> Case {
        let extended =
            self.data.len() > SHORT_MAX_NC || self.le.is_some_and(|ne| ne > SHORT_MAX_NE);
        match (self.data.is_empty(), self.le.is_some(), extended) {
            (true, false, _) => Case::Case1,
            (true, true, false) => Case::Case2S,
            (true, true, true) => Case::Case2E,
            (false, false, false) => Case::Case3S,
            (false, false, true) => Case::Case3E,
            (false, true, false) => Case::Case4S,
            (false, true, true) => Case::Case4E,
        }
    }

    /// Encodes the command, choosing the short form when both Nc and Ne allow it
    /// (ISO/IEC 7816-4 §5.1: short and extended fields are never mixed in one command).
    /// `le = Some(0)` is treated as "as many as available" (encoded `00`).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let nc = self.data.len();
        if nc > EXTENDED_MAX_NC {
            return Err(ApduError::DataTooLong(nc));
        }
        if let Some(ne) = self.le {
            if ne > EXTENDED_MAX_NE {
                return Err(ApduError::LeTooLarge(ne));
            }
        }
        let mut out = Vec::with_capacity(4 + 3 + nc + 2);
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        let case = self.case();
        if case.is_extended() {
            if nc > 0 {
                out.push(0);
                out.extend_from_slice(&(nc as u16).to_be_bytes());
                out.extend_from_slice(&self.data);
            }
            if let Some(ne) = self.le {
                if nc == 0 {
                    out.push(0);
                }
                // Ne 65536 (and 0, "all available") is coded 0000.
                out.extend_from_slice(&((ne % EXTENDED_MAX_NE) as u16).to_be_bytes());
            }
        } else {
            if nc > 0 {
                out.push(nc as u8);
                out.extend_from_slice(&self.data);
            }
            if let Some(ne) = self.le {
                // Ne 256 (and 0) is coded 00.
                out.push((ne % SHORT_MAX_NE) as u8);
            }
        }
        Ok(out)
    }

    /// Channel number carried in CLA, if CLA is an ISO or GlobalPlatform class.
    pub fn channel(&self) -> Option<u8> {
        crate::channel::channel_of(self.cla)
    }
}

fn short_ne(le: u8) -> usize {
    if le == 0 {
        SHORT_MAX_NE
    } else {
        le as usize
    }
}

fn extended_ne(hi: u8, lo: u8) -> usize {
    match u16::from_be_bytes([hi, lo]) {
        0 => EXTENDED_MAX_NE,
        n => n as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(bytes: &[u8], case: Case) -> Command {
        let c = Command::parse(bytes).unwrap();
        assert_eq!(c.case(), case, "{bytes:02X?}");
        assert_eq!(c.encode().unwrap(), bytes, "round trip");
        c
    }

    #[test]
    fn all_cases_round_trip() {
        // Case 1: MANAGE CHANNEL close channel 1 (ISO/IEC 7816-4 §11.1.2).
        let c = rt(&[0x00, 0x70, 0x80, 0x01], Case::Case1);
        assert_eq!((c.data.len(), c.le), (0, None));
        // Case 2S: GET RESPONSE, Le 00 = 256.
        let c = rt(&[0x00, 0xC0, 0x00, 0x00, 0x00], Case::Case2S);
        assert_eq!(c.le, Some(256));
        let c = rt(&[0x00, 0xC0, 0x00, 0x00, 0x10], Case::Case2S);
        assert_eq!(c.le, Some(16));
        // Case 3S: STORE DATA GetEuiccChallengeRequest (SGP.22 §5.7.7: BF2E 00).
        let c = rt(
            &[0x80, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2E, 0x00],
            Case::Case3S,
        );
        assert_eq!(c.data, [0xBF, 0x2E, 0x00]);
        // Case 4S: SELECT ISD-R by AID with Le 00.
        let mut sel = vec![0x00, 0xA4, 0x04, 0x00, 0x10];
        sel.extend_from_slice(&crate::ISD_R_AID);
        sel.push(0x00);
        let c = rt(&sel, Case::Case4S);
        assert_eq!((c.data.len(), c.le), (16, Some(256)));
        // Case 2E: Le 0000 = 65536 and Le 0101.
        let c = rt(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00], Case::Case2E);
        assert_eq!(c.le, Some(65536));
        let c = rt(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x01, 0x01], Case::Case2E);
        assert_eq!(c.le, Some(257));
        // Case 3E: 256 data bytes.
        let mut e3 = vec![0x80, 0xE2, 0x91, 0x00, 0x00, 0x01, 0x00];
        e3.extend(std::iter::repeat_n(0xAB, 256));
        let c = rt(&e3, Case::Case3E);
        assert_eq!(c.data.len(), 256);
        // Case 4E: 300 data bytes, Le 0000.
        let mut e4 = vec![0x00, 0xD6, 0x00, 0x00, 0x00, 0x01, 0x2C];
        e4.extend(std::iter::repeat_n(0x5A, 300));
        e4.extend_from_slice(&[0x00, 0x00]);
        let c = rt(&e4, Case::Case4E);
        assert_eq!((c.data.len(), c.le), (300, Some(65536)));
    }

    #[test]
    fn encode_chooses_form() {
        // Short data but Ne > 256 forces extended for both fields (no mixing).
        let c = Command::with_data(0, 0xB0, 0, 0, vec![1, 2]).le(1000);
        assert_eq!(
            c.encode().unwrap(),
            [0, 0xB0, 0, 0, 0, 0, 2, 1, 2, 0x03, 0xE8]
        );
        assert_eq!(c.case(), Case::Case4E);
        // Ne 256 stays short.
        assert_eq!(
            Command::new(0, 0xC0, 0, 0).le(256).encode().unwrap(),
            [0, 0xC0, 0, 0, 0]
        );
        assert_eq!(
            Command::new(0, 0xC0, 0, 0).le(257).encode().unwrap(),
            [0, 0xC0, 0, 0, 0, 1, 1]
        );
        assert_eq!(
            Command::with_data(0, 1, 0, 0, vec![0; 65536]).encode(),
            Err(ApduError::DataTooLong(65536))
        );
        assert_eq!(
            Command::new(0, 1, 0, 0).le(65537).encode(),
            Err(ApduError::LeTooLarge(65537))
        );
    }

    #[test]
    fn malformed() {
        for short in [&[][..], &[0x00], &[0x00, 0xA4, 0x04]] {
            assert_eq!(
                Command::parse(short),
                Err(ApduError::Truncated(short.len()))
            );
        }
        // Lc says 3, only 2 data bytes.
        assert_eq!(
            Command::parse(&[0x80, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2E]),
            Err(ApduError::WrongLength { body: 3 })
        );
        // Lc says 1, 3 bytes follow (neither case 3S nor 4S).
        assert_eq!(
            Command::parse(&[0x80, 0xE2, 0x91, 0x00, 0x01, 0xAA, 0xBB, 0xCC]),
            Err(ApduError::WrongLength { body: 4 })
        );
        // `00` plus one byte: neither short nor extended.
        assert_eq!(
            Command::parse(&[0, 0xB0, 0, 0, 0, 5]),
            Err(ApduError::ExtendedMisuse)
        );
        // Extended Lc 0000.
        assert_eq!(
            Command::parse(&[0, 0xD6, 0, 0, 0, 0, 0, 0xAA]),
            Err(ApduError::LcZero)
        );
        // Extended Lc with a short Le.
        assert_eq!(
            Command::parse(&[0, 0xD6, 0, 0, 0, 0, 1, 0xAA, 0x00]),
            Err(ApduError::ExtendedMisuse)
        );
        // Extended Lc truncated data.
        assert_eq!(
            Command::parse(&[0, 0xD6, 0, 0, 0, 0, 3, 0xAA]),
            Err(ApduError::WrongLength { body: 4 })
        );
        assert_eq!(
            ApduError::LcZero.status_word(),
            crate::StatusWord::WRONG_LENGTH
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            if let Ok(c) = Command::parse(&bytes) {
                // Whatever parses re-encodes to something that parses to the same command.
                let enc = c.encode().unwrap();
                proptest::prop_assert_eq!(Command::parse(&enc).unwrap(), c);
            }
        }

        #[test]
        fn encode_parse_round_trip(cla: u8, ins: u8, p1: u8, p2: u8,
                                   data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..700),
                                   le in proptest::option::of(1usize..=65536)) {
            let c = Command { cla, ins, p1, p2, data, le };
            let enc = c.encode().unwrap();
            proptest::prop_assert_eq!(Command::parse(&enc).unwrap(), c);
        }
    }
}
