//! The GlobalPlatform side of the TSM, sans-I/O over an [`apdu::CardTransport`]: secure channel
//! to a security domain (SCP03 or SCP02, GP CS v2.3.1 Annex E / Amendment D), the eligibility
//! check, and the command sequences of every flow. Every command sent is recorded for the
//! audit log ([`Recorder`]).
//!
//! * All card content management goes through the *manager* SD (the central SD with
//!   Authorized Management, or the ISD), in a secure channel with C-MAC + C-DECRYPTION, plus
//!   R-MAC where the protocol's "i" allows it (SCP03 i = '70' does, SCP02 i = '15' does not).
//!   SCP03 for AES key sets, SCP02 for DES ones ([`KeySetRecord::scp`]).
//! * Flows never panic and record every step in [`FlowReport::steps`] (stored as the
//!   instance's detail): one step per command, `done` or `failed` (with the status word), and
//!   `compensate:<step>` for the undo of `<step>` after a failure.
//! * The host end of the secure channel is [`gp::host::SdLink`], over the [`Recorder`].
//! * Over the OTA platform ([`SeChannel::Ram`]) the bearer secures the commands (SCP80, or
//!   SCP81) and addresses the SD by its TAR: Remote Application Management (ETSI TS 102 226
//!   §8), where the card runs the commands as in an authenticated session with that SD. The
//!   TSM then neither selects nor opens a GP secure channel; PUT KEY values are encrypted
//!   under the SD's static DEK (an AES key set's Key-DEK, Amd D §6.2.8).

use apdu::{ApduError, CardTransport, Command, StatusWord, TransportError};
use gp::commands::{
    self, put_key_command, Delete, Install, InstallParameters, RegistryEntry, SetStatus,
    StatusSubset,
};
use gp::host::{ChannelParams, HostError, SdLink};
use gp::{Dek, KeyType, KeyUsage, PutKeyData, SecurityLevel};
use rand_core::CryptoRng;

use crate::api::{FailedCommand, ProcessScriptResponse, Step};
use crate::error::{Result, TsmError};
use crate::model::{AuditEntry, CatalogueEntry, KeySetRecord, UnixMillis};

/// Who and what the recorded commands belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    pub se_id: String,
    pub sp_id: Option<String>,
    pub conversation_id: Option<String>,
    pub operation: String,
    pub now: UnixMillis,
}

/// Remote Application Management through the OTA platform (ETSI TS 102 226 §8): the bearer
/// (SCP80 over SMS, or SCP81) secures each script and delivers it to the security domain its
/// TAR names ([`tar_of`]); the card runs a script's commands in one context and stops after
/// the first that fails (§5.2.1).
pub trait RamTransport {
    /// Runs one script of short C-APDUs on the SD `sd_aid`; returns the R-APDUs
    /// (`data || SW1 SW2`) of the commands executed, in order.
    fn run_script(
        &mut self,
        sd_aid: &[u8],
        c_apdus: &[&[u8]],
    ) -> std::result::Result<Vec<Vec<u8>>, TransportError>;
}

/// How the TSM reaches an SE.
pub enum SeChannel {
    /// A card channel (PC/SC, vpcd, in-process): the TSM selects SDs and opens SCP02/SCP03.
    Direct(Box<dyn CardTransport + Send>),
    /// The OTA platform: commands go to an SD by TAR, secured by the bearer.
    Ram(Box<dyn RamTransport + Send>),
}

/// The TAR of a security domain (ETSI TS 101 220 Annex D: '000000' is the ISD's; §6: another
/// application's TAR is bytes 13 to 15 of its AID).
pub fn tar_of(sd_aid: &[u8], isd_aid: &[u8]) -> Option<[u8; 3]> {
    if sd_aid == isd_aid {
        return Some([0, 0, 0]);
    }
    sd_aid.get(12..15)?.try_into().ok()
}

enum Path<'a> {
    Direct(&'a mut dyn CardTransport),
    Ram(&'a mut dyn RamTransport),
}

/// A card transport that records every command and response as an [`AuditEntry`].
pub struct Recorder<'a> {
    transport: Path<'a>,
    ctx: AuditContext,
    /// The SD the following commands are addressed to (set by the flows).
    pub sd_aid: Vec<u8>,
    entries: Vec<AuditEntry>,
}

