//! Card content management on a security domain (GP Card Specification v2.3.1 §11): the
//! command has passed the secure channel (unwrapped); here it is authorized and executed.
//!
//! Authorization: every command here but GET DATA needs a secure channel session with at
//! least C-MAC (`6982`). The ISD has Authorized Management and the global privileges; an SSD
//! manages the objects associated with it, and loads/installs only with Authorized
//! Management or Delegated Management.
//!
//! Delegated Management (GP CS v2.3.1 §9.2.1.4–§9.2.1.6, Annex C.4/C.5, [`::gp::dm`]): an
//! SSD with Delegated Management but without Authorized Management needs a token for INSTALL
//! [for load] (Load Token), [for install], [for make selectable], [for extradition], [for
//! registry update] and DELETE (Delete Token, `'9E'`). The token is an ECDSA P-256 / SHA-256
//! signature (`r || s`) by the card issuer over `P1 P2 Lc' data'` (the command without its
//! token), verified with the ISD's Token Verification key (KVN '70', ISD with the Token
//! Verification privilege). Missing or wrong token, no token key: `6982`, nothing changes.
//! After a delegated load, install, extradition, registry update (with a new SD) or delete,
//! when the ISD has Receipt Generation and a Receipt key (KVN '71'), the response carries a
//! receipt and the confirmation data; the ISD's Confirmation Counter is incremented. Otherwise
//! the response is `'00'`.

use apdu::channel::is_interindustry;
use apdu::{Command, Response, StatusWord};
use sha2::Digest;
use tlv::Tag;

use ::gp::commands::{
    self, Delete, GetStatus, Install, InstallParameters, KeyInformation, RegistryEntry, SetStatus,
    StatusSubset,
};
use ::gp::{dm, Dek, PutKeyData};

use super::cap;
use super::native::Behaviour;
use super::registry::{
    life_cycle, AppRecord, DataFormat, DataObject, HexAid, LoadFileRecord, Privilege, Privileges,
    SdData, StoredKeySet,
};
use super::{card_data, GpChannel, GpState, PendingLoad, PendingStatus, StoreChain};
use crate::routing::GP_ISD_AID;

type CmdResult<T> = Result<T, StatusWord>;

fn sw(e: ::gp::GpError) -> StatusWord {
    e.status_word()
}

/// Executes an unwrapped command for security domain `sd`.
pub(crate) fn execute(
    state: &mut GpState,
    chan: &mut GpChannel,
    sd: &[u8],
    cmd: &Command,
) -> Response {
    let result = match cmd.ins {
        commands::INS_GET_DATA => get_data(state, chan, sd, cmd).map(Response::ok),
        commands::INS_INSTALL
        | commands::INS_LOAD
        | commands::INS_DELETE
        | commands::INS_PUT_KEY
        | commands::INS_SET_STATUS
        | commands::INS_GET_STATUS
        | INS_STORE_DATA => {
            if is_interindustry(cmd.cla) {
                Err(StatusWord::CLA_NOT_SUPPORTED)
            } else {
                managed(state, chan, sd, cmd)
            }
        }
        _ => Err(StatusWord::INS_NOT_SUPPORTED),
    };
    result.unwrap_or_else(Response::status)
}

const INS_STORE_DATA: u8 = 0xE2;

/// Runs `f` on a copy of the state; the copy becomes the state only when `f` succeeds and the
/// result fits the non-volatile budget (`6A84`).
fn atomic<T>(state: &mut GpState, f: impl FnOnce(&mut GpState) -> CmdResult<T>) -> CmdResult<T> {
    let mut work = state.clone();
    let r = f(&mut work)?;
    let used = work.used_memory();
    if used > u64::from(work.config.nv_budget) && used > state.used_memory() {
        return Err(StatusWord::NOT_ENOUGH_MEMORY);
    }
    *state = work;
    Ok(r)
}

fn managed(
    state: &mut GpState,
    chan: &mut GpChannel,
    sd: &[u8],
    cmd: &Command,
) -> CmdResult<Response> {
    // GP CS §10.2 / §11: content management only in an authenticated session with C-MAC.
    let dek: Dek = match chan.session() {
        Some(s) if s.security_level().c_mac() => s.dek().clone(),
        _ => return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
    };
    // GP CS §5.1.1.4: CARD_LOCKED allows the ISD only to unlock/terminate and to read.
    if state.isd_life_cycle == life_cycle::CARD_LOCKED
        && !matches!(cmd.ins, commands::INS_GET_STATUS | commands::INS_SET_STATUS)
    {
        return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
    }
    let ok = |d: Vec<u8>| Response::ok(d);
    match cmd.ins {
        commands::INS_GET_STATUS => get_status(state, chan, sd, cmd),
        commands::INS_INSTALL => install(state, chan, sd, cmd).map(ok),
        commands::INS_LOAD => load(state, chan, cmd).map(ok),
        commands::INS_DELETE => atomic(state, |s| delete(s, sd, cmd)).map(ok),
        commands::INS_SET_STATUS => atomic(state, |s| set_status(s, sd, cmd)).map(ok),
        commands::INS_PUT_KEY => atomic(state, |s| put_key(s, sd, cmd, &dek)).map(ok),
        _ => store_data(state, chan, sd, cmd, &dek).map(ok),
    }
}

/// May `sd` load and install? With Authorized Management: yes (`Ok(false)`, any token is
/// ignored). With Delegated Management: only with a token that verifies over `signed`
/// (`Ok(true)`: a delegated operation). Otherwise, or with a bad token: `6982`.
fn authorize(
    state: &GpState,
    sd: &[u8],
    token: &[u8],
    signed: impl FnOnce() -> CmdResult<Vec<u8>>,
) -> CmdResult<bool> {
    let privs = state.privileges(sd).unwrap_or_default();
    if privs.has(Privilege::AuthorizedManagement) {
        return Ok(false);
    }
    if !privs.has(Privilege::DelegatedManagement) {
        return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
    }
    verify_token(state, token, &signed()?)?;
    Ok(true)
}

