//! Persistent card state: everything the secure element keeps in non-volatile memory.
//!
//! The telecom container's objects (profiles, notifications, addresses, RSP session) are the
//! top-level fields, as before containers existed; the GlobalPlatform container's are in
//! [`CardState::gp`], and the pairing data in [`CardState::pairing`]. Fields added since
//! version 1 carry serde defaults, so older documents still load (the version stays 1).
//!
//! [`CardState::to_bytes`] / [`CardState::from_bytes`] give a versioned JSON document (byte
//! strings as hex). The I/O edge stores it (atomically); the card itself never touches files.
//! `Debug` output never shows secrets (profile packages, one-time keys).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::gp::GpState;
use crate::pairing::PairingStore;
use crate::CardError;

/// Version of the serialized layout.
pub const STATE_VERSION: u32 = 1;

/// Root SM-DS address configured at manufacture (GSMA live root SM-DS, SGP.22 §4.5 / SGP.21).
pub const DEFAULT_ROOT_DS_ADDRESS: &str = "lpa.ds.gsma.com";

/// ProfileState (rsp.asn `ProfileState ::= INTEGER {disabled(0), enabled(1)}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileState {
    Disabled,
    Enabled,
}

/// One installed profile (an ISD-P with its content).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// ICCID as coded in EF.ICCID / the `Iccid` type (10 bytes, swapped BCD).
    #[serde(with = "crate::hexser::array")]
    pub iccid: [u8; 10],
    /// AID of the ISD-P holding the profile.
    #[serde(with = "crate::hexser::bytes")]
    pub isdp_aid: Vec<u8>,
    pub state: ProfileState,
    /// The StoreMetadataRequest ('BF25') exactly as received in the BPP.
    #[serde(with = "crate::hexser::bytes")]
    pub metadata: Vec<u8>,
    /// `profileNickname`, set by ES10c.SetNickname.
    pub nickname: Option<String>,
    /// `dpProprietaryData` ('B8') from ConfigureISDP, as received (TLV).
    #[serde(with = "crate::hexser::opt", default)]
    pub dp_proprietary_data: Option<Vec<u8>>,
    /// OID of the SM-DP+ that installed the profile (contents octets), from CERT.DPpb.
    #[serde(with = "crate::hexser::opt", default)]
    pub smdp_oid: Option<Vec<u8>>,
    /// The unprotected profile package (SAIP profile elements) as installed. Contains the
    /// network access keys: never logged.
    #[serde(with = "crate::hexser::bytes")]
    pub package: Vec<u8>,
    /// IMSI from the profile's EF.IMSI, as digits.
    pub imsi: Option<String>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("iccid", &hex::encode_upper(self.iccid))
            .field("isdp_aid", &hex::encode_upper(&self.isdp_aid))
            .field("state", &self.state)
            .field("nickname", &self.nickname)
            .field("package_len", &self.package.len())
            .finish_non_exhaustive()
    }
}

/// ProfileManagementOperation of a notification (rsp.asn `NotificationEvent` bit number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationKind {
    Install,
    Enable,
    Disable,
    Delete,
}

impl NotificationKind {
    pub fn event(self) -> rsp::notification::NotificationEvent {
        use rsp::notification::NotificationEvent as E;
        match self {
            NotificationKind::Install => E::Install,
            NotificationKind::Enable => E::Enable,
            NotificationKind::Disable => E::Disable,
            NotificationKind::Delete => E::Delete,
        }
    }
}

/// A pending notification (SGP.22 §3.5): its metadata and the signed `PendingNotification`
/// (a ProfileInstallationResult 'BF37' or an OtherSignedNotification '30') as it will be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredNotification {
    pub seq_number: i64,
    pub kind: NotificationKind,
    pub address: String,
    #[serde(with = "crate::hexser::array_opt", default)]
    pub iccid: Option<[u8; 10]>,
    #[serde(with = "crate::hexser::bytes")]
    pub pending: Vec<u8>,
}

/// Progress of an RSP session (SGP.22 §3.1.3), kept across ES10b calls.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RspSession {
    /// euiccChallenge from GetEUICCChallenge.
    #[serde(with = "crate::hexser::array")]
    pub euicc_challenge: [u8; 16],
    /// Set by a successful AuthenticateServer.
    pub authenticated: Option<AuthenticatedSession>,
    /// Set by a successful PrepareDownload.
    pub prepared: Option<PreparedSession>,
}

