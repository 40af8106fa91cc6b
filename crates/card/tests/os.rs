//! ISO/IEC 7816-4 layer of the virtual eUICC: channels, SELECT, STORE DATA chaining, GET
//! RESPONSE, and status words for malformed input.

mod common;

use apdu::{Command, Response, StatusWord};
use common::*;

fn sw(resp: &[u8]) -> StatusWord {
    Response::parse(resp).unwrap().sw
}

#[test]
fn atr_has_valid_tck() {
    let mut card = new_card(card::CardState::new());
    let atr = card.reset();
    assert_eq!(atr[0], 0x3B);
    // ISO/IEC 7816-3 §8.2.5: XOR of T0..TCK is zero.
    assert_eq!(atr[1..].iter().fold(0u8, |a, b| a ^ b), 0);
}

#[test]
fn select_isdr_returns_fci() {
    let mut card = new_card(card::CardState::new());
    let mut sel = hex("00A4040010");
    sel.extend_from_slice(&apdu::ISD_R_AID);
    sel.push(0x00);
    let resp = Response::parse(&card.process(&sel)).unwrap();
    assert_eq!(resp.sw, StatusWord::OK);
    // 6F { 84 AID, A5 { 9F65 01 FF }, E0 { 82 03 020202 } }
    let fci = tlv::Tlv::parse_expecting(&resp.data, tlv::Tag(0x6F)).unwrap();
    assert_eq!(
        tlv::find(fci.value, tlv::Tag(0x84)).unwrap().unwrap().value,
        apdu::ISD_R_AID
    );
    assert_eq!(
        tlv::find(fci.value, tlv::Tag(0x82)).unwrap().unwrap().value,
        [2, 2, 2]
    );
    // Partial DF name (right-truncated AID) and "no response data" (P2 = 0C).
    let mut partial = hex("00A4040C09");
    partial.extend_from_slice(&apdu::ISD_R_AID[..9]);
    assert_eq!(card.process(&partial), [0x90, 0x00]);
    // Unknown AID and "next occurrence".
    assert_eq!(
        sw(&card.process(&hex("00A4040007A0000000871002"))),
        StatusWord::FILE_NOT_FOUND
    );
    let mut next = hex("00A4040210");
    next.extend_from_slice(&apdu::ISD_R_AID);
    assert_eq!(sw(&card.process(&next)), StatusWord::FILE_NOT_FOUND);
    // Selection by file identifier: no file system exposed.
    assert_eq!(
        sw(&card.process(&hex("00A40004023F00"))),
        StatusWord::FILE_NOT_FOUND
    );
    assert_eq!(
        sw(&card.process(&hex("00A4770002AAAA"))),
        StatusWord::INCORRECT_P1_P2
    );
    assert_eq!(
        sw(&card.process(&hex("00A4041002A000"))),
        StatusWord::INCORRECT_P1_P2
    );
}