/// For operations an SD may do on its own objects (make selectable, extradition, registry
/// update, DELETE): an SD with Delegated Management and without Authorized Management needs a
/// valid token (`Ok(true)`); other SDs are checked by ownership only (`Ok(false)`).
fn delegated_if_needed(
    state: &GpState,
    sd: &[u8],
    token: &[u8],
    signed: impl FnOnce() -> CmdResult<Vec<u8>>,
) -> CmdResult<bool> {
    let privs = state.privileges(sd).unwrap_or_default();
    if privs.has(Privilege::DelegatedManagement) && !privs.has(Privilege::AuthorizedManagement) {
        verify_token(state, token, &signed()?)?;
        return Ok(true);
    }
    Ok(false)
}

/// The data an INSTALL token signs (GP CS Annex C.4).
fn install_signed(cmd: &Command) -> CmdResult<Vec<u8>> {
    Install::parse(cmd)
        .and_then(|i| i.token_data(cmd.p2))
        .map_err(sw)
}

/// Verifies a token with the ISD's Token Verification key: ECDSA P-256 with SHA-256 over
/// `signed`, signature `r || s` (64 bytes). No key, no privilege, no or bad token: `6982`.
fn verify_token(state: &GpState, token: &[u8], signed: &[u8]) -> CmdResult<()> {
    let denied = StatusWord::SECURITY_STATUS_NOT_SATISFIED;
    if !state.isd_privileges.has(Privilege::TokenVerification) || token.is_empty() {
        return Err(denied);
    }
    let point = state.isd_token_key.as_deref().ok_or(denied)?;
    let key = pki::PublicKey::from_sec1(pki::Curve::NistP256, point).map_err(|_| denied)?;
    key.verify(signed, token).map_err(|_| denied)
}

/// The response of a (possibly delegated) operation: `'00'`, or for a delegated one when the
/// ISD has Receipt Generation and a Receipt key, the receipt over the incremented
/// Confirmation Counter, the Card Unique Data and `objects` (GP CS Annex C.5, Table 11-51).
fn confirm(s: &mut GpState, delegated: bool, objects: &[&[u8]]) -> CmdResult<Vec<u8>> {
    let key = match &s.isd_receipt_key {
        Some(k) if delegated && s.isd_privileges.has(Privilege::ReceiptGeneration) => k.clone(),
        _ => return Ok(vec![0x00]),
    };
    let key_type = key.key_type().ok_or(StatusWord::CONDITIONS_NOT_SATISFIED)?;
    // The counter does not wrap (GP CS §9.2.1.6): at its maximum, no more receipts.
    let counter = s
        .confirmation_counter
        .checked_add(1)
        .ok_or(StatusWord::CONDITIONS_NOT_SATISFIED)?;
    s.confirmation_counter = counter;
    let data = dm::ConfirmationData {
        counter,
        card_unique_data: card_unique_data(s),
    };
    let input = data.receipt_input(objects).map_err(sw)?;
    let receipt = dm::receipt(key_type, &key.key, &input).map_err(sw)?;
    dm::Confirmation { receipt, data }.encode().map_err(sw)
}

/// Card Unique Data (GP CS Annex C.5): the ISD's IIN || CIN; a card without either uses its
/// key diversification data (INITIALIZE UPDATE), which is unique per card too.
fn card_unique_data(s: &GpState) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(s.iin.as_deref().unwrap_or_default());
    v.extend_from_slice(s.cin.as_deref().unwrap_or_default());
    if v.is_empty() {
        v.extend_from_slice(&s.config.kdd);
    }
    v
}

/// Is `sd` responsible for an object associated with `owner` (its own, or the ISD with the
/// global privileges)?
fn owns(sd: &[u8], owner: &[u8]) -> bool {
    sd == GP_ISD_AID || sd == owner
}

fn check_aid(aid: &[u8]) -> CmdResult<()> {
    if (5..=16).contains(&aid.len()) {
        Ok(())
    } else {
        Err(StatusWord::INCORRECT_DATA)
    }
}

fn aid_in_use(state: &GpState, aid: &[u8]) -> bool {
    aid == GP_ISD_AID || state.app(aid).is_some() || state.load_file(aid).is_some()
}

// ---------------------------------------------------------------------------------------
// INSTALL (GP CS v2.3.1 §11.5)