impl fmt::Debug for RspSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RspSession")
            .field("authenticated", &self.authenticated)
            .field("prepared", &self.prepared.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticatedSession {
    #[serde(with = "crate::hexser::bytes")]
    pub transaction_id: Vec<u8>,
    pub server_address: String,
    /// CI PKID the session uses (euiccCiPKIdToBeUsed).
    #[serde(with = "crate::hexser::bytes")]
    pub ci_pkid: Vec<u8>,
    /// SM-DP+ OID from CERT.DPauth (subjectAltName registeredID), contents octets.
    #[serde(with = "crate::hexser::opt", default)]
    pub smdp_oid: Option<Vec<u8>>,
    /// euiccSignature1 (64 bytes), covered by smdpSignature2.
    #[serde(with = "crate::hexser::bytes")]
    pub euicc_signature1: Vec<u8>,
}

/// After PrepareDownload: the one-time key pair and the SM-DP+ binding certificate.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedSession {
    /// otSK.EUICC.ECKA scalar (secret).
    #[serde(with = "crate::hexser::bytes")]
    pub ot_sk: Vec<u8>,
    /// otPK.EUICC.ECKA, uncompressed point.
    #[serde(with = "crate::hexser::bytes")]
    pub ot_pk: Vec<u8>,
    /// CERT.DPpb.ECDSA (DER).
    #[serde(with = "crate::hexser::bytes")]
    pub dppb_cert: Vec<u8>,
}

impl fmt::Debug for PreparedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedSession")
            .field("ot_pk", &hex::encode_upper(&self.ot_pk))
            .finish_non_exhaustive()
    }
}

impl Drop for PreparedSession {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.ot_sk);
    }
}

/// Everything the eUICC keeps across resets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardState {
    pub version: u32,
    pub profiles: Vec<Profile>,
    pub notifications: Vec<StoredNotification>,
    /// The last notification sequence number used (SGP.22 §5.7.10 NOTE: incremented per
    /// notification, never reused).
    pub last_seq_number: i64,
    pub default_dp_address: Option<String>,
    pub root_ds_address: String,
    pub session: Option<RspSession>,
    /// The GlobalPlatform container's state (absent from files written before containers
    /// existed: then factory defaults).
    #[serde(default)]
    pub gp: GpState,
    /// Pairing data (protocol → container) in its tear-safe store, with the administration
    /// key and counter (absent from older files: the factory table, no key).
    #[serde(default)]
    pub pairing: PairingStore,
    /// The UICC side (file system, PINs, USIM keys and SQNs) of each installed profile, keyed
    /// by its ISD-P AID in hex. Built from the package at installation, or on first use for
    /// profiles installed before; removed with the profile.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub uicc: BTreeMap<String, uicc::Uicc>,
    /// The OTA platform (telecom container): OTA key sets, counters per TAR, configuration
    /// (absent from older files: the factory test keys, see [`crate::ota`]).
    #[serde(default)]
    pub ota: crate::ota::OtaState,
}

impl Default for CardState {
    fn default() -> Self {
        CardState {
            version: STATE_VERSION,
            profiles: Vec::new(),
            notifications: Vec::new(),
            last_seq_number: 0,
            default_dp_address: None,
            root_ds_address: DEFAULT_ROOT_DS_ADDRESS.to_string(),
            session: None,
            gp: GpState::default(),
            pairing: PairingStore::default(),
            uicc: BTreeMap::new(),
            ota: crate::ota::OtaState::default(),
        }
    }
}

impl CardState {
    /// A factory-fresh card.
    pub fn new() -> Self {
        Self::default()
    }

    /// A factory-fresh card whose pairing data can be changed with SET PAIRING DATA under
    /// `key` (AES-128 or AES-256, see [`crate::pairing`]).
    pub fn with_pairing_admin_key(key: &[u8]) -> Result<Self, CardError> {
        let mut s = Self::default();
        s.pairing.set_admin_key(key)?;
        Ok(s)
    }

    /// Versioned JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain data with string map keys cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CardError> {
        #[derive(Deserialize)]
        struct Probe {
            version: u32,
        }
        let probe: Probe =
            serde_json::from_slice(bytes).map_err(|e| CardError::State(e.to_string()))?;
        if probe.version != STATE_VERSION {
            return Err(CardError::State(format!(
                "unsupported state version {}",
                probe.version
            )));
        }
        serde_json::from_slice(bytes).map_err(|e| CardError::State(e.to_string()))
    }

    pub fn profile_by_iccid(&self, iccid: &[u8]) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.iccid[..] == *iccid)
    }

    pub fn profile_by_aid(&self, aid: &[u8]) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.isdp_aid == aid)
    }

    pub fn enabled_profile(&self) -> Option<&Profile> {
        self.profiles
            .iter()
            .find(|p| p.state == ProfileState::Enabled)
    }

    /// The next free ISD-P AID: `A0000005591010FFFFFFFF89000010 00`, `..11 00`, ... (the ISD-P
    /// numbering real eUICCs use under the SGP.02 Annex H RID/PIX scheme).
    pub fn next_isdp_aid(&self) -> Vec<u8> {
        let mut aid = ISDP_AID_BASE.to_vec();
        for n in 0x10u8..=0xFF {
            aid[14] = n;
            if self.profile_by_aid(&aid).is_none() {
                break;
            }
        }
        aid
    }

    pub(crate) fn next_seq(&mut self) -> i64 {
        self.last_seq_number += 1;
        self.last_seq_number
    }
}

/// First ISD-P AID.
pub const ISDP_AID_BASE: [u8; 16] = [
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x10, 0x00,
];
