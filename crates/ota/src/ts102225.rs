//! Secured command and response packets (ETSI TS 102 225 §5.1, §5.2) in the SMS-PP coding of
//! 3GPP TS 31.115 §4.2/§4.4 (CPL/RPL two octets, CHL/RHL one octet, CPI/RPI carried as the UDH
//! IEs '70'/'71', CHI/RHI null).
//!
//! One core serves both ends: the sending entity (OTA server) calls [`build_command`] and
//! [`parse_response`]; the receiving entity (card) calls [`CommandPacket::parse`],
//! [`CommandPacket::open`], [`CounterMode::check`] (or [`receive_command`] for all three) and
//! [`build_response`]. The same routines compute and check the RC/CC/DS and the ciphering.
//!
//! Command packet: `CPL(2) CHL(1) SPI(2) KIc KID TAR(3) | CNTR(5) PCNTR RC/CC/DS data+padding`;
//! the part after TAR is ciphered when SPI1 b3 is set; the RC/CC/DS covers
//! `CPL .. TAR, CNTR, PCNTR, data+padding` (TS 31.115 §4.2: the UDH is not included).
//!
//! Response packet (TS 31.115 §4.4), as SMS user data:
//! `UDHL '71' '00' RPL(2) RHL(1) TAR(3) | CNTR(5) PCNTR Status RC/CC/DS data+padding`; the RC/CC/DS
//! covers `UDHL .. Status, data+padding` (UDH included).

use serde::{Deserialize, Serialize};

use crate::crc;
use crate::crypto::{CcKey, CipherKey};
use crate::error::{OtaError, PorStatus, Result};
use crate::spi::Counter;
use crate::spi::{CounterMode, IntegrityType, Kic, Kid, RcAlgorithm, Spi};

/// Length of `SPI KIc KID TAR CNTR PCNTR`: CHL without the RC/CC/DS.
pub const CHL_MIN: usize = 13;
/// Length of `TAR CNTR PCNTR Status`: RHL without the RC/CC/DS.
pub const RHL_MIN: usize = 10;
/// `CPL(2) CHL SPI(2) KIc KID TAR(3)`: the part never ciphered.
const CMD_CLEAR_LEN: usize = 10;
/// The response packet identifier as UDH (TS 31.115 §4.4): UDHL=2, IEI '71', length 0.
pub const RESPONSE_UDH: [u8; 3] = [0x02, 0x71, 0x00];

/// The keys of one key set, as KIc and KID address them.
#[derive(Debug, Clone, Default)]
pub struct SecurityKeys {
    /// The ciphering key (KIc).
    pub cipher: Option<CipherKey>,
    /// The CC key (KID when SPI asks for a CC).
    pub cc: Option<CcKey>,
    /// The CRC to use when the KID codes the RC algorithm as "known implicitly" ('0000').
    pub implicit_rc: Option<RcAlgorithm>,
}

/// The header fields a sending entity chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandHeader {
    /// Security parameter indicator.
    pub spi: Spi,
    /// Key and algorithm identifier for ciphering.
    pub kic: Kic,
    /// Key and algorithm identifier for RC/CC/DS.
    pub kid: Kid,
    /// Toolkit application reference.
    pub tar: [u8; 3],
    /// CNTR.
    pub counter: Counter,
}

/// Which integrity function applies, resolved from SPI/KID and the key set.
enum Integrity<'k> {
    None,
    Rc(RcAlgorithm),
    Cc(&'k CcKey),
}

