//! SMS transfer-layer PDUs of 3GPP TS 23.040 §9.2: SMS-DELIVER, SMS-SUBMIT,
//! SMS-DELIVER-REPORT and SMS-SUBMIT-REPORT; address fields (§9.1.2.5), the user data header
//! (§9.2.3.24) with concatenation IEs '00'/'08' (§9.2.3.24.1, .8) and the OTA IEs '70'/'71'
//! (TS 31.115); segmentation of long user data into concatenated short messages and their
//! reassembly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tlv::bcd;

use crate::error::{OtaError, Result};

/// IEI '00': concatenated short messages, 8-bit reference (TS 23.040 §9.2.3.24.1).
pub const IEI_CONCAT_8: u8 = 0x00;
/// IEI '08': concatenated short messages, 16-bit reference (§9.2.3.24.8).
pub const IEI_CONCAT_16: u8 = 0x08;
/// IEI '70': (U)SIM toolkit security header, command packet identifier (TS 31.115 §4.2).
pub const IEI_COMMAND_PACKET: u8 = 0x70;
/// IEI '71': (U)SIM toolkit security header, response packet identifier (TS 31.115 §4.4).
pub const IEI_RESPONSE_PACKET: u8 = 0x71;
/// TP-PID '7F': (U)SIM data download (§9.2.3.9).
pub const PID_SIM_DATA_DOWNLOAD: u8 = 0x7F;
/// TP-DCS 'F6': 8-bit data, class 2 (SIM-specific) — TS 23.038 §4 group '1111'.
pub const DCS_8BIT_CLASS2: u8 = 0xF6;
/// TP-DCS '16': general group, uncompressed, 8-bit data, class 2.
pub const DCS_8BIT_CLASS2_GENERAL: u8 = 0x16;
/// Most octets of TP-UD (§9.2.3.16, §9.2.3.24).
pub const MAX_UD_OCTETS: usize = 140;

/// One information element of a user data header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InformationElement {
    /// IEI.
    pub iei: u8,
    /// IED (length is implicit).
    pub data: Vec<u8>,
}

impl InformationElement {
    /// A new element.
    pub fn new(iei: u8, data: &[u8]) -> InformationElement {
        InformationElement {
            iei,
            data: data.to_vec(),
        }
    }
}

/// TP-User-Data-Header (§9.2.3.24): a list of IEs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDataHeader {
    /// The IEs in wire order.
    pub ies: Vec<InformationElement>,
}

/// Concatenation information (§9.2.3.24.1 / .8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Concat {
    /// Reference number (8 or 16 bits).
    pub reference: u16,
    /// True for IEI '08' (16-bit reference).
    pub wide: bool,
    /// Maximum number of short messages (1..=255).
    pub total: u8,
    /// Sequence number of this one (1..=total).
    pub seq: u8,
}

impl Concat {
    /// As an IE.
    pub fn to_ie(&self) -> InformationElement {
        if self.wide {
            let [hi, lo] = self.reference.to_be_bytes();
            InformationElement::new(IEI_CONCAT_16, &[hi, lo, self.total, self.seq])
        } else {
            InformationElement::new(IEI_CONCAT_8, &[self.reference as u8, self.total, self.seq])
        }
    }
}

impl UserDataHeader {
    /// A header of the given IEs.
    pub fn new(ies: Vec<InformationElement>) -> UserDataHeader {
        UserDataHeader { ies }
    }

    /// Decode the IEs of a header body (without UDHL).
    pub fn decode_ies(mut body: &[u8]) -> Result<Vec<InformationElement>> {
        let mut ies = Vec::new();
        while let [iei, len, rest @ ..] = body {
            let len = usize::from(*len);
            let data = rest
                .get(..len)
                .ok_or(OtaError::BadLength("IE length exceeds the UDH"))?;
            ies.push(InformationElement::new(*iei, data));
            body = rest.get(len..).unwrap_or_default();
        }
        if !body.is_empty() {
            return Err(OtaError::BadLength("UDH ends inside an IE"));
        }
        Ok(ies)
    }

    /// Decode `UDHL UDH rest` from the start of TP-UD; returns the header and the rest.
    pub fn decode(ud: &[u8]) -> Result<(UserDataHeader, &[u8])> {
        let (&udhl, rest) = ud.split_first().ok_or(OtaError::Truncated("UDHL"))?;
        let udhl = usize::from(udhl);
        let body = rest
            .get(..udhl)
            .ok_or(OtaError::BadLength("UDHL exceeds the user data"))?;
        Ok((
            UserDataHeader {
                ies: Self::decode_ies(body)?,
            },
            rest.get(udhl..).unwrap_or_default(),
        ))
    }

