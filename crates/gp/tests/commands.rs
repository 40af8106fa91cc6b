//! GP command codecs.

mod common;

use apdu::Command;
use common::{h, CountingRng};
use gp::commands::*;
use gp::{Dek, KeySet, PutKeyData};

#[test]
fn install_parameters_match_pysim() {
    // pySim tests/unittests/test_globalplatform.py, Install_param_Test.
    let p = InstallParameters {
        non_volatile_quota: Some(256),
        volatile_quota: Some(256),
        toolkit: Some(h("010001001505000000000000000000000000")),
        ..InstallParameters::default()
    };
    let enc = p.encode();
    assert_eq!(
        hex::encode(&enc),
        "c900ef1cc8020100c7020100ca12010001001505000000000000000000000000"
    );
    assert_eq!(InstallParameters::parse(&enc).unwrap(), p);
    let empty = InstallParameters::default();
    assert_eq!(hex::encode(empty.encode()), "c900");
    assert_eq!(InstallParameters::parse(&h("c900")).unwrap(), empty);
    // 4-byte quota, unknown system parameter kept.
    let big = InstallParameters {
        application_specific: vec![1, 2],
        volatile_quota: Some(0x12345),
        other_system: h("CB0101"),
        ..InstallParameters::default()
    };
    assert_eq!(InstallParameters::parse(&big.encode()).unwrap(), big);
    assert!(InstallParameters::parse(&h("ef00")).is_err());
    assert!(InstallParameters::parse(&h("c900ef03c80101")).is_err());
}

#[test]
fn install_variants_round_trip() {
    let aid = |n: u8| vec![0xA0, 0, 0, 0, n, 1, 2];
    let params = InstallParameters::default().encode();
    let all = [
        Install::ForLoad {
            load_file_aid: aid(1),
            security_domain_aid: aid(2),
            load_file_data_block_hash: vec![],
            load_parameters: h("EF04C6020100"),
            load_token: vec![],
        },
        Install::ForInstall {
            make_selectable: true,
            load_file_aid: aid(1),
            module_aid: aid(3),
            application_aid: aid(4),
            privileges: vec![0x00],
            parameters: params.clone(),
            token: vec![],
        },
        Install::ForInstall {
            make_selectable: false,
            load_file_aid: aid(1),
            module_aid: aid(3),
            application_aid: aid(4),
            privileges: vec![0x80, 0xC0, 0x00],
            parameters: params.clone(),
            token: vec![],
        },
        Install::ForMakeSelectable {
            application_aid: aid(4),
            privileges: vec![0x00],
            parameters: vec![],
            token: vec![],
        },
        Install::ForExtradition {
            security_domain_aid: aid(2),
            application_aid: aid(4),
            parameters: vec![],
            token: vec![],
        },
        Install::ForPersonalization {
            application_aid: aid(4),
        },
        Install::ForRegistryUpdate {
            security_domain_aid: aid(2),
            application_aid: aid(4),
            privileges: vec![0x00],
            parameters: vec![],
            token: vec![],
        },
    ];
    for i in all {
        let cmd = i.command().unwrap();
        let bytes = cmd.encode().unwrap();
        assert_eq!(&bytes[..3], &[0x80, 0xE6, i.p1()]);
        assert_eq!(Install::parse(&Command::parse(&bytes).unwrap()).unwrap(), i);
    }
    // INSTALL [for personalization] as pySim's do_install_for_personalization builds it:
    // "0000" LV(AID) "000000".
    let p = Install::ForPersonalization {
        application_aid: aid(4),
    };
    assert_eq!(
        hex::encode(p.encode_data().unwrap()),
        format!("000007{}000000", hex::encode(aid(4)))
    );
}

#[test]
fn install_rejects_bad_input() {
    let c = |s: &str| Command::parse(&h(s)).unwrap();
    assert_eq!(
        Install::parse(&c("80E6010003000000"))
            .unwrap_err()
            .status_word()
            .0,
        0x6A86
    );
    assert!(Install::parse(&c("80E6020003050000")).is_err());
    assert!(Install::parse(&c("80E60C000400000000")).is_err());
    assert!(Install::parse(&c("80E6200007000000000000FF")).is_err());
}