impl<'a> Recorder<'a> {
    pub fn new(transport: &'a mut dyn CardTransport, ctx: AuditContext) -> Recorder<'a> {
        Recorder {
            transport: Path::Direct(transport),
            ctx,
            sd_aid: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// A recorder over either kind of [`SeChannel`].
    pub fn over(channel: &'a mut SeChannel, ctx: AuditContext) -> Recorder<'a> {
        let transport = match channel {
            SeChannel::Direct(t) => Path::Direct(&mut **t),
            SeChannel::Ram(t) => Path::Ram(&mut **t),
        };
        Recorder {
            transport,
            ctx,
            sd_aid: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// Whether the bearer secures the commands and addresses SDs itself.
    pub fn is_ram(&self) -> bool {
        matches!(self.transport, Path::Ram(_))
    }

    /// The recorded entries (ids 0; the store assigns them).
    pub fn into_entries(self) -> Vec<AuditEntry> {
        self.entries
    }

    fn record(&mut self, command: &[u8], response: Vec<u8>) {
        self.entries.push(AuditEntry {
            id: 0,
            at: self.ctx.now,
            se_id: self.ctx.se_id.clone(),
            sp_id: self.ctx.sp_id.clone(),
            conversation_id: self.ctx.conversation_id.clone(),
            operation: self.ctx.operation.clone(),
            sd_aid: self.sd_aid.clone(),
            command: command.to_vec(),
            response,
        });
    }

    /// Over RAM: runs `c_apdus` as one script on the current SD; every command is recorded,
    /// those the card did not reach with an empty response.
    fn ram_script(
        &mut self,
        c_apdus: &[&[u8]],
    ) -> std::result::Result<Vec<Vec<u8>>, TransportError> {
        let Path::Ram(t) = &mut self.transport else {
            return Err(TransportError::Other("not a RAM bearer".into()));
        };
        let r = t.run_script(&self.sd_aid, c_apdus);
        let answered = r.as_ref().map_or(&[][..], Vec::as_slice);
        for (i, c) in c_apdus.iter().enumerate() {
            let response = answered.get(i).cloned().unwrap_or_default();
            self.record(c, response);
        }
        r
    }
}

impl CardTransport for Recorder<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> std::result::Result<Vec<u8>, apdu::TransportError> {
        let r = match &mut self.transport {
            Path::Direct(t) => t.transmit(apdu),
            // One command, one script.
            Path::Ram(_) => {
                return match <[Vec<u8>; 1]>::try_from(self.ram_script(&[apdu])?) {
                    Ok([one]) => Ok(one),
                    Err(r) => Err(TransportError::Other(format!(
                        "{} R-APDUs for one command",
                        r.len()
                    ))),
                }
            }
        };
        self.record(apdu, r.as_ref().cloned().unwrap_or_default());
        r
    }
}

/// A security domain the TSM can open a secure channel with.
#[derive(Debug, Clone)]
pub struct SdAccess {
    pub aid: Vec<u8>,
    pub keys: KeySetRecord,
}

/// What PrePersonalize does: (1) create the SP's SSD (unless it exists) and put the temporary
/// keys in it, (2) instantiate the preloaded package, (3) extradite the instance to the SSD.
#[derive(Debug, Clone)]
pub struct PrePersonalization<'a> {
    pub manager: &'a SdAccess,
    pub ssd_aid: &'a [u8],
    /// `false` when the SP's SSD already exists on the SE.
    pub create_ssd: bool,
    /// The keys a new SSD has after INSTALL (the SE's card-type data).
    pub ssd_initial_keys: &'a KeySetRecord,
    /// The temporary keys the TSM puts into the new SSD (PUT KEY).
    pub ssd_keys: &'a KeySetRecord,
    pub service: &'a CatalogueEntry,
}

/// What a flow did on the SE.
#[derive(Debug, Clone, Default)]
pub struct FlowReport {
    pub steps: Vec<Step>,
    /// The failure, if the flow did not complete (after any compensation).
    pub error: Option<TsmError>,
    /// PrePersonalize: the SSD was created by this flow (and still exists).
    pub ssd_created: bool,
    /// RenewService: a failure was compensated (the previous version is installed again).
    pub compensated: bool,
    /// After a failure: the AIDs this flow created that are still on the SE (its compensation
    /// failed or could not run).
    pub remaining: Vec<Vec<u8>>,
}

/// Where ProcessScript commands go.
#[derive(Debug, Clone)]
pub enum ScriptTarget<'a> {
    /// The TSM holds the SD's keys: it opens a secure channel and wraps each command.
    Keys(&'a SdAccess),
    /// The SP protects its commands itself: relayed as they are (after SELECT of the SD on the
    /// conversation's first script).
    PreProtected { aid: &'a [u8], select: bool },
}

/// The security domain load file and module new SSDs are instantiated from (the GP SSD
/// package as deployed on cards, `A0000001515350` / `A000000151535041`).
pub const SSD_PACKAGE_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x53, 0x50];
/// The security domain module in [`SSD_PACKAGE_AID`].
pub const SSD_MODULE_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x53, 0x50, 0x41];
/// Privileges of a new SSD: Security Domain only (GP CS v2.3.1 §11.1.2, byte 1 b8); it
/// manages its own applications, the TSM keeps Authorized Management.
pub const SSD_PRIVILEGES: [u8; 3] = [0x80, 0x00, 0x00];

/// SET STATUS P1 for an application or SD (GP CS v2.3.1 §11.10.2.1).
const STATUS_TYPE_APP: u8 = 0x40;
/// SET STATUS P2 (GP CS v2.3.1 §11.10.2.2 with the life cycle coding of §11.1.1): b8 set =
/// LOCKED; with b8 clear, a LOCKED application returns to the state it was locked in (§5.3).
const STATE_LOCKED: u8 = 0x80;
const STATE_UNLOCK: u8 = 0x00;

/// The level the TSM asks for; R-MAC is added where the card's "i" supports it.
const LEVEL: SecurityLevel = SecurityLevel::C_DEC_C_MAC;
const PREFERRED: [SecurityLevel; 1] = [SecurityLevel::C_DEC_C_MAC_R_MAC];

type Link<'r, 'a> = SdLink<&'r mut Recorder<'a>>;

/// A [`HostError`] as the TSM reports it.
pub fn host_error(e: HostError) -> TsmError {
    match e {
        HostError::Card { what, sw } => TsmError::Se { step: what, sw },
        HostError::Apdu(ApduError::Transport(t)) => TsmError::Unreachable(t.to_string()),
        HostError::Apdu(ApduError::UnexpectedResponse(m)) => {
            TsmError::Unreachable(format!("malformed answer from the SE: {m}"))
        }
        e @ (HostError::Auth(_) | HostError::Routed { .. }) => {
            TsmError::SecureChannel(e.to_string())
        }
        e => TsmError::Internal(format!("GlobalPlatform: {e}")),
    }
}

fn internal(what: &str) -> impl Fn(gp::GpError) -> TsmError + '_ {
    move |e| TsmError::Internal(format!("{what}: {e}"))
}

fn hx(b: &[u8]) -> String {
    hex::encode_upper(b)
}

fn done(name: &str, reason: Option<String>) -> Step {
    Step {
        name: name.to_string(),
        outcome: "done".into(),
        sw: None,
        reason,
    }
}

fn failed(name: &str, e: &TsmError) -> Step {
    Step {
        name: name.to_string(),
        outcome: "failed".into(),
        sw: e.sw().map(|sw| format!("{:04X}", sw.0)),
        reason: Some(e.to_string()),
    }
}

/// The steps of a flow as they happen.
#[derive(Default)]
struct Steps(Vec<Step>);

impl Steps {
    /// Records `r` as step `name` and passes it on.
    fn record<T>(&mut self, name: &str, r: Result<T>) -> Result<T> {
        self.record_with(name, None, r)
    }

    fn record_with<T>(&mut self, name: &str, reason: Option<String>, r: Result<T>) -> Result<T> {
        match &r {
            Ok(_) => self.0.push(done(name, reason)),
            Err(e) => self.0.push(failed(name, e)),
        }
        r
    }
}

/// SELECT of `sd` and a secure channel with its keys; the recorder notes `sd` for the
/// commands that follow. Over RAM the bearer addresses and secures: nothing is sent.
fn open<'r, 'a>(
    rec: &'r mut Recorder<'a>,
    sd: &SdAccess,
    rng: &mut dyn CryptoRng,
) -> Result<Link<'r, 'a>> {
    rec.sd_aid = sd.aid.clone();
    if rec.is_ram() {
        return Ok(SdLink::new(rec));
    }
    let keys = sd.keys.key_set()?;
    let params = ChannelParams::for_key_set(&keys, LEVEL);
    let mut link = SdLink::new(rec);
    link.select(&sd.aid).map_err(host_error)?;
    link.open_preferring(&params, &PREFERRED, rng)
        .map_err(host_error)?;
    Ok(link)
}

/// [`open`], recording a failure as step "openChannel".
fn open_step<'r, 'a>(
    rec: &'r mut Recorder<'a>,
    sd: &SdAccess,
    rng: &mut dyn CryptoRng,
    steps: &mut Steps,
) -> Result<Link<'r, 'a>> {
    open(rec, sd, rng).inspect_err(|e| steps.0.push(failed("openChannel", e)))
}

fn send_ok(link: &mut Link<'_, '_>, cmd: &Command, what: &str) -> Result<Vec<u8>> {
    link.send_ok(cmd, what).map_err(host_error)
}

/// The registry entry with exactly this AID, if the manager sees one (GET STATUS with the
/// AID as search qualifier, GP CS v2.3.1 §11.4.2.1).
fn registry_entry(
    link: &mut Link<'_, '_>,
    subset: StatusSubset,
    aid: &[u8],
) -> Result<Option<RegistryEntry>> {
    let entries = link.get_status(subset, aid).map_err(host_error)?;
    Ok(entries.into_iter().find(|e| e.aid == aid))
}

/// Free non-volatile memory from GET DATA 'FF21' (Extended Card Resources Information,
/// ETSI TS 102 226 §8.2.1.7.2): '82' free non-volatile memory, big-endian.
fn free_memory(link: &mut Link<'_, '_>) -> Result<Option<u64>> {
    let Some(data) = link
        .get_data(commands::tags::EXTENDED_CARD_RESOURCES)
        .map_err(host_error)?
    else {
        return Ok(None);
    };
    let v = gp::host::find_path(&data, &[0xFF21, 0x82]);
    Ok(v.filter(|v| !v.is_empty() && v.len() <= 8)
        .map(|v| v.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b))))
}

