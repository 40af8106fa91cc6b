//! Between SMPP and the SMS transfer layer: submit_sm for the TS 31.115 SMS-PP framing of
//! secured packets (built by the `ota` crate), and the SMSC's mapping of a submit_sm to the
//! SMS-DELIVER a mobile station receives and of a mobile-originated SMS-SUBMIT to deliver_sm.
//!
//! SMPP v3.4 §5.2.12 (esm_class UDHI 0x40), §5.2.13 (protocol_id = TP-PID), §5.2.19
//! (data_coding; with bits 7-4 = 1111, and here for the class-2 general group value 0x16, the
//! SMSC passes it on as TP-DCS). Only octet alphabets (8-bit, UCS2) are mapped: a GSM 7-bit
//! short_message would have to be packed into septets first.

use ota::ts23040::{
    Address, AddressValue, Alphabet, Scts, SmsDeliver, SmsSubmit, UserData, DCS_8BIT_CLASS2,
    PID_SIM_DATA_DOWNLOAD,
};

use crate::error::{Result, SmppError};
use crate::pdu::{DeliverSm, SmeAddress, SubmitSm, ESM_CLASS_UDHI};
use crate::status::CommandStatus;

/// The fixed parameters of the submit_sm PDUs carrying (U)SIM data download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtaSubmit {
    /// The OTA server's address (source_addr).
    pub source: SmeAddress,
    /// The subscriber's MSISDN (destination_addr).
    pub destination: SmeAddress,
    /// data_coding: 0xF6 (default) or 0x16, both 8-bit class 2 (TS 31.115 §4).
    pub data_coding: u8,
    /// protocol_id: 0x7F, (U)SIM data download (TS 23.040 §9.2.3.9).
    pub protocol_id: u8,
    /// registered_delivery (§5.2.17): 0 none, 1 SMSC delivery receipt requested.
    pub registered_delivery: u8,
    /// service_type (max 6 octets).
    pub service_type: String,
}

impl OtaSubmit {
    /// Defaults: data_coding 0xF6, protocol_id 0x7F, no receipt.
    pub fn new(source: SmeAddress, destination: SmeAddress) -> OtaSubmit {
        OtaSubmit {
            source,
            destination,
            data_coding: DCS_8BIT_CLASS2,
            protocol_id: PID_SIM_DATA_DOWNLOAD,
            registered_delivery: 0,
            service_type: String::new(),
        }
    }

    /// One submit_sm carrying one TP-UD; `udhi` sets esm_class 0x40 (the TP-UD starts with
    /// its UDH).
    pub fn submit_sm(&self, user_data: &UserData, udhi: bool) -> SubmitSm {
        SubmitSm {
            service_type: self.service_type.clone(),
            source: self.source.clone(),
            destination: self.destination.clone(),
            esm_class: if udhi { ESM_CLASS_UDHI } else { 0 },
            protocol_id: self.protocol_id,
            registered_delivery: self.registered_delivery,
            data_coding: self.data_coding,
            short_message: user_data.octets.clone(),
            ..SubmitSm::default()
        }
    }

    /// One submit_sm per TP-UD (each segment keeps its own UDH with IE '70' and/or the
    /// concatenation IE, esm_class 0x40).
    pub fn submits(&self, user_data: &[UserData]) -> Vec<SubmitSm> {
        user_data
            .iter()
            .map(|ud| self.submit_sm(ud, true))
            .collect()
    }

    /// The submit_sm PDUs carrying a secured command packet (`CPL ..`) as TS 31.115 §4.2
    /// frames it: `02 70 00` in a single message, or concatenated segments with
    /// `concat_reference`.
    pub fn command_packet(&self, packet: &[u8], concat_reference: u16) -> Result<Vec<SubmitSm>> {
        let uds = ota::ts31115::command_user_data(packet, concat_reference)?;
        Ok(self.submits(&uds))
    }
}

fn unsupported_alphabet() -> SmppError {
    SmppError::Field {
        field: "data_coding",
        reason: "GSM 7-bit short messages are not mapped to TP-UD here",
        status: CommandStatus::ESME_RSYSERR,
    }
}

/// The TP-UD of a submit_sm / deliver_sm (message_payload when present, else
/// short_message), for octet alphabets.
pub fn user_data(sm: &SubmitSm) -> Result<UserData> {
    if Alphabet::from_dcs(tp_dcs(sm.data_coding)?) == Alphabet::Gsm7 {
        return Err(unsupported_alphabet());
    }
    Ok(UserData::eight_bit(sm.payload().to_vec())?)
}

/// The TP-DCS (TS 23.038 §4) an SMSC delivers for an SMPP `data_coding` (SMPP v3.4
/// §5.2.19): '00' SMSC default alphabet → '00' (GSM 7-bit); '02' and '04' octet unspecified
/// → '04' (8-bit data, no message class); '08' UCS2 → '08'; 'C0'..'FF' are GSM codings
/// (message waiting, message class) and pass as they are, as do '10'..'1F' (reserved in SMPP,
/// sent by OTA platforms as the GSM general coding with a message class, e.g. '16'). The other
/// character sets would need a conversion this simulator does not make: refused
/// (ESME_RSUBMITFAIL).
///
/// A (U)SIM data download needs a class 2 coding ('F6' or '16', TS 31.111 §7.1.1): '02' or
/// '04' reach the terminal as an ordinary short message.
pub fn tp_dcs(data_coding: u8) -> Result<u8> {
    match data_coding {
        0x00 => Ok(0x00),
        0x02 | 0x04 => Ok(0x04),
        0x08 => Ok(0x08),
        0x10..=0x1F | 0xC0..=0xFF => Ok(data_coding),
        _ => Err(SmppError::Field {
            field: "data_coding",
            reason: "a character set this simulator does not convert to a GSM TP-DCS",
            status: CommandStatus::ESME_RSUBMITFAIL,
        }),
    }
}