    /// Encoded length including UDHL.
    pub fn encoded_len(&self) -> usize {
        1 + self.ies.iter().map(|ie| 2 + ie.data.len()).sum::<usize>()
    }

    /// Encode as `UDHL IEs`.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let udhl = u8::try_from(self.encoded_len() - 1)
            .map_err(|_| OtaError::TooLong("UDH exceeds 255 octets"))?;
        let mut out = vec![udhl];
        for ie in &self.ies {
            out.push(ie.iei);
            out.push(u8::try_from(ie.data.len()).map_err(|_| OtaError::TooLong("IE exceeds 255"))?);
            out.extend_from_slice(&ie.data);
        }
        Ok(out)
    }

    /// The first IE with this IEI.
    pub fn find(&self, iei: u8) -> Option<&InformationElement> {
        self.ies.iter().find(|ie| ie.iei == iei)
    }

    /// The concatenation IE, if any; malformed ones are refused.
    pub fn concat(&self) -> Result<Option<Concat>> {
        let c = match (self.find(IEI_CONCAT_8), self.find(IEI_CONCAT_16)) {
            (Some(_), Some(_)) => {
                return Err(OtaError::Concatenation(
                    "both 8- and 16-bit concatenation IEs",
                ))
            }
            (Some(ie), None) => match ie.data.as_slice() {
                [r, t, s] => Concat {
                    reference: u16::from(*r),
                    wide: false,
                    total: *t,
                    seq: *s,
                },
                _ => return Err(OtaError::Concatenation("IE '00' must be 3 octets")),
            },
            (None, Some(ie)) => match ie.data.as_slice() {
                [r1, r2, t, s] => Concat {
                    reference: u16::from_be_bytes([*r1, *r2]),
                    wide: true,
                    total: *t,
                    seq: *s,
                },
                _ => return Err(OtaError::Concatenation("IE '08' must be 4 octets")),
            },
            (None, None) => return Ok(None),
        };
        if c.total == 0 || c.seq == 0 || c.seq > c.total {
            return Err(OtaError::Concatenation("sequence number outside 1..=total"));
        }
        Ok(Some(c))
    }
}

/// Character set of TP-UD as the DCS gives it (TS 23.038 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Alphabet {
    /// GSM 7-bit default alphabet: TP-UDL counts septets.
    Gsm7,
    /// 8-bit data: TP-UDL counts octets.
    EightBit,
    /// UCS2: TP-UDL counts octets.
    Ucs2,
}

impl Alphabet {
    /// The alphabet of a TP-DCS octet. Compressed text counts octets like 8-bit data.
    pub fn from_dcs(dcs: u8) -> Alphabet {
        match dcs >> 4 {
            // General data coding / automatic deletion groups: b5 compressed, b3-b2 alphabet.
            0x0..=0x7 => {
                if dcs & 0x20 != 0 {
                    return Alphabet::EightBit;
                }
                match (dcs >> 2) & 3 {
                    0 => Alphabet::Gsm7,
                    2 => Alphabet::Ucs2,
                    _ => Alphabet::EightBit,
                }
            }
            0xE => Alphabet::Ucs2,
            0xF => {
                if dcs & 0x04 != 0 {
                    Alphabet::EightBit
                } else {
                    Alphabet::Gsm7
                }
            }
            // '1100', '1101' message waiting (GSM 7-bit); '1000'-'1011' reserved.
            _ => Alphabet::Gsm7,
        }
    }

    fn octets_for(self, udl: u8) -> usize {
        match self {
            Alphabet::Gsm7 => (usize::from(udl) * 7).div_ceil(8),
            _ => usize::from(udl),
        }
    }
}

/// TP-UDL and TP-UD together, raw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserData {
    /// TP-UDL (septets for GSM 7-bit, octets otherwise).
    pub udl: u8,
    /// TP-UD octets (including the UDH when TP-UDHI is set).
    pub octets: Vec<u8>,
}

impl UserData {
    /// 8-bit user data (header included in `octets` if any).
    pub fn eight_bit(octets: Vec<u8>) -> Result<UserData> {
        if octets.len() > MAX_UD_OCTETS {
            return Err(OtaError::TooLong("TP-UD exceeds 140 octets"));
        }
        Ok(UserData {
            udl: octets.len() as u8,
            octets,
        })
    }

