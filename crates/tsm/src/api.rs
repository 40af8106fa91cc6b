//! The SP API's messages: JSON over HTTP (`POST /tsm/v1/<Operation>`), field names in
//! lowerCamelCase after the GlobalPlatform System Messaging Specification's vocabulary. Byte
//! strings (AIDs, APDUs) are upper- or lower-case hex. Unknown fields are rejected.

use serde::{Deserialize, Serialize};

use crate::error::TsmError;
use crate::model::{Bearer, ServiceState};

/// Largest request body the API accepts (bytes).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// The error body of every non-2xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Stable error code ([`TsmError::code`]).
    pub code: String,
    pub message: String,
    /// The SE's status word (hex), for `seError`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sw: Option<String>,
}

impl From<&TsmError> for ErrorBody {
    fn from(e: &TsmError) -> ErrorBody {
        ErrorBody {
            code: e.code().to_string(),
            message: e.to_string(),
            sw: e.sw().map(|sw| format!("{:04X}", sw.0)),
        }
    }
}

/// GetSEIdentifier request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetSeIdentifierRequest {
    pub msi: String,
}

/// GetSEIdentifier response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetSeIdentifierResponse {
    pub se_id: String,
}

/// GetSEData request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetSeDataRequest {
    pub se_id: String,
    pub msi: String,
}

/// The calling SP's security domain on the SE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpSdData {
    /// AID (hex).
    pub aid: String,
    /// Master key index: the key version number of the current key set.
    pub master_key_index: u8,
    /// Whether the SP has rotated the keys (the TSM then relays pre-protected scripts only).
    pub keys_rotated: bool,
}

/// GetSSDKeys request: one of the calling SP's security domains on an SE (default its SSD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetSsdKeysRequest {
    pub se_id: String,
    pub msi: String,
    #[serde(default)]
    pub sd_aid: Option<String>,
}

/// The key set the TSM holds for the SP's SD (the temporary keys PrePersonalize put), handed
/// over so the SP can replace it with its own by PUT KEY (GP CS v2.3.1 §11.8) in a
/// pre-protected script; from then on the TSM relays that SD's scripts only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SsdKeys {
    /// AID (hex).
    pub aid: String,
    /// Key version number.
    pub key_version: u8,
    /// 2 (SCP02, DES keys) or 3 (SCP03, AES keys).
    pub scp: u8,
    /// The keys (hex).
    pub enc: String,
    pub mac: String,
    pub dek: String,
}

impl std::fmt::Debug for SsdKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsdKeys")
            .field("aid", &self.aid)
            .field("key_version", &self.key_version)
            .finish_non_exhaustive()
    }
}

/// GetSEData response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeData {
    pub se_id: String,
    pub mno_id: String,
    pub mno_name: String,
    /// The calling SP's SDs on this SE (none before its first PrePersonalize).
    pub sp_security_domains: Vec<SpSdData>,
    pub profile_id: String,
    pub se_type: String,
    pub gp_version: String,
    pub jc_version: String,
    pub certification_level: String,
    pub certification_expiry: String,
}

/// ManageCommunication request: `action` "start" (with `seId`, `msi`, optional `sdAid`) or
/// "end" (with `conversationId` and `status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManageCommunicationRequest {
    pub action: CommunicationAction,
    #[serde(default)]
    pub se_id: Option<String>,
    #[serde(default)]
    pub msi: Option<String>,
    /// The SD the scripts go to (hex); default: the SP's SSD on the SE.
    #[serde(default)]
    pub sd_aid: Option<String>,
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// For "end": the SP's operation status ("success", "failure", ...).
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommunicationAction {
    Start,
    End,
}

/// ManageCommunication response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManageCommunicationResponse {
    pub conversation_id: String,
    /// The bearer that reaches the SE.
    pub bearer: Bearer,
    pub max_scripts: u32,
    /// Largest script: the sum of its command APDUs' lengths, in bytes.
    pub max_script_size: u32,
    /// "APDU-LIST-HEX": a JSON array of hex command APDUs.
    pub script_format: String,
    /// Permitted duration of the conversation, in seconds.
    pub duration_seconds: u32,
    /// Unix milliseconds.
    pub expires_at: i64,
    /// For "end": "ENDED".
    pub state: String,
}

/// ProcessScript request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProcessScriptRequest {
    pub conversation_id: String,
    /// Command APDUs (hex) for the conversation's SD.
    pub commands: Vec<String>,
    /// `true`: the commands are already protected by the SP under its own keys (relayed as
    /// they are, after SELECT of the SD); `false`: the TSM wraps them in a secure channel with
    /// the SD's keys (not possible once the SP rotated them).
    #[serde(default)]
    pub pre_protected: bool,
}

/// A command that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedCommand {
    pub index: usize,
    pub command: String,
    pub sw: String,
}

/// ProcessScript response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessScriptResponse {
    /// Response APDUs (data and SW, hex; unwrapped from the secure channel), one per command
    /// sent. Execution stops at the first failed command.
    pub responses: Vec<String>,
    pub failed: Vec<FailedCommand>,
}

/// PrePersonalize / ActivateService / LockService / UnlockService / RenewService /
/// DeleteService / GetServiceState request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceRequest {
    pub msi: String,
    pub service_id: String,
    pub service_qualifier: String,
    /// Catalogue version (PrePersonalize and RenewService; default: the latest).
    #[serde(default)]
    pub version: Option<String>,
}

/// One step of a flow as it happened on the SE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// "createSsd", "putKeys", "install", "extradite", "makeSelectable", "lock", "unlock",
    /// "delete", "eligibility", ... and "compensate:<step>" for undo steps.
    pub name: String,
    /// "done", "failed" or "skipped".
    pub outcome: String,
    /// Status word of the failing command (hex), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sw: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The state of a service (answer to every service operation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    pub se_id: String,
    pub service_id: String,
    pub service_qualifier: String,
    pub version: String,
    pub state: ServiceState,
    /// Instance AID (hex).
    pub instance_aid: String,
    /// The SP's SSD (hex).
    pub ssd_aid: String,
    /// What happened on the SE in the last flow.
    pub steps: Vec<Step>,
    /// Set when the request waits in the SE's queue (HTTP 202).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_request: Option<i64>,
}
