//! The card application toolkit side of SMS-PP: the ENVELOPE (SMS-PP download) data object
//! (ETSI TS 102 223 §7.1.1, 3GPP TS 31.111 §7.1.1), the proactive command SEND SHORT MESSAGE
//! (TS 102 223 §6.6.9) that carries a PoR as SMS-SUBMIT, FETCH (TS 102 221 §10.1.3 / §11.2.2)
//! and TERMINAL RESPONSE (TS 102 221 §11.2.3, TS 102 223 §6.8).
//!
//! Comprehension-TLV tags (TS 102 223 §9.3, Annex C) are matched with the comprehension
//! required bit (b8) masked: '02'/'82' device identities, '06'/'86' address, '0B'/'8B' SMS TPDU,
//! '01'/'81' command details, '03'/'83' result.

use apdu::{Command, Response, StatusWord};
use ota::ts23040::{SmsDeliver, MAX_UD_OCTETS};
use tlv::Tag;

/// BER-TLV tag of the SMS-PP download ENVELOPE (TS 102 223 §9.1).
pub const TAG_SMS_PP_DOWNLOAD: u8 = 0xD1;
/// BER-TLV tag of a proactive command (TS 102 223 §9.1).
pub const TAG_PROACTIVE_COMMAND: u8 = 0xD0;
/// Device identities (TS 102 223 §8.7): UICC, terminal (ME), network.
pub const DEVICE_UICC: u8 = 0x81;
pub const DEVICE_TERMINAL: u8 = 0x82;
pub const DEVICE_NETWORK: u8 = 0x83;
/// Type of command SEND SHORT MESSAGE (TS 102 223 §9.4).
pub const SEND_SHORT_MESSAGE: u8 = 0x13;

const CT_COMMAND_DETAILS: u8 = 0x01;
const CT_DEVICE_IDENTITIES: u8 = 0x02;
const CT_RESULT: u8 = 0x03;
const CT_ADDRESS: u8 = 0x06;
const CT_SMS_TPDU: u8 = 0x0B;

/// A decoded SMS-PP download ENVELOPE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsPpDownload {
    /// The address data object's value (TON/NPI and the service centre's number), if present.
    pub address: Option<Vec<u8>>,
    /// The SMS-DELIVER.
    pub deliver: SmsDeliver,
}

impl SmsPpDownload {
    /// Decodes `D1 { 82 02 83 81, [06 ..], 8B .. }`; anything malformed or missing: '6A80'.
    pub fn parse(data: &[u8]) -> Result<SmsPpDownload, StatusWord> {
        let bad = StatusWord::INCORRECT_DATA;
        let top = tlv::Tlv::parse_single(data).map_err(|_| bad)?;
        if top.tag != Tag(u32::from(TAG_SMS_PP_DOWNLOAD)) {
            return Err(bad);
        }
        let mut devices = None;
        let mut address = None;
        let mut tpdu = None;
        for t in tlv::iter(top.value) {
            let t = t.map_err(|_| bad)?;
            match t.tag.0 & 0x7F {
                x if x == u32::from(CT_DEVICE_IDENTITIES) => devices = Some(t.value),
                x if x == u32::from(CT_ADDRESS) => address = Some(t.value.to_vec()),
                x if x == u32::from(CT_SMS_TPDU) => tpdu = Some(t.value),
                _ => {}
            }
        }
        // Source: network, destination: UICC.
        if devices != Some(&[DEVICE_NETWORK, DEVICE_UICC][..]) {
            return Err(bad);
        }
        let deliver = SmsDeliver::decode(tpdu.ok_or(bad)?).map_err(|_| bad)?;
        Ok(SmsPpDownload { address, deliver })
    }

    /// Encodes an SMS-PP download ENVELOPE's data (for tests and terminals).
    pub fn encode(address: Option<&[u8]>, tpdu: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        tlv::write_tlv(Tag(0x82), &[DEVICE_NETWORK, DEVICE_UICC], &mut body);
        if let Some(a) = address {
            tlv::write_tlv(Tag(0x06), a, &mut body);
        }
        tlv::write_tlv(Tag(0x8B), tpdu, &mut body);
        tlv::encode_tlv(Tag(u32::from(TAG_SMS_PP_DOWNLOAD)), &body)
    }
}

/// A proactive command waiting for FETCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proactive {
    /// Command details value: number, type, qualifier.
    pub details: [u8; 3],
    /// The whole command, `D0 ..`.
    pub bytes: Vec<u8>,
}

/// The general result of a TERMINAL RESPONSE (TS 102 223 §8.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalResult {
    /// The command details it answered.
    pub details: [u8; 3],
    /// General result ('00' performed successfully, '2x' temporary problems, '3x' permanent).
    pub general: u8,
}

