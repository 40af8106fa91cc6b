//! The GlobalPlatform registry (GP Card Specification v2.3.1 §5, §6.6, §11.1): life cycle
//! codings, privileges, executable load files and modules, application and security domain
//! entries, and the key sets of each security domain.

use ::gp::{KeySet, SequenceCounter};
use serde::{Deserialize, Serialize};

/// Life cycle codings (GP CS v2.3.1 §11.1.1, Tables 11-3 to 11-5).
pub mod life_cycle {
    /// Executable load file: LOADED.
    pub const LOADED: u8 = 0x01;
    /// Application / security domain: INSTALLED.
    pub const INSTALLED: u8 = 0x03;
    /// Application / security domain: SELECTABLE.
    pub const SELECTABLE: u8 = 0x07;
    /// Security domain: PERSONALIZED.
    pub const SD_PERSONALIZED: u8 = 0x0F;
    /// b8: LOCKED (the other bits keep the state it was locked from).
    pub const LOCKED_BIT: u8 = 0x80;
    /// Card: OP_READY.
    pub const OP_READY: u8 = 0x01;
    /// Card: INITIALIZED.
    pub const INITIALIZED: u8 = 0x07;
    /// Card: SECURED.
    pub const SECURED: u8 = 0x0F;
    /// Card: CARD_LOCKED.
    pub const CARD_LOCKED: u8 = 0x7F;
    /// Card: TERMINATED.
    pub const TERMINATED: u8 = 0xFF;

    /// An application or SD state that the OPEN lets be selected: SELECTABLE or beyond
    /// (b1-b3 = 111) and not LOCKED.
    pub fn is_selectable(lc: u8) -> bool {
        lc & LOCKED_BIT == 0 && lc & 0x07 == 0x07
    }

    pub fn is_locked(lc: u8) -> bool {
        lc & LOCKED_BIT != 0
    }
}

/// One privilege (GP CS v2.3.1 §6.6.1 Table 6-1, coded as in §11.1.2 Table 11-7): byte index
/// (0-2) and bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Privilege {
    SecurityDomain,
    DapVerification,
    DelegatedManagement,
    CardLock,
    CardTerminate,
    CardReset,
    CvmManagement,
    MandatedDapVerification,
    TrustedPath,
    AuthorizedManagement,
    TokenVerification,
    GlobalDelete,
    GlobalLock,
    GlobalRegistry,
    FinalApplication,
    GlobalService,
    ReceiptGeneration,
    CipheredLoadFileDataBlock,
    ContactlessActivation,
    ContactlessSelfActivation,
}

impl Privilege {
    pub const ALL: [Privilege; 20] = [
        Privilege::SecurityDomain,
        Privilege::DapVerification,
        Privilege::DelegatedManagement,
        Privilege::CardLock,
        Privilege::CardTerminate,
        Privilege::CardReset,
        Privilege::CvmManagement,
        Privilege::MandatedDapVerification,
        Privilege::TrustedPath,
        Privilege::AuthorizedManagement,
        Privilege::TokenVerification,
        Privilege::GlobalDelete,
        Privilege::GlobalLock,
        Privilege::GlobalRegistry,
        Privilege::FinalApplication,
        Privilege::GlobalService,
        Privilege::ReceiptGeneration,
        Privilege::CipheredLoadFileDataBlock,
        Privilege::ContactlessActivation,
        Privilege::ContactlessSelfActivation,
    ];

    /// (byte, bits) of the privilege in the three-byte coding. DAP Verification is b8+b7 and
    /// Mandated DAP b8+b7+b1 of byte 1 (both imply Security Domain).
    pub fn coding(self) -> (usize, u8) {
        match self {
            Privilege::SecurityDomain => (0, 0x80),
            Privilege::DapVerification => (0, 0xC0),
            Privilege::DelegatedManagement => (0, 0xA0),
            Privilege::CardLock => (0, 0x10),
            Privilege::CardTerminate => (0, 0x08),
            Privilege::CardReset => (0, 0x04),
            Privilege::CvmManagement => (0, 0x02),
            Privilege::MandatedDapVerification => (0, 0xC1),
            Privilege::TrustedPath => (1, 0x80),
            Privilege::AuthorizedManagement => (1, 0x40),
            Privilege::TokenVerification => (1, 0x20),
            Privilege::GlobalDelete => (1, 0x10),
            Privilege::GlobalLock => (1, 0x08),
            Privilege::GlobalRegistry => (1, 0x04),
            Privilege::FinalApplication => (1, 0x02),
            Privilege::GlobalService => (1, 0x01),
            Privilege::ReceiptGeneration => (2, 0x80),
            Privilege::CipheredLoadFileDataBlock => (2, 0x40),
            Privilege::ContactlessActivation => (2, 0x20),
            Privilege::ContactlessSelfActivation => (2, 0x10),
        }
    }
}

