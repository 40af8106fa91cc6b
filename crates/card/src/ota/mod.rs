//! Remote management over SMS-PP (the card side of the OTA platform).
//!
//! * [`proactive`]: the ENVELOPE (SMS-PP download, ETSI TS 102 223 §7.1 / 3GPP TS 31.111
//!   §7.1) with its BER-TLV 'D1', and the proactive SEND SHORT MESSAGE that carries a PoR
//!   as SMS-SUBMIT (TS 102 223 §6.6.9) with FETCH and TERMINAL RESPONSE.
//! * [`remote`]: the remote command formats of ETSI TS 102 226 §5 (compact and expanded) and
//!   the script runner shared by RFM and RAM.
//! * [`rfm`]: Remote File Management on the enabled profile's `uicc::Uicc`.
//! * RAM goes to the GlobalPlatform container through [`crate::gp::ram_script`].
//!
//! The secured packet layer (SCP80: ETSI TS 102 225 / 3GPP TS 31.115) is the `ota` crate's
//! ([`ota::receive_command`], [`ota::build_response`]); the SMS TPDUs and the concatenation are
//! its `ts23040`/`ts31115` modules.
//!
//! **Isolation.** [`envelope`] sees the OTA key sets ([`OtaState`]) and reaches the
//! applications only through the [`Applications`] trait: plain C-APDUs in, R-APDUs out. It
//! never receives a GlobalPlatform key. The GP container receives the deciphered RAM commands
//! and nothing else; data a service provider protected with its SSD's keys (PUT KEY key
//! values, STORE DATA with P1 b7-b6 = '11') stays encrypted until the GP container opens it
//! with the SSD's own DEK.
//!
//! **TAR routing** (ETSI TS 101 220 Annex D, TS 102 226 §8):
//! * `B00000`..`B0FFFF`: RFM of the UICC file system of the enabled profile (a fresh
//!   selection, the MF current).
//! * `000000`: RAM of the Issuer Security Domain.
//! * an entry of [`OtaConfig::ram_tars`] (TAR → security domain AID), or else a supplementary
//!   security domain whose AID carries the TAR in bytes 13 to 15 (TS 101 220 §6: the TAR of an
//!   application is part of its AID).
//! * anything else: PoR '09' TAR unknown.
//!
//! **Access rights.** RFM commands get the access of the OTA key set's access domain: this
//! card's documented rule is that the OTA key sets grant the key references in
//! [`RfmAccess::key_refs`] (default ADM1 = '0A', i.e. the access domain '02 000100' the SAIP
//! RFM templates use), on top of what is always allowed. RAM commands run on the target
//! security domain as in an authenticated secure channel session with C-MAC, the secured
//! packet standing in for the GP secure channel (TS 102 226 §8.2.1).
//!
//! **Default OTA keys** ([`default_key_sets`]): key version 1, AES-128, KIc
//! `200102030405060708090A0B0C0D0E0F` and KID `201102030405060708090A0B0C0D0E0F` — the test
//! keys of pySim `tests/unittests/test_ota.py` (`Test_SMS_AES128`). Test keys only: a card
//! creator replaces [`OtaState::key_sets`] before issuing a card.
//!
//! **Minimum security level** ([`OtaConfig::msl`], coded like SPI1, TS 102 226 §8.2.1.3.2.1):
//! the packet's integrity must be at least the MSL's (none < RC < CC < DS), it must be
//! ciphered if the MSL asks for it, and its counter mode must be '10' or '11' when the MSL
//! asks for counter checking ('11': exactly '11'). Otherwise PoR '0A'. Default `16`: CC,
//! ciphering, counter higher.

pub mod proactive;
pub mod remote;
pub mod rfm;

use std::collections::{BTreeMap, VecDeque};

