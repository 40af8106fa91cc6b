//! ES9+ (SGP.22 v2.2.2 §5.6): the SM-DP+ side of common mutual authentication and profile
//! download. Each function takes the decoded JSON request, the time and a random source, and
//! works against the [`SmdpStore`]; secrets of a session are sealed before they are stored.
//!
//! Crypto per download (the floor `simkit bench` reports): sign serverSigned1 (DPauth), verify
//! the eUICC chain (eUICC by EUM; the EUM's signature by the CI once per EUM, then remembered),
//! verify euiccSignature1, sign smdpSigned2 (DPpb),
//! verify euiccSignature2, generate otSK.DP, ECKA, sign InitialiseSecureChannel (DPpb), verify
//! the PIR signature.

use bsp::Bsp;
use pki::mint::CertifiedKey;
use pki::{Certificate, PkiError, PrivateKey, PublicKey, RspRole};
use rand_core::CryptoRng;
use rsp::codes::es9p as c;
use rsp::es10b::{AuthenticateServerResponse, PrepareDownloadResponse, ServerSigned1, SmdpSigned2};
use rsp::es8p::{
    BoundProfilePackage, ConfigureIsdpRequest, ControlRefTemplate, InitialiseSecureChannelRequest,
    InitialiseSecureChannelSigned, NotificationConfigurationInformation, StoreMetadataRequest,
};
use rsp::es9p::{
    path, AuthenticateClientOk, AuthenticateClientRequest, CancelSessionRequest, Empty,
    GetBoundProfilePackageOk, GetBoundProfilePackageRequest, HandleNotificationRequest,
    InitiateAuthenticationOk, InitiateAuthenticationRequest, Response,
};
use rsp::notification::{FinalResult, NotificationEvent, NotificationEvents, PendingNotification};
use rsp::{Asn1, CancelSessionReason, Signed};
use tlv::{Reader, Tag, Writer};

use crate::codes::StatusCode;
use crate::ids::{Eid, Iccid, MatchingId, TransactionId};
use crate::order::{InstallResult, OrderPolicy};
use crate::outbox::ProgressReports;
use crate::seal::KeyStore;
use crate::session::{package_aad, session_aad, NewSession, SessionRecord, SessionState};
use crate::store::SmdpStore;
use crate::time::UnixMillis;
use crate::{Error, FunctionError};

/// `remoteOpId` installBoundProfilePackage (SGP.22 §5.5.1).
const REMOTE_OP_INSTALL_BPP: i64 = 1;
/// `5F37`: euiccSignature1/2, smdpSignature2, ... as embedded in the next signed step.
const TAG_SIGNATURE: Tag = Tag(0x5F37);

/// One SM-DP+ identity under one CI: CERT.DPauth.ECDSA and CERT.DPpb.ECDSA with their keys.
#[derive(Debug, Clone)]
pub struct DpCredentials {
    pub dp_auth: CertifiedKey,
    pub dp_pb: CertifiedKey,
}

impl DpCredentials {
    /// The SKI of the CI that issued these certificates (their authority key identifier).
    fn ci_pkid(&self) -> Option<&[u8]> {
        self.dp_auth.cert.authority_key_id()
    }
}

/// Static configuration of the ES9+ service.
#[derive(Debug, Clone)]
pub struct Es9Config {
    /// The SM-DP+ address as it appears in activation codes (FQDN, optionally with a port).
    pub address: String,
    /// One credential set per CI the SM-DP+ serves (e.g. NIST and brainpool).
    pub credentials: Vec<DpCredentials>,
    /// CI certificates eUICC chains may end in.
    pub trusted_cis: Vec<Certificate>,
    pub policy: OrderPolicy,
    /// hostId of the BSP control reference template (SGP.22 §5.5.1, GP Amendment F §6.5.2.3).
    pub host_id: Vec<u8>,
}

/// The ES9+ functions of one SM-DP+.
pub struct Es9Service<S, K> {
    config: Es9Config,
    store: S,
    keystore: K,
    /// EUM certificates already found signed by a trusted CI (a handful of EUMs sign every
    /// eUICC: the CI signature of each is verified once, every other check on each request).
    eum_cache: pki::EumSignatureCache,
    /// EUM certificates already parsed, by their DER (the same few on every download). A parse
    /// depends on the bytes alone, so a cached one is what parsing again would give; every
    /// check still runs on it per request.
    eum_certs: std::sync::Mutex<Vec<std::sync::Arc<Certificate>>>,
    /// Which progress reports the store writes to the outbox (default: all).
    reports: ProgressReports,
    /// Sessions as this service last wrote them.
    sessions: SessionCache,
}

/// The sessions an [`Es9Service`] wrote, with their opened secrets, so that the next step of a
/// download finds its session without reading and unsealing it again (one read transaction
/// per ES9+ call, three per download).
///
/// The store stays the authority. Each step that changes a session writes it with a
/// compare-and-set on its state, so an entry another SM-DP+ instance made stale (it advanced or
/// removed the session) fails there as an unknown TransactionID, the answer the store's copy
/// would have given. An entry whose state does not suit the step is read again from the store
/// before the step refuses. Entries go when the step that ends the session runs, on any store
/// error of a step, at expiry, and all at once when the cache is full.
#[derive(Default)]
struct SessionCache {
    entries: std::sync::Mutex<std::collections::HashMap<TransactionId, Cached>>,
}

/// A session and its secrets, as written.
struct Cached {
    record: SessionRecord,
    secrets: SessionSecrets,
}

/// Sessions [`SessionCache`] holds before it starts over (a download's session lives seconds;
/// one waiting for its Profile Installation Result, up to `pir_ttl`).
const SESSIONS_KEPT: usize = 16_384;

