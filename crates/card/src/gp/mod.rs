//! The GlobalPlatform container: a GlobalPlatform card (Card Specification v2.3.1 with
//! Amendment D, SCP03, and Annex E, SCP02) with its Issuer Security Domain, supplementary
//! security domains, executable load files and application instances.
//!
//! * [`registry`]: life cycles, privileges (all of GP CS §6.6.1 Table 6-1), the registry
//!   entries and the key sets of each security domain.
//! * [`ccm`]: card content management commands (GP CS §11): INSTALL, LOAD, DELETE,
//!   GET STATUS, SET STATUS, PUT KEY, STORE DATA, GET DATA.
//! * [`cap`]: the CAP-file structure of a Load File Data Block.
//! * [`native`]: the card runs no Java Card bytecode; application instances are backed by
//!   native behaviours chosen by package AID ([`native::PPSE_PACKAGE_AID`],
//!   [`native::GENERIC_PACKAGE_AID`], [`native::SD_PACKAGE_AID`]).
//!
//! Secure channel (GP CS §10, Amd D): INITIALIZE UPDATE / EXTERNAL AUTHENTICATE through
//! `gp::CardSecureChannel`, one per logical channel per interface session (volatile
//! [`GpChannel`]), with the key sets of the selected security domain. Factory default ISD
//! keys: the GlobalPlatform test keys `404142...4F` as KVN `30`, AES-128, used with SCP03
//! i = '70' ([`default_isd_keys`]); DES key sets (added with PUT KEY or by the card creator)
//! are used with SCP02 i = '15'. A card creator sets other keys through
//! [`GpState::isd_keys`] before the card is first used. New SSDs get
//! [`GpConfig::ssd_initial_keys`] (default: the same test keys) until PUT KEY replaces them.
//!
//! Card content management commands need a secure channel session with at least C-MAC
//! (`6982` otherwise). A failed EXTERNAL AUTHENTICATE (host cryptogram `6300`, or its C-MAC
//! `6982`) decrements the key set's try counter ([`GpConfig::auth_tries`], reset by a
//! successful authentication or a PUT KEY that replaces the set); at zero the key set is
//! blocked and INITIALIZE UPDATE with it answers `6983` (ISO/IEC 7816-4 §5.6, "authentication
//! method blocked"); another key set (or a PUT KEY through one) can still open the SD.
//!
//! Every content management command works on a copy of the container's state that becomes
//! the state only when the command succeeds and fits the non-volatile budget
//! ([`GpConfig::nv_budget`], `6A84` otherwise): a failure leaves nothing half done.

use apdu::channel::is_interindustry;
use apdu::{Command, Response, StatusWord};
use serde::{Deserialize, Serialize};
use tlv::{Tag, Writer};

pub mod cap;
pub mod ccm;
pub mod native;
pub mod registry;

use ::gp::{CardConfig, CardSecureChannel, GpError, InitializeUpdate, KeySet, Scp};

use crate::routing::GP_ISD_AID;
use crate::CardRng;
use registry::{life_cycle, AppRecord, KeyStore, LoadFileRecord, Privileges, StoredKeySet};

/// GlobalPlatform OID root {1 2 840 114283} (GP Card Specification v2.3.1 Annex H).
const GP_OID: [u8; 6] = [0x2A, 0x86, 0x48, 0x86, 0xFC, 0x6B];

/// ISD life cycle SECURED (GP Card Specification v2.3.1 §11.1.1, Table 11-5).
pub const LIFE_CYCLE_SECURED: u8 = 0x0F;

/// GP test key `404142434445464748494A4B4C4D4E4F` (the GlobalPlatform default test key,
/// e.g. GP CS v2.3.1 / GlobalPlatformPro's default).
pub const GP_TEST_KEY: [u8; 16] = [
    0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F,
];

/// KVN of the factory key set.
pub const DEFAULT_KVN: u8 = 0x30;

/// The factory ISD key set: ENC = MAC = DEK = [`GP_TEST_KEY`], KVN `30`, AES-128 (SCP03).
pub fn default_isd_keys() -> KeyStore {
    let mut ks = KeyStore::default();
    if let Ok(k) = KeySet::aes(DEFAULT_KVN, &GP_TEST_KEY, &GP_TEST_KEY, &GP_TEST_KEY) {
        ks.put(StoredKeySet::new(k, GpConfig::default().auth_tries));
    }
    ks
}

