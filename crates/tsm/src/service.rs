//! The orchestration behind every SP API operation: authorization (an SP sees only its own
//! security domains, services and conversations; anything else answers as unknown),
//! idempotency under a client-supplied key, conversations and their limits, delivery to the SE
//! through a [`SeConnector`] or queueing per SE while it is unreachable, and the audit log.
//!
//! Requests for one SE are serialized (one flow at a time per SE, in arrival order); a queued
//! SE's pending requests are delivered, oldest first, before any new request for it.
//! The card side runs on a blocking thread ([`tokio::task::spawn_blocking`]): card transports
//! (PC/SC, vpcd, the in-process card) are synchronous.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apdu::Command;
use rand_core::CryptoRng;
use seal::{KeyStore, SealedBlob};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::api::{
    CommunicationAction, ErrorBody, GetSeDataRequest, GetSeIdentifierRequest,
    GetSeIdentifierResponse, GetSsdKeysRequest, ManageCommunicationRequest,
    ManageCommunicationResponse, ProcessScriptRequest, ProcessScriptResponse, SeData,
    ServiceRequest, ServiceStatus, SpSdData, SsdKeys, Step, MAX_REQUEST_BYTES,
};
use crate::engine::{
    self, AuditContext, FlowReport, PrePersonalization, Recorder, ScriptTarget, SdAccess, SeChannel,
};
use crate::error::{Result, TsmError};
use crate::model::{
    check_aid, check_id, Bearer, CatalogueEntry, Conversation, KeySetRecord, Operation, QueueState,
    QueuedRequest, SdKind, Se, SecurityDomain, ServiceInstance, ServiceState, Sp, UnixMillis,
};
use crate::store::{FlowOutcome, IdempotencyBegin, TsmStore};

/// Opens the channel to an SE: a direct one (PC/SC reader, vpcd, in-process virtual card) or
/// Remote Application Management through the OTA platform, from the SE's link.
pub trait SeConnector: Send + Sync {
    /// `Ok(None)`: the SE cannot be reached now (its requests queue).
    fn connect(&self, se: &Se) -> Result<Option<SeChannel>>;
}

/// Per-SE locks kept before the unused ones are dropped.
const SE_LOCKS_PRUNE_AT: usize = 1024;

/// What an idempotency key is bound to: SHA-256 of the operation, a zero octet, the body.
pub fn request_hash(operation: &str, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(operation.as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().into()
}

/// The link of an SE reached through the OTA platform: `ota:` and its MSISDN (the SMS
/// destination the platform knows the card's OTA keys by); the bearer is its MNO's.
pub const OTA_LINK_PREFIX: &str = "ota:";

/// A source of fresh CSPRNG instances (one per flow, on the flow's thread).
pub type RngFactory = Arc<dyn Fn() -> Box<dyn CryptoRng + Send> + Send + Sync>;

/// The clock.
pub type Clock = Arc<dyn Fn() -> UnixMillis + Send + Sync>;

/// Limits and defaults.
#[derive(Debug, Clone)]
pub struct TsmConfig {
    /// Permitted duration of a conversation.
    pub conversation_duration: Duration,
    /// Scripts per conversation.
    pub max_scripts: u32,
    /// Bytes per script (sum of its command APDUs).
    pub max_script_bytes: u32,
    /// Commands per script.
    pub max_script_commands: usize,
    /// Bytes per script over SCP80/SMS: a script is one command packet, which the card must
    /// be able to reassemble from concatenated SMS (TS 31.115 §4.2).
    pub sms_max_script_bytes: u32,
}

impl Default for TsmConfig {
    fn default() -> TsmConfig {
        TsmConfig {
            conversation_duration: Duration::from_secs(300),
            max_scripts: 64,
            max_script_bytes: 16 * 1024,
            max_script_commands: 64,
            sms_max_script_bytes: 1024,
        }
    }
}

/// The central TSM service.
pub struct Tsm<S> {
    store: S,
    keys: Arc<dyn KeyStore>,
    connector: Arc<dyn SeConnector>,
    rng: RngFactory,
    clock: Clock,
    cfg: TsmConfig,
    se_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Per SE: the conversation whose SD the last command left selected on the basic channel
    /// (pre-protected scripts continue its secure channel only while no other flow ran).
    selected_by: Mutex<HashMap<String, String>>,
}

/// Associated data binding a sealed key set to its SE and SD.
fn key_aad(se_id: &str, aid: &[u8]) -> Vec<u8> {
    let mut a = b"simkit/tsm/sd-keys/".to_vec();
    a.extend_from_slice(se_id.as_bytes());
    a.push(0);
    a.extend_from_slice(aid);
    a
}

/// Associated data of an SE's SSD initial key set (its own label: no SD AID can produce it).
fn initial_keys_aad(se_id: &str) -> Vec<u8> {
    let mut a = b"simkit/tsm/ssd-initial-keys/".to_vec();
    a.extend_from_slice(se_id.as_bytes());
    a
}

/// The AID of an SP's SSD on every SE: `A000000151 5353` ‖ SHA-256(SP id)[0..8], 15 bytes
/// (simkit's scheme: GP's RID, "SS", then the SP).
pub fn ssd_aid_for(sp_id: &str) -> Vec<u8> {
    let mut aid = vec![0xA0, 0x00, 0x00, 0x01, 0x51, 0x53, 0x53];
    aid.extend_from_slice(&Sha256::digest(sp_id.as_bytes())[..8]);
    aid
}

fn seal_with(
    keys: &dyn KeyStore,
    aad: &[u8],
    k: &KeySetRecord,
    rng: &mut dyn CryptoRng,
) -> Result<SealedBlob> {
    k.check()?;
    keys.seal(aad, &k.encode(), rng)
        .map_err(|e| TsmError::Internal(format!("seal: {e}")))
}

fn step_list(detail: &str) -> Vec<Step> {
    serde_json::from_str(detail).unwrap_or_default()
}

fn status_of(inst: &ServiceInstance, queued: Option<i64>) -> ServiceStatus {
    ServiceStatus {
        se_id: inst.se_id.clone(),
        service_id: inst.service_id.clone(),
        service_qualifier: inst.qualifier.clone(),
        version: inst.version.clone(),
        state: inst.state,
        instance_aid: hex::encode_upper(&inst.instance_aid),
        ssd_aid: hex::encode_upper(&inst.ssd_aid),
        steps: step_list(&inst.detail),
        queued_request: queued,
    }
}

fn parse_hex(field: &'static str, s: &str) -> Result<Vec<u8>> {
    hex::decode(s).map_err(|_| TsmError::invalid(field, "not hex"))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".into())
}

fn error_json(e: &TsmError) -> String {
    to_json(&ErrorBody::from(e))
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(TsmError::TooLarge {
            limit: MAX_REQUEST_BYTES,
        });
    }
    serde_json::from_slice(body).map_err(|e| TsmError::invalid("body", e.to_string()))
}

