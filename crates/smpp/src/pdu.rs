//! SMPP v3.4 PDUs (SMPP Developers Forum, Issue 1.2, 12-Oct-1999): the header (§3.2), the
//! session-management and message-submission operations this crate speaks (§4.1–4.7, §4.11,
//! §4.3 generic_nack) and the TLV optional parameters (§3.2.3, §5.3).
//!
//! Sans-I/O: [`Pdu::encode`] gives the bytes of one PDU, [`Pdu::decode`] reads one complete
//! PDU (as [`crate::frame::FrameDecoder`] cuts it from the stream). Decoding never panics; a
//! [`PduError`] says which command_status to answer with ([`PduError::reply`]).
//!
//! C-Octet Strings (§3.1) are ASCII in the specification; they are carried here as Latin-1
//! (one char per octet), which round-trips any octet value except NUL. The maximum lengths
//! quoted below include the terminating NUL, as in the specification's tables.

use crate::error::{Result, SmppError};
use crate::status::CommandStatus;

/// Octets of the PDU header (§3.2).
pub const HEADER_LEN: usize = 16;

/// interface_version 0x34 for SMPP v3.4 (§5.2.4).
pub const INTERFACE_VERSION_34: u8 = 0x34;

/// esm_class bit 6: UDHI, the short message starts with a user data header (§5.2.12).
pub const ESM_CLASS_UDHI: u8 = 0x40;
/// esm_class bits 5-2 = 0001: the deliver_sm is an SMSC delivery receipt (§5.2.12).
pub const ESM_CLASS_DELIVERY_RECEIPT: u8 = 0x04;

/// command_id values (§5.1.2.1, table 5-1).
pub mod command_id {
    /// generic_nack.
    pub const GENERIC_NACK: u32 = 0x8000_0000;
    /// bind_receiver.
    pub const BIND_RECEIVER: u32 = 0x0000_0001;
    /// bind_receiver_resp.
    pub const BIND_RECEIVER_RESP: u32 = 0x8000_0001;
    /// bind_transmitter.
    pub const BIND_TRANSMITTER: u32 = 0x0000_0002;
    /// bind_transmitter_resp.
    pub const BIND_TRANSMITTER_RESP: u32 = 0x8000_0002;
    /// query_sm (not implemented here; answered with generic_nack ESME_RINVCMDID).
    pub const QUERY_SM: u32 = 0x0000_0003;
    /// submit_sm.
    pub const SUBMIT_SM: u32 = 0x0000_0004;
    /// submit_sm_resp.
    pub const SUBMIT_SM_RESP: u32 = 0x8000_0004;
    /// deliver_sm.
    pub const DELIVER_SM: u32 = 0x0000_0005;
    /// deliver_sm_resp.
    pub const DELIVER_SM_RESP: u32 = 0x8000_0005;
    /// unbind.
    pub const UNBIND: u32 = 0x0000_0006;
    /// unbind_resp.
    pub const UNBIND_RESP: u32 = 0x8000_0006;
    /// bind_transceiver.
    pub const BIND_TRANSCEIVER: u32 = 0x0000_0009;
    /// bind_transceiver_resp.
    pub const BIND_TRANSCEIVER_RESP: u32 = 0x8000_0009;
    /// outbind (not implemented here).
    pub const OUTBIND: u32 = 0x0000_000B;
    /// enquire_link.
    pub const ENQUIRE_LINK: u32 = 0x0000_0015;
    /// enquire_link_resp.
    pub const ENQUIRE_LINK_RESP: u32 = 0x8000_0015;
    /// data_sm (not implemented here).
    pub const DATA_SM: u32 = 0x0000_0103;
    /// Bit 31 marks a response (§5.1.2.1).
    pub const RESPONSE_BIT: u32 = 0x8000_0000;
}

/// Optional parameter tags (§5.3.2, table 5-3).
pub mod tag {
    /// receipted_message_id (C-Octet String, max 65) §5.3.2.12.
    pub const RECEIPTED_MESSAGE_ID: u16 = 0x001E;
    /// user_message_reference (2 octets) §5.3.2.17.
    pub const USER_MESSAGE_REFERENCE: u16 = 0x0204;
    /// sar_msg_ref_num (2 octets) §5.3.2.22.
    pub const SAR_MSG_REF_NUM: u16 = 0x020C;
    /// sar_total_segments (1 octet) §5.3.2.23.
    pub const SAR_TOTAL_SEGMENTS: u16 = 0x020E;
    /// sar_segment_seqnum (1 octet) §5.3.2.24.
    pub const SAR_SEGMENT_SEQNUM: u16 = 0x020F;
    /// sc_interface_version (1 octet) §5.3.2.25.
    pub const SC_INTERFACE_VERSION: u16 = 0x0210;
    /// message_payload (up to 64K octets) §5.3.2.32.
    pub const MESSAGE_PAYLOAD: u16 = 0x0424;
    /// message_state (1 octet) §5.3.2.35.
    pub const MESSAGE_STATE: u16 = 0x0427;
    /// source_network_type (1 octet) §5.3.2.4.
    pub const SOURCE_NETWORK_TYPE: u16 = 0x000E;
    /// dest_network_type (1 octet) §5.3.2.3.
    pub const DEST_NETWORK_TYPE: u16 = 0x0006;
}

