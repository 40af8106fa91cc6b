//! ES10a/b/c functions on a pre-seeded card state, with hand-built requests (SGP.22 §5.7).

mod common;

use card::{CardState, NotificationKind, Profile, ProfileState};
use common::*;
use rsp::es10b::*;
use rsp::es8p::{NotificationConfigurationInformation, StoreMetadataRequest};
use rsp::notification::{NotificationEvent, NotificationEvents, PendingNotification};
use rsp::{Asn1, Iccid, ProfileClass};

const ICCID1: &str = "98001032547698103214"; // 89001023456789012341 swapped
const ICCID2: &str = "98001032547698103224";
const AID1: &str = "A0000005591010FFFFFFFF8900001000";
const AID2: &str = "A0000005591010FFFFFFFF8900001100";

fn metadata(iccid: &str, class: Option<i64>, nci: bool) -> Vec<u8> {
    StoreMetadataRequest {
        iccid: Iccid(hex(iccid).try_into().unwrap()),
        service_provider_name: "Simkit".into(),
        profile_name: format!("Profile {iccid}"),
        icon_type: None,
        icon: None,
        profile_class: class.map(ProfileClass),
        notification_configuration_info: nci.then(|| {
            vec![NotificationConfigurationInformation {
                profile_management_operation: NotificationEvents::new(&[
                    NotificationEvent::Enable,
                    NotificationEvent::Disable,
                    NotificationEvent::Delete,
                ]),
                notification_address: "notify.example.com".into(),
            }]
        }),
        profile_owner: None,
        profile_policy_rules: None,
    }
    .encode()
}

fn seeded() -> CardState {
    let mut st = CardState::new();
    for (iccid, aid, state, class, nci) in [
        (ICCID1, AID1, ProfileState::Enabled, None, true),
        (ICCID2, AID2, ProfileState::Disabled, Some(0), false),
    ] {
        st.profiles.push(Profile {
            iccid: hex(iccid).try_into().unwrap(),
            isdp_aid: hex(aid),
            state,
            metadata: metadata(iccid, class, nci),
            nickname: None,
            dp_proprietary_data: None,
            smdp_oid: None,
            package: Vec::new(),
            imsi: None,
        });
    }
    st
}

fn int_result(resp: &[u8], tag: u32) -> i64 {
    let t = tlv::Tlv::parse_expecting(resp, tlv::Tag(tag)).unwrap();
    tlv::der::decode_int(
        tlv::Tlv::parse_expecting(t.value, tlv::Tag(0x80))
            .unwrap()
            .value,
    )
    .unwrap()
}

#[test]
fn eid_challenge_and_info() {
    let mut card = new_card(CardState::new());
    let ch = open_isdr(&mut card);
    // SGP.22 §5.7.20: GetEuiccDataRequest 'BF3E' { '5C' 01 '5A' }.
    assert_eq!(
        es10(&mut card, ch, &hex("BF3E035C015A")),
        hex("BF3E125A1089049032123451234512345678901235")
    );
    let c1 = GetEuiccChallengeResponse::decode(&es10(&mut card, ch, &hex("BF2E00"))).unwrap();
    let c2 = GetEuiccChallengeResponse::decode(&es10(&mut card, ch, &hex("BF2E00"))).unwrap();
    assert_ne!(c1.euicc_challenge, c2.euicc_challenge);
    assert_eq!(
        card.state().session.as_ref().unwrap().euicc_challenge,
        c2.euicc_challenge
    );

    let info1 = EuiccInfo1::decode(&es10(&mut card, ch, &hex("BF2000"))).unwrap();
    assert_eq!(info1.svn.0, [2, 2, 2]);
    let ci_nist =
        pki::Certificate::from_der(&read("sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der"))
            .unwrap();
    let ci_brp =
        pki::Certificate::from_der(&read("sgp26/CertificateIssuer/CERT_CI_ECDSA_BRP.der")).unwrap();
    assert_eq!(
        info1.ci_pkid_list_for_verification,
        [
            ci_nist.subject_key_id().unwrap().to_vec(),
            ci_brp.subject_key_id().unwrap().to_vec()
        ]
    );
    assert_eq!(
        info1.ci_pkid_list_for_signing,
        [ci_nist.subject_key_id().unwrap().to_vec()]
    );
    let info2 = EuiccInfo2::decode(&es10(&mut card, ch, &hex("BF2200"))).unwrap();
    assert!(info2
        .rsp_capability
        .is_set(rsp_capability::ADDITIONAL_PROFILE));
    assert!(info2.uicc_capability.is_set(uicc_capability::USIM_SUPPORT));
    // GetRAT: an empty table.
    assert_eq!(es10(&mut card, ch, &hex("BF4300")), hex("BF4302A000"));
    // Malformed GetEuiccData (tagList other than '5A').
    assert_eq!(
        apdu::es10_exchange(&mut Link(&mut card), ch, &hex("BF3E035C015B")),
        Err(apdu::ApduError::Status(apdu::StatusWord::INCORRECT_DATA))
    );
}

