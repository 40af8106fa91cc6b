//! The download path end to end on the card side, driven by a minimal test-only SM-DP+ that
//! signs with the GSMA SGP.26 test keys (DPauth / DPpb, NIST P-256) and binds a GSMA TS.48 test
//! profile with the `bsp` crate: AuthenticateServer, PrepareDownload, LoadBoundProfilePackage,
//! the Profile Installation Result, and error paths that must leave the card unchanged.

mod common;

use card::testing::SeededRng;
use card::{CardState, NotificationKind, ProfileState};
use common::*;
use pki::{Certificate, Curve, PrivateKey, PublicKey};
use rsp::es10b::*;
use rsp::es8p::*;
use rsp::notification::{BppCommandId, ErrorReason, FinalResult, ProfileInstallationResult};
use rsp::{tags, Asn1, Iccid, Signed, TransactionId};
use tlv::{Tag, Writer};

const EID: [u8; 16] = [
    0x89, 0x04, 0x90, 0x32, 0x12, 0x34, 0x51, 0x23, 0x45, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x35,
];
const SMDP_ADDRESS: &str = "testsmdpplus1.example.com";

struct Smdp {
    auth_sk: PrivateKey,
    auth_cert: Vec<u8>,
    pb_sk: PrivateKey,
    pb_cert: Vec<u8>,
    ci_pkid: Vec<u8>,
    txid: TransactionId,
}

impl Smdp {
    fn sgp26() -> Smdp {
        let ci =
            Certificate::from_der(&read("sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der")).unwrap();
        Smdp {
            auth_sk: PrivateKey::from_pem(&read_str("sgp26/DPauth/SK_S_SM_DPauth_ECDSA_NIST.pem"))
                .unwrap(),
            auth_cert: read("sgp26/DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der"),
            pb_sk: PrivateKey::from_pem(&read_str("sgp26/DPpb/SK_S_SM_DPpb_ECDSA_NIST.pem"))
                .unwrap(),
            pb_cert: read("sgp26/DPpb/CERT_S_SM_DPpb_ECDSA_NIST.der"),
            ci_pkid: ci.subject_key_id().unwrap().to_vec(),
            txid: TransactionId::new(hex("0123456789ABCDEF0123456789ABCDEF")).unwrap(),
        }
    }

    fn authenticate_server_request(&self, euicc_challenge: [u8; 16]) -> Vec<u8> {
        let signed = Signed::new(ServerSigned1 {
            transaction_id: self.txid.clone(),
            euicc_challenge,
            server_address: SMDP_ADDRESS.into(),
            server_challenge: [0x5C; 16],
        });
        let sig = self.auth_sk.sign(signed.raw());
        AuthenticateServerRequest {
            server_signed1: signed,
            server_signature1: sig.to_vec(),
            euicc_ci_pkid_to_be_used: self.ci_pkid.clone(),
            server_certificate: self.auth_cert.clone(),
            ctx_params1: CtxParams1::CommonAuthentication(CtxParamsForCommonAuthentication {
                matching_id: Some("TS48-TEST".into()),
                device_info: DeviceInfo {
                    tac: hex("35290611"),
                    device_capabilities: Default::default(),
                    imei: None,
                },
            }),
        }
        .encode()
    }

    /// smdpSignature2 over smdpSigned2 || '5F37' euiccSignature1 (SGP.22 §5.6.2 / §5.7.5).
    fn prepare_download_request(&self, euicc_signature1: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let signed = Signed::new(SmdpSigned2 {
            transaction_id: self.txid.clone(),
            cc_required_flag: false,
            bpp_euicc_otpk: None,
        });
        let mut data = signed.raw().to_vec();
        tlv::write_tlv(tags::SIGNATURE, euicc_signature1, &mut data);
        let sig = self.pb_sk.sign(&data).to_vec();
        let req = PrepareDownloadRequest {
            smdp_signed2: signed,
            smdp_signature2: sig.clone(),
            hash_cc: None,
            smdp_certificate: self.pb_cert.clone(),
        };
        (req.encode(), sig)
    }