impl Integrity<'_> {
    fn compute(&self, data: &[u8], len: usize) -> Result<Vec<u8>> {
        match self {
            Integrity::None => Ok(Vec::new()),
            Integrity::Rc(RcAlgorithm::Crc16) => Ok(crc::crc16(data).to_be_bytes().to_vec()),
            Integrity::Rc(RcAlgorithm::Crc32) => Ok(crc::crc32(data).to_be_bytes().to_vec()),
            Integrity::Cc(k) => k.compute(data, len),
        }
    }

    fn verify(&self, data: &[u8], received: &[u8]) -> Result<()> {
        match self {
            Integrity::None => Ok(()),
            Integrity::Cc(k) => k.verify(data, received),
            Integrity::Rc(_) => {
                if self.compute(data, received.len())? == received {
                    Ok(())
                } else {
                    Err(OtaError::IntegrityFailed)
                }
            }
        }
    }

    /// The length this end sends.
    fn send_len(&self) -> usize {
        match self {
            Integrity::None => 0,
            Integrity::Rc(a) => a.len(),
            Integrity::Cc(k) => k.cc_len(),
        }
    }

    /// Whether a received RC/CC/DS of `len` octets fits the algorithm.
    fn accepts_len(&self, len: usize) -> bool {
        match self {
            Integrity::None => len == 0,
            Integrity::Rc(a) => a.len() == len,
            Integrity::Cc(k) => CcKey::len_allowed(k.algorithm(), len),
        }
    }
}

fn resolve_integrity<'k>(
    kind: IntegrityType,
    kid: Kid,
    keys: &'k SecurityKeys,
) -> Result<Integrity<'k>> {
    match kind {
        IntegrityType::None => Ok(Integrity::None),
        IntegrityType::Rc => match kid.rc_algorithm()? {
            Some(a) => Ok(Integrity::Rc(a)),
            None => keys
                .implicit_rc
                .map(Integrity::Rc)
                .ok_or(OtaError::MissingKey("implicit RC algorithm")),
        },
        IntegrityType::Cc => {
            let key = keys.cc.as_ref().ok_or(OtaError::MissingKey("KID key"))?;
            match kid.cc_algorithm()? {
                Some(a) if a != key.algorithm() => Err(OtaError::UnsupportedSecurity(
                    "KID algorithm differs from the key's",
                )),
                _ => Ok(Integrity::Cc(key)),
            }
        }
        IntegrityType::Ds => Err(OtaError::UnsupportedSecurity(
            "digital signature is not supported",
        )),
    }
}

fn resolve_cipher(kic: Kic, keys: &SecurityKeys) -> Result<&CipherKey> {
    let key = keys
        .cipher
        .as_ref()
        .ok_or(OtaError::MissingKey("KIc key"))?;
    match kic.algorithm()? {
        Some(a) if a != key.algorithm() => Err(OtaError::UnsupportedSecurity(
            "KIc algorithm differs from the key's",
        )),
        _ => Ok(key),
    }
}

fn padding_for(len: usize, block: usize) -> usize {
    (block - len % block) % block
}

/// Secure `data` into a command packet (`CPL .. end`), as the sending entity.
///
/// The padding octets are zero and their number goes into PCNTR. Fails if the SPI asks for a
/// function whose key is missing, if KIc/KID code another algorithm than the keys', or if the
/// packet would exceed the 16-bit CPL.
pub fn build_command(header: &CommandHeader, keys: &SecurityKeys, data: &[u8]) -> Result<Vec<u8>> {
    let spi = header.spi;
    let integrity = resolve_integrity(spi.integrity, header.kid, keys)?;
    let sig_len = integrity.send_len();
    let cipher = if spi.ciphering {
        Some(resolve_cipher(header.kic, keys)?)
    } else {
        None
    };
    let pad = cipher.map_or(0, |c| padding_for(6 + sig_len + data.len(), c.block_size()));
    let chl = CHL_MIN + sig_len;
    let cpl = 1 + chl + data.len() + pad;
    let cpl16 = u16::try_from(cpl).map_err(|_| OtaError::TooLong("CPL exceeds 65535"))?;
    let chl8 = u8::try_from(chl).map_err(|_| OtaError::TooLong("CHL exceeds 255"))?;
    let pcntr = u8::try_from(pad).map_err(|_| OtaError::TooLong("padding"))?;

    let mut out = Vec::with_capacity(cpl + 2);
    out.extend_from_slice(&cpl16.to_be_bytes());
    out.push(chl8);
    out.extend_from_slice(&spi.to_bytes());
    out.push(header.kic.0);
    out.push(header.kid.0);
    out.extend_from_slice(&header.tar);
    let tail_start = out.len();
    out.extend_from_slice(&header.counter.to_bytes());
    out.push(pcntr);
    let sig_at = out.len();
    out.extend_from_slice(data);
    out.resize(out.len() + pad, 0);

    // RC/CC/DS over CPL..PCNTR and data+padding (TS 102 225 §5.1.3; TS 31.115 §4.2).
    let sig = integrity.compute(&out, sig_len)?;
    out.splice(sig_at..sig_at, sig);

    if let Some(c) = cipher {
        let tail = out.get_mut(tail_start..).unwrap_or_default();
        c.encrypt(tail)?;
    }
    Ok(out)
}

