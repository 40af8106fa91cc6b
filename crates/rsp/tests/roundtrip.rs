//! Build-then-decode tests for every message type, exact encodings derived from the tagging of
//! SGP.22 RSPDefinitions (AUTOMATIC TAGS), extension tolerance and error cases.

use rsp::es10a::*;
use rsp::es10b::*;
use rsp::es10c::*;
use rsp::es8p::*;
use rsp::notification::*;
use rsp::{
    Asn1, BitString, CancelSessionReason, Eid, Error, Iccid, IconType, ProfileClass, ProfileState,
    Signed, TransactionId, Version,
};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

fn reference(path: &str) -> Vec<u8> {
    let p = format!(
        "{}/../../../shared/reference/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// Encode, decode, compare, re-encode byte for byte.
fn rt<T: Asn1 + PartialEq + std::fmt::Debug>(v: &T) -> Vec<u8> {
    let der = v.encode();
    let back = T::decode(&der).unwrap_or_else(|e| panic!("{e} in {}", hex::encode(&der)));
    assert_eq!(&back, v);
    assert_eq!(back.encode(), der);
    // Trailing garbage and truncation are errors.
    let mut extra = der.clone();
    extra.push(0x00);
    assert!(T::decode(&extra).is_err());
    assert!(T::decode(&der[..der.len() - 1]).is_err());
    der
}

/// Appends an unknown extension field (as a later SGP.22 version would) inside the outer TLV.
fn with_extension(der: &[u8], ext: &[u8]) -> Vec<u8> {
    let t = tlv::Tlv::parse_single(der).unwrap();
    let mut contents = t.value.to_vec();
    contents.extend_from_slice(ext);
    tlv::encode_tlv(t.tag, &contents)
}

/// GSMA test CI (SGP.26) subject key identifier.
const CI_SKI: &str = "f54172bdf98a95d65cbeb88a38a1c11d800a85c3";

fn tid() -> TransactionId {
    TransactionId::new(h("0123456789abcdef0123456789abcdef")).unwrap()
}

fn euicc_info2() -> EuiccInfo2 {
    EuiccInfo2 {
        profile_version: Version::new(2, 3, 1),
        svn: Version::new(2, 2, 2),
        euicc_firmware_ver: Version::new(1, 0, 0),
        ext_card_resource: h("810100820400010000830200ff"),
        uicc_capability: BitString::from_bits(&[1, 2, 4, 6, 7, 14, 16]),
        javacard_version: Some(Version::new(3, 0, 5)),
        globalplatform_version: Some(Version::new(2, 3, 1)),
        rsp_capability: BitString::from_bits(&[0, 2, 3]),
        ci_pkid_list_for_verification: vec![h(CI_SKI)],
        ci_pkid_list_for_signing: vec![h(CI_SKI)],
        euicc_category: Some(EuiccCategory::OTHER),
        forbidden_profile_policy_rules: Some(BitString::from_bits(&[1, 2])),
        pp_version: Version::new(1, 0, 0),
        sas_accreditation_number: "GI-BA-UP-0419".into(),
        certification_data_object: Some(CertificationDataObject {
            platform_label: "1.2.840.1234567/myPlatformLabel".into(),
            discovery_base_url: "https://mycompany.com/myDLOARegistrar".into(),
        }),
    }
}

fn ctx() -> CtxParams1 {
    CtxParams1::CommonAuthentication(CtxParamsForCommonAuthentication {
        matching_id: Some("04386-AGYFT-A74Y8-3F815".into()),
        device_info: DeviceInfo {
            tac: h("35290611"),
            device_capabilities: DeviceCapabilities {
                gsm_supported_release: Some(Version::new(15, 0, 0)),
                utran_supported_release: Some(Version::new(15, 0, 0)),
                eutran_supported_release: Some(Version::new(15, 0, 0)),
                ..Default::default()
            },
            imei: Some(h("3529061199999990")),
        },
    })
}

#[test]
fn empty_requests() {
    assert_eq!(rt(&GetEuiccChallengeRequest), h("BF2E00"));
    assert_eq!(rt(&GetEuiccInfo1Request), h("BF2000"));
    assert_eq!(rt(&GetEuiccInfo2Request), h("BF2200"));
    assert_eq!(rt(&GetRatRequest), h("BF4300"));
    assert_eq!(rt(&EuiccConfiguredAddressesRequest), h("BF3C00"));
    // A v3 LPA might add fields: tolerated.
    assert!(GetEuiccInfo2Request::decode(&h("BF2203800100")).is_ok());
    // Wrong outer tag.
    assert!(matches!(
        GetEuiccInfo1Request::decode(&h("BF2200")),
        Err(Error::Tlv {
            ty: "GetEuiccInfo1Request",
            source: tlv::Error::UnexpectedTag { .. }
        })
    ));
}

#[test]
fn challenge_and_info() {
    let c = GetEuiccChallengeResponse {
        euicc_challenge: [0x11; 16],
    };
    assert_eq!(rt(&c), [h("BF2E1280 10"), vec![0x11; 16]].concat());
    assert!(GetEuiccChallengeResponse::decode(&h("BF2E0380 0111")).is_err());

    let i1 = EuiccInfo1 {
        svn: Version::new(2, 2, 2),
        ci_pkid_list_for_verification: vec![h(CI_SKI)],
        ci_pkid_list_for_signing: vec![h(CI_SKI)],
    };
    let der = rt(&i1);
    assert_eq!(
        der,
        h(&format!(
            "BF2035 8203020202 A916 0414{CI_SKI} AA16 0414{CI_SKI}"
        ))
    );
    let i2 = euicc_info2();
    let der = rt(&i2);
    // ppVersion and sasAcreditationNumber are untagged: universal OCTET STRING / UTF8String.
    assert!(der.windows(5).any(|w| w == h("0403010000")));
    assert!(der.windows(2).any(|w| w == [0x0C, 13]));
    // v3 extensions after certificationDataObject are skipped.
    let ext = with_extension(&der, &h("AD03800101 9F2003010203"));
    assert_eq!(EuiccInfo2::decode(&ext).unwrap(), i2);
    // A missing mandatory field (rspCapability '88') is an error.
    let mut no_rsp = i2.clone();
    no_rsp.javacard_version = None;
    let enc = no_rsp.encode();
    let pos = enc.windows(2).position(|w| w == [0x88, 0x02]).unwrap();
    let mut broken = enc[4..pos].to_vec();
    broken.extend_from_slice(&enc[pos + 4..]);
    let broken = tlv::encode_tlv(tlv::Tag(0xBF22), &broken);
    assert!(EuiccInfo2::decode(&broken).is_err());
}

#[test]
fn authenticate_server() {
    let dpauth = reference("sgp26/DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der");
    let ss1 = ServerSigned1 {
        transaction_id: tid(),
        euicc_challenge: [0xAA; 16],
        server_address: "testsmdpplus1.example.com".into(),
        server_challenge: [0xBB; 16],
    };
    let req = AuthenticateServerRequest {
        server_signed1: Signed::new(ss1.clone()),
        server_signature1: vec![0x5A; 64],
        euicc_ci_pkid_to_be_used: h(CI_SKI),
        server_certificate: dpauth.clone(),
        ctx_params1: ctx(),
    };
    let der = rt(&req);
    assert_eq!(&der[..2], &[0xBF, 0x38]);
    let ss1_der = Signed::new(ss1.clone()).raw().to_vec();
    assert_eq!(&ss1_der[..4], &h("30 51 80 10")[..]);
    // Element order and tags: '30' serverSigned1, '5F37', '04' euiccCiPKIdToBeUsed, '30' cert,
    // 'A0' ctxParams1 { '80' matchingId, 'A1' deviceInfo { '80' tac, 'A1' caps, '82' imei } }.
    let outer = tlv::Tlv::parse_single(&der).unwrap();
    let elems: Vec<tlv::Tlv<'_>> = tlv::iter(outer.value).map(|t| t.unwrap()).collect();
    assert_eq!(
        elems.iter().map(|t| t.tag.0).collect::<Vec<_>>(),
        vec![0x30, 0x5F37, 0x04, 0x30, 0xA0]
    );
    let ctx_inner: Vec<u32> = tlv::iter(elems[4].value)
        .map(|t| t.unwrap().tag.0)
        .collect();
    assert_eq!(ctx_inner, vec![0x80, 0xA1]);
    let dev = tlv::find(elems[4].value, tlv::Tag(0xA1)).unwrap().unwrap();
    let dev_inner: Vec<u32> = tlv::iter(dev.value).map(|t| t.unwrap().tag.0).collect();
    assert_eq!(dev_inner, vec![0x80, 0xA1, 0x82]);

    // A server signed part with an unknown extension keeps its exact bytes.
    let ext_ss1 = with_extension(&ss1_der, &h("8501FF"));
    let mut raw = ext_ss1.clone();
    for e in &elems[1..] {
        raw.extend_from_slice(e.raw);
    }
    let msg = tlv::encode_tlv(tlv::Tag(0xBF38), &raw);
    let dec = AuthenticateServerRequest::decode(&msg).unwrap();
    assert_eq!(dec.server_signed1.raw(), &ext_ss1[..]);
    assert_eq!(*dec.server_signed1.value(), ss1);
    assert_eq!(dec.encode(), msg);

    let ok = AuthenticateServerResponse::Ok(AuthenticateResponseOk {
        euicc_signed1: Signed::new(EuiccSigned1 {
            transaction_id: tid(),
            server_address: "testsmdpplus1.example.com".into(),
            server_challenge: [0xBB; 16],
            euicc_info2: euicc_info2(),
            ctx_params1: ctx(),
        }),
        euicc_signature1: vec![1; 64],
        euicc_certificate: reference("sgp26/eUICC/CERT_EUICC_ECDSA_NIST.der"),
        eum_certificate: reference("sgp26/EUM/CERT_EUM_ECDSA_NIST.der"),
    });
    let der = rt(&ok);
    assert_eq!(&der[..2], &[0xBF, 0x38]);
    let err = AuthenticateServerResponse::Error(AuthenticateResponseError {
        transaction_id: tid(),
        authenticate_error_code: AuthenticateErrorCode::CI_PK_UNKNOWN,
    });
    assert_eq!(
        rt(&err),
        h("BF3817 A115 8010 0123456789abcdef0123456789abcdef 020107")
    );
    // Unknown CHOICE alternative.
    assert!(matches!(
        AuthenticateServerResponse::decode(&h("BF3802 A500")),
        Err(Error::UnknownChoice { .. })
    ));
}

#[test]
fn prepare_download() {
    let dppb = reference("sgp26/DPpb/CERT_S_SM_DPpb_ECDSA_NIST.der");
    let req = PrepareDownloadRequest {
        smdp_signed2: Signed::new(SmdpSigned2 {
            transaction_id: tid(),
            cc_required_flag: true,
            bpp_euicc_otpk: None,
        }),
        smdp_signature2: vec![2; 64],
        hash_cc: Some([3; 32]),
        smdp_certificate: dppb,
    };
    let der = rt(&req);
    assert_eq!(
        req.smdp_signed2.raw(),
        &h("3015 8010 0123456789abcdef0123456789abcdef 0101FF")[..]
    );
    assert!(der.windows(2).any(|w| w == [0x04, 0x20]));
    let no_cc = PrepareDownloadRequest {
        hash_cc: None,
        ..req.clone()
    };
    rt(&no_cc);

    let otpk = [vec![0x04], vec![0x42; 64]].concat();
    let ok = PrepareDownloadResponse::Ok(PrepareDownloadResponseOk {
        euicc_signed2: Signed::new(EuiccSigned2 {
            transaction_id: tid(),
            euicc_otpk: otpk,
            hash_cc: None,
        }),
        euicc_signature2: vec![4; 64],
    });
    let der = rt(&ok);
    assert_eq!((&der[..2], der[4]), (&h("BF21")[..], 0xA0));
    let err = PrepareDownloadResponse::Error(PrepareDownloadResponseError {
        transaction_id: tid(),
        download_error_code: DownloadErrorCode::INVALID_TRANSACTION_ID,
    });
    assert_eq!(
        rt(&err),
        h("BF2117 A115 8010 0123456789abcdef0123456789abcdef 020105")
    );
}

#[test]
fn initialise_secure_channel_signed_part() {
    let signed = InitialiseSecureChannelSigned {
        remote_op_id: REMOTE_OP_INSTALL_BPP,
        transaction_id: tid(),
        control_ref_template: ControlRefTemplate {
            key_type: KEY_TYPE_AES,
            key_len: 16,
            host_id: b"hostid".to_vec(),
        },
        smdp_otpk: vec![0x04; 65],
    };
    let isc = InitialiseSecureChannelRequest {
        signed: Signed::new(signed),
        smdp_sign: vec![9; 64],
    };
    let der = rt(&isc);
    // SGP.22 §5.5.1 / pySim es8p.gen_init_sec_chan_signed_part: 82 01 01 | 80 tid | A6 {80 01 88, 81 01 10, 84 hostId} | 5F49 otpk.
    let expect_signed = [
        h("820101 8010 0123456789abcdef0123456789abcdef A60E 800188 810110 8406"),
        b"hostid".to_vec(),
        h("5F4941"),
        vec![0x04; 65],
    ]
    .concat();
    assert_eq!(isc.signed.raw(), &expect_signed[..]);
    assert_eq!(&der[4..4 + expect_signed.len()], &expect_signed[..]);
    let data = isc.signed_data(&[0x04; 65]);
    assert_eq!(
        data,
        [expect_signed.clone(), h("5F4941"), vec![0x04; 65]].concat()
    );
    assert!(
        InitialiseSecureChannelRequest::decode(&der)
            .unwrap()
            .signed
            .raw()
            == &expect_signed[..]
    );
}

#[test]
fn bpp_build_and_segments() {
    let isc = InitialiseSecureChannelRequest {
        signed: Signed::new(InitialiseSecureChannelSigned {
            remote_op_id: 1,
            transaction_id: tid(),
            control_ref_template: ControlRefTemplate {
                key_type: 0x88,
                key_len: 16,
                host_id: vec![1; 16],
            },
            smdp_otpk: vec![0x04; 65],
        }),
        smdp_sign: vec![9; 64],
    };
    let bpp = BoundProfilePackage {
        initialise_secure_channel_request: isc,
        first_sequence_of_87: vec![vec![0x87; 20]],
        sequence_of_88: vec![vec![0x88; 40], vec![0x88; 8]],
        second_sequence_of_87: Some(vec![vec![0x77; 60]]),
        sequence_of_86: vec![vec![0x86; 300], vec![0x86; 10]],
    };
    let der = rt(&bpp);
    let segs = bpp.segments();
    let tags: Vec<u8> = segs.iter().map(|s| s[0]).collect();
    assert_eq!(
        tags,
        vec![0xBF, 0xA0, 0xA1, 0x88, 0x88, 0xA2, 0xA3, 0x86, 0x86]
    );
    assert_eq!(segs[1], [h("A016 8714"), vec![0x87; 20]].concat());
    assert_eq!(segs[2], h("A1 34"));
    assert_eq!(segs[6], h("A3 82 013C"));
    assert_eq!(segs.iter().map(Vec::len).sum::<usize>(), der.len());

    // The same BPP written from whole segment TLVs (as the SM-DP+ does with bsp's output) is
    // byte for byte the encoding of the struct, with and without the optional 'A2'.
    let whole = |tag: u8, values: &[Vec<u8>]| -> Vec<Vec<u8>> {
        values
            .iter()
            .map(|v| tlv::encode_tlv(tlv::Tag(tag as u32), v))
            .collect()
    };
    let second = whole(0x87, bpp.second_sequence_of_87.as_deref().unwrap());
    let direct = BoundProfilePackage::encode_from_segments(
        &bpp.initialise_secure_channel_request,
        &whole(0x87, &bpp.first_sequence_of_87),
        &whole(0x88, &bpp.sequence_of_88),
        Some(&second),
        &whole(0x86, &bpp.sequence_of_86),
    )
    .unwrap();
    assert_eq!(direct, der);
    let without_a2 = BoundProfilePackage {
        second_sequence_of_87: None,
        ..bpp.clone()
    };
    let direct = BoundProfilePackage::encode_from_segments(
        &bpp.initialise_secure_channel_request,
        &whole(0x87, &bpp.first_sequence_of_87),
        &whole(0x88, &bpp.sequence_of_88),
        None,
        &whole(0x86, &bpp.sequence_of_86),
    )
    .unwrap();
    assert_eq!(direct, without_a2.encode());
    // A segment under the wrong tag, or with a non-minimal length, is refused.
    assert!(BoundProfilePackage::encode_from_segments(
        &bpp.initialise_secure_channel_request,
        &whole(0x86, &bpp.first_sequence_of_87),
        &whole(0x88, &bpp.sequence_of_88),
        None,
        &whole(0x86, &bpp.sequence_of_86),
    )
    .is_err());
    assert!(BoundProfilePackage::encode_from_segments(
        &bpp.initialise_secure_channel_request,
        &[[h("87 81 14"), vec![0x87; 20]].concat()],
        &whole(0x88, &bpp.sequence_of_88),
        None,
        &whole(0x86, &bpp.sequence_of_86),
    )
    .is_err());
}

#[test]
fn metadata_and_isdp() {
    let md = StoreMetadataRequest {
        iccid: "8949449999999990023".parse().unwrap(),
        service_provider_name: "simkit".into(),
        profile_name: "Test profile".into(),
        icon_type: Some(IconType::PNG),
        icon: Some(vec![0x89, 0x50, 0x4E, 0x47]),
        profile_class: Some(ProfileClass::OPERATIONAL),
        notification_configuration_info: Some(vec![NotificationConfigurationInformation {
            profile_management_operation: NotificationEvents::new(&[
                NotificationEvent::Install,
                NotificationEvent::Delete,
            ]),
            notification_address: "smdp.example.com".into(),
        }]),
        profile_owner: Some(OperatorId {
            mcc_mnc: h("00f110").try_into().unwrap(),
            gid1: Some(h("ff")),
            gid2: None,
        }),
        profile_policy_rules: Some(BitString::from_bits(&[rsp::ppr::PPR1])),
    };
    let der = rt(&md);
    assert!(der.windows(4).any(|w| w == h("B6 18 30 16")));
    assert!(der.windows(4).any(|w| w == h("80 02 04 90")));
    assert!(der.windows(4).any(|w| w == h("99 02 06 40")));
    let cfg = ConfigureIsdpRequest {
        dp_proprietary_data: Some(DpProprietaryData {
            dp_oid: "1.3.6.1.4.1.31746".parse().unwrap(),
            additional: h("810100"),
        }),
    };
    assert_eq!(rt(&cfg), h("BF240F B80D 8008 2B0601040181F802 810100"));
    let um = UpdateMetadataRequest {
        profile_name: Some("x".into()),
        ..Default::default()
    };
    assert_eq!(rt(&um), h("BF2A03 920178"));
}

#[test]
fn notifications() {
    let meta = NotificationMetadata {
        seq_number: 5,
        profile_management_operation: NotificationEvent::Install,
        notification_address: "smdp.example.com".into(),
        iccid: Some("89000123456789012341".parse().unwrap()),
    };
    let der = rt(&meta);
    assert_eq!(&der[..10], &h("BF2F 25 800105 81020780")[..10]);

    let pir = ProfileInstallationResult {
        profile_installation_result_data: Signed::new(ProfileInstallationResultData {
            transaction_id: tid(),
            notification_metadata: meta.clone(),
            smdp_oid: Some("1.3.6.1.4.1.31746".parse().unwrap()),
            final_result: FinalResult::Success(SuccessResult {
                aid: h("A0000005591010FFFFFFFF8900001000"),
                sima_response: h("300780020000810100"),
            }),
        }),
        euicc_sign_pir: vec![7; 64],
    };
    rt(&pir);
    assert!(pir.is_success());
    let pir_err = ProfileInstallationResult {
        profile_installation_result_data: Signed::new(ProfileInstallationResultData {
            transaction_id: tid(),
            notification_metadata: meta.clone(),
            smdp_oid: None,
            final_result: FinalResult::Error(ErrorResult {
                bpp_command_id: BppCommandId::LOAD_PROFILE_ELEMENTS,
                error_reason: ErrorReason::INSTALL_FAILED_DUE_TO_INSUFFICIENT_MEMORY_FOR_PROFILE,
                sima_response: None,
            }),
        }),
        euicc_sign_pir: vec![7; 64],
    };
    let der = rt(&pir_err);
    assert!(der.windows(10).any(|w| w == h("A208 A106 800105 81010A")));
    let other = OtherSignedNotification {
        tbs_other_notification: Signed::new(NotificationMetadata {
            profile_management_operation: NotificationEvent::Delete,
            ..meta.clone()
        }),
        euicc_notification_signature: vec![8; 64],
        euicc_certificate: reference("sgp26/eUICC/CERT_EUICC_ECDSA_NIST.der"),
        eum_certificate: reference("sgp26/EUM/CERT_EUM_ECDSA_NIST.der"),
    };
    rt(&other);
    let p1 = PendingNotification::ProfileInstallationResult(pir.clone());
    let p2 = PendingNotification::OtherSignedNotification(other.clone());
    rt(&p1);
    rt(&p2);
    assert_eq!(
        p2.metadata().profile_management_operation,
        NotificationEvent::Delete
    );

    assert_eq!(
        rt(&ListNotificationRequest::from(NotificationEvent::Install)),
        h("BF2804 81020780")
    );
    assert_eq!(rt(&ListNotificationRequest::default()), h("BF2800"));
    rt(&ListNotificationResponse::List(vec![meta.clone()]));
    assert_eq!(
        rt(&ListNotificationResponse::Error(127)),
        h("BF2803 81017F")
    );
    assert_eq!(
        rt(&RetrieveNotificationsListRequest::default()),
        h("BF2B00")
    );
    assert_eq!(
        rt(&RetrieveNotificationsListRequest {
            search_criteria: Some(RetrieveSearchCriteria::SeqNumber(1))
        }),
        h("BF2B05 A003 800101")
    );
    rt(&RetrieveNotificationsListRequest {
        search_criteria: Some(RetrieveSearchCriteria::ProfileManagementOperation(
            NotificationEvent::Enable.into(),
        )),
    });
    rt(&RetrieveNotificationsListResponse::List(vec![p1, p2]));
    rt(&RetrieveNotificationsListResponse::Error(
        NotificationsListResultError::NO_RESULT_AVAILABLE,
    ));
    assert_eq!(
        rt(&NotificationSentRequest { seq_number: 5 }),
        h("BF3003 800105")
    );
    rt(&NotificationSentResponse {
        delete_notification_status: DeleteNotificationStatus::OK,
    });
    // Two bits set where exactly one is required.
    assert!(NotificationMetadata::decode(&h("BF2F0C 800101 81020690 0C03612E62")).is_err());
}

#[test]
fn cancel_session() {
    assert_eq!(
        rt(&CancelSessionRequest {
            transaction_id: tid(),
            reason: CancelSessionReason::POSTPONED
        }),
        h("BF4115 8010 0123456789abcdef0123456789abcdef 810101")
    );
    let ok = CancelSessionResponse::Ok(CancelSessionResponseOk {
        euicc_cancel_session_signed: Signed::new(EuiccCancelSessionSigned {
            transaction_id: tid(),
            smdp_oid: "1.3.6.1.4.1.31746".parse().unwrap(),
            reason: CancelSessionReason::END_USER_REJECTION,
        }),
        euicc_cancel_session_signature: vec![1; 64],
    });
    rt(&ok);
    assert_eq!(
        rt(&CancelSessionResponse::Error(
            CancelSessionError::INVALID_TRANSACTION_ID
        )),
        h("BF4103 810105")
    );
}

#[test]
fn rat_and_crl() {
    let rat = GetRatResponse {
        rat: vec![ProfilePolicyAuthorisationRule {
            ppr_ids: BitString::from_bits(&[1]),
            allowed_operators: vec![OperatorId {
                mcc_mnc: [0xE2, 0x7F, 0xFF],
                gid1: None,
                gid2: None,
            }],
            ppr_flags: BitString::from_bits(&[0]),
        }],
    };
    assert_eq!(
        rt(&rat),
        h("BF4315 A013 3011 80020640 A107 3005 8003E27FFF 82020780")
    );
    let crl = LoadCrlRequest {
        crl: h("3003020101"),
    };
    assert_eq!(rt(&crl), h("BF3505 A003020101"));
    rt(&LoadCrlResponse::Ok {
        missing_parts: Some(vec![2, 3]),
    });
    rt(&LoadCrlResponse::Ok {
        missing_parts: None,
    });
    rt(&LoadCrlResponse::Error(
        LoadCrlResponseError::INVALID_SIGNATURE,
    ));
}

#[test]
fn es10c_messages() {
    let iccid: Iccid = "89000123456789012341".parse().unwrap();
    assert_eq!(
        rt(&EnableProfileRequest {
            profile_identifier: ProfileIdentifier::Iccid(iccid),
            refresh_flag: true
        }),
        h("BF3111 A00C 5A0A98001032547698103214 8101FF")
    );
    rt(&DisableProfileRequest {
        profile_identifier: ProfileIdentifier::IsdpAid(h("A0000005591010FFFFFFFF8900001100")),
        refresh_flag: false,
    });
    assert_eq!(
        rt(&DeleteProfileRequest(ProfileIdentifier::Iccid(iccid))),
        h("BF330C 5A0A98001032547698103214")
    );
    assert_eq!(
        rt(&EnableProfileResponse {
            result: EnableResult::OK
        }),
        h("BF3103 800100")
    );
    assert_eq!(
        rt(&DisableProfileResponse {
            result: DisableResult::PROFILE_NOT_IN_ENABLED_STATE
        }),
        h("BF3203 800102")
    );
    rt(&DeleteProfileResponse {
        result: DeleteResult::DISALLOWED_BY_POLICY,
    });
    assert_eq!(
        rt(&EuiccMemoryResetRequest {
            reset_options: BitString::from_bits(&[reset_options::DELETE_OPERATIONAL_PROFILES])
        }),
        h("BF3404 82020780")
    );
    rt(&EuiccMemoryResetResponse {
        result: ResetResult::NOTHING_TO_DELETE,
    });
    rt(&SetNicknameRequest {
        iccid,
        profile_nickname: "work".into(),
    });
    rt(&SetNicknameResponse {
        result: SetNicknameResult::ICCID_NOT_FOUND,
    });
    rt(&GetEuiccDataResponse {
        eid: "89049032123451234512345678901235".parse::<Eid>().unwrap(),
    });

    assert_eq!(rt(&ProfileInfoListRequest::default()), h("BF2D00"));
    assert_eq!(
        rt(&ProfileInfoListRequest {
            search_criteria: Some(SearchCriteria::ProfileClass(ProfileClass::OPERATIONAL)),
            tag_list: Some(h("5A4F9F70")),
        }),
        h("BF2D0B A003 950102 5C045A4F9F70")
    );
    rt(&ProfileInfoListRequest {
        search_criteria: Some(SearchCriteria::Iccid(iccid)),
        tag_list: None,
    });
    let info = ProfileInfo {
        iccid: Some(iccid),
        isdp_aid: Some(h("A0000005591010FFFFFFFF8900001000")),
        profile_state: Some(ProfileState::ENABLED),
        profile_nickname: Some("nick".into()),
        service_provider_name: Some("sp".into()),
        profile_name: Some("name".into()),
        icon_type: Some(IconType::JPG),
        icon: Some(vec![1, 2]),
        profile_class: Some(ProfileClass::TEST),
        notification_configuration_info: Some(vec![]),
        profile_owner: Some(OperatorId {
            mcc_mnc: [0, 0xF1, 0x10],
            gid1: None,
            gid2: None,
        }),
        dp_proprietary_data: Some(DpProprietaryData {
            dp_oid: "2.999.1".parse().unwrap(),
            additional: vec![],
        }),
        profile_policy_rules: Some(BitString::from_bits(&[2])),
    };
    let der = rt(&ProfileInfoListResponse::Ok(vec![
        info.clone(),
        ProfileInfo::default(),
    ]));
    assert!(der.windows(4).any(|w| w == h("9F700101")));
    assert_eq!(
        rt(&ProfileInfoListResponse::Error(
            ProfileInfoListError::UNDEFINED_ERROR
        )),
        h("BF2D03 81017F")
    );
}

#[test]
fn es10a_messages() {
    let r = EuiccConfiguredAddressesResponse {
        default_dp_address: None,
        root_ds_address: "lpa.ds.gsma.com".into(),
    };
    assert_eq!(
        rt(&r),
        [h("BF3C11 810F"), b"lpa.ds.gsma.com".to_vec()].concat()
    );
    rt(&EuiccConfiguredAddressesResponse {
        default_dp_address: Some("smdp.example.com".into()),
        ..r
    });
    rt(&SetDefaultDpAddressRequest {
        default_dp_address: "smdp.example.com".into(),
    });
    assert_eq!(
        rt(&SetDefaultDpAddressResponse {
            result: SetDefaultDpAddressResult::OK
        }),
        h("BF3F03 800100")
    );
}

#[test]
fn error_names_type() {
    let e = EuiccInfo1::decode(&h("BF2003 820102")).unwrap_err();
    assert_eq!(
        e,
        Error::InvalidField {
            ty: "EUICCInfo1",
            field: "svn"
        }
    );
    let e = ServerSigned1::decode(&h("3000")).unwrap_err();
    assert!(e.to_string().contains("ServerSigned1"));
}