/// The TS 23.040 address of an SMPP address (digits, an optional leading '+').
pub fn tp_address(a: &SmeAddress) -> Result<Address> {
    let digits = a.addr.strip_prefix('+').unwrap_or(&a.addr);
    Address::digits(a.ton, a.npi, digits).map_err(|_| SmppError::Field {
        field: "address",
        reason: "not a digit address",
        status: CommandStatus::ESME_RINVSRCADR,
    })
}

/// The SMPP address of a TS 23.040 digit address.
pub fn sme_address(a: &Address) -> Result<SmeAddress> {
    match &a.value {
        AddressValue::Digits(d) => Ok(SmeAddress::new(a.ton, a.npi, d)),
        AddressValue::Alphanumeric { .. } => Err(SmppError::Field {
            field: "address",
            reason: "alphanumeric TP addresses are not mapped",
            status: CommandStatus::ESME_RINVSRCADR,
        }),
    }
}

/// The SMS-DELIVER a mobile station receives for a submit_sm (TS 23.040 §9.2.2.1): TP-OA
/// from source_addr, TP-PID = protocol_id, TP-DCS from data_coding ([`tp_dcs`]), TP-UDHI
/// from esm_class, TP-UD = the short message.
pub fn sms_deliver(sm: &SubmitSm, scts: Scts) -> Result<SmsDeliver> {
    Ok(SmsDeliver {
        no_more_messages: true,
        loop_prevention: false,
        status_report_indication: false,
        udhi: sm.udhi(),
        reply_path: false,
        originating_address: tp_address(&sm.source)?,
        pid: sm.protocol_id,
        dcs: tp_dcs(sm.data_coding)?,
        scts,
        user_data: user_data(sm)?,
    })
}

/// The deliver_sm an SMSC sends the ESME for a mobile-originated SMS-SUBMIT (e.g. a PoR
/// sent with SPI2 b6 = 1, TS 31.115 §4.4) from `originator`.
pub fn deliver_sm(originator: &SmeAddress, submit: &SmsSubmit) -> Result<DeliverSm> {
    if Alphabet::from_dcs(submit.dcs) == Alphabet::Gsm7 {
        return Err(unsupported_alphabet());
    }
    Ok(DeliverSm {
        source: originator.clone(),
        destination: sme_address(&submit.destination_address)?,
        esm_class: if submit.udhi { ESM_CLASS_UDHI } else { 0 },
        protocol_id: submit.pid,
        data_coding: submit.dcs,
        short_message: submit.user_data.octets.clone(),
        ..DeliverSm::default()
    })
}

/// The response packet user data (`02 71 00 ..`) of a deliver_sm carrying a PoR, if it is one.
pub fn por_user_data(sm: &DeliverSm) -> Option<&[u8]> {
    let ud = sm.payload();
    (sm.udhi() && ota::ts31115::is_response_user_data(ud)).then_some(ud)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SMPP v3.4 §5.2.19 data_coding → TS 23.038 TP-DCS.
    #[test]
    fn data_coding_maps_to_tp_dcs() {
        assert_eq!(tp_dcs(0x00).unwrap(), 0x00);
        // Octet unspecified (8-bit binary), both codes: 8-bit data without a message class.
        assert_eq!(tp_dcs(0x02).unwrap(), 0x04);
        assert_eq!(tp_dcs(0x04).unwrap(), 0x04);
        assert_eq!(tp_dcs(0x08).unwrap(), 0x08);
        // GSM class 2, 8-bit: the (U)SIM data download codings pass unchanged.
        assert_eq!(tp_dcs(0xF6).unwrap(), 0xF6);
        assert_eq!(tp_dcs(0x16).unwrap(), 0x16);
        for refused in [0x01, 0x03, 0x05, 0x09, 0x0E] {
            let e = tp_dcs(refused).unwrap_err();
            assert_eq!(
                e.command_status(),
                CommandStatus::ESME_RSUBMITFAIL,
                "{refused:02X}"
            );
        }
        // An 8-bit short message with data_coding '02' reaches the terminal as TP-DCS '04'.
        let sm = SubmitSm {
            source: SmeAddress::new(0, 1, "1234"),
            destination: SmeAddress::new(1, 1, "4917"),
            esm_class: ESM_CLASS_UDHI,
            protocol_id: 0x7F,
            data_coding: 0x02,
            short_message: vec![0x02, 0x70, 0x00, 0x01],
            ..SubmitSm::default()
        };
        let d = sms_deliver(&sm, Scts([0; 7])).unwrap();
        assert_eq!((d.pid, d.dcs), (0x7F, 0x04));
        assert_eq!(d.user_data.octets, sm.short_message);
    }
}