    /// 8-bit user data made of a header and a payload.
    pub fn with_header(header: &UserDataHeader, payload: &[u8]) -> Result<UserData> {
        let mut octets = header.encode()?;
        octets.extend_from_slice(payload);
        UserData::eight_bit(octets)
    }

    /// Split off the UDH (when `udhi`); the rest is returned as octets.
    pub fn split_header(&self, udhi: bool) -> Result<(Option<UserDataHeader>, &[u8])> {
        if udhi {
            let (h, rest) = UserDataHeader::decode(&self.octets)?;
            Ok((Some(h), rest))
        } else {
            Ok((None, &self.octets))
        }
    }

    fn decode(input: &[u8], dcs: u8) -> Result<(UserData, &[u8])> {
        let (&udl, rest) = input.split_first().ok_or(OtaError::Truncated("TP-UDL"))?;
        let n = Alphabet::from_dcs(dcs).octets_for(udl);
        if n > MAX_UD_OCTETS {
            return Err(OtaError::BadTpdu("TP-UDL exceeds 140 octets"));
        }
        let octets = rest.get(..n).ok_or(OtaError::Truncated("TP-UD"))?;
        Ok((
            UserData {
                udl,
                octets: octets.to_vec(),
            },
            rest.get(n..).unwrap_or_default(),
        ))
    }

    fn encode(&self, dcs: u8, out: &mut Vec<u8>) -> Result<()> {
        if Alphabet::from_dcs(dcs).octets_for(self.udl) != self.octets.len()
            || self.octets.len() > MAX_UD_OCTETS
        {
            return Err(OtaError::BadLength("TP-UDL does not match TP-UD"));
        }
        out.push(self.udl);
        out.extend_from_slice(&self.octets);
        Ok(())
    }
}

/// Value of an address field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AddressValue {
    /// Semi-octet digits: '0'-'9', '*', '#', 'a', 'b', 'c'.
    Digits(String),
    /// Type of number '101' (alphanumeric): GSM 7-bit packed octets and the number of useful
    /// semi-octets as coded in the length field.
    Alphanumeric {
        /// Address-Length (useful semi-octets).
        semi_octets: u8,
        /// Packed septets.
        packed: Vec<u8>,
    },
}

/// An address field (TS 23.040 §9.1.2.5): TP-OA, TP-DA, TP-RA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Type of number (3 bits): 0 unknown, 1 international, 2 national, 5 alphanumeric, ...
    pub ton: u8,
    /// Numbering plan identification (4 bits): 0 unknown, 1 ISDN/E.164, ...
    pub npi: u8,
    /// Digits or packed alphanumeric value.
    pub value: AddressValue,
}

/// TON '101': alphanumeric.
pub const TON_ALPHANUMERIC: u8 = 5;

/// Address digits are semi-octets, low nibble first, in the TS 23.040 §9.1.2.3 alphabet
/// (0-9, `*`, `#`, `a`-`c`; 'F' fills an odd count).
const DIGITS: (bcd::Order, bcd::Alphabet) = (bcd::Order::LowFirst, bcd::Alphabet::Telephony);

impl Address {
    /// A digit address.
    pub fn digits(ton: u8, npi: u8, digits: &str) -> Result<Address> {
        if digits.len() > 20 || digits.chars().any(|c| DIGITS.1.digit_value(c).is_none()) {
            return Err(OtaError::BadTpdu("address digits"));
        }
        Ok(Address {
            ton: ton & 7,
            npi: npi & 0xF,
            value: AddressValue::Digits(digits.to_string()),
        })
    }

    /// Decode from the start of `input`; returns the rest.
    pub fn decode(input: &[u8]) -> Result<(Address, &[u8])> {
        let [len, toa, rest @ ..] = input else {
            return Err(OtaError::Truncated("address"));
        };
        if *len > 20 {
            return Err(OtaError::BadTpdu("address length above 20 semi-octets"));
        }
        let n_octets = usize::from(*len).div_ceil(2);
        let body = rest
            .get(..n_octets)
            .ok_or(OtaError::Truncated("address value"))?;
        let ton = (toa >> 4) & 7;
        let npi = toa & 0xF;
        let value = if ton == TON_ALPHANUMERIC {
            AddressValue::Alphanumeric {
                semi_octets: *len,
                packed: body.to_vec(),
            }
        } else {
            let digits = bcd::decode_count(body, DIGITS.0, DIGITS.1, usize::from(*len))
                .map_err(|_| OtaError::BadTpdu("address digit 'F' inside"))?;
            AddressValue::Digits(digits)
        };
        Ok((
            Address { ton, npi, value },
            rest.get(n_octets..).unwrap_or_default(),
        ))
    }

