//! Remote command scripts (ETSI TS 102 226 §5) on the card: the glue between the shared codec
//! [`ota::ts102226`] (compact §5.1 and expanded §5.2 formats, the responses, the Bad format TLV
//! '90') and this card's [`Command`]/[`Response`], and the script runner shared by RFM and RAM.
//!
//! Execution (§5.1.1, §5.2.1) stops after the first command whose status word is not normal
//! processing (9000, 61xx, 91xx, 92xx); warnings (62xx/63xx) count as failures too. A command
//! without Le that has response data gets '61xx' and the data waits for a GET RESPONSE
//! ('00 C0' or '80 C0') in the same script (as the pySim OTA vectors show: SELECT by FID
//! answered '6132').

use apdu::{Command, Response, StatusWord};
use ota::ts102226::{self, CompactResponse, RemoteApp};

pub use ota::ts102226::{BadFormat, ScriptFormat as Format};

/// A parsed script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub format: Format,
    pub commands: Vec<Command>,
}

impl Script {
    /// Parses the secured data of a command packet: expanded if it starts with 'AA'/'AE',
    /// compact otherwise. `rfm` selects the compact coding's outgoing instructions. A C-APDU
    /// that is not a valid ISO/IEC 7816-4 encoding is a wrong length; errors are reported in
    /// script order.
    pub fn parse(data: &[u8], rfm: bool) -> Result<Script, BadFormat> {
        let app = if rfm { RemoteApp::Rfm } else { RemoteApp::Ram };
        let c_apdus = ts102226::read_script(data, app)?;
        let format = c_apdus.format();
        let commands = c_apdus
            .map(|raw| raw.and_then(|r| Command::parse(r).map_err(|_| BadFormat::WrongLength)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Script { format, commands })
    }

    /// The additional response data of the PoR for the responses of the executed commands.
    pub fn response(&self, responses: &[Response]) -> Vec<u8> {
        match self.format {
            Format::Compact => {
                let last = responses.last();
                CompactResponse {
                    executed: responses.len(),
                    last_sw: last.map(|r| r.sw.0),
                    last_data: last.map(|r| r.data.clone()).unwrap_or_default(),
                }
                .encode()
            }
            Format::Expanded { indefinite } => {
                let r_apdus: Vec<Vec<u8>> = responses.iter().map(Response::encode).collect();
                let r_apdus: Vec<&[u8]> = r_apdus.iter().map(Vec::as_slice).collect();
                ts102226::expanded_response(&r_apdus, indefinite)
            }
        }
    }
}

/// The response to a script that could not be parsed: 'AB' { '90' 01 tt } (nothing executed).
pub fn bad_format_response(bad: BadFormat) -> Vec<u8> {
    ts102226::bad_format_response(bad)
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