#[test]
fn profiles_info() {
    let mut card = new_card(seeded());
    let ch = open_isdr(&mut card);
    let all = es10(&mut card, ch, &hex("BF2D00"));
    let list = tlv::Tlv::parse_expecting(&all, tlv::Tag(0xBF2D)).unwrap();
    let a0 = tlv::Tlv::parse_expecting(list.value, tlv::Tag(0xA0)).unwrap();
    let infos: Vec<_> = tlv::iter(a0.value).map(Result::unwrap).collect();
    assert_eq!(infos.len(), 2);
    let first = infos[0].value;
    assert_eq!(
        tlv::find(first, tlv::Tag(0x5A)).unwrap().unwrap().value,
        hex(ICCID1)
    );
    assert_eq!(
        tlv::find(first, tlv::Tag(0x4F)).unwrap().unwrap().value,
        hex(AID1)
    );
    assert_eq!(
        tlv::find(first, tlv::Tag(0x9F70)).unwrap().unwrap().value,
        [1]
    );
    assert_eq!(
        tlv::find(first, tlv::Tag(0x91)).unwrap().unwrap().value,
        b"Simkit"
    );
    assert!(tlv::find(first, tlv::Tag(0xB6)).unwrap().is_some());
    // profileClass is coded for every profile: operational '95' 01 02 (metadata without
    // one), test '95' 01 00.
    assert_eq!(
        tlv::find(first, tlv::Tag(0x95)).unwrap().unwrap().value,
        [2]
    );
    assert_eq!(
        tlv::find(infos[1].value, tlv::Tag(0x95))
            .unwrap()
            .unwrap()
            .value,
        [0]
    );

    // By ICCID with a tagList (as lpac asks): only those fields, in rsp.asn order.
    let req = hex(&format!("BF2D13A00C5A0A{ICCID2}5C035A9F70"));
    assert_eq!(
        es10(&mut card, ch, &req),
        hex(&format!("BF2D14A012E3105A0A{ICCID2}9F700100"))
    );
    // By profile class test.
    let by_class = es10(&mut card, ch, &hex("BF2D08A003950100 5C015A"));
    assert_eq!(by_class, hex(&format!("BF2D10A00EE30C5A0A{ICCID2}")));
    // An unknown ICCID: empty list.
    assert_eq!(
        es10(&mut card, ch, &hex("BF2D0EA00C5A0A00000000000000000000")),
        hex("BF2D02A000")
    );
}