/// A received command packet whose clear header has been parsed (card side), before the keys
/// are known. Look the keys and counter up with [`CommandPacket::tar`], `kic` and `kid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandPacket<'a> {
    bytes: &'a [u8],
    /// Decoded SPI.
    pub spi: Spi,
    /// KIc.
    pub kic: Kic,
    /// KID.
    pub kid: Kid,
    /// TAR.
    pub tar: [u8; 3],
    /// CHL.
    pub chl: usize,
}

/// A command packet after deciphering and RC/CC/DS verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedCommand {
    /// Header as received.
    pub header: CommandHeader,
    /// PCNTR: padding octets that were removed from the end of the data.
    pub padding: u8,
    /// The secured data without padding (for RFM/RAM: the APDUs or expanded format).
    pub data: Vec<u8>,
}

impl<'a> CommandPacket<'a> {
    /// Parse the clear part of `CPL .. end`. CPL must cover the rest exactly and CHL must leave
    /// room for `SPI .. PCNTR`; otherwise the header cannot be interpreted ('06').
    pub fn parse(bytes: &'a [u8]) -> Result<CommandPacket<'a>> {
        let clear = bytes
            .get(..CMD_CLEAR_LEN)
            .ok_or(OtaError::Truncated("command header"))?;
        let cpl = usize::from(u16::from_be_bytes([clear[0], clear[1]]));
        if cpl != bytes.len() - 2 {
            return Err(OtaError::BadLength("CPL does not match the packet"));
        }
        let chl = usize::from(clear[2]);
        if chl < CHL_MIN || 1 + chl > cpl {
            return Err(OtaError::BadLength("CHL"));
        }
        let spi = Spi::from_bytes([clear[3], clear[4]])?;
        Ok(CommandPacket {
            bytes,
            spi,
            kic: Kic(clear[5]),
            kid: Kid(clear[6]),
            tar: [clear[7], clear[8], clear[9]],
            chl,
        })
    }

    /// The raw packet (`CPL .. end`).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Length of the RC/CC/DS field announced by CHL.
    pub fn integrity_len(&self) -> usize {
        self.chl - CHL_MIN
    }

    /// Decipher (if SPI1 b3) and verify the RC/CC/DS with the key set KIc/KID address.
    /// Does not check the counter: see [`CounterMode::check`].
    pub fn open(&self, keys: &SecurityKeys) -> Result<OpenedCommand> {
        let sig_len = self.integrity_len();
        let integrity = resolve_integrity(self.spi.integrity, self.kid, keys)?;
        if !integrity.accepts_len(sig_len) {
            return Err(OtaError::BadLength(
                "CHL does not fit the RC/CC/DS algorithm",
            ));
        }
        let mut tail = self.bytes.get(CMD_CLEAR_LEN..).unwrap_or_default().to_vec();
        let mut block = 1;
        if self.spi.ciphering {
            let c = resolve_cipher(self.kic, keys)?;
            block = c.block_size();
            c.decrypt(&mut tail)?;
        }
        if tail.len() < 6 + sig_len {
            return Err(OtaError::BadLength("CHL exceeds the packet"));
        }
        let (fixed, rest) = tail.split_at(6);
        let (sig, data) = rest.split_at(sig_len);
        let counter = Counter::from_bytes([fixed[0], fixed[1], fixed[2], fixed[3], fixed[4]]);
        let pcntr = fixed[5];
        let pad = usize::from(pcntr);

        // MAC input: clear header, CNTR, PCNTR, data with padding.
        let mut mac_input = Vec::with_capacity(CMD_CLEAR_LEN + 6 + data.len());
        mac_input.extend_from_slice(self.bytes.get(..CMD_CLEAR_LEN).unwrap_or_default());
        mac_input.extend_from_slice(fixed);
        mac_input.extend_from_slice(data);
        integrity.verify(&mac_input, sig)?;

        // PCNTR can only count padding inside the data and below one cipher block.
        if pad > data.len() || (self.spi.ciphering && pad >= block) {
            return Err(OtaError::Ciphering("PCNTR does not fit the data"));
        }
        Ok(OpenedCommand {
            header: CommandHeader {
                spi: self.spi,
                kic: self.kic,
                kid: self.kid,
                tar: self.tar,
                counter,
            },
            padding: pcntr,
            data: data.get(..data.len() - pad).unwrap_or_default().to_vec(),
        })
    }
}

/// How the response packet is secured (SPI2 b5, b4-b3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PorSecurity {
    /// PoR ciphered with the KIc key.
    pub ciphered: bool,
    /// RC/CC/DS of the PoR (using KID).
    pub integrity: IntegrityType,
}