/// ISD privileges: Security Domain, Card Lock, Card Terminate, Card Reset, CVM Management;
/// Trusted Path, Authorized Management, Token Verification, Global Delete, Global Lock,
/// Global Registry, Final Application; Receipt Generation (`9E FE 80`).
pub const ISD_PRIVILEGES: Privileges = Privileges([0x9E, 0xFE, 0x80]);

fn isd_privileges() -> Privileges {
    ISD_PRIVILEGES
}

/// Card configuration of the GlobalPlatform container (set by the card creator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GpConfig {
    /// Key diversification data returned by INITIALIZE UPDATE (10 bytes).
    #[serde(with = "crate::hexser::array")]
    pub kdd: [u8; 10],
    /// SCP03 "i" parameter for AES key sets (Amd D §5.1).
    pub scp03_i: u8,
    /// SCP02 "i" parameter for DES key sets (GP CS Annex E.1.1).
    pub scp02_i: u8,
    /// Failed EXTERNAL AUTHENTICATE attempts before a key set is blocked.
    pub auth_tries: u8,
    /// Non-volatile memory available to load files, applications and their data (bytes).
    pub nv_budget: u32,
    /// Volatile memory reported in GET DATA 'FF21'.
    pub volatile_free: u32,
    /// Initial key set of a new SSD (default: the GP test keys, KVN `30`).
    pub ssd_initial_keys: Option<KeySet>,
    /// Card Production Life Cycle data ('9F7F', 42 bytes).
    #[serde(with = "crate::hexser::bytes")]
    pub cplc: Vec<u8>,
}

impl Default for GpConfig {
    fn default() -> Self {
        GpConfig {
            kdd: [0x00, 0x00, 0x53, 0x49, 0x4D, 0x4B, 0x49, 0x54, 0x00, 0x01],
            scp03_i: 0x70,
            scp02_i: 0x15,
            auth_tries: 5,
            nv_budget: 256 * 1024,
            volatile_free: 8 * 1024,
            ssd_initial_keys: None,
            cplc: default_cplc(),
        }
    }
}

/// CPLC (GP CS v2.3.1 Table H-? / EMV CPS: IC fabricator, IC type, OS id, OS release date,
/// OS release level, IC fabrication date, IC serial number, IC batch identifier, module
/// fabricator, module packaging date, ICC manufacturer, IC embedding date, pre-perso id,
/// pre-perso date, pre-perso equipment, perso id, perso date, perso equipment: 42 bytes).
fn default_cplc() -> Vec<u8> {
    let mut v = Vec::with_capacity(42);
    v.extend_from_slice(&[0x53, 0x4B]); // IC fabricator
    v.extend_from_slice(&[0x00, 0x01]); // IC type
    v.extend_from_slice(&[0x53, 0x4B]); // OS identifier
    v.extend_from_slice(&[0x50, 0x01]); // OS release date (YDDD)
    v.extend_from_slice(&[0x00, 0x01]); // OS release level
    v.extend_from_slice(&[0x50, 0x01]); // IC fabrication date
    v.extend_from_slice(&[0x00, 0x00, 0x00, 0x01]); // IC serial number
    v.extend_from_slice(&[0x00, 0x01]); // IC batch identifier
    v.extend_from_slice(&[0x00; 24]); // module fabricator .. personalization equipment
    v
}

