//! Remote command formats of ETSI TS 102 226 §5: the secured data of a command packet holding
//! a script of C-APDUs, and the additional response data of its PoR. Both ends use this one
//! codec; it works on raw APDU bytes (a C-APDU in its ISO/IEC 7816-4 encoding, an R-APDU as
//! `data || SW1 SW2`), so it needs no APDU type.
//!
//! * **Compact** (§5.1): C-APDUs in the T=0 TPDU coding `CLA INS P1 P2 P3 [data]`. P3 is Le for
//!   the instructions that only return data ([`RemoteApp::p3_is_le`]), Lc otherwise. Response
//!   (§5.1.2): number of commands executed (1 octet), status word of the last one, its data.
//! * **Expanded** (§5.2): the Command Scripting Template 'AA' (definite length) or 'AE'
//!   (indefinite, ended by '00 00') of C-APDU TLVs '22'; the immediate action ('81'), error
//!   action ('82') and script chaining ('83') TLVs are accepted and skipped. Response: the
//!   Response Scripting Template 'AB' (or 'AF', indefinite) with the number of executed
//!   C-APDUs ('80' 01 nn) and one R-APDU TLV '23' per executed command; a script that cannot be
//!   parsed is answered with the Bad format TLV '90' 01 tt.
//!
//! Host side: [`expanded_script`], [`expanded_script_indefinite`], [`compact_script`],
//! [`parse_expanded_response`], [`parse_compact_response`]. Card side: [`read_script`] (or
//! [`parse_script`]), [`expanded_response`], [`bad_format_response`], [`CompactResponse::encode`].

use tlv::Tag;

use crate::error::{OtaError, Result};

const TAG_SCRIPT: u8 = 0xAA;
const TAG_SCRIPT_INDEFINITE: u8 = 0xAE;
const TAG_RESPONSE: u8 = 0xAB;
const TAG_RESPONSE_INDEFINITE: u8 = 0xAF;
const TAG_C_APDU: u8 = 0x22;
const TAG_R_APDU: u8 = 0x23;
const TAG_EXECUTED: u8 = 0x80;
/// Immediate action response and script chaining response TLVs (§5.2.2).
const TAG_IMMEDIATE_ACTION: u8 = 0x81;
const TAG_SCRIPT_CHAINING: u8 = 0x83;
const TAG_BAD_FORMAT: u8 = 0x90;
/// The indefinite length octet and the end-of-contents octets (ISO/IEC 8825-1 §8.1.3.6).
const INDEFINITE_LENGTH: u8 = 0x80;
const END_OF_CONTENTS: [u8; 2] = [0x00, 0x00];

/// The application a compact script is for: it decides which instructions carry P3 = Le.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteApp {
    /// Remote File Management (TS 102 226 §6).
    Rfm,
    /// Remote Application Management (TS 102 226 §8).
    Ram,
}

impl RemoteApp {
    /// Whether the compact coding of `ins` carries P3 = Le (no data field): the outgoing
    /// instructions of the target — READ BINARY/RECORD, GET RESPONSE, STATUS, GET CHALLENGE,
    /// GET DATA for RFM; GET DATA, GET RESPONSE for RAM.
    pub fn p3_is_le(self, ins: u8) -> bool {
        match self {
            RemoteApp::Rfm => matches!(ins, 0xB0 | 0xB2 | 0xC0 | 0xF2 | 0x84 | 0xCA),
            RemoteApp::Ram => matches!(ins, 0xCA | 0xC0),
        }
    }
}

/// The format of a script, and so of its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptFormat {
    Compact,
    /// Expanded, definite ('AA') or indefinite ('AE') length.
    Expanded {
        indefinite: bool,
    },
}

/// Bad format TLV error types (TS 102 226 §5.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadFormat {
    UnknownTag = 0x01,
    WrongLength = 0x02,
    LengthMissing = 0x03,
}