impl SessionCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<TransactionId, Cached>> {
        // The map is consistent after any panic (one insert or remove at a time).
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live session `tid` if its state suits the caller.
    fn get(
        &self,
        tid: &TransactionId,
        now: UnixMillis,
        suits: impl Fn(SessionState) -> bool,
    ) -> Option<(SessionRecord, SessionSecrets)> {
        let entries = self.lock();
        let c = entries.get(tid)?;
        (!c.record.is_expired(now) && suits(c.record.state))
            .then(|| (c.record.clone(), c.secrets.clone()))
    }

    fn put(&self, record: SessionRecord, secrets: SessionSecrets, now: UnixMillis) {
        let mut entries = self.lock();
        if entries.len() >= SESSIONS_KEPT {
            entries.retain(|_, c| !c.record.is_expired(now));
            if entries.len() >= SESSIONS_KEPT {
                entries.clear();
            }
        }
        entries.insert(record.transaction_id.clone(), Cached { record, secrets });
    }

    fn forget(&self, tid: &TransactionId) {
        self.lock().remove(tid);
    }
}

/// Parsed EUM certificates [`Es9Service`] keeps (it starts over when full).
const EUM_CERTS_KEPT: usize = 16;

/// Session secrets, sealed under [`session_aad`] before they reach the store.
#[derive(Default, Clone)]
struct SessionSecrets {
    server_challenge: [u8; 16],
    /// Index into [`Es9Config::credentials`].
    credentials: u8,
    /// PK.EUICC.ECDSA, uncompressed, once the eUICC is authenticated.
    euicc_public_key: Option<Vec<u8>>,
    /// smdpSignature2 (r || s), which euiccSignature2 covers.
    smdp_signature2: Option<Vec<u8>>,
}

impl SessionSecrets {
    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.put(Tag(0x80), &self.server_challenge)
            .put(Tag(0x81), &[self.credentials])
            .put_opt(Tag(0x82), self.euicc_public_key.as_deref())
            .put_opt(Tag(0x83), self.smdp_signature2.as_deref());
        w.into_vec()
    }

    fn decode(bytes: &[u8]) -> Result<Self, tlv::Error> {
        let mut r = Reader::new(bytes);
        let challenge = r.expect(Tag(0x80))?.value;
        let credentials = r.expect(Tag(0x81))?.value;
        let s = SessionSecrets {
            server_challenge: challenge
                .try_into()
                .map_err(|_| tlv::Error::InvalidValue("serverChallenge"))?,
            credentials: *credentials
                .first()
                .ok_or(tlv::Error::InvalidValue("credentials"))?,
            euicc_public_key: r.optional(Tag(0x82))?.map(|t| t.value.to_vec()),
            smdp_signature2: r.optional(Tag(0x83))?.map(|t| t.value.to_vec()),
        };
        r.finish()?;
        Ok(s)
    }
}

type Outcome<T> = Result<T, FunctionError>;

fn invalid(message: impl Into<String>) -> FunctionError {
    FunctionError::new(crate::codes::FUNCTION_INVALID_PARAM, message)
}

/// Maps a store error: rejections keep their code, anything else is an execution error.
fn from_store(e: Error) -> FunctionError {
    match e {
        Error::Rejected(fe) => fe,
        other => FunctionError::new(other.status_code(), other.to_string()),
    }
}

/// `5F37 40 || r || s`: a signature as it is embedded in the signed data of the next step.
fn signature_tlv(signature: &[u8]) -> Vec<u8> {
    tlv::encode_tlv(TAG_SIGNATURE, signature)
}

/// SGP.22 §5.6.3 certificate checks, mapped to the AuthenticateClient status codes.
fn chain_error(e: PkiError) -> FunctionError {
    let code = match &e {
        PkiError::UnknownCi => c::CI_PUBLIC_KEY_UNKNOWN,
        PkiError::Expired(RspRole::Eum) | PkiError::NotYetValid(RspRole::Eum) => {
            c::EUM_CERTIFICATE_EXPIRED
        }
        PkiError::Expired(_) | PkiError::NotYetValid(_) => c::EUICC_CERTIFICATE_EXPIRED,
        PkiError::InvalidCertSignature(RspRole::Eum)
        | PkiError::IssuerMismatch(RspRole::Eum)
        | PkiError::KeyUsage(RspRole::Eum)
        | PkiError::WrongRole {
            expected: RspRole::Eum,
            ..
        } => c::EUM_CERTIFICATE_INVALID,
        _ => c::EUICC_CERTIFICATE_INVALID,
    };
    FunctionError::new(code, e.to_string())
}

impl<S: SmdpStore, K: KeyStore> Es9Service<S, K> {
    pub fn new(config: Es9Config, store: S, keystore: K) -> Result<Self, String> {
        if config.credentials.is_empty() {
            return Err("no SM-DP+ credentials configured".into());
        }
        if config.credentials.len() > u8::MAX as usize {
            return Err("too many credential sets".into());
        }
        for cred in &config.credentials {
            if cred.ci_pkid().is_none() {
                return Err("CERT.DPauth has no authority key identifier".into());
            }
            if cred.dp_auth.key.public_key() != *cred.dp_auth.cert.public_key()
                || cred.dp_pb.key.public_key() != *cred.dp_pb.cert.public_key()
            {
                return Err("a DPauth/DPpb private key does not match its certificate".into());
            }
        }
        if config.host_id.is_empty() || config.host_id.len() > 16 {
            return Err("hostId must be 1 to 16 bytes".into());
        }
        Ok(Es9Service {
            config,
            store,
            keystore,
            eum_cache: pki::EumSignatureCache::new(),
            eum_certs: std::sync::Mutex::new(Vec::new()),
            sessions: SessionCache::default(),
            reports: ProgressReports::All,
        })
    }

    /// Write progress reports (ES2+.HandleDownloadProgressInfo) to the outbox only as
    /// `reports` says, e.g. `ProgressReports::only(<Operators with a callback URL>)` when this
    /// process's outbox deliverer is the one that delivers them: it drops a report for an
    /// Operator without a callback URL unsent, so writing it only costs writes. The default,
    /// [`ProgressReports::All`], writes every report.
    pub fn with_progress_reports(mut self, reports: ProgressReports) -> Self {
        self.reports = reports;
        self
    }