impl PorSecurity {
    /// No ciphering, no RC/CC/DS.
    pub const NONE: PorSecurity = PorSecurity {
        ciphered: false,
        integrity: IntegrityType::None,
    };

    /// What SPI2 asks for.
    pub fn from_spi(spi: &Spi) -> PorSecurity {
        PorSecurity {
            ciphered: spi.por_ciphered,
            integrity: spi.por_integrity,
        }
    }

    /// What the card applies for a given status: '06' goes out unsecured (TS 102 225 §5.2);
    /// so does '09' TAR unknown, for which the card has no key set to secure it with.
    pub fn for_status(spi: &Spi, status: PorStatus) -> PorSecurity {
        if status.allows_secured_por() && status != PorStatus::TarUnknown {
            PorSecurity::from_spi(spi)
        } else {
            PorSecurity::NONE
        }
    }
}

/// A response packet (PoR), decoded or to be built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponsePacket {
    /// TAR of the command packet.
    pub tar: [u8; 3],
    /// CNTR of the command packet.
    pub counter: Counter,
    /// Response status code.
    pub status: PorStatus,
    /// Additional response data (for RFM/RAM the (compact or expanded) remote response),
    /// without padding.
    pub data: Vec<u8>,
}

/// Build the response packet as SMS user data (`UDHL '71' '00' RPL .. end`), as the receiving
/// entity. `kic`/`kid` are those of the command packet.
pub fn build_response(
    resp: &ResponsePacket,
    security: PorSecurity,
    kic: Kic,
    kid: Kid,
    keys: &SecurityKeys,
) -> Result<Vec<u8>> {
    let integrity = resolve_integrity(security.integrity, kid, keys)?;
    let sig_len = integrity.send_len();
    let cipher = if security.ciphered {
        Some(resolve_cipher(kic, keys)?)
    } else {
        None
    };
    // Ciphered part: CNTR PCNTR Status RC/CC/DS data.
    let pad = cipher.map_or(0, |c| {
        padding_for(7 + sig_len + resp.data.len(), c.block_size())
    });
    let rhl = RHL_MIN + sig_len;
    let rpl = 1 + rhl + resp.data.len() + pad;
    let rpl16 = u16::try_from(rpl).map_err(|_| OtaError::TooLong("RPL exceeds 65535"))?;
    let rhl8 = u8::try_from(rhl).map_err(|_| OtaError::TooLong("RHL exceeds 255"))?;
    let pcntr = u8::try_from(pad).map_err(|_| OtaError::TooLong("padding"))?;

    let mut out = Vec::with_capacity(RESPONSE_UDH.len() + 2 + rpl);
    out.extend_from_slice(&RESPONSE_UDH);
    out.extend_from_slice(&rpl16.to_be_bytes());
    out.push(rhl8);
    out.extend_from_slice(&resp.tar);
    let tail_start = out.len();
    out.extend_from_slice(&resp.counter.to_bytes());
    out.push(pcntr);
    out.push(resp.status.code());
    let sig_at = out.len();
    out.extend_from_slice(&resp.data);
    out.resize(out.len() + pad, 0);
    let sig = integrity.compute(&out, sig_len)?;
    out.splice(sig_at..sig_at, sig);
    if let Some(c) = cipher {
        c.encrypt(out.get_mut(tail_start..).unwrap_or_default())?;
    }
    Ok(out)
}