/// message_state values (§5.2.28).
pub mod message_state {
    /// ENROUTE.
    pub const ENROUTE: u8 = 1;
    /// DELIVERED.
    pub const DELIVERED: u8 = 2;
    /// EXPIRED.
    pub const EXPIRED: u8 = 3;
    /// DELETED.
    pub const DELETED: u8 = 4;
    /// UNDELIVERABLE.
    pub const UNDELIVERABLE: u8 = 5;
    /// ACCEPTED.
    pub const ACCEPTED: u8 = 6;
    /// UNKNOWN.
    pub const UNKNOWN: u8 = 7;
    /// REJECTED.
    pub const REJECTED: u8 = 8;
}

// Maximum sizes including the NUL (§4.1.1, §4.4.1, §4.4.2).
const MAX_SYSTEM_ID: usize = 16;
const MAX_PASSWORD: usize = 9;
const MAX_SYSTEM_TYPE: usize = 13;
const MAX_ADDRESS_RANGE: usize = 41;
const MAX_SERVICE_TYPE: usize = 6;
const MAX_ADDR: usize = 21;
const MAX_TIME: usize = 17;
const MAX_MESSAGE_ID: usize = 65;
/// Most octets of short_message (§4.4.1: sm_length 0 to 254).
pub const MAX_SHORT_MESSAGE: usize = 254;

/// The PDU header (§3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Octets of the whole PDU, header included.
    pub command_length: u32,
    /// The operation.
    pub command_id: u32,
    /// Outcome (responses) or 0 (requests).
    pub command_status: CommandStatus,
    /// Correlates a response with its request (0x00000001..=0x7FFFFFFF).
    pub sequence_number: u32,
}

impl Header {
    /// Read the header at the start of `bytes`, if 16 octets are there.
    pub fn peek(bytes: &[u8]) -> Option<Header> {
        let word = |i: usize| -> Option<u32> {
            let b: [u8; 4] = bytes.get(i..i + 4)?.try_into().ok()?;
            Some(u32::from_be_bytes(b))
        };
        Some(Header {
            command_length: word(0)?,
            command_id: word(4)?,
            command_status: CommandStatus(word(8)?),
            sequence_number: word(12)?,
        })
    }
}

/// One optional parameter (§3.2.3): 16-bit tag, 16-bit length, value. Unknown tags are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// Parameter tag.
    pub tag: u16,
    /// Value octets (the length is implicit).
    pub value: Vec<u8>,
}

impl Tlv {
    /// A TLV.
    pub fn new(tag: u16, value: impl Into<Vec<u8>>) -> Tlv {
        Tlv {
            tag,
            value: value.into(),
        }
    }

    /// A C-Octet String TLV (value is the text plus its NUL).
    pub fn c_string(tag: u16, text: &str) -> Result<Tlv> {
        let mut value = latin1("optional parameter", text, usize::MAX)?;
        value.push(0);
        Ok(Tlv { tag, value })
    }
}

/// How an ESME binds (§2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindMode {
    /// bind_transmitter: submit only.
    Transmitter,
    /// bind_receiver: deliveries only.
    Receiver,
    /// bind_transceiver: both.
    Transceiver,
}

impl BindMode {
    /// Whether this bind may send submit_sm.
    pub fn can_submit(self) -> bool {
        !matches!(self, BindMode::Receiver)
    }

    /// Whether this bind receives deliver_sm.
    pub fn can_receive(self) -> bool {
        !matches!(self, BindMode::Transmitter)
    }
}

/// An SME address: TON, NPI and the address text (max 21 octets with NUL).
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct SmeAddress {
    /// Type of number (§5.2.5).
    pub ton: u8,
    /// Numbering plan indicator (§5.2.6).
    pub npi: u8,
    /// The address.
    pub addr: String,
}

impl SmeAddress {
    /// An address.
    pub fn new(ton: u8, npi: u8, addr: &str) -> SmeAddress {
        SmeAddress {
            ton,
            npi,
            addr: addr.to_string(),
        }
    }
}

/// bind_transmitter / bind_receiver / bind_transceiver body (§4.1.1, §4.1.3, §4.1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// ESME identity (max 16).
    pub system_id: String,
    /// Password (max 9).
    pub password: String,
    /// ESME type (max 13).
    pub system_type: String,
    /// 0x34 for v3.4.
    pub interface_version: u8,
    /// TON of address_range.
    pub addr_ton: u8,
    /// NPI of address_range.
    pub addr_npi: u8,
    /// Regular expression of served addresses (max 41).
    pub address_range: String,
}