use apdu::{Command, Response, StatusWord};
use ota::ts23040::{Reassembler, UserData, UserDataHeader, MAX_UD_OCTETS};
use ota::{
    CcAlgorithm, CcKey, CipherAlgorithm, CipherKey, Counter, CounterMode, IntegrityType, KeyLookup,
    OtaError, PorStatus, PorTransport, SecurityKeys,
};
use serde::{Deserialize, Serialize};

pub use proactive::{Proactive, TerminalResult};
pub use remote::Format;

/// One OTA key: algorithm and value. `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtaKey<A> {
    pub algorithm: A,
    #[serde(with = "crate::hexser::bytes")]
    pub key: Vec<u8>,
}

impl<A: std::fmt::Debug> std::fmt::Debug for OtaKey<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtaKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl<A> Drop for OtaKey<A> {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

/// The OTA key set of one key version (TS 102 225 §5.1.2/§5.1.3: KIc and KID b8-b5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtaKeySet {
    /// Key version number, 1..=15.
    pub kvn: u8,
    /// The ciphering key.
    pub kic: OtaKey<CipherAlgorithm>,
    /// The cryptographic checksum key.
    pub kid: OtaKey<CcAlgorithm>,
}

/// pySim `tests/unittests/test_ota.py` `Test_SMS_AES128` KIc.
pub const DEFAULT_KIC: [u8; 16] = [
    0x20, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
];
/// pySim `tests/unittests/test_ota.py` `Test_SMS_AES128` KID.
pub const DEFAULT_KID: [u8; 16] = [
    0x20, 0x11, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
];

/// The factory OTA key sets: key version 1, AES-128 CBC / AES CMAC, [`DEFAULT_KIC`] and
/// [`DEFAULT_KID`] (test keys).
pub fn default_key_sets() -> Vec<OtaKeySet> {
    vec![OtaKeySet {
        kvn: 1,
        kic: OtaKey {
            algorithm: CipherAlgorithm::AesCbc,
            key: DEFAULT_KIC.to_vec(),
        },
        kid: OtaKey {
            algorithm: CcAlgorithm::AesCmac,
            key: DEFAULT_KID.to_vec(),
        },
    }]
}

/// The key references RFM commands are granted (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RfmAccess {
    /// Access domain '00': every access condition is met.
    pub full: bool,
    /// Key references whose access condition is met (TS 102 221 §9.5.1: ADM1 = '0A').
    pub key_refs: Vec<u8>,
}

impl Default for RfmAccess {
    fn default() -> Self {
        RfmAccess {
            full: false,
            key_refs: vec![0x0A],
        }
    }
}

/// Card configuration of the OTA platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OtaConfig {
    /// Minimum security level, coded like SPI1 (see the module documentation).
    pub msl: u8,
    /// Largest command packet (`CPL .. end`, octets) accepted, single or concatenated;
    /// larger ones get PoR '07' insufficient memory.
    pub max_packet_len: usize,
    /// Concatenated messages being reassembled at the same time; one more gets '07'.
    pub max_pending_messages: usize,
    /// Largest TP-UD (octets, UDH included) of one SMS-DELIVER in an ENVELOPE; a longer one
    /// is refused with '6700'. At most 140 (TS 23.040 §9.2.3.16).
    #[serde(default = "default_max_segment_ud")]
    pub max_segment_ud: usize,
    /// Access of RFM commands.
    pub rfm_access: RfmAccess,
    /// Extra RAM TARs: TAR (hex) → security domain AID (hex).
    pub ram_tars: BTreeMap<String, String>,
}

impl Default for OtaConfig {
    fn default() -> Self {
        OtaConfig {
            msl: 0x16,
            max_packet_len: 2048,
            max_pending_messages: 4,
            max_segment_ud: MAX_UD_OCTETS,
            rfm_access: RfmAccess::default(),
            ram_tars: BTreeMap::new(),
        }
    }
}

fn default_max_segment_ud() -> usize {
    MAX_UD_OCTETS
}