/// The eligibility checks on an open manager session; `NotEligible` says which failed.
fn eligibility(link: &mut Link<'_, '_>, service: &CatalogueEntry) -> Result<()> {
    let need = u64::from(service.memory);
    match free_memory(link)? {
        Some(free) if free >= need => {}
        // The free amount stays in the audit log (the GET DATA answer): it would tell an SP
        // about the other SPs' content.
        Some(_) => {
            return Err(TsmError::NotEligible(format!(
                "insufficient memory: the service needs {need} bytes"
            )))
        }
        None => {
            return Err(TsmError::NotEligible(
                "the SE does not report its free memory (GET DATA 'FF21')".into(),
            ))
        }
    }
    // Load files with their modules ('10'); a card without that subset answers '6A86'.
    let package = match registry_entry(
        link,
        StatusSubset::LoadFilesAndModules,
        &service.package_aid,
    ) {
        Err(TsmError::Se { sw, .. })
            if sw == StatusWord::INCORRECT_P1_P2 || sw == StatusWord::WRONG_P1_P2 =>
        {
            registry_entry(link, StatusSubset::LoadFiles, &service.package_aid)?
        }
        r => r?,
    };
    let Some(package) = package else {
        return Err(TsmError::NotEligible(format!(
            "package {} not on the SE",
            hx(&service.package_aid)
        )));
    };
    if !package.modules.is_empty() && !package.modules.contains(&service.module_aid) {
        return Err(TsmError::NotEligible(format!(
            "module {} not in package {} on the SE",
            hx(&service.module_aid),
            hx(&service.package_aid)
        )));
    }
    if registry_entry(link, StatusSubset::Applications, &service.instance_aid)?.is_some() {
        return Err(TsmError::NotEligible(format!(
            "instance {} already on the SE",
            hx(&service.instance_aid)
        )));
    }
    Ok(())
}