impl Default for Bind {
    fn default() -> Bind {
        Bind {
            system_id: String::new(),
            password: String::new(),
            system_type: String::new(),
            interface_version: INTERFACE_VERSION_34,
            addr_ton: 0,
            addr_npi: 0,
            address_range: String::new(),
        }
    }
}

/// bind_*_resp body (§4.1.2): the SMSC's system_id and optionally sc_interface_version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BindResp {
    /// SMSC identity (max 16). Omitted on the wire for an error status when empty.
    pub system_id: String,
    /// Optional parameters (sc_interface_version).
    pub tlvs: Vec<Tlv>,
}

/// submit_sm (§4.4.1) and deliver_sm (§4.6.1) share one body layout.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubmitSm {
    /// service_type (max 6).
    pub service_type: String,
    /// source_addr_ton / _npi / source_addr.
    pub source: SmeAddress,
    /// dest_addr_ton / _npi / destination_addr.
    pub destination: SmeAddress,
    /// esm_class (§5.2.12), [`ESM_CLASS_UDHI`] when short_message starts with a UDH.
    pub esm_class: u8,
    /// protocol_id: the GSM TP-PID (§5.2.13).
    pub protocol_id: u8,
    /// priority_flag (§5.2.14).
    pub priority_flag: u8,
    /// schedule_delivery_time: empty or 16 characters `YYMMDDhhmmsstnnp` (§7.1.1).
    pub schedule_delivery_time: String,
    /// validity_period: empty or 16 characters (§7.1.1).
    pub validity_period: String,
    /// registered_delivery (§5.2.17).
    pub registered_delivery: u8,
    /// replace_if_present_flag (§5.2.18).
    pub replace_if_present_flag: u8,
    /// data_coding: for GSM the TP-DCS (§5.2.19).
    pub data_coding: u8,
    /// sm_default_msg_id (§5.2.20).
    pub sm_default_msg_id: u8,
    /// short_message (0..=254 octets; sm_length is its length).
    pub short_message: Vec<u8>,
    /// Optional parameters in wire order; unknown ones are kept.
    pub tlvs: Vec<Tlv>,
}

/// deliver_sm has the body of submit_sm (§4.6.1); schedule_delivery_time and validity_period
/// are NULL in it.
pub type DeliverSm = SubmitSm;

impl SubmitSm {
    /// The value of the first TLV with `tag`.
    pub fn tlv(&self, tag: u16) -> Option<&[u8]> {
        self.tlvs
            .iter()
            .find(|t| t.tag == tag)
            .map(|t| t.value.as_slice())
    }

    /// Replace (or add) the TLV with this tag.
    pub fn set_tlv(&mut self, tlv: Tlv) {
        match self.tlvs.iter_mut().find(|t| t.tag == tlv.tag) {
            Some(t) => *t = tlv,
            None => self.tlvs.push(tlv),
        }
    }

    /// Whether esm_class has UDHI set.
    pub fn udhi(&self) -> bool {
        self.esm_class & ESM_CLASS_UDHI != 0
    }

    /// message_payload (0x0424), if present.
    pub fn message_payload(&self) -> Option<&[u8]> {
        self.tlv(tag::MESSAGE_PAYLOAD)
    }

    /// The user data: message_payload when present, otherwise short_message.
    pub fn payload(&self) -> &[u8] {
        self.message_payload().unwrap_or(&self.short_message)
    }

    /// (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum) when all three are present.
    pub fn sar(&self) -> Option<(u16, u8, u8)> {
        let r = self.tlv(tag::SAR_MSG_REF_NUM)?;
        let t = self.tlv(tag::SAR_TOTAL_SEGMENTS)?;
        let s = self.tlv(tag::SAR_SEGMENT_SEQNUM)?;
        Some((
            u16::from_be_bytes(r.try_into().ok()?),
            *t.first()?,
            *s.first()?,
        ))
    }

    /// Set the three SAR TLVs (§5.3.2.22–24).
    pub fn set_sar(&mut self, reference: u16, total: u8, seq: u8) {
        self.set_tlv(Tlv::new(tag::SAR_MSG_REF_NUM, reference.to_be_bytes()));
        self.set_tlv(Tlv::new(tag::SAR_TOTAL_SEGMENTS, [total]));
        self.set_tlv(Tlv::new(tag::SAR_SEGMENT_SEQNUM, [seq]));
    }

    /// receipted_message_id (0x001E) without its NUL.
    pub fn receipted_message_id(&self) -> Option<String> {
        let v = self.tlv(tag::RECEIPTED_MESSAGE_ID)?;
        let text = v.strip_suffix(&[0]).unwrap_or(v);
        Some(text.iter().map(|&b| char::from(b)).collect())
    }

    /// message_state (0x0427).
    pub fn message_state(&self) -> Option<u8> {
        self.tlv(tag::MESSAGE_STATE)?.first().copied()
    }