/// Tag of the SMS-PP capability data object the terminal reads with GET DATA
/// (`80 CA FF 70 00`): a constructed private-class tag (ISO/IEC 7816-4 §5.2.2, class '11'
/// for proprietary use) that neither GlobalPlatform (GET DATA '0042', '0045', '0066', '00CF',
/// '00E0', '9F7F', ...) nor ETSI TS 102 226 ('FF21' extended card resources) assigns; '70'
/// recalls the command packet IEI of TS 31.115.
pub const TAG_SMS_PP_CAPABILITY: u16 = 0xFF70;

/// The SMS-PP capability data object `FF70 { 80 02 max packet length, 81 01 max pending
/// concatenated messages, 82 01 max TP-UD octets per ENVELOPE }` from the configuration.
pub fn sms_pp_capability(config: &OtaConfig) -> Vec<u8> {
    let max_packet = u16::try_from(config.max_packet_len).unwrap_or(u16::MAX);
    let pending = u8::try_from(config.max_pending_messages).unwrap_or(u8::MAX);
    let segment = u8::try_from(config.max_segment_ud.min(MAX_UD_OCTETS)).unwrap_or(u8::MAX);
    let mut body = Vec::new();
    tlv::write_tlv(tlv::Tag(0x80), &max_packet.to_be_bytes(), &mut body);
    tlv::write_tlv(tlv::Tag(0x81), &[pending], &mut body);
    tlv::write_tlv(tlv::Tag(0x82), &[segment], &mut body);
    tlv::encode_tlv(tlv::Tag(u32::from(TAG_SMS_PP_CAPABILITY)), &body)
}

/// Persistent state of the OTA platform (telecom side): key sets, counters, configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtaState {
    #[serde(default = "default_key_sets")]
    pub key_sets: Vec<OtaKeySet>,
    /// The last accepted CNTR per TAR (hex), TS 102 225 Annex A.
    #[serde(default)]
    pub counters: BTreeMap<String, u64>,
    #[serde(default)]
    pub config: OtaConfig,
}

impl Default for OtaState {
    fn default() -> Self {
        OtaState {
            key_sets: default_key_sets(),
            counters: BTreeMap::new(),
            config: OtaConfig::default(),
        }
    }
}

impl OtaState {
    /// The stored counter of a TAR (zero when none was accepted yet).
    pub fn counter(&self, tar: [u8; 3]) -> u64 {
        self.counters
            .get(&hex::encode_upper(tar))
            .copied()
            .unwrap_or(0)
    }

    fn key_set(&self, kvn: u8) -> Option<&OtaKeySet> {
        self.key_sets.iter().find(|k| k.kvn == kvn)
    }
}

/// What a TAR addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Remote File Management of the enabled profile's UICC.
    Rfm { tar: [u8; 3] },
    /// Remote Application Management through a security domain (its AID).
    Ram { sd: Vec<u8> },
}

/// The applications remote commands reach. The OTA layer sees nothing else of the card.
pub trait Applications {
    /// Whether there is a file system (an enabled profile) for RFM.
    fn has_file_system(&self) -> bool;
    /// AIDs of the security domains (ISD and SSDs) that can receive RAM commands now.
    fn security_domains(&self) -> Vec<Vec<u8>>;
    /// Runs one script for `target` in a fresh context (new selection / new session), command
    /// after command, stopping after the first one that fails (TS 102 226 §5.1.1, §5.2.1);
    /// returns the responses of the commands executed.
    fn run(&mut self, target: &Target, commands: &[Command]) -> Vec<Response>;
}

/// A concatenated message: originating address (encoded), reference, 16-bit reference.
type MessageKey = (Vec<u8>, u16, bool);

/// Volatile OTA state of the card (lost at power-off, like a real card's RAM buffers).
#[derive(Debug)]
pub struct OtaSession {
    /// Concatenated command packets being reassembled, keyed by originating address.
    reassembler: Reassembler<Vec<u8>>,
    /// Octets held per message being reassembled.
    held: BTreeMap<MessageKey, (usize, Option<Vec<u8>>)>,
    /// Proactive commands waiting for FETCH.
    pub(crate) queue: VecDeque<Proactive>,
    /// The proactive command fetched, waiting for its TERMINAL RESPONSE.
    pub(crate) fetched: Option<Proactive>,
    /// The result of the last TERMINAL RESPONSE.
    pub(crate) last_result: Option<TerminalResult>,
    /// The last TERMINAL PROFILE received (TS 102 223 §5.2).
    pub(crate) terminal_profile: Option<Vec<u8>>,
}

