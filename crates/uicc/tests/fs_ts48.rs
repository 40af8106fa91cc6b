//! The UICC file system built from the GSMA TS.48 generic test profiles
//! (../shared/reference/ts48-profiles), driven through APDUs (ETSI TS 102 221 §11.1).
//!
//! Expected values: ICCIDs and IMSI from the profile header / PE-USIM (TS.48 test
//! subscription, IMSI 001010123456063), file sizes and SFIs from SAIP Annex A and the PEs'
//! own descriptors, PIN values from the profiles' PE-PINCodes (PIN1 "0000" = 30303030FFFFFFFF,
//! ADM1 = 3535353535353535), access rules from the profiles' EF.ARR contents.

use apdu::{Command, StatusWord};
use uicc::fs::{Body, NodeId, UiccFs, MF};
use uicc::{Selection, Uicc, VerifiedPins};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/ts48-profiles/"
);
const PROFILES: &[&str] = &[
    "TS48V1-A-UNIQUE.der",
    "TS48V2-SAIP2-1-BERTLV-UNIQUE.der",
    "TS48V2-SAIP2-3-NOBERTLV-UNIQUE.der",
    "TS48V4-SAIP2-3-BERTLV-UNIQUE.der",
    "TS48V5-SAIP2-3-BERTLV-SUCI-UNIQUE.der",
];
const USIM_AID: &[u8] = &[0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02];
const PIN1: [u8; 8] = [0x30, 0x30, 0x30, 0x30, 0xFF, 0xFF, 0xFF, 0xFF];
const ADM1: [u8; 8] = [0x35; 8];