    /// user_message_reference (0x0204).
    pub fn user_message_reference(&self) -> Option<u16> {
        Some(u16::from_be_bytes(
            self.tlv(tag::USER_MESSAGE_REFERENCE)?.try_into().ok()?,
        ))
    }

    /// Set user_message_reference (0x0204).
    pub fn set_user_message_reference(&mut self, reference: u16) {
        self.set_tlv(Tlv::new(
            tag::USER_MESSAGE_REFERENCE,
            reference.to_be_bytes(),
        ));
    }
}

/// submit_sm_resp (§4.4.2) / deliver_sm_resp (§4.6.2) body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmResp {
    /// The SMSC's message id (max 65); unused (empty) in deliver_sm_resp. Omitted on the
    /// wire for an error status when empty.
    pub message_id: String,
}

/// The operation and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// generic_nack (§4.3).
    GenericNack,
    /// bind_receiver.
    BindReceiver(Bind),
    /// bind_receiver_resp.
    BindReceiverResp(BindResp),
    /// bind_transmitter.
    BindTransmitter(Bind),
    /// bind_transmitter_resp.
    BindTransmitterResp(BindResp),
    /// bind_transceiver.
    BindTransceiver(Bind),
    /// bind_transceiver_resp.
    BindTransceiverResp(BindResp),
    /// unbind (§4.2.1).
    Unbind,
    /// unbind_resp (§4.2.2).
    UnbindResp,
    /// submit_sm.
    SubmitSm(SubmitSm),
    /// submit_sm_resp.
    SubmitSmResp(SmResp),
    /// deliver_sm.
    DeliverSm(DeliverSm),
    /// deliver_sm_resp.
    DeliverSmResp(SmResp),
    /// enquire_link (§4.11.1).
    EnquireLink,
    /// enquire_link_resp (§4.11.2).
    EnquireLinkResp,
}

impl Body {
    /// The command_id of this operation.
    pub fn command_id(&self) -> u32 {
        use command_id as c;
        match self {
            Body::GenericNack => c::GENERIC_NACK,
            Body::BindReceiver(_) => c::BIND_RECEIVER,
            Body::BindReceiverResp(_) => c::BIND_RECEIVER_RESP,
            Body::BindTransmitter(_) => c::BIND_TRANSMITTER,
            Body::BindTransmitterResp(_) => c::BIND_TRANSMITTER_RESP,
            Body::BindTransceiver(_) => c::BIND_TRANSCEIVER,
            Body::BindTransceiverResp(_) => c::BIND_TRANSCEIVER_RESP,
            Body::Unbind => c::UNBIND,
            Body::UnbindResp => c::UNBIND_RESP,
            Body::SubmitSm(_) => c::SUBMIT_SM,
            Body::SubmitSmResp(_) => c::SUBMIT_SM_RESP,
            Body::DeliverSm(_) => c::DELIVER_SM,
            Body::DeliverSmResp(_) => c::DELIVER_SM_RESP,
            Body::EnquireLink => c::ENQUIRE_LINK,
            Body::EnquireLinkResp => c::ENQUIRE_LINK_RESP,
        }
    }

    /// A bind request of the given mode.
    pub fn bind(mode: BindMode, bind: Bind) -> Body {
        match mode {
            BindMode::Transmitter => Body::BindTransmitter(bind),
            BindMode::Receiver => Body::BindReceiver(bind),
            BindMode::Transceiver => Body::BindTransceiver(bind),
        }
    }

    /// The response body (empty fields) answering the request `command_id`, if it is a
    /// request this crate knows.
    pub fn empty_response(request_id: u32) -> Option<Body> {
        use command_id as c;
        Some(match request_id {
            c::BIND_RECEIVER => Body::BindReceiverResp(BindResp::default()),
            c::BIND_TRANSMITTER => Body::BindTransmitterResp(BindResp::default()),
            c::BIND_TRANSCEIVER => Body::BindTransceiverResp(BindResp::default()),
            c::UNBIND => Body::UnbindResp,
            c::SUBMIT_SM => Body::SubmitSmResp(SmResp::default()),
            c::DELIVER_SM => Body::DeliverSmResp(SmResp::default()),
            c::ENQUIRE_LINK => Body::EnquireLinkResp,
            _ => return None,
        })
    }
}

/// One PDU: header fields and body; command_length and command_id follow from the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    /// command_status.
    pub command_status: CommandStatus,
    /// sequence_number.
    pub sequence_number: u32,
    /// Operation and body.
    pub body: Body,
}

/// A PDU that could not be decoded: its header (when 16 octets were there) and the error.
#[derive(Debug)]
pub struct PduError {
    /// The header as read.
    pub header: Option<Header>,
    /// What is wrong.
    pub error: SmppError,
}

