//! lpac's `stdio` APDU driver: the card side of a newline-delimited JSON protocol.
//!
//! With `LPAC_APDU=stdio`, lpac (github.com/estkme-group/lpac, driver/apdu/stdio.c) prints one
//! request per line on its stdout and reads one response line from its stdin
//! (docs/backends/stdio.md, docs/backends/stdio-schema.json):
//!
//! ```text
//! {"type":"apdu","payload":{"func":"connect","param":null}}
//! {"type":"apdu","payload":{"func":"logic_channel_open","param":"a0000005591010ffffffff8900000100"}}
//! {"type":"apdu","payload":{"func":"transmit","param":"81e2910003bf3e00"}}
//! {"type":"apdu","payload":{"func":"logic_channel_close","param":"01"}}
//! {"type":"apdu","payload":{"func":"disconnect","param":null}}
//! ```
//!
//! `param` is lowercase hex (lpac's `euicc_hexutil_bin2hex`), or `null` when there is none
//! (`cJSON_AddStringOrNullToObject`). Each is answered with
//! `{"type":"apdu","payload":{"ecode":N}}`, plus `"data":"<hex R-APDU incl. SW>"` for
//! `transmit`. `ecode` is 0 for success and negative for failure; for `logic_channel_open` it is
//! the channel number (lpac's PC/SC driver: MANAGE CHANNEL open, then SELECT by AID on it).
//!
//! Everything else lpac prints on stdout (its `lpa`, `progress` and `driver` messages) is its
//! output, passed through untouched. `http` messages only appear with `LPAC_HTTP=stdio`, which
//! the bridge does not serve.

use std::io::{BufRead, Write};

use serde_json::Value;

use crate::{AsTransport, CardFault, VirtualCard};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LpacError {
    #[error("lpac apdu request without a payload object")]
    NoPayload,
    #[error("lpac apdu request: unknown func {0:?}")]
    UnknownFunc(String),
    #[error("lpac apdu request {func}: param {reason}")]
    BadParam { func: String, reason: &'static str },
    #[error("lpac sent an HTTP request (LPAC_HTTP=stdio), which the bridge does not serve")]
    HttpRequest,
    #[error("lpac I/O: {0}")]
    Io(String),
}

/// One APDU driver call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApduRequest {
    Connect,
    Disconnect,
    LogicChannelOpen { aid: Vec<u8> },
    LogicChannelClose { channel: u8 },
    Transmit { apdu: Vec<u8> },
}

/// A line lpac printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// An APDU driver call, to answer on lpac's stdin.
    Apdu(ApduRequest),
    /// An HTTP driver call (`LPAC_HTTP=stdio`).
    Http,
    /// Anything else: lpac's own output.
    Output,
}

/// Classifies one line of lpac's stdout. `Err` only for a line that is an `apdu` message but
/// not a valid request (lpac is waiting for an answer: reply with [`encode_response`] and a
/// negative ecode).
pub fn parse_line(line: &str) -> Result<Line, LpacError> {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return Ok(Line::Output);
    };
    match v.get("type").and_then(Value::as_str) {
        Some("apdu") => {}
        Some("http") => return Ok(Line::Http),
        _ => return Ok(Line::Output),
    }
    let payload = v
        .get("payload")
        .and_then(Value::as_object)
        .ok_or(LpacError::NoPayload)?;
    let func = payload.get("func").and_then(Value::as_str).unwrap_or("");
    let param = || -> Result<Vec<u8>, LpacError> {
        let bad = |reason| LpacError::BadParam {
            func: func.to_string(),
            reason,
        };
        match payload.get("param") {
            Some(Value::String(h)) => hex::decode(h).map_err(|_| bad("is not hex")),
            Some(Value::Null) | None => Ok(Vec::new()),
            Some(_) => Err(bad("is not a string")),
        }
    };
    let req = match func {
        "connect" => ApduRequest::Connect,
        "disconnect" => ApduRequest::Disconnect,
        "logic_channel_open" => ApduRequest::LogicChannelOpen { aid: param()? },
        "logic_channel_close" => match param()?.as_slice() {
            [channel] => ApduRequest::LogicChannelClose { channel: *channel },
            _ => {
                return Err(LpacError::BadParam {
                    func: func.into(),
                    reason: "is not one byte",
                })
            }
        },
        "transmit" => {
            let apdu = param()?;
            if apdu.len() < 4 {
                return Err(LpacError::BadParam {
                    func: func.into(),
                    reason: "is shorter than a command header",
                });
            }
            ApduRequest::Transmit { apdu }
        }
        other => return Err(LpacError::UnknownFunc(other.to_string())),
    };
    Ok(Line::Apdu(req))
}