impl TerminalResult {
    /// '0x' results: the command was performed (TS 102 223 §8.12.1).
    pub fn is_success(&self) -> bool {
        self.general < 0x10
    }
}

/// SEND SHORT MESSAGE commands carrying `por_ud` (a response packet user data, `02 71 00 ..`)
/// in SMS-SUBMITs to the originator of the command's SMS-DELIVER; the ENVELOPE's address (the
/// service centre) goes in the address data object. A PoR longer than one short message goes
/// in concatenated SMS-SUBMITs (TS 31.115 §4.4), one command each.
pub fn send_short_message(env: &SmsPpDownload, por_ud: &[u8]) -> ota::Result<Vec<Proactive>> {
    let uds = if por_ud.len() <= MAX_UD_OCTETS {
        vec![por_ud.to_vec()]
    } else {
        ota::ts31115::response_user_data(por_ud, 0)?
            .into_iter()
            .map(|u| u.octets)
            .collect()
    };
    let mut out = Vec::with_capacity(uds.len());
    for (i, ud) in uds.into_iter().enumerate() {
        let submit =
            ota::ts31115::por_submit(env.deliver.originating_address.clone(), 0, ud)?.encode()?;
        // Command number 01..: qualifier '00' = packing not required.
        let number = u8::try_from(i + 1).unwrap_or(0xFE);
        let details = [number, SEND_SHORT_MESSAGE, 0x00];
        let mut body = Vec::new();
        tlv::write_tlv(Tag(0x81), &details, &mut body);
        tlv::write_tlv(Tag(0x82), &[DEVICE_UICC, DEVICE_NETWORK], &mut body);
        if let Some(a) = &env.address {
            tlv::write_tlv(Tag(0x06), a, &mut body);
        }
        tlv::write_tlv(Tag(0x8B), &submit, &mut body);
        out.push(Proactive {
            details,
            bytes: tlv::encode_tlv(Tag(u32::from(TAG_PROACTIVE_COMMAND)), &body),
        });
    }
    Ok(out)
}

/// FETCH (`80 12 00 00 Le`): the next proactive command. A command fetched but not yet
/// answered is fetched again. Nothing pending: '6985'. Le shorter than the command: '6Cxx'.
pub(crate) fn fetch(session: &mut super::OtaSession, cmd: &Command) -> Response {
    if cmd.p1 != 0 || cmd.p2 != 0 {
        return Response::status(StatusWord::INCORRECT_P1_P2);
    }
    if !cmd.data.is_empty() {
        return Response::status(StatusWord::WRONG_LENGTH);
    }
    let next = match session.fetched.clone() {
        Some(p) => p,
        None => match session.queue.pop_front() {
            Some(p) => p,
            None => return Response::status(StatusWord::CONDITIONS_NOT_SATISFIED),
        },
    };
    let len = next.bytes.len();
    if let Some(le) = cmd.le {
        if le < len && le != 256 {
            session.fetched = Some(next);
            return Response::status(StatusWord::new(0x6C, len.min(255) as u8));
        }
    }
    let bytes = next.bytes.clone();
    session.fetched = Some(next);
    Response::ok(bytes)
}

/// TERMINAL RESPONSE (`80 14 00 00 Lc data`): the result of the fetched command. Without a
/// fetched command: '6985'; command details or device identities that do not match, or no
/// result: '6A80'.
pub(crate) fn terminal_response(session: &mut super::OtaSession, cmd: &Command) -> Response {
    if cmd.p1 != 0 || cmd.p2 != 0 {
        return Response::status(StatusWord::INCORRECT_P1_P2);
    }
    let Some(fetched) = session.fetched.clone() else {
        return Response::status(StatusWord::CONDITIONS_NOT_SATISFIED);
    };
    let bad = Response::status(StatusWord::INCORRECT_DATA);
    let mut details = None;
    let mut devices = None;
    let mut result = None;
    for t in tlv::iter(&cmd.data) {
        let Ok(t) = t else {
            return bad;
        };
        match t.tag.0 & 0x7F {
            x if x == u32::from(CT_COMMAND_DETAILS) => details = Some(t.value),
            x if x == u32::from(CT_DEVICE_IDENTITIES) => devices = Some(t.value),
            x if x == u32::from(CT_RESULT) => result = t.value.first().copied(),
            _ => {}
        }
    }
    if details != Some(&fetched.details[..]) || devices != Some(&[DEVICE_TERMINAL, DEVICE_UICC][..])
    {
        return bad;
    }
    let Some(general) = result else {
        return bad;
    };
    session.fetched = None;
    session.last_result = Some(TerminalResult {
        details: fetched.details,
        general,
    });
    Response::ok(Vec::new())
}