impl PduError {
    /// What the receiver sends back (§3.3, §4.3): generic_nack for an invalid
    /// command_length or command_id, the request's own response carrying the error status for
    /// a malformed body of a known request, nothing for a malformed response.
    pub fn reply(&self) -> Option<Pdu> {
        let seq = self.header.map(|h| h.sequence_number).unwrap_or(0);
        let status = self.error.command_status();
        match (&self.error, self.header) {
            (SmppError::InvalidCommandLength(_) | SmppError::InvalidCommandId(_), _)
            | (_, None) => Some(Pdu::generic_nack(seq, status)),
            (_, Some(h)) => {
                if h.command_id & command_id::RESPONSE_BIT != 0 {
                    return None;
                }
                let body = Body::empty_response(h.command_id)?;
                Some(Pdu {
                    command_status: status,
                    sequence_number: seq,
                    body,
                })
            }
        }
    }
}

impl Pdu {
    /// A PDU with command_status ESME_ROK.
    pub fn new(sequence_number: u32, body: Body) -> Pdu {
        Pdu {
            command_status: CommandStatus::ESME_ROK,
            sequence_number,
            body,
        }
    }

    /// A generic_nack.
    pub fn generic_nack(sequence_number: u32, status: CommandStatus) -> Pdu {
        Pdu {
            command_status: status,
            sequence_number,
            body: Body::GenericNack,
        }
    }

    /// command_id.
    pub fn command_id(&self) -> u32 {
        self.body.command_id()
    }

    /// Whether this is a response (bit 31 of command_id).
    pub fn is_response(&self) -> bool {
        self.command_id() & command_id::RESPONSE_BIT != 0
    }

    /// The response (empty body) to this request with `status`; `None` for a response.
    pub fn response(&self, status: CommandStatus) -> Option<Pdu> {
        Some(Pdu {
            command_status: status,
            sequence_number: self.sequence_number,
            body: Body::empty_response(self.command_id())?,
        })
    }

    /// Encode the PDU.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = vec![0u8; HEADER_LEN];
        let ok = self.command_status.is_ok();
        match &self.body {
            Body::GenericNack
            | Body::Unbind
            | Body::UnbindResp
            | Body::EnquireLink
            | Body::EnquireLinkResp => {}
            Body::BindReceiver(b) | Body::BindTransmitter(b) | Body::BindTransceiver(b) => {
                encode_bind(b, &mut out)?
            }
            Body::BindReceiverResp(r)
            | Body::BindTransmitterResp(r)
            | Body::BindTransceiverResp(r) => {
                // §4.1.2: the body is not returned with a non-zero command_status; a
                // system_id given anyway is kept (seen from real SMSCs).
                if ok || !r.system_id.is_empty() || !r.tlvs.is_empty() {
                    put_cstr(
                        &mut out,
                        "system_id",
                        &r.system_id,
                        MAX_SYSTEM_ID,
                        CommandStatus::ESME_RINVSYSID,
                    )?;
                    encode_tlvs(&r.tlvs, &mut out)?;
                }
            }
            Body::SubmitSm(sm) | Body::DeliverSm(sm) => encode_sm(sm, &mut out)?,
            Body::SubmitSmResp(r) | Body::DeliverSmResp(r) => {
                // §4.4.2: no body with a non-zero command_status.
                if ok || !r.message_id.is_empty() {
                    put_cstr(
                        &mut out,
                        "message_id",
                        &r.message_id,
                        MAX_MESSAGE_ID,
                        CommandStatus::ESME_RINVMSGID,
                    )?;
                }
            }
        }
        let len = u32::try_from(out.len()).map_err(|_| SmppError::Encode("PDU above 4 GiB"))?;
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(&len.to_be_bytes());
        header.extend_from_slice(&self.command_id().to_be_bytes());
        header.extend_from_slice(&self.command_status.0.to_be_bytes());
        header.extend_from_slice(&self.sequence_number.to_be_bytes());
        out.splice(..HEADER_LEN, header);
        Ok(out)
    }

    /// Decode one complete PDU; `frame` must be exactly command_length octets.
    pub fn decode(frame: &[u8]) -> std::result::Result<Pdu, PduError> {
        let header = Header::peek(frame);
        let fail = |error: SmppError| PduError { header, error };
        let h = header.ok_or_else(|| fail(SmppError::InvalidCommandLength(frame.len() as u32)))?;
        if usize::try_from(h.command_length).ok() != Some(frame.len()) {
            return Err(fail(SmppError::InvalidCommandLength(h.command_length)));
        }
        let body_bytes = frame.get(HEADER_LEN..).unwrap_or_default();
        let mut r = Reader { buf: body_bytes };
        let body = decode_body(h, &mut r).map_err(fail)?;
        Ok(Pdu {
            command_status: h.command_status,
            sequence_number: h.sequence_number,
            body,
        })
    }
}

