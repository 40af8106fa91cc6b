//! Remote command formats (ETSI TS 102 226 §5) and the script runner shared by RFM and RAM.
//!
//! * **Compact** (§5.1): the secured data is a sequence of C-APDUs in the T=0 TPDU coding
//!   `CLA INS P1 P2 P3 [data]`: P3 is Le for commands that only return data (the outgoing
//!   instructions of the target: READ BINARY/RECORD, STATUS, GET RESPONSE, GET CHALLENGE for
//!   RFM; GET DATA, GET RESPONSE for RAM), Lc otherwise. Response (§5.1.2): number of commands
//!   executed (1 octet), the status word of the last one, its response data.
//! * **Expanded** (§5.2): the Command Scripting Template 'AA' (definite length) or 'AE'
//!   (indefinite length, ended by '00 00') holding C-APDU TLVs '22' (ISO/IEC 7816-4 short
//!   APDUs); the immediate action ('81'), error action ('82') and script chaining ('83') TLVs are
//!   accepted and not acted upon. Response: the Response Scripting Template 'AB' (or 'AF',
//!   indefinite, when the command template was 'AE') with the number of executed C-APDUs
//!   ('80' 01 nn) followed by one R-APDU TLV '23' (`data || SW1 SW2`) per executed command.
//!   A template that cannot be parsed is answered with the Bad format TLV '90' 01 tt
//!   ('01' unknown tag, '02' wrong length, '03' length missing) and nothing is executed.
//!
//! Execution (§5.1.1, §5.2.1) stops after the first command whose status word is not normal
//! processing (9000, 61xx, 91xx, 92xx); warnings (62xx/63xx) count as failures too. A command
//! without Le that has response data gets '61xx' and the data waits for a GET RESPONSE
//! ('00 C0' or '80 C0') in the same script (as the pySim OTA vectors show: SELECT by FID
//! answered '6132').

use apdu::{Command, Response, StatusWord};
use tlv::Tag;

/// The format of a script, and so of its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Compact,
    /// Expanded, definite ('AA') or indefinite ('AE') length.
    Expanded {
        indefinite: bool,
    },
}

/// A parsed script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub format: Format,
    pub commands: Vec<Command>,
}

/// Bad format TLV error types (TS 102 226 §5.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadFormat {
    UnknownTag = 0x01,
    WrongLength = 0x02,
    LengthMissing = 0x03,
}

const TAG_SCRIPT: u8 = 0xAA;
const TAG_SCRIPT_INDEFINITE: u8 = 0xAE;
const TAG_RESPONSE: u8 = 0xAB;
const TAG_RESPONSE_INDEFINITE: u8 = 0xAF;
const TAG_C_APDU: u8 = 0x22;
const TAG_R_APDU: u8 = 0x23;
const TAG_EXECUTED: u8 = 0x80;
const TAG_BAD_FORMAT: u8 = 0x90;

/// Instructions whose compact coding carries P3 = Le (no data field).
fn outgoing(ins: u8, rfm: bool) -> bool {
    if rfm {
        matches!(ins, 0xB0 | 0xB2 | 0xC0 | 0xF2 | 0x84 | 0xCA)
    } else {
        matches!(ins, 0xCA | 0xC0)
    }
}

/// A one-octet tag and a BER length (short, '81', '82') at the start of `input`.
fn tag_len(input: &[u8]) -> Result<(u8, usize, &[u8]), BadFormat> {
    let [tag, rest @ ..] = input else {
        return Err(BadFormat::LengthMissing);
    };
    let (len, rest) = match rest {
        [l, r @ ..] if *l < 0x80 => (usize::from(*l), r),
        [0x81, l, r @ ..] => (usize::from(*l), r),
        [0x82, a, b, r @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), r),
        [] | [0x81] | [0x82] | [0x82, _] => return Err(BadFormat::LengthMissing),
        _ => return Err(BadFormat::WrongLength),
    };
    if rest.len() < len {
        return Err(BadFormat::WrongLength);
    }
    Ok((*tag, len, rest))
}

