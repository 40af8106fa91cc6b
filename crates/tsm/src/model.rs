//! The central TSM's data: secure elements (SEs) and their security domains, operators (MNOs),
//! service providers (SPs), the service catalogue, service instances with their state machine,
//! conversations, the audit log, the per-SE request queue and idempotency records.
//!
//! AIDs are bytes (5–16, ISO/IEC 7816-5); identifiers chosen by people (SE, SP, MNO, service)
//! are strings of at most [`MAX_ID_LEN`] printable ASCII characters.

use seal::SealedBlob;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TsmError};

/// Milliseconds since the Unix epoch.
pub type UnixMillis = i64;

/// Longest identifier (SE, SP, MNO, service, qualifier, MSI, idempotency key).
pub const MAX_ID_LEN: usize = 64;

/// Checks a human-chosen identifier: 1..=[`MAX_ID_LEN`] characters of `[A-Za-z0-9._:+-]`
/// (`+` for E.164 MSISDNs).
pub fn check_id(field: &'static str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'+' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(TsmError::invalid(
            field,
            "1 to 64 characters of A-Z a-z 0-9 . _ : + -",
        ))
    }
}

/// Checks an AID: 5 to 16 bytes (ISO/IEC 7816-5 §5.2, GP CS v2.3.1 §6.1).
pub fn check_aid(field: &'static str, aid: &[u8]) -> Result<()> {
    if (5..=16).contains(&aid.len()) {
        Ok(())
    } else {
        Err(TsmError::invalid(field, "an AID is 5 to 16 bytes"))
    }
}

/// How the TSM reaches an operator's SEs over the air (from the MNO's data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bearer {
    /// SCP80 secured packets over SMS (ETSI TS 102 225/226) through the OTA platform.
    #[serde(rename = "SCP80-SMS")]
    Scp80Sms,
    /// SCP81 (GP Amendment B, HTTPS admin session) through the OTA platform.
    #[serde(rename = "SCP81-HTTPS")]
    Scp81Https,
    /// A direct card channel (PC/SC, vpcd, in-process): personalization bureaus and tests.
    #[serde(rename = "DIRECT")]
    Direct,
}

impl Bearer {
    pub fn as_str(self) -> &'static str {
        match self {
            Bearer::Scp80Sms => "SCP80-SMS",
            Bearer::Scp81Https => "SCP81-HTTPS",
            Bearer::Direct => "DIRECT",
        }
    }

    pub fn parse(s: &str) -> Option<Bearer> {
        [Bearer::Scp80Sms, Bearer::Scp81Https, Bearer::Direct]
            .into_iter()
            .find(|b| b.as_str() == s)
    }
}

/// A mobile network operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mno {
    pub id: String,
    pub name: String,
    pub bearer: Bearer,
}

/// A service provider (bank, transit operator, ...). `cert_subject` is the subject common name
/// of the client certificate it authenticates with (mutual TLS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sp {
    pub id: String,
    pub name: String,
    pub cert_subject: String,
}

/// A secure element and its configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Se {
    /// The SE identifier the SP sees (e.g. the CIN, hex).
    pub se_id: String,
    pub mno_id: String,
    /// "UICC", "eSE", "microSD", ...
    pub se_type: String,
    pub profile_id: String,
    pub gp_version: String,
    pub jc_version: String,
    pub cert_level: String,
    /// ISO 8601 date.
    pub cert_expiry: String,
    /// The ISD's AID (GP CS v2.3.1 §F.1: `A000000151000000` by default).
    #[serde(with = "hex::serde")]
    pub isd_aid: Vec<u8>,
    /// How the TSM reaches it, for the connector: a direct channel ("card:FILE",
    /// "pcsc:READER", ...) or the OTA platform ("ota:MSISDN", over its MNO's bearer).
    pub link: String,
    /// The key set the SE gives a newly created SSD (card-type data from the issuer), sealed;
    /// the TSM replaces it with the SP's temporary keys right after creating the SSD.
    #[serde(skip)]
    pub ssd_initial_keys: Option<SealedBlob>,
}

