//! LPA engine tests against an in-test fake eUICC (a `CardTransport` that reassembles STORE DATA
//! chains and hands each ES10 request to a closure) and a fake SM-DP+ (`Es9Transport` replaying
//! canned ES9+ responses). Messages are built with the `rsp` codecs; signatures and certificates
//! are placeholders (the eUICC and SM-DP+ check those, not the LPA).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use apdu::{CardTransport, Command, StoreDataChain, TransportError, ISD_R_AID};
use lpa::{default_device_info, ChannelMode, Es9Transport, Lpa, LpaError, NotificationStatus};
use rsp::es10b::{
    AuthenticateServerRequest, CancelSessionRequest, CancelSessionResponse,
    CancelSessionResponseOk, EuiccCancelSessionSigned, EuiccInfo1, GetEuiccChallengeResponse,
    NotificationSentRequest, NotificationSentResponse, PrepareDownloadRequest,
    RetrieveNotificationsListResponse, ServerSigned1, SmdpSigned2,
};
use rsp::es10c::{EnableProfileResponse, EnableResult, GetEuiccDataResponse, ProfileIdentifier};
use rsp::es8p::StoreMetadataRequest;
use rsp::es9p::{self, path};
use rsp::notification::{
    ErrorResult, FinalResult, NotificationEvent, NotificationMetadata, OtherSignedNotification,
    PendingNotification, ProfileInstallationResult, ProfileInstallationResultData, SuccessResult,
};
use rsp::{Asn1, Eid, Iccid, Oid, ProfileClass, Signed, TransactionId, Version};
use tlv::{Tag, Writer};

// ---------------------------------------------------------------------------------------------
// Fake eUICC

type Handler = Box<dyn FnMut(&[u8]) -> Result<Vec<u8>, u16>>;

/// A card with an ISD-R: MANAGE CHANNEL assigns channel 1, SELECT accepts the ISD-R AID, STORE DATA
/// chains are reassembled and answered by `handler` (response data, or a status word).
struct FakeCard {
    handler: Handler,
    chain: StoreDataChain,
    apdus: Vec<Vec<u8>>,
    requests: Vec<Vec<u8>>,
}

impl FakeCard {
    fn new(handler: impl FnMut(&[u8]) -> Result<Vec<u8>, u16> + 'static) -> Self {
        FakeCard {
            handler: Box::new(handler),
            chain: StoreDataChain::new(),
            apdus: Vec::new(),
            requests: Vec::new(),
        }
    }
    /// Reassembled ES10 requests whose first tag byte(s) are `prefix`.
    fn requests_with(&self, prefix: &[u8]) -> Vec<Vec<u8>> {
        self.requests
            .iter()
            .filter(|r| r.starts_with(prefix))
            .cloned()
            .collect()
    }
}

fn sw(v: u16) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

impl CardTransport for FakeCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.apdus.push(apdu.to_vec());
        let cmd = Command::parse(apdu).map_err(|e| TransportError::Other(e.to_string()))?;
        Ok(match (cmd.ins, cmd.p1) {
            (0x70, 0x00) => vec![0x01, 0x90, 0x00],
            (0x70, 0x80) => sw(0x9000),
            (0xA4, 0x04) if cmd.data == ISD_R_AID => vec![0x6F, 0x00, 0x90, 0x00],
            (0xA4, _) => sw(0x6A82),
            (0xE2, _) => match self.chain.push(cmd.p1, cmd.p2, &cmd.data) {
                Err(s) => sw(s.0),
                Ok(None) => sw(0x9000),
                Ok(Some(req)) => {
                    self.requests.push(req.clone());
                    match (self.handler)(&req) {
                        Ok(mut data) => {
                            data.extend_from_slice(&[0x90, 0x00]);
                            data
                        }
                        Err(s) => sw(s),
                    }
                }
            },
            _ => sw(0x6D00),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Fake SM-DP+

/// Canned (HTTP status, body) answers per ES9+ path, in order.
type Answers = HashMap<String, VecDeque<(u16, Vec<u8>)>>;

#[derive(Default)]
struct FakeDp {
    calls: Mutex<Vec<(String, String, serde_json::Value)>>,
    responses: Mutex<Answers>,
}

impl FakeDp {
    fn push(&self, path: &str, status: u16, body: Vec<u8>) {
        self.responses
            .lock()
            .unwrap()
            .entry(path.to_string())
            .or_default()
            .push_back((status, body));
    }
    fn replace(&self, path: &str, status: u16, body: Vec<u8>) {
        self.responses.lock().unwrap().remove(path);
        self.push(path, status, body);
    }
    fn calls(&self) -> Vec<(String, String, serde_json::Value)> {
        self.calls.lock().unwrap().clone()
    }
    /// The ES9+ function names called, in order.
    fn functions(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|(_, p, _)| p.rsplit('/').next().unwrap().to_string())
            .collect()
    }
    fn call_to(&self, path: &str) -> Option<(String, serde_json::Value)> {
        self.calls()
            .into_iter()
            .find(|(_, p, _)| p == path)
            .map(|(a, _, b)| (a, b))
    }
}

impl Es9Transport for FakeDp {
    async fn post(
        &self,
        smdp_address: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), LpaError> {
        let json: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| LpaError::Transport(e.to_string()))?;
        self.calls
            .lock()
            .unwrap()
            .push((smdp_address.to_string(), path.to_string(), json));
        let next = self
            .responses
            .lock()
            .unwrap()
            .get_mut(path)
            .and_then(VecDeque::pop_front);
        next.ok_or_else(|| LpaError::Transport(format!("no response for {path}")))
    }
}

// ---------------------------------------------------------------------------------------------
// Test messages

