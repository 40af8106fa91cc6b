//! ES10b.LoadBoundProfilePackage (SGP.22 §5.7.6) carrying the ES8+ functions (§5.5):
//! InitialiseSecureChannel ('BF23'), ConfigureISDP ('A0' / '87'), StoreMetadata ('A1' / '88'),
//! ReplaceSessionKeys ('A2' / '87', optional) and the profile elements ('A3' / '86').
//!
//! The LPA sends the 'BF36' TLV in segments (§2.5.5). The card parses the stream incrementally
//! and works whatever the segment boundaries, as long as they fall between whole TLVs. Nothing
//! is installed until the last '86' has been processed; any failure ends the session with a
//! ProfileInstallationResult carrying `errorResult` and leaves the profiles untouched.

use apdu::StatusWord;
use rsp::es8p::{
    ConfigureIsdpRequest, InitialiseSecureChannelRequest, ReplaceSessionKeysRequest,
    StoreMetadataRequest,
};
use rsp::notification::{
    BppCommandId, ErrorReason, ErrorResult, FinalResult, NotificationEvent, NotificationMetadata,
    ProfileInstallationResult, ProfileInstallationResultData, SuccessResult,
};
use rsp::{Asn1, Iccid, Oid, Signed, TransactionId};
use tlv::{Tag, Tlv};
use zeroize::Zeroizing;

use super::{download, Isdr};
use crate::state::{NotificationKind, Profile, ProfileState, StoredNotification};
use crate::ApduResult;

/// `EUICCResponse` (SAIP PE_Definitions) reporting one PEStatus `ok(0)`:
/// `30 07 A0 05 30 03 80 01 00`, the simaResponse of a successful installation.
const SIMA_RESPONSE_OK: [u8; 9] = [0x30, 0x07, 0xA0, 0x05, 0x30, 0x03, 0x80, 0x01, 0x00];
/// Largest BPP the card accepts (a TS.48 profile is ~10 KiB).
const MAX_BPP: usize = 512 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// 'BF36' tag and length.
    Outer,
    /// 'BF23' InitialiseSecureChannelRequest.
    Isc,
    /// 'A0' firstSequenceOf87.
    A0,
    /// 'A1' sequenceOf88.
    A1,
    /// 'A2' secondSequenceOf87 or 'A3' sequenceOf86.
    A2OrA3,
    /// 'A3' sequenceOf86.
    A3,
    /// Everything processed.
    Done,
}

/// A Bound Profile Package being loaded (volatile: a reset aborts it, as on a real eUICC).
pub struct BppLoad {
    buf: Vec<u8>,
    /// Bytes of the 'BF36' value not yet consumed.
    outer_left: usize,
    next: Next,
    /// The sequence being read ('A0'..'A3') and its bytes left.
    container: Option<(u32, usize)>,
    bsp: Option<bsp::Bsp>,
    /// Plaintext of the '87'/'88' commands of the current sequence.
    command: Zeroizing<Vec<u8>>,
    /// Decrypted profile package ('86' segments).
    package: Zeroizing<Vec<u8>>,
    dp_proprietary_data: Option<Vec<u8>>,
    metadata_raw: Option<Vec<u8>>,
    metadata: Option<StoreMetadataRequest>,
    received: usize,
}

impl std::fmt::Debug for BppLoad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BppLoad")
            .field("next", &self.next)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

/// An installation failure: the command that failed and why (rsp.asn ErrorResult).
#[derive(Clone, Copy)]
struct Failure(BppCommandId, ErrorReason);

impl BppLoad {
    fn new() -> Self {
        BppLoad {
            buf: Vec::new(),
            outer_left: 0,
            next: Next::Outer,
            container: None,
            bsp: None,
            command: Zeroizing::new(Vec::new()),
            package: Zeroizing::new(Vec::new()),
            dp_proprietary_data: None,
            metadata_raw: None,
            metadata: None,
            received: 0,
        }
    }

    fn command_id(&self) -> BppCommandId {
        match self.container.map(|c| c.0).unwrap_or(0) {
            _ if matches!(self.next, Next::Outer | Next::Isc) => {
                BppCommandId::INITIALISE_SECURE_CHANNEL
            }
            0xA0 => BppCommandId::CONFIGURE_ISDP,
            0xA1 => BppCommandId::STORE_METADATA,
            0xA2 => BppCommandId::REPLACE_SESSION_KEYS,
            0xA3 => BppCommandId::LOAD_PROFILE_ELEMENTS,
            _ => match self.next {
                Next::A0 => BppCommandId::CONFIGURE_ISDP,
                Next::A1 => BppCommandId::STORE_METADATA,
                Next::A2OrA3 => BppCommandId::REPLACE_SESSION_KEYS,
                _ => BppCommandId::LOAD_PROFILE_ELEMENTS,
            },
        }
    }

