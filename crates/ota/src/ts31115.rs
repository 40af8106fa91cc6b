//! SMS-PP transport of secured packets (3GPP TS 31.115 §4): the command packet travels in the
//! TP-UD of SMS-DELIVERs with TP-PID '7F' and an 8-bit class-2 TP-DCS; the user data header
//! holds IE '70' (length 0, the CPI) and, for a packet longer than one short message, a
//! concatenation IE; the command header only appears in the first segment. The response packet
//! goes back with IE '71' in an SMS-DELIVER-REPORT or an SMS-SUBMIT (SPI2 b6).

use crate::error::{OtaError, Result};
use crate::ts23040::{
    join_segments, segment, Address, InformationElement, ReportParameters, Scts, SmsDeliver,
    SmsDeliverReport, SmsSubmit, UserData, UserDataHeader, ValidityPeriod, DCS_8BIT_CLASS2,
    IEI_COMMAND_PACKET, IEI_RESPONSE_PACKET, PID_SIM_DATA_DOWNLOAD,
};

/// The TP-UD(s) carrying a command packet (`CPL .. end`): one short message when it fits
/// (`02 70 00 CPL ...`), otherwise concatenated segments with `reference` (8-bit unless it
/// needs 16 bits).
pub fn command_user_data(packet: &[u8], reference: u16) -> Result<Vec<UserData>> {
    segment(
        &[InformationElement::new(IEI_COMMAND_PACKET, &[])],
        packet,
        reference,
        false,
    )
}

fn has_cpi(h: &UserDataHeader) -> Result<bool> {
    match h.find(IEI_COMMAND_PACKET) {
        Some(ie) if ie.data.is_empty() => Ok(true),
        Some(_) => Err(OtaError::BadLength("IE '70' must have length 0")),
        None => Ok(false),
    }
}

/// The command packet of a single (not concatenated) short message's TP-UD.
pub fn command_from_user_data(ud: &[u8]) -> Result<&[u8]> {
    let (h, rest) = UserDataHeader::decode(ud)?;
    if !has_cpi(&h)? {
        return Err(OtaError::UnexpectedIdentifier(
            "no command packet IEI '70' in the UDH",
        ));
    }
    if h.concat()?.is_some() {
        return Err(OtaError::Concatenation(
            "segment of a concatenated command packet",
        ));
    }
    Ok(rest)
}

/// The command packet of a complete set of concatenated TP-UDs (any order): the first segment
/// must carry IE '70', the others must not.
pub fn command_from_segments(segments: &[UserData]) -> Result<Vec<u8>> {
    let (first, payload) = join_segments(segments)?;
    if !has_cpi(&first)? {
        return Err(OtaError::UnexpectedIdentifier(
            "no IEI '70' in the first segment",
        ));
    }
    for ud in segments {
        let (h, _) = UserDataHeader::decode(&ud.octets)?;
        if let Some(c) = h.concat()? {
            if c.seq != 1 && has_cpi(&h)? {
                return Err(OtaError::UnexpectedIdentifier(
                    "IEI '70' outside the first segment",
                ));
            }
        }
    }
    Ok(payload)
}

/// An SMS-DELIVER with (U)SIM data download parameters (TP-PID '7F', TP-DCS 'F6', TP-UDHI)
/// around one command TP-UD.
pub fn command_deliver(originator: Address, scts: Scts, user_data: UserData) -> SmsDeliver {
    SmsDeliver {
        no_more_messages: false,
        loop_prevention: false,
        status_report_indication: false,
        udhi: true,
        reply_path: false,
        originating_address: originator,
        pid: PID_SIM_DATA_DOWNLOAD,
        dcs: DCS_8BIT_CLASS2,
        scts,
        user_data,
    }
}

/// The SMS-DELIVER-REPORT carrying a PoR user data (SPI2 b6 = 0). `failure_cause` is `None`
/// for RP-ACK and the TP-FCS for RP-ERROR.
pub fn por_deliver_report(por_ud: Vec<u8>, failure_cause: Option<u8>) -> Result<SmsDeliverReport> {
    Ok(SmsDeliverReport {
        failure_cause,
        udhi: true,
        parameters: ReportParameters {
            pid: Some(PID_SIM_DATA_DOWNLOAD),
            dcs: Some(DCS_8BIT_CLASS2),
            user_data: Some(UserData::eight_bit(por_ud)?),
        },
    })
}

/// The SMS-SUBMIT carrying a PoR user data (SPI2 b6 = 1) to `destination` (the OTA server's
/// address).
pub fn por_submit(
    destination: Address,
    message_reference: u8,
    por_ud: Vec<u8>,
) -> Result<SmsSubmit> {
    Ok(SmsSubmit {
        reject_duplicates: false,
        status_report_request: false,
        udhi: true,
        reply_path: false,
        message_reference,
        destination_address: destination,
        pid: PID_SIM_DATA_DOWNLOAD,
        dcs: DCS_8BIT_CLASS2,
        validity_period: ValidityPeriod::None,
        user_data: UserData::eight_bit(por_ud)?,
    })
}

/// Whether a TP-UD carries a response packet (UDH with IE '71').
pub fn is_response_user_data(ud: &[u8]) -> bool {
    UserDataHeader::decode(ud)
        .map(|(h, _)| h.find(IEI_RESPONSE_PACKET).is_some())
        .unwrap_or(false)
}

/// Split a response packet user data (as [`crate::build_response`] makes it,
/// `02 71 00 RPL ..`) that exceeds one short message into concatenated TP-UDs for
/// SMS-SUBMIT: IE '71' in the first segment only, like the command packet's '70'.
/// A PoR that fits comes back unchanged as one TP-UD.
///
/// The RC/CC/DS stays the one computed over the single-message form `02 71 00 ..`; TS 31.115
/// is not explicit about the UDH a concatenated PoR's CC covers, so this pairing with
/// [`response_from_segments`] is this crate's reading, not yet checked against a real card.
pub fn response_user_data(por_ud: &[u8], reference: u16) -> Result<Vec<UserData>> {
    let body = por_ud
        .strip_prefix(&crate::ts102225::RESPONSE_UDH[..])
        .ok_or(OtaError::UnexpectedIdentifier(
            "PoR user data must start 02 71 00",
        ))?;
    segment(
        &[InformationElement::new(IEI_RESPONSE_PACKET, &[])],
        body,
        reference,
        false,
    )
}

/// Rebuild the single-message form `02 71 00 RPL ..` of a concatenated PoR (any segment
/// order), for [`crate::parse_response`].
pub fn response_from_segments(segments: &[UserData]) -> Result<Vec<u8>> {
    let (first, payload) = join_segments(segments)?;
    match first.find(IEI_RESPONSE_PACKET) {
        Some(ie) if ie.data.is_empty() => {}
        _ => {
            return Err(OtaError::UnexpectedIdentifier(
                "no IEI '71' in the first segment",
            ))
        }
    }
    let mut out = crate::ts102225::RESPONSE_UDH.to_vec();
    out.extend_from_slice(&payload);
    Ok(out)
}