/// Persistent state of the GlobalPlatform container. `Debug` never shows key material.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpState {
    /// Card (ISD) life cycle state coding.
    pub isd_life_cycle: u8,
    /// Issuer Identification Number ('42'), if personalised.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::hexser::opt"
    )]
    pub iin: Option<Vec<u8>>,
    /// Card Image Number ('45'), if personalised.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::hexser::opt"
    )]
    pub cin: Option<Vec<u8>>,
    /// The ISD's key sets (absent from older files: the factory keys).
    #[serde(default = "default_isd_keys")]
    pub isd_keys: KeyStore,
    /// The ISD's DAP key (AES), used when the ISD has DAP Verification.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::hexser::opt"
    )]
    pub isd_dap_key: Option<Vec<u8>>,
    #[serde(default = "isd_privileges")]
    pub isd_privileges: Privileges,
    /// The ISD's Token Verification key (KVN '70'): an uncompressed NIST P-256 point
    /// ([`::gp::dm`]; set with PUT KEY, key type 'B0').
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::hexser::opt"
    )]
    pub isd_token_key: Option<Vec<u8>>,
    /// The ISD's Receipt Generation key (KVN '71', AES or DES; set with PUT KEY).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isd_receipt_key: Option<ReceiptKey>,
    /// The Confirmation Counter of the ISD (Receipt Generation), incremented per receipt
    /// (GP CS v2.3.1 §9.2.1.6).
    #[serde(default)]
    pub confirmation_counter: u16,
    #[serde(default)]
    pub config: GpConfig,
    /// Executable load files (the built-in ones first).
    #[serde(default = "native::builtin_load_files")]
    pub load_files: Vec<LoadFileRecord>,
    /// Application instances and SSDs.
    #[serde(default)]
    pub apps: Vec<AppRecord>,
}

impl std::fmt::Debug for GpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpState")
            .field("isd_life_cycle", &self.isd_life_cycle)
            .field("iin", &self.iin)
            .field("cin", &self.cin)
            .field("isd_keys", &self.isd_keys)
            .field("isd_privileges", &self.isd_privileges)
            .field("isd_token_key", &self.isd_token_key)
            .field("isd_receipt_key", &self.isd_receipt_key)
            .field("confirmation_counter", &self.confirmation_counter)
            .field("load_files", &self.load_files)
            .field("apps", &self.apps)
            .finish_non_exhaustive()
    }
}

impl Default for GpState {
    fn default() -> Self {
        GpState {
            isd_life_cycle: LIFE_CYCLE_SECURED,
            iin: None,
            cin: None,
            isd_keys: default_isd_keys(),
            isd_dap_key: None,
            isd_privileges: ISD_PRIVILEGES,
            isd_token_key: None,
            isd_receipt_key: None,
            confirmation_counter: 0,
            config: GpConfig::default(),
            load_files: native::builtin_load_files(),
            apps: Vec::new(),
        }
    }
}

/// A Receipt Generation key (GP CS v2.3.1 §9.2.1.6). `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptKey {
    /// Key type coding: '88' AES (AES-CMAC receipts) or '80' DES (3DES MAC receipts).
    pub key_type: u8,
    #[serde(with = "crate::hexser::bytes")]
    pub key: Vec<u8>,
}

impl ReceiptKey {
    pub fn key_type(&self) -> Option<::gp::KeyType> {
        ::gp::KeyType::from_code(self.key_type)
    }
}

impl std::fmt::Debug for ReceiptKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptKey")
            .field("key_type", &self.key_type)
            .field("len", &self.key.len())
            .finish()
    }
}

impl Drop for ReceiptKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

/// Fixed non-volatile cost of an application or SSD entry in the registry (bytes).
pub const APP_OVERHEAD: u32 = 128;

impl GpState {
    /// Non-volatile memory in use.
    pub fn used_memory(&self) -> u64 {
        let files: u64 = self
            .load_files
            .iter()
            .filter(|f| !f.builtin)
            .map(|f| u64::from(f.size))
            .sum();
        let apps: u64 = self
            .apps
            .iter()
            .map(|a| u64::from(APP_OVERHEAD + a.nv_quota.max(a.data_size())))
            .sum();
        files + apps
    }

    /// Non-volatile memory left.
    pub fn free_memory(&self) -> u64 {
        u64::from(self.config.nv_budget).saturating_sub(self.used_memory())
    }

    pub fn app(&self, aid: &[u8]) -> Option<&AppRecord> {
        self.apps.iter().find(|a| a.aid == aid)
    }

    pub fn app_mut(&mut self, aid: &[u8]) -> Option<&mut AppRecord> {
        self.apps.iter_mut().find(|a| a.aid == aid)
    }

    pub fn load_file(&self, aid: &[u8]) -> Option<&LoadFileRecord> {
        self.load_files.iter().find(|f| f.aid == aid)
    }

