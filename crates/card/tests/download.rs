//! The download path end to end on the card side, driven by a minimal test-only SM-DP+ that
//! signs with the GSMA SGP.26 test keys (DPauth / DPpb, NIST P-256) and binds a GSMA TS.48 test
//! profile with the `bsp` crate: AuthenticateServer, PrepareDownload, LoadBoundProfilePackage,
//! the Profile Installation Result, and error paths that must leave the card unchanged.

mod common;

use card::{CardState, NotificationKind, ProfileState};
use common::smdp::*;
use common::*;
use pki::{Certificate, PrivateKey};
use rsp::es10b::*;
use rsp::es8p::*;
use rsp::notification::{BppCommandId, ErrorReason, FinalResult, ProfileInstallationResult};
use rsp::{Asn1, Iccid, TransactionId};

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

/// BPP segments run on the card state without a working copy (`os::Card::store_data`): the
/// state and its revision change only with the segment that ends the load, and a segment the
/// card refuses changes neither.
#[test]
fn bpp_segments_commit_only_with_the_pir() {
    let smdp = Smdp::sgp26();
    let mut card = new_card(CardState::new());
    let (ch, otpk) = authenticate_and_prepare(&mut card, &smdp);
    let (package, md) = ts48();
    let segments =
        rsp::es8p::segment(&smdp.bind(&card.identity().eid, &otpk, &md, &package, false)).unwrap();
    let (last, init) = segments.split_last().unwrap();
    let before = card.state().clone();
    let r0 = card.state_revision();
    for s in init {
        assert!(es10(&mut card, ch, s).is_empty());
        assert_eq!(card.state_revision(), r0);
        assert_eq!(*card.state(), before);
    }
    let pir = verify_pir(&euicc_cert(), &es10(&mut card, ch, last));
    assert!(pir.is_success(), "{pir:?}");
    let r1 = card.state_revision();
    assert_ne!(r1, r0);
    assert_eq!(card.state().profiles.len(), 1);
    assert!(card.state().session.is_none());
    // The load is over: a further segment is refused and commits nothing.
    let after = card.state().clone();
    assert_eq!(
        apdu::es10_exchange(&mut Link(&mut card), ch, last),
        Err(apdu::ApduError::Status(
            apdu::StatusWord::CONDITIONS_NOT_SATISFIED
        ))
    );
    assert_eq!(card.state_revision(), r1);
    assert_eq!(*card.state(), after);
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