impl OtaSession {
    pub fn new(max_pending: usize) -> OtaSession {
        OtaSession {
            reassembler: Reassembler::new(max_pending),
            held: BTreeMap::new(),
            queue: VecDeque::new(),
            fetched: None,
            last_result: None,
            terminal_profile: None,
        }
    }

    /// Whether a proactive command is waiting (fetched or not).
    pub fn proactive_pending(&self) -> bool {
        !self.queue.is_empty() || self.fetched.is_some()
    }

    /// Length of the next proactive command to fetch (for SW '91xx').
    pub fn next_proactive_len(&self) -> Option<usize> {
        self.queue.front().map(|p| p.bytes.len())
    }

    /// Concatenated messages still incomplete.
    pub fn pending_messages(&self) -> usize {
        self.reassembler.pending()
    }

    /// The last TERMINAL PROFILE the terminal sent (TS 102 223 §5.2), if any.
    pub fn terminal_profile(&self) -> Option<&[u8]> {
        self.terminal_profile.as_deref()
    }

    /// The result of the last TERMINAL RESPONSE.
    pub fn last_terminal_result(&self) -> Option<TerminalResult> {
        self.last_result
    }
}

impl Default for OtaSession {
    fn default() -> Self {
        OtaSession::new(OtaConfig::default().max_pending_messages)
    }
}

/// TS 102 226 / TS 101 220 Annex D: RFM of the UICC.
fn is_uicc_rfm_tar(tar: [u8; 3]) -> bool {
    tar[0] == 0xB0
}

/// Resolves a TAR (see the module documentation).
pub fn resolve_tar(config: &OtaConfig, apps: &dyn Applications, tar: [u8; 3]) -> Option<Target> {
    if is_uicc_rfm_tar(tar) {
        return apps.has_file_system().then_some(Target::Rfm { tar });
    }
    let sds = apps.security_domains();
    let known = |aid: &[u8]| sds.iter().any(|s| s == aid);
    if tar == [0, 0, 0] {
        let isd = crate::routing::GP_ISD_AID.to_vec();
        return known(&isd).then_some(Target::Ram { sd: isd });
    }
    if let Some(aid) = config
        .ram_tars
        .get(&hex::encode_upper(tar))
        .and_then(|a| hex::decode(a).ok())
    {
        return known(&aid).then_some(Target::Ram { sd: aid });
    }
    sds.into_iter()
        .find(|aid| aid.get(12..15) == Some(&tar[..]))
        .map(|sd| Target::Ram { sd })
}

fn integrity_rank(i: IntegrityType) -> u8 {
    match i {
        IntegrityType::None => 0,
        IntegrityType::Rc => 1,
        IntegrityType::Cc => 2,
        IntegrityType::Ds => 3,
    }
}

/// The MSL check (see the module documentation).
fn meets_msl(msl: u8, spi: &ota::Spi) -> bool {
    let min_integrity = msl & 0x03;
    if integrity_rank(spi.integrity) < min_integrity {
        return false;
    }
    if msl & 0x04 != 0 && !spi.ciphering {
        return false;
    }
    match (msl >> 3) & 0x03 {
        0 | 1 => true,
        2 => matches!(spi.counter, CounterMode::Higher | CounterMode::OneHigher),
        _ => spi.counter == CounterMode::OneHigher,
    }
}

