//! Profile download and installation (SGP.22 §3.1.3): common mutual authentication (§3.1.2),
//! download confirmation, PrepareDownload, BPP loading (§2.5.5) and delivery of the Profile
//! Installation Result.

use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use apdu::CardTransport;
use rsp::activation::ActivationCode;
use rsp::es10b::{
    AuthenticateServerRequest, AuthenticateServerResponse, CtxParams1,
    CtxParamsForCommonAuthentication, DeviceCapabilities, DeviceInfo, PrepareDownloadRequest,
    PrepareDownloadResponse,
};
use rsp::es9p::{self, path};
use rsp::notification::{FinalResult, ProfileInstallationResult};
use rsp::{Asn1, CancelSessionReason, Iccid, Octet16, Octet32, Signed, TransactionId, Version};
use tlv::{Tag, Tlv};

use crate::notifications::NotificationStatus;
use crate::{es9, Es9Transport, Lpa, LpaError, ProfileMetadata, Result};

/// The outcome of a successful download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadResult {
    pub transaction_id: TransactionId,
    /// ICCID of the installed profile (from its metadata).
    pub iccid: Iccid,
    /// AID of the ISD-P the eUICC created.
    pub isdp_aid: Vec<u8>,
    pub profile_metadata: ProfileMetadata,
    /// The `finalResult` of the Profile Installation Result (always `Success` here).
    pub pir_final_result: FinalResult,
    /// What became of the PIR notification: delivered with ES9+.HandleNotification and removed
    /// from the eUICC, or left on the eUICC for a later [`Lpa::process_notifications`].
    pub pir_notification: NotificationStatus,
}

/// The eUICC's answer to a loaded Bound Profile Package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBppOutcome {
    /// The ProfileInstallationResult ('BF37') exactly as the eUICC returned it.
    pub pir_der: Vec<u8>,
    pub pir: ProfileInstallationResult,
    /// How many segments were sent before the eUICC answered (fewer than all on early errors).
    pub segments_sent: usize,
}

/// Hashed Confirmation Code (SGP.22 §3.1.3 / §5.7.5):
/// `SHA-256(SHA-256(Confirmation Code) || TransactionID)`, computed by the LPAd and sent in
/// PrepareDownloadRequest.hashCc; the eUICC copies it into EUICCSigned2 and the SM-DP+ compares.
pub fn hash_confirmation_code(confirmation_code: &str, transaction_id: &TransactionId) -> Octet32 {
    let mut inner: [u8; 32] = Sha256::digest(confirmation_code.as_bytes()).into();
    let mut h = Sha256::new();
    h.update(inner);
    h.update(transaction_id.as_bytes());
    inner.zeroize();
    h.finalize().into()
}

/// A `DeviceInfo` (SGP.22 §5.7.13 ctxParams1) for a device with the given TAC (8 BCD digits,
/// 4 bytes) declaring GSM, UTRAN and E-UTRAN support up to 3GPP Release 15.
pub fn default_device_info(tac: [u8; 4], imei: Option<[u8; 8]>) -> DeviceInfo {
    let rel15 = Some(Version::new(15, 0, 0));
    DeviceInfo {
        tac: tac.to_vec(),
        device_capabilities: DeviceCapabilities {
            gsm_supported_release: rel15,
            utran_supported_release: rel15,
            eutran_supported_release: rel15,
            ..DeviceCapabilities::default()
        },
        imei: imei.map(|i| i.to_vec()),
    }
}

/// A failure inside an RSP session, with the CancelSession reason to clean up with (none when
/// the peers have already ended the session themselves).
struct Abort {
    error: LpaError,
    cancel: Option<CancelSessionReason>,
}

fn cancel_with(r: CancelSessionReason) -> impl FnOnce(LpaError) -> Abort {
    move |error| Abort {
        error,
        cancel: Some(r),
    }
}

fn no_cancel(error: LpaError) -> Abort {
    Abort {
        error,
        cancel: None,
    }
}