    /// Encode (`length, type-of-address, value`).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        let toa = 0x80 | ((self.ton & 7) << 4) | (self.npi & 0xF);
        match &self.value {
            AddressValue::Digits(d) => {
                let packed = bcd::encode(d, DIGITS.0, DIGITS.1)
                    .map_err(|_| OtaError::BadTpdu("address digits"))?;
                let count = d.chars().count();
                if count > 20 {
                    return Err(OtaError::BadTpdu("address longer than 20 digits"));
                }
                out.push(count as u8);
                out.push(toa);
                out.extend_from_slice(&packed);
            }
            AddressValue::Alphanumeric {
                semi_octets,
                packed,
            } => {
                if *semi_octets > 20 || usize::from(*semi_octets).div_ceil(2) != packed.len() {
                    return Err(OtaError::BadTpdu("alphanumeric address length"));
                }
                out.push(*semi_octets);
                out.push(toa);
                out.extend_from_slice(packed);
            }
        }
        Ok(())
    }
}

/// TP-Service-Centre-Time-Stamp (§9.2.3.11): seven semi-octet-swapped octets, kept raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scts(pub [u8; 7]);

impl Scts {
    /// From year (00-99), month, day, hour, minute, second and time zone in quarter hours
    /// (negative west of GMT).
    pub fn new(fields: [u8; 6], tz_quarters: i8) -> Scts {
        let swap = |v: u8| ((v % 10) << 4) | ((v / 10) % 10);
        let mut b = [0u8; 7];
        for (o, v) in b.iter_mut().zip(fields) {
            *o = swap(v);
        }
        let q = tz_quarters.unsigned_abs();
        b[6] = swap(q) | if tz_quarters < 0 { 0x08 } else { 0 };
        Scts(b)
    }

    /// Year (2 digits), month, day, hour, minute, second.
    pub fn fields(&self) -> [u8; 6] {
        let unswap = |v: u8| (v & 0xF) * 10 + (v >> 4);
        let mut f = [0u8; 6];
        for (o, v) in f.iter_mut().zip(self.0) {
            *o = unswap(v);
        }
        f
    }

    /// Time zone in quarter hours, sign from bit 3 of the last octet.
    pub fn tz_quarters(&self) -> i8 {
        let v = self.0[6];
        let q = ((v & 0x7) * 10 + (v >> 4)) as i8;
        if v & 0x08 != 0 {
            -q
        } else {
            q
        }
    }
}

fn take<'a, const N: usize>(input: &'a [u8], what: &'static str) -> Result<([u8; N], &'a [u8])> {
    let head = input.get(..N).ok_or(OtaError::Truncated(what))?;
    let mut a = [0u8; N];
    a.copy_from_slice(head);
    Ok((a, input.get(N..).unwrap_or_default()))
}

fn byte<'a>(input: &'a [u8], what: &'static str) -> Result<(u8, &'a [u8])> {
    let ([b], rest) = take::<1>(input, what)?;
    Ok((b, rest))
}

fn done(rest: &[u8]) -> Result<()> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(OtaError::TrailingData(rest.len()))
    }
}

/// SMS-DELIVER (§9.2.2.1), SC → MS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsDeliver {
    /// TP-MMS as coded: `true` = bit set = no more messages are waiting.
    pub no_more_messages: bool,
    /// TP-LP (bit 3).
    pub loop_prevention: bool,
    /// TP-SRI (bit 5).
    pub status_report_indication: bool,
    /// TP-UDHI (bit 6).
    pub udhi: bool,
    /// TP-RP (bit 7).
    pub reply_path: bool,
    /// TP-OA.
    pub originating_address: Address,
    /// TP-PID.
    pub pid: u8,
    /// TP-DCS.
    pub dcs: u8,
    /// TP-SCTS.
    pub scts: Scts,
    /// TP-UDL / TP-UD.
    pub user_data: UserData,
}