    /// Binds `package` for the eUICC one-time key `euicc_otpk` (SGP.22 §2.5.4, Annex G).
    fn bind(
        &self,
        eid: &[u8; 16],
        euicc_otpk: &[u8],
        metadata: &StoreMetadataRequest,
        package: &[u8],
        ppk: bool,
    ) -> Vec<u8> {
        let ot = PrivateKey::generate(Curve::NistP256, &mut SeededRng::new(b"smdp ot"));
        let shs = ot
            .ecka(&PublicKey::from_sec1(Curve::NistP256, euicc_otpk).unwrap())
            .unwrap();
        let host_id = b"simkit-test".to_vec();
        let keys = bsp::derive_session_keys(&shs[..], 0x88, 16, &host_id, eid).unwrap();
        let isc_signed = Signed::new(InitialiseSecureChannelSigned {
            remote_op_id: 1,
            transaction_id: self.txid.clone(),
            control_ref_template: ControlRefTemplate {
                key_type: 0x88,
                key_len: 16,
                host_id,
            },
            smdp_otpk: ot.public_key().to_uncompressed(),
        });
        let smdp_sign = self
            .pb_sk
            .sign(&InitialiseSecureChannelRequest::data_to_sign(
                isc_signed.raw(),
                euicc_otpk,
            ))
            .to_vec();
        let isc = InitialiseSecureChannelRequest {
            signed: isc_signed,
            smdp_sign,
        }
        .encode();
        let mut b = bsp::Bsp::new(&keys);
        let s87 = b
            .encrypt_and_mac(0x87, &ConfigureIsdpRequest::default().encode())
            .unwrap();
        let s88 = b.mac_only(0x88, &metadata.encode()).unwrap();
        let mut second87 = None;
        if ppk {
            let (enc, mac, mcv) = ([0x11u8; 16], [0x22u8; 16], [0x33u8; 16]);
            let rsk = ReplaceSessionKeysRequest {
                initial_mac_chaining_value: mcv.to_vec(),
                ppk_enc: enc.to_vec(),
                ppk_cmac: mac.to_vec(),
            };
            second87 = Some(b.encrypt_and_mac(0x87, &rsk.encode()).unwrap());
            b.replace_keys(&enc, &mac, &mcv);
        }
        let s86 = b.encrypt_and_mac(0x86, package).unwrap();
        let mut w = Writer::new();
        w.nested(Tag(0xBF36), |w| {
            w.raw(&isc);
            for (tag, segs) in [
                (0xA0, Some(s87)),
                (0xA1, Some(s88)),
                (0xA2, second87),
                (0xA3, Some(s86)),
            ] {
                if let Some(segs) = segs {
                    w.nested(Tag(tag), |w| {
                        for s in &segs {
                            w.raw(s);
                        }
                    });
                }
            }
        });
        w.into_vec()
    }
}

fn ts48() -> (Vec<u8>, StoreMetadataRequest) {
    // GSMA TS.48 v5 generic test profile (SAIP 2.3, SUCI), shared/reference/ts48-profiles.
    let package = read("ts48-profiles/TS48V5-SAIP2-3-BERTLV-SUCI-UNIQUE.der");
    let pp = saip::ProfilePackage::parse(&package).unwrap();
    let md = StoreMetadataRequest {
        iccid: pp.iccid().parse().unwrap(),
        service_provider_name: "GSMA TS.48".into(),
        profile_name: "TS.48 v5 SUCI".into(),
        icon_type: None,
        icon: None,
        profile_class: Some(rsp::ProfileClass::TEST),
        notification_configuration_info: Some(vec![NotificationConfigurationInformation {
            profile_management_operation: rsp::notification::NotificationEvents::new(&[
                rsp::notification::NotificationEvent::Install,
                rsp::notification::NotificationEvent::Enable,
                rsp::notification::NotificationEvent::Delete,
            ]),
            notification_address: SMDP_ADDRESS.into(),
        }]),
        profile_owner: None,
        profile_policy_rules: None,
    };
    (package, md)
}