/// Eligibility before an install: free non-volatile memory (GET DATA 'FF21', tag '82') covers
/// `service.memory`, the package is on the SE and the instance AID is not (GET STATUS).
pub fn check_eligibility(
    rec: &mut Recorder<'_>,
    manager: &SdAccess,
    service: &CatalogueEntry,
    rng: &mut dyn CryptoRng,
) -> Result<Vec<Step>> {
    let mut steps = Steps::default();
    let mut link = open(rec, manager, rng)?;
    steps.record("eligibility", eligibility(&mut link, service))?;
    Ok(steps.0)
}

/// INSTALL [for install] (P1 '04') or [for install and make selectable] ('0C') of a service
/// (GP CS v2.3.1 §11.5.2.3.2): privileges (default '00'), install parameters 'C9' and, when
/// the service states its memory, the non-volatile memory quota 'EF' { 'C8' } (Table 11-49).
fn install_command(service: &CatalogueEntry, make_selectable: bool) -> Result<Command> {
    let privileges = if service.privileges.is_empty() {
        vec![0x00]
    } else {
        service.privileges.clone()
    };
    let parameters = InstallParameters {
        application_specific: service.install_params.clone(),
        non_volatile_quota: (service.memory > 0).then_some(service.memory),
        ..InstallParameters::default()
    }
    .encode();
    Install::ForInstall {
        make_selectable,
        load_file_aid: service.package_aid.clone(),
        module_aid: service.module_aid.clone(),
        application_aid: service.instance_aid.clone(),
        privileges,
        parameters,
        token: Vec::new(),
    }
    .command()
    .map_err(internal("INSTALL"))
}

/// INSTALL [for extradition] (GP CS v2.3.1 §11.5.2.3.4) of `aid` to `sd`.
fn extradite_command(sd: &[u8], aid: &[u8]) -> Result<Command> {
    Install::ForExtradition {
        security_domain_aid: sd.to_vec(),
        application_aid: aid.to_vec(),
        parameters: Vec::new(),
        token: Vec::new(),
    }
    .command()
    .map_err(internal("INSTALL"))
}

/// DELETE of `aid` alone (GP CS v2.3.1 §11.2.2: P2 '00', not its related objects).
fn delete_command(aid: &[u8]) -> Command {
    Delete {
        aid: aid.to_vec(),
        related_objects: false,
    }
    .command()
}