impl SmsDeliver {
    /// Encode.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let fo = u8::from(self.no_more_messages) << 2
            | u8::from(self.loop_prevention) << 3
            | u8::from(self.status_report_indication) << 5
            | u8::from(self.udhi) << 6
            | u8::from(self.reply_path) << 7;
        let mut out = vec![fo];
        self.originating_address.encode(&mut out)?;
        out.push(self.pid);
        out.push(self.dcs);
        out.extend_from_slice(&self.scts.0);
        self.user_data.encode(self.dcs, &mut out)?;
        Ok(out)
    }

    /// Decode; the whole input must be one TPDU.
    pub fn decode(input: &[u8]) -> Result<SmsDeliver> {
        let (fo, rest) = byte(input, "first octet")?;
        if fo & 3 != 0 {
            return Err(OtaError::BadTpdu("TP-MTI is not SMS-DELIVER"));
        }
        let (originating_address, rest) = Address::decode(rest)?;
        let (pid, rest) = byte(rest, "TP-PID")?;
        let (dcs, rest) = byte(rest, "TP-DCS")?;
        let (scts, rest) = take::<7>(rest, "TP-SCTS")?;
        let (user_data, rest) = UserData::decode(rest, dcs)?;
        done(rest)?;
        Ok(SmsDeliver {
            no_more_messages: fo & 0x04 != 0,
            loop_prevention: fo & 0x08 != 0,
            status_report_indication: fo & 0x20 != 0,
            udhi: fo & 0x40 != 0,
            reply_path: fo & 0x80 != 0,
            originating_address,
            pid,
            dcs,
            scts: Scts(scts),
            user_data,
        })
    }
}

/// TP-Validity-Period (§9.2.3.12), with its format TP-VPF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValidityPeriod {
    /// VPF '00'.
    None,
    /// VPF '10': one octet.
    Relative(u8),
    /// VPF '01': seven octets.
    Enhanced([u8; 7]),
    /// VPF '11': seven octets (time stamp).
    Absolute([u8; 7]),
}

/// SMS-SUBMIT (§9.2.2.2), MS → SC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsSubmit {
    /// TP-RD (bit 2).
    pub reject_duplicates: bool,
    /// TP-SRR (bit 5).
    pub status_report_request: bool,
    /// TP-UDHI (bit 6).
    pub udhi: bool,
    /// TP-RP (bit 7).
    pub reply_path: bool,
    /// TP-MR.
    pub message_reference: u8,
    /// TP-DA.
    pub destination_address: Address,
    /// TP-PID.
    pub pid: u8,
    /// TP-DCS.
    pub dcs: u8,
    /// TP-VPF + TP-VP.
    pub validity_period: ValidityPeriod,
    /// TP-UDL / TP-UD.
    pub user_data: UserData,
}

impl SmsSubmit {
    /// Encode.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let vpf = match self.validity_period {
            ValidityPeriod::None => 0,
            ValidityPeriod::Enhanced(_) => 1,
            ValidityPeriod::Relative(_) => 2,
            ValidityPeriod::Absolute(_) => 3,
        };
        let fo = 0x01
            | u8::from(self.reject_duplicates) << 2
            | vpf << 3
            | u8::from(self.status_report_request) << 5
            | u8::from(self.udhi) << 6
            | u8::from(self.reply_path) << 7;
        let mut out = vec![fo, self.message_reference];
        self.destination_address.encode(&mut out)?;
        out.push(self.pid);
        out.push(self.dcs);
        match self.validity_period {
            ValidityPeriod::None => {}
            ValidityPeriod::Relative(v) => out.push(v),
            ValidityPeriod::Enhanced(v) | ValidityPeriod::Absolute(v) => out.extend_from_slice(&v),
        }
        self.user_data.encode(self.dcs, &mut out)?;
        Ok(out)
    }

    /// Decode; the whole input must be one TPDU.
    pub fn decode(input: &[u8]) -> Result<SmsSubmit> {
        let (fo, rest) = byte(input, "first octet")?;
        if fo & 3 != 1 {
            return Err(OtaError::BadTpdu("TP-MTI is not SMS-SUBMIT"));
        }
        let (message_reference, rest) = byte(rest, "TP-MR")?;
        let (destination_address, rest) = Address::decode(rest)?;
        let (pid, rest) = byte(rest, "TP-PID")?;
        let (dcs, rest) = byte(rest, "TP-DCS")?;
        let (validity_period, rest) = match (fo >> 3) & 3 {
            0 => (ValidityPeriod::None, rest),
            2 => {
                let (v, r) = byte(rest, "TP-VP")?;
                (ValidityPeriod::Relative(v), r)
            }
            1 => {
                let (v, r) = take::<7>(rest, "TP-VP")?;
                (ValidityPeriod::Enhanced(v), r)
            }
            _ => {
                let (v, r) = take::<7>(rest, "TP-VP")?;
                (ValidityPeriod::Absolute(v), r)
            }
        };
        let (user_data, rest) = UserData::decode(rest, dcs)?;
        done(rest)?;
        Ok(SmsSubmit {
            reject_duplicates: fo & 0x04 != 0,
            status_report_request: fo & 0x20 != 0,
            udhi: fo & 0x40 != 0,
            reply_path: fo & 0x80 != 0,
            message_reference,
            destination_address,
            pid,
            dcs,
            validity_period,
            user_data,
        })
    }
}