#[test]
fn enable_disable_delete_and_notifications() {
    let mut card = new_card(seeded());
    let ch = open_isdr(&mut card);
    let enable = |iccid: &str| hex(&format!("BF3111A00C5A0A{iccid}810100"));
    let disable = |iccid: &str| hex(&format!("BF3211A00C5A0A{iccid}810100"));
    // Enable profile 2: profile 1 gets disabled (and notifies), profile 2 has no NCI.
    assert_eq!(int_result(&es10(&mut card, ch, &enable(ICCID2)), 0xBF31), 0);
    assert_eq!(card.state().enabled_profile().unwrap().isdp_aid, hex(AID2));
    assert_eq!(int_result(&es10(&mut card, ch, &enable(ICCID2)), 0xBF31), 2);
    assert_eq!(
        int_result(
            &es10(&mut card, ch, &enable("00000000000000000000")),
            0xBF31
        ),
        1
    );
    assert_eq!(
        int_result(&es10(&mut card, ch, &disable(ICCID1)), 0xBF32),
        2
    );
    // Delete an enabled profile: refused; disable it first (by AID).
    assert_eq!(
        int_result(
            &es10(&mut card, ch, &hex(&format!("BF330C5A0A{ICCID2}"))),
            0xBF33
        ),
        2
    );
    assert_eq!(
        int_result(
            &es10(&mut card, ch, &hex(&format!("BF3217A0124F10{AID2}810100"))),
            0xBF32
        ),
        0
    );
    assert_eq!(
        int_result(
            &es10(&mut card, ch, &hex(&format!("BF33124F10{AID1}"))),
            0xBF33
        ),
        0
    );
    assert_eq!(
        int_result(
            &es10(&mut card, ch, &hex(&format!("BF33124F10{AID1}"))),
            0xBF33
        ),
        1
    );
    assert_eq!(card.state().profiles.len(), 1);

    // Notifications: disable then delete of profile 1, seq 1 and 2, to its NCI address.
    let list = ListNotificationResponse::decode(&es10(&mut card, ch, &hex("BF2800"))).unwrap();
    let ListNotificationResponse::List(l) = list else {
        panic!()
    };
    let got: Vec<_> = l
        .iter()
        .map(|m| {
            (
                m.seq_number,
                m.profile_management_operation,
                m.notification_address.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, NotificationEvent::Disable, "notify.example.com"),
            (2, NotificationEvent::Delete, "notify.example.com")
        ]
    );
    assert_eq!(l[0].iccid, Some(Iccid(hex(ICCID1).try_into().unwrap())));
    // Filtered by operation (delete = bit 3: '81' 02 04 10).
    let ListNotificationResponse::List(l) =
        ListNotificationResponse::decode(&es10(&mut card, ch, &hex("BF2804810204 10"))).unwrap()
    else {
        panic!()
    };
    assert_eq!(l.len(), 1);
    // Retrieve by seqNumber: the signed OtherSignedNotification.
    let r =
        RetrieveNotificationsListResponse::decode(&es10(&mut card, ch, &hex("BF2B05A003800101")))
            .unwrap();
    let RetrieveNotificationsListResponse::List(n) = r else {
        panic!()
    };
    let PendingNotification::OtherSignedNotification(o) = &n[0] else {
        panic!()
    };
    let euicc = pki::Certificate::from_der(&o.euicc_certificate).unwrap();
    euicc
        .public_key()
        .verify(
            o.tbs_other_notification.raw(),
            &o.euicc_notification_signature,
        )
        .unwrap();
    assert_eq!(o.tbs_other_notification.seq_number, 1);
    // No match: noResultAvailable.
    assert_eq!(
        es10(&mut card, ch, &hex("BF2B05A003800109")),
        hex("BF2B03810101")
    );
    // All of them.
    let RetrieveNotificationsListResponse::List(n) =
        RetrieveNotificationsListResponse::decode(&es10(&mut card, ch, &hex("BF2B00"))).unwrap()
    else {
        panic!()
    };
    assert_eq!(n.len(), 2);
    // Remove seq 1: ok, then nothing to delete.
    let rm = |card: &mut card::Card| {
        NotificationSentResponse::decode(&es10(card, ch, &hex("BF3003800101"))).unwrap()
    };
    assert_eq!(
        rm(&mut card).delete_notification_status,
        DeleteNotificationStatus::OK
    );
    assert_eq!(
        rm(&mut card).delete_notification_status,
        DeleteNotificationStatus::NOTHING_TO_DELETE
    );
    assert_eq!(card.state().notifications.len(), 1);
    assert_eq!(card.state().notifications[0].kind, NotificationKind::Delete);
}

#[test]
fn nickname_addresses_and_memory_reset() {
    let mut card = new_card(seeded());
    let ch = open_isdr(&mut card);
    // SetNickname 'BF29' { '5A' iccid, '90' "Work" }.
    let req = hex(&format!("BF29125A0A{ICCID1}9004{}", hex::encode("Work")));
    assert_eq!(int_result(&es10(&mut card, ch, &req), 0xBF29), 0);
    assert_eq!(card.state().profiles[0].nickname.as_deref(), Some("Work"));
    let req = hex(&format!("BF290E5A0A{}9000", "00".repeat(10)));
    assert_eq!(int_result(&es10(&mut card, ch, &req), 0xBF29), 1);

    // Addresses: root SM-DS only, then with a default SM-DP+.
    assert_eq!(
        es10(&mut card, ch, &hex("BF3C00")),
        hex(&format!("BF3C11810F{}", hex::encode("lpa.ds.gsma.com")))
    );
    let set = hex(&format!("BF3F0F800D{}", hex::encode("smdp.test.net")));
    assert_eq!(int_result(&es10(&mut card, ch, &set), 0xBF3F), 0);
    assert_eq!(
        es10(&mut card, ch, &hex("BF3C00")),
        hex(&format!(
            "BF3C20800D{}810F{}",
            hex::encode("smdp.test.net"),
            hex::encode("lpa.ds.gsma.com")
        ))
    );

    // eUICCMemoryReset deleteOperationalProfiles + resetDefaultSmdpAddress ('82' 02 05 A0).
    assert_eq!(
        int_result(&es10(&mut card, ch, &hex("BF3404820205A0")), 0xBF34),
        0
    );
    assert_eq!(card.state().profiles.len(), 1);
    assert_eq!(card.state().profiles[0].isdp_aid, hex(AID2));
    assert!(card.state().default_dp_address.is_none());
    // Again: nothing left of those.
    assert_eq!(
        int_result(&es10(&mut card, ch, &hex("BF3404820205A0")), 0xBF34),
        1
    );
    // deleteFieldLoadedTestProfiles.
    assert_eq!(
        int_result(&es10(&mut card, ch, &hex("BF340482020640")), 0xBF34),
        0
    );
    assert!(card.state().profiles.is_empty());
}

