//! The terminal's side of the card application toolkit (ETSI TS 102 223, 3GPP TS 31.111)
//! and the card's SMS-PP capability data object.

use apdu::Command;
use tlv::Tag;

use crate::error::{ModemError, Result};

/// TERMINAL PROFILE (TS 102 221 §10.1.3, TS 102 223 §5.2) of this terminal, four octets:
/// * byte 1 (download): b1 profile download, b2 SMS-PP data download, b5 the '9EXX'
///   response code for a (U)SIM data download error (3GPP TS 31.111 §5.2) → '13';
/// * byte 2 (other): b1 command result → '01';
/// * byte 3 (proactive UICC): none → '00';
/// * byte 4 (proactive UICC): b2 SEND SHORT MESSAGE → '02'.
pub const TERMINAL_PROFILE: [u8; 4] = [0x13, 0x01, 0x00, 0x02];

/// GET DATA P1-P2 of the card's SMS-PP capability object: see the crate documentation.
pub const TAG_SMS_PP_CAPABILITY: u16 = 0xFF70;

/// Type of command SEND SHORT MESSAGE (TS 102 223 §9.4).
pub const SEND_SHORT_MESSAGE: u8 = 0x13;
/// Device identities (TS 102 223 §8.7).
const DEVICE_UICC: u8 = 0x81;
const DEVICE_TERMINAL: u8 = 0x82;

/// General results of a TERMINAL RESPONSE (TS 102 223 §8.12).
pub mod result {
    /// '00' command performed successfully.
    pub const PERFORMED: u8 = 0x00;
    /// '20' terminal currently unable to process command.
    pub const TERMINAL_UNABLE: u8 = 0x20;
    /// '30' command beyond terminal's capabilities.
    pub const BEYOND_CAPABILITIES: u8 = 0x30;
    /// '32' command data not understood by terminal.
    pub const DATA_NOT_UNDERSTOOD: u8 = 0x32;
    /// '35' SMS RP-ERROR.
    pub const SMS_RP_ERROR: u8 = 0x35;
}

/// `80 10 00 00 Lc profile`.
pub fn terminal_profile_command(profile: &[u8]) -> Command {
    Command::with_data(0x80, 0x10, 0x00, 0x00, profile.to_vec())
}

/// `80 CA FF 70 00`: the SMS-PP capability object.
pub fn capability_command() -> Command {
    let [p1, p2] = TAG_SMS_PP_CAPABILITY.to_be_bytes();
    Command::new(0x80, 0xCA, p1, p2).le(256)
}

/// `80 12 00 00 Le`.
pub fn fetch_command(len: u8) -> Command {
    Command::new(0x80, 0x12, 0x00, 0x00).le(if len == 0 { 256 } else { usize::from(len) })
}

/// `80 C2 00 00 Lc D1..`: the SMS-PP download ENVELOPE (TS 102 223 §7.1.1 / TS 31.111
/// §7.1.1.2) of one SMS-DELIVER TPDU, with the service centre address if known.
pub fn sms_pp_download(sc_address: Option<&[u8]>, tpdu: &[u8]) -> Command {
    let mut body = Vec::new();
    // Device identities: network → UICC.
    tlv::write_tlv(Tag(0x82), &[0x83, DEVICE_UICC], &mut body);
    if let Some(a) = sc_address {
        tlv::write_tlv(Tag(0x06), a, &mut body);
    }
    tlv::write_tlv(Tag(0x8B), tpdu, &mut body);
    Command::with_data(0x80, 0xC2, 0x00, 0x00, tlv::encode_tlv(Tag(0xD1), &body))
}

/// What the card announced in its SMS-PP capability object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardCapability {
    /// Largest command packet (`CPL .. end`) it reassembles (tag '80').
    pub max_packet_len: usize,
    /// Concatenated messages it buffers at the same time (tag '81').
    pub max_pending_messages: usize,
    /// Largest TP-UD (UDH included) of one SMS-DELIVER it accepts per ENVELOPE (tag '82').
    pub max_segment_ud: usize,
}

impl CardCapability {
    /// Decodes `FF70 { 80 02 .., 81 01 .., 82 01 .. }` (other tags are ignored; each of the
    /// three is required; a piece size below 16 octets cannot carry a first segment).
    pub fn parse(data: &[u8]) -> Result<CardCapability> {
        let bad = ModemError::Malformed("SMS-PP capability");
        let top = tlv::Tlv::parse_expecting(data, Tag(u32::from(TAG_SMS_PP_CAPABILITY)))
            .map_err(|_| ModemError::Malformed("SMS-PP capability"))?;
        let (mut packet, mut pending, mut segment) = (None, None, None);
        for t in tlv::iter(top.value) {
            let t = t.map_err(|_| ModemError::Malformed("SMS-PP capability"))?;
            match (t.tag.0, t.value) {
                (0x80, [a, b]) => packet = Some(usize::from(u16::from_be_bytes([*a, *b]))),
                (0x81, [n]) => pending = Some(usize::from(*n)),
                (0x82, [n]) => segment = Some(usize::from(*n)),
                (0x80..=0x82, _) => return Err(bad),
                _ => {}
            }
        }
        match (packet, pending, segment) {
            (Some(p), Some(m), Some(s)) if (16..=ota::ts23040::MAX_UD_OCTETS).contains(&s) => {
                Ok(CardCapability {
                    max_packet_len: p,
                    max_pending_messages: m,
                    max_segment_ud: s,
                })
            }
            _ => Err(bad),
        }
    }
}