#[test]
fn logical_channels() {
    let mut card = new_card(card::CardState::new());
    // MANAGE CHANNEL open: the card assigns 1, then 2.
    assert_eq!(card.process(&hex("0070000001")), [0x01, 0x90, 0x00]);
    assert_eq!(card.process(&hex("0070000001")), [0x02, 0x90, 0x00]);
    // Open a named channel (case 1), then again: refused.
    assert_eq!(card.process(&hex("00700005")), [0x90, 0x00]);
    assert_eq!(
        sw(&card.process(&hex("00700005"))),
        StatusWord::CONDITIONS_NOT_SATISFIED
    );
    assert_eq!(
        sw(&card.process(&hex("00700014"))),
        StatusWord::INCORRECT_P1_P2
    );
    // Select the ISD-R on channel 1 (CLA 01), GetEID over STORE DATA on CLA 81.
    let mut sel = hex("01A4040010");
    sel.extend_from_slice(&apdu::ISD_R_AID);
    assert_eq!(sw(&card.process(&sel)), StatusWord::OK);
    let eid = card.process(&hex("81E2910006BF3E035C015A"));
    assert_eq!(eid, hex("BF3E125A1089049032123451234512345678901235 9000"));
    // Channel 2 has nothing selected: STORE DATA is not an instruction it knows.
    assert_eq!(
        sw(&card.process(&hex("82E2910006BF3E035C015A"))),
        StatusWord::INS_NOT_SUPPORTED
    );
    // A channel opened from channel 1 inherits its selection.
    assert_eq!(card.process(&hex("0170000001")), [0x03, 0x90, 0x00]);
    assert_eq!(
        sw(&card.process(&hex("83E2910006BF3E035C015A"))),
        StatusWord::OK
    );
    // Channels 4..19 use the further interindustry class (CLA 4X / CX): open channel 7.
    assert_eq!(card.process(&hex("00700007")), [0x90, 0x00]);
    let mut sel7 = hex("43A4040010");
    sel7.extend_from_slice(&apdu::ISD_R_AID);
    assert_eq!(sw(&card.process(&sel7)), StatusWord::OK);
    assert_eq!(
        sw(&card.process(&hex("C3E2910006BF3E035C015A"))),
        StatusWord::OK
    );
    // Close channel 1 (on itself) and 7 (from the basic channel); then channel 1 is unknown.
    assert_eq!(card.process(&hex("01708000")), [0x90, 0x00]);
    assert_eq!(card.process(&hex("00708007")), [0x90, 0x00]);
    assert_eq!(
        sw(&card.process(&hex("81E2910006BF3E035C015A"))),
        StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED
    );
    assert_eq!(
        sw(&card.process(&hex("00708001"))),
        StatusWord::REFERENCED_DATA_NOT_FOUND
    );
    // The basic channel cannot be closed.
    assert_eq!(
        sw(&card.process(&hex("00708000"))),
        StatusWord::INCORRECT_P1_P2
    );
    assert_eq!(
        sw(&card.process(&hex("00704000"))),
        StatusWord::INCORRECT_P1_P2
    );
    // Fill all 19 channels, then no more.
    while card.process(&hex("0070000001")).len() == 3 {}
    assert_eq!(
        sw(&card.process(&hex("0070000001"))),
        StatusWord::FUNCTION_NOT_SUPPORTED
    );
    // Reset closes everything.
    card.reset();
    assert_eq!(
        sw(&card.process(&hex("02A4040010"))),
        StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED
    );
}

#[test]
fn class_and_instruction_errors() {
    let mut card = new_card(card::CardState::new());
    assert_eq!(
        sw(&card.process(&hex("A0A40000023F00"))),
        StatusWord::CLA_NOT_SUPPORTED
    ); // GSM class
    assert_eq!(
        sw(&card.process(&hex("20A4040000"))),
        StatusWord::CLA_NOT_SUPPORTED
    ); // RFU
    assert_eq!(
        sw(&card.process(&hex("FFA4040000"))),
        StatusWord::CLA_NOT_SUPPORTED
    );
    assert_eq!(
        sw(&card.process(&hex("0CA4040002A000"))),
        StatusWord::SECURE_MESSAGING_NOT_SUPPORTED
    );
    assert_eq!(
        sw(&card.process(&hex("84E2910003BF2E00"))),
        StatusWord::SECURE_MESSAGING_NOT_SUPPORTED
    );
    assert_eq!(
        sw(&card.process(&hex("10A4040002A000"))),
        StatusWord::CHAINING_NOT_SUPPORTED
    );
    assert_eq!(
        sw(&card.process(&hex("00B0000000"))),
        StatusWord::INS_NOT_SUPPORTED
    );
    // MANAGE CHANNEL is interindustry; STORE DATA is proprietary (GlobalPlatform).
    assert_eq!(
        sw(&card.process(&hex("8070000001"))),
        StatusWord::CLA_NOT_SUPPORTED
    );
    assert_eq!(
        sw(&card.process(&hex("00E2910003BF2E00"))),
        StatusWord::CLA_NOT_SUPPORTED
    );
    // Malformed APDUs.
    assert_eq!(sw(&card.process(&[])), StatusWord::WRONG_LENGTH);
    assert_eq!(sw(&card.process(&hex("80E2"))), StatusWord::WRONG_LENGTH);
    assert_eq!(
        sw(&card.process(&hex("80E2910005BF2E00"))),
        StatusWord::WRONG_LENGTH
    );
    assert_eq!(
        sw(&card.process(&hex("80E291000000"))),
        StatusWord::WRONG_LENGTH
    );
    // GET RESPONSE with nothing pending.
    assert_eq!(
        sw(&card.process(&hex("00C0000000"))),
        StatusWord::CONDITIONS_NOT_SATISFIED
    );
}