fn check_txid(what: &str, got: &TransactionId, want: &TransactionId) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(LpaError::Protocol(format!(
            "{what}: transactionId {got} does not match the session's {want}"
        )))
    }
}

/// The tag of the alternative chosen in a `[n] CHOICE { ok [0], error [1] }` response.
fn choice_tag(function: &'static str, der: &[u8], outer: Tag) -> Result<Tag> {
    let bad = |source| LpaError::Decode {
        function,
        source: rsp::Error::Tlv {
            ty: function,
            source,
        },
    };
    let t = Tlv::parse_expecting(der, outer).map_err(bad)?;
    let (alt, _) = Tlv::parse(t.value).map_err(bad)?;
    Ok(alt.tag)
}

impl<T: CardTransport> Lpa<T> {
    /// Downloads and installs the profile of an activation code (SGP.22 §3.1.3 with §4.1).
    ///
    /// `confirm` is shown the profile metadata and returns whether the end user accepts the
    /// download (§3.1.3.2). On any failure after ES9+.InitiateAuthentication the session is
    /// cancelled on both sides (ES10b.CancelSession, then ES9+.CancelSession with the eUICC's
    /// signed answer) unless the peers already ended it, and the original error is returned.
    pub async fn download<E: Es9Transport>(
        &mut self,
        es9: &E,
        activation_code: &str,
        confirmation_code: Option<&str>,
        device_info: &DeviceInfo,
        confirm: impl FnMut(&ProfileMetadata) -> bool,
    ) -> Result<DownloadResult> {
        let ac = ActivationCode::parse(activation_code)?;
        // SGP.22 §4.1: the Confirmation Code Required Flag tells the LPAd up front.
        if ac.confirmation_code_required && confirmation_code.is_none() {
            return Err(LpaError::ConfirmationCodeRequired);
        }
        let matching_id = (!ac.matching_id.is_empty()).then_some(ac.matching_id.as_str());
        self.download_from(
            es9,
            &ac.smdp_address,
            matching_id,
            confirmation_code,
            device_info,
            confirm,
        )
        .await
    }

    /// [`Lpa::download`] without an activation code: `smdp_address` (e.g. the default SM-DP+
    /// address of [`Lpa::configured_addresses`]) and an optional matchingId (AC_Token or EventID).
    pub async fn download_from<E: Es9Transport>(
        &mut self,
        es9: &E,
        smdp_address: &str,
        matching_id: Option<&str>,
        confirmation_code: Option<&str>,
        device_info: &DeviceInfo,
        confirm: impl FnMut(&ProfileMetadata) -> bool,
    ) -> Result<DownloadResult> {
        // §3.1.2 steps 1-6: eUICC challenge and info, ES9+.InitiateAuthentication.
        let challenge = self.challenge()?;
        let info1 = self.euicc_info1_raw()?;
        let req = es9p::InitiateAuthenticationRequest {
            euicc_challenge: challenge.to_vec(),
            euicc_info1: info1,
            // SGP.22 §5.6.1: the SM-DP+ address is a FQDN (with an optional port), also when a
            // lab transport is named by an http:// or https:// URL.
            smdp_address: address_in_protocol(smdp_address).to_string(),
        };
        let init: es9p::InitiateAuthenticationOk =
            es9::call(es9, smdp_address, path::INITIATE_AUTHENTICATION, &req).await?;
        let txid = init.transaction_id.clone();
        let session = Session {
            smdp_address,
            txid: &txid,
            challenge,
            matching_id,
            confirmation_code,
            device_info,
        };
        match self.session(es9, &session, init, confirm).await {
            Ok(r) => Ok(r),
            Err(Abort { error, cancel }) => {
                if let Some(r) = cancel {
                    self.abort_session(es9, smdp_address, &txid, r).await;
                }
                Err(error)
            }
        }
    }