/// The kinds of security domain on an SE (GP CS v2.3.1 §7; GP System Messaging roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SdKind {
    /// The Issuer Security Domain.
    #[serde(rename = "ISD")]
    Isd,
    /// The central TSM's own SD (Authorized Management): the TSM's card content management.
    #[serde(rename = "CENTRAL-SD")]
    CentralSd,
    /// The operator's SD.
    #[serde(rename = "MNO-SD")]
    MnoSd,
    /// A third party's SD with Authorized Management.
    #[serde(rename = "TPSD-AM")]
    TpsdAm,
    /// A third party's SD with Delegated Management.
    #[serde(rename = "TPSD-DM")]
    TpsdDm,
    /// A service provider's supplementary SD holding its applet instances.
    #[serde(rename = "SP-SD")]
    SpSd,
}

impl SdKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SdKind::Isd => "ISD",
            SdKind::CentralSd => "CENTRAL-SD",
            SdKind::MnoSd => "MNO-SD",
            SdKind::TpsdAm => "TPSD-AM",
            SdKind::TpsdDm => "TPSD-DM",
            SdKind::SpSd => "SP-SD",
        }
    }

    pub fn parse(s: &str) -> Option<SdKind> {
        [
            SdKind::Isd,
            SdKind::CentralSd,
            SdKind::MnoSd,
            SdKind::TpsdAm,
            SdKind::TpsdDm,
            SdKind::SpSd,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A security domain on an SE. Its key set is stored sealed ([`seal`]); `kvn` is the master
/// key index the SP sees. Once the SP has rotated its keys (`rotated`), the TSM holds no usable
/// keys for it and only relays the SP's pre-protected scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityDomain {
    pub se_id: String,
    pub aid: Vec<u8>,
    pub kind: SdKind,
    /// The owning SP (SP SDs and third-party SDs).
    pub sp_id: Option<String>,
    /// The key set, sealed (see [`KeySetRecord`]); `None` when the TSM has none.
    pub keys: Option<SealedBlob>,
    /// Key version number (master key index) of the current key set.
    pub kvn: u8,
    pub rotated: bool,
}

/// A secure channel key set as the TSM keeps it (sealed at rest as [`KeySetRecord::encode`]).
#[derive(Clone, PartialEq, Eq)]
pub struct KeySetRecord {
    /// 2 (SCP02, 3DES) or 3 (SCP03, AES).
    pub scp: u8,
    pub kvn: u8,
    pub enc: zeroize::Zeroizing<Vec<u8>>,
    pub mac: zeroize::Zeroizing<Vec<u8>>,
    pub dek: zeroize::Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for KeySetRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeySetRecord {{ scp: {}, kvn: {:02X}, .. }}",
            self.scp, self.kvn
        )
    }
}

impl KeySetRecord {
    /// `scp || kvn || len || enc || mac || dek` (all three keys have the same length).
    pub fn encode(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut v = zeroize::Zeroizing::new(Vec::with_capacity(3 + 3 * self.enc.len()));
        v.extend_from_slice(&[self.scp, self.kvn, self.enc.len() as u8]);
        v.extend_from_slice(&self.enc);
        v.extend_from_slice(&self.mac);
        v.extend_from_slice(&self.dek);
        v
    }

    pub fn decode(b: &[u8]) -> Result<KeySetRecord> {
        let bad = || TsmError::Internal("stored key set is malformed".into());
        let (&[scp, kvn, n], rest) = b.split_first_chunk::<3>().ok_or_else(bad)?;
        let n = usize::from(n);
        if rest.len() != 3 * n {
            return Err(bad());
        }
        let part = |i: usize| zeroize::Zeroizing::new(rest[i * n..(i + 1) * n].to_vec());
        let r = KeySetRecord {
            scp,
            kvn,
            enc: part(0),
            mac: part(1),
            dek: part(2),
        };
        r.check()?;
        Ok(r)
    }

    /// SCP02 keys are 16-byte 3DES keys; SCP03 keys AES-128/192/256.
    pub fn check(&self) -> Result<()> {
        let len = self.enc.len();
        let ok_len = match self.scp {
            2 => len == 16,
            3 => matches!(len, 16 | 24 | 32),
            _ => false,
        };
        if ok_len && self.mac.len() == len && self.dek.len() == len {
            Ok(())
        } else {
            Err(TsmError::invalid(
                "keys",
                "SCP02: 16-byte keys; SCP03: 16, 24 or 32-byte keys, all three the same length",
            ))
        }
    }