fn package(name: &str) -> saip::ProfilePackage {
    let der = std::fs::read(format!("{DIR}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    saip::ProfilePackage::parse(&der).unwrap()
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// Digits of a swapped-nibble BCD string ('F' filler dropped).
fn swapped_bcd(b: &[u8]) -> String {
    b.iter()
        .flat_map(|x| [x & 0x0F, x >> 4])
        .filter(|d| *d != 0x0F)
        .map(|d| char::from(b'0' + d))
        .collect()
}

/// EF.IMSI (TS 31.102 §4.2.2): length byte, then parity nibble and digits.
fn imsi_of(ef: &[u8]) -> String {
    let len = ef[0] as usize;
    let digits = swapped_bcd(&ef[1..=len]);
    digits[1..].to_string()
}

fn size_of(fs: &UiccFs, id: NodeId) -> usize {
    fs.content(id).unwrap().len()
}

struct Card {
    uicc: Uicc,
    session: VerifiedPins,
    sel: Selection,
}

impl Card {
    fn new(name: &str) -> Card {
        Card {
            uicc: Uicc::from_package(&package(name)).unwrap(),
            session: VerifiedPins::default(),
            sel: Selection::new(),
        }
    }
    fn tx(&mut self, apdu: &str) -> Result<Vec<u8>, StatusWord> {
        let cmd = Command::parse(&h(apdu)).unwrap();
        self.uicc.process(&mut self.session, &mut self.sel, &cmd)
    }
    fn sw(&mut self, apdu: &str) -> u16 {
        let cmd = Command::parse(&h(apdu)).unwrap();
        match self.uicc.execute(&mut self.session, &mut self.sel, &cmd) {
            Ok(r) => r.sw.0,
            Err(sw) => sw.0,
        }
    }
    fn ok(&mut self, apdu: &str) -> Vec<u8> {
        self.tx(apdu)
            .unwrap_or_else(|sw| panic!("{apdu}: {:04X}", sw.0))
    }
    fn select_usim(&mut self) -> Vec<u8> {
        self.ok("00A4040407A0000000871002")
    }
    fn verify_pin1(&mut self) {
        self.ok(&format!("0020000108{}", hex::encode(PIN1)));
    }
}

#[test]
fn builds_every_ts48_profile_with_template_files() {
    for name in PROFILES {
        let pkg = package(name);
        let fs = UiccFs::from_package(&pkg).unwrap();
        // EF.ICCID (TS 102 221 §13.2) holds the ICCID nibble-swapped.
        let iccid = fs.find_path(&[0x2FE2]).unwrap();
        assert_eq!(
            swapped_bcd(&fs.content(iccid).unwrap()),
            pkg.iccid(),
            "{name}"
        );
        // ADF.USIM by its AID, EF.IMSI decodes to the package IMSI.
        let usim = fs.adf_by_aid(USIM_AID, None).unwrap();
        let imsi = fs.child(usim, 0x6F07).unwrap();
        assert_eq!(
            Some(imsi_of(&fs.content(imsi).unwrap())),
            pkg.imsi(),
            "{name}"
        );
        assert_eq!(imsi_of(&fs.content(imsi).unwrap()), "001010123456063");
        // Template sizes (SAIP Annex A ADF.USIM): EF.AD 4, EF.EST 1, EF.ACC 2, EF.LOCI 11.
        for (fid, size) in [(0x6FAD, 4), (0x6F56, 1), (0x6F78, 2), (0x6F7E, 11)] {
            let id = fs
                .child(usim, fid)
                .unwrap_or_else(|| panic!("{name} {fid:04X}"));
            assert_eq!(size_of(&fs, id), size, "{name} {fid:04X}");
        }
        // EF.UST: the size the PE's descriptor gives (15 in TS.48 v1, 17 later).
        let ust = fs.child(usim, 0x6F38).unwrap();
        assert!([15, 17].contains(&size_of(&fs, ust)), "{name}");
        // EF.LOCI: PE content over the template default.
        let loci = fs.child(usim, 0x6F7E).unwrap();
        assert_eq!(fs.content(loci).unwrap(), h("ffffffff42f618fffeff01"));
        // EF.EPSLOCI: fillFileOffset 12 over the template default, then the PE's bytes.
        let eps = fs.child(usim, 0x6FE3).unwrap();
        assert_eq!(
            fs.content(eps).unwrap(),
            h("ffffffffffffffffffffffff000000000001"),
            "{name}"
        );
        // EF.Keys: template default 07FF...FF (no content in the PE).
        let keys = fs.child(usim, 0x6F08).unwrap();
        let mut want = vec![0xFF; 33];
        want[0] = 0x07;
        assert_eq!(fs.content(keys).unwrap(), want);
        // ISIM and the CSIM ADF exist; EF.DIR lists every ADF.
        assert!(fs.adf_by_aid(&h("A0000000871004"), None).is_some());
        assert_eq!(fs.adfs().count(), 3, "{name}");
        let dir = fs.find_path(&[0x2F00]).unwrap();
        for (_, aid) in fs.adfs() {
            assert!(
                fs.records(dir)
                    .unwrap()
                    .iter()
                    .any(|r| r.windows(aid.len()).any(|w| w == aid)),
                "{name} {}",
                hex::encode(aid)
            );
        }
        // GenericFileManagement: DF.TELECOM/EF.SMSP-like 6F44 (cyclic), MF/7F66/5F40.
        assert!(fs.find_path(&[0x7F10, 0x6F44]).is_some(), "{name}");
        assert!(fs.find_path(&[0x7F66, 0x5F40, 0x4F40]).is_some(), "{name}");
        // A link (linkPath): DF.TELECOM/EF.ADN 6F3A shares DF.PHONEBOOK/EF.ADN 4F3A.
        let link = fs.find_path(&[0x7F10, 0x6F3A]).unwrap();
        let target = fs.find_path(&[0x7F10, 0x5F3A, 0x4F3A]).unwrap();
        assert!(matches!(fs.node(link).unwrap().body, Body::Link { .. }));
        assert_eq!(fs.resolve(link), target);
    }
}

#[test]
fn select_read_iccid_and_imsi_through_apdus() {
    for name in PROFILES {
        let mut c = Card::new(name);
        let iccid = c
            .uicc
            .fs
            .content(c.uicc.fs.find_path(&[0x2FE2]).unwrap())
            .unwrap();
        // SELECT MF, then EF.ICCID by FID, READ BINARY (ALW).
        let fcp = c.ok("00A40004023F00");
        assert_eq!(fcp[0], 0x62);
        assert_eq!(&fcp[2..6], &[0x82, 0x02, 0x78, 0x21]);
        assert_eq!(c.ok("00A40004022FE2")[0], 0x62);
        assert_eq!(c.ok("00B000000A"), iccid, "{name}");
        // ADF.USIM by partial AID, EF.IMSI: READ needs PIN1 (EF.ARR record 0A), which the
        // TS.48 profiles install disabled (pinAttributes 6): readable at once.
        let fcp = c.select_usim();
        assert!(fcp.windows(2).any(|w| w == [0x84, 0x0C]));
        c.ok("00A40004026F07");
        assert_eq!(imsi_of(&c.ok("00B0000009")), "001010123456063", "{name}");
        // ENABLE PIN1; in a new session the read needs VERIFY.
        c.ok(&format!("0028000108{}", hex::encode(PIN1)));
        c.session = VerifiedPins::default();
        assert_eq!(
            c.tx("00B0000009"),
            Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED)
        );
        c.verify_pin1();
        let imsi = c.ok("00B0000009");
        assert_eq!(imsi_of(&imsi), "001010123456063", "{name}");
    }
}

#[test]
fn fcp_of_ef_imsi_and_pin_status_template() {
    let mut c = Card::new(PROFILES[2]);
    c.select_usim();
    let fcp = c.ok("00A40004026F07");
    // TS 102 221 §11.1.1.3: descriptor transparent shareable, FID, LCSI operational/activated,
    // ARR reference as the PE gives it (6F06 record 0A), size 9, SFI 07.
    assert_eq!(
        fcp,
        h("6217 8202 4121 8302 6F07 8A01 05 8B03 6F060A 8002 0009 8801 38")
    );
    // From an ADF, an EF under the MF is not selectable by FID (TS 102 221 §8.4.1).
    assert_eq!(c.tx("00A40004022F00"), Err(StatusWord::FILE_NOT_FOUND));
    // EF.DIR: linear fixed, record length 33, 4 records (PE descriptor), SFI 1E.
    c.ok("00A40004023F00");
    let fcp = c.ok("00A40004022F00");
    assert!(fcp.windows(7).any(|w| w == h("82054221002104")));
    assert!(fcp.windows(3).any(|w| w == [0x88, 0x01, 0xF0]));
    // ADF.USIM FCP ('7FFF' = current ADF): DF descriptor, AID, PIN status template with the
    // PE's key references 81, 01, 0A.
    let fcp = c.ok("00A40004027FFF");
    assert!(fcp.windows(4).any(|w| w == [0x82, 0x02, 0x78, 0x21]));
    let c6 = fcp.windows(2).position(|w| w[0] == 0xC6).unwrap();
    let c6 = &fcp[c6..];
    assert_eq!(&c6[2..4], &[0x90, 0x01]);
    assert_eq!(&c6[5..14], &h("830181 830101 83010A")[..]);
    // P2 0C: no data.
    assert_eq!(c.ok("00A4000C026F07"), Vec::<u8>::new());
}

#[test]
fn pin_gated_update_needs_adm() {
    let mut c = Card::new(PROFILES[3]);
    c.select_usim();
    c.ok(&format!("0028000108{}", hex::encode(PIN1)));
    c.session = VerifiedPins::default();
    c.ok("00A40004026F07");
    c.verify_pin1();
    let new_imsi = "080910101032540646";
    assert_eq!(
        c.tx(&format!("00D6000009{new_imsi}")),
        Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED)
    );
    c.ok(&format!("002000 0A08{}", hex::encode(ADM1)));
    c.ok(&format!("00D6000009{new_imsi}"));
    assert_eq!(imsi_of(&c.ok("00B0000009")), "001010123456064");
    // Persisted state: the update survives a serde round trip.
    let json = serde_json::to_string(&c.uicc).unwrap();
    let back: Uicc = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c.uicc);
    let usim = back.fs.adf_by_aid(USIM_AID, None).unwrap();
    let imsi = back.fs.child(usim, 0x6F07).unwrap();
    assert_eq!(back.fs.content(imsi).unwrap(), h(new_imsi));
}