    /// ES10b.CancelSession then ES9+.CancelSession with the eUICC's answer (SGP.22 §3.0.2);
    /// best effort: the caller reports the error that caused the cancellation.
    async fn abort_session<E: Es9Transport>(
        &mut self,
        es9: &E,
        smdp_address: &str,
        txid: &TransactionId,
        reason: CancelSessionReason,
    ) {
        let req = rsp::es10b::CancelSessionRequest {
            transaction_id: txid.clone(),
            reason,
        };
        let Ok(response) = self.es10_raw("CancelSession", &req.encode()) else {
            return;
        };
        if response.is_empty() {
            return;
        }
        let req = es9p::CancelSessionRequest {
            transaction_id: txid.clone(),
            cancel_session_response: response,
        };
        let _: Result<es9p::Empty> = es9::call(es9, smdp_address, path::CANCEL_SESSION, &req).await;
    }

    async fn session<E: Es9Transport>(
        &mut self,
        es9: &E,
        s: &Session<'_>,
        init: es9p::InitiateAuthenticationOk,
        mut confirm: impl FnMut(&ProfileMetadata) -> bool,
    ) -> std::result::Result<DownloadResult, Abort> {
        let undefined = || cancel_with(CancelSessionReason::UNDEFINED_REASON);
        let decode = |function| move |source| LpaError::Decode { function, source };

        // §3.1.2 steps 7-10: ES10b.AuthenticateServer. The eUICC verifies the SM-DP+ signature,
        // certificate and challenge; the LPAd checks that the session is the one it started.
        let server_signed1 = init
            .server_signed1()
            .map_err(decode("initiateAuthentication"))
            .map_err(undefined())?;
        check_txid("serverSigned1", &server_signed1.transaction_id, s.txid).map_err(undefined())?;
        if server_signed1.euicc_challenge != s.challenge {
            return Err(undefined()(LpaError::Protocol(
                "serverSigned1 does not carry the eUICC challenge".into(),
            )));
        }
        // The JSON binding carries serverSignature1 and euiccCiPKIdToBeUsed as DER TLVs.
        let server_signature1 = init
            .server_signature1_value()
            .map_err(decode("initiateAuthentication"))
            .map_err(undefined())?;
        let euicc_ci_pkid_to_be_used = init
            .euicc_ci_pkid_to_be_used_value()
            .map_err(decode("initiateAuthentication"))
            .map_err(undefined())?;
        let auth_req = AuthenticateServerRequest {
            server_signed1,
            server_signature1,
            euicc_ci_pkid_to_be_used,
            server_certificate: init.server_certificate,
            ctx_params1: CtxParams1::CommonAuthentication(CtxParamsForCommonAuthentication {
                matching_id: s.matching_id.map(str::to_string),
                device_info: s.device_info.clone(),
            }),
        };
        let auth_resp = self
            .es10_raw("AuthenticateServer", &auth_req.encode())
            .map_err(undefined())?;
        let auth_alt =
            choice_tag("AuthenticateServer", &auth_resp, Tag(0xBF38)).map_err(undefined())?;

        // §3.1.2 steps 11-14: ES9+.AuthenticateClient. An eUICC error response is forwarded
        // too: the SM-DP+ ends its session on it.
        let req = es9p::AuthenticateClientRequest {
            transaction_id: s.txid.clone(),
            authenticate_server_response: auth_resp.clone(),
        };
        if auth_alt != Tag(0xA0) {
            let _: Result<es9p::AuthenticateClientOk> =
                es9::call(es9, s.smdp_address, path::AUTHENTICATE_CLIENT, &req).await;
            let error = match AuthenticateServerResponse::decode(&auth_resp) {
                Ok(AuthenticateServerResponse::Error(e)) => LpaError::es10(
                    "AuthenticateServer",
                    e.authenticate_error_code.0,
                    e.authenticate_error_code.name(),
                ),
                Ok(AuthenticateServerResponse::Ok(_)) => {
                    LpaError::Protocol("AuthenticateServer: bad response".into())
                }
                Err(source) => LpaError::Decode {
                    function: "AuthenticateServer",
                    source,
                },
            };
            return Err(no_cancel(error));
        }
        let client: es9p::AuthenticateClientOk =
            es9::call(es9, s.smdp_address, path::AUTHENTICATE_CLIENT, &req)
                .await
                .map_err(undefined())?;
        check_txid("authenticateClient", &client.transaction_id, s.txid).map_err(undefined())?;
        let metadata = client
            .profile_metadata()
            .map_err(decode("authenticateClient"))
            .map_err(undefined())?;
        let smdp_signed2: Signed<rsp::es10b::SmdpSigned2> = client
            .smdp_signed2()
            .map_err(decode("authenticateClient"))
            .map_err(undefined())?;
        check_txid("smdpSigned2", &smdp_signed2.transaction_id, s.txid).map_err(undefined())?;

        // §3.1.3.2: end user confirmation, and the Confirmation Code when the SM-DP+ asks for it.
        if !confirm(&metadata) {
            return Err(cancel_with(CancelSessionReason::END_USER_REJECTION)(
                LpaError::Rejected,
            ));
        }
        let hash_cc = match (smdp_signed2.cc_required_flag, s.confirmation_code) {
            (true, Some(cc)) => Some(hash_confirmation_code(cc, s.txid)),
            // The user can come back with the code: the order stays usable (postponed).
            (true, None) => {
                return Err(cancel_with(CancelSessionReason::POSTPONED)(
                    LpaError::ConfirmationCodeRequired,
                ))
            }
            (false, _) => None,
        };

        // §3.1.3 steps: ES10b.PrepareDownload, ES9+.GetBoundProfilePackage.
        let smdp_signature2 = client
            .smdp_signature2_value()
            .map_err(decode("authenticateClient"))
            .map_err(undefined())?;
        let prep_req = PrepareDownloadRequest {
            smdp_signed2,
            smdp_signature2,
            hash_cc,
            smdp_certificate: client.smdp_certificate,
        };
        let prep_resp = self
            .es10_raw("PrepareDownload", &prep_req.encode())
            .map_err(undefined())?;
        let prep_alt =
            choice_tag("PrepareDownload", &prep_resp, Tag(0xBF21)).map_err(undefined())?;
        let req = es9p::GetBoundProfilePackageRequest {
            transaction_id: s.txid.clone(),
            prepare_download_response: prep_resp.clone(),
        };
        if prep_alt != Tag(0xA0) {
            let _: Result<es9p::GetBoundProfilePackageOk> =
                es9::call(es9, s.smdp_address, path::GET_BOUND_PROFILE_PACKAGE, &req).await;
            let error = match PrepareDownloadResponse::decode(&prep_resp) {
                Ok(PrepareDownloadResponse::Error(e)) => LpaError::es10(
                    "PrepareDownload",
                    e.download_error_code.0,
                    e.download_error_code.name(),
                ),
                Ok(PrepareDownloadResponse::Ok(_)) => {
                    LpaError::Protocol("PrepareDownload: bad response".into())
                }
                Err(source) => LpaError::Decode {
                    function: "PrepareDownload",
                    source,
                },
            };
            return Err(no_cancel(error));
        }
        let bpp: es9p::GetBoundProfilePackageOk =
            es9::call(es9, s.smdp_address, path::GET_BOUND_PROFILE_PACKAGE, &req)
                .await
                .map_err(undefined())?;
        check_txid("getBoundProfilePackage", &bpp.transaction_id, s.txid).map_err(undefined())?;

        // §3.1.3.3: ES10b.LoadBoundProfilePackage, segment by segment.
        let loaded = self
            .load_bpp(&bpp.bound_profile_package)
            .map_err(cancel_with(CancelSessionReason::LOAD_BPP_EXECUTION_ERROR))?;

        // §3.1.3.3 / §3.5: the PIR goes to the SM-DP+ of this session with
        // ES9+.HandleNotification, then leaves the eUICC's list. A failed delivery leaves it there.
        let data = loaded.pir.profile_installation_result_data.value();
        let seq = data.notification_metadata.seq_number;
        let pir_notification =
            match es9::handle_notification(es9, s.smdp_address, &loaded.pir_der).await {
                Err(e) => NotificationStatus::NotDelivered(e),
                Ok(()) => match self.remove_notification(seq) {
                    Ok(()) => NotificationStatus::Removed,
                    Err(e) => NotificationStatus::DeliveredNotRemoved(e),
                },
            };
        match &data.final_result {
            FinalResult::Success(ok) => Ok(DownloadResult {
                transaction_id: s.txid.clone(),
                iccid: metadata.iccid,
                isdp_aid: ok.aid.clone(),
                profile_metadata: metadata,
                pir_final_result: data.final_result.clone(),
                pir_notification,
            }),
            // The eUICC ended the session itself and the SM-DP+ learns it from the PIR.
            FinalResult::Error(e) => Err(no_cancel(LpaError::Installation {
                bpp_command_id: e.bpp_command_id,
                error_reason: e.error_reason,
            })),
        }
    }