    /// True for the ISD or an SSD.
    pub fn is_sd(&self, aid: &[u8]) -> bool {
        aid == GP_ISD_AID || self.app(aid).is_some_and(AppRecord::is_sd)
    }

    /// The key sets of a security domain.
    pub fn keys_mut(&mut self, sd: &[u8]) -> Option<&mut KeyStore> {
        if sd == GP_ISD_AID {
            return Some(&mut self.isd_keys);
        }
        self.app_mut(sd)
            .and_then(|a| a.sd.as_mut())
            .map(|s| &mut s.keys)
    }

    pub fn keys(&self, sd: &[u8]) -> Option<&KeyStore> {
        if sd == GP_ISD_AID {
            return Some(&self.isd_keys);
        }
        self.app(sd).and_then(|a| a.sd.as_ref()).map(|s| &s.keys)
    }

    pub fn privileges(&self, aid: &[u8]) -> Option<Privileges> {
        if aid == GP_ISD_AID {
            return Some(self.isd_privileges);
        }
        self.app(aid).map(|a| a.privileges)
    }

    /// The full AID of the GP entity `df_name` selects (full or right-truncated DF name of at
    /// least 5 bytes), if it is selectable now: the ISD always (unless TERMINATED), others
    /// when their life cycle allows (GP CS v2.3.1 §5.3: not INSTALLED, not LOCKED) and the card
    /// is neither CARD_LOCKED nor TERMINATED (§5.1.1.4, §5.1.1.5).
    pub fn selectable(&self, df_name: &[u8]) -> Option<Vec<u8>> {
        let m = |aid: &[u8]| crate::routing::df_name_matches(aid, df_name);
        if m(&GP_ISD_AID) {
            return (self.isd_life_cycle != life_cycle::TERMINATED).then(|| GP_ISD_AID.to_vec());
        }
        if matches!(
            self.isd_life_cycle,
            life_cycle::CARD_LOCKED | life_cycle::TERMINATED
        ) {
            return None;
        }
        self.apps
            .iter()
            .find(|a| a.aid == df_name)
            .or_else(|| self.apps.iter().find(|a| m(&a.aid)))
            .filter(|a| life_cycle::is_selectable(a.life_cycle))
            .map(|a| a.aid.clone())
    }
}

/// The contents of Card Recognition Data / Security Domain Management Data ('73'), GP Card
/// Specification v2.3.1 Annex H.2 (layout as real ISDs return it, e.g. the FCI recorded in
/// pySim `tests/card_sanitizer/*.script`: `73 { 06 {gp 1}, 60 {06 {gp 2 v}}, 63 {06 {gp 3}},
/// 64 {06 {gp 4 scp i}} }`): GlobalPlatform 2.3.1 card management, the GP card identification
/// scheme, and SCP03 with i = '70' for the ISD.
fn recognition_data(w: &mut Writer) {
    let oid = |suffix: &[u8]| {
        let mut v = GP_OID.to_vec();
        v.extend_from_slice(suffix);
        v
    };
    w.nested(Tag(0x73), |w| {
        w.put(Tag(0x06), &oid(&[0x01]));
        w.nested(Tag(0x60), |w| {
            w.put(Tag(0x06), &oid(&[0x02, 0x02, 0x03, 0x01]));
        });
        w.nested(Tag(0x63), |w| {
            w.put(Tag(0x06), &oid(&[0x03]));
        });
        w.nested(Tag(0x64), |w| {
            w.put(Tag(0x06), &oid(&[0x04, 0x03, 0x70]));
        });
    });
}

/// SELECT response of the ISD (GP Card Specification v2.3.1 §11.9.3.1, Table 11-xx):
/// `'6F' { '84' AID, 'A5' { '73' security domain management data, '9F65' max command data } }`.
pub fn isd_fci() -> Vec<u8> {
    let mut w = Writer::new();
    w.nested(Tag(0x6F), |w| {
        w.put(Tag(0x84), &GP_ISD_AID);
        w.nested(Tag(0xA5), |w| {
            recognition_data(w);
            // Short APDUs: 255 data bytes per command.
            w.put(Tag(0x9F65), &[0xFF]);
        });
    });
    w.into_vec()
}