#[test]
fn disabling_pin1_opens_reads() {
    let mut c = Card::new(PROFILES[1]);
    c.select_usim();
    c.ok(&format!("0028000108{}", hex::encode(PIN1)));
    c.session = VerifiedPins::default();
    c.ok("00A40004026F07");
    assert_eq!(
        c.tx("00B0000009"),
        Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED)
    );
    // The FCP of the ADF shows PIN1 enabled in the PS_DO (key refs 81, 01, 0A: b7 set).
    let fcp = c.ok("00A40004027FFF");
    let c6 = fcp.windows(2).position(|w| w[0] == 0xC6).unwrap();
    assert_eq!(fcp[c6 + 4] & 0x40, 0x40);
    c.ok(&format!("0026000108{}", hex::encode(PIN1)));
    // A new session, nothing verified: PIN1 disabled satisfies the condition.
    c.session = VerifiedPins::default();
    let fcp = c.ok("00A40004027FFF");
    assert_eq!(fcp[c6 + 4] & 0x40, 0);
    c.ok("00A40004026F07");
    assert_eq!(imsi_of(&c.ok("00B0000009")), "001010123456063");
}

#[test]
fn serde_round_trip_of_every_profile() {
    for name in PROFILES {
        let u = Uicc::from_package(&package(name)).unwrap();
        let json = serde_json::to_string(&u).unwrap();
        assert!(json.contains("\"a0000000871002ff49ff0589\""), "hex AIDs");
        let back: Uicc = serde_json::from_str(&json).unwrap();
        assert_eq!(back, u, "{name}");
    }
}