#[test]
fn load_blocks_split_and_reassemble() {
    let lfdb: Vec<u8> = (0..=255u8).cycle().take(600).collect();
    let dap = h("E20A4F05A0000001510C0102");
    let cmds = load_commands(&dap, &lfdb, 200).unwrap();
    // DAP (12) + C4 82 0258 (4) + 600 = 616 bytes -> 4 blocks.
    assert_eq!(cmds.len(), 4);
    assert_eq!(cmds[0].data[12..16], [0xC4, 0x82, 0x02, 0x58]);
    for (n, c) in cmds.iter().enumerate() {
        assert_eq!(c.p2, n as u8);
        assert_eq!(c.p1, if n == 3 { 0x80 } else { 0x00 });
    }
    let mut asm = LoadAssembler::new();
    for c in &cmds[..3] {
        assert_eq!(asm.push(c).unwrap(), None);
    }
    let lf = asm.push(&cmds[3]).unwrap().unwrap();
    assert_eq!(lf.load_file_data_block, lfdb);
    assert_eq!(lf.dap_blocks, dap);
    // Out of sequence: 6A86.
    let mut asm = LoadAssembler::new();
    assert_eq!(asm.push(&cmds[1]).unwrap_err().status_word().0, 0x6A86);
    // A load file without C4.
    let mut asm = LoadAssembler::new();
    let bad = Command::with_data(0x80, 0xE8, 0x80, 0x00, h("E200"));
    assert!(asm.push(&bad).is_err());
    assert!(load_commands(&[], &lfdb, 0).is_err());
    assert!(load_commands(&[], &vec![0; 70_000], 255).is_err());
}

#[test]
fn delete_round_trip() {
    let d = Delete {
        aid: h("A0000000871002"),
        related_objects: true,
    };
    let bytes = d.command().encode().unwrap();
    assert_eq!(hex::encode_upper(&bytes), "80E40080094F07A000000087100200");
    assert_eq!(Delete::parse(&Command::parse(&bytes).unwrap()).unwrap(), d);
    let c = Command::parse(&h("80E40001094F07A000000087100200")).unwrap();
    assert_eq!(Delete::parse(&c).unwrap_err().status_word().0, 0x6A86);
    let c = Command::parse(&h("80E40000044F02A00000")).unwrap();
    assert!(Delete::parse(&c).is_err());
}

#[test]
fn get_status_command_and_tlv_response() {
    let g = GetStatus::all(StatusSubset::Applications);
    let bytes = g.command().encode().unwrap();
    assert_eq!(hex::encode_upper(&bytes), "80F24002024F0000");
    assert_eq!(
        GetStatus::parse(&Command::parse(&bytes).unwrap()).unwrap(),
        g
    );
    let mut next = g.clone();
    next.next = true;
    next.tag_list = Some(h("4F9F70C5"));
    assert_eq!(GetStatus::parse(&next.command()).unwrap(), next);
    // GlobalPlatformPro TestParseTags.testParseISD: 'E3' entry of an ISD, AID A0000001510000,
    // life cycle '07' (INITIALIZED), privileges '80' (security domain); the unknown 'EA' object
    // is skipped.
    let entries = parse_status_tlv(&h("E3144F07A00000015100009F700107C50180EA028000")).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].aid, h("A0000001510000"));
    assert_eq!(entries[0].life_cycle, life_cycle::ISD_INITIALIZED);
    assert_eq!(entries[0].privileges, vec![0x80]);
    let e = RegistryEntry {
        aid: h("A0000000871002FF"),
        life_cycle: life_cycle::APP_SELECTABLE,
        privileges: vec![0, 0, 0],
        load_file_aid: Some(h("A0000000871002")),
        load_file_version: Some(vec![1, 0]),
        modules: vec![h("A000000087100201"), h("A000000087100202")],
        associated_sd: Some(h("A000000151000000")),
    };
    let enc = encode_status_tlv(&[e.clone(), entries[0].clone()]);
    assert_eq!(parse_status_tlv(&enc).unwrap(), vec![e, entries[0].clone()]);
    assert!(parse_status_tlv(&h("E3039F7001")).is_err());
    assert!(parse_status_tlv(&h("E103")).is_err());
}