/// Parse and verify a response packet from SMS user data (`UDH .. end`, the UDH holding IE
/// '71'), as the sending entity. `security` is what the command's SPI2 asked for; an error PoR
/// that the card sent unsecured ('06', or when the card did not know the keys) verifies only
/// with [`PorSecurity::NONE`].
pub fn parse_response(
    ud: &[u8],
    security: PorSecurity,
    kic: Kic,
    kid: Kid,
    keys: &SecurityKeys,
) -> Result<ResponsePacket> {
    let udhl = usize::from(*ud.first().ok_or(OtaError::Truncated("UDHL"))?);
    let udh_len = 1 + udhl;
    let udh = ud
        .get(..udh_len)
        .ok_or(OtaError::Truncated("user data header"))?;
    let ies = crate::ts23040::UserDataHeader::decode_ies(udh.get(1..).unwrap_or_default())?;
    if !ies
        .iter()
        .any(|ie| ie.iei == crate::ts23040::IEI_RESPONSE_PACKET)
    {
        return Err(OtaError::UnexpectedIdentifier(
            "no response packet IEI '71' in the UDH",
        ));
    }
    let body = ud.get(udh_len..).unwrap_or_default();
    let clear = body
        .get(..6)
        .ok_or(OtaError::Truncated("response header"))?;
    let rpl = usize::from(u16::from_be_bytes([clear[0], clear[1]]));
    if rpl != body.len() - 2 {
        return Err(OtaError::BadLength("RPL does not match the packet"));
    }
    let rhl = usize::from(clear[2]);
    if rhl < RHL_MIN || 1 + rhl > rpl {
        return Err(OtaError::BadLength("RHL"));
    }
    let sig_len = rhl - RHL_MIN;
    let tar = [clear[3], clear[4], clear[5]];
    let integrity = resolve_integrity(security.integrity, kid, keys)?;
    if !integrity.accepts_len(sig_len) {
        return Err(OtaError::BadLength("RHL does not fit the PoR RC/CC/DS"));
    }
    let mut tail = body.get(6..).unwrap_or_default().to_vec();
    let mut block = 1;
    if security.ciphered {
        let c = resolve_cipher(kic, keys)?;
        block = c.block_size();
        c.decrypt(&mut tail)?;
    }
    if tail.len() < 7 + sig_len {
        return Err(OtaError::BadLength("RHL exceeds the packet"));
    }
    let (fixed, rest) = tail.split_at(7);
    let (sig, data) = rest.split_at(sig_len);
    let mut mac_input = Vec::with_capacity(ud.len());
    mac_input.extend_from_slice(udh);
    mac_input.extend_from_slice(clear);
    mac_input.extend_from_slice(fixed);
    mac_input.extend_from_slice(data);
    integrity.verify(&mac_input, sig)?;
    let pad = usize::from(fixed[5]);
    if pad > data.len() || (security.ciphered && pad >= block) {
        return Err(OtaError::Ciphering("PCNTR does not fit the data"));
    }
    Ok(ResponsePacket {
        tar,
        counter: Counter::from_bytes([fixed[0], fixed[1], fixed[2], fixed[3], fixed[4]]),
        status: PorStatus::from_code(fixed[6]),
        data: data.get(..data.len() - pad).unwrap_or_default().to_vec(),
    })
}

