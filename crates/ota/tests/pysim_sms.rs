//! Known-answer tests: every vector of osmocom pySim `tests/unittests/test_sms.py`
//! (`Test_SMS_UDH`, `Test_AddressField`, `Test_SUBMIT`, `Test_DELIVER`).

use ota::ts23040::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

// ---- Test_SMS_UDH ---------------------------------------------------------------------

#[test]
fn udh_single_ie() {
    let ud = h("027100");
    let (udh, tail) = UserDataHeader::decode(&ud).unwrap();
    assert_eq!(udh.ies, vec![InformationElement::new(0x71, &[])]);
    assert!(tail.is_empty());
}

#[test]
fn udh_single_ie_tail() {
    let ud = h("027100abcdef");
    let (udh, tail) = UserDataHeader::decode(&ud).unwrap();
    assert_eq!(udh.ies, vec![InformationElement::new(0x71, &[])]);
    assert_eq!(tail, h("abcdef"));
}

#[test]
fn udh_single_ie_value() {
    let ud = h("03710110");
    let (udh, tail) = UserDataHeader::decode(&ud).unwrap();
    assert_eq!(udh.ies, vec![InformationElement::new(0x71, &[0x10])]);
    assert!(tail.is_empty());
}

#[test]
fn udh_two_ie_data_tail() {
    let ud = h("0571007001ffabcd");
    let (udh, tail) = UserDataHeader::decode(&ud).unwrap();
    assert_eq!(
        udh.ies,
        vec![
            InformationElement::new(0x71, &[]),
            InformationElement::new(0x70, &[0xff])
        ]
    );
    assert_eq!(tail, h("abcd"));
}

#[test]
fn udh_to_bytes() {
    let ud = h("0571007001ff");
    let (udh, _) = UserDataHeader::decode(&ud).unwrap();
    assert_eq!(udh.encode().unwrap(), ud);
}

// ---- Test_AddressField ----------------------------------------------------------------

#[test]
fn address_from_bytes() {
    let enc = h("0480214399");
    let (a, trailer) = Address::decode(&enc).unwrap();
    assert_eq!(trailer, h("99"));
    assert_eq!((a.ton, a.npi), (0, 0));
    assert_eq!(a.value, AddressValue::Digits("1234".into()));
}

#[test]
fn address_from_bytes_odd() {
    let enc = h("038021f399");
    let (a, trailer) = Address::decode(&enc).unwrap();
    assert_eq!(trailer, h("99"));
    assert_eq!((a.ton, a.npi), (0, 0));
    assert_eq!(a.value, AddressValue::Digits("123".into()));
}

#[test]
fn address_to_bytes() {
    let enc = h("04802143");
    let (a, _) = Address::decode(&enc).unwrap();
    let mut out = Vec::new();
    a.encode(&mut out).unwrap();
    assert_eq!(out, enc);
}

#[test]
fn address_to_bytes_odd() {
    // AddressField('12345', 'international', 'isdn_e164')
    let a = Address::digits(1, 1, "12345").unwrap();
    let mut out = Vec::new();
    a.encode(&mut out).unwrap();
    assert_eq!(out, h("05912143f5"));
}

// ---- Test_SUBMIT ----------------------------------------------------------------------

#[test]
fn submit_from_bytes() {
    let enc = h("550d0b911614261771f000f5a78c0b050423f423f40003010201424547494e3a56434152440d0a56455253494f4e3a322e310d0a4e3a4d650d0a54454c3b505245463b43454c4c3b564f4943453a2b36313431363237313137300d0a54454c3b484f4d453b564f4943453a2b36313339353337303437310d0a54454c3b574f524b3b564f4943453a2b36313339363734373031350d0a454e443a");
    let s = SmsSubmit::decode(&enc).unwrap();
    assert!(s.reject_duplicates);
    assert_eq!(s.validity_period, ValidityPeriod::Relative(0xa7));
    assert!(!s.reply_path);
    assert!(s.udhi);
    assert!(!s.status_report_request);
    assert_eq!(s.pid, 0);
    assert_eq!(s.dcs, 0xf5);
    assert_eq!(s.user_data.udl, 140);
    assert_eq!(s.message_reference, 0x0d);
    assert_eq!(
        s.destination_address,
        Address::digits(1, 1, "61416271170").unwrap()
    );
    // The UDH: port addressing (IEI 05) and concatenation (IEI 00, ref 1, part 1 of 2).
    let (udh, rest) = s.user_data.split_header(s.udhi).unwrap();
    let udh = udh.unwrap();
    assert_eq!(udh.find(0x05).unwrap().data, h("23f423f4"));
    assert_eq!(
        udh.concat().unwrap(),
        Some(Concat {
            reference: 1,
            wide: false,
            total: 2,
            seq: 1
        })
    );
    assert!(rest.starts_with(b"BEGIN:VCARD"));
    // Re-encodes byte for byte.
    assert_eq!(s.encode().unwrap(), enc);
}

// ---- Test_DELIVER ---------------------------------------------------------------------

#[test]
fn deliver_from_bytes() {
    let enc = h("0408D0E5759A0E7FF6907090307513000824010101BB400101");
    let d = SmsDeliver::decode(&enc).unwrap();
    // TP-MMS bit set: no more messages waiting (pySim reports tp_mms=True).
    assert!(d.no_more_messages);
    assert!(!d.loop_prevention);
    assert!(!d.reply_path);
    assert!(!d.udhi);
    assert!(!d.status_report_indication);
    assert_eq!(d.pid, 0x7f);
    assert_eq!(d.dcs, 0xf6);
    assert_eq!(d.user_data.udl, 8);
    assert_eq!(d.originating_address.ton, TON_ALPHANUMERIC);
    assert_eq!(d.scts.fields(), [9, 7, 9, 3, 57, 31]);
    assert_eq!(d.scts.tz_quarters(), 0);
    assert_eq!(d.encode().unwrap(), enc);
}
