//! Property tests: no decoder panics on arbitrary bytes, and codecs round-trip.

use ota::ts23040::*;
use ota::*;
use proptest::prelude::*;

fn keys() -> (Kic, Kid, SecurityKeys) {
    (
        Kic::new(1, CipherAlgorithm::AesCbc),
        Kid::cc(1, CcAlgorithm::AesCmac),
        SecurityKeys {
            cipher: Some(CipherKey::new(CipherAlgorithm::AesCbc, &[1; 16]).unwrap()),
            cc: Some(CcKey::new(CcAlgorithm::AesCmac, &[2; 16]).unwrap()),
            implicit_rc: Some(RcAlgorithm::Crc32),
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), flag: bool) {
        let (kic, kid, k) = keys();
        let _ = receive_command(&bytes, |_| Ok(KeyLookup { keys: k.clone(), stored_counter: Counter::default() }));
        if let Ok(p) = CommandPacket::parse(&bytes) {
            let _ = p.open(&k);
            let _ = p.open(&SecurityKeys::default());
        }
        for sec in [PorSecurity::NONE, PorSecurity { ciphered: true, integrity: IntegrityType::Cc },
                    PorSecurity { ciphered: false, integrity: IntegrityType::Rc }] {
            let _ = parse_response(&bytes, sec, kic, kid, &k);
        }
        let _ = SmsDeliver::decode(&bytes);
        let _ = SmsSubmit::decode(&bytes);
        let _ = SmsDeliverReport::decode(&bytes, flag);
        let _ = SmsSubmitReport::decode(&bytes, flag);
        let _ = Address::decode(&bytes);
        if let Ok((h, _)) = UserDataHeader::decode(&bytes) {
            let _ = h.concat();
            let _ = h.encode();
        }
        let _ = ota::ts31115::command_from_user_data(&bytes);
        let ud = UserData { udl: bytes.len().min(140) as u8, octets: bytes.iter().copied().take(140).collect() };
        let _ = ota::ts31115::command_from_segments(&[ud.clone(), ud.clone()]);
        let _ = ota::ts31115::response_from_segments(&[ud.clone(), ud]);
        let _ = ota::ts31115::response_user_data(&bytes, 1);
        if bytes.len() >= 2 {
            let _ = Spi::from_bytes([bytes[0], bytes[1]]);
        }
    }

    #[test]
    fn tampered_packets_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200),
                                    pos: usize, xor in 1u8..) {
        let (kic, kid, k) = keys();
        let spi = Spi::from_bytes([0x16, 0x39]).unwrap();
        let hdr = CommandHeader { spi, kic, kid, tar: [1, 2, 3], counter: Counter::new(1).unwrap() };
        let mut pkt = build_command(&hdr, &k, &data).unwrap();
        let opened = CommandPacket::parse(&pkt).unwrap().open(&k).unwrap();
        prop_assert_eq!(&opened.data, &data);
        let i = pos % pkt.len();
        pkt[i] ^= xor;
        let r = receive_command(&pkt, |_| Ok(KeyLookup { keys: k.clone(), stored_counter: Counter::default() }));
        prop_assert!(r.is_err());
    }

    #[test]
    fn segmentation_round_trips(payload in proptest::collection::vec(any::<u8>(), 0..3000), reference: u16) {
        let uds = ota::ts31115::command_user_data(&payload, reference).unwrap();
        for ud in &uds {
            prop_assert!(ud.octets.len() <= 140);
        }
        let back = if uds.len() == 1 {
            ota::ts31115::command_from_user_data(&uds[0].octets).unwrap().to_vec()
        } else {
            let mut rev = uds.clone();
            rev.reverse();
            ota::ts31115::command_from_segments(&rev).unwrap()
        };
        prop_assert_eq!(back, payload);
    }

    #[test]
    fn deliver_round_trips(digits in "[0-9*#]{0,20}", ton in 0u8..5, npi in 0u8..16,
                           ud in proptest::collection::vec(any::<u8>(), 0..140), scts: [u8; 7]) {
        let d = SmsDeliver {
            no_more_messages: true, loop_prevention: false, status_report_indication: true,
            udhi: false, reply_path: false,
            originating_address: Address::digits(ton, npi, &digits).unwrap(),
            pid: 0x7F, dcs: 0xF6, scts: Scts(scts),
            user_data: UserData::eight_bit(ud).unwrap(),
        };
        let enc = d.encode().unwrap();
        prop_assert_eq!(SmsDeliver::decode(&enc).unwrap(), d);
    }
}

/// The largest concatenated message (255 segments of 134 octets after the 6-octet UDH,
/// TS 23.040 §9.2.3.24.1) joins without
/// overflowing the sequence check; one segment fewer is refused.
#[test]
fn join_segments_handles_255_parts() {
    let payload: Vec<u8> = (0..255 * 134).map(|i| i as u8).collect();
    let uds = segment(&[], &payload, 7, false).unwrap();
    assert_eq!(uds.len(), 255);
    let (_, joined) = join_segments(&uds).unwrap();
    assert_eq!(joined, payload);
    assert!(matches!(
        join_segments(&uds[1..]),
        Err(OtaError::Concatenation(_))
    ));
}