#[test]
fn read_binary_offsets_sfi_and_end_of_file() {
    let mut c = Card::new(PROFILES[2]);
    c.select_usim();
    // SFI 03 = EF.AD (P1 b8 = 1), offset 1.
    assert_eq!(c.ok("00B0830103"), h("000002"));
    assert_eq!(
        c.uicc.fs.node(c.sel.current_ef().unwrap()).unwrap().fid,
        0x6FAD
    );
    // Offset beyond the end: 6B00; Le past the end: data with 6282; Le 00: what is there.
    assert_eq!(c.tx("00B0000400"), Err(StatusWord::WRONG_P1_P2));
    assert_eq!(c.sw("00B0000208"), 0x6282);
    assert_eq!(c.ok("00B0000208"), h("0002"));
    assert_eq!(c.sw("00B0000000"), 0x9000);
    assert_eq!(c.ok("00B0000000").len(), 4);
    // Unknown SFI: 6A82; bad SFI coding: 6A86.
    assert_eq!(c.tx("00B09F0001"), Err(StatusWord::INCORRECT_P1_P2));
    let usim = c.sel.current_df();
    let unused = (1u8..31)
        .find(|s| c.uicc.fs.child_by_sfi(usim, *s).is_none())
        .unwrap();
    assert_eq!(
        c.tx(&format!("00B0{:02X}0001", 0x80 | unused)),
        Err(StatusWord::FILE_NOT_FOUND)
    );
    // READ BINARY with a data field: 6700.
    assert_eq!(c.tx("00B000000100"), Err(StatusWord::WRONG_LENGTH));
    // UPDATE BINARY beyond the end: 6700 / offset beyond: 6B00.
    c.ok(&format!("002000 0A08{}", hex::encode(ADM1)));
    assert_eq!(c.tx("00D6000305AABBCCDDEE"), Err(StatusWord::WRONG_LENGTH));
    assert_eq!(c.tx("00D6000401AA"), Err(StatusWord::WRONG_P1_P2));
    c.ok("00D6000301AA");
    assert_eq!(c.ok("00B0000004"), h("800000AA"));
}