/// What the receiving entity's key store answers for a command packet's TAR/KIc/KID.
#[derive(Debug, Clone)]
pub struct KeyLookup {
    /// The key set.
    pub keys: SecurityKeys,
    /// The counter currently stored for that key set (TS 102 225 Annex A).
    pub stored_counter: Counter,
}

/// A command the card accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedCommand {
    /// The opened command.
    pub command: OpenedCommand,
    /// Counter value to store now (`None`: keep the stored one).
    pub new_counter: Option<Counter>,
}

/// A command the card refused, with what it needs to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedCommand {
    /// Why.
    pub error: OtaError,
    /// The PoR status to answer with.
    pub status: PorStatus,
    /// The parsed clear header, if the packet got that far (it gives TAR, SPI, KIc, KID).
    pub header: Option<(Spi, Kic, Kid, [u8; 3])>,
    /// The CNTR of the packet if it could be deciphered, for the PoR.
    pub counter: Option<Counter>,
}

impl OpenedCommand {
    /// The response packet answering this command: same TAR and CNTR.
    pub fn response(&self, status: PorStatus, data: Vec<u8>) -> ResponsePacket {
        ResponsePacket {
            tar: self.header.tar,
            counter: self.header.counter,
            status,
            data,
        }
    }
}

/// What the card sends back for a refused command, from [`RejectedCommand::response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedResponse {
    /// The response packet (no additional data).
    pub packet: ResponsePacket,
    /// How to secure it.
    pub security: PorSecurity,
    /// KIc of the command (for ciphering the PoR).
    pub kic: Kic,
    /// KID of the command (for the PoR RC/CC).
    pub kid: Kid,
    /// SMS-DELIVER-REPORT or SMS-SUBMIT (SPI2 b6).
    pub transport: crate::spi::PorTransport,
}

impl RejectedCommand {
    /// The PoR the card answers with, or `None` when there is none: the header could not be
    /// read (no TAR to answer to) or SPI2 asks for no PoR. The CNTR is the command's when it
    /// could be deciphered, zero otherwise.
    pub fn response(&self) -> Option<PlannedResponse> {
        let (spi, kic, kid, tar) = self.header?;
        if !spi.por_wanted(self.status) {
            return None;
        }
        Some(PlannedResponse {
            packet: ResponsePacket {
                tar,
                counter: self.counter.unwrap_or_default(),
                status: self.status,
                data: Vec::new(),
            },
            security: PorSecurity::for_status(&spi, self.status),
            kic,
            kid,
            transport: spi.por_transport,
        })
    }
}

/// The receiving entity's whole check of a command packet (`CPL .. end`): parse the header,
/// look up keys (`lookup` answers [`OtaError::TarUnknown`] / [`OtaError::InsufficientSecurityLevel`]
/// / a missing-key error as it sees fit), decipher, verify RC/CC/DS, then the counter.
pub fn receive_command(
    packet: &[u8],
    lookup: impl FnOnce(&CommandPacket<'_>) -> Result<KeyLookup>,
) -> core::result::Result<AcceptedCommand, Box<RejectedCommand>> {
    let reject = |error: OtaError, header, counter| {
        Box::new(RejectedCommand {
            status: error.por_status(),
            error,
            header,
            counter,
        })
    };
    let parsed = CommandPacket::parse(packet).map_err(|e| reject(e, None, None))?;
    let hdr = Some((parsed.spi, parsed.kic, parsed.kid, parsed.tar));
    let found = lookup(&parsed).map_err(|e| reject(e, hdr, None))?;
    let opened = parsed.open(&found.keys).map_err(|e| reject(e, hdr, None))?;
    let counter = opened.header.counter;
    let new_counter = parsed
        .spi
        .counter
        .check(counter, found.stored_counter)
        .map_err(|e| reject(e, hdr, Some(counter)))?;
    Ok(AcceptedCommand {
        command: opened,
        new_counter,
    })
}

impl CounterMode {
    /// Whether packets in this mode carry a counter the receiver checks.
    pub fn is_checked(self) -> bool {
        matches!(self, CounterMode::Higher | CounterMode::OneHigher)
    }
}
