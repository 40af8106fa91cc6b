//! GlobalPlatform card content management on the card, driven by the `gp` crate's host side
//! over `Card::process_on`: SCP03 and SCP02 sessions, LOAD/INSTALL/personalization/SELECT/
//! lock/unlock/DELETE, PPSE, GET STATUS paging, SSDs, extradition and key rotation.

mod gp_common;

use apdu::{Command, StatusWord};
use card::{CardState, Protocol};
use gp::commands::{self, GetStatus, Install, StatusSubset};
use gp::{Dek, PutKeyData, SecurityLevel};
use gp_common::*;

const APP_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x10];
const SSD_AID: [u8; 9] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x53, 0x50, 0x41, 0x01];

fn get_status(subset: StatusSubset) -> Command {
    GetStatus::all(subset).command()
}

fn registry(host: &mut Host, subset: StatusSubset) -> Vec<commands::RegistryEntry> {
    let r = host.send(&get_status(subset));
    if r.sw == StatusWord::REFERENCED_DATA_NOT_FOUND {
        return Vec::new();
    }
    assert_eq!(r.sw, StatusWord::OK);
    commands::parse_status_tlv(&r.data).unwrap()
}

/// Loads the generic and the PPSE packages and installs a personalized payment app and the
/// PPSE, through an open session on the ISD.
fn load_and_install(host: &mut Host) {
    let generic = cap_file(&GENERIC_PACKAGE_AID, &[&GENERIC_MODULE_AID], 300);
    assert_eq!(
        host.load(&GENERIC_PACKAGE_AID, &[], &generic, &sha256(&generic), 100),
        StatusWord::OK
    );
    // The PPSE with a SHA-1 Load File Data Block hash (GP CS §C.2 allows SHA-1 and SHA-2).
    let ppse = cap_file(&PPSE_PACKAGE_AID, &[&PPSE_MODULE_AID], 40);
    let sha1 = {
        use sha1::Digest;
        sha1::Sha1::digest(&ppse).to_vec()
    };
    assert_eq!(
        host.load(&PPSE_PACKAGE_AID, &[], &ppse, &sha1, 255),
        StatusWord::OK
    );
    // INSTALL [for install], then [for make selectable].
    assert_eq!(
        host.install(
            &GENERIC_PACKAGE_AID,
            &GENERIC_MODULE_AID,
            &APP_AID,
            &[0x00],
            &params(&[0x01]),
            false
        ),
        StatusWord::OK
    );
    let entries = registry(host, StatusSubset::Applications);
    assert_eq!(entries[0].life_cycle, 0x03);
    let ms = Install::ForMakeSelectable {
        application_aid: APP_AID.to_vec(),
        privileges: vec![0x00, 0x00, 0x20], // Contactless Activation
        parameters: Vec::new(),
        token: Vec::new(),
    };
    assert_eq!(host.sw(&ms.command().unwrap()), StatusWord::OK);
    // Personalization through the ISD: BER-TLV in two chained blocks.
    let perso = Install::ForPersonalization {
        application_aid: APP_AID.to_vec(),
    };
    assert_eq!(host.sw(&perso.command().unwrap()), StatusWord::OK);
    let tlvs = hex("50 07 54455354504159 87 01 01 9F12 04 54455354");
    assert_eq!(
        host.store_data(0x10, &[&tlvs[..5], &tlvs[5..]]),
        StatusWord::OK
    );
    // And a DGI (EMV CPS) in the DGI format.
    let perso = Install::ForPersonalization {
        application_aid: APP_AID.to_vec(),
    };
    assert_eq!(host.sw(&perso.command().unwrap()), StatusWord::OK);
    assert_eq!(
        host.store_data(0x08, &[&hex("8201 03 AABBCC")]),
        StatusWord::OK
    );
    // The PPSE, selectable at once.
    assert_eq!(
        host.install(
            &PPSE_PACKAGE_AID,
            &PPSE_MODULE_AID,
            PPSE_AID,
            &[],
            &params(&[]),
            true
        ),
        StatusWord::OK
    );
}