#[test]
fn records_next_previous_sfi_and_errors() {
    let mut c = Card::new(PROFILES[4]);
    // EF.DIR by SFI 1E from the MF, absolute record 1: the USIM application template.
    let r1 = c.ok("00B201F400");
    assert_eq!(&r1[..4], &[0x61, 0x14, 0x4F, 0x0C]);
    assert_eq!(&r1[4..11], USIM_AID);
    assert_eq!(r1.len(), 33);
    // Next from no record pointer: record 1, then 2; previous: back to 1; then 6A83.
    assert_eq!(c.ok("00B2000221"), r1);
    assert_eq!(&c.ok("00B2000221")[4..11], &h("A0000000871004")[..]);
    assert_eq!(c.ok("00B2000321"), r1);
    assert_eq!(c.tx("00B2000321"), Err(StatusWord::RECORD_NOT_FOUND));
    // Current record (P1 00, mode 04).
    assert_eq!(c.ok("00B2000421"), r1);
    // Record beyond the file: 6A83; wrong Le: 6C21.
    assert_eq!(c.tx("00B2090421"), Err(StatusWord::RECORD_NOT_FOUND));
    assert_eq!(c.tx("00B2010410"), Err(StatusWord::wrong_le(0x21)));
    // Record command on a transparent EF and vice versa: 6981.
    c.ok("00A40004022FE2");
    assert_eq!(c.tx("00B2010400"), Err(StatusWord(0x6981)));
    c.ok("00A40004022F00");
    assert_eq!(c.tx("00B0000001"), Err(StatusWord(0x6981)));
    // SEARCH RECORD simple forward from record 1 for the ISIM AID: record 2.
    assert_eq!(c.ok("00A2010407A0000000871004"), vec![2]);
    // ... backward from record 4 for the AID tag: records 3, 2, 1.
    let hits = c.ok("00A2040501 4F".replace(' ', "").as_str());
    assert!(hits.contains(&1) && hits.contains(&2) && hits.contains(&3));
    assert!(hits.windows(2).all(|w| w[0] > w[1]));
    // Enhanced search: offset 4, string = ISIM AID.
    assert_eq!(
        c.ok("00A201060904 04 A0000000871004".replace(' ', "").as_str()),
        vec![2]
    );
    // Search indication b4 = 1: start after the first '4F' (the AID tag), string = the AID's
    // length (12) and its first bytes: record 2 again.
    assert_eq!(
        c.ok("00A201060A0C 4F 0CA0000000871004".replace(' ', "").as_str()),
        vec![2]
    );
    // b3-b1 '110': forward from the record after the current one (2): no later match.
    assert_eq!(
        c.ok("00A201060906 04 A0000000871004".replace(' ', "").as_str()),
        Vec::<u8>::new()
    );
    // ... '111': backward from the record before it: record 1 holds the USIM AID.
    assert_eq!(
        c.ok("00A201060907 04 A0000000871002".replace(' ', "").as_str()),
        vec![1]
    );
    // Reserved search indication bits: 6A80.
    assert_eq!(
        c.tx("00A201060410 04 A000".replace(' ', "").as_str()),
        Err(StatusWord::INCORRECT_DATA)
    );
    assert_eq!(c.tx("00A2010400"), Err(StatusWord::WRONG_LENGTH));
    assert_eq!(c.tx("00A2010701AA"), Err(StatusWord::INCORRECT_P1_P2));
}