/// A generated identifier: 16 random bytes, hex.
fn random_id(rng: &mut dyn CryptoRng) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Which operations a state allows, and the state during and after them.
fn check_transition(op: Operation, state: Option<ServiceState>) -> Result<()> {
    use ServiceState::*;
    let ok = match (op, state) {
        (Operation::PrePersonalize, None | Some(Deleted | Failed)) => true,
        (Operation::PrePersonalize, _) => false,
        (_, None) => return Err(TsmError::UnknownService),
        (Operation::ActivateService, Some(Installed)) => true,
        (Operation::LockService, Some(Active)) => true,
        (Operation::UnlockService, Some(Locked)) => true,
        (Operation::RenewService, Some(Installed | Active | Locked)) => true,
        (Operation::DeleteService, Some(s)) => !matches!(s, Deleted | Queued),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(TsmError::InvalidState {
            state: state.map_or("ABSENT", ServiceState::as_str),
            operation: op.as_str(),
        })
    }
}

/// A security domain to register, with its key set in clear (sealed by [`Tsm::register_se`]).
#[derive(Debug, Clone)]
pub struct SdRegistration {
    pub aid: Vec<u8>,
    pub kind: SdKind,
    pub sp_id: Option<String>,
    pub keys: Option<KeySetRecord>,
}

/// Everything a flow needs, loaded before going to the card.
struct FlowInput {
    se: Se,
    op: Operation,
    sp_id: String,
    req: ServiceRequest,
    manager: SdAccess,
    instance: Option<ServiceInstance>,
    ssd: Option<SecurityDomain>,
    service: CatalogueEntry,
    /// RenewService: the installed version's entry.
    old_service: Option<CatalogueEntry>,
    ssd_initial_keys: Option<KeySetRecord>,
    /// A row exists for the service (e.g. QUEUED) even if `instance` is `None`.
    had_row: bool,
}