/// A proactive command the terminal fetched (TS 102 223 §6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProactiveCommand {
    /// Command details: number, type, qualifier.
    pub details: [u8; 3],
    /// Address data object value (service centre), if any.
    pub address: Option<Vec<u8>>,
    /// SMS TPDU data object value, if any.
    pub tpdu: Option<Vec<u8>>,
}

impl ProactiveCommand {
    /// Decodes `D0 { 81 03 .., 82 02 81 xx, [06 ..], [8B ..], .. }`; comprehension-TLV tags are
    /// matched with the CR bit masked (TS 102 223 §8, Annex C).
    pub fn parse(data: &[u8]) -> Result<ProactiveCommand> {
        let bad = || ModemError::Malformed("proactive command");
        let top = tlv::Tlv::parse_expecting(data, Tag(0xD0)).map_err(|_| bad())?;
        let mut details = None;
        let mut address = None;
        let mut tpdu = None;
        for t in tlv::iter(top.value) {
            let t = t.map_err(|_| bad())?;
            match t.tag.0 & 0x7F {
                0x01 => details = <[u8; 3]>::try_from(t.value).ok(),
                0x06 => address = Some(t.value.to_vec()),
                0x0B => tpdu = Some(t.value.to_vec()),
                _ => {}
            }
        }
        Ok(ProactiveCommand {
            details: details.ok_or_else(bad)?,
            address,
            tpdu,
        })
    }

    /// The type of command.
    pub fn kind(&self) -> u8 {
        self.details[1]
    }
}

/// `80 14 00 00 Lc { 81 03 details, 82 02 82 81, 83 01 result }` (TS 102 223 §6.8).
pub fn terminal_response_command(details: [u8; 3], general_result: u8) -> Command {
    let mut body = Vec::new();
    tlv::write_tlv(Tag(0x81), &details, &mut body);
    tlv::write_tlv(Tag(0x82), &[DEVICE_TERMINAL, DEVICE_UICC], &mut body);
    tlv::write_tlv(Tag(0x83), &[general_result], &mut body);
    Command::with_data(0x80, 0x14, 0x00, 0x00, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_round_trip_and_bad_input() {
        let c = CardCapability::parse(&[
            0xFF, 0x70, 0x0A, 0x80, 0x02, 0x08, 0x00, 0x81, 0x01, 0x04, 0x82, 0x01, 0x8C,
        ])
        .unwrap();
        assert_eq!(
            c,
            CardCapability {
                max_packet_len: 2048,
                max_pending_messages: 4,
                max_segment_ud: 140
            }
        );
        for bad in [
            &[][..],
            &[0xFF, 0x70, 0x00],
            &[0xFF, 0x71, 0x00],
            &[0xFF, 0x70, 0x07, 0x80, 0x01, 0x08, 0x81, 0x01, 0x04, 0x82],
            // piece size 141: more than a TP-UD holds
            &[
                0xFF, 0x70, 0x0A, 0x80, 0x02, 0x08, 0x00, 0x81, 0x01, 0x04, 0x82, 0x01, 0x8D,
            ],
        ] {
            assert!(CardCapability::parse(bad).is_err());
        }
    }

    #[test]
    fn proactive_command_and_terminal_response() {
        let p = ProactiveCommand::parse(&[
            0xD0, 0x0D, 0x81, 0x03, 0x01, 0x13, 0x00, 0x82, 0x02, 0x81, 0x83, 0x8B, 0x02, 0x01,
            0x00,
        ])
        .unwrap();
        assert_eq!(p.details, [0x01, 0x13, 0x00]);
        assert_eq!(p.kind(), SEND_SHORT_MESSAGE);
        assert_eq!(p.tpdu.as_deref(), Some(&[0x01, 0x00][..]));
        assert!(ProactiveCommand::parse(&[0xD0, 0x02, 0x82, 0x00]).is_err());
        assert!(ProactiveCommand::parse(&[0xD0, 0x05, 0x81]).is_err());
        // TS 102 223 §6.8: 81 03 .. 82 02 82 81 83 01 00.
        assert_eq!(
            terminal_response_command([0x01, 0x13, 0x00], result::PERFORMED)
                .encode()
                .unwrap(),
            [
                0x80, 0x14, 0x00, 0x00, 0x0C, 0x81, 0x03, 0x01, 0x13, 0x00, 0x82, 0x02, 0x82, 0x81,
                0x83, 0x01, 0x00
            ]
        );
        assert_eq!(
            capability_command().encode().unwrap(),
            [0x80, 0xCA, 0xFF, 0x70, 0x00]
        );
    }
}