#[test]
fn state_serialization() {
    let st = seeded();
    let bytes = st.to_bytes();
    assert_eq!(CardState::from_bytes(&bytes).unwrap(), st);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains("\"version\": 1"));
    let bumped = text.replacen("\"version\": 1", "\"version\": 99", 1);
    assert!(CardState::from_bytes(bumped.as_bytes()).is_err());
    assert!(CardState::from_bytes(b"not json").is_err());
    // The state survives a card restart.
    let mut card = new_card(st.clone());
    let ch = open_isdr(&mut card);
    assert_eq!(
        int_result(
            &es10(
                &mut card,
                ch,
                &hex(&format!("BF3111A00C5A0A{ICCID2}810100"))
            ),
            0xBF31
        ),
        0
    );
    let reloaded = CardState::from_bytes(&card.state().to_bytes()).unwrap();
    assert_eq!(reloaded, *card.state());
    // Debug output never shows profile packages or keys.
    let dbg = format!("{:?}", card.state());
    assert!(dbg.contains("package_len"));
}

/// A profile with PPR1 + PPR2 ('99' 02 05 60), a nickname and dpProprietaryData (dpOid 2.999.10,
/// the SGP.26 example SM-DP+ OID: 'B8' 05 { '80' 03 88 37 0A }).
fn seeded_with_policy() -> CardState {
    let mut st = seeded();
    let mut md = StoreMetadataRequest::decode(&st.profiles[0].metadata).unwrap();
    md.profile_policy_rules = Some(rsp::BitString::from_bits(&[rsp::ppr::PPR1, rsp::ppr::PPR2]));
    st.profiles[0].metadata = md.encode();
    st.profiles[0].nickname = Some("Home".into());
    st.profiles[0].dp_proprietary_data = Some(hex("B805800388370A"));
    st
}

/// lpac's `profile list` sends a bare ProfileInfoListRequest, `BF2D 00` (no searchCriteria, no
/// tagList: lpac euicc/es10c.c, es10c_get_profiles_info), and prints `profileClass` from tag
/// '95' only, `null` without it. Without a tagList the eUICC returns the default set of
/// SGP.22 §5.7.15, profileClass among it, so an operational profile (whose metadata leaves
/// profileClass out, rsp.asn: "default if absent: 'operational'") answers '95' 01 02, as
/// deployed eUICCs do (pySim tests/pySim-shell_test/euicc/get_profiles_info.ok).
#[test]
fn profiles_info_default_set_codes_operational_class() {
    let mut card = new_card(seeded());
    let ch = open_isdr(&mut card);
    let first_aid = format!("4F10{AID1}");
    let resp = es10(&mut card, ch, &hex("BF2D00"));
    // The whole first ProfileInfo, in rsp.asn order: '5A' '4F' '9F70' '91' '92' '95' 'B6'.
    let spn = hex::encode_upper("Simkit");
    let name = hex::encode_upper(format!("Profile {ICCID1}"));
    let nci = "B61A3018800204708112".to_string() + &hex::encode_upper("notify.example.com");
    let e3 = format!("5A0A{ICCID1}{first_aid}9F7001019106{spn}921C{name}950102{nci}");
    let e3 = format!("E3{:02X}{e3}", e3.len() / 2);
    assert!(
        hex::encode_upper(&resp).contains(&e3),
        "{}\nwanted {e3}",
        hex::encode_upper(&resp)
    );
    // Decoded as lpac does: the class is there for both profiles.
    let rsp::es10c::ProfileInfoListResponse::Ok(list) =
        rsp::es10c::ProfileInfoListResponse::decode(&resp).unwrap()
    else {
        panic!("error response")
    };
    let classes: Vec<_> = list.iter().map(|p| p.profile_class).collect();
    assert_eq!(
        classes,
        [Some(ProfileClass::OPERATIONAL), Some(ProfileClass::TEST)]
    );
    // Asked for by tagList ('5C' 01 95), operational is coded too.
    assert_eq!(
        es10(&mut card, ch, &hex(&format!("BF2D17A0124F10{AID1}5C0195"))),
        hex("BF2D07A005E303950102")
    );
    // Not asked for: left out.
    assert_eq!(
        es10(&mut card, ch, &hex(&format!("BF2D17A0124F10{AID1}5C0190"))),
        hex("BF2D04A002E300")
    );
    // Searching by class operational finds the profile whose metadata has no class.
    assert_eq!(
        es10(&mut card, ch, &hex("BF2D08A003950102 5C015A")),
        hex(&format!("BF2D10A00EE30C5A0A{ICCID1}"))
    );
}