/// The three privilege bytes of an application or security domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Privileges(pub [u8; 3]);

impl Privileges {
    /// Decodes the INSTALL / GET STATUS coding: one byte (GP 2.1.1 style, bytes 2-3 zero) or
    /// three bytes. Other lengths, b1 without b7 (Mandated DAP without DAP Verification) and
    /// the RFU bits b4-b1 of byte 3 are incorrect data (`6A80`).
    pub fn decode(bytes: &[u8]) -> Option<Privileges> {
        let p = match bytes {
            [] => [0, 0, 0],
            [a] => [*a, 0, 0],
            [a, b, c] => [*a, *b, *c],
            _ => return None,
        };
        // DAP Verification / Delegated Management / Mandated DAP only for security domains.
        if p[0] & 0x61 != 0 && p[0] & 0x80 == 0 {
            return None;
        }
        if p[0] & 0x01 != 0 && p[0] & 0x40 == 0 {
            return None;
        }
        if p[2] & 0x0F != 0 {
            return None;
        }
        Some(Privileges(p))
    }

    pub fn encode(self) -> Vec<u8> {
        self.0.to_vec()
    }

    pub fn has(self, p: Privilege) -> bool {
        let (i, bits) = p.coding();
        self.0.get(i).is_some_and(|b| b & bits == bits)
    }

    pub fn with(mut self, p: Privilege) -> Privileges {
        let (i, bits) = p.coding();
        if let Some(b) = self.0.get_mut(i) {
            *b |= bits;
        }
        self
    }

    /// Every privilege set.
    pub fn list(self) -> Vec<Privilege> {
        Privilege::ALL
            .into_iter()
            .filter(|p| self.has(*p))
            .collect()
    }

    /// From a list of privileges.
    pub fn from_list(list: &[Privilege]) -> Privileges {
        list.iter().fold(Privileges::default(), |a, p| a.with(*p))
    }
}

impl From<Privileges> for String {
    fn from(p: Privileges) -> String {
        hex::encode_upper(p.0)
    }
}

impl TryFrom<String> for Privileges {
    type Error = String;
    fn try_from(s: String) -> Result<Privileges, String> {
        let v = hex::decode(&s).map_err(|e| e.to_string())?;
        Privileges::decode(&v).ok_or_else(|| format!("bad privileges {s}"))
    }
}

/// One key set of a security domain with its sequence counter and authentication try counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKeySet {
    pub keys: KeySet,
    pub counter: SequenceCounter,
    /// Failed EXTERNAL AUTHENTICATE attempts left before the key set is blocked.
    pub tries_left: u8,
}

impl StoredKeySet {
    /// A fresh key set: counter zero (SCP03: 3 bytes, SCP02: 2 bytes), all tries.
    pub fn new(keys: KeySet, tries: u8) -> StoredKeySet {
        let counter = match keys.key_type() {
            ::gp::KeyType::Des => SequenceCounter::scp02(0),
            _ => SequenceCounter::scp03(0).unwrap_or(SequenceCounter::scp02(0)),
        };
        StoredKeySet {
            keys,
            counter,
            tries_left: tries,
        }
    }

    pub fn is_blocked(&self) -> bool {
        self.tries_left == 0
    }
}

/// The key sets of one security domain, by key version number.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KeyStore {
    pub sets: Vec<StoredKeySet>,
}

impl KeyStore {
    /// The set `kvn` names; `00` is the first available one (GP CS v2.3.1 §11.9.2.1).
    pub fn find(&self, kvn: u8) -> Option<&StoredKeySet> {
        if kvn == 0 {
            return self.sets.first();
        }
        self.sets.iter().find(|s| s.keys.kvn() == kvn)
    }

    pub fn find_mut(&mut self, kvn: u8) -> Option<&mut StoredKeySet> {
        if kvn == 0 {
            return self.sets.first_mut();
        }
        self.sets.iter_mut().find(|s| s.keys.kvn() == kvn)
    }

    /// Adds or replaces the set with the same KVN, keeping the list sorted by KVN.
    pub fn put(&mut self, set: StoredKeySet) {
        let kvn = set.keys.kvn();
        self.sets.retain(|s| s.keys.kvn() != kvn);
        self.sets.push(set);
        self.sets.sort_by_key(|s| s.keys.kvn());
    }

    pub fn remove(&mut self, kvn: u8) {
        self.sets.retain(|s| s.keys.kvn() != kvn);
    }
}

/// An executable load file with its executable modules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadFileRecord {
    #[serde(with = "crate::hexser::bytes")]
    pub aid: Vec<u8>,
    /// Package version (major, minor) from the CAP Header component.
    #[serde(with = "crate::hexser::bytes")]
    pub version: Vec<u8>,
    pub modules: Vec<HexAid>,
    /// The associated security domain.
    #[serde(with = "crate::hexser::bytes")]
    pub associated_sd: Vec<u8>,
    /// Bytes of non-volatile memory the load file occupies (its Load File Data Block).
    pub size: u32,
    /// Built into the card (ROM): not counted, never deleted.
    #[serde(default)]
    pub builtin: bool,
}