#[test]
fn store_data_chaining() {
    let mut card = new_card(card::CardState::new());
    let mut sel = hex("00A4040C10");
    sel.extend_from_slice(&apdu::ISD_R_AID);
    card.process(&sel);
    // GetEuiccData split into three blocks: BF3E | 03 5C | 01 5A.
    assert_eq!(card.process(&hex("80E2110002BF3E")), [0x90, 0x00]);
    assert_eq!(card.process(&hex("80E21101 02035C")), [0x90, 0x00]);
    let resp = card.process(&hex("80E29102 02015A"));
    assert_eq!(&resp[..4], &hex("BF3E125A"));
    // Out-of-order block number: 6A86, and the chain starts over.
    assert_eq!(card.process(&hex("80E2110002BF3E")), [0x90, 0x00]);
    assert_eq!(
        sw(&card.process(&hex("80E2910202035C"))),
        StatusWord::INCORRECT_P1_P2
    );
    assert_eq!(
        sw(&card.process(&hex("80E2910102035C"))),
        StatusWord::INCORRECT_P1_P2
    );
    // Wrong P1.
    assert_eq!(
        sw(&card.process(&hex("80E2900003BF2E00"))),
        StatusWord::INCORRECT_P1_P2
    );
    // A complete but malformed ES10 request: 6A80; an unknown function: 6A88.
    assert_eq!(
        sw(&card.process(&hex("80E2910003BF2E05"))),
        StatusWord::INCORRECT_DATA
    );
    assert_eq!(
        sw(&card.process(&hex("80E2910003BF7F00"))),
        StatusWord::REFERENCED_DATA_NOT_FOUND
    );
    // A BPP segment without a PrepareDownload session.
    assert_eq!(
        sw(&card.process(&hex("80E2910004BF360100"))),
        StatusWord::CONDITIONS_NOT_SATISFIED
    );
}

#[test]
fn long_responses_use_get_response() {
    let mut card = new_card(card::CardState::new());
    let ch = open_isdr(&mut card);
    // EUICCInfo2 with two CIs is longer than a 16-byte Le: the card returns 16 bytes + 61xx.
    let mut cmd = apdu::store_data_blocks(ch, &hex("BF2200"))
        .unwrap()
        .remove(0);
    cmd.le = Some(16);
    let first = Response::parse(&card.process(&cmd.encode().unwrap())).unwrap();
    assert_eq!(first.data.len(), 16);
    let more = first.sw.more_data().expect("61xx");
    // Fetch the rest (GET RESPONSE accepted in the proprietary class, as lpac sends it).
    let gr = Command::new(apdu::with_channel(0x80, ch).unwrap(), 0xC0, 0, 0).le(more);
    let rest = Response::parse(&card.process(&gr.encode().unwrap())).unwrap();
    assert_eq!(rest.sw, StatusWord::OK);
    let mut all = first.data.clone();
    all.extend_from_slice(&rest.data);
    let info2 = <rsp::es10b::EuiccInfo2 as rsp::Asn1>::decode(&all).unwrap();
    assert_eq!(info2.ci_pkid_list_for_verification.len(), 2);
    // The same through the LPA helper: identical bytes.
    assert_eq!(es10(&mut card, ch, &hex("BF2200")), all);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// Any APDU gets a response with a status word; the card never panics.
    #[test]
    fn random_apdus_never_panic(apdus in proptest::collection::vec(
        proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), 1..8)) {
        let mut card = new_card(card::CardState::new());
        let mut sel = hex("00A4040C10");
        sel.extend_from_slice(&apdu::ISD_R_AID);
        card.process(&sel);
        for a in apdus {
            let r = card.process(&a);
            proptest::prop_assert!(r.len() >= 2);
        }
    }

    /// Random ES10 payloads (framed as valid STORE DATA) never panic the ISD-R.
    #[test]
    fn random_es10_requests_never_panic(tag in proptest::sample::select(vec![
            0xBF20u32, 0xBF21, 0xBF22, 0xBF28, 0xBF29, 0xBF2B, 0xBF2D, 0xBF2E, 0xBF30, 0xBF31,
            0xBF32, 0xBF33, 0xBF34, 0xBF36, 0xBF38, 0xBF3C, 0xBF3E, 0xBF3F, 0xBF41, 0xBF43, 0xA0, 0x86]),
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        let mut card = new_card(card::CardState::new());
        let ch = open_isdr(&mut card);
        let req = tlv::encode_tlv(tlv::Tag(tag), &body);
        for c in apdu::store_data_blocks(ch, &req).unwrap() {
            let r = card.process(&c.encode().unwrap());
            proptest::prop_assert!(r.len() >= 2);
        }
    }
}