#[test]
fn profile_info_fields_and_policy_rules() {
    use rsp::es10c::{ProfileInfoListError, ProfileInfoListResponse};
    let mut card = new_card(seeded_with_policy());
    let ch = open_isdr(&mut card);
    let ProfileInfoListResponse::Ok(list) =
        ProfileInfoListResponse::decode(&es10(&mut card, ch, &hex("BF2D00"))).unwrap()
    else {
        panic!("error response")
    };
    assert_eq!(list.len(), 2);
    let p = &list[0];
    assert_eq!(p.iccid, Some(Iccid(hex(ICCID1).try_into().unwrap())));
    assert_eq!(p.isdp_aid.as_deref(), Some(&hex(AID1)[..]));
    assert_eq!(p.profile_state, Some(rsp::ProfileState::ENABLED));
    assert_eq!(p.profile_nickname.as_deref(), Some("Home"));
    assert_eq!(p.service_provider_name.as_deref(), Some("Simkit"));
    assert_eq!(
        p.profile_name.as_deref(),
        Some(&*format!("Profile {ICCID1}"))
    );
    assert_eq!(p.profile_class, Some(ProfileClass::OPERATIONAL));
    assert_eq!(
        p.dp_proprietary_data.as_ref().unwrap().dp_oid.to_string(),
        "2.999.10"
    );
    let pprs = p.profile_policy_rules.as_ref().unwrap();
    assert!(pprs.is_set(rsp::ppr::PPR1) && pprs.is_set(rsp::ppr::PPR2));
    assert_eq!(list[1].profile_class, Some(ProfileClass::TEST));
    assert_eq!(list[1].profile_nickname, None);
    // Only the requested tags: nickname and dpProprietaryData ('5C' 02 90 B8).
    let by_aid = es10(
        &mut card,
        ch,
        &hex(&format!("BF2D18A0124F10{AID1}5C0290B8")),
    );
    assert_eq!(
        by_aid,
        hex(&format!(
            "BF2D11A00FE30D9004{}B805800388370A",
            hex::encode("Home")
        ))
    );

    // PPR1: the enabled profile can be neither disabled nor replaced; PPR2: no deletion.
    let disable1 = hex(&format!("BF3211A00C5A0A{ICCID1}810100"));
    assert_eq!(int_result(&es10(&mut card, ch, &disable1), 0xBF32), 3);
    let enable2 = hex(&format!("BF3111A00C5A0A{ICCID2}810100"));
    assert_eq!(int_result(&es10(&mut card, ch, &enable2), 0xBF31), 3);
    assert_eq!(card.state().enabled_profile().unwrap().isdp_aid, hex(AID1));
    let mut st = card.state().clone();
    st.profiles[0].state = ProfileState::Disabled;
    card.load_state(st);
    let ch = open_isdr(&mut card);
    let delete1 = hex(&format!("BF330C5A0A{ICCID1}"));
    assert_eq!(int_result(&es10(&mut card, ch, &delete1), 0xBF33), 3);
    assert_eq!(card.state().profiles.len(), 2);
    assert!(card.state().notifications.is_empty());

    // searchCriteria outside the CHOICE, or an ICCID of the wrong size: incorrectInputValues
    // ('BF2D' { '81' 01 }).
    for bad in ["BF2D05A003800100", "BF2D0DA00B5A09000000000000000000"] {
        let resp = es10(&mut card, ch, &hex(bad));
        assert_eq!(resp, hex("BF2D03810101"), "{bad}");
        assert_eq!(
            ProfileInfoListResponse::decode(&resp).unwrap(),
            ProfileInfoListResponse::Error(ProfileInfoListError::INCORRECT_INPUT_VALUES)
        );
    }
}