/// Card Data ('66' { '73' card recognition data }), GP Card Specification v2.3.1 §H.2.
pub fn card_data() -> Vec<u8> {
    let mut w = Writer::new();
    w.nested(Tag(0x66), recognition_data);
    w.into_vec()
}

/// SELECT response of a GP entity: the ISD ([`isd_fci`]), an SSD (the same layout with its
/// own AID), or an application ([`native`]).
pub fn fci(state: &GpState, aid: &[u8]) -> Vec<u8> {
    if aid == GP_ISD_AID {
        return isd_fci();
    }
    match state.app(aid) {
        Some(a) if a.is_sd() => {
            let mut w = Writer::new();
            w.nested(Tag(0x6F), |w| {
                w.put(Tag(0x84), aid);
                w.nested(Tag(0xA5), |w| {
                    recognition_data(w);
                    w.put(Tag(0x9F65), &[0xFF]);
                });
            });
            w.into_vec()
        }
        Some(a) => native::fci(state, a),
        None => Vec::new(),
    }
}

/// STORE DATA chain in progress on a channel (GP CS v2.3.1 §11.11).
#[derive(Debug, Default)]
pub(crate) struct StoreChain {
    pub next_block: u16,
    pub data: Vec<u8>,
    pub p1_format: u8,
}

/// A load in progress: the INSTALL [for load] and the LOAD blocks so far.
#[derive(Debug)]
pub(crate) struct PendingLoad {
    pub load_file_aid: Vec<u8>,
    pub sd: Vec<u8>,
    pub hash: Vec<u8>,
    pub assembler: ::gp::commands::LoadAssembler,
    pub bytes: u64,
    /// Authorized by a Load Token (Delegated Management): the last LOAD returns a receipt.
    pub delegated: bool,
}

/// GET STATUS data not yet returned (P2 b1 "next occurrence").
#[derive(Debug)]
pub(crate) struct PendingStatus {
    pub p1: u8,
    pub tlv: bool,
    pub rest: Vec<Vec<u8>>,
}

/// Volatile GlobalPlatform state of one logical channel of one interface: the selected GP
/// entity, its secure channel session, and the multi-command operations in progress. Any
/// SELECT replaces it (GP CS v2.3.1 §10.2.3: selecting another application ends the session).
#[derive(Debug, Default)]
pub struct GpChannel {
    pub(crate) selected: Vec<u8>,
    pub(crate) sc: CardSecureChannel,
    /// KVN used by the INITIALIZE UPDATE awaiting EXTERNAL AUTHENTICATE.
    pub(crate) handshake_kvn: Option<u8>,
    pub(crate) load: Option<PendingLoad>,
    /// Application that receives STORE DATA (INSTALL [for personalization]).
    pub(crate) perso: Option<Vec<u8>>,
    pub(crate) store: Option<StoreChain>,
    pub(crate) status: Option<PendingStatus>,
}

impl GpChannel {
    /// State after SELECT of `aid`.
    pub fn selecting(aid: &[u8]) -> GpChannel {
        GpChannel {
            selected: aid.to_vec(),
            ..GpChannel::default()
        }
    }

    /// AID of the selected GP entity.
    pub fn selected(&self) -> &[u8] {
        &self.selected
    }

    /// The open secure channel session, if any.
    pub fn session(&self) -> Option<&::gp::Session> {
        self.sc.session()
    }
}

/// The GP container serving one command on one channel, with its own state only.
pub(crate) struct Container<'a> {
    pub state: &'a mut GpState,
    pub chan: &'a mut GpChannel,
    pub rng: &'a mut CardRng,
}

const INS_INITIALIZE_UPDATE: u8 = 0x50;
const INS_EXTERNAL_AUTHENTICATE: u8 = 0x82;

fn gp_error(e: &GpError) -> Response {
    CardSecureChannel::error_response(e)
}