fn install(
    state: &mut GpState,
    chan: &mut GpChannel,
    sd: &[u8],
    cmd: &Command,
) -> CmdResult<Vec<u8>> {
    let install = Install::parse(cmd).map_err(sw)?;
    match install {
        Install::ForLoad {
            load_file_aid,
            security_domain_aid,
            load_file_data_block_hash,
            load_parameters,
            load_token,
        } => {
            let delegated = authorize(state, sd, &load_token, || install_signed(cmd))?;
            // GP CS §C.4.1: a Load Token covers the Load File Data Block Hash, which is then
            // mandatory (the token binds the load file through it).
            if delegated && load_file_data_block_hash.is_empty() {
                return Err(StatusWord::INCORRECT_DATA);
            }
            check_aid(&load_file_aid)?;
            if aid_in_use(state, &load_file_aid) {
                return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
            }
            let target = if security_domain_aid.is_empty() {
                sd.to_vec()
            } else {
                security_domain_aid
            };
            if !state.is_sd(&target) {
                return Err(StatusWord::REFERENCED_DATA_NOT_FOUND);
            }
            if !matches!(load_file_data_block_hash.len(), 0 | 20 | 32 | 48 | 64) {
                return Err(StatusWord::INCORRECT_DATA);
            }
            // Load parameters (GP CS Table 11-44): 'EF' { 'C6' code size, 'C7', 'C8', ... }.
            if !load_parameters.is_empty() {
                let ef = tlv::find(&load_parameters, Tag(0xEF))
                    .map_err(|_| StatusWord::INCORRECT_DATA)?
                    .ok_or(StatusWord::INCORRECT_DATA)?;
                for t in tlv::iter(ef.value) {
                    let t = t.map_err(|_| StatusWord::INCORRECT_DATA)?;
                    if matches!(t.tag.0, 0xC6..=0xC8) {
                        let v = quota(t.value)?;
                        if t.tag.0 != 0xC7 && u64::from(v) > state.free_memory() {
                            return Err(StatusWord::NOT_ENOUGH_MEMORY);
                        }
                    }
                }
            }
            chan.load = Some(PendingLoad {
                load_file_aid,
                sd: target,
                hash: load_file_data_block_hash,
                assembler: commands::LoadAssembler::new(),
                bytes: 0,
                delegated,
            });
            Ok(vec![0x00])
        }
        Install::ForInstall {
            make_selectable,
            load_file_aid,
            module_aid,
            application_aid,
            privileges,
            parameters,
            token,
        } => {
            let delegated = authorize(state, sd, &token, || install_signed(cmd))?;
            atomic(state, |s| {
                install_app(
                    s,
                    sd,
                    &load_file_aid,
                    &module_aid,
                    &application_aid,
                    &privileges,
                    &parameters,
                    make_selectable,
                )?;
                confirm(s, delegated, &[&load_file_aid, &application_aid])
            })
        }
        Install::ForMakeSelectable {
            application_aid,
            privileges,
            token,
            ..
        } => atomic(state, |s| {
            delegated_if_needed(s, sd, &token, || install_signed(cmd))?;
            let new_privs = if privileges.is_empty() {
                None
            } else {
                Some(Privileges::decode(&privileges).ok_or(StatusWord::INCORRECT_DATA)?)
            };
            let app = s
                .app_mut(&application_aid)
                .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
            if !owns(sd, &app.associated_sd) {
                return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
            }
            if app.life_cycle != life_cycle::INSTALLED {
                return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
            }
            if let Some(p) = new_privs {
                if p.has(Privilege::SecurityDomain) != app.is_sd() {
                    return Err(StatusWord::INCORRECT_DATA);
                }
                app.privileges = p;
            }
            app.life_cycle = life_cycle::SELECTABLE;
            Ok(vec![0x00])
        }),
        Install::ForExtradition {
            security_domain_aid,
            application_aid,
            token,
            ..
        } => atomic(state, |s| {
            let delegated = delegated_if_needed(s, sd, &token, || install_signed(cmd))?;
            let old = extradite(s, sd, &security_domain_aid, &application_aid)?;
            confirm(
                s,
                delegated,
                &[&old, &application_aid, &security_domain_aid],
            )
        }),
        Install::ForPersonalization { application_aid } => {
            let app = state
                .app(&application_aid)
                .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
            if !owns(sd, &app.associated_sd) {
                return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
            }
            if life_cycle::is_locked(app.life_cycle) {
                return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
            }
            chan.perso = Some(application_aid);
            chan.store = None;
            Ok(vec![0x00])
        }
        Install::ForRegistryUpdate {
            security_domain_aid,
            application_aid,
            privileges,
            token,
            ..
        } => atomic(state, |s| {
            let delegated = delegated_if_needed(s, sd, &token, || install_signed(cmd))?;
            if !privileges.is_empty() {
                let p = Privileges::decode(&privileges).ok_or(StatusWord::INCORRECT_DATA)?;
                let app = s
                    .app_mut(&application_aid)
                    .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
                if !owns(sd, &app.associated_sd) {
                    return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
                }
                if p.has(Privilege::SecurityDomain) != app.is_sd() {
                    return Err(StatusWord::INCORRECT_DATA);
                }
                app.privileges = p;
            }
            if !security_domain_aid.is_empty() {
                let old = extradite(s, sd, &security_domain_aid, &application_aid)?;
                return confirm(
                    s,
                    delegated,
                    &[&old, &application_aid, &security_domain_aid],
                );
            }
            Ok(vec![0x00])
        }),
    }
}

fn quota(v: &[u8]) -> CmdResult<u32> {
    match v.len() {
        2 | 4 => Ok(v.iter().fold(0u32, |a, b| (a << 8) | u32::from(*b))),
        _ => Err(StatusWord::INCORRECT_DATA),
    }
}

#[allow(clippy::too_many_arguments)]
fn install_app(
    s: &mut GpState,
    sd: &[u8],
    load_file_aid: &[u8],
    module_aid: &[u8],
    application_aid: &[u8],
    privileges: &[u8],
    parameters: &[u8],
    make_selectable: bool,
) -> CmdResult<()> {
    check_aid(application_aid)?;
    let privs = Privileges::decode(privileges).ok_or(StatusWord::INCORRECT_DATA)?;
    // GP CS Table 11-43: Card Reset only with "make selectable" in the same command.
    if privs.has(Privilege::CardReset) && !make_selectable {
        return Err(StatusWord::INCORRECT_DATA);
    }
    // Install parameters: 'C9' mandatory (GP CS Table 11-49).
    let params = InstallParameters::parse(parameters).map_err(|_| StatusWord::INCORRECT_DATA)?;
    let lf = s
        .load_file(load_file_aid)
        .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
    if !lf.modules.iter().any(|m| m.0 == module_aid) {
        return Err(StatusWord::REFERENCED_DATA_NOT_FOUND);
    }
    if aid_in_use(s, application_aid) {
        return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
    }
    let behaviour =
        Behaviour::of(load_file_aid, module_aid).ok_or(StatusWord::FUNCTION_NOT_SUPPORTED)?;
    let is_sd = privs.has(Privilege::SecurityDomain);
    if is_sd != (behaviour == Behaviour::SecurityDomain) {
        return Err(StatusWord::INCORRECT_DATA);
    }
    let sd_data = is_sd.then(|| {
        let keys = s
            .config
            .ssd_initial_keys
            .clone()
            .map(|k| {
                let mut ks = super::registry::KeyStore::default();
                ks.put(StoredKeySet::new(k, s.config.auth_tries));
                ks
            })
            .unwrap_or_else(super::default_isd_keys);
        SdData {
            keys,
            dap_key: None,
        }
    });
    s.apps.push(AppRecord {
        aid: application_aid.to_vec(),
        load_file_aid: load_file_aid.to_vec(),
        module_aid: module_aid.to_vec(),
        life_cycle: if make_selectable {
            life_cycle::SELECTABLE
        } else {
            life_cycle::INSTALLED
        },
        privileges: privs,
        associated_sd: sd.to_vec(),
        install_parameters: params.application_specific,
        nv_quota: params.non_volatile_quota.unwrap_or(0),
        data: Vec::new(),
        sd: sd_data,
    });
    Ok(())
}

