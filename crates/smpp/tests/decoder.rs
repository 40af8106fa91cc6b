//! The streaming frame decoder and PDU decoder on partial, concatenated and hostile input.

use proptest::prelude::*;
use smpp::frame::FrameDecoder;
use smpp::pdu::tag;
use smpp::{Bind, Body, CommandStatus, Pdu, SmeAddress, SubmitSm, Tlv};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test hex")
}

#[test]
fn waits_for_complete_header_and_body() {
    // cloudhopper PduDecoderTest: decodeLessThan4Bytes / decodeOnly4Bytes / decodeLessThan16Bytes.
    for partial in ["000000", "00000010", "0000001000000015000000000a342e"] {
        let mut d = FrameDecoder::default();
        d.push(&h(partial));
        assert_eq!(d.next_frame(), Ok(None), "{partial}");
        assert_eq!(d.buffered(), partial.len() / 2);
    }
}

#[test]
fn two_pdus_with_a_read_in_between() {
    // cloudhopper PduDecoderTest.decodeTwoEnquireLinkRespButWithReadRequiredInBetween.
    let mut d = FrameDecoder::default();
    d.push(&h(
        "0000001080000015000000000a342eed0000001080000015000000000a342e",
    ));
    let f = d.next_frame().expect("ok").expect("first frame");
    assert_eq!(Pdu::decode(&f).expect("pdu").sequence_number, 171192045);
    assert_eq!(d.next_frame(), Ok(None));
    assert_eq!(d.buffered(), 15);
    d.push(&h("f1"));
    let f = d.next_frame().expect("ok").expect("second frame");
    let p = Pdu::decode(&f).expect("pdu");
    assert_eq!(p, Pdu::new(171192049, Body::EnquireLinkResp));
    assert_eq!(d.next_frame(), Ok(None));
    assert_eq!(d.buffered(), 0);
}

#[test]
fn byte_by_byte_and_many_in_one_buffer() {
    let pdus: Vec<Pdu> = (1..=5)
        .map(|i| Pdu::new(i, Body::EnquireLink))
        .chain([Pdu::new(
            9,
            Body::BindTransmitter(Bind {
                system_id: "ota".into(),
                password: "secret".into(),
                ..Bind::default()
            }),
        )])
        .collect();
    let stream: Vec<u8> = pdus
        .iter()
        .flat_map(|p| p.encode().expect("encode"))
        .collect();
    // One push.
    let mut d = FrameDecoder::default();
    d.push(&stream);
    let mut got = Vec::new();
    while let Some(f) = d.next_frame().expect("framing") {
        got.push(Pdu::decode(&f).expect("pdu"));
    }
    assert_eq!(got, pdus);
    // One octet at a time.
    let mut d = FrameDecoder::default();
    let mut got = Vec::new();
    for b in &stream {
        d.push(std::slice::from_ref(b));
        while let Some(f) = d.next_frame().expect("framing") {
            got.push(Pdu::decode(&f).expect("pdu"));
        }
    }
    assert_eq!(got, pdus);
}

#[test]
fn command_length_limits_give_generic_nack_rinvcmdlen() {
    // cloudhopper PduDecoderTest.decodeSignedIntLength: command_length 0xF0000011.
    let mut d = FrameDecoder::default();
    d.push(&h("F000001100000110000000000a342ee7"));
    let e = d.next_frame().expect_err("too long");
    assert_eq!(
        e.reply(),
        Pdu::generic_nack(0x0a342ee7, CommandStatus::ESME_RINVCMDLEN)
    );
    assert_eq!(
        e.reply().encode().expect("enc"),
        h("0000001080000000000000020a342ee7")
    );
    // The decoder stays failed: the stream has lost its framing.
    d.push(&h("0000001000000015000000000a342ee7"));
    assert!(d.next_frame().is_err());
    // command_length below the header size.
    let mut d = FrameDecoder::default();
    d.push(&h("0000000c00000015000000000a342ee7"));
    assert!(d.next_frame().is_err());
    // A configured limit.
    let mut d = FrameDecoder::new(64);
    d.push(&h("0000004100000004"));
    assert_eq!(d.next_frame(), Ok(None), "waits for the sequence_number");
    d.push(&h("0000000000000007"));
    assert_eq!(d.next_frame().expect_err("limit").sequence_number, Some(7));
}

