//! Known-answer tests for the PDU codec.
//!
//! Vectors marked "cloudhopper" are the hex PDUs of twitter-archive/cloudhopper-smpp,
//! src/test/java/com/cloudhopper/smpp/transcoder/PduEncoderTest.java and PduDecoderTest.java
//! (captured from production SMSCs, per their comments). Vectors marked "smpplib" are the
//! deliver_sm PDUs of python-smpplib, smpplib/tests/test_command.py. Layouts per SMPP v3.4
//! Issue 1.2 §4.

use smpp::pdu::{message_state, tag};
use smpp::{Bind, BindResp, Body, CommandStatus, Pdu, SmResp, SmeAddress, SubmitSm, Tlv};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test hex")
}

/// Decode, compare, and check that encoding gives the same octets back.
fn kat(hex_pdu: &str, expected: &Pdu) {
    let bytes = h(hex_pdu);
    let pdu = Pdu::decode(&bytes).expect("decodes");
    assert_eq!(&pdu, expected);
    assert_eq!(
        pdu.encode().expect("encodes"),
        bytes,
        "re-encoding {hex_pdu}"
    );
}

fn with_status(seq: u32, status: u32, body: Body) -> Pdu {
    Pdu {
        command_status: CommandStatus(status),
        sequence_number: seq,
        body,
    }
}

#[test]
fn cloudhopper_header_only_pdus() {
    kat(
        "0000001000000015000000000a342ee7",
        &Pdu::new(171192039, Body::EnquireLink),
    );
    kat(
        "0000001080000015000000000a342eed",
        &Pdu::new(171192045, Body::EnquireLinkResp),
    );
    kat(
        "00000010000000060000000000000001",
        &Pdu::new(1, Body::Unbind),
    );
    kat(
        "00000010800000060000000000000001",
        &Pdu::new(1, Body::UnbindResp),
    );
    // generic_nack with ESME_RINVMSGLEN.
    kat(
        "00000010800000000000000100082a77",
        &Pdu::generic_nack(535159, CommandStatus::ESME_RINVMSGLEN),
    );
    // enquire_link with the largest sequence_number (PduDecoderTest.decodeMaxSequenceNumber).
    kat(
        "0000001000000015000000007fffffff",
        &Pdu::new(0x7fff_ffff, Body::EnquireLink),
    );
}

#[test]
fn cloudhopper_submit_and_deliver_resp() {
    let id = |s: &str| SmResp {
        message_id: s.to_string(),
    };
    kat(
        "0000001c80000004000000000a342ee1393432353834333135393400",
        &Pdu::new(171192033, Body::SubmitSmResp(id("94258431594"))),
    );
    kat(
        "0000001180000004000000000a342ee100",
        &Pdu::new(171192033, Body::SubmitSmResp(id(""))),
    );
    // Non-zero status: the body is omitted (encodeSubmitSmRespWithOmittedMesageId).
    kat(
        "0000001080000004000000300a342ee1",
        &with_status(171192033, 0x30, Body::SubmitSmResp(id(""))),
    );
    kat(
        "0000001c800000050000000000116ac7393432353834333135393400",
        &Pdu::new(1141447, Body::DeliverSmResp(id("94258431594"))),
    );
    // A body-less submit_sm_resp with ESME_ROK is accepted as an empty message_id
    // (decodeSubmitSmRespWithNoMessageId).
    let p = Pdu::decode(&h("0000001080000004000000000a342ee1")).expect("decodes");
    assert_eq!(p.body, Body::SubmitSmResp(id("")));
}