#[test]
fn update_record_and_cyclic_files_and_increase() {
    let mut c = Card::new(PROFILES[2]);
    c.select_usim();
    // EF.ACM (6F39, cyclic 5 x 3, OPT-USIM): update PIN1/PIN2, INCREASE PIN1.
    c.ok("00A40004026F39");
    c.ok("00DC000303000010");
    assert_eq!(c.ok("00B2010403"), h("000010"));
    c.ok("00DC000303000020");
    assert_eq!(c.ok("00B2010403"), h("000020"));
    assert_eq!(c.ok("00B2020403"), h("000010"));
    // Cyclic: only PREVIOUS mode.
    assert_eq!(c.tx("00DC010403000030"), Err(StatusWord::INCORRECT_P1_P2));
    // Cyclic next wraps from the last record to the first.
    c.ok("00A40004026F39");
    for _ in 0..5 {
        c.ok("00B2000203");
    }
    assert_eq!(c.ok("00B2000203"), h("000020"));
    // INCREASE (CLA 80): record 1 + 5, response new value || added value.
    assert_eq!(c.ok("8032000003000005"), h("000025000005"));
    assert_eq!(c.ok("00B2010403"), h("000025"));
    assert_eq!(c.ok("00B2020403"), h("000020"));
    assert_eq!(c.tx("8032000003FFFFFF"), Err(StatusWord(0x9850)));
    // UPDATE RECORD on a linear fixed file with a wrong length: 6700; absolute update.
    c.ok(&format!("002000 0A08{}", hex::encode(ADM1)));
    c.ok("00A40004026FB7");
    assert_eq!(c.tx("00DC010401FF"), Err(StatusWord::WRONG_LENGTH));
    c.ok("00DC01040E11F2FF4575726F20456D6572FF01");
    assert_eq!(c.ok("00B201040E"), h("11F2FF4575726F20456D6572FF01"));
    assert_eq!(
        c.tx("00DC05040E11F2FF4575726F20456D6572FF01"),
        Err(StatusWord::RECORD_NOT_FOUND)
    );
}

#[test]
fn select_variants_and_status() {
    let mut c = Card::new(PROFILES[4]);
    // Path from the MF (P1 08) and from the current DF (P1 09).
    c.ok("00A4080404 7F105F3A".replace(' ', "").as_str());
    assert_eq!(c.uicc.fs.node(c.sel.current_df()).unwrap().fid, 0x5F3A);
    c.ok("00A40904024F30");
    assert_eq!(
        c.uicc.fs.node(c.sel.current_ef().unwrap()).unwrap().fid,
        0x4F30
    );
    // Parent DF (P1 03) from DF.PHONEBOOK: DF.TELECOM; child DF (P1 01): DF.PHONEBOOK again.
    c.ok("00A4030400");
    assert_eq!(c.uicc.fs.node(c.sel.current_df()).unwrap().fid, 0x7F10);
    c.ok("00A40104025F3A");
    assert_eq!(c.uicc.fs.node(c.sel.current_df()).unwrap().fid, 0x5F3A);
    // Sibling DF by FID from DF.PHONEBOOK: DF.GRAPHICS (5F50) under DF.TELECOM.
    c.ok("00A40004025F50");
    // Child DF with an EF's FID: 6A82. Parent of the MF: 6A82.
    c.ok("00A40004023F00");
    assert_eq!(c.tx("00A40104022FE2"), Err(StatusWord::FILE_NOT_FOUND));
    assert_eq!(c.tx("00A4030400"), Err(StatusWord::FILE_NOT_FOUND));
    // 7FFF without an application: 6A82; with ADF.USIM: the ADF.
    assert_eq!(c.tx("00A40004027FFF"), Err(StatusWord::FILE_NOT_FOUND));
    c.select_usim();
    c.ok("00A40004023F00");
    c.ok("00A4080404 7FFF6F07".replace(' ', "").as_str());
    assert_eq!(
        c.uicc.fs.node(c.sel.current_ef().unwrap()).unwrap().fid,
        0x6F07
    );
    // DF.5GS inside ADF.USIM by path, and its EF.SUCI_Calc_Info.
    c.ok("00A4080406 7FFF5FC04F07".replace(' ', "").as_str());
    // Next occurrence of the partial AID A000000087: after the USIM comes the ISIM.
    c.select_usim();
    let fcp = c.ok("00A4040605A000000087");
    assert!(fcp.windows(7).any(|w| w == h("A0000000871004")));
    // STATUS: FCP of the current DF (ADF.ISIM), DF name, no data.
    let st = c.ok("80F2000000");
    assert_eq!(st, fcp);
    let name = c.ok("80F2000100");
    assert_eq!(&name[..2], &[0x84, 0x0C]);
    assert_eq!(c.ok("80F2000C00"), Vec::<u8>::new());
    assert_eq!(c.tx("80F2000500"), Err(StatusWord::INCORRECT_P1_P2));
    assert_eq!(c.tx("80F2030000"), Err(StatusWord::INCORRECT_P1_P2));
    assert_eq!(c.tx("00F2000000"), Err(StatusWord::CLA_NOT_SUPPORTED));
    // Termination of the application session: back to the MF, no ADF.
    c.ok("00A4044C07A0000000871004");
    assert_eq!(c.sel.current_adf(), None);
    assert_eq!(c.sel.current_df(), MF);
}