/// Runs GetEUICCChallenge, AuthenticateServer and PrepareDownload; returns (channel, otPK).
fn authenticate_and_prepare(card: &mut card::Card, smdp: &Smdp) -> (u8, Vec<u8>) {
    let ch = open_isdr(card);
    let chal = GetEuiccChallengeResponse::decode(&es10(card, ch, &hex("BF2E00"))).unwrap();
    let resp = AuthenticateServerResponse::decode(&es10(
        card,
        ch,
        &smdp.authenticate_server_request(chal.euicc_challenge),
    ))
    .unwrap();
    let AuthenticateServerResponse::Ok(ok) = resp else {
        panic!("{resp:?}")
    };
    // The SM-DP+ side of ES9+.AuthenticateClient: chain and signature.
    let ci =
        Certificate::from_der(&read("sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der")).unwrap();
    let eum = Certificate::from_der(&ok.eum_certificate).unwrap();
    let euicc = Certificate::from_der(&ok.euicc_certificate).unwrap();
    let id = pki::verify_euicc_chain(&[ci], &eum, &euicc, euicc.not_before()).unwrap();
    assert_eq!(id.eid, "89049032123451234512345678901235");
    id.public_key
        .verify(ok.euicc_signed1.raw(), &ok.euicc_signature1)
        .unwrap();
    assert_eq!(ok.euicc_signed1.transaction_id, smdp.txid);
    assert_eq!(ok.euicc_signed1.server_challenge, [0x5C; 16]);
    assert_eq!(ok.euicc_signed1.server_address, SMDP_ADDRESS);
    assert_eq!(
        ok.euicc_signed1.ctx_params1.common().matching_id.as_deref(),
        Some("TS48-TEST")
    );

    let (req, smdp_sig2) = smdp.prepare_download_request(&ok.euicc_signature1);
    let resp = PrepareDownloadResponse::decode(&es10(card, ch, &req)).unwrap();
    let PrepareDownloadResponse::Ok(ok2) = resp else {
        panic!("{resp:?}")
    };
    // euiccSignature2 over euiccSigned2 || '5F37' smdpSignature2.
    let mut data = ok2.euicc_signed2.raw().to_vec();
    tlv::write_tlv(tags::SIGNATURE, &smdp_sig2, &mut data);
    id.public_key.verify(&data, &ok2.euicc_signature2).unwrap();
    assert_eq!(ok2.euicc_signed2.euicc_otpk.len(), 65);
    (ch, ok2.euicc_signed2.euicc_otpk.clone())
}

/// Sends the BPP in its SGP.22 §2.5.5 segments; every segment but the last answers nothing.
fn load(card: &mut card::Card, ch: u8, bpp: &[u8]) -> Vec<u8> {
    let segments = rsp::es8p::segment(bpp).unwrap();
    let mut last = Vec::new();
    for (i, s) in segments.iter().enumerate() {
        last = es10(card, ch, s);
        if !last.is_empty() {
            assert!(
                i + 1 == segments.len() || last.starts_with(&[0xBF, 0x37]),
                "segment {i}"
            );
            break;
        }
    }
    last
}

fn euicc_cert() -> Vec<u8> {
    read("sgp26/eUICC/CERT_EUICC_ECDSA_NIST.der")
}

fn verify_pir(euicc_cert: &[u8], pir_der: &[u8]) -> ProfileInstallationResult {
    let pir = ProfileInstallationResult::decode(pir_der).unwrap();
    let euicc = Certificate::from_der(euicc_cert).unwrap();
    euicc
        .public_key()
        .verify(
            pir.profile_installation_result_data.raw(),
            &pir.euicc_sign_pir,
        )
        .unwrap();
    pir
}