    fn structure_error(&self) -> Failure {
        Failure(self.command_id(), ErrorReason::SCP03T_STRUCTURE_ERROR)
    }
}

/// Result of feeding one segment.
enum Progress {
    /// More segments expected: answer with no data.
    More,
    /// Everything processed and verified: install.
    Complete,
}

impl Isdr<'_> {
    pub(super) fn load_bpp_start(&mut self, segment: &[u8]) -> ApduResult {
        if self
            .state
            .session
            .as_ref()
            .and_then(|s| s.prepared.as_ref())
            .is_none()
        {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        *self.bpp = Some(BppLoad::new());
        self.load_bpp_continue(segment)
    }

    pub(super) fn load_bpp_continue(&mut self, segment: &[u8]) -> ApduResult {
        let Some(mut load) = self.bpp.take() else {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        };
        match self.feed(&mut load, segment) {
            Ok(Progress::More) => {
                *self.bpp = Some(load);
                Ok(Vec::new())
            }
            Ok(Progress::Complete) => Ok(self.install(load)),
            Err(Failure(cmd, reason)) => {
                let iccid = load.metadata.as_ref().map(|m| m.iccid);
                Ok(self.finish_session(
                    iccid,
                    FinalResult::Error(ErrorResult {
                        bpp_command_id: cmd,
                        error_reason: reason,
                        sima_response: None,
                    }),
                ))
            }
        }
    }

    fn feed(&mut self, load: &mut BppLoad, segment: &[u8]) -> Result<Progress, Failure> {
        load.received += segment.len();
        if load.received > MAX_BPP {
            return Err(Failure(
                load.command_id(),
                ErrorReason::INSTALL_FAILED_DUE_TO_INSUFFICIENT_MEMORY_FOR_PROFILE,
            ));
        }
        load.buf.extend_from_slice(segment);
        loop {
            if load.next == Next::Outer {
                let (tag, tag_len) = Tag::parse(&load.buf).map_err(|_| load.structure_error())?;
                let (len, len_len) =
                    tlv::parse_length(&load.buf[tag_len..]).map_err(|_| load.structure_error())?;
                if tag != Tag(0xBF36) {
                    return Err(load.structure_error());
                }
                load.buf.drain(..tag_len + len_len);
                load.outer_left = len;
                load.next = Next::Isc;
                continue;
            }
            if let Some((ctag, left)) = load.container {
                if left == 0 {
                    load.container = None;
                    self.end_sequence(load, ctag)?;
                    if load.next == Next::Done {
                        return if load.outer_left == 0 && load.buf.is_empty() {
                            Ok(Progress::Complete)
                        } else {
                            Err(load.structure_error())
                        };
                    }
                    continue;
                }
                // One whole '86'/'87'/'88' segment.
                let Some(raw) = whole_tlv(&load.buf).map_err(|_| load.structure_error())? else {
                    return Ok(Progress::More);
                };
                let (t, _) = Tag::parse(&raw).map_err(|_| load.structure_error())?;
                let expected = match ctag {
                    0xA0 | 0xA2 => 0x87,
                    0xA1 => 0x88,
                    _ => 0x86,
                };
                if t.0 != expected || raw.len() > left || raw.len() > load.outer_left {
                    return Err(load.structure_error());
                }
                load.buf.drain(..raw.len());
                load.container = Some((ctag, left - raw.len()));
                load.outer_left -= raw.len();
                let bsp = load.bsp.as_mut().ok_or(Failure(
                    BppCommandId::INITIALISE_SECURE_CHANNEL,
                    ErrorReason::SCP03T_STRUCTURE_ERROR,
                ))?;
                let plain = Zeroizing::new(bsp.open(&raw).map_err(|e| {
                    Failure(command_for(ctag), ErrorReason(e.error_reason() as i64))
                })?);
                if ctag == 0xA3 {
                    load.package.extend_from_slice(&plain);
                } else {
                    load.command.extend_from_slice(&plain);
                }
                continue;
            }
            // Top level of 'BF36'.
            if load.buf.is_empty() {
                return Ok(Progress::More);
            }
            let (tag, tag_len) = match Tag::parse(&load.buf) {
                Ok(t) => t,
                Err(tlv::Error::Truncated(_)) => return Ok(Progress::More),
                Err(_) => return Err(load.structure_error()),
            };
            match (load.next, tag.0) {
                (Next::Isc, 0xBF23) => {
                    let Some(raw) = whole_tlv(&load.buf).map_err(|_| load.structure_error())?
                    else {
                        return Ok(Progress::More);
                    };
                    if raw.len() > load.outer_left {
                        return Err(load.structure_error());
                    }
                    load.buf.drain(..raw.len());
                    load.outer_left -= raw.len();
                    self.initialise_secure_channel(load, &raw)?;
                    load.next = Next::A0;
                }
                (Next::A0, 0xA0)
                | (Next::A1, 0xA1)
                | (Next::A2OrA3, 0xA2 | 0xA3)
                | (Next::A3, 0xA3) => {
                    let (len, len_len) = match tlv::parse_length(&load.buf[tag_len..]) {
                        Ok(l) => l,
                        Err(tlv::Error::Truncated(_)) => return Ok(Progress::More),
                        Err(_) => return Err(load.structure_error()),
                    };
                    let header = tag_len + len_len;
                    if header + len > load.outer_left {
                        return Err(load.structure_error());
                    }
                    load.buf.drain(..header);
                    load.outer_left -= header;
                    load.container = Some((tag.0, len));
                    load.command.clear();
                }
                _ => return Err(load.structure_error()),
            }
        }
    }

    /// ES8+.InitialiseSecureChannel (SGP.22 §5.5.1): check the request against the session,
    /// verify smdpSign with PK.DPpb over the request data and otPK.EUICC ('5F49'), run ECKA
    /// with otSK.EUICC and derive the BSP session keys (Annex G).
    fn initialise_secure_channel(&mut self, load: &mut BppLoad, raw: &[u8]) -> Result<(), Failure> {
        let fail = |r| Failure(BppCommandId::INITIALISE_SECURE_CHANNEL, r);
        let isc = InitialiseSecureChannelRequest::decode(raw)
            .map_err(|_| fail(ErrorReason::INCORRECT_INPUT_VALUES))?;
        let session = self
            .state
            .session
            .as_ref()
            .ok_or(fail(ErrorReason::INVALID_TRANSACTION_ID))?;
        let auth = session
            .authenticated
            .as_ref()
            .ok_or(fail(ErrorReason::INVALID_TRANSACTION_ID))?;
        let prepared = session
            .prepared
            .as_ref()
            .ok_or(fail(ErrorReason::INVALID_TRANSACTION_ID))?;
        let signed = isc.signed.value();
        if signed.remote_op_id != rsp::es8p::REMOTE_OP_INSTALL_BPP {
            return Err(fail(ErrorReason::UNSUPPORTED_REMOTE_OPERATION_TYPE));
        }
        if signed.transaction_id.as_bytes() != auth.transaction_id.as_slice() {
            return Err(fail(ErrorReason::INVALID_TRANSACTION_ID));
        }
        let (dppb, cert) =
            download::dppb_key(prepared).ok_or(fail(ErrorReason::INVALID_SIGNATURE))?;
        dppb.verify(&isc.signed_data(&prepared.ot_pk), &isc.smdp_sign)
            .map_err(|_| fail(ErrorReason::INVALID_SIGNATURE))?;
        let crt = &signed.control_ref_template;
        if crt.key_type != bsp::KEY_TYPE_AES || crt.key_len != bsp::KEY_LENGTH_AES128 {
            return Err(fail(ErrorReason::UNSUPPORTED_CRT_VALUES));
        }
        let ot_sk = download::ot_private_key(prepared, cert.curve())
            .ok_or(fail(ErrorReason::INCORRECT_INPUT_VALUES))?;
        let smdp_otpk = pki::PublicKey::from_sec1(cert.curve(), &signed.smdp_otpk)
            .map_err(|_| fail(ErrorReason::INCORRECT_INPUT_VALUES))?;
        let shs = ot_sk
            .ecka(&smdp_otpk)
            .map_err(|_| fail(ErrorReason::INCORRECT_INPUT_VALUES))?;
        let keys = bsp::derive_session_keys(
            &shs[..],
            crt.key_type,
            crt.key_len,
            &crt.host_id,
            &self.identity.eid,
        )
        .map_err(|e| fail(ErrorReason(e.error_reason() as i64)))?;
        load.bsp = Some(bsp::Bsp::new(&keys));
        Ok(())
    }

    /// A sequence ('A0'..'A3') is complete: run the command its segments carried.
    fn end_sequence(&mut self, load: &mut BppLoad, ctag: u32) -> Result<(), Failure> {
        let cmd = command_for(ctag);
        let bad_input = Failure(cmd, ErrorReason::INCORRECT_INPUT_VALUES);
        match ctag {
            // ES8+.ConfigureISDP (§5.5.2).
            0xA0 => {
                ConfigureIsdpRequest::decode(&load.command).map_err(|_| bad_input)?;
                // Keep dpProprietaryData ('B8') as received, for GetProfilesInfo.
                load.dp_proprietary_data = Tlv::parse_single(&load.command)
                    .ok()
                    .and_then(|t| {
                        tlv::iter(t.value)
                            .filter_map(Result::ok)
                            .find(|x| x.tag == Tag(0xB8))
                    })
                    .map(|t| t.raw.to_vec());
                load.next = Next::A1;
            }
            // ES8+.StoreMetadata (§5.5.3).
            0xA1 => {
                let md = StoreMetadataRequest::decode(&load.command).map_err(|_| bad_input)?;
                if self.state.profile_by_iccid(&md.iccid.0).is_some() {
                    return Err(Failure(
                        cmd,
                        ErrorReason::INSTALL_FAILED_DUE_TO_ICCID_ALREADY_EXISTS_ON_EUICC,
                    ));
                }
                if self.state.profiles.len() >= super::info::MAX_PROFILES {
                    return Err(Failure(
                        cmd,
                        ErrorReason::INSTALL_FAILED_DUE_TO_INSUFFICIENT_MEMORY_FOR_PROFILE,
                    ));
                }
                // The RAT is empty: no Profile Policy Rule (PPR1, PPR2) is allowed (§2.9.2).
                if md
                    .profile_policy_rules
                    .as_ref()
                    .is_some_and(|p| p.is_set(1) || p.is_set(2))
                {
                    return Err(Failure(cmd, ErrorReason::PPR_NOT_ALLOWED));
                }
                load.metadata_raw = Some(load.command.to_vec());
                load.metadata = Some(md);
                load.next = Next::A2OrA3;
            }
            // ES8+.ReplaceSessionKeys (§5.5.4): the '86' segments use the PPKs.
            0xA2 => {
                let rsk =
                    ReplaceSessionKeysRequest::decode(&load.command).map_err(|_| bad_input)?;
                let (Ok(enc), Ok(mac), Ok(mcv)) = (
                    <[u8; 16]>::try_from(rsk.ppk_enc.as_slice()),
                    <[u8; 16]>::try_from(rsk.ppk_cmac.as_slice()),
                    <[u8; 16]>::try_from(rsk.initial_mac_chaining_value.as_slice()),
                ) else {
                    return Err(bad_input);
                };
                let bsp = load
                    .bsp
                    .as_mut()
                    .ok_or(Failure(cmd, ErrorReason::SCP03T_STRUCTURE_ERROR))?;
                bsp.replace_keys(&enc, &mac, &mcv);
                load.next = Next::A3;
            }
            // The last '86' has been opened.
            _ => load.next = Next::Done,
        }
        load.command.clear();
        Ok(())
    }

    /// Parses the profile package and installs it (disabled) in one step.
    fn install(&mut self, load: BppLoad) -> Vec<u8> {
        let fail = |s: &mut Self, iccid, reason| {
            s.finish_session(
                iccid,
                FinalResult::Error(ErrorResult {
                    bpp_command_id: BppCommandId::LOAD_PROFILE_ELEMENTS,
                    error_reason: reason,
                    sima_response: None,
                }),
            )
        };
        let (Some(md), Some(md_raw)) = (load.metadata.clone(), load.metadata_raw.clone()) else {
            return fail(self, None, ErrorReason::INCORRECT_INPUT_VALUES);
        };
        // Every check of a full parse; only the ICCID and IMSI are kept (the UICC file system
        // is built from the stored package when the profile is first used).
        let package = match saip::ProfilePackage::check(&load.package) {
            Ok(p) => p,
            Err(_) => {
                return fail(
                    self,
                    Some(md.iccid),
                    ErrorReason::INSTALL_FAILED_DUE_TO_PE_PROCESSING_ERROR,
                )
            }
        };
        // The SAIP header codes the ICCID as plain BCD, the metadata as in EF.ICCID (swapped).
        if package.iccid != md.iccid.to_string() {
            return fail(
                self,
                Some(md.iccid),
                ErrorReason::INSTALL_FAILED_DUE_TO_ICCID_MISMATCH,
            );
        }
        let isdp_aid = self.state.next_isdp_aid();
        let smdp_oid = self.session_dppb_oid();
        self.state.profiles.push(Profile {
            iccid: md.iccid.0,
            isdp_aid: isdp_aid.clone(),
            state: ProfileState::Disabled,
            metadata: md_raw,
            nickname: None,
            dp_proprietary_data: load.dp_proprietary_data.clone(),
            smdp_oid,
            package: load.package.to_vec(),
            imsi: package.imsi,
        });
        let pir = self.finish_session(
            Some(md.iccid),
            FinalResult::Success(SuccessResult {
                aid: isdp_aid,
                sima_response: SIMA_RESPONSE_OK.to_vec(),
            }),
        );
        // Install notifications the profile asks for (NotificationConfigurationInfo), besides
        // the PIR that goes to the SM-DP+ (SGP.22 §2.6.3).
        for nci in md.notification_configuration_info.iter().flatten() {
            if nci
                .profile_management_operation
                .contains(NotificationEvent::Install)
            {
                self.add_other_notification(
                    NotificationKind::Install,
                    nci.notification_address.clone(),
                    md.iccid,
                );
            }
        }
        pir
    }

    /// The SM-DP+ OID of the session's CERT.DPpb. PrepareDownload set `prepared` only after
    /// checking that this OID equals the one of CERT.DPauth kept in `authenticated` (§5.7.5),
    /// so that one is returned instead of parsing the certificate again.
    fn session_dppb_oid(&self) -> Option<Vec<u8>> {
        let session = self.state.session.as_ref()?;
        session.prepared.as_ref()?;
        session.authenticated.as_ref()?.smdp_oid.clone()
    }

    /// Builds and signs the ProfileInstallationResult, stores it as a pending notification and
    /// ends the RSP session (SGP.22 §5.7.6, §3.1.3).
    fn finish_session(&mut self, iccid: Option<Iccid>, final_result: FinalResult) -> Vec<u8> {
        let auth = self
            .state
            .session
            .as_ref()
            .and_then(|s| s.authenticated.clone());
        let smdp_oid = self
            .session_dppb_oid()
            .and_then(|o| Oid::from_contents(&o).ok());
        let address = auth
            .as_ref()
            .map(|a| a.server_address.clone())
            .unwrap_or_default();
        let txid = auth
            .as_ref()
            .and_then(|a| TransactionId::new(a.transaction_id.clone()).ok())
            .or_else(|| TransactionId::new(vec![0]).ok());
        let seq = self.state.next_seq();
        let Some(transaction_id) = txid else {
            return Vec::new();
        };
        let data = Signed::new(ProfileInstallationResultData {
            transaction_id,
            notification_metadata: NotificationMetadata {
                seq_number: seq,
                profile_management_operation: NotificationEvent::Install,
                notification_address: address.clone(),
                iccid,
            },
            smdp_oid,
            final_result,
        });
        let euicc_sign_pir = self.sign(data.raw());
        let pir = ProfileInstallationResult {
            profile_installation_result_data: data,
            euicc_sign_pir,
        }
        .encode();
        self.state.notifications.push(StoredNotification {
            seq_number: seq,
            kind: NotificationKind::Install,
            address,
            iccid: iccid.map(|i| i.0),
            pending: pir.clone(),
        });
        self.state.session = None;
        *self.bpp = None;
        pir
    }
}

fn command_for(ctag: u32) -> BppCommandId {
    match ctag {
        0xA0 => BppCommandId::CONFIGURE_ISDP,
        0xA1 => BppCommandId::STORE_METADATA,
        0xA2 => BppCommandId::REPLACE_SESSION_KEYS,
        _ => BppCommandId::LOAD_PROFILE_ELEMENTS,
    }
}

/// The first TLV of `buf` if it is complete, `None` if more bytes are needed.
fn whole_tlv(buf: &[u8]) -> Result<Option<Vec<u8>>, tlv::Error> {
    match Tlv::parse(buf) {
        Ok((t, _)) => Ok(Some(t.raw.to_vec())),
        Err(tlv::Error::Truncated(_)) => Ok(None),
        Err(e) => Err(e),
    }
}