#[test]
fn cloudhopper_binds() {
    let bind = |id: &str, ton: u8, npi: u8| Bind {
        system_id: id.to_string(),
        password: id.to_string(),
        addr_ton: ton,
        addr_npi: npi,
        ..Bind::default()
    };
    kat(
        "00000023000000090000000000039951414c4c5f545700414c4c5f5457000034010200",
        &Pdu::new(235857, Body::BindTransceiver(bind("ALL_TW", 1, 2))),
    );
    kat(
        "0000002500000002000000000003995f747769747465720074776974746572000034000000",
        &Pdu::new(235871, Body::BindTransmitter(bind("twitter", 0, 0))),
    );
    kat(
        "00000025000000010000000000039961747769747465720074776974746572000034000000",
        &Pdu::new(235873, Body::BindReceiver(bind("twitter", 0, 0))),
    );
    let resp = |id: &str, tlv: bool| BindResp {
        system_id: id.to_string(),
        tlvs: if tlv {
            vec![Tlv::new(tag::SC_INTERFACE_VERSION, [0x34])]
        } else {
            vec![]
        },
    };
    kat(
        "0000001f800000090000000000039951536d73632053696d756c61746f7200",
        &Pdu::new(
            235857,
            Body::BindTransceiverResp(resp("Smsc Simulator", false)),
        ),
    );
    kat(
        "00000015800000090000000e00004db3534d534300",
        &with_status(19891, 0x0e, Body::BindTransceiverResp(resp("SMSC", false))),
    );
    kat(
        "0000001d800000090000000000039943536d7363204757000210000134",
        &Pdu::new(235843, Body::BindTransceiverResp(resp("Smsc GW", true))),
    );
    kat(
        "0000001d80000002000000000003995f54574954544552000210000134",
        &Pdu::new(235871, Body::BindTransmitterResp(resp("TWITTER", true))),
    );
    kat(
        "0000001d80000001000000000003996274776974746572000210000134",
        &Pdu::new(235874, Body::BindReceiverResp(resp("twitter", true))),
    );
}

#[test]
fn cloudhopper_submit_sm() {
    let sm = SubmitSm {
        source: SmeAddress::new(1, 1, "40404"),
        destination: SmeAddress::new(1, 1, "44951361920"),
        registered_delivery: 1,
        short_message: h("4024232125262f3a"),
        ..SubmitSm::default()
    };
    kat(
        "00000039000000040000000000004FE80001013430343034000101343439353133363139323000000000000001000000084024232125262F3A",
        &Pdu::new(20456, Body::SubmitSm(sm)),
    );
}

#[test]
fn cloudhopper_deliver_sm() {
    let sm = SubmitSm {
        source: SmeAddress::new(2, 1, "87654321"),
        destination: SmeAddress::new(4, 9, "40404"),
        short_message: h("4024232125262f3a"),
        tlvs: vec![
            Tlv::new(tag::SOURCE_NETWORK_TYPE, [1]),
            Tlv::new(tag::DEST_NETWORK_TYPE, [1]),
        ],
        ..SubmitSm::default()
    };
    kat(
        "000000400000000500000000000000030002013837363534333231000409343034303400000000000000000000084024232125262F3A000E0001010006000101",
        &Pdu::new(3, Body::DeliverSm(sm)),
    );
}

#[test]
fn cloudhopper_delivery_receipt() {
    let bytes = h("000000BA00000005000000000000000200010134343935313336313932300001013430343034000400000000000000006E69643A30303539313133393738207375623A30303120646C7672643A303031207375626D697420646174653A3130303231303137333020646F6E6520646174653A3130303231303137333120737461743A44454C49565244206572723A30303020746578743A4024232125262F3A000E0001010006000101001E000833383630316661000427000102");
    let pdu = Pdu::decode(&bytes).expect("decodes");
    let Body::DeliverSm(sm) = &pdu.body else {
        panic!("not a deliver_sm: {pdu:?}");
    };
    assert_eq!(pdu.sequence_number, 2);
    assert_eq!(sm.source, SmeAddress::new(1, 1, "44951361920"));
    assert_eq!(sm.esm_class, smpp::pdu::ESM_CLASS_DELIVERY_RECEIPT);
    assert_eq!(sm.short_message.len(), 110);
    assert_eq!(sm.tlvs.len(), 4);
    assert_eq!(sm.receipted_message_id().as_deref(), Some("38601fa"));
    assert_eq!(sm.message_state(), Some(message_state::DELIVERED));
    assert_eq!(pdu.encode().expect("encodes"), bytes);
}