/// INSTALL [for extradition] (GP CS §11.5.2.3.4): the application (or load file) becomes
/// associated with `target`.
/// Returns the AID of the SD the object was associated with.
fn extradite(s: &mut GpState, sd: &[u8], target: &[u8], aid: &[u8]) -> CmdResult<Vec<u8>> {
    let target_ok = target == GP_ISD_AID
        || s.app(target)
            .is_some_and(|a| a.is_sd() && life_cycle::is_selectable(a.life_cycle));
    if !target_ok || target == aid {
        return Err(StatusWord::REFERENCED_DATA_NOT_FOUND);
    }
    if let Some(app) = s.app_mut(aid) {
        if !owns(sd, &app.associated_sd) {
            return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        }
        return Ok(std::mem::replace(&mut app.associated_sd, target.to_vec()));
    }
    let lf = s
        .load_files
        .iter_mut()
        .find(|f| f.aid == aid && !f.builtin)
        .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
    if !owns(sd, &lf.associated_sd) {
        return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
    }
    Ok(std::mem::replace(&mut lf.associated_sd, target.to_vec()))
}

// ---------------------------------------------------------------------------------------
// LOAD (GP CS v2.3.1 §11.6)

fn load(state: &mut GpState, chan: &mut GpChannel, cmd: &Command) -> CmdResult<Vec<u8>> {
    let Some(pending) = chan.load.as_mut() else {
        return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
    };
    pending.bytes += cmd.data.len() as u64;
    if pending.bytes > state.free_memory() {
        chan.load = None;
        return Err(StatusWord::NOT_ENOUGH_MEMORY);
    }
    let file = match pending.assembler.push(cmd) {
        Ok(None) => return Ok(Vec::new()),
        Ok(Some(f)) => f,
        Err(e) => {
            // A failed LOAD abandons the whole load file (nothing was stored yet).
            chan.load = None;
            return Err(sw(e));
        }
    };
    let Some(pending) = chan.load.take() else {
        return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
    };
    atomic(state, |s| {
        finish_load(s, &pending, &file)?;
        confirm(s, pending.delegated, &[&pending.load_file_aid, &pending.sd])
    })
}

fn finish_load(s: &mut GpState, pending: &PendingLoad, file: &commands::LoadFile) -> CmdResult<()> {
    let lfdb = &file.load_file_data_block;
    let info = cap::parse(lfdb)?;
    if info.package_aid != pending.load_file_aid {
        return Err(StatusWord::INCORRECT_DATA);
    }
    // Load File Data Block hash (GP CS §C.2): SHA-1, SHA-256, SHA-384 or SHA-512, told apart
    // by its length; any other length is refused.
    if !pending.hash.is_empty() {
        let computed = match pending.hash.len() {
            20 => sha1::Sha1::digest(lfdb).to_vec(),
            32 => sha2::Sha256::digest(lfdb).to_vec(),
            48 => sha2::Sha384::digest(lfdb).to_vec(),
            64 => sha2::Sha512::digest(lfdb).to_vec(),
            _ => return Err(StatusWord::INCORRECT_DATA),
        };
        if computed != pending.hash {
            return Err(StatusWord::INCORRECT_DATA);
        }
    }
    verify_daps(s, pending, &file.dap_blocks)?;
    if s.apps.iter().any(|a| info.applets.contains(&a.aid)) {
        return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
    }
    s.load_files.push(LoadFileRecord {
        aid: info.package_aid,
        version: info.version.to_vec(),
        modules: info.applets.into_iter().map(HexAid).collect(),
        associated_sd: pending.sd.clone(),
        size: u32::try_from(lfdb.len()).map_err(|_| StatusWord::NOT_ENOUGH_MEMORY)?,
        builtin: false,
    });
    Ok(())
}

/// DAP verification (GP CS §9.2.1 / §C.3): the associated SD when it has DAP Verification and
/// every SD with Mandated DAP Verification must find its DAP block `'E2' { '4F' SD AID,
/// 'C3' signature }`; the signature is AES-CMAC (NIST SP 800-38B, 16 bytes) under the SD's
/// DAP key over the Load File Data Block hash of the INSTALL [for load]. Missing block, hash
/// or key, or a wrong signature: `6982`.
fn verify_daps(s: &GpState, pending: &PendingLoad, blocks: &[u8]) -> CmdResult<()> {
    let mut required: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    let sd_privs = |aid: &[u8]| s.privileges(aid).unwrap_or_default();
    let dap_key = |aid: &[u8]| -> Option<Vec<u8>> {
        if aid == GP_ISD_AID {
            s.isd_dap_key.clone()
        } else {
            s.app(aid)
                .and_then(|a| a.sd.as_ref())
                .and_then(|d| d.dap_key.clone())
        }
    };
    if sd_privs(&pending.sd).has(Privilege::DapVerification) {
        required.push((pending.sd.clone(), dap_key(&pending.sd)));
    }
    let mandated = std::iter::once(GP_ISD_AID.to_vec())
        .chain(s.apps.iter().filter(|a| a.is_sd()).map(|a| a.aid.clone()))
        .filter(|aid| sd_privs(aid).has(Privilege::MandatedDapVerification));
    for aid in mandated {
        if !required.iter().any(|(a, _)| *a == aid) {
            let k = dap_key(&aid);
            required.push((aid, k));
        }
    }
    let denied = StatusWord::SECURITY_STATUS_NOT_SATISFIED;
    for (aid, key) in required {
        let key = key.ok_or(denied)?;
        if pending.hash.is_empty() {
            return Err(denied);
        }
        let mut found = false;
        for b in tlv::iter(blocks) {
            let b = b.map_err(|_| StatusWord::INCORRECT_DATA)?;
            let a = tlv::find(b.value, Tag(0x4F)).map_err(|_| StatusWord::INCORRECT_DATA)?;
            if a.is_some_and(|a| a.value == aid.as_slice()) {
                let sig = tlv::find(b.value, Tag(0xC3))
                    .map_err(|_| StatusWord::INCORRECT_DATA)?
                    .ok_or(StatusWord::INCORRECT_DATA)?;
                let expected = aes_cmac(&key, &pending.hash).ok_or(denied)?;
                if !symcrypto::ct_eq(&expected, sig.value) {
                    return Err(denied);
                }
                found = true;
            }
        }
        if !found {
            return Err(denied);
        }
    }
    Ok(())
}