/// The security keys KIc/KID address, for opening a packet or securing a PoR.
fn security_keys(state: &OtaState, kic: ota::Kic, kid: ota::Kid) -> SecurityKeys {
    let cipher = state
        .key_set(kic.key_version())
        .and_then(|k| CipherKey::new(k.kic.algorithm, &k.kic.key).ok());
    let cc = state
        .key_set(kid.key_version())
        .and_then(|k| CcKey::new(k.kid.algorithm, &k.kid.key).ok());
    SecurityKeys {
        cipher,
        cc,
        implicit_rc: None,
    }
}

/// What an ENVELOPE (SMS-PP download) produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeOutcome {
    /// ENVELOPE response data: the PoR as SMS-DELIVER-REPORT user data, or empty.
    pub data: Vec<u8>,
    /// Whether a proactive command (SEND SHORT MESSAGE) was queued.
    pub proactive: bool,
}

fn deliver_key(d: &ota::ts23040::SmsDeliver) -> Vec<u8> {
    let mut v = Vec::new();
    // Address encoding of a decoded address cannot fail.
    let _ = d.originating_address.encode(&mut v);
    v
}

/// ENVELOPE (SMS-PP download) data `D1 ...`: decode, reassemble, open, run, answer.
/// Status word errors: '9300' while a proactive command is pending (toolkit busy), '6A80'
/// for a malformed ENVELOPE or an SMS that is no (U)SIM data download, '6F00' when a
/// concatenated message is inconsistent (its segments are dropped).
pub fn envelope(
    state: &mut OtaState,
    session: &mut OtaSession,
    apps: &mut dyn Applications,
    data: &[u8],
) -> Result<EnvelopeOutcome, StatusWord> {
    if session.proactive_pending() {
        return Err(StatusWord(0x9300));
    }
    let env = proactive::SmsPpDownload::parse(data)?;
    let deliver = &env.deliver;
    // TS 31.111 §7.1.1 / TS 31.115 §4: (U)SIM data download, 8-bit class 2, with a UDH.
    if deliver.pid != ota::ts23040::PID_SIM_DATA_DOWNLOAD
        || !is_8bit_class2(deliver.dcs)
        || !deliver.udhi
    {
        return Err(StatusWord::INCORRECT_DATA);
    }
    // The card's piece size (announced in its SMS-PP capability, `FF70` tag '82').
    if deliver.user_data.octets.len() > state.config.max_segment_ud {
        return Err(StatusWord::WRONG_LENGTH);
    }
    let (header, _) = UserDataHeader::decode(&deliver.user_data.octets)
        .map_err(|_| StatusWord::INCORRECT_DATA)?;
    let concat = header.concat().map_err(|_| StatusWord::INCORRECT_DATA)?;
    let packet = match concat {
        None => ota::ts31115::command_from_user_data(&deliver.user_data.octets)
            .map_err(|_| StatusWord::INCORRECT_DATA)?
            .to_vec(),
        Some(c) => {
            let key = (deliver_key(deliver), c.reference, c.wide);
            let octets = deliver.user_data.octets.clone();
            let size = octets.len();
            let (held, first) = session.held.get(&key).cloned().unwrap_or((0, None));
            let dup = session
                .reassembler
                .missing(&key.0, c.reference, c.wide)
                .is_some_and(|m| !m.contains(&c.seq));
            // The first segment announces the whole packet's length (CPL, TS 31.115 §4.2);
            // the segments held may not exceed the limit either (UDH: at most 8 octets each).
            let first = if c.seq == 1 {
                Some(octets.clone())
            } else {
                first
            };
            let announced = (c.seq == 1)
                .then(|| cpl_of(&octets))
                .flatten()
                .is_some_and(|cpl| cpl + 2 > state.config.max_packet_len);
            let limit = state.config.max_packet_len + 8 * usize::from(c.total);
            if !dup && (announced || held + size > limit) {
                session.reassembler.discard(&key.0, c.reference, c.wide);
                session.held.remove(&key);
                return match first {
                    Some(f) => {
                        refuse_unreadable(state, session, &env, &f, PorStatus::InsufficientMemory)
                    }
                    None => Err(StatusWord::NO_PRECISE_DIAGNOSIS),
                };
            }
            match session.reassembler.push(key.0.clone(), c, octets.clone()) {
                Ok(None) => {
                    if !dup {
                        session.held.insert(key, (held + size, first));
                    }
                    return Ok(EnvelopeOutcome {
                        data: Vec::new(),
                        proactive: false,
                    });
                }
                Ok(Some(parts)) => {
                    session.held.remove(&key);
                    let segs: Vec<UserData> = parts
                        .into_iter()
                        .filter_map(|p| UserData::eight_bit(p).ok())
                        .collect();
                    ota::ts31115::command_from_segments(&segs)
                        .map_err(|_| StatusWord::NO_PRECISE_DIAGNOSIS)?
                }
                Err(OtaError::InsufficientMemory(_)) => {
                    return refuse_unreadable(
                        state,
                        session,
                        &env,
                        &octets,
                        PorStatus::InsufficientMemory,
                    );
                }
                Err(_) => {
                    // Conflicting duplicate or changed total: the message is dropped whole.
                    session.reassembler.discard(&key.0, c.reference, c.wide);
                    session.held.remove(&key);
                    return Err(StatusWord::NO_PRECISE_DIAGNOSIS);
                }
            }
        }
    };
    if packet.len() > state.config.max_packet_len {
        return refuse_unreadable(state, session, &env, &packet, PorStatus::InsufficientMemory);
    }
    process_packet(state, session, apps, &env, &packet)
}

