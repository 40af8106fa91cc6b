//! The SMPP ↔ TS 23.040 / TS 31.115 mappings.

use ota::ts23040::{Address, Scts, DCS_8BIT_CLASS2_GENERAL};
use smpp::sms::{self, OtaSubmit};
use smpp::{CommandStatus, SmeAddress, SubmitSm};

fn ota_submit() -> OtaSubmit {
    OtaSubmit::new(
        SmeAddress::new(1, 1, "12345"),
        SmeAddress::new(1, 1, "+491700000001"),
    )
}

#[test]
fn single_command_packet() {
    // TS 31.115 §4.2: one short message, UDH '02 70 00' (IEI 70 length 0) before the packet.
    let packet = [0x00, 0x0D, 0x0D, 0x16, 0x39, 0x15, 0x15];
    let sms = ota_submit().command_packet(&packet, 1).expect("frames");
    assert_eq!(sms.len(), 1);
    let sm = &sms[0];
    assert_eq!(
        (sm.esm_class, sm.protocol_id, sm.data_coding),
        (0x40, 0x7F, 0xF6)
    );
    assert_eq!(
        sm.short_message,
        [&[0x02, 0x70, 0x00][..], &packet].concat()
    );
    assert!(sm.tlvs.is_empty());
}

#[test]
fn segmented_command_packet_with_general_group_dcs() {
    let mut o = ota_submit();
    o.data_coding = DCS_8BIT_CLASS2_GENERAL;
    let packet = vec![0xAB; 390];
    let sms = o.command_packet(&packet, 0x1234).expect("frames");
    assert_eq!(sms.len(), 3);
    for sm in &sms {
        assert_eq!(sm.data_coding, 0x16);
        assert!(sm.udhi());
        assert!(sm.short_message.len() <= 140);
    }
    // First segment: IE 70 then the 16-bit concatenation IE 08 (reference above 255).
    assert_eq!(
        sms[0].short_message[..9],
        [0x08, 0x70, 0x00, 0x08, 0x04, 0x12, 0x34, 0x03, 0x01]
    );
    // The mobile station's view reassembles to the packet.
    let uds: Vec<_> = sms
        .iter()
        .map(|sm| {
            sms::sms_deliver(sm, Scts([0; 7]))
                .expect("deliver")
                .user_data
        })
        .collect();
    assert_eq!(
        ota::ts31115::command_from_segments(&uds).expect("joins"),
        packet
    );
}

#[test]
fn sms_deliver_fields() {
    let sm =
        ota_submit().submits(&[ota::ts23040::UserData::eight_bit(vec![2, 0x70, 0]).expect("ud")]);
    let d = sms::sms_deliver(&sm[0], Scts([0x52, 0x10, 0x10, 0x21, 0x43, 0x65, 0x00]))
        .expect("deliver");
    assert_eq!(
        d.originating_address,
        Address::digits(1, 1, "12345").expect("addr")
    );
    assert!(d.udhi);
    // The whole TPDU encodes (TS 23.040 §9.2.2.1).
    let tpdu = d.encode().expect("tpdu");
    assert_eq!(tpdu[0] & 0x43, 0x40, "SMS-DELIVER with TP-UDHI");
}

#[test]
fn gsm7_and_alphanumeric_are_refused() {
    let sm = SubmitSm {
        source: SmeAddress::new(1, 1, "12345"),
        data_coding: 0x00,
        short_message: b"hello".to_vec(),
        ..SubmitSm::default()
    };
    let e = sms::user_data(&sm).expect_err("7-bit");
    assert_eq!(e.command_status(), CommandStatus::ESME_RSYSERR);
    let sm = SubmitSm {
        source: SmeAddress::new(5, 0, "OTA"),
        data_coding: 0xF6,
        ..SubmitSm::default()
    };
    assert!(sms::sms_deliver(&sm, Scts([0; 7])).is_err());
}

#[test]
fn mobile_originated_por_to_deliver_sm() {
    let por = vec![0x02, 0x71, 0x00, 0x00, 0x03, 0xAA, 0xBB, 0xCC];
    let submit = ota::ts31115::por_submit(
        Address::digits(1, 1, "12345").expect("addr"),
        3,
        por.clone(),
    )
    .expect("submit");
    let d = sms::deliver_sm(&SmeAddress::new(1, 1, "491700000001"), &submit).expect("deliver_sm");
    assert_eq!(d.destination, SmeAddress::new(1, 1, "12345"));
    assert_eq!(
        (d.esm_class, d.protocol_id, d.data_coding),
        (0x40, 0x7F, 0xF6)
    );
    assert_eq!(sms::por_user_data(&d), Some(&por[..]));
    let mut plain = d.clone();
    plain.esm_class = 0;
    assert_eq!(sms::por_user_data(&plain), None);
}