/// PUT KEY replacing `sd`'s key set with `new` (GP CS v2.3.1 §11.8): the keys encrypted
/// under the session's DEK (over RAM: the static Key-DEK of `sd`'s AES key set, SCP03 Amd D
/// §6.2.8; an SCP02 session DEK exists only inside a GP session), the answer's KVN and key
/// check values checked.
fn put_keys(
    link: &mut Link<'_, '_>,
    sd: &SdAccess,
    new: &KeySetRecord,
    rng: &mut dyn CryptoRng,
) -> Result<()> {
    let keys = new.key_set()?;
    let dek = match link.session() {
        Some(s) => s.dek().clone(),
        None => {
            let current = sd.keys.key_set()?;
            if current.key_type() != KeyType::Aes {
                return Err(TsmError::NotSupported(
                    "PUT KEY over the OTA bearer into an SD with a DES (SCP02) key set: its key encryption key is an SCP02 session key".into(),
                ));
            }
            Dek::aes(current.dek().expose()).map_err(internal("DEK"))?
        }
    };
    let replace_kvn = sd.keys.kvn;
    let data = PutKeyData::for_key_set(&keys, &dek, rng).map_err(internal("PUT KEY"))?;
    let cmd =
        put_key_command(replace_kvn, gp::keys::KEY_ID_ENC, &data).map_err(internal("PUT KEY"))?;
    let answer = send_ok(link, &cmd, "PUT KEY")?;
    // The response: the new KVN and each key's check value (GP CS v2.3.1 §11.8.3.1).
    let mut expected = vec![keys.kvn()];
    for usage in [KeyUsage::Enc, KeyUsage::Mac, KeyUsage::Dek] {
        expected.extend_from_slice(&keys.kcv(usage).map_err(internal("KCV"))?);
    }
    if answer != expected {
        return Err(TsmError::SecureChannel(format!(
            "PUT KEY answered {}, expected KVN and KCVs {}",
            hx(&answer),
            hx(&expected)
        )));
    }
    Ok(())
}

/// What a PrePersonalize run has created so far.
#[derive(Default)]
struct Created {
    ssd: bool,
    instance: bool,
}

/// PrePersonalize on the manager SD: steps "eligibility", then (with `create_ssd`)
/// "createSsd" (INSTALL [for install and make selectable] of [`SSD_MODULE_AID`] with
/// [`SSD_PRIVILEGES`]) and "putKeys" (a session with the new SSD under `ssd_initial_keys`,
/// PUT KEY replacing that set with `ssd_keys`, KCVs checked), "install" (INSTALL [for
/// install], state INSTALLED) and "extradite" (INSTALL [for extradition] to the SSD). A
/// failure after something was created is compensated: "compensate:install" (DELETE of the
/// instance), then "compensate:createSsd" (DELETE of the SSD). A failure to open a session
/// is step "openChannel". `ssd_created` tells whether the SSD this flow created is still
/// there; `remaining` lists what the compensation could not remove.
pub fn pre_personalize(
    rec: &mut Recorder<'_>,
    plan: &PrePersonalization<'_>,
    rng: &mut dyn CryptoRng,
) -> FlowReport {
    let mut steps = Steps::default();
    let mut created = Created::default();
    let r = pre_personalize_steps(rec, plan, rng, &mut steps, &mut created);
    let mut report = FlowReport::default();
    if let Err(e) = r {
        // Undo what this flow created: the instance, then the SSD (GP CS §11.2: an SD with
        // associated objects cannot be deleted).
        if created.instance || created.ssd {
            // A failure to open is recorded as step "openChannel".
            if let Ok(mut link) = open_step(rec, plan.manager, rng, &mut steps) {
                let aid = &plan.service.instance_aid;
                if created.instance {
                    let r = send_ok(&mut link, &delete_command(aid), "DELETE instance");
                    let reason = Some(format!("DELETE {}", hx(aid)));
                    if steps.record_with("compensate:install", reason, r).is_ok() {
                        created.instance = false;
                    }
                }
                if created.ssd && !created.instance {
                    let r = send_ok(&mut link, &delete_command(plan.ssd_aid), "DELETE SSD");
                    let reason = Some(format!("DELETE {}", hx(plan.ssd_aid)));
                    if steps.record_with("compensate:createSsd", reason, r).is_ok() {
                        created.ssd = false;
                    }
                }
            }
        }
        if created.instance {
            report.remaining.push(plan.service.instance_aid.clone());
        }
        if created.ssd {
            report.remaining.push(plan.ssd_aid.to_vec());
        }
        report.error = Some(e);
    }
    report.ssd_created = created.ssd;
    report.steps = steps.0;
    report
}