/// AES-CMAC under a 16- or 32-byte key (NIST SP 800-38B).
pub fn aes_cmac(key: &[u8], data: &[u8]) -> Option<[u8; 16]> {
    crate::pairing::cmac(key, &[data])
}

// ---------------------------------------------------------------------------------------
// DELETE (GP CS v2.3.1 §11.2)

fn delete(s: &mut GpState, sd: &[u8], cmd: &Command) -> CmdResult<Vec<u8>> {
    let d = Delete::parse(cmd).map_err(sw)?;
    let (signed, token) = dm::delete_token_data(cmd).map_err(sw)?;
    let delegated =
        delegated_if_needed(s, sd, token.as_deref().unwrap_or_default(), || Ok(signed))?;
    let aid = d.aid.as_slice();
    if aid == GP_ISD_AID {
        return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
    }
    // An SD with objects associated with it cannot go.
    let has_dependants = |s: &GpState, sd_aid: &[u8]| {
        s.apps.iter().any(|a| a.associated_sd == sd_aid)
            || s.load_files.iter().any(|f| f.associated_sd == sd_aid)
    };
    if let Some(app) = s.app(aid) {
        if !owns(sd, &app.associated_sd) {
            return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        }
        if app.is_sd() && has_dependants(s, aid) {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        s.apps.retain(|a| a.aid != aid);
        return confirm(s, delegated, &[aid]);
    }
    let lf = s
        .load_file(aid)
        .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
    if lf.builtin {
        return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
    }
    if !owns(sd, &lf.associated_sd) {
        return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
    }
    let instances: Vec<Vec<u8>> = s
        .apps
        .iter()
        .filter(|a| a.load_file_aid == aid)
        .map(|a| a.aid.clone())
        .collect();
    // GP CS §11.2.2.1: a load file with instances goes only with P2 '80' (related objects).
    if !instances.is_empty() && !d.related_objects {
        return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
    }
    for i in &instances {
        if s.app(i).is_some_and(|a| a.is_sd()) && has_dependants(s, i) {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
    }
    s.apps.retain(|a| a.load_file_aid != aid);
    s.load_files.retain(|f| f.aid != aid);
    confirm(s, delegated, &[aid])
}

// ---------------------------------------------------------------------------------------
// SET STATUS (GP CS v2.3.1 §11.10)

fn set_status(s: &mut GpState, sd: &[u8], cmd: &Command) -> CmdResult<Vec<u8>> {
    let st = SetStatus::parse(cmd).map_err(sw)?;
    let privs = s.privileges(sd).unwrap_or_default();
    match st.status_type {
        0x80 => {
            // Card life cycle (GP CS §5.1): OP_READY → INITIALIZED → SECURED ⇄ CARD_LOCKED,
            // any → TERMINATED.
            use life_cycle::*;
            let from = s.isd_life_cycle;
            let to = st.state;
            let allowed = match (from, to) {
                (OP_READY, INITIALIZED) | (OP_READY | INITIALIZED, SECURED) => sd == GP_ISD_AID,
                (SECURED, CARD_LOCKED) | (CARD_LOCKED, SECURED) => privs.has(Privilege::CardLock),
                (f, TERMINATED) if f != TERMINATED => privs.has(Privilege::CardTerminate),
                _ => false,
            };
            if !allowed {
                return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
            }
            s.isd_life_cycle = to;
        }
        0x40 | 0x60 => {
            let app = s
                .app(&st.aid)
                .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
            let global_lock = privs.has(Privilege::GlobalLock);
            if !owns(sd, &app.associated_sd) && !global_lock {
                return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
            }
            if st.status_type == 0x60 && !app.is_sd() {
                return Err(StatusWord::REFERENCED_DATA_NOT_FOUND);
            }
            let mut targets = vec![st.aid.clone()];
            if st.status_type == 0x60 {
                targets.extend(
                    s.apps
                        .iter()
                        .filter(|a| a.associated_sd == st.aid)
                        .map(|a| a.aid.clone()),
                );
            }
            for t in targets {
                if let Some(a) = s.app_mut(&t) {
                    transition(a, st.state, t == st.aid)?;
                }
            }
        }
        _ => return Err(StatusWord::INCORRECT_P1_P2),
    }
    Ok(Vec::new())
}

/// Application / SD life cycle transition by SET STATUS (GP CS §5.2, §5.3, Table 11-5): P2
/// b8 = lock (the previous state is kept in b7-b1), b8 = 0 on a locked entry = unlock back to
/// that state, otherwise an application-specific state (b3-b1 = 111) or, for an SD,
/// PERSONALIZED.
fn transition(a: &mut AppRecord, p2: u8, primary: bool) -> CmdResult<()> {
    let lc = a.life_cycle;
    if p2 & life_cycle::LOCKED_BIT != 0 {
        if !life_cycle::is_locked(lc) {
            a.life_cycle = lc | life_cycle::LOCKED_BIT;
        } else if primary {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        return Ok(());
    }
    if life_cycle::is_locked(lc) {
        a.life_cycle = lc & !life_cycle::LOCKED_BIT;
        return Ok(());
    }
    if !primary {
        return Ok(());
    }
    let ok = if a.is_sd() {
        lc == life_cycle::SELECTABLE && p2 == life_cycle::SD_PERSONALIZED
    } else {
        life_cycle::is_selectable(lc) && p2 & 0x07 == 0x07
    };
    if !ok {
        // Not a transition GP CS §5.3 allows (e.g. back to INSTALLED).
        return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
    }
    a.life_cycle = p2;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// PUT KEY (GP CS v2.3.1 §11.8, Amd D §7.2)

fn put_key(s: &mut GpState, sd: &[u8], cmd: &Command, dek: &Dek) -> CmdResult<Vec<u8>> {
    if cmd.p1 & 0x80 != 0 || cmd.p2 & 0x7F != 0x01 {
        // Whole key sets (ENC, MAC, DEK from key identifier 1) only.
        return Err(StatusWord::INCORRECT_P1_P2);
    }
    let data = PutKeyData::parse(&cmd.data).map_err(sw)?;
    if matches!(data.new_kvn, dm::TOKEN_KEY_KVN | dm::RECEIPT_KEY_KVN) {
        return put_dm_key(s, sd, cmd.p1, &data, dek);
    }
    if data.new_kvn == 0 || data.new_kvn > 0x7F {
        return Err(StatusWord::INCORRECT_DATA);
    }
    let keys = data.open_key_set(dek).map_err(sw)?;
    let tries = s.config.auth_tries;
    let store = s
        .keys_mut(sd)
        .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
    if cmd.p1 == 0 {
        if store.find(data.new_kvn).is_some() {
            return Err(StatusWord::INCORRECT_DATA);
        }
    } else {
        if !store.sets.iter().any(|k| k.keys.kvn() == cmd.p1) {
            return Err(StatusWord::REFERENCED_DATA_NOT_FOUND);
        }
        if data.new_kvn != cmd.p1 && store.find(data.new_kvn).is_some() {
            return Err(StatusWord::INCORRECT_DATA);
        }
        store.remove(cmd.p1);
    }
    // A new or replaced key set starts with a zero sequence counter (Amd D §6.2.2.1).
    store.put(StoredKeySet::new(keys, tries));
    Ok(data.response_data())
}

/// PUT KEY of the ISD's Token Verification key (KVN '70': `'B0'` ECC public key, the
/// uncompressed P-256 point, optionally `'F0' '00'` = P-256 parameters) or Receipt key
/// (KVN '71': one `'88'` AES or `'80'` DES component under the DEK). Only the ISD, and only
/// with the Token Verification / Receipt Generation privilege (`6985`). P1 '00' adds (`6A80`
/// if present), P1 = the KVN replaces (`6A88` if absent).
fn put_dm_key(
    s: &mut GpState,
    sd: &[u8],
    p1: u8,
    data: &PutKeyData,
    dek: &Dek,
) -> CmdResult<Vec<u8>> {
    let token = data.new_kvn == dm::TOKEN_KEY_KVN;
    let needed = if token {
        Privilege::TokenVerification
    } else {
        Privilege::ReceiptGeneration
    };
    if sd != GP_ISD_AID || !s.isd_privileges.has(needed) {
        return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
    }
    let present = if token {
        s.isd_token_key.is_some()
    } else {
        s.isd_receipt_key.is_some()
    };
    match p1 {
        0 if present => return Err(StatusWord::INCORRECT_DATA),
        0 => {}
        p if p == data.new_kvn && present => {}
        p if p == data.new_kvn => return Err(StatusWord::REFERENCED_DATA_NOT_FOUND),
        _ => return Err(StatusWord::INCORRECT_P1_P2),
    }
    if token {
        let (point, params) = match data.components.as_slice() {
            [p] => (p, None),
            [p, f] => (p, Some(f)),
            _ => return Err(StatusWord::INCORRECT_DATA),
        };
        if point.key_type != dm::KEY_TYPE_ECC_PUBLIC {
            return Err(StatusWord::INCORRECT_DATA);
        }
        if let Some(f) = params {
            if f.key_type != dm::KEY_TYPE_ECC_PARAMS || f.ciphered != [0x00] {
                return Err(StatusWord::INCORRECT_DATA);
            }
        }
        pki::PublicKey::from_sec1(pki::Curve::NistP256, &point.ciphered)
            .map_err(|_| StatusWord::INCORRECT_DATA)?;
        s.isd_token_key = Some(point.ciphered.clone());
    } else {
        let [c] = data.components.as_slice() else {
            return Err(StatusWord::INCORRECT_DATA);
        };
        let (key_type, key) = c.open(dek).map_err(sw)?;
        s.isd_receipt_key = Some(super::ReceiptKey {
            key_type: key_type.code(),
            key: key.expose().to_vec(),
        });
    }
    Ok(data.response_data())
}

// ---------------------------------------------------------------------------------------
// STORE DATA (GP CS v2.3.1 §11.11)

fn store_data(
    state: &mut GpState,
    chan: &mut GpChannel,
    sd: &[u8],
    cmd: &Command,
    dek: &Dek,
) -> CmdResult<Vec<u8>> {
    let last = cmd.p1 & 0x80 != 0;
    let encryption = cmd.p1 & 0x60;
    let format = cmd.p1 & 0x18;
    if format == 0x18 || cmd.p1 & 0x07 != 0 {
        chan.store = None;
        return Err(StatusWord::INCORRECT_P1_P2);
    }
    let chain = chan.store.get_or_insert_with(|| StoreChain {
        next_block: 0,
        data: Vec::new(),
        p1_format: format,
    });
    if u16::from(cmd.p2) != chain.next_block || chain.p1_format != format {
        chan.store = None;
        return Err(StatusWord::INCORRECT_P1_P2);
    }
    let block = if encryption == 0x60 {
        match dek.decrypt(&cmd.data) {
            Ok(d) => d.to_vec(),
            Err(_) => {
                chan.store = None;
                return Err(StatusWord::INCORRECT_DATA);
            }
        }
    } else {
        cmd.data.clone()
    };
    chain.data.extend_from_slice(&block);
    chain.next_block += 1;
    if !last {
        return Ok(Vec::new());
    }
    let Some(chain) = chan.store.take() else {
        return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
    };
    let objects = parse_objects(&chain.data, format)?;
    let target = chan.perso.clone().unwrap_or_else(|| sd.to_vec());
    atomic(state, |s| {
        if target == GP_ISD_AID {
            // ISD data (GP CS §H): IIN and CIN.
            for o in &objects {
                match (o.format, o.tag) {
                    (DataFormat::Tlv, 0x42) => s.iin = Some(o.value.clone()),
                    (DataFormat::Tlv, 0x45) => s.cin = Some(o.value.clone()),
                    _ => return Err(StatusWord::REFERENCED_DATA_NOT_FOUND),
                }
            }
            return Ok(Vec::new());
        }
        let app = s
            .app_mut(&target)
            .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
        if life_cycle::is_locked(app.life_cycle) {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        for o in objects {
            app.data
                .retain(|d| !(d.tag == o.tag && d.format == o.format));
            app.data.push(o);
        }
        if app.nv_quota > 0 && app.data_size() > app.nv_quota {
            return Err(StatusWord::NOT_ENOUGH_MEMORY);
        }
        // The generic applet moves to its application-specific "personalized" state '0F'.
        if !app.is_sd() && app.life_cycle == life_cycle::SELECTABLE {
            app.life_cycle = 0x0F;
        }
        Ok(Vec::new())
    })
}

/// Splits STORE DATA data into DGIs (P1 b5-b4 = 01) or BER-TLV objects (10, and 00 taken as
/// BER-TLV); malformed data is `6A80`.
fn parse_objects(data: &[u8], format: u8) -> CmdResult<Vec<DataObject>> {
    let bad = StatusWord::INCORRECT_DATA;
    let mut out = Vec::new();
    if format == 0x08 {
        let mut r = data;
        while !r.is_empty() {
            let [hi, lo, len, rest @ ..] = r else {
                return Err(bad);
            };
            let (n, rest) = if *len == 0xFF {
                let [a, b, rest @ ..] = rest else {
                    return Err(bad);
                };
                (usize::from(u16::from_be_bytes([*a, *b])), rest)
            } else {
                (usize::from(*len), rest)
            };
            let value = rest.get(..n).ok_or(bad)?;
            out.push(DataObject {
                format: DataFormat::Dgi,
                tag: u32::from(u16::from_be_bytes([*hi, *lo])),
                value: value.to_vec(),
            });
            r = &rest[n..];
        }
    } else {
        for t in tlv::iter(data) {
            let t = t.map_err(|_| bad)?;
            out.push(DataObject {
                format: DataFormat::Tlv,
                tag: t.tag.0,
                value: t.value.to_vec(),
            });
        }
    }
    if out.is_empty() {
        return Err(bad);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// GET STATUS (GP CS v2.3.1 §11.4)

/// Response data per GET STATUS response (room for the R-MAC in short APDUs).
const STATUS_CHUNK: usize = 224;

fn get_status(
    state: &GpState,
    chan: &mut GpChannel,
    sd: &[u8],
    cmd: &Command,
) -> CmdResult<Response> {
    let gs = GetStatus::parse(cmd).map_err(sw)?;
    if gs.next {
        let pending = chan
            .status
            .take()
            .filter(|p| p.p1 == cmd.p1 && p.tlv == gs.tlv_format)
            .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
        return Ok(status_chunk(chan, pending));
    }
    chan.status = None;
    let visible = |owner: &[u8]| sd == GP_ISD_AID || owner == sd;
    let matches = |aid: &[u8]| aid.starts_with(&gs.aid);
    let mut entries = Vec::new();
    match gs.subset {
        StatusSubset::Isd => {
            if matches(&GP_ISD_AID) {
                entries.push(RegistryEntry {
                    aid: GP_ISD_AID.to_vec(),
                    life_cycle: state.isd_life_cycle,
                    privileges: state.isd_privileges.encode(),
                    ..RegistryEntry::default()
                });
            }
        }
        StatusSubset::Applications => {
            for a in &state.apps {
                if visible(&a.associated_sd) && matches(&a.aid) {
                    entries.push(RegistryEntry {
                        aid: a.aid.clone(),
                        life_cycle: a.life_cycle,
                        privileges: a.privileges.encode(),
                        load_file_aid: Some(a.load_file_aid.clone()),
                        associated_sd: Some(a.associated_sd.clone()),
                        ..RegistryEntry::default()
                    });
                }
            }
        }
        StatusSubset::LoadFiles | StatusSubset::LoadFilesAndModules => {
            for f in &state.load_files {
                if visible(&f.associated_sd) && matches(&f.aid) {
                    entries.push(RegistryEntry {
                        aid: f.aid.clone(),
                        life_cycle: life_cycle::LOADED,
                        load_file_version: Some(f.version.clone()),
                        modules: if gs.subset == StatusSubset::LoadFilesAndModules {
                            f.modules.iter().map(|m| m.0.clone()).collect()
                        } else {
                            Vec::new()
                        },
                        associated_sd: Some(f.associated_sd.clone()),
                        ..RegistryEntry::default()
                    });
                }
            }
        }
    }
    if entries.is_empty() {
        return Err(StatusWord::REFERENCED_DATA_NOT_FOUND);
    }
    let mut encoded = Vec::with_capacity(entries.len());
    for e in &entries {
        let one = std::slice::from_ref(e);
        let bytes = if gs.tlv_format {
            let full = commands::encode_status_tlv(one);
            match &gs.tag_list {
                Some(list) => filter_tags(&full, list)?,
                None => full,
            }
        } else {
            commands::encode_status_legacy(gs.subset, one).map_err(sw)?
        };
        encoded.push(bytes);
    }
    Ok(status_chunk(
        chan,
        PendingStatus {
            p1: cmd.p1,
            tlv: gs.tlv_format,
            rest: encoded,
        },
    ))
}

/// Keeps only the tags of the '5C' tag list inside an 'E3' entry (GP CS §11.4.2.1).
fn filter_tags(e3: &[u8], list: &[u8]) -> CmdResult<Vec<u8>> {
    let bad = StatusWord::INCORRECT_DATA;
    let mut wanted = Vec::new();
    let mut r = list;
    while !r.is_empty() {
        let (tag, n) = tlv::Tag::parse(r).map_err(|_| bad)?;
        wanted.push(tag);
        r = r.get(n..).ok_or(bad)?;
    }
    let outer = tlv::Tlv::parse_expecting(e3, Tag(0xE3)).map_err(|_| bad)?;
    let mut inner = Vec::new();
    for t in tlv::iter(outer.value) {
        let t = t.map_err(|_| bad)?;
        if wanted.contains(&t.tag) {
            inner.extend_from_slice(t.raw);
        }
    }
    Ok(tlv::encode_tlv(Tag(0xE3), &inner))
}

/// Returns as many entries as fit; `6310` and the rest kept for "next occurrence".
fn status_chunk(chan: &mut GpChannel, mut pending: PendingStatus) -> Response {
    let mut out = Vec::new();
    let mut taken = 0;
    for e in &pending.rest {
        if !out.is_empty() && out.len() + e.len() > STATUS_CHUNK {
            break;
        }
        out.extend_from_slice(e);
        taken += 1;
    }
    pending.rest.drain(..taken);
    if pending.rest.is_empty() {
        Response::ok(out)
    } else {
        chan.status = Some(pending);
        Response::new(out, StatusWord::new(0x63, 0x10))
    }
}

// ---------------------------------------------------------------------------------------
// GET DATA (GP CS v2.3.1 §11.3)

fn get_data(state: &GpState, chan: &GpChannel, sd: &[u8], cmd: &Command) -> CmdResult<Vec<u8>> {
    if !cmd.data.is_empty() {
        return Err(StatusWord::WRONG_LENGTH);
    }
    let tag = u16::from_be_bytes([cmd.p1, cmd.p2]);
    let value = |t: u32, v: &[u8]| tlv::encode_tlv(Tag(t), v);
    use commands::tags;
    match tag {
        tags::CARD_DATA => Ok(card_data()),
        tags::ISSUER_IDENTIFICATION_NUMBER => state
            .iin
            .as_deref()
            .map(|v| value(0x42, v))
            .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND),
        tags::CARD_IMAGE_NUMBER => state
            .cin
            .as_deref()
            .map(|v| value(0x45, v))
            .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND),
        tags::CPLC => Ok(value(0x9F7F, &state.config.cplc)),
        tags::KEY_DIVERSIFICATION_DATA => Ok(value(0xCF, &state.config.kdd)),
        tags::KEY_INFORMATION_TEMPLATE => {
            let keys = state
                .keys(sd)
                .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
            let mut info = Vec::new();
            for set in &keys.sets {
                for key_id in 1..=3u8 {
                    info.push(KeyInformation {
                        key_id,
                        kvn: set.keys.kvn(),
                        components: vec![(set.keys.key_type().code(), set.keys.key_len() as u16)],
                        extended: None,
                    });
                }
            }
            commands::encode_key_information(&info).map_err(sw)
        }
        tags::SEQUENCE_COUNTER_DEFAULT_KVN => {
            let set = state
                .keys(sd)
                .and_then(|k| k.find(0))
                .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
            Ok(value(0xC1, &set.counter.to_bytes()))
        }
        tags::CURRENT_SECURITY_LEVEL => {
            let level = chan.session().map(|s| s.security_level().p1()).unwrap_or(0);
            Ok(value(0xD3, &[level]))
        }
        // Extended Card Resources Information (ETSI TS 102 226 §8.2.1.7.2, GP Amd C):
        // 'FF21' { '81' installed applications, '82' free non-volatile memory, '83' free
        // volatile memory }.
        tags::EXTENDED_CARD_RESOURCES => {
            let mut w = tlv::Writer::new();
            w.nested(Tag(0xFF21), |w| {
                let n = state.apps.len().min(0xFFFF) as u16;
                w.put(Tag(0x81), &n.to_be_bytes());
                let free = state.free_memory().min(u64::from(u32::MAX)) as u32;
                w.put(Tag(0x82), &free.to_be_bytes());
                w.put(Tag(0x83), &state.config.volatile_free.to_be_bytes());
            });
            Ok(w.into_vec())
        }
        _ => Err(StatusWord::REFERENCED_DATA_NOT_FOUND),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dgi_and_tlv_objects() {
        let o = parse_objects(
            &[
                0x82, 0x01, 0x02, 0xAA, 0xBB, 0x01, 0x02, 0xFF, 0x00, 0x01, 0x0C,
            ],
            0x08,
        )
        .unwrap();
        assert_eq!(o.len(), 2);
        assert_eq!(
            (o[0].tag, o[0].value.as_slice()),
            (0x8201, &[0xAA, 0xBB][..])
        );
        assert_eq!((o[1].tag, o[1].value.as_slice()), (0x0102, &[0x0C][..]));
        assert_eq!(o[1].encode(), [0x01, 0x02, 0x01, 0x0C]);
        assert!(parse_objects(&[0x82, 0x01, 0x05, 0xAA], 0x08).is_err());
        assert!(parse_objects(&[], 0x10).is_err());
    }

    proptest! {
        #[test]
        fn store_data_parsing_never_panics(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            dgi in any::<bool>(),
        ) {
            let _ = parse_objects(&data, if dgi { 0x08 } else { 0x10 });
        }
    }
}