impl<S: TsmStore + 'static> Tsm<S> {
    pub fn new(
        store: S,
        keys: Arc<dyn KeyStore>,
        connector: Arc<dyn SeConnector>,
        rng: RngFactory,
        clock: Clock,
        cfg: TsmConfig,
    ) -> Tsm<S> {
        Tsm {
            store,
            keys,
            connector,
            rng,
            clock,
            cfg,
            se_locks: Mutex::new(HashMap::new()),
            selected_by: Mutex::new(HashMap::new()),
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn config(&self) -> &TsmConfig {
        &self.cfg
    }

    fn now(&self) -> UnixMillis {
        (self.clock)()
    }

    fn se_lock(&self, se_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.se_locks.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= SE_LOCKS_PRUNE_AT {
            // Locks nobody holds or waits for are recreated on demand.
            m.retain(|_, l| Arc::strong_count(l) > 1);
        }
        m.entry(se_id.to_string()).or_default().clone()
    }

    /// Record who left the SE's basic-channel selection (`None`: a TSM flow).
    fn set_selected_by(&self, se_id: &str, conversation: Option<&str>) {
        let mut m = self.selected_by.lock().unwrap_or_else(|p| p.into_inner());
        match conversation {
            Some(c) => m.insert(se_id.to_string(), c.to_string()),
            None => m.remove(se_id),
        };
    }

    fn is_selected_by(&self, se_id: &str, conversation: &str) -> bool {
        let m = self.selected_by.lock().unwrap_or_else(|p| p.into_inner());
        m.get(se_id).is_some_and(|c| c == conversation)
    }

    // ---- sealing of key sets ----

    /// Seal a key set for (SE, SD).
    pub fn seal_keys(&self, se_id: &str, aid: &[u8], k: &KeySetRecord) -> Result<SealedBlob> {
        seal_with(&*self.keys, &key_aad(se_id, aid), k, &mut *(self.rng)())
    }

    /// Seal an SE's SSD initial key set.
    pub fn seal_initial_keys(&self, se_id: &str, k: &KeySetRecord) -> Result<SealedBlob> {
        seal_with(&*self.keys, &initial_keys_aad(se_id), k, &mut *(self.rng)())
    }

    fn open_blob(&self, aad: &[u8], blob: &SealedBlob) -> Result<KeySetRecord> {
        let plain: Zeroizing<Vec<u8>> = self
            .keys
            .open(aad, blob)
            .map_err(|e| TsmError::Internal(format!("stored keys do not open: {e}")))?;
        KeySetRecord::decode(&plain)
    }

    /// The key set the TSM holds for an SD (none once the SP rotated it); the SP gets its own
    /// through GetSSDKeys.
    pub fn sd_access(&self, sd: &SecurityDomain) -> Result<Option<SdAccess>> {
        match (&sd.keys, sd.rotated) {
            (Some(blob), false) => Ok(Some(SdAccess {
                aid: sd.aid.clone(),
                keys: self.open_blob(&key_aad(&sd.se_id, &sd.aid), blob)?,
            })),
            _ => Ok(None),
        }
    }

    // ---- operator registrations ----

    /// Register (or replace) an SE with its MSIs and security domains; key sets are sealed
    /// here, bound to (SE, SD).
    pub async fn register_se(
        &self,
        mut se: Se,
        ssd_initial_keys: Option<KeySetRecord>,
        msis: Vec<String>,
        sds: Vec<SdRegistration>,
    ) -> Result<()> {
        check_id("seId", &se.se_id)?;
        if let Some(msisdn) = se.link.strip_prefix(OTA_LINK_PREFIX) {
            if msisdn.is_empty() || msisdn.len() > 20 || !msisdn.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(TsmError::invalid("link", "ota:MSISDN takes 1 to 20 digits"));
            }
        }
        check_id("mnoId", &se.mno_id)?;
        check_aid("isdAid", &se.isd_aid)?;
        for m in &msis {
            check_id("msi", m)?;
        }
        se.ssd_initial_keys = match &ssd_initial_keys {
            Some(k) => Some(self.seal_initial_keys(&se.se_id, k)?),
            None => None,
        };
        let mut rows = Vec::with_capacity(sds.len());
        for sd in sds {
            check_aid("sdAid", &sd.aid)?;
            if let Some(sp) = &sd.sp_id {
                self.store
                    .get_sp(sp)
                    .await?
                    .ok_or_else(|| TsmError::invalid("spId", "unknown SP"))?;
            }
            let keys = match &sd.keys {
                Some(k) => Some(self.seal_keys(&se.se_id, &sd.aid, k)?),
                None => None,
            };
            rows.push(SecurityDomain {
                se_id: se.se_id.clone(),
                aid: sd.aid,
                kind: sd.kind,
                sp_id: sd.sp_id,
                kvn: sd.keys.as_ref().map_or(0, |k| k.kvn),
                keys,
                rotated: false,
            });
        }
        // SP SDs the TSM created keep their keys and rotation flag across a re-registration.
        let lock = self.se_lock(&se.se_id);
        let _guard = lock.lock().await;
        for sd in self.store.sds(&se.se_id).await? {
            if sd.kind == SdKind::SpSd && !rows.iter().any(|r| r.aid == sd.aid) {
                rows.push(sd);
            }
        }
        self.store.put_se(se, msis, rows).await
    }

    /// Add a service to the catalogue. Instance AIDs are unique across SPs, so that no SP can
    /// learn of another's service through an AID clash on an SE.
    pub async fn register_service(&self, entry: CatalogueEntry) -> Result<()> {
        check_id("spId", &entry.sp_id)?;
        check_id("serviceId", &entry.service_id)?;
        check_id("version", &entry.version)?;
        check_aid("packageAid", &entry.package_aid)?;
        check_aid("moduleAid", &entry.module_aid)?;
        check_aid("instanceAid", &entry.instance_aid)?;
        self.store
            .get_sp(&entry.sp_id)
            .await?
            .ok_or_else(|| TsmError::invalid("spId", "unknown SP"))?;
        let clash = self
            .store
            .list_catalogue()
            .await?
            .into_iter()
            .any(|e| e.sp_id != entry.sp_id && e.instance_aid == entry.instance_aid);
        if clash
            || entry
                .instance_aid
                .starts_with(&ssd_aid_for(&entry.sp_id)[..7])
        {
            return Err(TsmError::Duplicate(format!(
                "instance AID {} is another SP's or reserved",
                hex::encode_upper(&entry.instance_aid)
            )));
        }
        self.store.put_catalogue(entry).await
    }

    /// How the TSM reaches the SE: its direct link, else (link [`OTA_LINK_PREFIX`]`MSISDN`,
    /// or none yet) the bearer of its MNO.
    async fn bearer_of(&self, se: &Se) -> Result<Bearer> {
        if !se.link.is_empty() && !se.link.starts_with(OTA_LINK_PREFIX) {
            return Ok(Bearer::Direct);
        }
        let mno = self.store.get_mno(&se.mno_id).await?;
        Ok(mno.map_or(Bearer::Direct, |m| m.bearer))
    }

    /// Refuses (501) an SE the TSM has no way to reach, rather than queueing for ever.
    async fn check_deliverable(&self, se: &Se) -> Result<()> {
        if se.link.is_empty() {
            return Err(TsmError::NotSupported(format!(
                "SE {} has no link: a direct one, or {OTA_LINK_PREFIX}MSISDN for its MNO's bearer ({})",
                se.se_id,
                self.bearer_of(se).await?.as_str()
            )));
        }
        if !se.link.starts_with(OTA_LINK_PREFIX) {
            return Ok(());
        }
        match self.bearer_of(se).await? {
            Bearer::Scp80Sms => Ok(()),
            Bearer::Scp81Https => Err(TsmError::NotSupported(format!(
                "SE {}: delivery over SCP81 (GP Amendment B) is not implemented; its MNO's bearer is SCP81-HTTPS",
                se.se_id
            ))),
            Bearer::Direct => Err(TsmError::NotSupported(format!(
                "SE {} is linked to the OTA platform but its MNO's bearer is DIRECT",
                se.se_id
            ))),
        }
    }

    // ---- lookups with authorization ----

    async fn se_for_msi(&self, msi: &str) -> Result<Se> {
        check_id("msi", msi)?;
        self.store.se_by_msi(msi).await?.ok_or(TsmError::UnknownMsi)
    }

    /// The SP's SDs on an SE (SP SDs and third-party SDs it owns).
    async fn own_sds(&self, sp: &Sp, se_id: &str) -> Result<Vec<SecurityDomain>> {
        Ok(self
            .store
            .sds(se_id)
            .await?
            .into_iter()
            .filter(|sd| sd.sp_id.as_deref() == Some(sp.id.as_str()))
            .collect())
    }

    /// One of the SP's SDs on the SE: `sd_aid` (hex), else its SSD.
    async fn own_sd(&self, sp: &Sp, se_id: &str, sd_aid: Option<&str>) -> Result<SecurityDomain> {
        let sds = self.own_sds(sp, se_id).await?;
        match sd_aid {
            Some(a) => {
                let aid = parse_hex("sdAid", a)?;
                sds.into_iter().find(|sd| sd.aid == aid)
            }
            None => sds.into_iter().find(|sd| sd.kind == SdKind::SpSd),
        }
        .ok_or(TsmError::UnknownSd)
    }

    // ---- the SP API, typed ----

    pub async fn get_se_identifier(
        &self,
        _sp: &Sp,
        req: GetSeIdentifierRequest,
    ) -> Result<GetSeIdentifierResponse> {
        let se = self.se_for_msi(&req.msi).await?;
        Ok(GetSeIdentifierResponse { se_id: se.se_id })
    }

    /// GetSSDKeys: the key set the TSM holds for one of the SP's SDs on the SE (its SSD by
    /// default), for the SP to rotate. Another SP's SD is unknown; a rotated one answers
    /// `keysRotated`.
    pub async fn get_ssd_keys(&self, sp: &Sp, req: GetSsdKeysRequest) -> Result<SsdKeys> {
        let se = self.se_for_msi(&req.msi).await?;
        if se.se_id != req.se_id {
            return Err(TsmError::UnknownSe);
        }
        let sd = self.own_sd(sp, &se.se_id, req.sd_aid.as_deref()).await?;
        let Some(access) = self.sd_access(&sd)? else {
            return Err(TsmError::KeysRotated);
        };
        let k = access.keys;
        Ok(SsdKeys {
            aid: hex::encode_upper(&sd.aid),
            key_version: k.kvn,
            scp: k.scp,
            enc: hex::encode_upper(&*k.enc),
            mac: hex::encode_upper(&*k.mac),
            dek: hex::encode_upper(&*k.dek),
        })
    }

    pub async fn get_se_data(&self, sp: &Sp, req: GetSeDataRequest) -> Result<SeData> {
        let se = self.se_for_msi(&req.msi).await?;
        if se.se_id != req.se_id {
            return Err(TsmError::UnknownSe);
        }
        let mno = self
            .store
            .get_mno(&se.mno_id)
            .await?
            .ok_or_else(|| TsmError::Internal("SE's MNO is missing".into()))?;
        let sds = self.own_sds(sp, &se.se_id).await?;
        Ok(SeData {
            se_id: se.se_id,
            mno_id: mno.id,
            mno_name: mno.name,
            sp_security_domains: sds
                .iter()
                .map(|sd| SpSdData {
                    aid: hex::encode_upper(&sd.aid),
                    master_key_index: sd.kvn,
                    keys_rotated: sd.rotated,
                })
                .collect(),
            profile_id: se.profile_id,
            se_type: se.se_type,
            gp_version: se.gp_version,
            jc_version: se.jc_version,
            certification_level: se.cert_level,
            certification_expiry: se.cert_expiry,
        })
    }

    pub async fn manage_communication(
        &self,
        sp: &Sp,
        req: ManageCommunicationRequest,
    ) -> Result<ManageCommunicationResponse> {
        match req.action {
            CommunicationAction::Start => self.start_conversation(sp, req).await,
            CommunicationAction::End => self.end_conversation(sp, req).await,
        }
    }

    async fn start_conversation(
        &self,
        sp: &Sp,
        req: ManageCommunicationRequest,
    ) -> Result<ManageCommunicationResponse> {
        let (Some(se_id), Some(msi)) = (req.se_id.as_deref(), req.msi.as_deref()) else {
            return Err(TsmError::invalid("seId/msi", "start needs seId and msi"));
        };
        let se = self.se_for_msi(msi).await?;
        if se.se_id != se_id {
            return Err(TsmError::UnknownSe);
        }
        let sd = self.own_sd(sp, &se.se_id, req.sd_aid.as_deref()).await?;
        let now = self.now();
        let duration = self.cfg.conversation_duration;
        let bearer = self.bearer_of(&se).await?;
        let max_script_bytes = match bearer {
            Bearer::Scp80Sms => self.cfg.max_script_bytes.min(self.cfg.sms_max_script_bytes),
            _ => self.cfg.max_script_bytes,
        };
        let id = random_id(&mut *(self.rng)());
        let conv = Conversation {
            id: id.clone(),
            sp_id: sp.id.clone(),
            se_id: se.se_id.clone(),
            sd_aid: sd.aid,
            opened_at: now,
            expires_at: now + duration.as_millis() as i64,
            max_scripts: self.cfg.max_scripts,
            max_script_bytes,
            scripts_used: 0,
            ended: None,
        };
        self.store.open_conversation(conv.clone()).await?;
        Ok(communication_response(conv, bearer, "OPEN"))
    }

    /// The SP's conversation, or [`TsmError::NoConversation`] (also for another SP's).
    async fn own_conversation(&self, sp: &Sp, id: &str) -> Result<Conversation> {
        check_id("conversationId", id)?;
        match self.store.conversation(id).await? {
            Some(c) if c.sp_id == sp.id => Ok(c),
            _ => Err(TsmError::NoConversation),
        }
    }

    async fn end_conversation(
        &self,
        sp: &Sp,
        req: ManageCommunicationRequest,
    ) -> Result<ManageCommunicationResponse> {
        let id = req
            .conversation_id
            .as_deref()
            .ok_or_else(|| TsmError::invalid("conversationId", "end needs conversationId"))?;
        let status = req.status.as_deref().unwrap_or("success");
        if status.is_empty() || status.len() > 64 {
            return Err(TsmError::invalid("status", "1 to 64 characters"));
        }
        let conv = self.own_conversation(sp, id).await?;
        self.store.end_conversation(id, status).await?;
        let se = self
            .store
            .get_se(&conv.se_id)
            .await?
            .ok_or(TsmError::UnknownSe)?;
        Ok(communication_response(
            conv,
            self.bearer_of(&se).await?,
            "ENDED",
        ))
    }

    pub async fn process_script(
        &self,
        sp: &Sp,
        req: ProcessScriptRequest,
    ) -> Result<ProcessScriptResponse> {
        let conv = self.own_conversation(sp, &req.conversation_id).await?;
        if conv.ended.is_some() {
            return Err(TsmError::ConversationEnded);
        }
        if self.now() >= conv.expires_at {
            return Err(TsmError::ConversationExpired);
        }
        if req.commands.is_empty() {
            return Err(TsmError::invalid("commands", "at least one command"));
        }
        if req.commands.len() > self.cfg.max_script_commands {
            return Err(TsmError::ScriptLimit(format!(
                "{} commands (at most {})",
                req.commands.len(),
                self.cfg.max_script_commands
            )));
        }
        let mut commands = Vec::with_capacity(req.commands.len());
        let mut size = 0usize;
        for c in &req.commands {
            let bytes = parse_hex("commands", c)?;
            size += bytes.len();
            commands.push(
                Command::parse(&bytes).map_err(|e| {
                    TsmError::invalid("commands", format!("not a command APDU: {e}"))
                })?,
            );
        }
        if size > conv.max_script_bytes as usize {
            return Err(TsmError::ScriptLimit(format!(
                "script of {size} bytes (at most {})",
                conv.max_script_bytes
            )));
        }
        let own_sds = self.own_sds(sp, &conv.se_id).await?;
        let own_instances: Vec<Vec<u8>> = self
            .store
            .list_instances(Some(&conv.se_id), Some(&sp.id))
            .await?
            .into_iter()
            .map(|i| i.instance_aid)
            .collect();
        check_script_targets(&commands, &own_sds, &own_instances)?;
        let sd = own_sds
            .into_iter()
            .find(|sd| sd.aid == conv.sd_aid)
            .ok_or(TsmError::UnknownSd)?;
        let access = self.sd_access(&sd)?;
        if access.is_none() && !req.pre_protected {
            return Err(TsmError::KeysRotated);
        }
        let se = self
            .store
            .get_se(&conv.se_id)
            .await?
            .ok_or(TsmError::UnknownSe)?;
        self.check_deliverable(&se).await?;
        let lock = self.se_lock(&se.se_id);
        let _guard = lock.lock().await;
        // Queued requests for the SE go first; the conversation may have expired meanwhile.
        self.deliver_pending_locked(&se).await?;
        if self.now() >= conv.expires_at {
            return Err(TsmError::ConversationExpired);
        }
        self.store
            .count_script(&conv.id)
            .await?
            .ok_or_else(|| TsmError::ScriptLimit(format!("{} scripts", conv.max_scripts)))?;
        // A pre-protected script continues the SP's own secure channel only if nothing else
        // has used the SE since its last script; otherwise its SD is selected again (which
        // ends any session the SP had opened, GP CS v2.3.1 §10.2).
        let select = !self.is_selected_by(&se.se_id, &conv.id);
        let connector = self.connector.clone();
        let rng = self.rng.clone();
        let ctx = AuditContext {
            se_id: se.se_id.clone(),
            sp_id: Some(sp.id.clone()),
            conversation_id: Some(conv.id.clone()),
            operation: "ProcessScript".into(),
            now: self.now(),
        };
        let pre_protected = req.pre_protected;
        let sd_aid = sd.aid.clone();
        let put_keys = put_key_targets(&commands, sd.kvn);
        let (result, audit) = tokio::task::spawn_blocking(move || {
            let Some(mut channel) = connector.connect(&se)? else {
                return Err(TsmError::Offline(format!(
                    "SE {} is not connected",
                    se.se_id
                )));
            };
            let mut rec = Recorder::over(&mut channel, ctx);
            let target = match (&access, pre_protected) {
                (Some(a), false) => ScriptTarget::Keys(a),
                _ => ScriptTarget::PreProtected {
                    aid: &sd_aid,
                    select,
                },
            };
            let r = engine::process_script(&mut rec, target, &commands, &mut *rng());
            Ok((r, rec.into_entries()))
        })
        .await
        .map_err(|e| TsmError::Internal(format!("card task: {e}")))??;
        self.set_selected_by(&conv.se_id, pre_protected.then_some(conv.id.as_str()));
        let mut outcome = FlowOutcome {
            audit,
            ..FlowOutcome::default()
        };
        if let (Ok(r), false) = (&result, pre_protected) {
            if let Some(new_kvn) = rotated_to(&put_keys, r) {
                // The SP replaced the key set the TSM held (GP CS v2.3.1 §11.8): from now on
                // the TSM relays its pre-protected scripts only.
                outcome.put_sds.push(SecurityDomain {
                    keys: None,
                    kvn: new_kvn,
                    rotated: true,
                    ..sd
                });
            }
        }
        self.store.commit_flow(outcome).await?;
        result
    }

    /// GetServiceState.
    pub async fn service_state(&self, sp: &Sp, req: ServiceRequest) -> Result<ServiceStatus> {
        check_service_request(&req)?;
        let se = self.se_for_msi(&req.msi).await?;
        let inst = self
            .store
            .instance(&se.se_id, &sp.id, &req.service_id, &req.service_qualifier)
            .await?
            .ok_or(TsmError::UnknownService)?;
        Ok(status_of(&inst, None))
    }

    /// PrePersonalize, ActivateService, LockService, UnlockService, RenewService,
    /// DeleteService. `Ok((202, status))` when the request waits in the SE's queue.
    pub async fn service_operation(
        &self,
        sp: &Sp,
        op: Operation,
        req: ServiceRequest,
    ) -> Result<(u16, ServiceStatus)> {
        check_service_request(&req)?;
        let se = self.se_for_msi(&req.msi).await?;
        // Validates the request against the catalogue and the state now, so an SP learns of
        // a bad request at once even when the SE is offline.
        let current = self
            .store
            .instance(&se.se_id, &sp.id, &req.service_id, &req.service_qualifier)
            .await?;
        if current.is_none() && op != Operation::PrePersonalize {
            return Err(TsmError::UnknownService);
        }
        // Behind queued requests (or a queued PrePersonalize) the state is checked at delivery.
        let behind_queue = current
            .as_ref()
            .is_some_and(|i| i.state == ServiceState::Queued)
            || !self.store.pending(&se.se_id).await?.is_empty();
        if behind_queue {
            self.store
                .catalogue(&sp.id, &req.service_id, None)
                .await?
                .ok_or(TsmError::UnknownService)?;
        } else {
            self.catalogue_entry(sp, op, &req, current.as_ref()).await?;
        }
        self.check_deliverable(&se).await?;
        let lock = self.se_lock(&se.se_id);
        let _guard = lock.lock().await;
        self.deliver_pending_locked(&se).await?;
        let has_queue = !self.store.pending(&se.se_id).await?.is_empty();
        if !has_queue {
            match self.run_flow(&se, sp, op, &req).await {
                // Not connected: nothing was sent, the request waits in the queue. (A channel
                // that fails mid-flow is answered, with its steps recorded, never queued.)
                Err(TsmError::Offline(_)) => {}
                other => return other.map(|s| (200, s)),
            }
        }
        self.enqueue(&se, sp, op, &req, current).await
    }

    async fn catalogue_entry(
        &self,
        sp: &Sp,
        op: Operation,
        req: &ServiceRequest,
        current: Option<&ServiceInstance>,
    ) -> Result<CatalogueEntry> {
        check_transition(op, current.map(|i| i.state))?;
        let version = match (op, current) {
            (Operation::PrePersonalize | Operation::RenewService, _) => req.version.as_deref(),
            (_, Some(i)) => Some(i.version.as_str()),
            (_, None) => None,
        };
        self.store
            .catalogue(&sp.id, &req.service_id, version)
            .await?
            .ok_or(TsmError::UnknownService)
    }

    async fn enqueue(
        &self,
        se: &Se,
        sp: &Sp,
        op: Operation,
        req: &ServiceRequest,
        current: Option<ServiceInstance>,
    ) -> Result<(u16, ServiceStatus)> {
        let placeholder = match &current {
            Some(_) => None,
            // PrePersonalize of a new service: visible as QUEUED until delivered.
            None => {
                let entry = self.catalogue_entry(sp, op, req, None).await?;
                Some(ServiceInstance {
                    se_id: se.se_id.clone(),
                    sp_id: sp.id.clone(),
                    service_id: req.service_id.clone(),
                    qualifier: req.service_qualifier.clone(),
                    version: entry.version.clone(),
                    instance_aid: entry.instance_aid.clone(),
                    ssd_aid: ssd_aid_for(&sp.id),
                    state: ServiceState::Queued,
                    detail: "[]".into(),
                    updated_at: self.now(),
                })
            }
        };
        let id = self
            .store
            .enqueue(QueuedRequest {
                id: 0,
                se_id: se.se_id.clone(),
                sp_id: sp.id.clone(),
                operation: op,
                body: to_json(req),
                state: QueueState::Pending,
                result: None,
                created_at: self.now(),
            })
            .await?;
        let inst = match (current, placeholder) {
            (Some(i), _) => i,
            (None, Some(inst)) => {
                self.store
                    .commit_flow(FlowOutcome {
                        instance: Some(inst.clone()),
                        ..FlowOutcome::default()
                    })
                    .await?;
                inst
            }
            (None, None) => return Err(TsmError::UnknownService),
        };
        Ok((202, status_of(&inst, Some(id))))
    }

    /// Resolve what a previous run left executing (call once at start, before serving):
    /// in-progress idempotency keys answer [`TsmError::Interrupted`] from now on (the request
    /// is never run twice), and queued requests left `delivering` become `failed`. What
    /// reached the SE is in the audit log and the service state. Returns (keys, queued
    /// requests) resolved.
    pub async fn recover_interrupted(&self) -> Result<(u64, u64)> {
        let e = TsmError::Interrupted(
            "the TSM stopped while this request was executing; the audit log and GetServiceState show what reached the SE".into(),
        );
        self.store
            .recover_interrupted(e.http_status(), error_json(&e), e.to_string())
            .await
    }

    /// Deliver an SE's queued requests, oldest first (after it reconnected). Stops when the SE
    /// is unreachable again. Returns how many were delivered.
    pub async fn deliver_pending(&self, se_id: &str) -> Result<usize> {
        let se = self.store.get_se(se_id).await?.ok_or(TsmError::UnknownSe)?;
        let lock = self.se_lock(se_id);
        let _guard = lock.lock().await;
        self.deliver_pending_locked(&se).await
    }

    /// [`Self::deliver_pending`] for every SE with a queue.
    pub async fn deliver_all_pending(&self) -> Result<usize> {
        let mut n = 0;
        for se_id in self.store.ses_with_pending().await? {
            n += self.deliver_pending(&se_id).await?;
        }
        Ok(n)
    }

    async fn deliver_pending_locked(&self, se: &Se) -> Result<usize> {
        let mut delivered = 0;
        for q in self.store.pending(&se.se_id).await? {
            // Claimed atomically: another process delivering the same queue skips it.
            if !self.store.claim_queued(q.id).await? {
                continue;
            }
            let sp = self
                .store
                .get_sp(&q.sp_id)
                .await?
                .ok_or_else(|| TsmError::Internal("queued request of an unknown SP".into()))?;
            let req: ServiceRequest = serde_json::from_str(&q.body)
                .map_err(|e| TsmError::Internal(format!("queued request: {e}")))?;
            let (state, result) = match self.run_flow(se, &sp, q.operation, &req).await {
                Err(TsmError::Offline(_)) => {
                    self.store.release_queued(q.id).await?;
                    break;
                }
                Ok(s) => (QueueState::Done, to_json(&s)),
                Err(e) => {
                    self.fail_placeholder(&sp, &req, &e).await?;
                    (QueueState::Failed, error_json(&e))
                }
            };
            self.store.finish_queued(q.id, state, result).await?;
            delivered += 1;
        }
        Ok(delivered)
    }

    /// A queued PrePersonalize that failed before reaching the card: its QUEUED row says why.
    async fn fail_placeholder(&self, sp: &Sp, req: &ServiceRequest, e: &TsmError) -> Result<()> {
        let se = self.se_for_msi(&req.msi).await?;
        let inst = self
            .store
            .instance(&se.se_id, &sp.id, &req.service_id, &req.service_qualifier)
            .await?;
        let Some(mut inst) = inst.filter(|i| i.state == ServiceState::Queued) else {
            return Ok(());
        };
        inst.state = ServiceState::Failed;
        inst.detail = to_json(&[Step {
            name: "delivery".into(),
            outcome: "failed".into(),
            sw: e.sw().map(|sw| format!("{:04X}", sw.0)),
            reason: Some(e.to_string()),
        }]);
        inst.updated_at = self.now();
        self.store
            .commit_flow(FlowOutcome {
                instance: Some(inst),
                ..FlowOutcome::default()
            })
            .await
    }

    /// Load what a flow needs, run it on the card, record its outcome.
    async fn run_flow(
        &self,
        se: &Se,
        sp: &Sp,
        op: Operation,
        req: &ServiceRequest,
    ) -> Result<ServiceStatus> {
        let instance = self
            .store
            .instance(&se.se_id, &sp.id, &req.service_id, &req.service_qualifier)
            .await?;
        let current = instance
            .as_ref()
            .filter(|i| i.state != ServiceState::Queued);
        check_transition(op, current.map(|i| i.state))?;
        let service = self.catalogue_entry(sp, op, req, current).await?;
        let old_service = match (op, current) {
            (Operation::RenewService, Some(i)) => Some(
                self.store
                    .catalogue(&sp.id, &req.service_id, Some(&i.version))
                    .await?
                    .ok_or(TsmError::UnknownService)?,
            ),
            _ => None,
        };
        let sds = self.store.sds(&se.se_id).await?;
        let manager_sd = sds
            .iter()
            .filter(|sd| matches!(sd.kind, SdKind::CentralSd | SdKind::Isd) && !sd.rotated)
            .min_by_key(|sd| if sd.kind == SdKind::CentralSd { 0 } else { 1 })
            .ok_or_else(|| TsmError::Internal("no manager SD with keys for this SE".into()))?;
        let manager = self
            .sd_access(manager_sd)?
            .ok_or_else(|| TsmError::Internal("no manager SD keys for this SE".into()))?;
        let ssd_aid = current.map_or_else(|| ssd_aid_for(&sp.id), |i| i.ssd_aid.clone());
        let ssd = match sds.into_iter().find(|sd| sd.aid == ssd_aid) {
            Some(sd) if sd.sp_id.as_deref() != Some(sp.id.as_str()) => {
                return Err(TsmError::Internal(
                    "the SP's SSD AID is taken by another security domain on this SE".into(),
                ))
            }
            other => other,
        };
        let ssd_initial_keys = match &se.ssd_initial_keys {
            Some(b) => Some(self.open_blob(&initial_keys_aad(&se.se_id), b)?),
            None => None,
        };
        let input = FlowInput {
            se: se.clone(),
            op,
            sp_id: sp.id.clone(),
            req: req.clone(),
            manager,
            instance: current.cloned(),
            ssd,
            service,
            old_service,
            ssd_initial_keys,
            had_row: instance.is_some(),
        };
        let connector = self.connector.clone();
        let target = se.clone();
        let mut channel = tokio::task::spawn_blocking(move || connector.connect(&target))
            .await
            .map_err(|e| TsmError::Internal(format!("card task: {e}")))??
            .ok_or_else(|| TsmError::Offline(format!("SE {} is not connected", se.se_id)))?;
        if op == Operation::RenewService {
            // RenewService step 1: state RENEWING, recorded before the first command.
            if let Some(mut i) = input.instance.clone() {
                i.state = ServiceState::Renewing;
                i.updated_at = self.now();
                self.store
                    .commit_flow(FlowOutcome {
                        instance: Some(i),
                        ..FlowOutcome::default()
                    })
                    .await?;
            }
        }
        let rng = self.rng.clone();
        let now = self.now();
        let keys = self.keys.clone();
        let (outcome, result) = tokio::task::spawn_blocking(move || {
            execute(&input, &mut channel, &*keys, &mut *rng(), now)
        })
        .await
        .map_err(|e| TsmError::Internal(format!("card task: {e}")))?;
        // A TSM flow changes the basic channel's selection.
        self.set_selected_by(&se.se_id, None);
        self.store.commit_flow(outcome).await?;
        result
    }

    // ---- JSON dispatch (the HTTP layer's entry point) ----

    /// Handle one API request: `operation` is the path's last segment (e.g. "PrePersonalize"),
    /// `body` the raw JSON. Returns the HTTP status and the JSON body. Mutating operations
    /// with an `idempotency_key` are executed once; a replay returns the stored answer.
    pub async fn handle(
        &self,
        sp: &Sp,
        operation: &str,
        body: &[u8],
        idempotency_key: Option<&str>,
    ) -> (u16, String) {
        let mutating = operation != "GetSEIdentifier"
            && operation != "GetSEData"
            && operation != "GetSSDKeys"
            && operation != "GetServiceState";
        let Some(key) = idempotency_key.filter(|_| mutating) else {
            return self.dispatch(sp, operation, body).await;
        };
        if let Err(e) = check_id("Idempotency-Key", key) {
            return (e.http_status(), error_json(&e));
        }
        let hash = request_hash(operation, body);
        match self
            .store
            .idempotency_begin(&sp.id, key, hash, self.now())
            .await
        {
            Ok(IdempotencyBegin::New) => {}
            Ok(IdempotencyBegin::Replay(status, body)) => return (status, body),
            Ok(IdempotencyBegin::InProgress) => {
                let e = TsmError::IdempotencyInProgress;
                return (e.http_status(), error_json(&e));
            }
            Ok(IdempotencyBegin::Conflict) => {
                let e = TsmError::IdempotencyConflict;
                return (e.http_status(), error_json(&e));
            }
            Err(e) => return (e.http_status(), error_json(&e)),
        }
        let (status, out) = self.dispatch(sp, operation, body).await;
        // A request rejected before anything reached the SE may be retried with the same key;
        // any other answer (errors included) is the request's answer from now on.
        let untouched = matches!(status, 400 | 413 | 501)
            || serde_json::from_str::<ErrorBody>(&out).is_ok_and(|b| b.code == "seOffline");
        let stored = if untouched {
            self.store.idempotency_abandon(&sp.id, key).await
        } else {
            self.store
                .idempotency_finish(&sp.id, key, status, out.clone())
                .await
        };
        match stored {
            Ok(()) => (status, out),
            Err(e) => (e.http_status(), error_json(&e)),
        }
    }

    async fn dispatch(&self, sp: &Sp, operation: &str, body: &[u8]) -> (u16, String) {
        let r: Result<(u16, String)> = async {
            let ok = |v: String| Ok((200, v));
            match operation {
                "GetSEIdentifier" => ok(to_json(
                    &self.get_se_identifier(sp, parse_body(body)?).await?,
                )),
                "GetSEData" => ok(to_json(&self.get_se_data(sp, parse_body(body)?).await?)),
                "GetSSDKeys" => ok(to_json(&self.get_ssd_keys(sp, parse_body(body)?).await?)),
                "ManageCommunication" => ok(to_json(
                    &self.manage_communication(sp, parse_body(body)?).await?,
                )),
                "ProcessScript" => ok(to_json(&self.process_script(sp, parse_body(body)?).await?)),
                "GetServiceState" => ok(to_json(&self.service_state(sp, parse_body(body)?).await?)),
                other => match Operation::parse(other) {
                    Some(op) => {
                        let (status, s) = self.service_operation(sp, op, parse_body(body)?).await?;
                        Ok((status, to_json(&s)))
                    }
                    None => Err(TsmError::invalid(
                        "operation",
                        format!("unknown operation {other}"),
                    )),
                },
            }
        }
        .await;
        r.unwrap_or_else(|e| (e.http_status(), error_json(&e)))
    }
}