/// Optional trailing parameters of the report TPDUs, announced by TP-PI (§9.2.3.27).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportParameters {
    /// TP-PID.
    pub pid: Option<u8>,
    /// TP-DCS.
    pub dcs: Option<u8>,
    /// TP-UDL / TP-UD.
    pub user_data: Option<UserData>,
}

impl ReportParameters {
    fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        let pi = u8::from(self.pid.is_some())
            | u8::from(self.dcs.is_some()) << 1
            | u8::from(self.user_data.is_some()) << 2;
        out.push(pi);
        if let Some(p) = self.pid {
            out.push(p);
        }
        if let Some(d) = self.dcs {
            out.push(d);
        }
        if let Some(ud) = &self.user_data {
            // Absent TP-DCS means the default alphabet, 0x00 (§9.2.3.27).
            ud.encode(self.dcs.unwrap_or(0), out)?;
        }
        Ok(())
    }

    fn decode(input: &[u8]) -> Result<ReportParameters> {
        // TP-PI may be absent when nothing follows (§9.2.2.1a); an extension bit (b7) would
        // chain further PI octets, which carry no parameters defined here.
        let Some((&pi, mut rest)) = input.split_first() else {
            return Ok(ReportParameters::default());
        };
        if pi & 0x80 != 0 {
            return Err(OtaError::BadTpdu(
                "TP-PI extension octets are not supported",
            ));
        }
        let mut p = ReportParameters::default();
        if pi & 1 != 0 {
            let (v, r) = byte(rest, "TP-PID")?;
            p.pid = Some(v);
            rest = r;
        }
        if pi & 2 != 0 {
            let (v, r) = byte(rest, "TP-DCS")?;
            p.dcs = Some(v);
            rest = r;
        }
        if pi & 4 != 0 {
            let (ud, r) = UserData::decode(rest, p.dcs.unwrap_or(0))?;
            p.user_data = Some(ud);
            rest = r;
        }
        done(rest)?;
        Ok(p)
    }
}

/// SMS-DELIVER-REPORT (§9.2.2.1a), MS → SC, inside RP-ACK (no TP-FCS) or RP-ERROR (TP-FCS).
/// This is where a (U)SIM puts its PoR when SPI2 b6 = 0 (TS 31.115 §4.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsDeliverReport {
    /// TP-FCS, present for the RP-ERROR case (e.g. 'D4' SIM data download error).
    pub failure_cause: Option<u8>,
    /// TP-UDHI.
    pub udhi: bool,
    /// TP-PI and what it announces.
    pub parameters: ReportParameters,
}

impl SmsDeliverReport {
    /// Encode.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = vec![u8::from(self.udhi) << 6];
        if let Some(fcs) = self.failure_cause {
            out.push(fcs);
        }
        self.parameters.encode(&mut out)?;
        Ok(out)
    }

    /// Decode; `rp_error` tells whether it came in an RP-ERROR (then TP-FCS is present).
    pub fn decode(input: &[u8], rp_error: bool) -> Result<SmsDeliverReport> {
        let (fo, mut rest) = byte(input, "first octet")?;
        if fo & 3 != 0 {
            return Err(OtaError::BadTpdu("TP-MTI is not SMS-DELIVER-REPORT"));
        }
        let mut failure_cause = None;
        if rp_error {
            let (v, r) = byte(rest, "TP-FCS")?;
            failure_cause = Some(v);
            rest = r;
        }
        Ok(SmsDeliverReport {
            failure_cause,
            udhi: fo & 0x40 != 0,
            parameters: ReportParameters::decode(rest)?,
        })
    }
}

/// SMS-SUBMIT-REPORT (§9.2.2.2a), SC → MS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsSubmitReport {
    /// TP-FCS for the RP-ERROR case.
    pub failure_cause: Option<u8>,
    /// TP-UDHI.
    pub udhi: bool,
    /// TP-SCTS.
    pub scts: Scts,
    /// TP-PI and what it announces.
    pub parameters: ReportParameters,
}