#[test]
fn malformed_es10c_requests_answer_6a80() {
    let mut card = new_card(seeded());
    let ch = open_isdr(&mut card);
    for bad in [
        // EnableProfile without refreshFlag.
        format!("BF310EA00C5A0A{ICCID1}"),
        // DisableProfile with a 9-byte ICCID.
        format!("BF3210A00B5A09{}810100", &ICCID1[..18]),
        // DeleteProfile with an empty CHOICE.
        "BF3300".to_string(),
        // SetNickname without a nickname.
        format!("BF290C5A0A{ICCID1}"),
        // eUICCMemoryReset without resetOptions.
        "BF3400".to_string(),
        // SetDefaultDpAddress with invalid UTF-8.
        "BF3F038001FF".to_string(),
        // ProfileInfoList with a truncated tagList.
        "BF2D035C019F".to_string(),
    ] {
        assert_eq!(
            apdu::es10_exchange(&mut card, ch, &hex(&bad)),
            Err(apdu::ApduError::Status(apdu::StatusWord::INCORRECT_DATA)),
            "{bad}"
        );
    }
    assert_eq!(card.state(), &seeded());
}

#[test]
fn nickname_too_long_and_default_dp_address_removal() {
    let mut card = new_card(seeded());
    let ch = open_isdr(&mut card);
    let long = "x".repeat(65);
    let req = hex(&format!("BF294F5A0A{ICCID1}9041{}", hex::encode(&long)));
    assert_eq!(int_result(&es10(&mut card, ch, &req), 0xBF29), 127);
    assert_eq!(card.state().profiles[0].nickname, None);
    let set = hex(&format!("BF3F0F800D{}", hex::encode("smdp.test.net")));
    assert_eq!(int_result(&es10(&mut card, ch, &set), 0xBF3F), 0);
    assert_eq!(
        card.state().default_dp_address.as_deref(),
        Some("smdp.test.net")
    );
    // An empty defaultDpAddress removes it (SGP.22 §5.7.4).
    assert_eq!(
        int_result(&es10(&mut card, ch, &hex("BF3F028000")), 0xBF3F),
        0
    );
    assert_eq!(card.state().default_dp_address, None);
    let addrs =
        rsp::es10a::EuiccConfiguredAddressesResponse::decode(&es10(&mut card, ch, &hex("BF3C00")))
            .unwrap();
    assert_eq!(addrs.default_dp_address, None);
    assert_eq!(addrs.root_ds_address, card::state::DEFAULT_ROOT_DS_ADDRESS);
}

#[test]
fn state_revision_counts_committed_changes_only() {
    // The card is its own in-process transport.
    let mut card = new_card(seeded());
    let r0 = card.state_revision();
    let ch = apdu::open_channel(&mut card).unwrap();
    apdu::select_aid(&mut card, ch, &apdu::ISD_R_AID).unwrap();
    // Read-only functions leave it alone.
    for req in ["BF2D00", "BF3C00", "BF2800", "BF3E035C015A", "BF2000"] {
        apdu::es10_exchange(&mut card, ch, &hex(req)).unwrap();
    }
    assert_eq!(card.state_revision(), r0);
    // A rejected request (6A80) commits nothing.
    let _ = apdu::es10_exchange(&mut card, ch, &hex("BF3400"));
    assert_eq!(card.state_revision(), r0);
    // A function result that changes nothing (profile not found) commits nothing either.
    let enable = |iccid: &str| hex(&format!("BF3111A00C5A0A{iccid}810100"));
    apdu::es10_exchange(&mut card, ch, &enable("00000000000000000000")).unwrap();
    assert_eq!(card.state_revision(), r0);
    // A change does.
    apdu::es10_exchange(&mut card, ch, &enable(ICCID2)).unwrap();
    let r1 = card.state_revision();
    assert_ne!(r1, r0);
    // A new RSP session (euiccChallenge) is persistent state too.
    apdu::es10_exchange(&mut card, ch, &hex("BF2E00")).unwrap();
    assert_ne!(card.state_revision(), r1);
    let r2 = card.state_revision();
    card.load_state(seeded());
    assert_ne!(card.state_revision(), r2);
}