#[test]
fn download_and_install_ts48_profile() {
    for ppk in [false, true] {
        let smdp = Smdp::sgp26();
        let mut card = new_card(CardState::new());
        let (ch, otpk) = authenticate_and_prepare(&mut card, &smdp);
        let (package, md) = ts48();
        let eid = card.identity().eid;
        let bpp = smdp.bind(&eid, &otpk, &md, &package, ppk);
        let pir = verify_pir(&euicc_cert(), &load(&mut card, ch, &bpp));
        assert!(pir.is_success(), "{pir:?}");
        let data = pir.profile_installation_result_data.value();
        assert_eq!(data.transaction_id, smdp.txid);
        assert_eq!(
            data.notification_metadata.notification_address,
            SMDP_ADDRESS
        );
        assert_eq!(data.notification_metadata.iccid, Some(md.iccid));
        let FinalResult::Success(s) = &data.final_result else {
            unreachable!()
        };
        assert_eq!(s.aid, hex("A0000005591010FFFFFFFF8900001000"));

        let st = card.state();
        assert_eq!(st.profiles.len(), 1);
        let p = &st.profiles[0];
        assert_eq!(p.iccid, md.iccid.0);
        assert_eq!(p.state, ProfileState::Disabled);
        assert_eq!(p.package, package);
        assert!(p.imsi.is_some());
        assert!(st.session.is_none());
        // The PIR plus the install notification the metadata asks for.
        let kinds: Vec<_> = st
            .notifications
            .iter()
            .map(|n| (n.seq_number, n.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                (1, NotificationKind::Install),
                (2, NotificationKind::Install)
            ]
        );
        assert_eq!(st.notifications[0].pending, verify_pir_bytes(&card));

        // Persisted and reloaded, the state is identical.
        let bytes = st.to_bytes();
        assert_eq!(CardState::from_bytes(&bytes).unwrap(), *st);

        // Enabling creates an enable notification for the configured address.
        let enable = es10(
            &mut card,
            ch,
            &hex(&format!("BF3111A00C5A0A{}810100", hex::encode(md.iccid.0))),
        );
        assert_eq!(enable, hex("BF3103800100"));
        assert_eq!(
            card.state().notifications.last().unwrap().kind,
            NotificationKind::Enable
        );
    }
}

fn verify_pir_bytes(card: &card::Card) -> Vec<u8> {
    card.state().notifications[0].pending.clone()
}

#[test]
fn tampered_segment_fails_atomically() {
    let smdp = Smdp::sgp26();
    let mut card = new_card(CardState::new());
    let (ch, otpk) = authenticate_and_prepare(&mut card, &smdp);
    let (package, md) = ts48();
    let mut segments =
        rsp::es8p::segment(&smdp.bind(&card.identity().eid, &otpk, &md, &package, false)).unwrap();
    let before = card.state().clone();
    // Flip one bit in the MAC of the third '86' segment.
    let idx = segments
        .iter()
        .enumerate()
        .filter(|(_, s)| s[0] == 0x86)
        .nth(2)
        .unwrap()
        .0;
    let last = segments[idx].len() - 1;
    segments[idx][last] ^= 1;
    let mut pir = Vec::new();
    for s in &segments {
        pir = es10(&mut card, ch, s);
        if !pir.is_empty() {
            break;
        }
    }
    let pir = verify_pir(&euicc_cert(), &pir);
    let FinalResult::Error(e) = &pir.profile_installation_result_data.value().final_result else {
        panic!()
    };
    assert_eq!(e.bpp_command_id, BppCommandId::LOAD_PROFILE_ELEMENTS);
    assert_eq!(e.error_reason, ErrorReason::SCP03T_SECURITY_ERROR);
    // Nothing installed: apart from the stored PIR (and the ended session) the state is
    // byte-identical.
    let mut after = card.state().clone();
    assert_eq!(after.notifications.len(), 1);
    assert!(after.session.is_none());
    after.notifications = before.notifications.clone();
    after.last_seq_number = before.last_seq_number;
    after.session = before.session.clone();
    assert_eq!(after.to_bytes(), before.to_bytes());
    // Further segments of the aborted BPP are refused.
    assert_eq!(
        apdu::es10_exchange(&mut Link(&mut card), ch, &segments[idx + 1]),
        Err(apdu::ApduError::Status(
            apdu::StatusWord::CONDITIONS_NOT_SATISFIED
        ))
    );
}