impl SmsSubmitReport {
    /// Encode.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = vec![0x01 | u8::from(self.udhi) << 6];
        if let Some(fcs) = self.failure_cause {
            out.push(fcs);
        }
        // TP-PI precedes TP-SCTS; the optional parameters follow the time stamp.
        let mut params = Vec::new();
        self.parameters.encode(&mut params)?;
        let (pi, tail) = params.split_first().ok_or(OtaError::BadTpdu("TP-PI"))?;
        out.push(*pi);
        out.extend_from_slice(&self.scts.0);
        out.extend_from_slice(tail);
        Ok(out)
    }

    /// Decode; `rp_error` tells whether TP-FCS is present.
    pub fn decode(input: &[u8], rp_error: bool) -> Result<SmsSubmitReport> {
        let (fo, mut rest) = byte(input, "first octet")?;
        if fo & 3 != 1 {
            return Err(OtaError::BadTpdu("TP-MTI is not SMS-SUBMIT-REPORT"));
        }
        let mut failure_cause = None;
        if rp_error {
            let (v, r) = byte(rest, "TP-FCS")?;
            failure_cause = Some(v);
            rest = r;
        }
        let (pi, rest) = byte(rest, "TP-PI")?;
        let (scts, rest) = take::<7>(rest, "TP-SCTS")?;
        let mut params = vec![pi];
        params.extend_from_slice(rest);
        Ok(SmsSubmitReport {
            failure_cause,
            udhi: fo & 0x40 != 0,
            scts: Scts(scts),
            parameters: ReportParameters::decode(&params)?,
        })
    }
}

/// Split 8-bit `payload` into TP-UD of at most 140 octets each.
///
/// If `first_only` IEs plus `payload` fit one short message, one TP-UD without concatenation
/// comes back. Otherwise each segment carries a concatenation IE (8-bit reference unless
/// `reference` needs 16 bits or `wide` is set): the first segment's UDH is `first_only`
/// followed by the concatenation IE, later segments carry only the concatenation IE
/// (TS 23.040 §9.2.3.24.1; TS 31.115 §4.2 puts the command packet IE '70' and the command
/// header only in the first segment).
pub fn segment(
    first_only: &[InformationElement],
    payload: &[u8],
    reference: u16,
    wide: bool,
) -> Result<Vec<UserData>> {
    let first_hdr = UserDataHeader::new(first_only.to_vec());
    let single_len = if first_only.is_empty() {
        payload.len()
    } else {
        first_hdr.encoded_len() + payload.len()
    };
    if single_len <= MAX_UD_OCTETS {
        return Ok(vec![if first_only.is_empty() {
            UserData::eight_bit(payload.to_vec())?
        } else {
            UserData::with_header(&first_hdr, payload)?
        }]);
    }
    let wide = wide || reference > 0xFF;
    let concat_len = if wide { 6 } else { 5 };
    let first_room = MAX_UD_OCTETS
        .checked_sub(first_hdr.encoded_len() + concat_len)
        .filter(|r| *r > 0)
        .ok_or(OtaError::TooLong("first-segment UDH leaves no room"))?;
    let other_room = MAX_UD_OCTETS - 1 - concat_len;
    let rest_len = payload.len().saturating_sub(first_room);
    let total = 1 + rest_len.div_ceil(other_room);
    let total = u8::try_from(total).map_err(|_| OtaError::TooLong("more than 255 segments"))?;
    let mut out = Vec::with_capacity(usize::from(total));
    let (head, mut tail) = payload.split_at(first_room.min(payload.len()));
    for seq in 1..=total {
        let concat = Concat {
            reference,
            wide,
            total,
            seq,
        }
        .to_ie();
        let (ies, chunk) = if seq == 1 {
            let mut ies = first_only.to_vec();
            ies.push(concat);
            (ies, head)
        } else {
            let (c, t) = tail.split_at(other_room.min(tail.len()));
            tail = t;
            (vec![concat], c)
        };
        out.push(UserData::with_header(&UserDataHeader::new(ies), chunk)?);
    }
    Ok(out)
}

#[derive(Debug)]
struct Partial {
    total: u8,
    parts: BTreeMap<u8, Vec<u8>>,
}