/// The script's PUT KEY commands (INS 'D8', GP CS v2.3.1 §11.8) that replace the key set
/// `held_kvn` (P1 b7-b1 = its KVN; b8 = more commands follow): (index, new KVN = first data
/// byte). Adding a key set (P1 '00') leaves the TSM's keys valid.
fn put_key_targets(commands: &[Command], held_kvn: u8) -> Vec<(usize, u8)> {
    commands
        .iter()
        .enumerate()
        .filter(|(_, c)| c.ins == 0xD8 && c.p1 & 0x7F == held_kvn && held_kvn != 0)
        .filter_map(|(i, c)| Some((i, *c.data.first()?)))
        .collect()
}

/// A script reaches only the SP's own objects: no logical channels of its own (MANAGE CHANNEL,
/// channel bits in CLA; ISO/IEC 7816-4 §5.4.1, §11.1.2) and SELECT by name only of the SP's
/// SDs and instances. Anything else is refused the same way, whether it exists or not.
fn check_script_targets(
    commands: &[Command],
    own_sds: &[SecurityDomain],
    own_instances: &[Vec<u8>],
) -> Result<()> {
    for c in commands {
        if apdu::channel::channel_of(c.cla) != Some(0) || c.ins == apdu::channel::INS_MANAGE_CHANNEL
        {
            return Err(TsmError::invalid(
                "commands",
                "logical channels are the TSM's: send commands on the basic channel",
            ));
        }
        if c.ins == 0xA4 {
            let own = c.p1 == 0x04
                && (own_sds.iter().any(|sd| sd.aid == c.data)
                    || own_instances.iter().any(|a| *a == c.data));
            if !own {
                return Err(TsmError::invalid(
                    "commands",
                    "SELECT only by AID of your own security domains and applications",
                ));
            }
        }
    }
    Ok(())
}