#[test]
fn install_errors_are_reported_in_the_pir() {
    let smdp = Smdp::sgp26();
    let (package, md) = ts48();
    // ICCID mismatch between metadata and profile header.
    let mut card = new_card(CardState::new());
    let (ch, otpk) = authenticate_and_prepare(&mut card, &smdp);
    let mut wrong = md.clone();
    wrong.iccid = Iccid(hex("98001032547698103214").try_into().unwrap());
    let pir = verify_pir(
        &euicc_cert(),
        &load(
            &mut card,
            ch,
            &smdp.bind(&EID, &otpk, &wrong, &package, false),
        ),
    );
    let FinalResult::Error(e) = &pir.profile_installation_result_data.value().final_result else {
        panic!()
    };
    assert_eq!(
        (e.bpp_command_id, e.error_reason),
        (
            BppCommandId::LOAD_PROFILE_ELEMENTS,
            ErrorReason::INSTALL_FAILED_DUE_TO_ICCID_MISMATCH
        )
    );
    assert!(card.state().profiles.is_empty());

    // The same profile twice: ICCID already exists, reported by StoreMetadata.
    let mut card = new_card(CardState::new());
    for round in 0..2 {
        let (ch, otpk) = authenticate_and_prepare(&mut card, &smdp);
        let pir = verify_pir(
            &euicc_cert(),
            &load(&mut card, ch, &smdp.bind(&EID, &otpk, &md, &package, false)),
        );
        if round == 1 {
            let FinalResult::Error(e) = &pir.profile_installation_result_data.value().final_result
            else {
                panic!()
            };
            assert_eq!(
                (e.bpp_command_id, e.error_reason),
                (
                    BppCommandId::STORE_METADATA,
                    ErrorReason::INSTALL_FAILED_DUE_TO_ICCID_ALREADY_EXISTS_ON_EUICC
                )
            );
        }
    }
    assert_eq!(card.state().profiles.len(), 1);

    // smdpSign made by another key: InitialiseSecureChannel invalidSignature.
    let mut card = new_card(CardState::new());
    let (ch, otpk) = authenticate_and_prepare(&mut card, &smdp);
    let mut other = Smdp::sgp26();
    other.pb_sk =
        PrivateKey::from_pem(&read_str("sgp26/DPpb/SK_S_SM_DP2pb_ECDSA_NIST.pem")).unwrap();
    let pir = verify_pir(
        &euicc_cert(),
        &load(
            &mut card,
            ch,
            &other.bind(&EID, &otpk, &md, &package, false),
        ),
    );
    let FinalResult::Error(e) = &pir.profile_installation_result_data.value().final_result else {
        panic!()
    };
    assert_eq!(
        (e.bpp_command_id, e.error_reason),
        (
            BppCommandId::INITIALISE_SECURE_CHANNEL,
            ErrorReason::INVALID_SIGNATURE
        )
    );
}