fn pre_personalize_steps(
    rec: &mut Recorder<'_>,
    plan: &PrePersonalization<'_>,
    rng: &mut dyn CryptoRng,
    steps: &mut Steps,
    created: &mut Created,
) -> Result<()> {
    let svc = plan.service;
    let mut link = open_step(rec, plan.manager, rng, steps)?;
    steps.record("eligibility", eligibility(&mut link, svc))?;
    if plan.create_ssd {
        // INSTALL [for install and make selectable] of the SD module (GP CS v2.3.1 §11.5: an
        // SSD is installed like an application, with the Security Domain privilege); it must
        // be selectable to receive PUT KEY and extradited applications.
        let cmd = Install::ForInstall {
            make_selectable: true,
            load_file_aid: SSD_PACKAGE_AID.to_vec(),
            module_aid: SSD_MODULE_AID.to_vec(),
            application_aid: plan.ssd_aid.to_vec(),
            privileges: SSD_PRIVILEGES.to_vec(),
            parameters: InstallParameters::default().encode(),
            token: Vec::new(),
        }
        .command()
        .map_err(internal("INSTALL"))?;
        let r = send_ok(
            &mut link,
            &cmd,
            "INSTALL [for install and make selectable] SSD",
        );
        steps.record_with("createSsd", Some(hx(plan.ssd_aid)), r)?;
        created.ssd = true;
        drop(link);
        // The new SSD, with the SE's initial keys: replace them with the temporary keys.
        let initial = SdAccess {
            aid: plan.ssd_aid.to_vec(),
            keys: plan.ssd_initial_keys.clone(),
        };
        let mut ssd = match open(rec, &initial, rng) {
            Ok(l) => l,
            Err(e) => return steps.record("putKeys", Err(e)),
        };
        let r = put_keys(&mut ssd, &initial, plan.ssd_keys, rng);
        steps.record_with("putKeys", Some(format!("KVN {:02X}", plan.ssd_keys.kvn)), r)?;
        drop(ssd);
        link = open_step(rec, plan.manager, rng, steps)?;
    }
    // The instance, not selectable yet (INSTALLED): the SP personalizes it first.
    let cmd = install_command(svc, false)?;
    let r = send_ok(&mut link, &cmd, "INSTALL [for install]");
    steps.record_with("install", Some(hx(&svc.instance_aid)), r)?;
    created.instance = true;
    let cmd = extradite_command(plan.ssd_aid, &svc.instance_aid)?;
    let r = send_ok(&mut link, &cmd, "INSTALL [for extradition]");
    steps.record_with("extradite", Some(hx(plan.ssd_aid)), r)?;
    Ok(())
}

/// Runs a one-command flow on the manager SD.
fn manager_flow(
    rec: &mut Recorder<'_>,
    manager: &SdAccess,
    rng: &mut dyn CryptoRng,
    f: impl FnOnce(&mut Link<'_, '_>, &mut Steps) -> Result<()>,
) -> FlowReport {
    let mut steps = Steps::default();
    let r = open_step(rec, manager, rng, &mut steps).and_then(|mut link| f(&mut link, &mut steps));
    FlowReport {
        steps: steps.0,
        error: r.err(),
        ..FlowReport::default()
    }
}

/// INSTALL [for make selectable] of the instance (GP CS v2.3.1 §11.5.2.3.3), with the
/// privileges it has (read with GET STATUS).
pub fn activate(
    rec: &mut Recorder<'_>,
    manager: &SdAccess,
    instance_aid: &[u8],
    rng: &mut dyn CryptoRng,
) -> FlowReport {
    manager_flow(rec, manager, rng, |link, steps| {
        let entry = match registry_entry(link, StatusSubset::Applications, instance_aid) {
            Ok(Some(e)) => e,
            Ok(None) => {
                let e = TsmError::Se {
                    step: format!("GET STATUS of {}", hx(instance_aid)),
                    sw: StatusWord::REFERENCED_DATA_NOT_FOUND,
                };
                return steps.record("makeSelectable", Err(e));
            }
            Err(e) => return steps.record("makeSelectable", Err(e)),
        };
        let cmd = Install::ForMakeSelectable {
            application_aid: instance_aid.to_vec(),
            privileges: entry.privileges,
            parameters: Vec::new(),
            token: Vec::new(),
        }
        .command()
        .map_err(internal("INSTALL"))?;
        let r = send_ok(link, &cmd, "INSTALL [for make selectable]");
        steps.record("makeSelectable", r).map(drop)
    })
}

/// SET STATUS of the application: lock (`lock`) or unlock (GP CS v2.3.1 §11.10).
pub fn set_locked(
    rec: &mut Recorder<'_>,
    manager: &SdAccess,
    instance_aid: &[u8],
    lock: bool,
    rng: &mut dyn CryptoRng,
) -> FlowReport {
    manager_flow(rec, manager, rng, |link, steps| {
        let (state, name) = if lock {
            (STATE_LOCKED, "lock")
        } else {
            (STATE_UNLOCK, "unlock")
        };
        let cmd = SetStatus {
            status_type: STATUS_TYPE_APP,
            state,
            aid: instance_aid.to_vec(),
        }
        .command();
        let r = send_ok(link, &cmd, &format!("SET STATUS 40 {state:02X}"));
        steps.record(name, r).map(drop)
    })
}