fn decode_body(h: Header, r: &mut Reader<'_>) -> Result<Body> {
    use command_id as c;
    let empty = |r: &Reader<'_>, body: Body| -> Result<Body> {
        if r.buf.is_empty() {
            Ok(body)
        } else {
            Err(SmppError::InvalidCommandLength(h.command_length))
        }
    };
    match h.command_id {
        c::GENERIC_NACK => empty(r, Body::GenericNack),
        c::UNBIND => empty(r, Body::Unbind),
        c::UNBIND_RESP => empty(r, Body::UnbindResp),
        c::ENQUIRE_LINK => empty(r, Body::EnquireLink),
        c::ENQUIRE_LINK_RESP => empty(r, Body::EnquireLinkResp),
        c::BIND_RECEIVER => Ok(Body::BindReceiver(decode_bind(r)?)),
        c::BIND_TRANSMITTER => Ok(Body::BindTransmitter(decode_bind(r)?)),
        c::BIND_TRANSCEIVER => Ok(Body::BindTransceiver(decode_bind(r)?)),
        c::BIND_RECEIVER_RESP => Ok(Body::BindReceiverResp(decode_bind_resp(r)?)),
        c::BIND_TRANSMITTER_RESP => Ok(Body::BindTransmitterResp(decode_bind_resp(r)?)),
        c::BIND_TRANSCEIVER_RESP => Ok(Body::BindTransceiverResp(decode_bind_resp(r)?)),
        c::SUBMIT_SM => Ok(Body::SubmitSm(decode_sm(r)?)),
        c::DELIVER_SM => Ok(Body::DeliverSm(decode_sm(r)?)),
        c::SUBMIT_SM_RESP => Ok(Body::SubmitSmResp(decode_sm_resp(h, r)?)),
        c::DELIVER_SM_RESP => Ok(Body::DeliverSmResp(decode_sm_resp(h, r)?)),
        other => Err(SmppError::InvalidCommandId(other)),
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

fn truncated(field: &'static str) -> SmppError {
    SmppError::Field {
        field,
        reason: "the PDU ends inside this field",
        status: CommandStatus::ESME_RINVCMDLEN,
    }
}

impl Reader<'_> {
    fn u8(&mut self, field: &'static str) -> Result<u8> {
        let (&b, rest) = self.buf.split_first().ok_or(truncated(field))?;
        self.buf = rest;
        Ok(b)
    }

    /// A C-Octet String of at most `max` octets including its NUL (§3.1).
    fn cstr(&mut self, field: &'static str, max: usize, status: CommandStatus) -> Result<String> {
        let window = self.buf.get(..max).unwrap_or(self.buf);
        match window.iter().position(|&b| b == 0) {
            Some(n) => {
                let text = window.get(..n).unwrap_or_default();
                self.buf = self.buf.get(n + 1..).unwrap_or_default();
                Ok(text.iter().map(|&b| char::from(b)).collect())
            }
            None if self.buf.len() >= max => Err(SmppError::Field {
                field,
                reason: "longer than its maximum size",
                status,
            }),
            None => Err(truncated(field)),
        }
    }

    fn bytes(&mut self, n: usize, field: &'static str, status: CommandStatus) -> Result<Vec<u8>> {
        let v = self.buf.get(..n).ok_or(SmppError::Field {
            field,
            reason: "length runs past the end of the PDU",
            status,
        })?;
        self.buf = self.buf.get(n..).unwrap_or_default();
        Ok(v.to_vec())
    }
}

fn decode_bind(r: &mut Reader<'_>) -> Result<Bind> {
    let b = Bind {
        system_id: r.cstr("system_id", MAX_SYSTEM_ID, CommandStatus::ESME_RINVSYSID)?,
        password: r.cstr("password", MAX_PASSWORD, CommandStatus::ESME_RINVPASWD)?,
        system_type: r.cstr(
            "system_type",
            MAX_SYSTEM_TYPE,
            CommandStatus::ESME_RINVSYSTYP,
        )?,
        interface_version: r.u8("interface_version")?,
        addr_ton: r.u8("addr_ton")?,
        addr_npi: r.u8("addr_npi")?,
        address_range: r.cstr(
            "address_range",
            MAX_ADDRESS_RANGE,
            CommandStatus::ESME_RBINDFAIL,
        )?,
    };
    if !r.buf.is_empty() {
        // §4.1.1 defines no optional parameters for the bind requests.
        return Err(SmppError::Tlv {
            tag: 0,
            reason: "bind requests carry no optional parameters",
            status: CommandStatus::ESME_ROPTPARNOTALLWD,
        });
    }
    Ok(b)
}

fn decode_bind_resp(r: &mut Reader<'_>) -> Result<BindResp> {
    // §4.1.2: the body is absent when command_status is non-zero; real SMSCs also omit it
    // on success, so an empty body reads as an empty system_id.
    if r.buf.is_empty() {
        return Ok(BindResp::default());
    }
    let system_id = r.cstr("system_id", MAX_SYSTEM_ID, CommandStatus::ESME_RINVSYSID)?;
    let tlvs = decode_tlvs(r.buf)?;
    Ok(BindResp { system_id, tlvs })
}