    /// ES10b.LoadBoundProfilePackage (SGP.22 §5.7.6) of a DER BoundProfilePackage, segmented
    /// per §2.5.5; each segment is one STORE DATA sequence:
    /// 1. 'BF36' tag+length with the whole 'BF23' InitialiseSecureChannelRequest;
    /// 2. 'A0' tag+length with the first '87' (ConfigureISDP), further '87's alone;
    /// 3. 'A1' tag+length alone, then 4. each '88' (StoreMetadata);
    /// 5. if present, 'A2' tag+length with the first '87' (ReplaceSessionKeys), further '87's alone;
    /// 6. 'A3' tag+length alone, then 7. each '86' (profile elements).
    ///
    /// The eUICC answers 9000 without data until it returns the ProfileInstallationResult:
    /// after the last segment, or earlier on an error (the remaining segments are then not sent).
    pub fn load_bpp(&mut self, bpp: &[u8]) -> Result<LoadBppOutcome> {
        const F: &str = "LoadBoundProfilePackage";
        let segments = rsp::es8p::segment(bpp).map_err(|source| LpaError::Decode {
            function: F,
            source,
        })?;
        for (i, segment) in segments.iter().enumerate() {
            let resp = self.es10_raw(F, segment)?;
            if resp.is_empty() {
                continue;
            }
            let pir =
                ProfileInstallationResult::decode(&resp).map_err(|source| LpaError::Decode {
                    function: F,
                    source,
                })?;
            return Ok(LoadBppOutcome {
                pir_der: resp,
                pir,
                segments_sent: i + 1,
            });
        }
        Err(LpaError::Protocol(
            "no ProfileInstallationResult after the last BPP segment".into(),
        ))
    }
}

/// What the session steps share.
struct Session<'a> {
    smdp_address: &'a str,
    txid: &'a TransactionId,
    challenge: Octet16,
    matching_id: Option<&'a str>,
    confirmation_code: Option<&'a str>,
    device_info: &'a DeviceInfo,
}

/// `host[:port]` of an SM-DP+ address given as a host or as an `http(s)://` URL.
fn address_in_protocol(address: &str) -> &str {
    let rest = address
        .strip_prefix("https://")
        .or_else(|| address.strip_prefix("http://"))
        .unwrap_or(address);
    rest.split('/').next().unwrap_or(rest)
}

#[cfg(test)]
mod address_tests {
    #[test]
    fn address_in_protocol() {
        use super::address_in_protocol as a;
        assert_eq!(a("smdp.example.com"), "smdp.example.com");
        assert_eq!(a("http://127.0.0.1:8000"), "127.0.0.1:8000");
        assert_eq!(a("https://smdp.example.com:8443/"), "smdp.example.com:8443");
    }
}