/// `{"type":"apdu","payload":{"ecode":N[,"data":"HEX"]}}` (no newline).
/// Keys in lpac's own order (cJSON keeps insertion order); the values need no escaping.
pub fn encode_response(ecode: i64, data: Option<&[u8]>) -> String {
    let data = data
        .map(|d| format!(r#","data":"{}""#, hex::encode_upper(d)))
        .unwrap_or_default();
    format!(r#"{{"type":"apdu","payload":{{"ecode":{ecode}{data}}}}}"#)
}

/// Answers lpac's APDU driver calls from a [`VirtualCard`].
pub struct Bridge<C> {
    card: C,
}

impl<C: VirtualCard> Bridge<C> {
    pub fn new(card: C) -> Self {
        Bridge { card }
    }

    pub fn into_inner(self) -> C {
        self.card
    }

    /// Executes one call: `(ecode, data)`.
    pub fn call(&mut self, req: &ApduRequest) -> (i64, Option<Vec<u8>>) {
        let fault = |f: CardFault| {
            tracing::error!("lpac bridge: {f}");
            (-1, None)
        };
        match req {
            // Connecting powers the card (a cold reset, as a PC/SC connect to an unpowered
            // card); disconnecting removes power, so each lpac run starts from a fresh card.
            ApduRequest::Connect => match self.card.power_on() {
                Ok(_) => (0, None),
                Err(f) => fault(f),
            },
            ApduRequest::Disconnect => match self.card.power_off() {
                Ok(()) => (0, None),
                Err(f) => fault(f),
            },
            ApduRequest::LogicChannelOpen { aid } => {
                let mut t = AsTransport(&mut self.card);
                let channel = match apdu::open_channel(&mut t) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!("lpac bridge: MANAGE CHANNEL open: {e}");
                        return (-1, None);
                    }
                };
                match apdu::select_aid(&mut t, channel, aid) {
                    Ok(_) => (i64::from(channel), None),
                    Err(e) => {
                        tracing::warn!(
                            "lpac bridge: SELECT {} on channel {channel}: {e}",
                            hex::encode_upper(aid)
                        );
                        let _ = apdu::close_channel(&mut t, channel);
                        (-1, None)
                    }
                }
            }
            ApduRequest::LogicChannelClose { channel } => {
                let mut t = AsTransport(&mut self.card);
                match apdu::close_channel(&mut t, *channel) {
                    Ok(()) => (0, None),
                    Err(e) => {
                        tracing::warn!("lpac bridge: MANAGE CHANNEL close {channel}: {e}");
                        (-1, None)
                    }
                }
            }
            ApduRequest::Transmit { apdu } => match self.card.transmit(apdu) {
                Ok(resp) => (0, Some(resp)),
                Err(f) => fault(f),
            },
        }
    }

    /// Handles one line of lpac's stdout: `Some(reply)` to write to its stdin, `None` for a
    /// line that is lpac's own output.
    pub fn handle_line(&mut self, line: &str) -> Result<Option<String>, LpacError> {
        match parse_line(line) {
            Ok(Line::Apdu(req)) => {
                let (ecode, data) = self.call(&req);
                Ok(Some(encode_response(ecode, data.as_deref())))
            }
            Ok(Line::Output) => Ok(None),
            Ok(Line::Http) => Err(LpacError::HttpRequest),
            Err(e) => {
                tracing::warn!("lpac bridge: {e}");
                Ok(Some(encode_response(-1, None)))
            }
        }
    }

    /// Serves lpac until its stdout closes: requests from `from_lpac` are answered on
    /// `to_lpac`, every other line goes to `output` as it came.
    pub fn run<R: BufRead, W: Write, O: Write>(
        &mut self,
        mut from_lpac: R,
        mut to_lpac: W,
        mut output: O,
    ) -> Result<(), LpacError> {
        let io = |e: std::io::Error| LpacError::Io(e.to_string());
        let mut line = Vec::new();
        loop {
            line.clear();
            if from_lpac.read_until(b'\n', &mut line).map_err(io)? == 0 {
                return Ok(());
            }
            let text = String::from_utf8_lossy(&line);
            match self.handle_line(text.trim_end_matches(['\n', '\r']))? {
                Some(reply) => {
                    to_lpac.write_all(reply.as_bytes()).map_err(io)?;
                    to_lpac.write_all(b"\n").map_err(io)?;
                    to_lpac.flush().map_err(io)?;
                }
                None => {
                    output.write_all(&line).map_err(io)?;
                    output.flush().map_err(io)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testcard::EchoCard;

    #[test]
    fn requests_as_lpac_prints_them() {
        // Shapes from lpac driver/apdu/stdio.c `json_request` (cJSON_PrintUnformatted of
        // {"type":"apdu","payload":{"func":...,"param":<lowercase hex or null>}}); the AID is
        // lpac's default ISD-R AID (docs/ENVVARS.md, LPAC_CUSTOM_ISD_R_AID).
        assert_eq!(
            parse_line(r#"{"type":"apdu","payload":{"func":"connect","param":null}}"#),
            Ok(Line::Apdu(ApduRequest::Connect))
        );
        assert_eq!(
            parse_line(r#"{"type":"apdu","payload":{"func":"disconnect","param":null}}"#),
            Ok(Line::Apdu(ApduRequest::Disconnect))
        );
        assert_eq!(
            parse_line(
                r#"{"type":"apdu","payload":{"func":"logic_channel_open","param":"a0000005591010ffffffff8900000100"}}"#
            ),
            Ok(Line::Apdu(ApduRequest::LogicChannelOpen {
                aid: hex::decode("A0000005591010FFFFFFFF8900000100").unwrap()
            }))
        );
        assert_eq!(
            parse_line(r#"{"type":"apdu","payload":{"func":"logic_channel_close","param":"01"}}"#),
            Ok(Line::Apdu(ApduRequest::LogicChannelClose { channel: 1 }))
        );
        assert_eq!(
            parse_line(
                r#"{"type":"apdu","payload":{"func":"transmit","param":"81e2910003bf3e00"}}"#
            ),
            Ok(Line::Apdu(ApduRequest::Transmit {
                apdu: vec![0x81, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x3E, 0x00]
            }))
        );
    }

    #[test]
    fn responses_match_lpacs_examples() {
        // The example responses in lpac driver/apdu/stdio.c (comments above each function).
        assert_eq!(
            encode_response(0, None),
            r#"{"type":"apdu","payload":{"ecode":0}}"#
        );
        assert_eq!(
            encode_response(1, None),
            r#"{"type":"apdu","payload":{"ecode":1}}"#
        );
        let data = hex::decode("BF3E125A10890490320010012345000123456789019000").unwrap();
        assert_eq!(
            encode_response(0, Some(&data)),
            r#"{"type":"apdu","payload":{"ecode":0,"data":"BF3E125A10890490320010012345000123456789019000"}}"#
        );
    }

    #[test]
    fn other_lines_and_bad_requests() {
        for line in [
            r#"{"type":"lpa","payload":{"code":0,"message":"success","data":{}}}"#,
            r#"{"type":"progress","payload":{"code":0,"message":"es10b_get_euicc_challenge_and_info","data":null}}"#,
            "not json at all",
            "",
            "[1,2]",
            r#"{"payload":{}}"#,
        ] {
            assert_eq!(parse_line(line), Ok(Line::Output), "{line}");
        }
        assert_eq!(
            parse_line(r#"{"type":"http","payload":{"url":"https://x","tx":"","headers":[]}}"#),
            Ok(Line::Http)
        );
        assert_eq!(
            parse_line(r#"{"type":"apdu","payload":{"func":"reboot","param":null}}"#),
            Err(LpacError::UnknownFunc("reboot".into()))
        );
        assert_eq!(parse_line(r#"{"type":"apdu"}"#), Err(LpacError::NoPayload));
        for bad in [
            r#"{"type":"apdu","payload":{"func":"transmit","param":"zz"}}"#,
            r#"{"type":"apdu","payload":{"func":"transmit","param":"00a4"}}"#,
            r#"{"type":"apdu","payload":{"func":"transmit","param":7}}"#,
            r#"{"type":"apdu","payload":{"func":"logic_channel_close","param":"0102"}}"#,
        ] {
            assert!(
                matches!(parse_line(bad), Err(LpacError::BadParam { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_whole_lpac_session() {
        let input = [
            r#"{"type":"apdu","payload":{"func":"connect","param":null}}"#,
            r#"{"type":"apdu","payload":{"func":"logic_channel_open","param":"a0000005591010ffffffff8900000100"}}"#,
            r#"{"type":"progress","payload":{"code":0,"message":"x","data":null}}"#,
            r#"{"type":"apdu","payload":{"func":"transmit","param":"81e2910003bf3e00"}}"#,
            r#"{"type":"apdu","payload":{"func":"logic_channel_open","param":"ff01020304"}}"#,
            r#"{"type":"apdu","payload":{"func":"bogus","param":null}}"#,
            r#"{"type":"apdu","payload":{"func":"logic_channel_close","param":"01"}}"#,
            r#"{"type":"apdu","payload":{"func":"disconnect","param":null}}"#,
            r#"{"type":"lpa","payload":{"code":0,"message":"success","data":null}}"#,
        ]
        .join("\n")
            + "\n";
        let mut to_lpac = Vec::new();
        let mut output = Vec::new();
        let mut bridge = Bridge::new(EchoCard::default());
        bridge
            .run(input.as_bytes(), &mut to_lpac, &mut output)
            .unwrap();
        let replies: Vec<&str> = std::str::from_utf8(&to_lpac).unwrap().lines().collect();
        assert_eq!(
            replies,
            [
                r#"{"type":"apdu","payload":{"ecode":0}}"#,
                r#"{"type":"apdu","payload":{"ecode":1}}"#,
                r#"{"type":"apdu","payload":{"ecode":0,"data":"81E2910003BF3E009000"}}"#,
                // SELECT refused (6A82): the channel is closed again and lpac gets -1.
                r#"{"type":"apdu","payload":{"ecode":-1}}"#,
                r#"{"type":"apdu","payload":{"ecode":-1}}"#,
                r#"{"type":"apdu","payload":{"ecode":0}}"#,
                r#"{"type":"apdu","payload":{"ecode":0}}"#,
            ]
        );
        assert_eq!(
            std::str::from_utf8(&output).unwrap(),
            "{\"type\":\"progress\",\"payload\":{\"code\":0,\"message\":\"x\",\"data\":null}}\n\
             {\"type\":\"lpa\",\"payload\":{\"code\":0,\"message\":\"success\",\"data\":null}}\n"
        );
        let card = bridge.into_inner();
        assert!(card.channels.is_empty());
        assert!(!card.powered);
    }

    #[test]
    fn card_faults_and_http_requests() {
        let mut bridge = Bridge::new(EchoCard {
            fail: true,
            ..Default::default()
        });
        assert_eq!(
            bridge
                .handle_line(
                    r#"{"type":"apdu","payload":{"func":"transmit","param":"00b0000000"}}"#
                )
                .unwrap(),
            Some(r#"{"type":"apdu","payload":{"ecode":-1}}"#.to_string())
        );
        let mut out = Vec::new();
        let r = bridge.run(
            &br#"{"type":"http","payload":{"url":"https://x","tx":"","headers":[]}}
"#[..],
            &mut out,
            Vec::new(),
        );
        assert_eq!(r, Err(LpacError::HttpRequest));
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_line_never_panics(line in ".{0,200}") {
            let _ = parse_line(&line);
        }

        #[test]
        fn apdu_requests_with_any_param(func in "[a-z_]{0,20}", param in "[0-9a-fA-Fz]{0,40}") {
            let line = format!(r#"{{"type":"apdu","payload":{{"func":"{func}","param":"{param}"}}}}"#);
            let _ = parse_line(&line);
        }
    }
}