impl Script {
    /// Parses the secured data of a command packet: expanded if it starts with 'AA'/'AE',
    /// compact otherwise. `rfm` selects the compact coding's outgoing instructions.
    pub fn parse(data: &[u8], rfm: bool) -> Result<Script, BadFormat> {
        match data.first() {
            Some(&TAG_SCRIPT) => {
                let (_, len, rest) = tag_len(data)?;
                if rest.len() != len {
                    return Err(BadFormat::WrongLength);
                }
                Ok(Script {
                    format: Format::Expanded { indefinite: false },
                    commands: expanded_commands(rest, false)?,
                })
            }
            Some(&TAG_SCRIPT_INDEFINITE) => {
                let rest = match data {
                    [_, 0x80, rest @ ..] => rest,
                    _ => return Err(BadFormat::WrongLength),
                };
                Ok(Script {
                    format: Format::Expanded { indefinite: true },
                    commands: expanded_commands(rest, true)?,
                })
            }
            _ => Ok(Script {
                format: Format::Compact,
                commands: compact_commands(data, rfm).ok_or(BadFormat::WrongLength)?,
            }),
        }
    }

    /// The additional response data of the PoR for the responses of the executed commands.
    pub fn response(&self, responses: &[Response]) -> Vec<u8> {
        let n = u8::try_from(responses.len()).unwrap_or(u8::MAX);
        match self.format {
            Format::Compact => {
                let mut out = vec![n];
                if let Some(last) = responses.last() {
                    out.extend_from_slice(&last.sw.0.to_be_bytes());
                    out.extend_from_slice(&last.data);
                }
                out
            }
            Format::Expanded { indefinite } => {
                let mut body = Vec::new();
                tlv::write_tlv(Tag(u32::from(TAG_EXECUTED)), &[n], &mut body);
                for r in responses {
                    tlv::write_tlv(Tag(u32::from(TAG_R_APDU)), &r.encode(), &mut body);
                }
                if indefinite {
                    let mut out = vec![TAG_RESPONSE_INDEFINITE, 0x80];
                    out.extend_from_slice(&body);
                    out.extend_from_slice(&[0x00, 0x00]);
                    out
                } else {
                    tlv::encode_tlv(Tag(u32::from(TAG_RESPONSE)), &body)
                }
            }
        }
    }
}

/// The response to a script that could not be parsed: 'AB' { '90' 01 tt } (nothing executed).
pub fn bad_format_response(bad: BadFormat) -> Vec<u8> {
    let inner = tlv::encode_tlv(Tag(u32::from(TAG_BAD_FORMAT)), &[bad as u8]);
    tlv::encode_tlv(Tag(u32::from(TAG_RESPONSE)), &inner)
}

fn expanded_commands(mut body: &[u8], indefinite: bool) -> Result<Vec<Command>, BadFormat> {
    let mut out = Vec::new();
    loop {
        if indefinite {
            match body {
                [0x00, 0x00] => return Ok(out),
                [] | [_] => return Err(BadFormat::LengthMissing),
                _ => {}
            }
        } else if body.is_empty() {
            return Ok(out);
        }
        let (tag, len, rest) = tag_len(body)?;
        let value = rest.get(..len).ok_or(BadFormat::WrongLength)?;
        match tag {
            TAG_C_APDU => {
                out.push(Command::parse(value).map_err(|_| BadFormat::WrongLength)?);
            }
            0x81..=0x83 | 0x01..=0x03 => {}
            _ => return Err(BadFormat::UnknownTag),
        }
        body = rest.get(len..).unwrap_or_default();
    }
}

fn compact_commands(mut data: &[u8], rfm: bool) -> Option<Vec<Command>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let [cla, ins, p1, p2, p3, rest @ ..] = data else {
            return None;
        };
        let mut c = Command::new(*cla, *ins, *p1, *p2);
        if outgoing(*ins, rfm) {
            c.le = Some(if *p3 == 0 { 256 } else { usize::from(*p3) });
            data = rest;
        } else {
            let n = usize::from(*p3);
            c.data = rest.get(..n)?.to_vec();
            data = rest.get(n..)?;
        }
        out.push(c);
    }
    Some(out)
}