/// DELETE of `aid`; an AID the card does not know (`6A88`) counts as deleted.
fn delete_instance(
    link: &mut Link<'_, '_>,
    aid: &[u8],
    steps: &mut Steps,
    name: &str,
) -> Result<()> {
    match link.send(&delete_command(aid)).map_err(host_error)? {
        r if r.sw == StatusWord::OK => {
            steps.0.push(done(name, Some(hx(aid))));
            Ok(())
        }
        r if r.sw == StatusWord::REFERENCED_DATA_NOT_FOUND => {
            steps
                .0
                .push(done(name, Some(format!("{} was not on the SE", hx(aid)))));
            Ok(())
        }
        r => steps.record(
            name,
            Err(TsmError::Se {
                step: "DELETE".into(),
                sw: r.sw,
            }),
        ),
    }
}

/// RenewService steps 2-5: delete the old instance (and its data), eligibility for `new`,
/// install + make selectable, extradite to the SSD. A failure after the deletion is
/// compensated by installing `old` again into the SSD (state INSTALLED): steps
/// "compensate:install" (DELETE of the new instance, if it was installed) and
/// "compensate:delete" (INSTALL [for install] and [for extradition] of `old`).
pub fn renew(
    rec: &mut Recorder<'_>,
    manager: &SdAccess,
    ssd_aid: &[u8],
    old: &CatalogueEntry,
    new: &CatalogueEntry,
    rng: &mut dyn CryptoRng,
) -> FlowReport {
    let mut steps = Steps::default();
    let mut old_deleted = false;
    let mut new_installed = false;
    let r = (|| -> Result<()> {
        let mut link = open_step(rec, manager, rng, &mut steps)?;
        delete_instance(&mut link, &old.instance_aid, &mut steps, "delete")?;
        old_deleted = true;
        steps.record("eligibility", eligibility(&mut link, new))?;
        let cmd = install_command(new, true)?;
        let r = send_ok(&mut link, &cmd, "INSTALL [for install and make selectable]");
        steps.record_with(
            "install",
            Some(format!("{} version {}", hx(&new.instance_aid), new.version)),
            r,
        )?;
        new_installed = true;
        let cmd = extradite_command(ssd_aid, &new.instance_aid)?;
        let r = send_ok(&mut link, &cmd, "INSTALL [for extradition]");
        steps.record_with("extradite", Some(hx(ssd_aid)), r)?;
        Ok(())
    })();
    let mut report = FlowReport::default();
    let Err(e) = r else {
        report.steps = steps.0;
        return report;
    };
    if old_deleted {
        let undo = (|| -> Result<()> {
            let mut link = open_step(rec, manager, rng, &mut steps)?;
            if new_installed {
                let r = send_ok(
                    &mut link,
                    &delete_command(&new.instance_aid),
                    "DELETE new instance",
                );
                let reason = Some(format!("DELETE {}", hx(&new.instance_aid)));
                if let Err(e) = steps.record_with("compensate:install", reason, r) {
                    report.remaining.push(new.instance_aid.clone());
                    return Err(e);
                }
            }
            let cmd = install_command(old, false)?;
            let r = send_ok(&mut link, &cmd, "INSTALL [for install] previous version");
            let reason = Some(format!(
                "INSTALL {} version {}",
                hx(&old.instance_aid),
                old.version
            ));
            steps.record_with("compensate:delete", reason, r)?;
            let cmd = extradite_command(ssd_aid, &old.instance_aid)?;
            let r = send_ok(
                &mut link,
                &cmd,
                "INSTALL [for extradition] previous version",
            );
            let reason = Some(format!(
                "extradite {} to {}",
                hx(&old.instance_aid),
                hx(ssd_aid)
            ));
            steps.record_with("compensate:delete", reason, r)?;
            Ok(())
        })();
        report.compensated = undo.is_ok();
    }
    report.steps = steps.0;
    report.error = Some(e);
    report
}

/// DELETE of the instance (GP CS v2.3.1 §11.2); the package and other SPs' content stay. An
/// instance the SE does not have (`6A88`) counts as deleted.
pub fn delete_service(
    rec: &mut Recorder<'_>,
    manager: &SdAccess,
    instance_aid: &[u8],
    rng: &mut dyn CryptoRng,
) -> FlowReport {
    manager_flow(rec, manager, rng, |link, steps| {
        delete_instance(link, instance_aid, steps, "delete")
    })
}

/// ISO/IEC 7816-4 SELECT by DF name (INS 'A4', P1 '04').
fn is_select(cmd: &Command) -> bool {
    cmd.ins == 0xA4 && cmd.p1 == 0x04 && cmd.cla & 0x80 == 0
}