impl Container<'_> {
    /// A command for the selected GP entity (other than SELECT, handled by the OS).
    pub(crate) fn handle(mut self, cmd: &Command) -> Response {
        let aid = self.chan.selected.clone();
        if !self.state.is_sd(&aid) {
            // Deleted or locked (from another channel) since it was selected: refused.
            return match self.state.app(&aid) {
                Some(app) if !life_cycle::is_locked(app.life_cycle) => {
                    native::command(self.state, &app.clone(), cmd)
                }
                _ => Response::status(StatusWord::CONDITIONS_NOT_SATISFIED),
            };
        }
        match cmd.ins {
            INS_INITIALIZE_UPDATE if !is_interindustry(cmd.cla) => {
                self.initialize_update(cmd, &aid)
            }
            INS_EXTERNAL_AUTHENTICATE if !is_interindustry(cmd.cla) => {
                self.external_authenticate(cmd, &aid)
            }
            _ => {
                let plain = match self.chan.sc.unwrap_command(cmd) {
                    Ok(c) => c,
                    Err(e) => {
                        // GP CS §10.2.3: a secure messaging error ends the session and what
                        // was in progress on it.
                        self.chan.load = None;
                        self.chan.store = None;
                        self.chan.perso = None;
                        return gp_error(&e);
                    }
                };
                let rsp = ccm::execute(self.state, self.chan, &aid, &plain);
                match self.chan.sc.wrap_response(&rsp) {
                    Ok(r) => r,
                    Err(e) => gp_error(&e),
                }
            }
        }
    }

    /// INITIALIZE UPDATE (GP CS v2.3.1 §11.9, Amd D §7.1.1) with the SD's key set.
    fn initialize_update(&mut self, cmd: &Command, sd: &[u8]) -> Response {
        self.chan.sc.reset();
        self.chan.handshake_kvn = None;
        let req = match InitializeUpdate::parse(cmd) {
            Ok(r) => r,
            Err(e) => return gp_error(&e),
        };
        let cfg = self.state.config.clone();
        let Some(set) = self.state.keys_mut(sd).and_then(|k| k.find_mut(req.kvn)) else {
            return Response::status(StatusWord::REFERENCED_DATA_NOT_FOUND);
        };
        if set.is_blocked() {
            return Response::status(StatusWord::AUTH_METHOD_BLOCKED);
        }
        let scp = match set.keys.key_type() {
            ::gp::KeyType::Des => Scp::scp02(cfg.scp02_i),
            ::gp::KeyType::Aes => Scp::scp03(cfg.scp03_i),
        };
        let scp = match scp {
            Ok(s) => s,
            Err(e) => return gp_error(&e),
        };
        let config = CardConfig {
            aid: sd.to_vec(),
            kdd: cfg.kdd,
            scp,
        };
        let found = (set.keys.clone(), set.counter);
        match self
            .chan
            .sc
            .initialize_update(cmd, |_| Some(found), &config, &mut *self.rng)
        {
            Ok((rsp, counter)) => {
                // SCP03 pseudo-random challenges advance the counter here (Amd D §6.2.2.1).
                set.counter = counter;
                self.chan.handshake_kvn = Some(set.keys.kvn());
                rsp
            }
            Err(e) => gp_error(&e),
        }
    }

    /// EXTERNAL AUTHENTICATE (GP CS v2.3.1 §11.9.3.2 / Amd D §7.1.2). A wrong host cryptogram
    /// (`6300`) or C-MAC (`6982`) costs the key set one try.
    fn external_authenticate(&mut self, cmd: &Command, sd: &[u8]) -> Response {
        let tries = self.state.config.auth_tries;
        let set = self
            .chan
            .handshake_kvn
            .take()
            .and_then(|kvn| self.state.keys_mut(sd).and_then(|k| k.find_mut(kvn)));
        let Some(set) = set else {
            // No INITIALIZE UPDATE before: the channel state machine answers `6985`.
            let mut dummy = ::gp::SequenceCounter::scp02(0);
            return match self.chan.sc.external_authenticate(cmd, &mut dummy) {
                Ok(_) => Response::status(StatusWord::CONDITIONS_NOT_SATISFIED),
                Err(e) => gp_error(&e),
            };
        };
        let mut counter = set.counter;
        match self.chan.sc.external_authenticate(cmd, &mut counter) {
            Ok(rsp) => {
                set.counter = counter;
                set.tries_left = tries;
                rsp
            }
            Err(e) => {
                if matches!(e, GpError::HostCryptogram | GpError::SecurityStatus(_)) {
                    set.tries_left = set.tries_left.saturating_sub(1);
                }
                gp_error(&e)
            }
        }
    }
}