/// Runs `commands` through `exec`, one after the other, stopping after the first failure;
/// handles Le, '61xx' and GET RESPONSE inside the script.
pub fn run_commands(
    commands: &[Command],
    mut exec: impl FnMut(&Command) -> Response,
) -> Vec<Response> {
    let mut out = Vec::with_capacity(commands.len());
    let mut pending: Option<(Vec<u8>, StatusWord)> = None;
    for cmd in commands {
        let (mut data, sw) = if cmd.ins == 0xC0 && cmd.p1 == 0 && cmd.p2 == 0 {
            match pending.take() {
                Some(p) => p,
                None => (Vec::new(), StatusWord::CONDITIONS_NOT_SATISFIED),
            }
        } else {
            pending = None;
            let r = exec(cmd);
            (r.data, r.sw)
        };
        let rsp = match cmd.le {
            None if !data.is_empty() && cmd.ins != 0xC0 => {
                let n = data.len().min(256);
                pending = Some((data, sw));
                Response::status(StatusWord::bytes_available(if n == 256 {
                    0
                } else {
                    n as u8
                }))
            }
            Some(le) if data.len() > le => {
                let rest = data.split_off(le);
                let n = rest.len().min(256);
                pending = Some((rest, sw));
                Response::new(
                    data,
                    StatusWord::bytes_available(if n == 256 { 0 } else { n as u8 }),
                )
            }
            _ => Response::new(data, sw),
        };
        let failed = !rsp.sw.is_success();
        out.push(rsp);
        if failed {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn compact_parsing_by_direction() {
        // SELECT 3F00 (P3 = Lc), READ BINARY 10 (P3 = Le), UPDATE RECORD 2 bytes.
        let data = hex("00A40004023F0000B000000A00DC0104021122");
        let s = Script::parse(&data, true).unwrap();
        assert_eq!(s.format, Format::Compact);
        assert_eq!(s.commands.len(), 3);
        assert_eq!(s.commands[0].data, [0x3F, 0x00]);
        assert_eq!(s.commands[1].le, Some(10));
        assert_eq!(s.commands[2].data, [0x11, 0x22]);
        // Truncated data field.
        assert!(Script::parse(&hex("00DC010404AA"), true).is_err());
        // GP GET STATUS (80 F2, with data) is case 4 for RAM.
        let s = Script::parse(&hex("80F2800002 4F00"), false).unwrap();
        assert_eq!(s.commands[0].data, [0x4F, 0x00]);
    }

    #[test]
    fn expanded_definite_and_indefinite() {
        let def = hex("AA0E2207 00A40004023F00 2203 00F20000");
        assert!(Script::parse(&def, true).is_err()); // lengths: 2+7+2+... wrong total
        let def = hex("AA10 2207 00A40004023F00 2205 00B000000A");
        let s = Script::parse(&def, true).unwrap();
        assert_eq!(s.format, Format::Expanded { indefinite: false });
        assert_eq!(s.commands.len(), 2);
        assert_eq!(s.commands[1].le, Some(10));
        let ind = hex("AE80 2207 00A40004023F00 0000");
        let s = Script::parse(&ind, true).unwrap();
        assert_eq!(s.format, Format::Expanded { indefinite: true });
        let resp = s.response(&[Response::ok(vec![])]);
        assert_eq!(resp, hex("AF80 800101 23029000 0000"));
        // Missing end-of-contents, unknown tag.
        assert_eq!(
            Script::parse(&hex("AE80 2207 00A40004023F00"), true),
            Err(BadFormat::LengthMissing)
        );
        assert_eq!(
            Script::parse(&hex("AA03 440100"), true),
            Err(BadFormat::UnknownTag)
        );
        assert_eq!(
            bad_format_response(BadFormat::UnknownTag),
            hex("AB03900101")
        );
    }

    #[test]
    fn runner_stops_at_first_failure_and_serves_get_response() {
        let cmds = [
            Command::with_data(0x00, 0xA4, 0, 4, vec![0x3F, 0x00]),
            Command::new(0x00, 0xC0, 0, 0).le(256),
            Command::new(0x00, 0xB0, 0, 0).le(2),
            Command::new(0x00, 0xB0, 0, 0).le(2),
        ];
        let mut n = 0;
        let out = run_commands(&cmds, |c| {
            n += 1;
            match c.ins {
                0xA4 => Response::ok(vec![0x62, 0x01, 0x00]),
                _ => Response::status(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
            }
        });
        assert_eq!(n, 2);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].sw, StatusWord(0x6103));
        assert_eq!(out[1].data, [0x62, 0x01, 0x00]);
        assert_eq!(out[2].sw, StatusWord::SECURITY_STATUS_NOT_SATISFIED);
    }

    proptest::proptest! {
        #[test]
        fn script_parsing_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), rfm in proptest::prelude::any::<bool>()) {
            if let Ok(s) = Script::parse(&data, rfm) {
                let _ = s.response(&[Response::ok(data.clone())]);
            }
        }
    }
}