const SMDP: &str = "smdp.example.com";
const AC: &str = "LPA:1$smdp.example.com$04386-AGYFT-A74Y8-3F815";
const CHALLENGE: [u8; 16] = [0x11; 16];
const ICCID: &str = "8949449999999990023";
const ISDP_AID: [u8; 16] = [
    0xA0, 0, 0, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0, 0, 0x10, 0,
];

fn txid() -> TransactionId {
    TransactionId::from_hex("0123456789ABCDEF0123456789ABCDEF").unwrap()
}

fn b64(b: &[u8]) -> String {
    es9p::b64::encode(b)
}

fn tlv(tag: u32, value: &[u8]) -> Vec<u8> {
    tlv::encode_tlv(Tag(tag), value)
}

fn ski() -> Vec<u8> {
    vec![0xF5; 20]
}

fn euicc_info1() -> Vec<u8> {
    EuiccInfo1 {
        svn: Version::new(2, 2, 2),
        ci_pkid_list_for_verification: vec![ski()],
        ci_pkid_list_for_signing: vec![ski()],
    }
    .encode()
}

fn metadata() -> StoreMetadataRequest {
    StoreMetadataRequest {
        iccid: ICCID.parse().unwrap(),
        service_provider_name: "GSMA Test".into(),
        profile_name: "TS48 V5.0".into(),
        icon_type: None,
        icon: None,
        profile_class: Some(ProfileClass::OPERATIONAL),
        notification_configuration_info: None,
        profile_owner: None,
        profile_policy_rules: None,
    }
}

fn ok_json<T: serde::Serialize>(body: T) -> Vec<u8> {
    es9p::to_json(&es9p::Response::success(body))
}

fn failed_json(subject: &str, reason: &str, message: &str) -> Vec<u8> {
    format!(
        r#"{{"header":{{"functionExecutionStatus":{{"status":"Failed","statusCodeData":{{"subjectCode":"{subject}","reasonCode":"{reason}","message":"{message}"}}}}}}}}"#
    )
    .into_bytes()
}

fn server_signed1() -> Vec<u8> {
    Signed::new(ServerSigned1 {
        transaction_id: txid(),
        euicc_challenge: CHALLENGE,
        server_address: SMDP.into(),
        server_challenge: [0x22; 16],
    })
    .raw()
    .to_vec()
}

fn initiate_ok() -> Vec<u8> {
    ok_json(es9p::InitiateAuthenticationOk {
        transaction_id: txid(),
        server_signed1: server_signed1(),
        server_signature1: tlv::encode_tlv(tlv::Tag(0x5F37), &[0x33; 64]),
        euicc_ci_pkid_to_be_used: tlv::encode_tlv(tlv::Tag::OCTET_STRING, &ski()),
        server_certificate: vec![0x30, 0x03, 0x02, 0x01, 0x01],
    })
}

fn authenticate_client_ok(cc_required: bool) -> Vec<u8> {
    ok_json(es9p::AuthenticateClientOk {
        transaction_id: txid(),
        profile_metadata: metadata().encode(),
        smdp_signed2: Signed::new(SmdpSigned2 {
            transaction_id: txid(),
            cc_required_flag: cc_required,
            bpp_euicc_otpk: None,
        })
        .raw()
        .to_vec(),
        smdp_signature2: tlv::encode_tlv(tlv::Tag(0x5F37), &[0x44; 64]),
        smdp_certificate: vec![0x30, 0x03, 0x02, 0x01, 0x02],
    })
}

/// AuthenticateServerResponse, authenticateResponseOk ('BF38' { 'A0' {...} }); the LPA forwards it
/// without looking inside.
fn authenticate_server_ok() -> Vec<u8> {
    let mut w = Writer::new();
    w.nested(Tag(0xBF38), |w| {
        w.nested(Tag(0xA0), |w| {
            w.nested(Tag(0x30), |w| {
                w.put(Tag(0x80), txid().as_bytes());
            })
            .put(Tag(0x5F37), &[0x55; 64])
            .put(Tag(0x30), &[])
            .put(Tag(0x30), &[]);
        });
    });
    w.into_vec()
}

fn prepare_download_ok() -> Vec<u8> {
    let mut otpk = vec![0x04];
    otpk.extend_from_slice(&[0x66; 64]);
    let mut w = Writer::new();
    w.nested(Tag(0xBF21), |w| {
        w.nested(Tag(0xA0), |w| {
            w.nested(Tag(0x30), |w| {
                w.put(Tag(0x80), txid().as_bytes()).put(Tag(0x5F49), &otpk);
            })
            .put(Tag(0x5F37), &[0x77; 64]);
        });
    });
    w.into_vec()
}

/// The parts of a Bound Profile Package (SGP.22 §2.5.4) with placeholder ciphertexts, and the
/// segments SGP.22 §2.5.5 prescribes for it, built by hand here (independently of the engine).
struct Bpp {
    der: Vec<u8>,
    segments: Vec<Vec<u8>>,
}