#[test]
fn get_status_legacy_format() {
    // GP CS v2.3.1 Table 11-37 layout: length, AID, life cycle, privileges.
    let data = h("07A0000001510000078007A00000000300000F00");
    let entries = parse_status_legacy(StatusSubset::Applications, &data).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].life_cycle, 0x07);
    assert_eq!(entries[0].privileges, vec![0x80]);
    assert_eq!(
        encode_status_legacy(StatusSubset::Applications, &entries).unwrap(),
        data
    );
    // Table 11-38 (load files and modules): + number of modules, each LV.
    let data = h("07A000000087100201000207A000000087100107A0000000871002");
    let entries = parse_status_legacy(StatusSubset::LoadFilesAndModules, &data).unwrap();
    assert_eq!(entries[0].modules.len(), 2);
    assert_eq!(
        encode_status_legacy(StatusSubset::LoadFilesAndModules, &entries).unwrap(),
        data
    );
    assert!(parse_status_legacy(StatusSubset::Applications, &h("05A000000001")).is_err());
    assert!(parse_status_legacy(StatusSubset::LoadFilesAndModules, &h("01A00100")).is_err());
}

#[test]
fn set_status_and_get_data() {
    let s = SetStatus {
        status_type: 0x40,
        state: life_cycle::APP_LOCKED,
        aid: h("A0000000871002FF"),
    };
    assert_eq!(SetStatus::parse(&s.command()).unwrap(), s);
    let bad = Command::with_data(0x80, 0xF0, 0x20, 0x07, h("A000000087"));
    assert_eq!(SetStatus::parse(&bad).unwrap_err().status_word().0, 0x6A86);
    assert_eq!(
        hex::encode_upper(get_data_command(tags::CPLC).encode().unwrap()),
        "80CA9F7F00"
    );
    assert_eq!(
        hex::encode_upper(
            get_data_command(tags::KEY_INFORMATION_TEMPLATE)
                .encode()
                .unwrap()
        ),
        "80CA00E000"
    );
}

#[test]
fn key_information_template_matches_globalplatformpro() {
    // GlobalPlatformPro library/src/test/java/pro/javacard/gp/test/TestGPKeyInfo.java.
    let basic = h("E020C00401018820C00402018820C00403018820C0060170A180A003C00401718010");
    let keys = parse_key_information(&basic).unwrap();
    assert_eq!(keys.len(), 5);
    assert_eq!(keys[0].components, vec![(0x88, 0x20)]);
    assert_eq!(keys[3].components, vec![(0xA1, 0x80), (0xA0, 0x03)]);
    assert_eq!(encode_key_information(&keys).unwrap(), basic);

    let ext = h("E021C00401018010C00402018010C00403018010C00D0173FFA10080A0000301840100");
    let keys = parse_key_information(&ext).unwrap();
    assert_eq!(keys.len(), 4);
    assert_eq!(keys[3].kvn, 0x73);
    assert_eq!(keys[3].components, vec![(0xA1, 0x80), (0xA0, 0x03)]);
    assert_eq!(keys[3].extended, Some((vec![0x84], vec![0x00])));

    let ext0 = h("E081B0C00A0120FF80001001000100C00A0220FF80001001000100C00A0320FF80001001000100C00A0101FF80001001000100C00A0201FF80001001000100C00A0301FF80001001000100C00A0102FF88001001000100C00E0202FF880010FF10000101000100C00A0302FF88001001000100C00A0103FF88001001000100C00E0203FF880010FF10000101000100C00A0303FF88001001000100C00A1403FF85001001000100C00A1503FF88001001000100");
    let keys = parse_key_information(&ext0).unwrap();
    assert_eq!(keys.len(), 14);
    assert_eq!(keys[7].components, vec![(0x88, 0x10), (0x10, 0x01)]);
    assert_eq!(encode_key_information(&keys).unwrap(), ext0);

    assert!(parse_key_information(&h("E003C00101")).is_err());
    assert!(parse_key_information(&h("E004C0020101")).is_err());
}

#[test]
fn put_key_command_coding() {
    let dek = Dek::aes(&[0x20; 16]).unwrap();
    let new = KeySet::aes(0x31, &[1; 16], &[2; 16], &[3; 16]).unwrap();
    let data = PutKeyData::for_key_set(&new, &dek, &mut CountingRng(5)).unwrap();
    let cmd = put_key_command(0x30, 0x01, &data).unwrap();
    assert_eq!((cmd.cla, cmd.ins, cmd.p1, cmd.p2), (0x80, 0xD8, 0x30, 0x81));
    assert_eq!(PutKeyData::parse(&cmd.data).unwrap(), data);
    assert!(put_key_command(0x80, 1, &data).is_err());
}