#[test]
fn authenticate_server_errors() {
    let smdp = Smdp::sgp26();
    let mut card = new_card(CardState::new());
    let ch = open_isdr(&mut card);
    let err = |resp: Vec<u8>| match AuthenticateServerResponse::decode(&resp).unwrap() {
        AuthenticateServerResponse::Error(e) => e.authenticate_error_code,
        other => panic!("{other:?}"),
    };
    // No challenge yet.
    assert_eq!(
        err(es10(
            &mut card,
            ch,
            &smdp.authenticate_server_request([0; 16])
        )),
        AuthenticateErrorCode::NO_SESSION_CONTEXT
    );
    let chal = GetEuiccChallengeResponse::decode(&es10(&mut card, ch, &hex("BF2E00")))
        .unwrap()
        .euicc_challenge;
    // Challenge mismatch.
    let mut other = chal;
    other[0] ^= 0xFF;
    assert_eq!(
        err(es10(
            &mut card,
            ch,
            &smdp.authenticate_server_request(other)
        )),
        AuthenticateErrorCode::EUICC_CHALLENGE_MISMATCH
    );
    // Unknown CI.
    let mut unknown = Smdp::sgp26();
    unknown.ci_pkid = vec![0xAB; 20];
    assert_eq!(
        err(es10(
            &mut card,
            ch,
            &unknown.authenticate_server_request(chal)
        )),
        AuthenticateErrorCode::CI_PK_UNKNOWN
    );
    // Signed by the wrong key.
    let mut forged = Smdp::sgp26();
    forged.auth_sk =
        PrivateKey::from_pem(&read_str("sgp26/DPauth/SK_S_SM_DP2auth_ECDSA_NIST.pem")).unwrap();
    assert_eq!(
        err(es10(
            &mut card,
            ch,
            &forged.authenticate_server_request(chal)
        )),
        AuthenticateErrorCode::INVALID_SIGNATURE
    );
    // A DPpb certificate is not an authentication certificate.
    let mut wrong_role = Smdp::sgp26();
    wrong_role.auth_cert = wrong_role.pb_cert.clone();
    wrong_role.auth_sk =
        PrivateKey::from_pem(&read_str("sgp26/DPpb/SK_S_SM_DPpb_ECDSA_NIST.pem")).unwrap();
    assert_eq!(
        err(es10(
            &mut card,
            ch,
            &wrong_role.authenticate_server_request(chal)
        )),
        AuthenticateErrorCode::INVALID_OID
    );
    // A certificate that is not DER.
    let mut garbage = Smdp::sgp26();
    garbage.auth_cert = hex("3003020101");
    assert_eq!(
        err(es10(
            &mut card,
            ch,
            &garbage.authenticate_server_request(chal)
        )),
        AuthenticateErrorCode::INVALID_CERTIFICATE
    );
    // PrepareDownload before a successful AuthenticateServer.
    let (req, _) = smdp.prepare_download_request(&[0u8; 64]);
    match PrepareDownloadResponse::decode(&es10(&mut card, ch, &req)).unwrap() {
        PrepareDownloadResponse::Error(e) => {
            assert_eq!(e.download_error_code, DownloadErrorCode::NO_SESSION_CONTEXT)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn prepare_download_rejects_bad_smdp_signature2_and_cancel_session_signs() {
    let smdp = Smdp::sgp26();
    let mut card = new_card(CardState::new());
    let ch = open_isdr(&mut card);
    let chal = GetEuiccChallengeResponse::decode(&es10(&mut card, ch, &hex("BF2E00")))
        .unwrap()
        .euicc_challenge;
    let AuthenticateServerResponse::Ok(ok) = AuthenticateServerResponse::decode(&es10(
        &mut card,
        ch,
        &smdp.authenticate_server_request(chal),
    ))
    .unwrap() else {
        panic!()
    };
    // smdpSignature2 over the wrong euiccSignature1.
    let (req, _) = smdp.prepare_download_request(&[0u8; 64]);
    match PrepareDownloadResponse::decode(&es10(&mut card, ch, &req)).unwrap() {
        PrepareDownloadResponse::Error(e) => {
            assert_eq!(e.download_error_code, DownloadErrorCode::INVALID_SIGNATURE);
            assert_eq!(e.transaction_id, smdp.txid);
        }
        other => panic!("{other:?}"),
    }
    // CancelSession with an unknown transaction, then the right one.
    let bad = CancelSessionRequest {
        transaction_id: TransactionId::new(vec![1]).unwrap(),
        reason: rsp::CancelSessionReason::POSTPONED,
    };
    assert_eq!(
        CancelSessionResponse::decode(&es10(&mut card, ch, &bad.encode())).unwrap(),
        CancelSessionResponse::Error(CancelSessionError::INVALID_TRANSACTION_ID)
    );
    let req = CancelSessionRequest {
        transaction_id: smdp.txid.clone(),
        reason: rsp::CancelSessionReason::END_USER_REJECTION,
    };
    let CancelSessionResponse::Ok(c) =
        CancelSessionResponse::decode(&es10(&mut card, ch, &req.encode())).unwrap()
    else {
        panic!()
    };
    let euicc = Certificate::from_der(&ok.euicc_certificate).unwrap();
    euicc
        .public_key()
        .verify(
            c.euicc_cancel_session_signed.raw(),
            &c.euicc_cancel_session_signature,
        )
        .unwrap();
    let dp_oid = Certificate::from_der(&smdp.auth_cert)
        .unwrap()
        .registered_id()
        .unwrap()
        .as_bytes()
        .to_vec();
    assert_eq!(
        c.euicc_cancel_session_signed.smdp_oid.contents(),
        dp_oid.as_slice()
    );
    assert!(card.state().session.is_none());
}