    /// Which progress reports are written to the outbox.
    pub fn progress_reports(&self) -> &ProgressReports {
        &self.reports
    }

    /// The EUM certificate of `der`, parsed once (see [`Es9Service::eum_certs`]).
    fn eum_certificate(&self, der: &[u8]) -> Outcome<std::sync::Arc<Certificate>> {
        let kept =
            |v: &Vec<std::sync::Arc<Certificate>>| v.iter().find(|c| c.der() == der).cloned();
        if let Some(c) = self.eum_certs.lock().ok().and_then(|v| kept(&v)) {
            return Ok(c);
        }
        let cert = std::sync::Arc::new(
            Certificate::from_der(der)
                .map_err(|e| FunctionError::new(c::EUM_CERTIFICATE_INVALID, e.to_string()))?,
        );
        if let Ok(mut v) = self.eum_certs.lock() {
            if v.len() >= EUM_CERTS_KEPT {
                v.clear();
            }
            v.push(cert.clone());
        }
        Ok(cert)
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn config(&self) -> &Es9Config {
        &self.config
    }

    /// The key store sealing sessions and profile packages (inventory import uses it too).
    pub fn keystore(&self) -> &K {
        &self.keystore
    }

    fn seal(
        &self,
        tid: &TransactionId,
        secrets: &SessionSecrets,
        rng: &mut dyn CryptoRng,
    ) -> Outcome<crate::SealedBlob> {
        self.keystore
            .seal(&session_aad(tid), &secrets.encode(), rng)
            .map_err(|e| from_store(Error::Seal(e)))
    }

    /// The session and its secrets; unknown and expired sessions are 8.10.1/3.9. `suits` says
    /// which states the calling step expects: a session this service wrote in such a state is
    /// taken from [`SessionCache`], any other is read from the store.
    async fn session(
        &self,
        tid: &TransactionId,
        now: UnixMillis,
        suits: impl Fn(SessionState) -> bool,
    ) -> Outcome<(SessionRecord, SessionSecrets)> {
        if let Some(found) = self.sessions.get(tid, now, suits) {
            return Ok(found);
        }
        let record = self
            .store
            .get_session(tid, now)
            .await
            .map_err(from_store)?
            .ok_or_else(|| {
                FunctionError::new(
                    c::TRANSACTION_ID_UNKNOWN,
                    "unknown or expired TransactionID",
                )
            })?;
        let plain = self
            .keystore
            .open(&session_aad(tid), &record.sealed)
            .map_err(|e| from_store(Error::Seal(e)))?;
        let secrets = SessionSecrets::decode(&plain).map_err(|e| {
            FunctionError::new(
                crate::codes::PROVIDER_EXECUTION_ERROR,
                format!("session data: {e}"),
            )
        })?;
        Ok((record, secrets))
    }

    fn credentials(&self, secrets: &SessionSecrets) -> Outcome<&DpCredentials> {
        self.config
            .credentials
            .get(secrets.credentials as usize)
            .ok_or_else(|| {
                FunctionError::new(
                    crate::codes::PROVIDER_EXECUTION_ERROR,
                    "credential set gone",
                )
            })
    }

    fn euicc_key(&self, secrets: &SessionSecrets) -> Outcome<PublicKey> {
        let cred = self.credentials(secrets)?;
        let bytes = secrets.euicc_public_key.as_deref().ok_or_else(|| {
            FunctionError::new(
                c::TRANSACTION_ID_UNKNOWN,
                "the eUICC is not authenticated in this session",
            )
        })?;
        PublicKey::from_sec1(cred.dp_pb.cert.curve(), bytes)
            .map_err(|e| FunctionError::new(crate::codes::PROVIDER_EXECUTION_ERROR, e.to_string()))
    }

    fn parse_tid(tid: &rsp::TransactionId) -> Outcome<TransactionId> {
        TransactionId::new(tid.as_bytes()).map_err(|e| invalid(e.to_string()))
    }

    /// ES9+.InitiateAuthentication (SGP.22 §5.6.1).
    pub async fn initiate_authentication<R: CryptoRng + Send>(
        &self,
        req: InitiateAuthenticationRequest,
        now: UnixMillis,
        rng: &mut R,
    ) -> Outcome<InitiateAuthenticationOk> {
        if !req.smdp_address.eq_ignore_ascii_case(&self.config.address) {
            return Err(FunctionError::new(
                c::INVALID_SMDP_ADDRESS,
                format!("this SM-DP+ is {}", self.config.address),
            ));
        }
        let euicc_challenge = req.euicc_challenge().map_err(|e| invalid(e.to_string()))?;
        let info1 = req.euicc_info1().map_err(|e| invalid(e.to_string()))?;
        // A credential set whose CI the eUICC can verify (our certificates) and sign with (its own).
        let chosen = self.config.credentials.iter().position(|cred| {
            let pkid = cred.ci_pkid().unwrap_or_default();
            info1
                .ci_pkid_list_for_verification
                .iter()
                .any(|k| k == pkid)
                && info1.ci_pkid_list_for_signing.iter().any(|k| k == pkid)
        });
        let Some(index) = chosen else {
            return Err(FunctionError::new(
                c::SECURITY_CONFIGURATION_NOT_SUPPORTED,
                "no common CI public key",
            ));
        };
        let cred = &self.config.credentials[index];

        let mut tid_bytes = [0u8; 16];
        rng.fill_bytes(&mut tid_bytes);
        let tid = TransactionId::new(&tid_bytes).map_err(|e| invalid(e.to_string()))?;
        let rsp_tid =
            rsp::TransactionId::new(tid_bytes.to_vec()).map_err(|e| invalid(e.to_string()))?;
        let mut server_challenge = [0u8; 16];
        rng.fill_bytes(&mut server_challenge);

        let signed1 = Signed::new(ServerSigned1 {
            transaction_id: rsp_tid.clone(),
            euicc_challenge,
            server_address: self.config.address.clone(),
            server_challenge,
        });
        let signature1 = cred.dp_auth.key.sign(signed1.raw());

        let secrets = SessionSecrets {
            server_challenge,
            credentials: index as u8,
            ..Default::default()
        };
        let sealed = self.seal(&tid, &secrets, rng)?;
        let session = NewSession::new(tid, now, self.config.policy.session_ttl_ms, sealed);
        let record = SessionRecord {
            transaction_id: session.transaction_id.clone(),
            state: SessionState::Initiated,
            eid: None,
            iccid: None,
            matching_id: None,
            created_at: session.created_at,
            expires_at: session.expires_at,
            sealed: session.sealed.clone(),
        };
        self.store
            .create_session(session)
            .await
            .map_err(from_store)?;
        self.sessions.put(record, secrets, now);

        Ok(InitiateAuthenticationOk {
            transaction_id: rsp_tid,
            server_signed1: signed1.raw().to_vec(),
            server_signature1: signature_tlv(&signature1),
            euicc_ci_pkid_to_be_used: tlv::encode_tlv(
                Tag::OCTET_STRING,
                cred.ci_pkid().unwrap_or_default(),
            ),
            server_certificate: cred.dp_auth.cert.der().to_vec(),
        })
    }

    /// ES9+.AuthenticateClient (SGP.22 §5.6.3).
    pub async fn authenticate_client<R: CryptoRng + Send>(
        &self,
        req: AuthenticateClientRequest,
        now: UnixMillis,
        rng: &mut R,
    ) -> Outcome<AuthenticateClientOk> {
        let tid = Self::parse_tid(&req.transaction_id)?;
        let (mut record, mut secrets) = self
            .session(&tid, now, |s| s == SessionState::Initiated)
            .await?;
        if record.state != SessionState::Initiated {
            return Err(FunctionError::new(
                c::TRANSACTION_ID_UNKNOWN,
                "AuthenticateClient already done in this session",
            ));
        }
        let response = req
            .authenticate_server_response()
            .map_err(|e| invalid(e.to_string()))?;
        let ok = match response {
            AuthenticateServerResponse::Ok(ok) => ok,
            AuthenticateServerResponse::Error(e) => {
                // The eUICC refused this SM-DP+: the session ends here.
                self.sessions.forget(&tid);
                self.store.delete_session(&tid).await.map_err(from_store)?;
                return Err(FunctionError::new(
                    c::EUICC_SIGNATURE_INVALID,
                    format!(
                        "the eUICC refused the server: {:?}",
                        e.authenticate_error_code
                    ),
                ));
            }
        };
        let signed1 = ok.euicc_signed1.value();
        if signed1.transaction_id.as_bytes() != tid.as_bytes() {
            return Err(FunctionError::new(
                c::TRANSACTION_ID_UNKNOWN,
                "euiccSigned1 names another TransactionID",
            ));
        }
        let cred = self.credentials(&secrets)?;
        let ci_pkid = cred.ci_pkid().unwrap_or_default();
        let eum = self.eum_certificate(&ok.eum_certificate)?;
        let euicc = Certificate::from_der(&ok.euicc_certificate)
            .map_err(|e| FunctionError::new(c::EUICC_CERTIFICATE_INVALID, e.to_string()))?;
        // The eUICC chain must end in the CI negotiated at InitiateAuthentication (§5.6.3).
        if eum.authority_key_id() != Some(ci_pkid) {
            return Err(FunctionError::new(
                c::CI_PUBLIC_KEY_UNKNOWN,
                "the EUM certificate is not issued by euiccCiPKIdToBeUsed",
            ));
        }
        let identity = pki::verify_euicc_chain_cached(
            &self.config.trusted_cis,
            &eum,
            &euicc,
            now.0.max(0) as u64 / 1000,
            &self.eum_cache,
        )
        .map_err(chain_error)?;
        identity
            .public_key
            .verify(ok.euicc_signed1.raw(), &ok.euicc_signature1)
            .map_err(|_| {
                FunctionError::new(
                    c::EUICC_SIGNATURE_INVALID,
                    "euiccSignature1 does not verify",
                )
            })?;
        if signed1.server_challenge != secrets.server_challenge {
            return Err(FunctionError::new(
                c::EUICC_SIGNATURE_INVALID,
                "serverChallenge does not match",
            ));
        }
        if !signed1
            .server_address
            .eq_ignore_ascii_case(&self.config.address)
        {
            return Err(FunctionError::new(
                c::INVALID_SMDP_ADDRESS,
                "euiccSigned1 names another SM-DP+ address",
            ));
        }
        let eid = Eid::parse(&identity.eid)
            .map_err(|e| FunctionError::new(c::EUICC_CERTIFICATE_INVALID, e.to_string()))?;
        let matching_id = match &signed1.ctx_params1.common().matching_id {
            Some(m) if !m.is_empty() => Some(
                MatchingId::parse(m)
                    .map_err(|e| FunctionError::new(c::MATCHING_ID_REFUSED, e.to_string()))?,
            ),
            _ => None,
        };
        // smdpSigned2 carries ccRequiredFlag, which depends on the order: it is signed once the
        // store authorized the download, and the session's sealed data (with smdpSignature2) is
        // written in the same transaction as the session binding.
        secrets.euicc_public_key = Some(identity.public_key.to_uncompressed());
        let bound = self
            .store
            .authorize_download_with(
                &tid,
                matching_id,
                eid,
                now,
                self.config.policy,
                &self.reports,
                |auth| {
                    let signed2 = Signed::new(SmdpSigned2 {
                        transaction_id: req.transaction_id.clone(),
                        cc_required_flag: auth.cc_required,
                        bpp_euicc_otpk: None,
                    });
                    // smdpSignature2 covers smdpSigned2 || euiccSignature1 TLV (SGP.22 §5.7.5).
                    let mut to_sign = signed2.raw().to_vec();
                    to_sign.extend_from_slice(&signature_tlv(&ok.euicc_signature1));
                    let signature2 = cred.dp_pb.key.sign(&to_sign);
                    secrets.smdp_signature2 = Some(signature2.to_vec());
                    let sealed = self
                        .keystore
                        .seal(&session_aad(&tid), &secrets.encode(), rng)
                        .map_err(Error::Seal)?;
                    Ok((Some(sealed.clone()), (signed2, signature2, sealed)))
                },
            )
            .await;
        let (auth, (signed2, signature2, sealed)) = match bound {
            Ok(bound) => bound,
            Err(e) => {
                self.sessions.forget(&tid);
                return Err(from_store(e));
            }
        };
        // As the store bound it (SmdpStore::authorize_download_with).
        record.state = SessionState::Authenticated;
        record.eid = Some(auth.eid.clone());
        record.iccid = Some(auth.iccid.clone());
        record.matching_id = auth.matching_id.clone();
        record.sealed = sealed;
        self.sessions.put(record, secrets, now);
        // The Profile was read in the authorization's own transaction.
        let metadata = self.profile_metadata(&auth.iccid, &auth.profile_metadata)?;

        Ok(AuthenticateClientOk {
            transaction_id: req.transaction_id,
            profile_metadata: metadata.encode(),
            smdp_signed2: signed2.raw().to_vec(),
            smdp_signature2: signature_tlv(&signature2),
            smdp_certificate: cred.dp_pb.cert.der().to_vec(),
        })
    }

    /// StoreMetadataRequest from the inventory metadata (SGP.22 §5.5.3); enable, disable and
    /// delete notifications go back to this SM-DP+.
    fn profile_metadata(
        &self,
        iccid: &Iccid,
        metadata: &serde_json::Value,
    ) -> Outcome<StoreMetadataRequest> {
        let text = |key: &str| {
            metadata
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let class = match text("profileClass").as_deref() {
            Some("test") => rsp::ProfileClass::TEST,
            Some("provisioning") => rsp::ProfileClass::PROVISIONING,
            _ => rsp::ProfileClass::OPERATIONAL,
        };
        Ok(StoreMetadataRequest {
            iccid: iccid
                .as_str()
                .parse::<rsp::Iccid>()
                .map_err(|e| invalid(e.to_string()))?,
            service_provider_name: text("serviceProviderName").unwrap_or_default(),
            profile_name: text("profileName").unwrap_or_default(),
            icon_type: None,
            icon: None,
            profile_class: Some(class),
            notification_configuration_info: Some(vec![NotificationConfigurationInformation {
                profile_management_operation: NotificationEvents::new(&[
                    NotificationEvent::Enable,
                    NotificationEvent::Disable,
                    NotificationEvent::Delete,
                ]),
                notification_address: self.config.address.clone(),
            }]),
            profile_owner: None,
            profile_policy_rules: None,
        })
    }

    /// ES9+.GetBoundProfilePackage (SGP.22 §5.6.2): checks the eUICC's PrepareDownload answer and
    /// the confirmation code, then binds the profile package to this session (§2.5).
    pub async fn get_bound_profile_package<R: CryptoRng + Send>(
        &self,
        req: GetBoundProfilePackageRequest,
        now: UnixMillis,
        rng: &mut R,
    ) -> Outcome<GetBoundProfilePackageOk> {
        let tid = Self::parse_tid(&req.transaction_id)?;
        let (mut record, secrets) = self
            .session(&tid, now, |s| s == SessionState::Authenticated)
            .await?;
        if record.state != SessionState::Authenticated {
            return Err(FunctionError::new(
                c::TRANSACTION_ID_UNKNOWN,
                "no authenticated download in this session",
            ));
        }
        let (Some(eid), Some(iccid)) = (record.eid.clone(), record.iccid.clone()) else {
            return Err(FunctionError::new(
                c::TRANSACTION_ID_UNKNOWN,
                "session not bound to an order",
            ));
        };
        let response = req
            .prepare_download_response()
            .map_err(|e| invalid(e.to_string()))?;
        let ok = match response {
            PrepareDownloadResponse::Ok(ok) => ok,
            PrepareDownloadResponse::Error(e) => {
                // The eUICC refused the download: the session ends; the order may be retried.
                self.sessions.forget(&tid);
                self.store.delete_session(&tid).await.map_err(from_store)?;
                return Err(FunctionError::new(
                    c::EUICC_SIGNATURE_INVALID,
                    format!(
                        "the eUICC refused the download: {:?}",
                        e.download_error_code
                    ),
                ));
            }
        };
        let euicc_key = self.euicc_key(&secrets)?;
        let smdp_signature2 = secrets.smdp_signature2.as_deref().ok_or_else(|| {
            FunctionError::new(
                c::TRANSACTION_ID_UNKNOWN,
                "AuthenticateClient not completed",
            )
        })?;
        // euiccSignature2 covers euiccSigned2 || smdpSignature2 TLV (SGP.22 §5.7.5).
        let mut signed = ok.euicc_signed2.raw().to_vec();
        signed.extend_from_slice(&signature_tlv(smdp_signature2));
        euicc_key
            .verify(&signed, &ok.euicc_signature2)
            .map_err(|_| {
                FunctionError::new(
                    c::EUICC_SIGNATURE_INVALID,
                    "euiccSignature2 does not verify",
                )
            })?;
        let signed2 = ok.euicc_signed2.value();
        if signed2.transaction_id.as_bytes() != tid.as_bytes() {
            return Err(FunctionError::new(
                c::TRANSACTION_ID_UNKNOWN,
                "euiccSigned2 names another TransactionID",
            ));
        }
        // The check's consistent read also returns the Profile and its sealed package.
        let confirmed = self
            .store
            .verify_download_confirmation(
                &tid,
                signed2.hash_cc.map(|h| h.to_vec()),
                now,
                self.config.policy,
                &self.reports,
            )
            .await
            .map_err(|e| {
                self.sessions.forget(&tid);
                from_store(e)
            })?;

        let cred = self.credentials(&secrets)?;
        let curve = cred.dp_pb.cert.curve();
        let euicc_otpk = PublicKey::from_sec1(curve, &signed2.euicc_otpk).map_err(|e| {
            FunctionError::new(c::EUICC_SIGNATURE_INVALID, format!("otPK.EUICC.ECKA: {e}"))
        })?;
        if confirmed.profile.iccid != iccid {
            return Err(FunctionError::new(
                c::BPP_UNAVAILABLE,
                "the ordered Profile is gone",
            ));
        }
        // The same metadata AuthenticateClient returned (it is derived from the inventory entry).
        let metadata = self
            .profile_metadata(&iccid, &confirmed.profile.metadata)?
            .encode();
        let upp = self
            .keystore
            .open(&package_aad(&iccid), &confirmed.package)
            .map_err(|e| from_store(Error::Seal(e)))?;
        let bpp = self.bind(cred, &tid, &eid, &euicc_otpk, &metadata, &upp, curve, rng)?;

        let keep_until = now.plus_millis(self.config.policy.pir_ttl_ms);
        if let Err(e) = self
            .store
            .record_bpp_delivered(&tid, now, keep_until, &self.reports)
            .await
        {
            self.sessions.forget(&tid);
            return Err(from_store(e));
        }
        record.state = SessionState::BppDelivered;
        record.expires_at = keep_until;
        self.sessions.put(record, secrets, now);
        Ok(GetBoundProfilePackageOk {
            transaction_id: req.transaction_id,
            bound_profile_package: bpp,
        })
    }

    /// Builds the Bound Profile Package (SGP.22 §2.5.4): one-time key pair, ECKA, BSP session
    /// keys (Annex G), then ConfigureISDP and the profile elements encrypted and MACed, the
    /// metadata MACed. The session keys protect the profile (no ReplaceSessionKeys).
    #[allow(clippy::too_many_arguments)]
    fn bind(
        &self,
        cred: &DpCredentials,
        tid: &TransactionId,
        eid: &Eid,
        euicc_otpk: &PublicKey,
        metadata: &[u8],
        upp: &[u8],
        curve: pki::Curve,
        rng: &mut (impl CryptoRng + Send),
    ) -> Outcome<Vec<u8>> {
        let exec = |e: String| FunctionError::new(crate::codes::PROVIDER_EXECUTION_ERROR, e);
        let ot_sk = PrivateKey::generate(curve, rng);
        let shared = ot_sk.ecka(euicc_otpk).map_err(|e| exec(e.to_string()))?;
        let eid_bytes = eid
            .as_str()
            .parse::<rsp::Eid>()
            .map_err(|e| exec(e.to_string()))?;
        let keys = bsp::derive_session_keys(
            shared.as_ref(),
            bsp::KEY_TYPE_AES,
            bsp::KEY_LENGTH_AES128,
            &self.config.host_id,
            eid_bytes.as_bytes(),
        )
        .map_err(|e| exec(e.to_string()))?;

        let iscr_signed = Signed::new(InitialiseSecureChannelSigned {
            remote_op_id: REMOTE_OP_INSTALL_BPP,
            transaction_id: rsp::TransactionId::new(tid.as_bytes().to_vec())
                .map_err(|e| exec(e.to_string()))?,
            control_ref_template: ControlRefTemplate {
                key_type: bsp::KEY_TYPE_AES,
                key_len: bsp::KEY_LENGTH_AES128,
                host_id: self.config.host_id.clone(),
            },
            smdp_otpk: ot_sk.public_key().to_uncompressed(),
        });
        let to_sign = InitialiseSecureChannelRequest::data_to_sign(
            iscr_signed.raw(),
            &euicc_otpk.to_uncompressed(),
        );
        let smdp_sign = cred.dp_pb.key.sign(&to_sign).to_vec();

        let mut bsp = Bsp::new(&keys);
        // bsp emits whole segment TLVs ('87'/'88'/'86', minimal lengths): the BPP is written
        // from them as they are, in one buffer (the same bytes as encoding their contents).
        let protect = |r: Result<Vec<Vec<u8>>, bsp::BspError>| r.map_err(|e| exec(e.to_string()));
        let configure = ConfigureIsdpRequest {
            dp_proprietary_data: None,
        }
        .encode();
        let first_sequence_of_87 = protect(bsp.encrypt_and_mac(bsp::TAG_ENCRYPTED, &configure))?;
        let sequence_of_88 = protect(bsp.mac_only(bsp::TAG_MAC_ONLY, metadata))?;
        let sequence_of_86 = protect(bsp.encrypt_and_mac(bsp::TAG_PPP_SEGMENT, upp))?;
        BoundProfilePackage::encode_from_segments(
            &InitialiseSecureChannelRequest {
                signed: iscr_signed,
                smdp_sign,
            },
            &first_sequence_of_87,
            &sequence_of_88,
            None,
            &sequence_of_86,
        )
        .map_err(|e| exec(e.to_string()))
    }

    /// ES9+.HandleNotification (SGP.22 §5.6.4). A Profile Installation Result is verified with
    /// the session's eUICC key and moves the order; other notifications are verified through
    /// their own certificate chain and deduplicated on (EID, seqNumber).
    pub async fn handle_notification(
        &self,
        req: HandleNotificationRequest,
        now: UnixMillis,
    ) -> Outcome<()> {
        let pending = req
            .pending_notification()
            .map_err(|e| invalid(e.to_string()))?;
        match pending {
            PendingNotification::ProfileInstallationResult(pir) => {
                let data = pir.profile_installation_result_data.value();
                let tid = TransactionId::new(data.transaction_id.as_bytes())
                    .map_err(|e| invalid(e.to_string()))?;
                // Without its session the PIR cannot be verified (it carries no certificate) or
                // attributed: acknowledge it so the LPA removes it (SGP.22 §3.5), change nothing.
                let (record, secrets) = match self.session(&tid, now, |_| true).await {
                    Ok(found) => found,
                    Err(e) if e.code.subject == c::TRANSACTION_ID_UNKNOWN.subject => return Ok(()),
                    Err(e) => return Err(e),
                };
                self.euicc_key(&secrets)?
                    .verify(
                        pir.profile_installation_result_data.raw(),
                        &pir.euicc_sign_pir,
                    )
                    .map_err(|_| {
                        FunctionError::new(
                            c::EUICC_SIGNATURE_INVALID,
                            "euiccSignPIR does not verify",
                        )
                    })?;
                let (Some(eid), Some(iccid)) = (record.eid, record.iccid) else {
                    return Err(FunctionError::new(
                        c::TRANSACTION_ID_UNKNOWN,
                        "session not bound to an order",
                    ));
                };
                let failure = match &data.final_result {
                    FinalResult::Success(_) => None,
                    FinalResult::Error(e) => Some(FunctionError::new(
                        INSTALLATION_FAILED,
                        format!(
                            "bppCommandId {:?}, errorReason {:?}",
                            e.bpp_command_id, e.error_reason
                        ),
                    )),
                };
                let result = InstallResult {
                    eid,
                    seq_number: data.notification_metadata.seq_number,
                    iccid,
                    failure,
                    result_data: Some(pir.encode()),
                };
                // The result ends the session (the store removes it), whatever it says.
                self.sessions.forget(&tid);
                self.store
                    .record_install_result(result, now, self.config.policy, &self.reports)
                    .await
                    .map_err(from_store)?;
                Ok(())
            }
            PendingNotification::OtherSignedNotification(n) => {
                let eum = self.eum_certificate(&n.eum_certificate)?;
                let euicc = Certificate::from_der(&n.euicc_certificate)
                    .map_err(|e| FunctionError::new(c::EUICC_CERTIFICATE_INVALID, e.to_string()))?;
                let identity = pki::verify_euicc_chain_cached(
                    &self.config.trusted_cis,
                    &eum,
                    &euicc,
                    now.0.max(0) as u64 / 1000,
                    &self.eum_cache,
                )
                .map_err(chain_error)?;
                identity
                    .public_key
                    .verify(
                        n.tbs_other_notification.raw(),
                        &n.euicc_notification_signature,
                    )
                    .map_err(|_| {
                        FunctionError::new(
                            c::EUICC_SIGNATURE_INVALID,
                            "euiccNotificationSignature does not verify",
                        )
                    })?;
                let eid = Eid::parse(&identity.eid)
                    .map_err(|e| FunctionError::new(c::EUICC_CERTIFICATE_INVALID, e.to_string()))?;
                let metadata = n.tbs_other_notification.value();
                if !self
                    .store
                    .record_notification(&eid, metadata.seq_number, now)
                    .await
                    .map_err(from_store)?
                {
                    return Ok(()); // already processed (SGP.22 §3.5: notifications may be re-sent)
                }
                if let (NotificationEvent::Delete, Some(iccid)) =
                    (metadata.profile_management_operation, &metadata.iccid)
                {
                    let iccid =
                        Iccid::parse(&iccid.to_string()).map_err(|e| invalid(e.to_string()))?;
                    match self.store.retire_profile(&iccid, now).await {
                        // A profile this SM-DP+ does not manage, or not in Installed: nothing to do.
                        Ok(()) | Err(Error::Rejected(_)) => {}
                        Err(e) => return Err(from_store(e)),
                    }
                }
                Ok(())
            }
        }
    }

    /// ES9+.CancelSession (SGP.22 §5.6.5). The eUICC's signed cancellation ends the session.
    /// A refusal (end user, PPR, metadata mismatch) puts the Profile in Error and tells the
    /// Operator; other reasons (postponed, timeout, load error) keep the order for a retry.
    pub async fn cancel_session(
        &self,
        req: CancelSessionRequest,
        now: UnixMillis,
    ) -> Outcome<Empty> {
        let tid = Self::parse_tid(&req.transaction_id)?;
        let (record, secrets) = self.session(&tid, now, |_| true).await?;
        let response = req
            .cancel_session_response()
            .map_err(|e| invalid(e.to_string()))?;
        let ok = match response {
            rsp::es10b::CancelSessionResponse::Ok(ok) => ok,
            rsp::es10b::CancelSessionResponse::Error(e) => {
                return Err(FunctionError::new(
                    c::EUICC_SIGNATURE_INVALID,
                    format!("the eUICC could not cancel: {e:?}"),
                ))
            }
        };
        let signed = ok.euicc_cancel_session_signed.value();
        if signed.transaction_id.as_bytes() != tid.as_bytes() {
            return Err(FunctionError::new(
                c::TRANSACTION_ID_UNKNOWN,
                "euiccCancelSessionSigned names another TransactionID",
            ));
        }
        let cred = self.credentials(&secrets)?;
        let dp_oid = cred.dp_auth.cert.registered_id().map(|o| o.as_bytes());
        if dp_oid != Some(signed.smdp_oid.contents()) {
            return Err(FunctionError::new(
                c::INVALID_SMDP_OID,
                "smdpOid is not this SM-DP+'s",
            ));
        }
        if record.state != SessionState::Initiated {
            self.euicc_key(&secrets)?
                .verify(
                    ok.euicc_cancel_session_signed.raw(),
                    &ok.euicc_cancel_session_signature,
                )
                .map_err(|_| {
                    FunctionError::new(
                        c::EUICC_SIGNATURE_INVALID,
                        "euiccCancelSessionSignature does not verify",
                    )
                })?;
            let refused = matches!(
                signed.reason,
                CancelSessionReason::END_USER_REJECTION
                    | CancelSessionReason::PPR_NOT_ALLOWED
                    | CancelSessionReason::METADATA_MISMATCH
            );
            if refused && record.iccid.is_some() {
                let reason = signed.reason.name().unwrap_or("refused");
                let error =
                    FunctionError::new(DOWNLOAD_REFUSED, format!("session cancelled: {reason}"));
                self.sessions.forget(&tid);
                self.store
                    .record_download_failure(
                        &tid,
                        NOTIFICATION_POINT_DOWNLOAD,
                        error,
                        now,
                        &self.reports,
                    )
                    .await
                    .map_err(from_store)?;
            }
        }
        self.sessions.forget(&tid);
        self.store.delete_session(&tid).await.map_err(from_store)?;
        Ok(Empty {})
    }
}

/// ES2+.HandleDownloadProgressInfo notification point of the BPP download (SGP.22 §5.3.5).
const NOTIFICATION_POINT_DOWNLOAD: u32 = 3;
/// The HTTP-independent answer to one ES9+ request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Es9Reply {
    /// 200 with a JSON body, 204 without one (handleNotification, SGP.22 §6.5.2.4), 404 for an
    /// unknown function.
    pub status: u16,
    pub body: Vec<u8>,
    /// The status code of a `Failed` reply (`None` on success or 404), so an HTTP edge can
    /// count outcomes without parsing the body again.
    pub failure: Option<StatusCode>,
}

impl<S: SmdpStore, K: KeyStore> Es9Service<S, K> {
    /// Routes one ES9+ request (SGP.22 §6.5): `path` is the function's path, `body` its JSON.
    /// Every failure is a JSON body with the function execution status `Failed` and its code.
    pub async fn dispatch<R: CryptoRng + Send>(
        &self,
        function: &str,
        body: &[u8],
        now: UnixMillis,
        rng: &mut R,
    ) -> Es9Reply {
        fn reply<T: rsp::es9p::JsonMembers>(result: Outcome<T>) -> Es9Reply {
            match result {
                // Written directly: base64 straight into the body (same bytes as serde_json).
                Ok(body) => Es9Reply {
                    status: 200,
                    body: rsp::es9p::success_json(&body),
                    failure: None,
                },
                Err(e) => Es9Reply {
                    status: 200,
                    body: rsp::es9p::to_json(&Response::<Empty>::failed(&e)),
                    failure: Some(e.code),
                },
            }
        }
        fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Outcome<T> {
            rsp::es9p::from_json(body).map_err(|e| invalid(e.to_string()))
        }
        match function {
            path::INITIATE_AUTHENTICATION => match parse(body) {
                Ok(req) => reply(self.initiate_authentication(req, now, rng).await),
                Err(e) => reply::<Empty>(Err(e)),
            },
            path::AUTHENTICATE_CLIENT => match parse(body) {
                Ok(req) => reply(self.authenticate_client(req, now, rng).await),
                Err(e) => reply::<Empty>(Err(e)),
            },
            path::GET_BOUND_PROFILE_PACKAGE => match parse(body) {
                Ok(req) => reply(self.get_bound_profile_package(req, now, rng).await),
                Err(e) => reply::<Empty>(Err(e)),
            },
            path::HANDLE_NOTIFICATION => match parse(body) {
                Ok(req) => match self.handle_notification(req, now).await {
                    Ok(()) => Es9Reply {
                        status: 204,
                        body: Vec::new(),
                        failure: None,
                    },
                    Err(e) => reply::<Empty>(Err(e)),
                },
                Err(e) => reply::<Empty>(Err(e)),
            },
            path::CANCEL_SESSION => match parse(body) {
                Ok(req) => reply(self.cancel_session(req, now).await),
                Err(e) => reply::<Empty>(Err(e)),
            },
            _ => Es9Reply {
                status: 404,
                body: Vec::new(),
                failure: None,
            },
        }
    }
}

/// eUICC / Refused: the end user or the eUICC declined the download.
const DOWNLOAD_REFUSED: StatusCode =
    StatusCode::new("8.1", "3.8", "The download was refused on the eUICC");
/// eUICC / Execution error: the Profile Installation Result carries an error.
const INSTALLATION_FAILED: StatusCode = StatusCode::new(
    "8.1",
    "4.2",
    "The Profile Installation Result carries an error",
);

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u32, expires_at: i64) -> SessionRecord {
        SessionRecord {
            transaction_id: TransactionId::new(&n.to_be_bytes()).unwrap(),
            state: SessionState::Initiated,
            eid: None,
            iccid: None,
            matching_id: None,
            created_at: UnixMillis(0),
            expires_at: UnixMillis(expires_at),
            sealed: crate::SealedBlob(vec![n as u8]),
        }
    }

    #[test]
    fn session_cache_answers_live_suitable_entries_only() {
        let cache = SessionCache::default();
        let tid = record(1, 100).transaction_id;
        cache.put(record(1, 100), SessionSecrets::default(), UnixMillis(0));
        let initiated = |s| s == SessionState::Initiated;
        assert!(cache.get(&tid, UnixMillis(99), initiated).is_some());
        // Expired, or in a state the step does not expect: the caller reads the store.
        assert!(cache.get(&tid, UnixMillis(100), initiated).is_none());
        assert!(cache
            .get(&tid, UnixMillis(0), |s| s == SessionState::Authenticated)
            .is_none());
        cache.forget(&tid);
        assert!(cache.get(&tid, UnixMillis(0), initiated).is_none());
    }

    #[test]
    fn session_cache_stays_bounded() {
        let cache = SessionCache::default();
        let n = SESSIONS_KEPT as u32;
        // Half expire at 10: a full cache drops those first.
        for i in 0..n {
            let expires = if i % 2 == 0 { 10 } else { 1000 };
            cache.put(record(i, expires), SessionSecrets::default(), UnixMillis(0));
        }
        assert_eq!(cache.lock().len(), SESSIONS_KEPT);
        cache.put(record(n, 1000), SessionSecrets::default(), UnixMillis(20));
        assert_eq!(cache.lock().len(), SESSIONS_KEPT / 2 + 1);
        // Full of live sessions: it starts over.
        for i in n + 1..n + 1 + n / 2 {
            cache.put(record(i, 1000), SessionSecrets::default(), UnixMillis(20));
        }
        assert_eq!(cache.lock().len(), 1);
    }
}