    /// The `gp` key set for a secure channel.
    pub fn key_set(&self) -> Result<gp::KeySet> {
        let r = match self.scp {
            2 => gp::KeySet::des(self.kvn, &self.enc, &self.mac, &self.dek),
            _ => gp::KeySet::aes(self.kvn, &self.enc, &self.mac, &self.dek),
        };
        r.map_err(|e| TsmError::Internal(format!("key set: {e}")))
    }
}

/// A service in the catalogue: what the TSM installs for `service_id` at `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogueEntry {
    /// The SP that owns the service.
    pub sp_id: String,
    pub service_id: String,
    pub version: String,
    /// Executable load file (package), preloaded on the SE.
    #[serde(with = "hex::serde")]
    pub package_aid: Vec<u8>,
    /// Executable module (applet class) within it.
    #[serde(with = "hex::serde")]
    pub module_aid: Vec<u8>,
    /// The application instance's AID.
    #[serde(with = "hex::serde")]
    pub instance_aid: Vec<u8>,
    /// Non-volatile memory the instance needs, in bytes (checked against the SE's free memory).
    pub memory: u32,
    /// Application privileges (GP CS v2.3.1 §11.1.2; usually `00`).
    #[serde(with = "hex::serde")]
    pub privileges: Vec<u8>,
    /// Application-specific install parameters (the value of tag `C9`).
    #[serde(with = "hex::serde")]
    pub install_params: Vec<u8>,
}

/// The state of a service instance (what is on the SE, as far as the TSM knows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceState {
    /// Accepted for an SE that cannot be reached now; waits in the SE's queue.
    Queued,
    /// Pre-personalization in progress (SSD, instance, extradition).
    Installing,
    /// Instance installed in the SP's SSD, not yet selectable (the SP personalizes it).
    Installed,
    /// Selectable: the service is usable.
    Active,
    /// Locked (GP application life cycle LOCKED).
    Locked,
    /// Renewal in progress.
    Renewing,
    /// Deletion in progress.
    Deleting,
    /// Deleted from the SE.
    Deleted,
    /// A flow failed and could not be compensated; `detail` says what is on the SE.
    Failed,
}