/// CPL of the command packet that follows the UDH of a first segment.
fn cpl_of(ud: &[u8]) -> Option<usize> {
    let (_, rest) = UserDataHeader::decode(ud).ok()?;
    match rest {
        [a, b, ..] => Some(usize::from(u16::from_be_bytes([*a, *b]))),
        _ => None,
    }
}

/// TS 23.038 §4: 8-bit data, message class 2 ('F6'; general data coding '16'/'56').
fn is_8bit_class2(dcs: u8) -> bool {
    dcs & 0xF7 == 0xF6 || matches!(dcs, 0x16 | 0x56)
}

/// A PoR without running anything (e.g. '07' for a packet too large), from the clear header
/// at the start of `ud_or_packet` (a TP-UD with UDH, or a bare packet).
fn refuse_unreadable(
    state: &mut OtaState,
    session: &mut OtaSession,
    env: &proactive::SmsPpDownload,
    ud_or_packet: &[u8],
    status: PorStatus,
) -> Result<EnvelopeOutcome, StatusWord> {
    let body = match UserDataHeader::decode(ud_or_packet) {
        Ok((h, rest)) if h.find(ota::ts23040::IEI_COMMAND_PACKET).is_some() => rest,
        _ => ud_or_packet,
    };
    // CPL(2) CHL SPI(2) KIc KID TAR(3).
    let Some(Ok(h)) = body.get(..10).map(<[u8; 10]>::try_from) else {
        return Ok(EnvelopeOutcome {
            data: Vec::new(),
            proactive: false,
        });
    };
    let [_, _, _, s1, s2, kic, kid, t1, t2, t3] = h;
    let Ok(spi) = ota::Spi::from_bytes([s1, s2]) else {
        return Ok(EnvelopeOutcome {
            data: Vec::new(),
            proactive: false,
        });
    };
    let rejected = ota::RejectedCommand {
        error: OtaError::InsufficientMemory("command packet too large"),
        status,
        header: Some((spi, ota::Kic(kic), ota::Kid(kid), [t1, t2, t3])),
        counter: None,
    };
    send_rejection(state, session, env, &rejected)
}