/// Run an SP's script on its SD; stops at the first command whose status is not 9000
/// (`61xx` is completed with GET RESPONSE first), reported in `failed`. Responses are
/// `data || SW` in hex, unwrapped from the secure channel.
///
/// With [`ScriptTarget::Keys`] every command is wrapped in a fresh secure channel with the
/// SD (C-MAC + C-DECRYPTION, R-MAC where supported), except a SELECT by name: it is sent as
/// is and ends the session (GP CS v2.3.1 §10.2.3), the following commands go in clear to what
/// it selected. Commands too long for the channel are refused before anything is sent.
/// With [`ScriptTarget::PreProtected`] the commands are relayed byte for byte.
/// Over RAM ([`SeChannel::Ram`]) every command goes to the target SD's TAR as it is (the
/// bearer secures it; data the SP protected under its SSD's keys stays so), and a SELECT is
/// refused before anything is sent.
pub fn process_script(
    rec: &mut Recorder<'_>,
    target: ScriptTarget<'_>,
    commands: &[Command],
    rng: &mut dyn CryptoRng,
) -> Result<ProcessScriptResponse> {
    if rec.is_ram() {
        rec.sd_aid = match target {
            ScriptTarget::Keys(sd) => sd.aid.clone(),
            ScriptTarget::PreProtected { aid, .. } => aid.to_vec(),
        };
        return ram_process_script(rec, commands);
    }
    let mut out = ProcessScriptResponse {
        responses: Vec::with_capacity(commands.len()),
        failed: Vec::new(),
    };
    let mut link = match target {
        ScriptTarget::Keys(sd) => {
            let link = open(rec, sd, rng)?;
            let max = link.max_data();
            if let Some((i, _)) = commands
                .iter()
                .enumerate()
                .find(|(_, c)| !is_select(c) && c.data.len() > max)
            {
                return Err(TsmError::invalid(
                    "commands",
                    format!("command {i} has more than {max} data bytes, the most the secure channel carries"),
                ));
            }
            link
        }
        ScriptTarget::PreProtected { aid, select } => {
            rec.sd_aid = aid.to_vec();
            let mut link = SdLink::new(rec);
            if select {
                link.select(aid).map_err(host_error)?;
            }
            link
        }
    };
    for (index, cmd) in commands.iter().enumerate() {
        let r = if is_select(cmd) {
            link.close();
            let r = link.send_plain(cmd).map_err(host_error)?;
            link.transport_mut().sd_aid = cmd.data.clone();
            r
        } else {
            link.send(cmd).map_err(host_error)?
        };
        let mut bytes = r.data.clone();
        bytes.extend_from_slice(&r.sw.to_bytes());
        out.responses.push(hx(&bytes));
        if r.sw != StatusWord::OK {
            let command = cmd.encode().map(|c| hx(&c)).unwrap_or_default();
            out.failed.push(FailedCommand {
                index,
                command,
                sw: format!("{:04X}", r.sw.0),
            });
            break;
        }
    }
    Ok(out)
}

/// [`process_script`] over RAM: the whole script in one packet, run by the card in one
/// context (so INSTALL [for personalization] reaches the STORE DATA that follow), stopping
/// after the first failing command (ETSI TS 102 226 §5.2.1).
fn ram_process_script(
    rec: &mut Recorder<'_>,
    commands: &[Command],
) -> Result<ProcessScriptResponse> {
    if let Some(i) = commands.iter().position(is_select) {
        return Err(TsmError::invalid(
            "commands",
            format!("command {i} is a SELECT: over the OTA bearer a script is Remote Application Management of its security domain (ETSI TS 102 226 §8), addressed by TAR"),
        ));
    }
    let encoded = commands
        .iter()
        .map(|c| {
            c.encode()
                .map_err(|e| TsmError::invalid("commands", e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
    let answers = rec
        .ram_script(&refs)
        .map_err(|e| host_error(HostError::from(e)))?;
    let mut out = ProcessScriptResponse {
        responses: Vec::with_capacity(answers.len()),
        failed: Vec::new(),
    };
    for (index, (command, answer)) in encoded.iter().zip(&answers).enumerate() {
        let r = apdu::Response::parse(answer)
            .map_err(|_| TsmError::Unreachable("malformed R-APDU in the PoR".into()))?;
        out.responses.push(hx(answer));
        if r.sw != StatusWord::OK {
            out.failed.push(FailedCommand {
                index,
                command: hx(command),
                sw: format!("{:04X}", r.sw.0),
            });
            return Ok(out);
        }
    }
    if answers.len() != commands.len() {
        return Err(TsmError::Unreachable(format!(
            "the SE ran {} of the script's {} commands without a failure",
            answers.len(),
            commands.len()
        )));
    }
    Ok(out)
}