#[test]
fn bad_input_status_words() {
    let mut c = Card::new(PROFILES[0]);
    assert_eq!(c.tx("00CA000000"), Err(StatusWord::INS_NOT_SUPPORTED));
    assert_eq!(c.tx("00B0000001"), Err(StatusWord::COMMAND_NOT_ALLOWED));
    assert_eq!(c.tx("00B2010400"), Err(StatusWord::COMMAND_NOT_ALLOWED));
    assert_eq!(c.tx("00A40004021234"), Err(StatusWord::FILE_NOT_FOUND));
    assert_eq!(c.tx("00A4000403123456"), Err(StatusWord::WRONG_LENGTH));
    assert_eq!(c.tx("00A40000023F00"), Err(StatusWord::INCORRECT_P1_P2));
    assert_eq!(c.tx("00A40204023F00"), Err(StatusWord::INCORRECT_P1_P2));
    assert_eq!(c.tx("00A40804037F1000"), Err(StatusWord::WRONG_LENGTH));
    assert_eq!(
        c.tx("00A4040407A0000000879999"),
        Err(StatusWord::FILE_NOT_FOUND)
    );
    assert_eq!(c.tx("00A4040400"), Err(StatusWord::WRONG_LENGTH));
    assert_eq!(c.tx("80B0000001"), Err(StatusWord::CLA_NOT_SUPPORTED));
    assert_eq!(c.tx("0032000001"), Err(StatusWord::CLA_NOT_SUPPORTED));
    // Selecting through an EF as if it were a DF.
    assert_eq!(c.tx("00A40804042FE26F07"), Err(StatusWord::FILE_NOT_FOUND));
}