impl BadFormat {
    /// The one-octet error type of the '90' TLV.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Decodes an error type; `None` for the RFU values.
    pub fn from_code(code: u8) -> Option<BadFormat> {
        match code {
            0x01 => Some(BadFormat::UnknownTag),
            0x02 => Some(BadFormat::WrongLength),
            0x03 => Some(BadFormat::LengthMissing),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Host side: building scripts.
// ---------------------------------------------------------------------------------------------

/// The ISO/IEC 7816-3 §12.1.3 short cases a host may put in a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShortCase {
    /// No data, no Le.
    One,
    /// Le only.
    Two,
    /// Lc and data; `has_le` for case 4.
    ThreeOrFour { has_le: bool },
}

/// Classifies `apdu` as a short C-APDU; extended-length and malformed encodings are refused.
fn short_case(apdu: &[u8]) -> Result<ShortCase> {
    let Some((_, body)) = apdu.split_first_chunk::<4>() else {
        return Err(OtaError::BadCommandApdu("shorter than CLA INS P1 P2"));
    };
    match body {
        [] => Ok(ShortCase::One),
        [_le] => Ok(ShortCase::Two),
        [lc, rest @ ..] if *lc != 0 && rest.len() == usize::from(*lc) => {
            Ok(ShortCase::ThreeOrFour { has_le: false })
        }
        [lc, rest @ ..] if *lc != 0 && rest.len() == usize::from(*lc) + 1 => {
            Ok(ShortCase::ThreeOrFour { has_le: true })
        }
        _ => Err(OtaError::BadCommandApdu(
            "not a short ISO/IEC 7816-4 encoding (Lc disagrees with the data)",
        )),
    }
}

fn expanded_body(c_apdus: &[&[u8]]) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    for apdu in c_apdus {
        short_case(apdu)?;
        tlv::write_tlv(Tag(u32::from(TAG_C_APDU)), apdu, &mut body);
    }
    Ok(body)
}

/// The expanded script 'AA' { '22' C-APDU ... } with BER definite lengths (TS 102 226 §5.2.1).
/// Each C-APDU must be a well-formed short APDU (cases 1, 2S, 3S, 4S).
pub fn expanded_script(c_apdus: &[&[u8]]) -> Result<Vec<u8>> {
    Ok(tlv::encode_tlv(
        Tag(u32::from(TAG_SCRIPT)),
        &expanded_body(c_apdus)?,
    ))
}

/// The expanded script in indefinite length: 'AE' 80 { '22' C-APDU ... } 00 00
/// (TS 102 226 §5.2.1, table 5.2a).
pub fn expanded_script_indefinite(c_apdus: &[&[u8]]) -> Result<Vec<u8>> {
    let mut out = vec![TAG_SCRIPT_INDEFINITE, INDEFINITE_LENGTH];
    out.extend_from_slice(&expanded_body(c_apdus)?);
    out.extend_from_slice(&END_OF_CONTENTS);
    Ok(out)
}

/// The compact script (TS 102 226 §5.1.1): each short C-APDU in its T=0 TPDU coding. The card
/// reads P3 as Le or Lc by instruction ([`RemoteApp::p3_is_le`]), so a command must match:
/// case 2 only for those instructions, cases 1, 3 and 4 only for the others. A case 4 command
/// loses its Le (as over T=0): the card answers '61xx' and a GET RESPONSE in the same script
/// fetches the data.
pub fn compact_script(c_apdus: &[&[u8]], app: RemoteApp) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for apdu in c_apdus {
        let case = short_case(apdu)?;
        let (header, body) = apdu
            .split_first_chunk::<4>()
            .ok_or(OtaError::BadCommandApdu("shorter than CLA INS P1 P2"))?;
        let p3_is_le = app.p3_is_le(header[1]);
        out.extend_from_slice(header);
        match case {
            ShortCase::Two if p3_is_le => out.extend_from_slice(body),
            ShortCase::One if !p3_is_le => out.push(0x00),
            ShortCase::ThreeOrFour { has_le } if !p3_is_le => {
                let lc_and_data = if has_le {
                    body.split_last().map_or(body, |(_, rest)| rest)
                } else {
                    body
                };
                out.extend_from_slice(lc_and_data);
            }
            ShortCase::Two => {
                return Err(OtaError::BadCommandApdu(
                    "Le on an instruction whose compact P3 is Lc",
                ))
            }
            ShortCase::One | ShortCase::ThreeOrFour { .. } => {
                return Err(OtaError::BadCommandApdu(
                    "no Le on an instruction whose compact P3 is Le",
                ))
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Host side: parsing responses.
// ---------------------------------------------------------------------------------------------

/// A decoded Response Scripting Template (TS 102 226 §5.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemoteResponse {
    /// Number of executed C-APDUs: the '80' TLV, or the number of R-APDUs when it is absent
    /// (indefinite-length responses of deployed cards leave it out).
    pub executed: usize,
    /// The R-APDU TLVs '23', each `data || SW1 SW2`, in order.
    pub r_apdus: Vec<Vec<u8>>,
    /// The Bad format TLV '90' error type, when the card could not parse the script.
    pub bad_format: Option<u8>,
}

impl RemoteResponse {
    /// The status word of the last R-APDU.
    pub fn last_sw(&self) -> Option<u16> {
        let (_, sw) = self.r_apdus.last()?.split_last_chunk::<2>()?;
        Some(u16::from_be_bytes(*sw))
    }
}

fn tlv_error(e: tlv::Error) -> OtaError {
    match e {
        tlv::Error::Truncated(_) => OtaError::Truncated("remote response TLV"),
        tlv::Error::TrailingBytes(n) => OtaError::TrailingData(n),
        _ => OtaError::BadRemoteResponse("malformed TLV"),
    }
}

/// Parses the additional response data of an expanded-format PoR: 'AB' (definite length) or
/// 'AF' 80 .. 00 00 (indefinite). The immediate action and script chaining responses ('81',
/// '83') are skipped; any other unknown tag, a truncated TLV or trailing bytes is an error.
pub fn parse_expanded_response(data: &[u8]) -> Result<RemoteResponse> {
    let body = match data {
        [] => return Err(OtaError::Truncated("response scripting template")),
        [TAG_RESPONSE, ..] => tlv::Tlv::parse_single(data).map_err(tlv_error)?.value,
        [TAG_RESPONSE_INDEFINITE, INDEFINITE_LENGTH, rest @ ..] => rest,
        [TAG_RESPONSE_INDEFINITE] => return Err(OtaError::Truncated("length")),
        [TAG_RESPONSE_INDEFINITE, ..] => {
            return Err(OtaError::BadRemoteResponse(
                "'AF' template without indefinite length",
            ))
        }
        _ => {
            return Err(OtaError::BadRemoteResponse(
                "not a response scripting template ('AB'/'AF')",
            ))
        }
    };
    let indefinite = data.first() == Some(&TAG_RESPONSE_INDEFINITE);
    let mut executed = None;
    let mut out = RemoteResponse::default();
    let mut rest = body;
    loop {
        if indefinite {
            match rest {
                [0x00, 0x00] => break,
                [0x00, 0x00, more @ ..] => return Err(OtaError::TrailingData(more.len())),
                [] | [_] => return Err(OtaError::Truncated("end-of-contents")),
                _ => {}
            }
        } else if rest.is_empty() {
            break;
        }
        let (item, next) = tlv::Tlv::parse(rest).map_err(tlv_error)?;
        rest = next;
        match (item.tag.0, item.value) {
            (t, [n]) if t == u32::from(TAG_EXECUTED) => {
                if executed.replace(usize::from(*n)).is_some() {
                    return Err(OtaError::BadRemoteResponse("two executed-count TLVs"));
                }
            }
            (t, r_apdu) if t == u32::from(TAG_R_APDU) => {
                if r_apdu.len() < 2 {
                    return Err(OtaError::BadRemoteResponse("R-APDU without SW1 SW2"));
                }
                out.r_apdus.push(r_apdu.to_vec());
            }
            (t, [code]) if t == u32::from(TAG_BAD_FORMAT) => {
                if out.bad_format.replace(*code).is_some() {
                    return Err(OtaError::BadRemoteResponse("two bad format TLVs"));
                }
            }
            (t, _)
                if t == u32::from(TAG_IMMEDIATE_ACTION) || t == u32::from(TAG_SCRIPT_CHAINING) => {}
            (t, _) if t == u32::from(TAG_EXECUTED) || t == u32::from(TAG_BAD_FORMAT) => {
                return Err(OtaError::BadRemoteResponse(
                    "'80'/'90' value is not one octet",
                ));
            }
            _ => {
                return Err(OtaError::BadRemoteResponse(
                    "unknown tag in response scripting template",
                ))
            }
        }
    }
    out.executed = executed.unwrap_or(out.r_apdus.len());
    if out.r_apdus.len() > out.executed {
        return Err(OtaError::BadRemoteResponse(
            "more R-APDUs than executed commands",
        ));
    }
    Ok(out)
}

/// A compact-format response (TS 102 226 §5.1.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompactResponse {
    /// Number of commands executed (one octet on the wire: saturates at 255 when encoding).
    pub executed: usize,
    /// Status word (or '61xx' procedure bytes) of the last executed command; `None` when
    /// nothing was executed.
    pub last_sw: Option<u16>,
    /// The response data of the last executed command.
    pub last_data: Vec<u8>,
}

impl CompactResponse {
    /// `executed || SW1 SW2 || data`; only the count when no status word is given.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![u8::try_from(self.executed).unwrap_or(u8::MAX)];
        if let Some(sw) = self.last_sw {
            out.extend_from_slice(&sw.to_be_bytes());
            out.extend_from_slice(&self.last_data);
        }
        out
    }
}

/// Parses the additional response data of a compact-format PoR: a count, then (when the count
/// is not zero) the last status word and its data.
pub fn parse_compact_response(data: &[u8]) -> Result<CompactResponse> {
    match data {
        [] => Err(OtaError::Truncated("number of executed commands")),
        [0] => Ok(CompactResponse::default()),
        [0, more @ ..] => Err(OtaError::TrailingData(more.len())),
        [_] | [_, _] => Err(OtaError::Truncated("status word of the last command")),
        [n, sw1, sw2, last_data @ ..] => Ok(CompactResponse {
            executed: usize::from(*n),
            last_sw: Some(u16::from_be_bytes([*sw1, *sw2])),
            last_data: last_data.to_vec(),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Card side: reading scripts.
// ---------------------------------------------------------------------------------------------

/// A one-octet tag and a BER length (short, '81', '82') at the start of `input`, with the value
/// (and what follows) still in the returned slice, which is at least `len` long.
fn tag_len(input: &[u8]) -> core::result::Result<(u8, usize, &[u8]), BadFormat> {
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

/// The C-APDUs of a script, read one at a time so that a caller decoding each one stops at the
/// first error in script order. Yields raw C-APDUs; after an error it yields nothing more.
#[derive(Debug, Clone)]
pub struct ScriptCommands<'a> {
    format: ScriptFormat,
    app: RemoteApp,
    rest: &'a [u8],
    done: bool,
}

impl<'a> ScriptCommands<'a> {
    /// The script's format (that of its response).
    pub fn format(&self) -> ScriptFormat {
        self.format
    }

    fn next_compact(&mut self) -> Option<core::result::Result<&'a [u8], BadFormat>> {
        let data = self.rest;
        let [_, ins, _, _, p3, ..] = *data else {
            return if data.is_empty() {
                None
            } else {
                Some(Err(BadFormat::WrongLength))
            };
        };
        // §5.1.1: P3 is Le for outgoing instructions, Lc otherwise; Lc = 0 is case 1.
        let (apdu_len, consumed) = if self.app.p3_is_le(ins) {
            (5, 5)
        } else if p3 == 0 {
            (4, 5)
        } else {
            (5 + usize::from(p3), 5 + usize::from(p3))
        };
        match (data.get(..apdu_len), data.get(consumed..)) {
            (Some(apdu), Some(rest)) => {
                self.rest = rest;
                Some(Ok(apdu))
            }
            _ => Some(Err(BadFormat::WrongLength)),
        }
    }

    fn next_expanded(
        &mut self,
        indefinite: bool,
    ) -> Option<core::result::Result<&'a [u8], BadFormat>> {
        loop {
            let body = self.rest;
            if indefinite {
                match body {
                    [0x00, 0x00] => return None,
                    [] | [_] => return Some(Err(BadFormat::LengthMissing)),
                    _ => {}
                }
            } else if body.is_empty() {
                return None;
            }
            let (tag, len, rest) = match tag_len(body) {
                Ok(t) => t,
                Err(e) => return Some(Err(e)),
            };
            let (Some(value), Some(after)) = (rest.get(..len), rest.get(len..)) else {
                return Some(Err(BadFormat::WrongLength));
            };
            self.rest = after;
            match tag {
                TAG_C_APDU => return Some(Ok(value)),
                // Immediate action, error action, script chaining (§5.2.1): not acted upon.
                0x81..=0x83 | 0x01..=0x03 => {}
                _ => return Some(Err(BadFormat::UnknownTag)),
            }
        }
    }
}

impl<'a> Iterator for ScriptCommands<'a> {
    type Item = core::result::Result<&'a [u8], BadFormat>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.format {
            ScriptFormat::Compact => self.next_compact(),
            ScriptFormat::Expanded { indefinite } => self.next_expanded(indefinite),
        };
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

/// Starts reading the secured data of a command packet as a script: expanded if it starts with
/// 'AA'/'AE', compact otherwise. The template's own tag and length are checked here; its
/// C-APDUs come from the returned iterator. Compact C-APDUs come out in their short encoding
/// (case 1 when a P3 = Lc is zero).
pub fn read_script(
    data: &[u8],
    app: RemoteApp,
) -> core::result::Result<ScriptCommands<'_>, BadFormat> {
    let (format, rest) = match data.first() {
        Some(&TAG_SCRIPT) => {
            let (_, len, rest) = tag_len(data)?;
            if rest.len() != len {
                return Err(BadFormat::WrongLength);
            }
            (ScriptFormat::Expanded { indefinite: false }, rest)
        }
        Some(&TAG_SCRIPT_INDEFINITE) => match data {
            [_, INDEFINITE_LENGTH, rest @ ..] => {
                (ScriptFormat::Expanded { indefinite: true }, rest)
            }
            _ => return Err(BadFormat::WrongLength),
        },
        _ => (ScriptFormat::Compact, data),
    };
    Ok(ScriptCommands {
        format,
        app,
        rest,
        done: false,
    })
}

/// A whole script: its format and its raw C-APDUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedScript<'a> {
    pub format: ScriptFormat,
    pub c_apdus: Vec<&'a [u8]>,
}

/// [`read_script`] collected: the script, or the Bad format error type of its first problem.
pub fn parse_script(
    data: &[u8],
    app: RemoteApp,
) -> core::result::Result<ParsedScript<'_>, BadFormat> {
    let commands = read_script(data, app)?;
    let format = commands.format();
    Ok(ParsedScript {
        format,
        c_apdus: commands.collect::<core::result::Result<_, _>>()?,
    })
}