/// An AID serialized as hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HexAid(#[serde(with = "crate::hexser::bytes")] pub Vec<u8>);

/// Format of a personalization data object (STORE DATA P1 b5-b4, GP CS v2.3.1 §11.11.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// Data Grouping Identifier (EMV CPS): 2-byte DGI, length, value.
    Dgi,
    /// BER-TLV.
    Tlv,
}

/// One data object an application received through STORE DATA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataObject {
    pub format: DataFormat,
    /// DGI number or BER-TLV tag.
    pub tag: u32,
    #[serde(with = "crate::hexser::bytes")]
    pub value: Vec<u8>,
}

impl DataObject {
    /// The object as it was received (DGI or TLV encoding).
    pub fn encode(&self) -> Vec<u8> {
        match self.format {
            DataFormat::Tlv => tlv::encode_tlv(tlv::Tag(self.tag), &self.value),
            DataFormat::Dgi => {
                let mut out = (self.tag as u16).to_be_bytes().to_vec();
                let n = self.value.len();
                if n < 0xFF {
                    out.push(n as u8);
                } else {
                    out.push(0xFF);
                    out.extend_from_slice(&(n as u16).to_be_bytes());
                }
                out.extend_from_slice(&self.value);
                out
            }
        }
    }
}

/// Security domain data of an SSD (the ISD's are in the container state). `Debug` never
/// shows the DAP key.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SdData {
    pub keys: KeyStore,
    /// AES key for DAP verification (AES-CMAC over the load file data block hash).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::hexser::opt"
    )]
    pub dap_key: Option<Vec<u8>>,
}

impl std::fmt::Debug for SdData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdData")
            .field("keys", &self.keys)
            .field("dap_key", &self.dap_key.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

/// An application instance or a supplementary security domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    #[serde(with = "crate::hexser::bytes")]
    pub aid: Vec<u8>,
    #[serde(with = "crate::hexser::bytes")]
    pub load_file_aid: Vec<u8>,
    #[serde(with = "crate::hexser::bytes")]
    pub module_aid: Vec<u8>,
    pub life_cycle: u8,
    pub privileges: Privileges,
    #[serde(with = "crate::hexser::bytes")]
    pub associated_sd: Vec<u8>,
    /// Application specific parameters ('C9') from INSTALL [for install].
    #[serde(with = "crate::hexser::bytes")]
    pub install_parameters: Vec<u8>,
    /// Non-volatile memory quota ('C8'), reserved at installation.
    pub nv_quota: u32,
    /// Personalization received through STORE DATA.
    #[serde(default)]
    pub data: Vec<DataObject>,
    /// Present for security domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sd: Option<SdData>,
}

impl AppRecord {
    pub fn is_sd(&self) -> bool {
        self.privileges.has(Privilege::SecurityDomain)
    }

    pub fn data_size(&self) -> u32 {
        self.data
            .iter()
            .map(|d| d.value.len() as u32 + 4)
            .sum::<u32>()
    }

    /// The data object with this DGI / tag.
    pub fn data_object(&self, tag: u32) -> Option<&DataObject> {
        self.data.iter().find(|d| d.tag == tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every privilege round-trips through the three-byte coding (GP CS v2.3.1 Table 11-7).
    #[test]
    fn privileges_round_trip() {
        for p in Privilege::ALL {
            let mut list = vec![p];
            if matches!(
                p,
                Privilege::DapVerification
                    | Privilege::DelegatedManagement
                    | Privilege::MandatedDapVerification
            ) {
                list.push(Privilege::SecurityDomain);
            }
            let privs = Privileges::from_list(&list);
            let back = Privileges::decode(&privs.encode()).unwrap();
            assert!(back.has(p), "{p:?}");
        }
        // A typical ISD: 9E FE 80.
        let isd = Privileges::decode(&[0x9E, 0xFE, 0x80]).unwrap();
        assert!(isd.has(Privilege::SecurityDomain));
        assert!(isd.has(Privilege::CardLock));
        assert!(isd.has(Privilege::AuthorizedManagement));
        assert!(isd.has(Privilege::ReceiptGeneration));
        assert!(!isd.has(Privilege::DapVerification));
        assert_eq!(Privileges::decode(&[0x80]).unwrap().0, [0x80, 0, 0]);
        // Mandated DAP without SD, 2 bytes, RFU bits: incorrect.
        assert!(Privileges::decode(&[0x01, 0, 0]).is_none());
        assert!(Privileges::decode(&[0x80, 0]).is_none());
        assert!(Privileges::decode(&[0x80, 0, 0x01]).is_none());
    }
}