impl ServiceState {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Queued => "QUEUED",
            ServiceState::Installing => "INSTALLING",
            ServiceState::Installed => "INSTALLED",
            ServiceState::Active => "ACTIVE",
            ServiceState::Locked => "LOCKED",
            ServiceState::Renewing => "RENEWING",
            ServiceState::Deleting => "DELETING",
            ServiceState::Deleted => "DELETED",
            ServiceState::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<ServiceState> {
        use ServiceState::*;
        [
            Queued, Installing, Installed, Active, Locked, Renewing, Deleting, Deleted, Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One service of one SP on one SE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInstance {
    pub se_id: String,
    pub sp_id: String,
    pub service_id: String,
    pub qualifier: String,
    pub version: String,
    pub instance_aid: Vec<u8>,
    /// The SP's SSD holding the instance.
    pub ssd_aid: Vec<u8>,
    pub state: ServiceState,
    /// What happened on the SE last: the steps done and, on failure, the step and its status
    /// word (JSON array of [`crate::api::Step`]).
    pub detail: String,
    pub updated_at: UnixMillis,
}

/// A conversation: an SP's window of ProcessScript calls to one of its SDs on one SE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: String,
    pub sp_id: String,
    pub se_id: String,
    pub sd_aid: Vec<u8>,
    pub opened_at: UnixMillis,
    pub expires_at: UnixMillis,
    pub max_scripts: u32,
    pub max_script_bytes: u32,
    pub scripts_used: u32,
    /// `None` while open; the operation status the SP reported at the end.
    pub ended: Option<String>,
}

/// One command sent to an SE, with its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Assigned by the store.
    pub id: i64,
    pub at: UnixMillis,
    pub se_id: String,
    pub sp_id: Option<String>,
    pub conversation_id: Option<String>,
    /// The API operation ("PrePersonalize", "ProcessScript", ...).
    pub operation: String,
    /// The security domain the command was addressed to.
    pub sd_aid: Vec<u8>,
    /// The command APDU as sent on the wire (secure-channel wrapped where it was).
    pub command: Vec<u8>,
    /// The response APDU as received (data and status word).
    pub response: Vec<u8>,
}

/// The SP API operations that change an SE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    PrePersonalize,
    ActivateService,
    LockService,
    UnlockService,
    RenewService,
    DeleteService,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::PrePersonalize => "PrePersonalize",
            Operation::ActivateService => "ActivateService",
            Operation::LockService => "LockService",
            Operation::UnlockService => "UnlockService",
            Operation::RenewService => "RenewService",
            Operation::DeleteService => "DeleteService",
        }
    }

    pub fn parse(s: &str) -> Option<Operation> {
        use Operation::*;
        [
            PrePersonalize,
            ActivateService,
            LockService,
            UnlockService,
            RenewService,
            DeleteService,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// State of a queued request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueState {
    Pending,
    /// Taken for delivery. A request left here by a crash is in doubt (it may have reached
    /// the SE): it is never delivered again; the next start marks it failed
    /// ([`crate::service::Tsm::recover_interrupted`]).
    Delivering,
    Done,
    Failed,
}

impl QueueState {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueState::Pending => "pending",
            QueueState::Delivering => "delivering",
            QueueState::Done => "done",
            QueueState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<QueueState> {
        [
            QueueState::Pending,
            QueueState::Delivering,
            QueueState::Done,
            QueueState::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A request accepted for an SE that could not be reached, delivered in order on reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRequest {
    /// Assigned by the store; the order of delivery.
    pub id: i64,
    pub se_id: String,
    pub sp_id: String,
    pub operation: Operation,
    /// The request body (JSON, an [`crate::api::ServiceRequest`]).
    pub body: String,
    pub state: QueueState,
    /// The outcome once delivered (JSON, an [`crate::api::ServiceStatus`] or an error body).
    pub result: Option<String>,
    pub created_at: UnixMillis,
}

/// A stored answer to an idempotent request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub sp_id: String,
    pub key: String,
    /// SHA-256 of operation name and request body: the same key with another request is a
    /// conflict, not a replay.
    pub request_hash: [u8; 32],
    /// `None` while the first request is still executing.
    pub response: Option<(u16, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for ok in ["se-1", "+491700000001", "bank.pay:v2", &"x".repeat(64)] {
            assert!(check_id("id", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "é", "a/b", &"x".repeat(65)] {
            assert!(check_id("id", bad).is_err(), "{bad}");
        }
        assert!(check_aid("aid", &[0xA0; 5]).is_ok());
        assert!(check_aid("aid", &[0xA0; 16]).is_ok());
        assert!(check_aid("aid", &[0xA0; 4]).is_err());
        assert!(check_aid("aid", &[0xA0; 17]).is_err());
    }

    #[test]
    fn key_set_record_round_trip_and_checks() {
        let k = |n: usize| zeroize::Zeroizing::new(vec![0x11; n]);
        let r = KeySetRecord {
            scp: 3,
            kvn: 0x30,
            enc: k(32),
            mac: k(32),
            dek: k(32),
        };
        assert_eq!(KeySetRecord::decode(&r.encode()).unwrap(), r);
        assert!(!format!("{r:?}").contains("11"), "Debug hides the keys");
        // SCP02 needs 16-byte keys; lengths must agree; truncated records are refused.
        let bad = KeySetRecord {
            scp: 2,
            ..r.clone()
        };
        assert!(bad.check().is_err());
        assert!(KeySetRecord::decode(&r.encode()[..50]).is_err());
        assert!(KeySetRecord::decode(&[3, 0x30]).is_err());
    }

    #[test]
    fn names_round_trip() {
        for b in [Bearer::Scp80Sms, Bearer::Scp81Https, Bearer::Direct] {
            assert_eq!(Bearer::parse(b.as_str()), Some(b));
        }
        for k in [
            SdKind::Isd,
            SdKind::CentralSd,
            SdKind::MnoSd,
            SdKind::TpsdAm,
            SdKind::TpsdDm,
            SdKind::SpSd,
        ] {
            assert_eq!(SdKind::parse(k.as_str()), Some(k));
        }
        for o in ["PrePersonalize", "DeleteService", "RenewService"] {
            assert_eq!(Operation::parse(o).unwrap().as_str(), o);
        }
        assert_eq!(ServiceState::parse("LOCKED"), Some(ServiceState::Locked));
        assert_eq!(QueueState::parse("nope"), None);
    }
}