/// Reassembly of concatenated short messages, keyed by the caller's choice of sender key
/// (e.g. originating address) plus the concatenation reference. Sans-I/O: there is no timer;
/// call [`Reassembler::discard`] or [`Reassembler::missing`] from the caller's clock.
#[derive(Debug)]
pub struct Reassembler<K: Ord + Clone> {
    pending: BTreeMap<(K, u16, bool), Partial>,
    max_pending: usize,
}

impl<K: Ord + Clone> Reassembler<K> {
    /// A reassembler holding at most `max_pending` incomplete messages.
    pub fn new(max_pending: usize) -> Reassembler<K> {
        Reassembler {
            pending: BTreeMap::new(),
            max_pending,
        }
    }

    /// Add one segment (any data, typically the whole TP-UD). Returns all segments in
    /// sequence order once every one has arrived. Exact duplicates are ignored; a duplicate
    /// with other content, a total that changes, or a sequence number outside 1..=total is an
    /// error.
    pub fn push(
        &mut self,
        key: K,
        concat: Concat,
        segment: Vec<u8>,
    ) -> Result<Option<Vec<Vec<u8>>>> {
        if concat.total == 0 || concat.seq == 0 || concat.seq > concat.total {
            return Err(OtaError::Concatenation("sequence number outside 1..=total"));
        }
        let id = (key, concat.reference, concat.wide);
        if !self.pending.contains_key(&id) && self.pending.len() >= self.max_pending {
            return Err(OtaError::InsufficientMemory("too many partial messages"));
        }
        let partial = self.pending.entry(id.clone()).or_insert_with(|| Partial {
            total: concat.total,
            parts: BTreeMap::new(),
        });
        if partial.total != concat.total {
            return Err(OtaError::Concatenation("total number of segments changed"));
        }
        match partial.parts.get(&concat.seq) {
            Some(existing) if *existing == segment => return Ok(None),
            Some(_) => {
                return Err(OtaError::Concatenation(
                    "duplicate sequence number with other content",
                ))
            }
            None => {
                partial.parts.insert(concat.seq, segment);
            }
        }
        if partial.parts.len() == usize::from(partial.total) {
            let done = self
                .pending
                .remove(&id)
                .map(|p| p.parts.into_values().collect());
            return Ok(done);
        }
        Ok(None)
    }

    /// The sequence numbers still missing for a message, `None` if none is pending.
    pub fn missing(&self, key: &K, reference: u16, wide: bool) -> Option<Vec<u8>> {
        self.pending
            .get(&(key.clone(), reference, wide))
            .map(|p| (1..=p.total).filter(|s| !p.parts.contains_key(s)).collect())
    }

    /// Drop an incomplete message (e.g. on timeout).
    pub fn discard(&mut self, key: &K, reference: u16, wide: bool) -> bool {
        self.pending
            .remove(&(key.clone(), reference, wide))
            .is_some()
    }

    /// Number of incomplete messages held.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// Join complete concatenated segments given as TP-UD with UDH: checks that they form one
/// message (same reference and total, sequence 1..=total each once, in any order) and returns
/// the UDH of the first segment and the joined payload.
pub fn join_segments(segments: &[UserData]) -> Result<(UserDataHeader, Vec<u8>)> {
    let mut parts: Vec<(Concat, UserDataHeader, &[u8])> = Vec::with_capacity(segments.len());
    for ud in segments {
        let (hdr, rest) = UserDataHeader::decode(&ud.octets)?;
        let c = hdr
            .concat()?
            .ok_or(OtaError::Concatenation("segment without concatenation IE"))?;
        parts.push((c, hdr, rest));
    }
    let (first, _, _) = parts
        .first()
        .ok_or(OtaError::Concatenation("no segments"))?;
    let (reference, wide, total) = (first.reference, first.wide, first.total);
    if parts
        .iter()
        .any(|(c, _, _)| c.reference != reference || c.wide != wide || c.total != total)
    {
        return Err(OtaError::Concatenation("segments of different messages"));
    }
    parts.sort_by_key(|(c, _, _)| c.seq);
    if parts.len() != usize::from(total) || !parts.iter().map(|(c, _, _)| c.seq).eq(1..=total) {
        return Err(OtaError::Concatenation("segments missing or duplicated"));
    }
    let mut payload = Vec::new();
    let mut header = UserDataHeader::default();
    for (i, (_, h, rest)) in parts.into_iter().enumerate() {
        if i == 0 {
            header = h;
        }
        payload.extend_from_slice(rest);
    }
    Ok((header, payload))
}