fn decode_sm_resp(h: Header, r: &mut Reader<'_>) -> Result<SmResp> {
    if r.buf.is_empty() {
        return Ok(SmResp::default());
    }
    let message_id = r.cstr("message_id", MAX_MESSAGE_ID, CommandStatus::ESME_RINVMSGID)?;
    if !r.buf.is_empty() {
        return Err(SmppError::InvalidCommandLength(h.command_length));
    }
    Ok(SmResp { message_id })
}

/// §7.1.1: `YYMMDDhhmmsstnnp`, p one of '+', '-' (absolute) or 'R' (relative).
fn check_time(field: &'static str, t: &str, status: CommandStatus) -> Result<()> {
    if t.is_empty() {
        return Ok(());
    }
    let b = t.as_bytes();
    let ok = b.len() == 16
        && b.get(..15)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
        && matches!(b.get(15), Some(b'+' | b'-' | b'R'));
    if ok {
        Ok(())
    } else {
        Err(SmppError::Field {
            field,
            reason: "not NULL and not in the YYMMDDhhmmsstnnp format",
            status,
        })
    }
}

fn decode_sm(r: &mut Reader<'_>) -> Result<SubmitSm> {
    let service_type = r.cstr(
        "service_type",
        MAX_SERVICE_TYPE,
        CommandStatus::ESME_RINVSERTYP,
    )?;
    let source = SmeAddress {
        ton: r.u8("source_addr_ton")?,
        npi: r.u8("source_addr_npi")?,
        addr: r.cstr("source_addr", MAX_ADDR, CommandStatus::ESME_RINVSRCADR)?,
    };
    let destination = SmeAddress {
        ton: r.u8("dest_addr_ton")?,
        npi: r.u8("dest_addr_npi")?,
        addr: r.cstr("destination_addr", MAX_ADDR, CommandStatus::ESME_RINVDSTADR)?,
    };
    let esm_class = r.u8("esm_class")?;
    let protocol_id = r.u8("protocol_id")?;
    let priority_flag = r.u8("priority_flag")?;
    let schedule_delivery_time = r.cstr(
        "schedule_delivery_time",
        MAX_TIME,
        CommandStatus::ESME_RINVSCHED,
    )?;
    check_time(
        "schedule_delivery_time",
        &schedule_delivery_time,
        CommandStatus::ESME_RINVSCHED,
    )?;
    let validity_period = r.cstr("validity_period", MAX_TIME, CommandStatus::ESME_RINVEXPIRY)?;
    check_time(
        "validity_period",
        &validity_period,
        CommandStatus::ESME_RINVEXPIRY,
    )?;
    let registered_delivery = r.u8("registered_delivery")?;
    let replace_if_present_flag = r.u8("replace_if_present_flag")?;
    let data_coding = r.u8("data_coding")?;
    let sm_default_msg_id = r.u8("sm_default_msg_id")?;
    let sm_length = r.u8("sm_length")?;
    let short_message = r.bytes(
        usize::from(sm_length),
        "short_message",
        CommandStatus::ESME_RINVMSGLEN,
    )?;
    let tlvs = decode_tlvs(r.buf)?;
    Ok(SubmitSm {
        service_type,
        source,
        destination,
        esm_class,
        protocol_id,
        priority_flag,
        schedule_delivery_time,
        validity_period,
        registered_delivery,
        replace_if_present_flag,
        data_coding,
        sm_default_msg_id,
        short_message,
        tlvs,
    })
}

/// Whether `len` is a valid value length for the TLVs this crate interprets (§5.3.2);
/// other tags take any length.
fn tlv_len_ok(t: u16, len: usize) -> bool {
    match t {
        tag::USER_MESSAGE_REFERENCE | tag::SAR_MSG_REF_NUM => len == 2,
        tag::SAR_TOTAL_SEGMENTS
        | tag::SAR_SEGMENT_SEQNUM
        | tag::SC_INTERFACE_VERSION
        | tag::MESSAGE_STATE
        | tag::SOURCE_NETWORK_TYPE
        | tag::DEST_NETWORK_TYPE => len == 1,
        // C-Octet String, max 65 with its NUL.
        tag::RECEIPTED_MESSAGE_ID => (1..=MAX_MESSAGE_ID).contains(&len),
        _ => true,
    }
}

/// The optional parameter part (§3.2.3): any number of TLVs up to the end of the PDU.
pub fn decode_tlvs(mut buf: &[u8]) -> Result<Vec<Tlv>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let [t0, t1, l0, l1, rest @ ..] = buf else {
            return Err(SmppError::Tlv {
                tag: 0,
                reason: "fewer than 4 octets left for a TLV header",
                status: CommandStatus::ESME_RINVOPTPARSTREAM,
            });
        };
        let t = u16::from_be_bytes([*t0, *t1]);
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        let value = rest.get(..len).ok_or(SmppError::Tlv {
            tag: t,
            reason: "length runs past the end of the PDU",
            status: CommandStatus::ESME_RINVOPTPARSTREAM,
        })?;
        if !tlv_len_ok(t, len) {
            return Err(SmppError::Tlv {
                tag: t,
                reason: "wrong length for this parameter",
                status: CommandStatus::ESME_RINVPARLEN,
            });
        }
        out.push(Tlv::new(t, value));
        buf = rest.get(len..).unwrap_or_default();
    }
    Ok(out)
}