fn send_rejection(
    state: &OtaState,
    session: &mut OtaSession,
    env: &proactive::SmsPpDownload,
    rejected: &ota::RejectedCommand,
) -> Result<EnvelopeOutcome, StatusWord> {
    let Some(plan) = rejected.response() else {
        return Ok(EnvelopeOutcome {
            data: Vec::new(),
            proactive: false,
        });
    };
    let keys = security_keys(state, plan.kic, plan.kid);
    // Secured as SPI2 asks when the keys allow it, otherwise unsecured.
    let ud = ota::build_response(&plan.packet, plan.security, plan.kic, plan.kid, &keys)
        .or_else(|_| {
            ota::build_response(
                &plan.packet,
                ota::PorSecurity::NONE,
                plan.kic,
                plan.kid,
                &keys,
            )
        })
        .map_err(|_| StatusWord::NO_PRECISE_DIAGNOSIS)?;
    send_por(session, env, plan.transport, ud)
}

fn send_por(
    session: &mut OtaSession,
    env: &proactive::SmsPpDownload,
    transport: PorTransport,
    ud: Vec<u8>,
) -> Result<EnvelopeOutcome, StatusWord> {
    match transport {
        PorTransport::DeliverReport => Ok(EnvelopeOutcome {
            data: ud,
            proactive: false,
        }),
        PorTransport::SmsSubmit => {
            let commands = proactive::send_short_message(env, &ud)
                .map_err(|_| StatusWord::NO_PRECISE_DIAGNOSIS)?;
            session.queue.extend(commands);
            Ok(EnvelopeOutcome {
                data: Vec::new(),
                proactive: true,
            })
        }
    }
}

/// Opens and runs one whole command packet (`CPL .. end`).
fn process_packet(
    state: &mut OtaState,
    session: &mut OtaSession,
    apps: &mut dyn Applications,
    env: &proactive::SmsPpDownload,
    packet: &[u8],
) -> Result<EnvelopeOutcome, StatusWord> {
    let mut target = None;
    let accepted = ota::receive_command(packet, |p| {
        let t = resolve_tar(&state.config, &*apps, p.tar).ok_or(OtaError::TarUnknown)?;
        if !meets_msl(state.config.msl, &p.spi) {
            return Err(OtaError::InsufficientSecurityLevel);
        }
        target = Some(t);
        Ok(KeyLookup {
            keys: security_keys(state, p.kic, p.kid),
            stored_counter: Counter::new(state.counter(p.tar)).unwrap_or(Counter::MAX),
        })
    });
    let accepted = match accepted {
        Ok(a) => a,
        Err(rejected) => return send_rejection(state, session, env, &rejected),
    };
    let Some(target) = target else {
        return Err(StatusWord::NO_PRECISE_DIAGNOSIS);
    };
    let cmd = &accepted.command;
    // The counter is stored once the packet verified (TS 102 225 Annex A).
    if let Some(c) = accepted.new_counter {
        state
            .counters
            .insert(hex::encode_upper(cmd.header.tar), c.value());
    }
    let rfm = matches!(target, Target::Rfm { .. });
    let data = match remote::Script::parse(&cmd.data, rfm) {
        Ok(script) => {
            let responses = apps.run(&target, &script.commands);
            script.response(&responses)
        }
        Err(bad) => remote::bad_format_response(bad),
    };
    let spi = cmd.header.spi;
    if !spi.por_wanted(PorStatus::PorOk) {
        return Ok(EnvelopeOutcome {
            data: Vec::new(),
            proactive: false,
        });
    }
    let por = cmd.response(PorStatus::PorOk, data);
    let keys = security_keys(state, cmd.header.kic, cmd.header.kid);
    let ud = ota::build_response(
        &por,
        ota::PorSecurity::from_spi(&spi),
        cmd.header.kic,
        cmd.header.kid,
        &keys,
    )
    .map_err(|_| StatusWord::NO_PRECISE_DIAGNOSIS)?;
    send_por(session, env, spi.por_transport, ud)
}

/// Convenience for the OS: the response to an ENVELOPE.
pub(crate) fn envelope_response(r: Result<EnvelopeOutcome, StatusWord>) -> Response {
    match r {
        Ok(o) => Response::ok(o.data),
        Err(sw) => Response::status(sw),
    }
}