// ---------------------------------------------------------------------------------------------
// Card side: encoding responses.
// ---------------------------------------------------------------------------------------------

/// The expanded response for the R-APDUs (`data || SW1 SW2`) of the executed commands:
/// 'AB' { '80' 01 nn, '23' R-APDU ... }, or 'AF' 80 .. 00 00 when `indefinite` (the command
/// template was 'AE'). The count saturates at 255.
pub fn expanded_response(r_apdus: &[&[u8]], indefinite: bool) -> Vec<u8> {
    let executed = u8::try_from(r_apdus.len()).unwrap_or(u8::MAX);
    let mut body = Vec::new();
    tlv::write_tlv(Tag(u32::from(TAG_EXECUTED)), &[executed], &mut body);
    for r_apdu in r_apdus {
        tlv::write_tlv(Tag(u32::from(TAG_R_APDU)), r_apdu, &mut body);
    }
    if indefinite {
        let mut out = vec![TAG_RESPONSE_INDEFINITE, INDEFINITE_LENGTH];
        out.extend_from_slice(&body);
        out.extend_from_slice(&END_OF_CONTENTS);
        out
    } else {
        tlv::encode_tlv(Tag(u32::from(TAG_RESPONSE)), &body)
    }
}

/// The response to a script that could not be parsed: 'AB' { '90' 01 tt } (nothing executed).
pub fn bad_format_response(bad: BadFormat) -> Vec<u8> {
    let inner = tlv::encode_tlv(Tag(u32::from(TAG_BAD_FORMAT)), &[bad.code()]);
    tlv::encode_tlv(Tag(u32::from(TAG_RESPONSE)), &inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    // Golden vectors below marked "pySim" are from osmocom pySim
    // `tests/unittests/test_ota.py` (ExpandedCmdTestCase, ExpandedRespTestCase,
    // ExpandedIndefiniteTestCase, SmsOtaTestCase).

    #[test]
    fn expanded_script_golden() {
        // pySim test_single_capdu_golden / test_multi_capdu_golden.
        let get_status = hex("80f24002024f0000");
        let select_mf = hex("00a40004023f0000");
        assert_eq!(
            expanded_script(&[&get_status]).unwrap(),
            hex("aa0a220880f24002024f0000")
        );
        assert_eq!(
            expanded_script(&[&get_status, &select_mf]).unwrap(),
            hex("aa14220880f24002024f0000220800a40004023f0000")
        );
        // pySim test_multibyte_length_golden: a 200-byte C-APDU forces '81' lengths.
        let mut big = hex("80f24000c3");
        big.extend((0..195u8).collect::<Vec<_>>());
        let out = expanded_script(&[&big]).unwrap();
        assert_eq!(out[..6], hex("aa81cb2281c8"));
        assert_eq!(out[6..], big);
        // pySim ExpandedIndefiniteTestCase test_cmd_single_golden / test_cmd_multi_golden.
        assert_eq!(
            expanded_script_indefinite(&[&hex("80ca00e000")]).unwrap(),
            hex("ae80220580ca00e0000000")
        );
        let rfm = [
            hex("00a4000c023f00"),
            hex("00a4000c022fe2"),
            hex("00b000000a"),
        ];
        let refs: Vec<&[u8]> = rfm.iter().map(Vec::as_slice).collect();
        assert_eq!(
            expanded_script_indefinite(&refs).unwrap(),
            hex("ae80220700a4000c023f00220700a4000c022fe2220500b000000a0000")
        );
    }

    #[test]
    fn host_refuses_malformed_c_apdus() {
        // Too short, Lc disagreeing with the data, extended length.
        for bad in ["00a400", "00a4000402 3f", "00a40004 00 0002 3f00"] {
            assert!(matches!(
                expanded_script(&[&hex(bad)]),
                Err(OtaError::BadCommandApdu(_))
            ));
        }
        // Compact: Le on an Lc instruction, no Le on READ BINARY.
        assert!(compact_script(&[&hex("00a4000400")], RemoteApp::Rfm).is_err());
        assert!(compact_script(&[&hex("00b00000")], RemoteApp::Rfm).is_err());
    }

    #[test]
    fn compact_script_coding() {
        // pySim SmsOtaTestCase: the compact script of SELECT MF is the APDU itself.
        let select_mf = hex("00a40004023f00");
        assert_eq!(
            compact_script(&[&select_mf], RemoteApp::Rfm).unwrap(),
            select_mf
        );
        // Case 4 GP GET STATUS loses Le; GET RESPONSE keeps P3 = Le; case 1 gets P3 = 00.
        let out = compact_script(
            &[
                &hex("80f28002024f0000"),
                &hex("80c0000000"),
                &hex("80e60c00"),
            ],
            RemoteApp::Ram,
        )
        .unwrap();
        assert_eq!(out, hex("80f28002024f00 80c0000000 80e60c0000"));
        // And the card reads back the short encodings (case 4 as case 3).
        let s = parse_script(&out, RemoteApp::Ram).unwrap();
        assert_eq!(s.format, ScriptFormat::Compact);
        assert_eq!(
            s.c_apdus,
            [
                &hex("80f28002024f00")[..],
                &hex("80c0000000")[..],
                &hex("80e60c00")[..]
            ]
        );
    }

    #[test]
    fn expanded_response_golden() {
        // pySim test_status_only_golden.
        let r = parse_expanded_response(&hex("ab0780010123026132")).unwrap();
        assert_eq!(r.executed, 1);
        assert_eq!(r.r_apdus, [hex("6132")]);
        assert_eq!(r.last_sw(), Some(0x6132));
        assert_eq!(r.bad_format, None);
        assert_eq!(
            expanded_response(&[&hex("6132")], false),
            hex("ab0780010123026132")
        );
        // pySim test_registry_golden: 'AB' 81 CE, '23' 81 C8.
        let mut registry: Vec<u8> = (0..198u8).collect();
        registry.extend_from_slice(&[0x90, 0x00]);
        let enc = expanded_response(&[&registry], false);
        assert_eq!(enc[..9], hex("ab81ce8001012381c8"));
        assert_eq!(parse_expanded_response(&enc).unwrap().r_apdus, [registry]);
        // pySim test_bad_format, test_immediate_action_error ('81' skipped).
        let r = parse_expanded_response(&hex("ab06800101900101")).unwrap();
        assert_eq!((r.executed, r.bad_format), (1, Some(0x01)));
        assert!(r.r_apdus.is_empty());
        let r = parse_expanded_response(&hex("ab06800101810101")).unwrap();
        assert_eq!((r.executed, r.bad_format), (1, None));
        // pySim test_resp_rfm_golden: indefinite, no '80' TLV: the count is the R-APDUs'.
        let r = parse_expanded_response(&hex(
            "af80 23029000 23029000 230c988812010000408608149000 0000",
        ))
        .unwrap();
        assert_eq!(r.executed, 3);
        assert_eq!(r.r_apdus[2], hex("988812010000408608149000"));
        // pySim test_resp_indefinite_bad_format.
        let r = parse_expanded_response(&hex("af80 900101 0000")).unwrap();
        assert_eq!((r.executed, r.bad_format), (0, Some(0x01)));
        assert_eq!(r.last_sw(), None);
    }

    #[test]
    fn malformed_expanded_responses_are_errors() {
        // pySim test_resp_truncated_is_rejected and test_resp_missing_eoc_raises.
        let good = hex("af80 23029000 230c988812010000408608149000 0000");
        for cut in 1..=3 {
            assert!(parse_expanded_response(&good[..good.len() - cut]).is_err());
        }
        assert!(parse_expanded_response(&hex("af8023029000")).is_err());
        for bad in [
            "",                              // empty
            "ab",                            // no length
            "ab07800101230261",              // truncated definite template
            "ab0780010123036132",            // truncated inner TLV
            "ab0780010123026132ff",          // trailing byte
            "aa0780010123026132",            // command template tag
            "ab03440100",                    // unknown inner tag
            "ab03230190",                    // R-APDU without SW2
            "ab0680010180010123026132",      // length disagrees
            "ab06800101800101",              // two counts
            "ab0b 800101 23029000 23029000", // more R-APDUs than executed
            "ab0480020001",                  // two-octet count
            "af0780010123026132",            // 'AF' with a definite length
            "af80 800101 23029000 0000 00",  // data after end-of-contents
            "ab80 800101 0000",              // 'AB' with indefinite length
        ] {
            assert!(parse_expanded_response(&hex(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn compact_response_golden() {
        // pySim SmsOtaTestCase / Test_SMS_3DES: the PoR data '01 6132' and '01 612f'
        // (1 command, last SW, no data).
        let r = parse_compact_response(&hex("016132")).unwrap();
        assert_eq!(
            r,
            CompactResponse {
                executed: 1,
                last_sw: Some(0x6132),
                last_data: Vec::new()
            }
        );
        assert_eq!(r.encode(), hex("016132"));
        assert_eq!(
            parse_compact_response(&hex("01612f")).unwrap().last_sw,
            Some(0x612F)
        );
        let r = parse_compact_response(&hex("02 9000 e30a")).unwrap();
        assert_eq!((r.executed, r.last_data), (2, hex("e30a")));
        assert_eq!(
            parse_compact_response(&[0]).unwrap(),
            CompactResponse::default()
        );
        for bad in ["", "01", "0190", "009000"] {
            assert!(parse_compact_response(&hex(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn card_reads_scripts() {
        // pySim test_cmd_single_golden, read by the card.
        let script = hex("ae80220580ca00e0000000");
        let s = parse_script(&script, RemoteApp::Ram).unwrap();
        assert_eq!(s.format, ScriptFormat::Expanded { indefinite: true });
        assert_eq!(s.c_apdus, [&hex("80ca00e000")[..]]);
        // '81'..'83' are skipped.
        let script = hex("aa0d 810100 830100 2205 00b000000a");
        let s = parse_script(&script, RemoteApp::Rfm).unwrap();
        assert_eq!(s.c_apdus, [&hex("00b000000a")[..]]);
        // Compact: P3 by direction (RFM: READ BINARY is Le, UPDATE RECORD is Lc).
        let script = hex("00A40004023F00 00B000000A 00DC0104021122");
        let s = parse_script(&script, RemoteApp::Rfm).unwrap();
        assert_eq!(
            s.c_apdus,
            [
                &hex("00A40004023F00")[..],
                &hex("00B000000A")[..],
                &hex("00DC0104021122")[..]
            ]
        );
    }

    #[test]
    fn card_bad_format_codes() {
        let rfm = RemoteApp::Rfm;
        assert_eq!(parse_script(&hex("AA"), rfm), Err(BadFormat::LengthMissing));
        assert_eq!(
            parse_script(&hex("AA82 01"), rfm),
            Err(BadFormat::LengthMissing)
        );
        assert_eq!(
            parse_script(&hex("AA05 2203"), rfm),
            Err(BadFormat::WrongLength)
        );
        assert_eq!(
            parse_script(&hex("AA80 0000"), rfm),
            Err(BadFormat::WrongLength)
        );
        assert_eq!(
            parse_script(&hex("AA03 440100"), rfm),
            Err(BadFormat::UnknownTag)
        );
        assert_eq!(
            parse_script(&hex("AE 2205"), rfm),
            Err(BadFormat::WrongLength)
        );
        assert_eq!(
            parse_script(&hex("AE80 2207 00A40004023F00"), rfm),
            Err(BadFormat::LengthMissing)
        );
        assert_eq!(
            parse_script(&hex("00DC010404AA"), rfm),
            Err(BadFormat::WrongLength)
        );
        assert_eq!(parse_script(&hex("00A4"), rfm), Err(BadFormat::WrongLength));
        assert_eq!(
            bad_format_response(BadFormat::UnknownTag),
            hex("AB03900101")
        );
        for bad in [
            BadFormat::UnknownTag,
            BadFormat::WrongLength,
            BadFormat::LengthMissing,
        ] {
            assert_eq!(BadFormat::from_code(bad.code()), Some(bad));
        }
        // The iterator stops after its first error, in script order.
        let script = hex("AA0A 2205 00B000000A 4401 00");
        let mut it = read_script(&script, rfm).unwrap();
        assert_eq!(it.next(), Some(Ok(&hex("00B000000A")[..])));
        assert_eq!(it.next(), Some(Err(BadFormat::UnknownTag)));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn round_trip_host_card_host() {
        let apdus = [
            hex("00a40004027f10"),
            hex("00b2010420"),
            hex("00dc0104021122"),
        ];
        let refs: Vec<&[u8]> = apdus.iter().map(Vec::as_slice).collect();
        let responses = [hex("6119"), {
            let mut r = vec![0xAA; 0x20];
            r.extend_from_slice(&[0x90, 0x00]);
            r
        }];
        let rsp_refs: Vec<&[u8]> = responses.iter().map(Vec::as_slice).collect();
        for indefinite in [false, true] {
            let script = if indefinite {
                expanded_script_indefinite(&refs).unwrap()
            } else {
                expanded_script(&refs).unwrap()
            };
            let parsed = parse_script(&script, RemoteApp::Rfm).unwrap();
            assert_eq!(parsed.format, ScriptFormat::Expanded { indefinite });
            assert_eq!(parsed.c_apdus, refs);
            let por = expanded_response(&rsp_refs, indefinite);
            let r = parse_expanded_response(&por).unwrap();
            assert_eq!(r.executed, 2);
            assert_eq!(r.r_apdus, responses);
            assert_eq!(r.last_sw(), Some(0x9000));
        }
        // Compact.
        let script = compact_script(&refs, RemoteApp::Rfm).unwrap();
        let parsed = parse_script(&script, RemoteApp::Rfm).unwrap();
        assert_eq!(parsed.c_apdus, refs);
        let por = CompactResponse {
            executed: 2,
            last_sw: Some(0x9000),
            last_data: vec![0xAA; 0x20],
        };
        assert_eq!(parse_compact_response(&por.encode()).unwrap(), por);
        // Bad format round trip.
        let r = parse_expanded_response(&bad_format_response(BadFormat::WrongLength)).unwrap();
        assert_eq!((r.executed, r.bad_format), (0, Some(0x02)));
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = parse_expanded_response(&data);
            let _ = parse_compact_response(&data);
            for app in [RemoteApp::Rfm, RemoteApp::Ram] {
                if let Ok(s) = parse_script(&data, app) {
                    let _ = expanded_response(&s.c_apdus, false);
                }
            }
        }
    }
}