/// RAM over SCP80 (ETSI TS 102 226 §8): runs one script of plain (deciphered) GP commands on
/// security domain `sd`, in a fresh channel context, as in a secure channel session with
/// C-MAC: the secured packet that carried them stands in for the GP secure channel. The
/// session is opened inside the container with the SD's own first key set (KVN '00' rule,
/// GP CS v2.3.1 §11.9.2.1); its sequence counter is left as it was. The OTA keys never come
/// here, and the SD's keys never leave: PUT KEY key values and STORE DATA encrypted under the
/// SD's DEK (P1 b7-b6 = '11') are opened here with that key set's DEK (for an AES key set the
/// static Key-DEK, SCP03 Amd D §6.2.8; a DES key set's SCP02 session DEK is internal to this
/// session, so DEK-encrypted data for a DES-keyed SD cannot be sent over RAM).
///
/// `run` is the script runner (stop at the first failure, GET RESPONSE handling); an SD that
/// is unknown, not selectable or without a usable key set answers every command `6985`.
pub(crate) fn ram_script(
    state: &mut GpState,
    sd: &[u8],
    rng: &mut CardRng,
    run: impl FnOnce(&mut dyn FnMut(&Command) -> Response) -> Vec<Response>,
) -> Vec<Response> {
    let mut chan = GpChannel::selecting(sd);
    let opened = state.is_sd(sd) && state.selectable(sd).is_some() && {
        let cfg = state.config.clone();
        state
            .keys(sd)
            .and_then(|k| k.find(0))
            .is_some_and(|set| open_internal(&mut chan, sd, &cfg, set, rng))
    };
    let mut exec = |cmd: &Command| -> Response {
        if !opened {
            return Response::status(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        ccm::execute(state, &mut chan, sd, cmd)
    };
    run(&mut exec)
}

/// An authenticated session (C-MAC) on `chan` with `set`, by running both ends of the
/// handshake inside the container.
fn open_internal(
    chan: &mut GpChannel,
    sd: &[u8],
    cfg: &GpConfig,
    set: &StoredKeySet,
    rng: &mut CardRng,
) -> bool {
    let keys = set.keys.clone();
    let scp = match keys.key_type() {
        ::gp::KeyType::Des => Scp::scp02(cfg.scp02_i),
        ::gp::KeyType::Aes => Scp::scp03(cfg.scp03_i),
    };
    let Ok(scp) = scp else {
        return false;
    };
    let is_des = keys.key_type() == ::gp::KeyType::Des;
    let Ok(mut host) = ::gp::HostHandshake::random(keys.clone(), false, &mut *rng) else {
        return false;
    };
    if is_des {
        match host.scp02_i(cfg.scp02_i) {
            Ok(h) => host = h,
            Err(_) => return false,
        }
    }
    host = host.kvn(keys.kvn());
    let config = CardConfig {
        aid: sd.to_vec(),
        kdd: cfg.kdd,
        scp,
    };
    let found = (keys, set.counter);
    let Ok((rsp, _)) = chan.sc.initialize_update(
        &host.initialize_update(),
        |_| Some(found),
        &config,
        &mut *rng,
    ) else {
        return false;
    };
    let Ok((_, ext, _)) = host.authenticate(&rsp, ::gp::SecurityLevel::C_MAC) else {
        return false;
    };
    let mut counter = set.counter;
    chan.sc.external_authenticate(&ext, &mut counter).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte-exact FCI: OIDs from GP Card Specification v2.3.1 Annex H (gp 1; gp 2 2 3 1 =
    /// GP 2.3.1; gp 3; gp 4 3 70 = SCP03 i=70), laid out as the ISD FCI in pySim's
    /// `tests/card_sanitizer` recordings.
    #[test]
    fn isd_fci_bytes() {
        let expect = hex::decode(concat!(
            "6F418408A000000151000000A535",
            "732F06072A864886FC6B01",
            "600C060A2A864886FC6B02020301",
            "630906072A864886FC6B03",
            "640B06092A864886FC6B040370",
            "9F6501FF"
        ))
        .unwrap();
        assert_eq!(isd_fci(), expect);
        assert_eq!(&card_data()[..2], [0x66, 0x31]);
    }
}