fn bpp() -> Bpp {
    let mut otpk = vec![0x04];
    otpk.extend_from_slice(&[0x88; 64]);
    let isc_fields = [
        tlv(0x82, &[0x01]),
        tlv(0x80, txid().as_bytes()),
        tlv(
            0xA6,
            &[tlv(0x80, &[0x88]), tlv(0x81, &[0x10]), tlv(0x84, &[0x01])].concat(),
        ),
        tlv(0x5F49, &otpk),
        tlv(0x5F37, &[0x99; 64]),
    ]
    .concat();
    let bf23 = tlv(0xBF23, &isc_fields);
    let configure_isdp = tlv(0x87, &[0xC1; 20]);
    let store_metadata = [tlv(0x88, &[0xD1; 10]), tlv(0x88, &[0xD2; 300])];
    let replace_keys = tlv(0x87, &[0xE1; 40]);
    let elements = [
        tlv(0x86, &[0xF1; 600]),
        tlv(0x86, &[0xF2; 5]),
        tlv(0x86, &[0xF3; 1]),
    ];
    let a0 = tlv(0xA0, &configure_isdp);
    let a1 = tlv(0xA1, &store_metadata.concat());
    let a2 = tlv(0xA2, &replace_keys);
    let a3 = tlv(0xA3, &elements.concat());
    let body = [bf23.clone(), a0.clone(), a1.clone(), a2.clone(), a3.clone()].concat();
    let der = tlv(0xBF36, &body);
    // Tag+length headers: BF36 82 LL LL; A0 14; A1 82 01 3C (316 bytes of '88's); A2 28; A3 82 02 6B.
    let header = |whole: &[u8], value_len: usize| whole[..whole.len() - value_len].to_vec();
    assert_eq!(
        header(&der, body.len()),
        [0xBF, 0x36, 0x82, (body.len() >> 8) as u8, body.len() as u8]
    );
    assert_eq!(header(&a1, 316), [0xA1, 0x82, 0x01, 0x3C]);
    let segments = vec![
        [header(&der, body.len()), bf23].concat(),
        [header(&a0, configure_isdp.len()), configure_isdp.clone()].concat(),
        header(&a1, 316),
        store_metadata[0].clone(),
        store_metadata[1].clone(),
        [header(&a2, replace_keys.len()), replace_keys.clone()].concat(),
        header(&a3, elements.iter().map(Vec::len).sum()),
        elements[0].clone(),
        elements[1].clone(),
        elements[2].clone(),
    ];
    Bpp { der, segments }
}

fn pir_data(seq: i64, final_result: FinalResult) -> ProfileInstallationResultData {
    ProfileInstallationResultData {
        transaction_id: txid(),
        notification_metadata: NotificationMetadata {
            seq_number: seq,
            profile_management_operation: NotificationEvent::Install,
            notification_address: SMDP.into(),
            iccid: Some(ICCID.parse().unwrap()),
        },
        smdp_oid: Some("1.3.6.1.4.1.31746".parse::<Oid>().unwrap()),
        final_result,
    }
}

fn pir(seq: i64, final_result: FinalResult) -> Vec<u8> {
    ProfileInstallationResult {
        profile_installation_result_data: Signed::new(pir_data(seq, final_result)),
        euicc_sign_pir: vec![0xAB; 64],
    }
    .encode()
}

fn pir_success(seq: i64) -> Vec<u8> {
    pir(
        seq,
        FinalResult::Success(SuccessResult {
            aid: ISDP_AID.to_vec(),
            sima_response: vec![0x30, 0x00],
        }),
    )
}

fn cancel_session_response(req: &[u8]) -> Vec<u8> {
    let req = CancelSessionRequest::decode(req).unwrap();
    CancelSessionResponse::Ok(CancelSessionResponseOk {
        euicc_cancel_session_signed: Signed::new(EuiccCancelSessionSigned {
            transaction_id: req.transaction_id,
            smdp_oid: "1.3.6.1.4.1.31746".parse().unwrap(),
            reason: req.reason,
        }),
        euicc_cancel_session_signature: vec![0xCD; 64],
    })
    .encode()
}

/// The fake eUICC's behaviour in a download.
#[derive(Clone)]
struct Euicc {
    /// Response to the BPP segment with this index (0-based); the others get 9000 without data.
    bpp_answer_at: usize,
    bpp_answer: Result<Vec<u8>, u16>,
    authenticate_server: Vec<u8>,
}

impl Euicc {
    fn happy() -> Self {
        Euicc {
            bpp_answer_at: 9,
            bpp_answer: Ok(pir_success(7)),
            authenticate_server: authenticate_server_ok(),
        }
    }
    fn card(self) -> FakeCard {
        let mut segment = 0usize;
        FakeCard::new(move |req| match req {
            [0xBF, 0x2E, ..] => Ok(GetEuiccChallengeResponse {
                euicc_challenge: CHALLENGE,
            }
            .encode()),
            [0xBF, 0x20, ..] => Ok(euicc_info1()),
            [0xBF, 0x38, ..] => Ok(self.authenticate_server.clone()),
            [0xBF, 0x21, ..] => Ok(prepare_download_ok()),
            [0xBF, 0x41, ..] => Ok(cancel_session_response(req)),
            [0xBF, 0x30, ..] => Ok(NotificationSentResponse {
                delete_notification_status: rsp::es10b::DeleteNotificationStatus::OK,
            }
            .encode()),
            [0xBF, 0x36, ..] | [0xA0..=0xA3, ..] | [0x86..=0x88, ..] => {
                let i = segment;
                segment += 1;
                if i == self.bpp_answer_at {
                    self.bpp_answer.clone()
                } else {
                    Ok(Vec::new())
                }
            }
            _ => Err(0x6D00),
        })
    }
}

fn dp(cc_required: bool) -> FakeDp {
    let dp = FakeDp::default();
    dp.push(path::INITIATE_AUTHENTICATION, 200, initiate_ok());
    dp.push(
        path::AUTHENTICATE_CLIENT,
        200,
        authenticate_client_ok(cc_required),
    );
    dp.push(
        path::GET_BOUND_PROFILE_PACKAGE,
        200,
        ok_json(es9p::GetBoundProfilePackageOk {
            transaction_id: txid(),
            bound_profile_package: bpp().der,
        }),
    );
    dp.push(path::HANDLE_NOTIFICATION, 204, Vec::new());
    dp.push(path::CANCEL_SESSION, 200, ok_json(es9p::Empty {}));
    dp
}