fn latin1_text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(1u8..=255, 0..max)
        .prop_map(|v| v.into_iter().map(char::from).collect())
}

fn time_field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        ("[0-9]{15}", prop_oneof![Just('+'), Just('-'), Just('R')])
            .prop_map(|(d, p)| format!("{d}{p}")),
    ]
}

prop_compose! {
    fn submit_sm()(
        service_type in latin1_text(6),
        src in (any::<u8>(), any::<u8>(), latin1_text(21)),
        dst in (any::<u8>(), any::<u8>(), latin1_text(21)),
        flags in any::<[u8; 8]>(),
        sched in time_field(),
        validity in time_field(),
        short_message in proptest::collection::vec(any::<u8>(), 0..=254),
        payload in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        umr in proptest::option::of(any::<u16>()),
        unknown in proptest::collection::vec((0x1400u16..0x1500, proptest::collection::vec(any::<u8>(), 0..20)), 0..3),
    ) -> SubmitSm {
        let [esm_class, protocol_id, priority_flag, registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id, _] = flags;
        let mut sm = SubmitSm {
            service_type,
            source: SmeAddress { ton: src.0, npi: src.1, addr: src.2 },
            destination: SmeAddress { ton: dst.0, npi: dst.1, addr: dst.2 },
            esm_class, protocol_id, priority_flag,
            schedule_delivery_time: sched,
            validity_period: validity,
            registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id,
            short_message,
            tlvs: unknown.into_iter().map(|(t, v)| Tlv::new(t, v)).collect(),
        };
        if let Some(p) = payload { sm.set_tlv(Tlv::new(tag::MESSAGE_PAYLOAD, p)); }
        if let Some(u) = umr { sm.set_user_message_reference(u); }
        sm
    }
}

fn fits(s: &str, max_with_nul: usize) -> bool {
    s.chars().count() < max_with_nul
}

proptest! {
    #[test]
    fn submit_sm_round_trips(sm in submit_sm(), seq in 1u32..0x8000_0000, deliver in any::<bool>()) {
        let body = if deliver { Body::DeliverSm(sm.clone()) } else { Body::SubmitSm(sm.clone()) };
        let pdu = Pdu::new(seq, body);
        let encodable = fits(&sm.service_type, 6) && fits(&sm.source.addr, 21) && fits(&sm.destination.addr, 21);
        match pdu.encode() {
            Ok(bytes) => {
                prop_assert!(encodable);
                prop_assert_eq!(Pdu::decode(&bytes).expect("decodes"), pdu);
            }
            Err(e) => {
                prop_assert!(!encodable);
                prop_assert!(!e.command_status().is_ok());
            }
        }
    }

    #[test]
    fn decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600), cuts in proptest::collection::vec(1usize..64, 0..20)) {
        let mut d = FrameDecoder::new(4096);
        let mut rest = data.as_slice();
        for c in cuts.iter().chain(std::iter::once(&usize::MAX)) {
            let (now, later) = rest.split_at((*c).min(rest.len()));
            rest = later;
            d.push(now);
            loop {
                match d.next_frame() {
                    Ok(Some(f)) => {
                        if let Err(e) = Pdu::decode(&f) {
                            let _ = e.reply().map(|r| r.encode());
                        }
                    }
                    Ok(None) => break,
                    Err(e) => { let _ = e.reply().encode(); break; }
                }
            }
        }
    }

    #[test]
    fn pdu_decode_never_panics_on_framed_garbage(id in prop_oneof![Just(4u32), Just(5), Just(0x8000_0004), Just(9), Just(0x8000_0009), any::<u32>()], body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut b = Vec::new();
        b.extend(((body.len() + 16) as u32).to_be_bytes());
        b.extend(id.to_be_bytes());
        b.extend([0, 0, 0, 0, 0, 0, 0, 1]);
        b.extend(&body);
        match Pdu::decode(&b) {
            Ok(p) => {
                // Whatever decodes re-encodes to a PDU that decodes to the same value.
                if let Ok(again) = p.encode() {
                    prop_assert_eq!(Pdu::decode(&again).expect("re-decodes"), p);
                }
            }
            Err(e) => {
                prop_assert!(!e.error.command_status().is_ok());
                let _ = e.reply();
            }
        }
    }
}