fn full_cycle(scp02: bool) {
    let mut card = new_card(CardState::new());
    let rev0 = card.state_revision();
    let mut host = Host::new(&mut card, Protocol::SwpTypeA);
    // The common ISD AID reaches the GP ISD on SWP (paired with GlobalPlatform).
    let r = host.select(&GP_ISD_AID);
    assert_eq!(r.sw, StatusWord::OK);
    assert_eq!(r.data, card::gp::isd_fci());
    host.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    if scp02 {
        // Add an SCP02 (DES) key set with PUT KEY, then use it.
        let dek = host.session.as_ref().unwrap().dek().clone();
        let mut rng = card::testing::SeededRng::new(b"put key");
        let data = PutKeyData::for_key_set(&scp02_keys(), &dek, &mut rng).unwrap();
        let r = host.send(&commands::put_key_command(0x00, 0x01, &data).unwrap());
        assert_eq!(r.sw, StatusWord::OK);
        assert_eq!(r.data, data.response_data());
        host.select(&GP_ISD_AID);
        host.open_with(scp02_keys(), Some(0x20), SecurityLevel::C_MAC)
            .unwrap();
        assert_eq!(host.session.as_ref().unwrap().scp().id(), 0x02);
    }
    load_and_install(&mut host);
    // GET STATUS: load files with modules, applications.
    let files = registry(&mut host, StatusSubset::LoadFilesAndModules);
    let generic = files.iter().find(|f| f.aid == GENERIC_PACKAGE_AID).unwrap();
    assert_eq!(generic.modules, vec![GENERIC_MODULE_AID.to_vec()]);
    assert_eq!(generic.life_cycle, 0x01);
    assert_eq!(generic.load_file_version.as_deref(), Some(&[1u8, 0][..]));
    assert!(files.iter().any(|f| f.aid == SD_PACKAGE_AID));
    let apps = registry(&mut host, StatusSubset::Applications);
    let app = apps.iter().find(|a| a.aid == APP_AID).unwrap();
    assert_eq!(app.life_cycle, 0x0F, "personalized (application specific)");
    assert_eq!(app.privileges, [0x00, 0x00, 0x20]);
    assert_eq!(app.associated_sd.as_deref(), Some(&GP_ISD_AID[..]));
    let isd = registry(&mut host, StatusSubset::Isd);
    assert_eq!(isd[0].life_cycle, 0x0F);
    assert_eq!(isd[0].privileges, [0x9E, 0xFE, 0x80]);
    drop(host);
    assert!(card.state_revision() > rev0);

    // The app by its own AID on the contact interface: FCI with the personalization, GET DATA.
    let mut t0 = Host::new(&mut card, Protocol::T0);
    let r = t0.select(&APP_AID);
    assert_eq!(r.sw, StatusWord::OK);
    assert_eq!(
        r.data,
        hex("6F 1E 84 07 A0000000041010 A5 13 50 07 54455354504159 87 01 01 9F12 04 54455354")
    );
    let r = t0.raw(&Command::new(0x80, 0xCA, 0x9F, 0x12).le(256));
    assert_eq!((r.data, r.sw), (hex("9F12 04 54455354"), StatusWord::OK));
    let r = t0.raw(&Command::new(0x80, 0xCA, 0x82, 0x01).le(256));
    assert_eq!((r.data, r.sw), (hex("8201 03 AABBCC"), StatusWord::OK));
    assert_eq!(
        t0.raw(&Command::new(0x80, 0xCA, 0x00, 0x5A).le(256)).sw,
        StatusWord::REFERENCED_DATA_NOT_FOUND
    );
    // Personalization only through the SD's secure channel.
    assert_eq!(
        t0.raw(&Command::with_data(0x80, 0xE2, 0x90, 0, hex("5001AA")))
            .sw,
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    drop(t0);

    // The PPSE over SWP lists the activated payment application (EMV Contactless Book B).
    let mut swp = Host::new(&mut card, Protocol::SwpTypeA);
    let r = swp.select(PPSE_AID);
    assert_eq!(r.sw, StatusWord::OK);
    let mut expect = hex("6F 2C 84 0E");
    expect.extend_from_slice(PPSE_AID);
    expect.extend(hex(
        "A5 1A BF0C 17 61 15 4F 07 A0000000041010 50 07 54455354504159 87 01 01",
    ));
    assert_eq!(r.data, expect);

    // Lock: not selectable (6A82), gone from the PPSE; unlock: back.
    swp.select(&GP_ISD_AID);
    if scp02 {
        swp.open_with(scp02_keys(), Some(0x20), SecurityLevel::C_MAC)
            .unwrap();
    } else {
        swp.open(test_keys(), SecurityLevel::C_DEC_R_ENC_C_MAC_R_MAC)
            .unwrap();
    }
    assert_eq!(swp.sw(&set_status(0x40, 0x80, &APP_AID)), StatusWord::OK);
    let apps = registry(&mut swp, StatusSubset::Applications);
    assert_eq!(
        apps.iter().find(|a| a.aid == APP_AID).unwrap().life_cycle,
        0x8F
    );
    drop(swp);
    let mut t1 = Host::new(&mut card, Protocol::T1);
    assert_eq!(t1.select(&APP_AID).sw, StatusWord::FILE_NOT_FOUND);
    let r = t1.select(PPSE_AID);
    assert_eq!(r.sw, StatusWord::OK);
    assert!(!r.data.windows(4).any(|w| w == [0x4F, 0x07, 0xA0, 0x00]));
    drop(t1);
    let mut swp = Host::new(&mut card, Protocol::SwpTypeA);
    swp.select(&GP_ISD_AID);
    if scp02 {
        swp.open_with(scp02_keys(), Some(0x20), SecurityLevel::C_MAC)
            .unwrap();
    } else {
        swp.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    }
    assert_eq!(swp.sw(&set_status(0x40, 0x00, &APP_AID)), StatusWord::OK);
    let apps = registry(&mut swp, StatusSubset::Applications);
    assert_eq!(
        apps.iter().find(|a| a.aid == APP_AID).unwrap().life_cycle,
        0x0F
    );

    // DELETE: the load file has an instance (6985) until P2 '80' or the instance goes.
    let before = swp.card.state().gp.clone();
    assert_eq!(
        swp.sw(&delete(&GENERIC_PACKAGE_AID, false)),
        StatusWord::CONDITIONS_NOT_SATISFIED
    );
    assert_eq!(swp.card.state().gp, before);
    let r = swp.send(&delete(&APP_AID, false));
    assert_eq!((r.data, r.sw), (vec![0x00], StatusWord::OK));
    assert_eq!(swp.sw(&delete(&GENERIC_PACKAGE_AID, false)), StatusWord::OK);
    assert_eq!(
        swp.sw(&delete(&GENERIC_PACKAGE_AID, false)),
        StatusWord::REFERENCED_DATA_NOT_FOUND
    );
    // Load file and instance together.
    assert_eq!(swp.sw(&delete(&PPSE_PACKAGE_AID, true)), StatusWord::OK);
    assert!(registry(&mut swp, StatusSubset::Applications).is_empty());
    assert_eq!(
        swp.card.state().gp.load_files.len(),
        1,
        "only the built-in SD package"
    );
    drop(swp);
    let mut t0 = Host::new(&mut card, Protocol::T0);
    assert_eq!(t0.select(PPSE_AID).sw, StatusWord::FILE_NOT_FOUND);
}

#[test]
fn content_management_under_scp03() {
    full_cycle(false);
}

#[test]
fn content_management_under_scp02() {
    full_cycle(true);
}

#[test]
fn get_status_pages_with_6310_and_legacy_format() {
    let mut card = new_card(CardState::new());
    let mut host = Host::new(&mut card, Protocol::Spi);
    host.select(&GP_ISD_AID);
    host.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    let generic = cap_file(&GENERIC_PACKAGE_AID, &[&GENERIC_MODULE_AID], 10);
    assert_eq!(
        host.load(&GENERIC_PACKAGE_AID, &[], &generic, &[], 200),
        StatusWord::OK
    );
    let mut aids = Vec::new();
    for i in 0..12u8 {
        let aid = [
            0xA0, 0, 0, 0, 0x99, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, i,
        ];
        assert_eq!(
            host.install(
                &GENERIC_PACKAGE_AID,
                &GENERIC_MODULE_AID,
                &aid,
                &[0],
                &params(&[]),
                true
            ),
            StatusWord::OK
        );
        aids.push(aid.to_vec());
    }
    // First part with 6310, the rest with P2 b1 = 1 (next occurrence).
    let r = host.send(&get_status(StatusSubset::Applications));
    assert_eq!(r.sw, StatusWord::new(0x63, 0x10));
    let mut all = commands::parse_status_tlv(&r.data).unwrap();
    let mut next = GetStatus::all(StatusSubset::Applications);
    next.next = true;
    loop {
        let r = host.send(&next.command());
        all.extend(commands::parse_status_tlv(&r.data).unwrap());
        if r.sw == StatusWord::OK {
            break;
        }
        assert_eq!(r.sw, StatusWord::new(0x63, 0x10));
    }
    assert_eq!(all.iter().map(|e| e.aid.clone()).collect::<Vec<_>>(), aids);
    // Nothing more to continue.
    assert_eq!(
        host.sw(&next.command()),
        StatusWord::REFERENCED_DATA_NOT_FOUND
    );
    // Legacy format (P2 '00') of load files and modules.
    let mut legacy = GetStatus::all(StatusSubset::LoadFilesAndModules);
    legacy.tlv_format = false;
    let r = host.send(&legacy.command());
    assert_eq!(r.sw, StatusWord::OK);
    let files = commands::parse_status_legacy(StatusSubset::LoadFilesAndModules, &r.data).unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[1].modules, vec![GENERIC_MODULE_AID.to_vec()]);
    // AID qualifier and tag list ('5C' 4F 9F70).
    let mut q = GetStatus::all(StatusSubset::Applications);
    q.aid = aids[3].clone();
    q.tag_list = Some(hex("4F 9F70"));
    let r = host.send(&q.command());
    assert_eq!(r.sw, StatusWord::OK);
    let mut expect = hex("E3 16 4F 10");
    expect.extend_from_slice(&aids[3]);
    expect.extend(hex("9F70 01 07"));
    assert_eq!(r.data, expect);
    q.aid = hex("A000000098");
    assert_eq!(host.sw(&q.command()), StatusWord::REFERENCED_DATA_NOT_FOUND);
    // GET DATA: key information, CPLC, extended card resources.
    let r = host.send(&commands::get_data_command(0x00E0));
    let info = commands::parse_key_information(&r.data).unwrap();
    assert_eq!(info.len(), 3);
    assert_eq!((info[0].kvn, info[0].components[0]), (0x30, (0x88, 16)));
    let r = host.send(&commands::get_data_command(0x9F7F));
    assert_eq!((r.data.len(), r.sw), (3 + 42, StatusWord::OK));
    let r = host.send(&commands::get_data_command(0xFF21));
    assert_eq!(&r.data[..7], hex("FF21 10 81 02 000C"));
}