fn encode_tlvs(tlvs: &[Tlv], out: &mut Vec<u8>) -> Result<()> {
    for t in tlvs {
        let len = u16::try_from(t.value.len()).map_err(|_| SmppError::Tlv {
            tag: t.tag,
            reason: "value longer than 65535 octets",
            status: CommandStatus::ESME_RINVPARLEN,
        })?;
        if !tlv_len_ok(t.tag, t.value.len()) {
            return Err(SmppError::Tlv {
                tag: t.tag,
                reason: "wrong length for this parameter",
                status: CommandStatus::ESME_RINVPARLEN,
            });
        }
        out.extend_from_slice(&t.tag.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&t.value);
    }
    Ok(())
}

fn latin1(field: &'static str, s: &str, max_octets: usize) -> Result<Vec<u8>> {
    let mut v = Vec::with_capacity(s.len());
    for c in s.chars() {
        let b = u8::try_from(u32::from(c))
            .ok()
            .filter(|&b| b != 0)
            .ok_or(SmppError::Encode(field))?;
        v.push(b);
    }
    if v.len() > max_octets {
        return Err(SmppError::Encode(field));
    }
    Ok(v)
}

fn put_cstr(
    out: &mut Vec<u8>,
    field: &'static str,
    s: &str,
    max: usize,
    status: CommandStatus,
) -> Result<()> {
    let v = latin1(field, s, usize::MAX)?;
    if v.len() + 1 > max {
        return Err(SmppError::Field {
            field,
            reason: "longer than its maximum size",
            status,
        });
    }
    out.extend_from_slice(&v);
    out.push(0);
    Ok(())
}

fn encode_bind(b: &Bind, out: &mut Vec<u8>) -> Result<()> {
    put_cstr(
        out,
        "system_id",
        &b.system_id,
        MAX_SYSTEM_ID,
        CommandStatus::ESME_RINVSYSID,
    )?;
    put_cstr(
        out,
        "password",
        &b.password,
        MAX_PASSWORD,
        CommandStatus::ESME_RINVPASWD,
    )?;
    put_cstr(
        out,
        "system_type",
        &b.system_type,
        MAX_SYSTEM_TYPE,
        CommandStatus::ESME_RINVSYSTYP,
    )?;
    out.extend_from_slice(&[b.interface_version, b.addr_ton, b.addr_npi]);
    put_cstr(
        out,
        "address_range",
        &b.address_range,
        MAX_ADDRESS_RANGE,
        CommandStatus::ESME_RBINDFAIL,
    )
}

fn encode_sm(sm: &SubmitSm, out: &mut Vec<u8>) -> Result<()> {
    put_cstr(
        out,
        "service_type",
        &sm.service_type,
        MAX_SERVICE_TYPE,
        CommandStatus::ESME_RINVSERTYP,
    )?;
    out.extend_from_slice(&[sm.source.ton, sm.source.npi]);
    put_cstr(
        out,
        "source_addr",
        &sm.source.addr,
        MAX_ADDR,
        CommandStatus::ESME_RINVSRCADR,
    )?;
    out.extend_from_slice(&[sm.destination.ton, sm.destination.npi]);
    put_cstr(
        out,
        "destination_addr",
        &sm.destination.addr,
        MAX_ADDR,
        CommandStatus::ESME_RINVDSTADR,
    )?;
    out.extend_from_slice(&[sm.esm_class, sm.protocol_id, sm.priority_flag]);
    check_time(
        "schedule_delivery_time",
        &sm.schedule_delivery_time,
        CommandStatus::ESME_RINVSCHED,
    )?;
    put_cstr(
        out,
        "schedule_delivery_time",
        &sm.schedule_delivery_time,
        MAX_TIME,
        CommandStatus::ESME_RINVSCHED,
    )?;
    check_time(
        "validity_period",
        &sm.validity_period,
        CommandStatus::ESME_RINVEXPIRY,
    )?;
    put_cstr(
        out,
        "validity_period",
        &sm.validity_period,
        MAX_TIME,
        CommandStatus::ESME_RINVEXPIRY,
    )?;
    out.extend_from_slice(&[
        sm.registered_delivery,
        sm.replace_if_present_flag,
        sm.data_coding,
        sm.sm_default_msg_id,
    ]);
    if sm.short_message.len() > MAX_SHORT_MESSAGE {
        return Err(SmppError::Field {
            field: "short_message",
            reason: "more than 254 octets (use message_payload)",
            status: CommandStatus::ESME_RINVMSGLEN,
        });
    }
    out.push(sm.short_message.len() as u8);
    out.extend_from_slice(&sm.short_message);
    encode_tlvs(&sm.tlvs, out)
}