#[test]
fn cloudhopper_deliver_sm_with_message_payload() {
    let bytes = h("000000640000000500000000000547EB0002013434393531333631393200040934303430340000000000000000000000000E000101000600010104240026404D616964656E6D616E363634207761732069742073617070793F2026526F6D616E7469633F");
    let pdu = Pdu::decode(&bytes).expect("decodes");
    let Body::DeliverSm(sm) = &pdu.body else {
        panic!("not a deliver_sm");
    };
    assert_eq!(pdu.sequence_number, 346091);
    assert!(sm.short_message.is_empty());
    assert_eq!(sm.payload(), b"@Maidenman664 was it sappy? &Romantic?");
    assert_eq!(pdu.encode().expect("encodes"), bytes);
}

#[test]
fn smpplib_deliver_sm_receipt_with_payload() {
    let bytes = h("000000cb000000050000000000000001000101333136303030303030303000050058585820595959590004000000000000000000000e0001010006000101001e000931643330356234630004270001020424007269643a30343839373038333634207375623a30303120646c7672643a303031207375626d697420646174653a3138313031353139303720646f6e6520646174653a3138313031353139303720737461743a44454c49565244206572723a30303020746578743a041f044004380432043504420426000101");
    let pdu = Pdu::decode(&bytes).expect("decodes");
    let Body::DeliverSm(sm) = &pdu.body else {
        panic!("not a deliver_sm");
    };
    assert_eq!(sm.source, SmeAddress::new(1, 1, "31600000000"));
    assert_eq!(sm.destination, SmeAddress::new(5, 0, "XXX YYYY"));
    assert_eq!(sm.receipted_message_id().as_deref(), Some("1d305b4c"));
    assert_eq!(sm.message_state(), Some(message_state::DELIVERED));
    assert_eq!(sm.user_message_reference(), None);
    assert_eq!(sm.message_payload().map(<[u8]>::len), Some(0x72));
    assert_eq!(pdu.encode().expect("encodes"), bytes);
}

#[test]
fn smpplib_unknown_tlvs_are_kept() {
    let bytes = h("000000a800000005000000002f70c69a0000003232353439393039303238000100000400000000000000006969643a373935393230303236207375623a30303120646c7672643a303031207375626d697420646174653a32303033313931333139313320646f6e6520646174653a32303033313931333139313320737461743a44454c49565244206572723a30303020746578743a14030007286e756c6c29001402000436313200");
    let pdu = Pdu::decode(&bytes).expect("decodes");
    let Body::DeliverSm(sm) = &pdu.body else {
        panic!("not a deliver_sm");
    };
    assert_eq!(
        sm.tlvs,
        vec![
            Tlv::new(0x1403, b"(null)\0".to_vec()),
            Tlv::new(0x1402, b"612\0".to_vec()),
        ]
    );
    assert_eq!(pdu.encode().expect("encodes"), bytes);
}

/// Hand-built from SMPP v3.4 §4.4.1 (field order) and TS 31.115 §4 / TS 23.040 §9.2.3.24
/// (UDH '02 70 00'): a submit_sm carrying a one-segment secured packet, esm_class 0x40,
/// protocol_id 0x7F, data_coding 0xF6, user_message_reference 7.
#[test]
fn hand_built_ota_submit_sm() {
    let mut sm = SubmitSm {
        source: SmeAddress::new(1, 1, "12345"),
        destination: SmeAddress::new(1, 1, "491700000001"),
        esm_class: 0x40,
        protocol_id: 0x7F,
        data_coding: 0xF6,
        short_message: h("027000000d0d00000000000000000000"),
        ..SubmitSm::default()
    };
    sm.set_user_message_reference(7);
    let expected = concat!(
        "00000048",
        "00000004",
        "00000000",
        "00000001", // header
        "00",       // service_type
        "0101",
        "313233343500", // source
        "0101",
        "34393137303030303030303100", // destination
        "40",
        "7f",
        "00",
        "00",
        "00", // esm_class .. validity_period
        "00",
        "00",
        "f6",
        "00", // registered_delivery .. sm_default_msg_id
        "10",
        "027000000d0d00000000000000000000", // sm_length, short_message
        "020400020007",                     // user_message_reference
    );
    kat(expected, &Pdu::new(1, Body::SubmitSm(sm)));
}