/// No command, however malformed, panics; the state always serializes.
#[test]
fn no_panic_on_arbitrary_commands() {
    let mut c = Card::new(PROFILES[3]);
    c.ok(&format!("002000 0A08{}", hex::encode(ADM1)));
    let mut x: u32 = 0x1234_5678;
    let mut next = || {
        // xorshift32
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let ins = [0xA4, 0xB0, 0xD6, 0xB2, 0xDC, 0xA2, 0xF2, 0x32, 0x88, 0x00];
    for i in 0..20_000 {
        let r = next();
        let cla = if r & 1 == 0 { 0x00 } else { 0x80 };
        let len = (next() % 24) as usize;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let mut cmd = Command::with_data(
            cla,
            ins[(r as usize >> 1) % ins.len()],
            if next() % 4 == 0 { 0 } else { next() as u8 },
            next() as u8,
            data,
        );
        if next() % 2 == 0 {
            cmd.le = Some((next() % 257) as usize);
        }
        if i % 50 == 0 {
            c.sel = Selection::new();
            c.select_usim();
        }
        let _ = c.uicc.execute(&mut c.session, &mut c.sel, &cmd);
    }
    serde_json::to_string(&c.uicc).unwrap();
}

#[test]
fn authenticate_is_routed_to_the_usim_only() {
    let mut c = Card::new(PROFILES[2]);
    // 3G context (P2 81): RAND and AUTN, 16 bytes each (TS 31.102 §7.1.2).
    let auth = format!("0088008122 10{} 10{}", "00".repeat(16), "11".repeat(16)).replace(' ', "");
    assert_eq!(c.tx(&auth), Err(StatusWord::CONDITIONS_NOT_SATISFIED));
    c.ok("00A4040407A0000000871004");
    assert_eq!(c.tx(&auth), Err(StatusWord::CONDITIONS_NOT_SATISFIED));
    c.select_usim();
    let r = c.tx(&auth);
    assert!(
        !matches!(
            r,
            Err(StatusWord::CONDITIONS_NOT_SATISFIED | StatusWord::INS_NOT_SUPPORTED)
        ),
        "{r:?}"
    );
}

#[test]
fn build_errors() {
    use saip::{PeType, ProfilePackage};
    use uicc::fs::FsError;
    let pkg = package(PROFILES[2]);
    let raw = |t: PeType| {
        pkg.elements()
            .iter()
            .find(|e| e.pe_type() == t)
            .unwrap()
            .raw()
            .to_vec()
    };
    // A PE-USIM without the PE-MF before it.
    let der = [raw(PeType::Header), raw(PeType::Usim)].concat();
    let p = ProfilePackage::parse(&der).unwrap();
    assert_eq!(UiccFs::from_package(&p), Err(FsError::NoMf));
    // An optional USIM template without a USIM ADF.
    let der = [raw(PeType::Header), raw(PeType::Mf), raw(PeType::OptUsim)].concat();
    let p = ProfilePackage::parse(&der).unwrap();
    assert_eq!(UiccFs::from_package(&p), Err(FsError::NoAdf("USIM")));
    // An unknown template OID (2.23.143.1.2.3 -> 2.23.143.1.2.127).
    let telecom = raw(PeType::Telecom);
    let oid = h("0667810F010203");
    let at = telecom.windows(oid.len()).position(|w| w == oid).unwrap();
    let mut bad = telecom.clone();
    bad[at + oid.len() - 1] = 0x7F;
    let der = [raw(PeType::Header), raw(PeType::Mf), bad].concat();
    let p = ProfilePackage::parse(&der).unwrap();
    assert_eq!(
        UiccFs::from_package(&p),
        Err(FsError::UnknownTemplate("2.23.143.1.2.127".into()))
    );
    // The same PE-MF twice.
    let der = [raw(PeType::Header), raw(PeType::Mf), raw(PeType::Mf)].concat();
    let p = ProfilePackage::parse(&der).unwrap();
    assert!(UiccFs::from_package(&p).is_err());
}

/// Corrupted packages that still parse never make the builder panic.
#[test]
fn no_panic_on_corrupted_packages() {
    let der = std::fs::read(format!("{DIR}{}", PROFILES[4])).unwrap();
    let mut x: u32 = 0x9E37_79B9;
    let mut built = 0;
    for _ in 0..3000 {
        let mut d = der.clone();
        for _ in 0..3 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let i = x as usize % d.len();
            d[i] ^= (x >> 8) as u8 | 1;
        }
        if let Ok(p) = saip::ProfilePackage::parse(&d) {
            if let Ok(fs) = UiccFs::from_package(&p) {
                built += 1;
                assert!(fs.node(MF).is_some());
            }
        }
    }
    assert!(built > 0);
}

/// Files that PE-GenericFileManagement creates, and a link file sharing their content.
#[test]
fn gfm_files_and_links_through_apdus() {
    let mut c = Card::new(PROFILES[2]);
    // MF/7F66/5F40/4F41, created and filled by GenericFileManagement.
    c.ok("00A40804067F665F404F41");
    let content = c.ok("00B0000020");
    assert_eq!(&content[..6], &h("06013c1e3c1e")[..]);
    // ADF.USIM/7F66/5F40/4F41 links to it (linkPath 7F665F404F41).
    c.select_usim();
    c.ok("00A40804067FFF7F665F40");
    let fcp = c.ok("00A40004024F41");
    assert!(
        fcp.windows(4).any(|w| w == h("80020020")),
        "size of the target"
    );
    assert_eq!(c.ok("00B0000020"), content);
    // An update through the link is seen at the target.
    c.ok(&format!("002000 0A08{}", hex::encode(ADM1)));
    c.ok("00D6000002AAAA");
    c.ok("00A40804067F665F404F41");
    assert_eq!(&c.ok("00B0000002")[..], &[0xAA, 0xAA]);
}