#[test]
fn ssd_extradition_and_key_rotation() {
    let mut card = new_card(CardState::new());
    let mut isd = Host::new(&mut card, Protocol::SwpTypeB);
    isd.select(&GP_ISD_AID);
    isd.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    // An SSD from the built-in SD package, with the Security Domain privilege.
    assert_eq!(
        isd.install(
            &SD_PACKAGE_AID,
            &SD_MODULE_AID,
            &SSD_AID,
            &[0x80, 0, 0],
            &params(&[]),
            true
        ),
        StatusWord::OK
    );
    // An SD privilege on a non-SD module, or an SD module without it: 6A80.
    let generic = cap_file(&GENERIC_PACKAGE_AID, &[&GENERIC_MODULE_AID], 10);
    assert_eq!(
        isd.load(&GENERIC_PACKAGE_AID, &[], &generic, &[], 200),
        StatusWord::OK
    );
    assert_eq!(
        isd.install(
            &GENERIC_PACKAGE_AID,
            &GENERIC_MODULE_AID,
            &hex("A0000000991111"),
            &[0x80],
            &params(&[]),
            true
        ),
        StatusWord::INCORRECT_DATA
    );
    assert_eq!(
        isd.install(
            &GENERIC_PACKAGE_AID,
            &GENERIC_MODULE_AID,
            &APP_AID,
            &[0],
            &params(&[]),
            true
        ),
        StatusWord::OK
    );
    // Extradite the app to the SSD.
    let ex = Install::ForExtradition {
        security_domain_aid: SSD_AID.to_vec(),
        application_aid: APP_AID.to_vec(),
        parameters: Vec::new(),
        token: Vec::new(),
    };
    assert_eq!(isd.sw(&ex.command().unwrap()), StatusWord::OK);
    let apps = registry(&mut isd, StatusSubset::Applications);
    let app = apps.iter().find(|a| a.aid == APP_AID).unwrap();
    assert_eq!(app.associated_sd.as_deref(), Some(&SSD_AID[..]));
    let ssd = apps.iter().find(|a| a.aid == SSD_AID).unwrap();
    assert_eq!(ssd.privileges, [0x80, 0, 0]);
    drop(isd);

    // The SSD by its AID on the contact interface, with its initial (test) keys.
    let mut ssd = Host::new(&mut card, Protocol::T0);
    assert_eq!(ssd.select(&SSD_AID).sw, StatusWord::OK);
    ssd.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    // It sees (and personalizes) its own app only.
    let apps = registry(&mut ssd, StatusSubset::Applications);
    assert_eq!(
        apps.iter().map(|a| a.aid.clone()).collect::<Vec<_>>(),
        vec![APP_AID.to_vec()]
    );
    let perso = Install::ForPersonalization {
        application_aid: APP_AID.to_vec(),
    };
    assert_eq!(ssd.sw(&perso.command().unwrap()), StatusWord::OK);
    assert_eq!(
        ssd.store_data(0x10, &[&hex("50 03 535344")]),
        StatusWord::OK
    );
    // No Authorized Management: no loading.
    assert_eq!(
        ssd.load(&hex("A0000000990001"), &[], &generic, &[], 200),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    // Key rotation: KVN 30 → KVN 31 with new keys.
    let k = hex("00112233445566778899AABBCCDDEEFF");
    let new_keys = gp::KeySet::aes(0x31, &k, &k, &k).unwrap();
    let dek: Dek = ssd.session.as_ref().unwrap().dek().clone();
    let mut rng = card::testing::SeededRng::new(b"rotate");
    let data = PutKeyData::for_key_set(&new_keys, &dek, &mut rng).unwrap();
    let r = ssd.send(&commands::put_key_command(0x30, 0x01, &data).unwrap());
    assert_eq!(r.sw, StatusWord::OK);
    // Old keys: KVN 30 is gone (6A88); KVN 00 gets the new set, whose card cryptogram the
    // old keys do not verify.
    ssd.select(&SSD_AID);
    assert_eq!(
        ssd.open_with(test_keys(), Some(0x30), SecurityLevel::C_MAC),
        Err(StatusWord::REFERENCED_DATA_NOT_FOUND)
    );
    assert_eq!(
        ssd.open_with(test_keys(), Some(0x00), SecurityLevel::C_MAC),
        Err(StatusWord::NO_PRECISE_DIAGNOSIS)
    );
    ssd.open(new_keys.clone(), SecurityLevel::C_MAC).unwrap();
    assert_eq!(registry(&mut ssd, StatusSubset::Applications).len(), 1);
    drop(ssd);
    // The ISD keys are unchanged.
    let mut isd = Host::new(&mut card, Protocol::SwpTypeB);
    isd.select(&GP_ISD_AID);
    isd.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    // The SSD has an app: it cannot be deleted (6985); the app first, then the SSD.
    assert_eq!(
        isd.sw(&delete(&SSD_AID, false)),
        StatusWord::CONDITIONS_NOT_SATISFIED
    );
    assert_eq!(isd.sw(&delete(&APP_AID, false)), StatusWord::OK);
    assert_eq!(isd.sw(&delete(&SSD_AID, false)), StatusWord::OK);
    // Lock the card: apps are no longer selectable, the ISD is; unlock.
    assert_eq!(isd.sw(&set_status(0x80, 0x7F, &[])), StatusWord::OK);
    assert_eq!(
        isd.install(
            &GENERIC_PACKAGE_AID,
            &GENERIC_MODULE_AID,
            &APP_AID,
            &[0],
            &params(&[]),
            true
        ),
        StatusWord::CONDITIONS_NOT_SATISFIED
    );
    assert_eq!(isd.sw(&set_status(0x80, 0x0F, &[])), StatusWord::OK);
    assert_eq!(isd.card.state().gp.isd_life_cycle, 0x0F);
}

#[test]
fn dap_verification_by_an_ssd() {
    let mut card = new_card(CardState::new());
    let mut isd = Host::new(&mut card, Protocol::Spi);
    isd.select(&GP_ISD_AID);
    isd.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    // An SSD with DAP Verification (C0) and Authorized Management.
    assert_eq!(
        isd.install(
            &SD_PACKAGE_AID,
            &SD_MODULE_AID,
            &SSD_AID,
            &[0xC0, 0x40, 0],
            &params(&[]),
            true
        ),
        StatusWord::OK
    );
    drop(isd);
    let dap_key = hex("0F0E0D0C0B0A09080706050403020100");
    let mut state = card.state().clone();
    state
        .gp
        .app_mut(&SSD_AID)
        .unwrap()
        .sd
        .as_mut()
        .unwrap()
        .dap_key = Some(dap_key.clone());
    card.load_state(state);
    let mut ssd = Host::new(&mut card, Protocol::Spi);
    ssd.select(&SSD_AID);
    ssd.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    let lfdb = cap_file(&GENERIC_PACKAGE_AID, &[&GENERIC_MODULE_AID], 50);
    let hash = sha256(&lfdb);
    let dap = |sig: &[u8]| {
        let mut inner = tlv::encode_tlv(tlv::Tag(0x4F), &SSD_AID);
        inner.extend(tlv::encode_tlv(tlv::Tag(0xC3), sig));
        tlv::encode_tlv(tlv::Tag(0xE2), &inner)
    };
    let before = ssd.card.state().gp.clone();
    // Missing DAP block, wrong signature: 6982, nothing loaded.
    assert_eq!(
        ssd.load(&GENERIC_PACKAGE_AID, &[], &lfdb, &hash, 100),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    assert_eq!(
        ssd.load_with_daps(
            &GENERIC_PACKAGE_AID,
            &[],
            &lfdb,
            &hash,
            &dap(&[0u8; 16]),
            100
        ),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    assert_eq!(ssd.card.state().gp, before);
    let sig = card::gp::ccm::aes_cmac(&dap_key, &hash).unwrap();
    assert_eq!(
        ssd.load_with_daps(&GENERIC_PACKAGE_AID, &[], &lfdb, &hash, &dap(&sig), 100),
        StatusWord::OK
    );
    let files = registry(&mut ssd, StatusSubset::LoadFiles);
    assert_eq!(files[0].aid, GENERIC_PACKAGE_AID);
    assert_eq!(files[0].associated_sd.as_deref(), Some(&SSD_AID[..]));
}

#[test]
fn old_card_files_get_gp_defaults() {
    let mut v: serde_json::Value = serde_json::from_slice(&CardState::new().to_bytes()).unwrap();
    v["gp"] = serde_json::json!({ "isd_life_cycle": 15 });
    let state = CardState::from_bytes(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(state.gp, card::gp::GpState::default());
    // And the full state round-trips (key sets, counters, registry).
    let mut card = new_card(CardState::new());
    let mut host = Host::new(&mut card, Protocol::SwpTypeA);
    host.select(&GP_ISD_AID);
    host.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    let generic = cap_file(&GENERIC_PACKAGE_AID, &[&GENERIC_MODULE_AID], 10);
    assert_eq!(
        host.load(&GENERIC_PACKAGE_AID, &[], &generic, &[], 200),
        StatusWord::OK
    );
    let s = card.state().clone();
    assert_eq!(CardState::from_bytes(&s.to_bytes()).unwrap(), s);
}

/// Known answer: the PPSE FCI with one directory entry, byte for byte as a real contactless
/// card answers SELECT 2PAY.SYS.DDF01 (recorded response published in javisHuang/Learn
/// `emv/Initiate_Application.md`: AID A0000000031010, label "VISA DEBIT", priority 01).
#[test]
fn ppse_fci_known_answer() {
    let mut card = new_card(CardState::new());
    let mut host = Host::new(&mut card, Protocol::SwpTypeA);
    host.select(&GP_ISD_AID);
    host.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    for (pkg, module) in [
        (&GENERIC_PACKAGE_AID, &GENERIC_MODULE_AID),
        (&PPSE_PACKAGE_AID, &PPSE_MODULE_AID),
    ] {
        let lfdb = cap_file(pkg, &[module], 20);
        assert_eq!(host.load(pkg, &[], &lfdb, &[], 200), StatusWord::OK);
    }
    let visa = hex("A0000000031010");
    assert_eq!(
        host.install(
            &GENERIC_PACKAGE_AID,
            &GENERIC_MODULE_AID,
            &visa,
            &[0],
            &params(&[]),
            true
        ),
        StatusWord::OK
    );
    assert_eq!(
        host.install(
            &PPSE_PACKAGE_AID,
            &PPSE_MODULE_AID,
            PPSE_AID,
            &[0],
            &params(&[]),
            true
        ),
        StatusWord::OK
    );
    let perso = Install::ForPersonalization {
        application_aid: visa.clone(),
    };
    assert_eq!(host.sw(&perso.command().unwrap()), StatusWord::OK);
    assert_eq!(
        host.store_data(0x10, &[&hex("500A56495341204445424954 870101")]),
        StatusWord::OK
    );
    // SET STATUS back to INSTALLED is not a life cycle transition (6985).
    assert_eq!(
        host.sw(&set_status(0x40, 0x03, &visa)),
        StatusWord::CONDITIONS_NOT_SATISFIED
    );
    drop(host);
    let r = Host::new(&mut card, Protocol::SwpTypeA).select(PPSE_AID);
    assert_eq!(r.sw, StatusWord::OK);
    assert_eq!(
        r.data,
        hex(concat!(
            "6F2F840E325041592E5359532E4444463031A51DBF0C1A61184F07A0000000031010",
            "500A56495341204445424954870101"
        ))
    );
}