/// The new key version if one of those PUT KEYs succeeded.
fn rotated_to(put_keys: &[(usize, u8)], r: &ProcessScriptResponse) -> Option<u8> {
    put_keys
        .iter()
        .filter(|(i, _)| r.responses.get(*i).is_some_and(|x| x.ends_with("9000")))
        .map(|(_, kvn)| *kvn)
        .last()
}

/// The ManageCommunication answer for a conversation.
fn communication_response(
    conv: Conversation,
    bearer: Bearer,
    state: &str,
) -> ManageCommunicationResponse {
    ManageCommunicationResponse {
        conversation_id: conv.id,
        bearer,
        max_scripts: conv.max_scripts,
        max_script_size: conv.max_script_bytes,
        script_format: "APDU-LIST-HEX".into(),
        duration_seconds: ((conv.expires_at - conv.opened_at) / 1000) as u32,
        expires_at: conv.expires_at,
        state: state.into(),
    }
}

fn check_service_request(req: &ServiceRequest) -> Result<()> {
    check_id("msi", &req.msi)?;
    check_id("serviceId", &req.service_id)?;
    check_id("serviceQualifier", &req.service_qualifier)?;
    if let Some(v) = &req.version {
        check_id("version", v)?;
    }
    Ok(())
}

/// Fresh temporary SSD keys of the same kind as the SE's initial ones.
fn temporary_keys(initial: &KeySetRecord, rng: &mut dyn CryptoRng) -> KeySetRecord {
    let n = initial.enc.len();
    let mut key = || {
        let mut k = Zeroizing::new(vec![0u8; n]);
        rng.fill_bytes(&mut k);
        k
    };
    KeySetRecord {
        scp: initial.scp,
        kvn: initial.kvn,
        enc: key(),
        mac: key(),
        dek: key(),
    }
}