/// A submit_sm/deliver_sm with every mandatory field empty or zero, `sm_length` as given (no
/// short_message octets) and `tail` appended.
fn minimal_sm(command: u8, tail: &str, sm_length: u8) -> Vec<u8> {
    let mut b = h("00000000000000");
    b.push(command);
    b.extend(h("0000000000000001"));
    b.extend([0u8; 16]);
    b.push(sm_length);
    b.extend(h(tail));
    let len = b.len() as u32;
    b.get_mut(..4)
        .expect("len")
        .copy_from_slice(&len.to_be_bytes());
    b
}

#[test]
fn decode_errors_map_to_command_status() {
    // Unknown command_id: generic_nack ESME_RINVCMDID (cloudhopper decodeUnsupportedRequestCommandId).
    let e = Pdu::decode(&h("0000001000000110000000000a342ee7")).expect_err("unknown id");
    let r = e.reply().expect("reply");
    assert_eq!(
        r,
        Pdu::generic_nack(0x0a342ee7, CommandStatus::ESME_RINVCMDID)
    );
    // destination_addr without its NUL in 21 octets: submit_sm_resp ESME_RINVDSTADR.
    let mut b = h("0000000000000004000000000000002a00010131000101");
    b.extend_from_slice(&[b'9'; 25]);
    b.extend_from_slice(&[0; 12]);
    let len = b.len() as u32;
    b.get_mut(..4)
        .expect("len")
        .copy_from_slice(&len.to_be_bytes());
    let e = Pdu::decode(&b).expect_err("long address");
    let r = e.reply().expect("reply");
    assert_eq!(r.command_status, CommandStatus::ESME_RINVDSTADR);
    assert_eq!(r.body, Body::SubmitSmResp(SmResp::default()));
    assert_eq!(
        r.encode().expect("enc"),
        h("00000010800000040000000b0000002a")
    );
    // sm_length beyond the PDU: ESME_RINVMSGLEN.
    let e = Pdu::decode(&minimal_sm(0x04, "", 5)).expect_err("sm_length");
    assert_eq!(e.error.command_status(), CommandStatus::ESME_RINVMSGLEN);
    // A TLV cut short: ESME_RINVOPTPARSTREAM; a known TLV with a wrong length: ESME_RINVPARLEN.
    for (tail, status) in [
        ("0424", CommandStatus::ESME_RINVOPTPARSTREAM),
        ("04240005aa", CommandStatus::ESME_RINVOPTPARSTREAM),
        ("0204000101", CommandStatus::ESME_RINVPARLEN),
    ] {
        let e = Pdu::decode(&minimal_sm(0x05, tail, 0)).expect_err(tail);
        assert_eq!(e.error.command_status(), status, "{tail}");
    }
    // An unbind with a body: ESME_RINVCMDLEN.
    let e = Pdu::decode(&h("000000110000000600000000000000010a")).expect_err("unbind body");
    assert_eq!(
        e.reply().expect("reply").command_status,
        CommandStatus::ESME_RINVCMDLEN
    );
    // A malformed response body is not answered (cloudhopper
    // decodeSubmitSmRespWithNoNullByteForMessageId); a wrong command_length is nacked.
    let e = Pdu::decode(&h("0000001180000004000000000a342ee139")).expect_err("no NUL");
    assert!(e.reply().is_none());
    let e = Pdu::decode(&h("00000011800000150000000000000001ff")).expect_err("resp body");
    assert_eq!(e.reply().expect("nack").body, Body::GenericNack);
    // Bad schedule_delivery_time: ESME_RINVSCHED.
    let sm = SubmitSm {
        schedule_delivery_time: "2501011200000".to_string(),
        ..SubmitSm::default()
    };
    let err = Pdu::new(1, Body::SubmitSm(sm))
        .encode()
        .expect_err("bad time");
    assert_eq!(err.command_status(), CommandStatus::ESME_RINVSCHED);
}

#[test]
fn status_names() {
    assert_eq!(CommandStatus::ESME_RTHROTTLED.0, 0x58);
    assert_eq!(CommandStatus::ESME_RX_T_APPN.name(), Some("ESME_RX_T_APPN"));
    assert_eq!(
        CommandStatus(0x58).to_string(),
        "ESME_RTHROTTLED (0x00000058)"
    );
    assert_eq!(CommandStatus(0x4242).name(), None);
}