fn device_info() -> rsp::es10b::DeviceInfo {
    default_device_info([0x35, 0x29, 0x06, 0x11], None)
}

/// The CancelSession reasons the card received.
fn cancel_reasons(card: &FakeCard) -> Vec<i64> {
    card.requests_with(&[0xBF, 0x41])
        .iter()
        .map(|r| CancelSessionRequest::decode(r).unwrap().reason.0)
        .collect()
}

/// STORE DATA commands of one ES10 request on channel 1, 255-byte blocks (GP CS §11.11.2).
fn store_data_apdus(segment: &[u8]) -> Vec<Vec<u8>> {
    let n = segment.len().div_ceil(255);
    segment
        .chunks(255)
        .enumerate()
        .map(|(i, c)| {
            [
                vec![
                    0x81,
                    0xE2,
                    if i + 1 == n { 0x91 } else { 0x11 },
                    i as u8,
                    c.len() as u8,
                ],
                c.to_vec(),
            ]
            .concat()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// BPP segmentation (SGP.22 §2.5.5)

#[test]
fn bpp_segments_are_exact_store_data_sequences() {
    let bpp = bpp();
    let mut card = Euicc::happy().card();
    let outcome = Lpa::new(&mut card).load_bpp(&bpp.der).unwrap();
    assert_eq!(outcome.segments_sent, 10);
    assert_eq!(outcome.pir_der, pir_success(7));
    assert!(outcome.pir.is_success());

    // The segments are a partition of the BPP encoding...
    assert_eq!(bpp.segments.concat(), bpp.der);
    // ...each segment is one whole ES10 request...
    assert_eq!(card.requests, bpp.segments);
    // ...sent as its own STORE DATA sequence: block numbers restart at 00, P1 = 91 on its last block.
    let mut expected = vec![
        vec![0x00, 0x70, 0x00, 0x00, 0x01],
        [
            vec![0x01, 0xA4, 0x04, 0x00, 0x10],
            ISD_R_AID.to_vec(),
            vec![0x00],
        ]
        .concat(),
    ];
    for s in &bpp.segments {
        expected.extend(store_data_apdus(s));
    }
    expected.push(vec![0x01, 0x70, 0x80, 0x01]); // MANAGE CHANNEL close on drop
    assert_eq!(card.apdus, expected);
    // The 604-byte '86' needs three blocks: 255 + 255 + 94.
    assert_eq!(
        store_data_apdus(&bpp.segments[7])
            .iter()
            .map(|a| a[3])
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );
}

#[test]
fn bpp_early_pir_stops_loading() {
    // SGP.22 §5.7.6: on an error the eUICC answers with the PIR at once; nothing more is sent.
    let error = pir(
        8,
        FinalResult::Error(ErrorResult {
            bpp_command_id: rsp::notification::BppCommandId::CONFIGURE_ISDP,
            error_reason:
                rsp::notification::ErrorReason::INSTALL_FAILED_DUE_TO_ICCID_ALREADY_EXISTS_ON_EUICC,
            sima_response: None,
        }),
    );
    let mut card = Euicc {
        bpp_answer_at: 1,
        bpp_answer: Ok(error.clone()),
        ..Euicc::happy()
    }
    .card();
    let outcome = Lpa::new(&mut card).load_bpp(&bpp().der).unwrap();
    assert_eq!(outcome.segments_sent, 2);
    assert_eq!(outcome.pir_der, error);
    assert!(!outcome.pir.is_success());
    assert_eq!(card.requests.len(), 2);
}

#[test]
fn bpp_without_pir_and_malformed_bpp_are_errors() {
    let mut card = Euicc {
        bpp_answer_at: 99,
        ..Euicc::happy()
    }
    .card();
    let mut lpa = Lpa::new(&mut card);
    assert!(matches!(
        lpa.load_bpp(&bpp().der),
        Err(LpaError::Protocol(_))
    ));
    assert!(matches!(
        lpa.load_bpp(&[0xBF, 0x36, 0x05, 0x01]),
        Err(LpaError::Decode { .. })
    ));
    assert!(matches!(
        lpa.load_bpp(&tlv(0xBF37, &[])),
        Err(LpaError::Decode { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Download

#[test]
fn hashed_confirmation_code_known_answer() {
    // SHA-256(SHA-256("12345678") || 0123456789ABCDEF0123456789ABCDEF), computed independently
    // with Python hashlib: hashlib.sha256(hashlib.sha256(b"12345678").digest() + tx).hexdigest().
    assert_eq!(
        hex::encode(lpa::hash_confirmation_code("12345678", &txid())),
        "a1370440a38ba522a1518b10200ec765da6a7b2e5afd2a696de8592fd4a0928f"
    );
}

#[tokio::test]
async fn download_happy_path() {
    let dp = dp(false);
    let mut card = Euicc::happy().card();
    let mut shown = Vec::new();
    let result = Lpa::new(&mut card)
        .download(&dp, AC, None, &device_info(), |m| {
            shown.push(m.clone());
            true
        })
        .await
        .unwrap();

    assert_eq!(result.iccid, ICCID.parse::<Iccid>().unwrap());
    assert_eq!(result.isdp_aid, ISDP_AID);
    assert_eq!(result.transaction_id, txid());
    assert_eq!(result.profile_metadata, metadata());
    assert_eq!(shown, [metadata()]);
    assert!(matches!(result.pir_final_result, FinalResult::Success(_)));
    assert_eq!(result.pir_notification, NotificationStatus::Removed);

    assert_eq!(
        dp.functions(),
        [
            "initiateAuthentication",
            "authenticateClient",
            "getBoundProfilePackage",
            "handleNotification"
        ]
    );
    for (address, _, _) in dp.calls() {
        assert_eq!(address, SMDP);
    }
    let (_, init) = dp.call_to(path::INITIATE_AUTHENTICATION).unwrap();
    assert_eq!(init["euiccChallenge"], b64(&CHALLENGE));
    assert_eq!(init["euiccInfo1"], b64(&euicc_info1()));
    assert_eq!(init["smdpAddress"], SMDP);
    let (_, auth) = dp.call_to(path::AUTHENTICATE_CLIENT).unwrap();
    assert_eq!(auth["transactionId"], "0123456789ABCDEF0123456789ABCDEF");
    assert_eq!(
        auth["authenticateServerResponse"],
        b64(&authenticate_server_ok())
    );
    let (_, gbpp) = dp.call_to(path::GET_BOUND_PROFILE_PACKAGE).unwrap();
    assert_eq!(gbpp["prepareDownloadResponse"], b64(&prepare_download_ok()));
    let (_, notif) = dp.call_to(path::HANDLE_NOTIFICATION).unwrap();
    assert_eq!(notif["pendingNotification"], b64(&pir_success(7)));

    // AuthenticateServer carries the SM-DP+ data unchanged plus ctxParams1 (SGP.22 §5.7.13).
    let auth_req =
        AuthenticateServerRequest::decode(&card.requests_with(&[0xBF, 0x38])[0]).unwrap();
    assert_eq!(auth_req.server_signed1.raw(), server_signed1());
    assert_eq!(auth_req.server_signature1, [0x33; 64]);
    assert_eq!(auth_req.euicc_ci_pkid_to_be_used, ski());
    let ctx = auth_req.ctx_params1.common();
    assert_eq!(ctx.matching_id.as_deref(), Some("04386-AGYFT-A74Y8-3F815"));
    assert_eq!(ctx.device_info, device_info());
    // PrepareDownload without hashCc when the SM-DP+ does not require a code.
    let prep = PrepareDownloadRequest::decode(&card.requests_with(&[0xBF, 0x21])[0]).unwrap();
    assert_eq!(prep.hash_cc, None);
    assert_eq!(prep.smdp_signature2, [0x44; 64]);
    // The delivered PIR is removed by its seqNumber.
    let removed: Vec<i64> = card
        .requests_with(&[0xBF, 0x30])
        .iter()
        .map(|r| NotificationSentRequest::decode(r).unwrap().seq_number)
        .collect();
    assert_eq!(removed, [7]);
    assert!(cancel_reasons(&card).is_empty());
}

#[tokio::test]
async fn download_with_confirmation_code_sends_hash_cc() {
    let dp = dp(true);
    let mut card = Euicc::happy().card();
    let ac = "1$smdp.example.com$04386-AGYFT-A74Y8-3F815$$1";
    Lpa::new(&mut card)
        .download(&dp, ac, Some("12345678"), &device_info(), |_| true)
        .await
        .unwrap();
    let prep = PrepareDownloadRequest::decode(&card.requests_with(&[0xBF, 0x21])[0]).unwrap();
    assert_eq!(
        prep.hash_cc,
        Some(lpa::hash_confirmation_code("12345678", &txid()))
    );
}

#[tokio::test]
async fn confirmation_code_flag_in_activation_code_needs_a_code_up_front() {
    let dp = dp(true);
    let mut card = Euicc::happy().card();
    let err = Lpa::new(&mut card)
        .download(
            &dp,
            "1$smdp.example.com$TOKEN$$1",
            None,
            &device_info(),
            |_| true,
        )
        .await
        .unwrap_err();
    assert_eq!(err, LpaError::ConfirmationCodeRequired);
    assert!(card.apdus.is_empty() && dp.calls().is_empty());
}

#[tokio::test]
async fn smdp_requiring_a_code_that_is_missing_postpones() {
    let dp = dp(true);
    let mut card = Euicc::happy().card();
    let err = Lpa::new(&mut card)
        .download(&dp, AC, None, &device_info(), |_| true)
        .await
        .unwrap_err();
    assert_eq!(err, LpaError::ConfirmationCodeRequired);
    assert_eq!(
        cancel_reasons(&card),
        [rsp::CancelSessionReason::POSTPONED.0]
    );
    assert_eq!(
        dp.functions(),
        [
            "initiateAuthentication",
            "authenticateClient",
            "cancelSession"
        ]
    );
    assert!(
        card.requests_with(&[0xBF, 0x21]).is_empty(),
        "no PrepareDownload"
    );
}

#[tokio::test]
async fn end_user_rejection_cancels_the_session() {
    let dp = dp(false);
    let mut card = Euicc::happy().card();
    let err = Lpa::new(&mut card)
        .download(&dp, AC, None, &device_info(), |_| false)
        .await
        .unwrap_err();
    assert_eq!(err, LpaError::Rejected);
    assert_eq!(
        cancel_reasons(&card),
        [rsp::CancelSessionReason::END_USER_REJECTION.0]
    );
    // ES9+.CancelSession forwards the eUICC's signed CancelSessionResponse (SGP.22 §5.6.5).
    let card_answer = cancel_session_response(&card.requests_with(&[0xBF, 0x41])[0]);
    let (address, cancel) = dp.call_to(path::CANCEL_SESSION).unwrap();
    assert_eq!(address, SMDP);
    assert_eq!(cancel["transactionId"], "0123456789ABCDEF0123456789ABCDEF");
    assert_eq!(cancel["cancelSessionResponse"], b64(&card_answer));
}

#[tokio::test]
async fn es9_failed_status_becomes_an_error_and_cancels() {
    let dp = dp(false);
    // SGP.22 §6.5.2.8: MatchingID refused = subject 8.2.6, reason 3.8.
    dp.replace(
        path::AUTHENTICATE_CLIENT,
        200,
        failed_json("8.2.6", "3.8", "Refused"),
    );
    let mut card = Euicc::happy().card();
    let err = Lpa::new(&mut card)
        .download(&dp, AC, None, &device_info(), |_| true)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LpaError::Es9 {
            subject_code: "8.2.6".into(),
            reason_code: "3.8".into(),
            message: Some("Refused".into())
        }
    );
    assert_eq!(
        cancel_reasons(&card),
        [rsp::CancelSessionReason::UNDEFINED_REASON.0]
    );
    assert_eq!(
        dp.functions(),
        [
            "initiateAuthentication",
            "authenticateClient",
            "cancelSession"
        ]
    );
}

#[tokio::test]
async fn initiate_authentication_failure_has_no_session_to_cancel() {
    let dp = FakeDp::default();
    dp.push(
        path::INITIATE_AUTHENTICATION,
        200,
        failed_json("8.8.1", "3.8", "Invalid SM-DP+ Address"),
    );
    let mut card = Euicc::happy().card();
    let err = Lpa::new(&mut card)
        .download(&dp, AC, None, &device_info(), |_| true)
        .await
        .unwrap_err();
    assert!(matches!(err, LpaError::Es9 { ref subject_code, .. } if subject_code == "8.8.1"));
    assert!(cancel_reasons(&card).is_empty());
    assert_eq!(dp.functions(), ["initiateAuthentication"]);

    let dp = FakeDp::default();
    dp.push(path::INITIATE_AUTHENTICATION, 503, Vec::new());
    let err = Lpa::new(&mut card)
        .download(&dp, AC, None, &device_info(), |_| true)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LpaError::Http {
            function: "initiateAuthentication",
            status: 503
        }
    );
}

#[tokio::test]
async fn mismatching_transaction_id_cancels() {
    let dp = dp(false);
    let mut other = authenticate_client_ok(false);
    let json = String::from_utf8(other.clone()).unwrap().replacen(
        "0123456789ABCDEF0123456789ABCDEF",
        "FFFF",
        1,
    );
    other = json.into_bytes();
    dp.replace(path::AUTHENTICATE_CLIENT, 200, other);
    let mut card = Euicc::happy().card();
    let err = Lpa::new(&mut card)
        .download(&dp, AC, None, &device_info(), |_| true)
        .await
        .unwrap_err();
    assert!(matches!(err, LpaError::Protocol(_)), "{err:?}");
    assert_eq!(
        cancel_reasons(&card),
        [rsp::CancelSessionReason::UNDEFINED_REASON.0]
    );
}

#[tokio::test]
async fn euicc_authentication_error_is_forwarded_not_cancelled() {
    let dp = dp(false);
    dp.replace(
        path::AUTHENTICATE_CLIENT,
        200,
        failed_json("8.1", "6.1", "eUICC signature is invalid"),
    );
    // authenticateResponseError: transactionId, invalidSignature(2).
    let error = tlv(
        0xBF38,
        &tlv(
            0xA1,
            &[tlv(0x80, txid().as_bytes()), tlv(0x02, &[0x02])].concat(),
        ),
    );
    let mut card = Euicc {
        authenticate_server: error.clone(),
        ..Euicc::happy()
    }
    .card();
    let err = Lpa::new(&mut card)
        .download(&dp, AC, None, &device_info(), |_| true)
        .await
        .unwrap_err();
    assert_eq!(err.result_name(), Some("invalidSignature"));
    assert_eq!(
        err.to_string(),
        "AuthenticateServer failed: invalidSignature(2)"
    );
    let (_, auth) = dp.call_to(path::AUTHENTICATE_CLIENT).unwrap();
    assert_eq!(auth["authenticateServerResponse"], b64(&error));
    assert!(cancel_reasons(&card).is_empty());
}

#[tokio::test]
async fn status_word_during_bpp_load_cancels_with_load_bpp_execution_error() {
    let dp = dp(false);
    let mut card = Euicc {
        bpp_answer_at: 3,
        bpp_answer: Err(0x6A80),
        ..Euicc::happy()
    }
    .card();
    let err = Lpa::new(&mut card)
        .download(&dp, AC, None, &device_info(), |_| true)
        .await
        .unwrap_err();
    assert_eq!(err.status_word(), Some(apdu::StatusWord::INCORRECT_DATA));
    assert!(matches!(
        err,
        LpaError::Card {
            function: "LoadBoundProfilePackage",
            ..
        }
    ));
    assert_eq!(
        cancel_reasons(&card),
        [rsp::CancelSessionReason::LOAD_BPP_EXECUTION_ERROR.0]
    );
    assert_eq!(
        dp.functions().last().map(String::as_str),
        Some("cancelSession")
    );
}

#[tokio::test]
async fn failed_installation_delivers_the_pir_without_cancelling() {
    let dp = dp(false);
    let error = pir(
        9,
        FinalResult::Error(ErrorResult {
            bpp_command_id: rsp::notification::BppCommandId::LOAD_PROFILE_ELEMENTS,
            error_reason: rsp::notification::ErrorReason::INSTALL_FAILED_DUE_TO_PE_PROCESSING_ERROR,
            sima_response: None,
        }),
    );
    let mut card = Euicc {
        bpp_answer_at: 7,
        bpp_answer: Ok(error.clone()),
        ..Euicc::happy()
    }
    .card();
    let err = Lpa::new(&mut card)
        .download(&dp, AC, None, &device_info(), |_| true)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LpaError::Installation {
            bpp_command_id: rsp::notification::BppCommandId::LOAD_PROFILE_ELEMENTS,
            error_reason: rsp::notification::ErrorReason::INSTALL_FAILED_DUE_TO_PE_PROCESSING_ERROR,
        }
    );
    let (_, notif) = dp.call_to(path::HANDLE_NOTIFICATION).unwrap();
    assert_eq!(notif["pendingNotification"], b64(&error));
    assert!(cancel_reasons(&card).is_empty());
    assert_eq!(card.requests_with(&[0xBF, 0x30]).len(), 1);
}

#[tokio::test]
async fn undelivered_pir_stays_on_the_card() {
    let dp = dp(false);
    dp.replace(path::HANDLE_NOTIFICATION, 500, Vec::new());
    let mut card = Euicc::happy().card();
    let result = Lpa::new(&mut card)
        .download(&dp, AC, None, &device_info(), |_| true)
        .await
        .unwrap();
    assert_eq!(
        result.pir_notification,
        NotificationStatus::NotDelivered(LpaError::Http {
            function: "handleNotification",
            status: 500
        })
    );
    assert!(card.requests_with(&[0xBF, 0x30]).is_empty());
}

#[tokio::test]
async fn bad_activation_codes_are_rejected_before_any_exchange() {
    let dp = dp(false);
    let mut card = Euicc::happy().card();
    for ac in ["2$smdp.example.com$X", "1$bad host$X", "LPA:1"] {
        let err = Lpa::new(&mut card)
            .download(&dp, ac, None, &device_info(), |_| true)
            .await
            .unwrap_err();
        assert!(matches!(err, LpaError::ActivationCode(_)), "{ac}: {err:?}");
    }
    assert!(card.apdus.is_empty() && dp.calls().is_empty());
}

#[tokio::test]
async fn empty_ac_token_omits_matching_id() {
    let dp = dp(false);
    let mut card = Euicc::happy().card();
    Lpa::new(&mut card)
        .download(&dp, "1$smdp.example.com$", None, &device_info(), |_| true)
        .await
        .unwrap();
    let auth_req =
        AuthenticateServerRequest::decode(&card.requests_with(&[0xBF, 0x38])[0]).unwrap();
    assert_eq!(auth_req.ctx_params1.common().matching_id, None);
}

// ---------------------------------------------------------------------------------------------
// Notifications (SGP.22 §3.5)

fn other_notification(seq: i64, event: NotificationEvent, address: &str) -> PendingNotification {
    PendingNotification::OtherSignedNotification(OtherSignedNotification {
        tbs_other_notification: Signed::new(NotificationMetadata {
            seq_number: seq,
            profile_management_operation: event,
            notification_address: address.into(),
            iccid: Some(ICCID.parse().unwrap()),
        }),
        euicc_notification_signature: vec![0xEE; 64],
        euicc_certificate: vec![0x30, 0x00],
        eum_certificate: vec![0x30, 0x00],
    })
}

#[tokio::test]
async fn process_notifications_delivers_and_removes() {
    let list = vec![
        other_notification(3, NotificationEvent::Enable, "smdp-a.example.com"),
        other_notification(4, NotificationEvent::Delete, "smdp-b.example.com"),
    ];
    let ders: Vec<Vec<u8>> = list.iter().map(Asn1::encode).collect();
    let response = RetrieveNotificationsListResponse::List(list).encode();
    let mut card = FakeCard::new(move |req| match req {
        [0xBF, 0x2B, ..] => Ok(response.clone()),
        [0xBF, 0x30, ..] => Ok(NotificationSentResponse {
            delete_notification_status: rsp::es10b::DeleteNotificationStatus::OK,
        }
        .encode()),
        _ => Err(0x6D00),
    });
    let dp = FakeDp::default();
    dp.push(path::HANDLE_NOTIFICATION, 204, Vec::new());
    dp.push(path::HANDLE_NOTIFICATION, 500, Vec::new());

    let outcomes = Lpa::new(&mut card)
        .process_notifications(&dp)
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 2);
    assert_eq!(
        (outcomes[0].seq_number, outcomes[0].event),
        (3, NotificationEvent::Enable)
    );
    assert_eq!(outcomes[0].status, NotificationStatus::Removed);
    assert_eq!(outcomes[1].address, "smdp-b.example.com");
    assert!(matches!(
        outcomes[1].status,
        NotificationStatus::NotDelivered(LpaError::Http { status: 500, .. })
    ));

    let calls = dp.calls();
    assert_eq!(calls[0].0, "smdp-a.example.com");
    assert_eq!(calls[0].2["pendingNotification"], b64(&ders[0]));
    assert_eq!(calls[1].0, "smdp-b.example.com");
    assert_eq!(calls[1].2["pendingNotification"], b64(&ders[1]));
    // RetrieveNotificationsList without criteria is 'BF2B 00'; only seq 3 is removed ('BF30 03 80 01 03').
    assert_eq!(card.requests[0], [0xBF, 0x2B, 0x00]);
    assert_eq!(
        card.requests_with(&[0xBF, 0x30]),
        [vec![0xBF, 0x30, 0x03, 0x80, 0x01, 0x03]]
    );
}

#[test]
fn retrieve_notifications_by_seq_and_empty_list() {
    let pending = other_notification(5, NotificationEvent::Disable, SMDP);
    let der = pending.encode();
    let list = RetrieveNotificationsListResponse::List(vec![pending.clone()]).encode();
    let mut calls = 0;
    let mut card = FakeCard::new(move |_| {
        calls += 1;
        Ok(if calls == 1 {
            list.clone()
        } else {
            tlv(0xBF2B, &tlv(0x81, &[0x01]))
        }) // noResultAvailable
    });
    let mut lpa = Lpa::new(&mut card);
    let got = lpa.retrieve_notifications(Some(5)).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].der, der);
    assert_eq!(got[0].notification, pending);
    assert!(lpa.retrieve_notifications(None).unwrap().is_empty());
    drop(lpa);
    // searchCriteria [0] { seqNumber [0] 5 }.
    assert_eq!(
        card.requests[0],
        [0xBF, 0x2B, 0x05, 0xA0, 0x03, 0x80, 0x01, 0x05]
    );
}

// ---------------------------------------------------------------------------------------------
// ES10 functions and the channel

#[test]
fn channel_is_opened_once_and_closed_on_drop() {
    let eid: Eid = "89049032123451234512345678901235".parse().unwrap();
    let mut card = FakeCard::new(move |req| match req {
        [0xBF, 0x3E, ..] => Ok(GetEuiccDataResponse { eid }.encode()),
        [0xBF, 0x2E, ..] => Ok(GetEuiccChallengeResponse {
            euicc_challenge: CHALLENGE,
        }
        .encode()),
        _ => Err(0x6D00),
    });
    {
        let mut lpa = Lpa::new(&mut card);
        assert_eq!(lpa.eid().unwrap(), eid);
        assert_eq!(lpa.challenge().unwrap(), CHALLENGE);
        assert_eq!(lpa.channel(), Some(1));
    }
    assert_eq!(
        card.apdus,
        [
            vec![0x00, 0x70, 0x00, 0x00, 0x01],
            [
                vec![0x01, 0xA4, 0x04, 0x00, 0x10],
                ISD_R_AID.to_vec(),
                vec![0x00]
            ]
            .concat(),
            // ES10c.GetEID: BF3E 03 5C 01 5A (SGP.22 §5.7.20).
            vec![0x81, 0xE2, 0x91, 0x00, 0x06, 0xBF, 0x3E, 0x03, 0x5C, 0x01, 0x5A],
            vec![0x81, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2E, 0x00],
            vec![0x01, 0x70, 0x80, 0x01],
        ]
    );
}

#[test]
fn basic_channel_and_small_blocks() {
    let mut card = FakeCard::new(|_| {
        Ok(EnableProfileResponse {
            result: EnableResult::OK,
        }
        .encode())
    });
    {
        let mut lpa = Lpa::new(&mut card)
            .with_channel_mode(ChannelMode::Basic)
            .with_block_size(4);
        lpa.enable(ProfileIdentifier::Iccid(ICCID.parse().unwrap()), true)
            .unwrap();
    }
    // SELECT on the basic channel, no MANAGE CHANNEL; the 20-byte request in 4-byte blocks.
    assert_eq!(card.apdus[0][..4], [0x00, 0xA4, 0x04, 0x00]);
    let blocks = &card.apdus[1..];
    assert_eq!(blocks.len(), 5);
    assert!(blocks
        .iter()
        .enumerate()
        .all(|(i, b)| b[0] == 0x80 && b[3] == i as u8));
    assert_eq!(
        blocks.iter().map(|b| b[2]).collect::<Vec<_>>(),
        [0x11, 0x11, 0x11, 0x11, 0x91]
    );
}

#[test]
fn es10_results_carry_the_sgp22_name() {
    let mut card = FakeCard::new(|req| match req {
        [0xBF, 0x31, ..] => Ok(EnableProfileResponse {
            result: EnableResult::PROFILE_NOT_IN_DISABLED_STATE,
        }
        .encode()),
        [0xBF, 0x33, ..] => Ok(tlv(0xBF33, &tlv(0x80, &[0x01]))), // iccidOrAidNotFound
        [0xBF, 0x2D, ..] => Ok(tlv(0xBF2D, &tlv(0x81, &[0x01]))), // incorrectInputValues
        [0xBF, 0x29, ..] => Err(0x6A88),
        _ => Ok(vec![0xBF, 0x20, 0x01]), // truncated TLV
    });
    let mut lpa = Lpa::new(&mut card);
    let iccid: Iccid = ICCID.parse().unwrap();

    let err = lpa
        .enable(ProfileIdentifier::Iccid(iccid), false)
        .unwrap_err();
    assert_eq!(
        err,
        LpaError::Es10 {
            function: "EnableProfile",
            code: 2,
            name: Some("profileNotInDisabledState")
        }
    );
    assert_eq!(
        err.to_string(),
        "EnableProfile failed: profileNotInDisabledState(2)"
    );
    let err = lpa
        .delete(ProfileIdentifier::IsdpAid(ISDP_AID.to_vec()))
        .unwrap_err();
    assert_eq!(err.result_name(), Some("iccidOrAidNotFound"));
    assert_eq!(
        lpa.profiles().unwrap_err().result_name(),
        Some("incorrectInputValues")
    );
    let err = lpa.set_nickname(iccid, "work").unwrap_err();
    assert_eq!(
        err.status_word(),
        Some(apdu::StatusWord::REFERENCED_DATA_NOT_FOUND)
    );
    assert!(matches!(
        lpa.euicc_info1(),
        Err(LpaError::Decode {
            function: "GetEUICCInfo1",
            ..
        })
    ));
}

#[test]
fn select_failure_is_reported_and_channel_released() {
    struct NoIsdr(Vec<Vec<u8>>);
    impl CardTransport for NoIsdr {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
            self.0.push(apdu.to_vec());
            Ok(match apdu[1] {
                0x70 if apdu[2] == 0 => vec![0x02, 0x90, 0x00],
                0x70 => sw(0x9000),
                _ => sw(0x6A82),
            })
        }
    }
    let mut card = NoIsdr(Vec::new());
    let err = Lpa::new(&mut card).eid().unwrap_err();
    assert!(matches!(
        err,
        LpaError::Card {
            function: "SELECT ISD-R",
            ..
        }
    ));
    assert_eq!(err.status_word(), Some(apdu::StatusWord::FILE_NOT_FOUND));
    assert_eq!(card.0.last().unwrap(), &vec![0x02, 0x70, 0x80, 0x02]);
}