/// Run one flow on the card (blocking thread) and turn its report into the changes to store.
fn execute(
    input: &FlowInput,
    channel: &mut SeChannel,
    keys: &dyn KeyStore,
    rng: &mut dyn CryptoRng,
    now: UnixMillis,
) -> (FlowOutcome, Result<ServiceStatus>) {
    let ctx = AuditContext {
        se_id: input.se.se_id.clone(),
        sp_id: Some(input.sp_id.clone()),
        conversation_id: None,
        operation: input.op.as_str().into(),
        now,
    };
    let mut rec = Recorder::over(channel, ctx);
    let mut outcome = FlowOutcome::default();
    let service = &input.service;
    let ssd_aid = input
        .instance
        .as_ref()
        .map_or_else(|| ssd_aid_for(&input.sp_id), |i| i.ssd_aid.clone());
    let instance_aid = input
        .instance
        .as_ref()
        .map_or_else(|| service.instance_aid.clone(), |i| i.instance_aid.clone());
    let m = &input.manager;
    let (report, done_state, version): (FlowReport, ServiceState, &str) = match input.op {
        Operation::PrePersonalize => {
            let Some(initial) = &input.ssd_initial_keys else {
                let e = TsmError::Internal("the SE has no SSD initial key set".into());
                return (outcome, Err(e));
            };
            let temp = temporary_keys(initial, rng);
            let create_ssd = input.ssd.is_none();
            let plan = PrePersonalization {
                manager: m,
                ssd_aid: &ssd_aid,
                create_ssd,
                ssd_initial_keys: initial,
                ssd_keys: &temp,
                service,
            };
            let mut r = engine::pre_personalize(&mut rec, &plan, rng);
            if r.ssd_created {
                // The SSD is on the SE: recorded even if its keys cannot be sealed (the TSM
                // then holds none for it, and says so).
                let sealed = seal_with(keys, &key_aad(&input.se.se_id, &ssd_aid), &temp, rng);
                if let Err(e) = &sealed {
                    r.error.get_or_insert_with(|| e.clone());
                }
                outcome.put_sds.push(SecurityDomain {
                    se_id: input.se.se_id.clone(),
                    aid: ssd_aid.clone(),
                    kind: SdKind::SpSd,
                    sp_id: Some(input.sp_id.clone()),
                    keys: sealed.ok(),
                    kvn: temp.kvn,
                    rotated: false,
                });
            }
            (r, ServiceState::Installed, &service.version)
        }
        Operation::ActivateService => (
            engine::activate(&mut rec, m, &instance_aid, rng),
            ServiceState::Active,
            &service.version,
        ),
        Operation::LockService => (
            engine::set_locked(&mut rec, m, &instance_aid, true, rng),
            ServiceState::Locked,
            &service.version,
        ),
        Operation::UnlockService => (
            engine::set_locked(&mut rec, m, &instance_aid, false, rng),
            ServiceState::Active,
            &service.version,
        ),
        Operation::RenewService => {
            let Some(old) = &input.old_service else {
                return (outcome, Err(TsmError::UnknownService));
            };
            // The instance on the SE is the stored one, whatever the catalogue says now.
            let old = CatalogueEntry {
                instance_aid: instance_aid.clone(),
                ..old.clone()
            };
            let r = engine::renew(&mut rec, m, &ssd_aid, &old, service, rng);
            let v = if r.compensated {
                &input
                    .old_service
                    .as_ref()
                    .map_or(&service.version, |o| &o.version)
            } else {
                &service.version
            };
            (r, ServiceState::Installed, v)
        }
        Operation::DeleteService => (
            engine::delete_service(&mut rec, m, &instance_aid, rng),
            ServiceState::Deleted,
            &service.version,
        ),
    };
    outcome.audit = rec.into_entries();
    // Nothing on the SE changed: no command that changes it succeeded, or the flow undid
    // what it did (a PrePersonalize's compensation).
    let changed = report.steps.iter().any(|s| {
        s.outcome == "done" && s.name != "eligibility" && !s.name.starts_with("compensate:")
    });
    let undone =
        input.op == Operation::PrePersonalize && !report.ssd_created && report.remaining.is_empty();
    let state = match &report.error {
        None => done_state,
        Some(_) if input.op == Operation::RenewService && report.compensated => {
            ServiceState::Installed
        }
        // The service is as before; a new one stays absent, a queued one shows why it failed.
        Some(_) if !changed || undone => match (&input.instance, input.had_row) {
            (Some(i), _) => i.state,
            (None, true) => ServiceState::Failed,
            (None, false) => ServiceState::Deleted,
        },
        Some(_) => ServiceState::Failed,
    };
    let keep_absent =
        !input.had_row && state == ServiceState::Deleted && input.op == Operation::PrePersonalize;
    let inst = ServiceInstance {
        se_id: input.se.se_id.clone(),
        sp_id: input.sp_id.clone(),
        service_id: input.req.service_id.clone(),
        qualifier: input.req.service_qualifier.clone(),
        version: version.to_string(),
        instance_aid: if input.op == Operation::RenewService
            && !report.compensated
            && report.error.is_none()
        {
            service.instance_aid.clone()
        } else {
            instance_aid
        },
        ssd_aid,
        state,
        detail: to_json(&report.steps),
        updated_at: now,
    };
    if !keep_absent {
        outcome.instance = Some(inst.clone());
    }
    let result = match report.error {
        None => Ok(status_of(&inst, None)),
        Some(e) => Err(e),
    };
    (outcome, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_machine() {
        use Operation::*;
        use ServiceState::*;
        assert!(check_transition(PrePersonalize, None).is_ok());
        assert!(check_transition(PrePersonalize, Some(Deleted)).is_ok());
        assert!(check_transition(PrePersonalize, Some(Active)).is_err());
        assert_eq!(
            check_transition(ActivateService, None),
            Err(TsmError::UnknownService)
        );
        assert!(check_transition(ActivateService, Some(Installed)).is_ok());
        assert!(check_transition(ActivateService, Some(Active)).is_err());
        assert!(check_transition(LockService, Some(Active)).is_ok());
        assert!(check_transition(UnlockService, Some(Active)).is_err());
        assert!(check_transition(RenewService, Some(Locked)).is_ok());
        assert!(check_transition(DeleteService, Some(Failed)).is_ok());
        assert!(check_transition(DeleteService, Some(Deleted)).is_err());
        let e = check_transition(LockService, Some(Installed)).unwrap_err();
        assert_eq!((e.http_status(), e.code()), (409, "invalidServiceState"));
    }

    #[test]
    fn scripts_reach_only_the_sps_objects() {
        let sd = SecurityDomain {
            se_id: "se".into(),
            aid: ssd_aid_for("bank"),
            kind: SdKind::SpSd,
            sp_id: Some("bank".into()),
            keys: None,
            kvn: 0x30,
            rotated: false,
        };
        let app = vec![0xF0, 1, 2, 3, 4];
        let select = |aid: &[u8]| Command::with_data(0x00, 0xA4, 0x04, 0x00, aid.to_vec());
        let ok = |c: Command| check_script_targets(&[c], std::slice::from_ref(&sd), &[app.clone()]);
        assert!(ok(select(&sd.aid)).is_ok());
        assert!(ok(select(&app)).is_ok());
        assert!(ok(Command::new(0x84, 0xE2, 0x90, 0x00)).is_ok());
        // Another SP's SSD and an AID that exists nowhere are refused alike.
        let other = ok(select(&ssd_aid_for("transit"))).unwrap_err();
        assert_eq!(other, ok(select(&[0xA0; 8])).unwrap_err());
        assert_eq!(other.code(), "malformedRequest");
        assert!(ok(Command::with_data(0x00, 0xA4, 0x00, 0x00, vec![0x3F, 0x00])).is_err());
        // No logical channels of the SP's own: MANAGE CHANNEL, channel bits, further channels.
        assert!(ok(Command::new(0x00, 0x70, 0x00, 0x00)).is_err());
        assert!(ok(Command::new(0x81, 0xCA, 0x00, 0xE0)).is_err());
        assert!(ok(Command::new(0xC0, 0xCA, 0x00, 0xE0)).is_err());
        assert!(ok(Command::new(0xA0, 0xCA, 0x00, 0xE0)).is_err());
    }

    #[test]
    fn ssd_aids_are_per_sp() {
        let a = ssd_aid_for("bank");
        assert_eq!(a.len(), 15);
        assert_eq!(&a[..7], &[0xA0, 0x00, 0x00, 0x01, 0x51, 0x53, 0x53]);
        assert_ne!(a, ssd_aid_for("transit"));
    }

    #[test]
    fn rotation_is_a_successful_put_key_of_the_held_set() {
        let put = |p1: u8, kvn: u8| Command::with_data(0x80, 0xD8, p1, 0x81, vec![kvn, 0x88]);
        let cmds = [
            Command::new(0x80, 0xCA, 0x00, 0xE0),
            put(0x30, 0x31),
            put(0x20, 0x21),
        ];
        let targets = put_key_targets(&cmds, 0x30);
        assert_eq!(targets, [(1, 0x31)]);
        let resp = |r: &[&str]| ProcessScriptResponse {
            responses: r.iter().map(|s| s.to_string()).collect(),
            failed: vec![],
        };
        assert_eq!(
            rotated_to(&targets, &resp(&["E0009000", "0031AABBCC9000"])),
            Some(0x31)
        );
        assert_eq!(rotated_to(&targets, &resp(&["E0009000", "6982"])), None);
        assert_eq!(rotated_to(&targets, &resp(&["E0009000"])), None);
    }
}
