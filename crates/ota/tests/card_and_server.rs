//! Round trips between the sending entity (OTA server) and the receiving entity (card) through
//! the shared core, for every algorithm, plus every bad-input path and the PoR status code it
//! maps to (ETSI TS 102 225 §5.2 table 5).

use ota::ts23040::{join_segments, Concat, Reassembler, UserData, UserDataHeader};
use ota::ts31115::{command_from_segments, command_from_user_data, command_user_data};
use ota::*;

fn spi(counter: CounterMode, ciphering: bool, integrity: IntegrityType) -> Spi {
    Spi {
        counter,
        ciphering,
        integrity,
        por: PorRequest::Always,
        por_integrity: integrity,
        por_ciphered: ciphering,
        por_transport: PorTransport::SmsSubmit,
    }
}

const TAR: [u8; 3] = [0xB0, 0x00, 0x10];

struct Setup {
    kic: Kic,
    kid: Kid,
    keys: SecurityKeys,
}

fn setup(cipher: CipherAlgorithm, cc: Option<CcAlgorithm>, rc: Option<RcAlgorithm>) -> Setup {
    let klen = match cipher {
        CipherAlgorithm::DesCbc => 8,
        CipherAlgorithm::TripleDes2Key => 16,
        CipherAlgorithm::TripleDes3Key => 24,
        CipherAlgorithm::AesCbc => 32,
    };
    let key: Vec<u8> = (0..klen as u8).collect();
    let (kid, cc_key) = match (cc, rc) {
        (Some(a), _) => {
            let l = match a {
                CcAlgorithm::DesCbc => 8,
                CcAlgorithm::TripleDes2Key => 16,
                CcAlgorithm::TripleDes3Key => 24,
                CcAlgorithm::AesCmac => 16,
            };
            let k: Vec<u8> = (0..l as u8).map(|x| x ^ 0x5A).collect();
            (Kid::cc(1, a), Some(CcKey::new(a, &k).unwrap()))
        }
        (None, Some(r)) => (Kid::rc(1, r), None),
        (None, None) => (Kid(0), None),
    };
    Setup {
        kic: Kic::new(1, cipher),
        kid,
        keys: SecurityKeys {
            cipher: Some(CipherKey::new(cipher, &key).unwrap()),
            cc: cc_key,
            implicit_rc: None,
        },
    }
}

fn header(s: &Setup, spi: Spi, counter: u64) -> CommandHeader {
    CommandHeader {
        spi,
        kic: s.kic,
        kid: s.kid,
        tar: TAR,
        counter: Counter::new(counter).unwrap(),
    }
}

fn all_setups() -> Vec<(Setup, IntegrityType)> {
    let mut v = Vec::new();
    for c in [
        CipherAlgorithm::DesCbc,
        CipherAlgorithm::TripleDes2Key,
        CipherAlgorithm::TripleDes3Key,
        CipherAlgorithm::AesCbc,
    ] {
        for cc in [
            CcAlgorithm::DesCbc,
            CcAlgorithm::TripleDes2Key,
            CcAlgorithm::TripleDes3Key,
            CcAlgorithm::AesCmac,
        ] {
            v.push((setup(c, Some(cc), None), IntegrityType::Cc));
        }
        for rc in [RcAlgorithm::Crc16, RcAlgorithm::Crc32] {
            v.push((setup(c, None, Some(rc)), IntegrityType::Rc));
        }
        v.push((setup(c, None, None), IntegrityType::None));
    }
    v
}

#[test]
fn every_algorithm_round_trips_command_and_por() {
    for (s, integrity) in all_setups() {
        for ciphering in [false, true] {
            for len in [0usize, 1, 7, 8, 15, 16, 17, 100] {
                let data: Vec<u8> = (0..len as u8).collect();
                let spi = spi(CounterMode::Higher, ciphering, integrity);
                let hdr = header(&s, spi, 5);
                let pkt = build_command(&hdr, &s.keys, &data).unwrap();
                let accepted = receive_command(&pkt, |p| {
                    assert_eq!(p.tar, TAR);
                    Ok(KeyLookup {
                        keys: s.keys.clone(),
                        stored_counter: Counter::new(4).unwrap(),
                    })
                })
                .unwrap();
                assert_eq!(accepted.command.data, data);
                assert_eq!(accepted.new_counter, Some(Counter::new(5).unwrap()));
                if ciphering {
                    let bs = if s.kic.algorithm().unwrap() == Some(CipherAlgorithm::AesCbc) {
                        16
                    } else {
                        8
                    };
                    assert_eq!((pkt.len() - 10) % bs, 0);
                }

                let por = ResponsePacket {
                    tar: TAR,
                    counter: hdr.counter,
                    status: PorStatus::PorOk,
                    data: data.clone(),
                };
                let sec = PorSecurity::from_spi(&spi);
                let ud = build_response(&por, sec, s.kic, s.kid, &s.keys).unwrap();
                assert_eq!(&ud[..3], &[0x02, 0x71, 0x00]);
                let back = parse_response(&ud, sec, s.kic, s.kid, &s.keys).unwrap();
                assert_eq!(back, por);
            }
        }
    }
}

#[test]
fn rc_values_are_crc_over_the_packet() {
    // CRC-16 and CRC-32 RCs sit big-endian right after PCNTR.
    for (rc, len) in [(RcAlgorithm::Crc16, 2usize), (RcAlgorithm::Crc32, 4)] {
        let s = setup(CipherAlgorithm::TripleDes2Key, None, Some(rc));
        let hdr = header(&s, spi(CounterMode::NoCounter, false, IntegrityType::Rc), 0);
        let pkt = build_command(&hdr, &s.keys, &[0xAA, 0xBB]).unwrap();
        assert_eq!(usize::from(pkt[2]), 13 + len);
        let mut input = pkt[..16].to_vec();
        input.extend_from_slice(&pkt[16 + len..]);
        let rc_bytes = &pkt[16..16 + len];
        match rc {
            RcAlgorithm::Crc16 => assert_eq!(rc_bytes, ota::crc::crc16(&input).to_be_bytes()),
            RcAlgorithm::Crc32 => assert_eq!(rc_bytes, ota::crc::crc32(&input).to_be_bytes()),
        }
    }
}

#[test]
fn aes_cmac_with_4_octet_cc() {
    let mut s = setup(CipherAlgorithm::AesCbc, Some(CcAlgorithm::AesCmac), None);
    s.keys.cc = Some(s.keys.cc.take().unwrap().with_cc_len(4).unwrap());
    let hdr = header(&s, spi(CounterMode::NoCounter, true, IntegrityType::Cc), 0);
    let pkt = build_command(&hdr, &s.keys, b"hello").unwrap();
    assert_eq!(pkt[2], 17);
    let p = CommandPacket::parse(&pkt).unwrap();
    assert_eq!(p.integrity_len(), 4);
    assert_eq!(p.open(&s.keys).unwrap().data, b"hello");
}

fn lookup_ok(s: &Setup, stored: u64) -> impl FnOnce(&CommandPacket<'_>) -> Result<KeyLookup> + '_ {
    move |_| {
        Ok(KeyLookup {
            keys: s.keys.clone(),
            stored_counter: Counter::new(stored).unwrap(),
        })
    }
}

fn reject(pkt: &[u8], s: &Setup, stored: u64) -> RejectedCommand {
    *receive_command(pkt, lookup_ok(s, stored)).unwrap_err()
}

#[test]
fn counter_replay_and_sequence() {
    let s = setup(CipherAlgorithm::AesCbc, Some(CcAlgorithm::AesCmac), None);
    let higher = spi(CounterMode::Higher, true, IntegrityType::Cc);
    let pkt = build_command(&header(&s, higher, 7), &s.keys, b"x").unwrap();
    // Replay of the same counter.
    let r = reject(&pkt, &s, 7);
    assert_eq!(r.status, PorStatus::CounterLow);
    assert_eq!(r.counter, Some(Counter::new(7).unwrap()));
    assert_eq!(r.header.map(|h| h.3), Some(TAR));
    // Higher by more than one is fine in mode '10' ...
    assert!(receive_command(&pkt, lookup_ok(&s, 2)).is_ok());
    // ... but CNTR high in mode '11'.
    let one = spi(CounterMode::OneHigher, true, IntegrityType::Cc);
    let pkt = build_command(&header(&s, one, 7), &s.keys, b"x").unwrap();
    assert_eq!(reject(&pkt, &s, 2).status, PorStatus::CounterHigh);
    assert_eq!(reject(&pkt, &s, 9).status, PorStatus::CounterLow);
    assert_eq!(
        receive_command(&pkt, lookup_ok(&s, 6)).unwrap().new_counter,
        Some(Counter::new(7).unwrap())
    );
    // Blocked at the maximum.
    let r = *receive_command(&pkt, |_| {
        Ok(KeyLookup {
            keys: s.keys.clone(),
            stored_counter: Counter::MAX,
        })
    })
    .unwrap_err();
    assert_eq!(r.status, PorStatus::CounterBlocked);
    // No checking in mode '01': old counters pass and nothing is stored.
    let nochk = spi(CounterMode::NoReplayCheck, true, IntegrityType::Cc);
    let pkt = build_command(&header(&s, nochk, 1), &s.keys, b"x").unwrap();
    assert_eq!(
        receive_command(&pkt, lookup_ok(&s, 9)).unwrap().new_counter,
        None
    );
}

#[test]
fn cc_mismatch_and_tampering() {
    let s = setup(
        CipherAlgorithm::TripleDes2Key,
        Some(CcAlgorithm::TripleDes2Key),
        None,
    );
    let sp = spi(CounterMode::NoCounter, false, IntegrityType::Cc);
    let pkt = build_command(&header(&s, sp, 0), &s.keys, b"\x00\xa4\x00\x04\x02\x3f\x00").unwrap();
    for i in 3..pkt.len() {
        let mut bad = pkt.clone();
        bad[i] ^= 0x01;
        let r = reject(&bad, &s, 0);
        // Flipping SPI/KIc/KID bits may make the header itself uninterpretable ('06');
        // anything else is an RC/CC/DS failure.
        assert!(
            matches!(
                r.status,
                PorStatus::IntegrityFailed | PorStatus::UnidentifiedSecurityError
            ),
            "byte {i}: {:?}",
            r.error
        );
        if i >= 7 {
            assert_eq!(r.status, PorStatus::IntegrityFailed, "byte {i}");
        }
    }
    // Wrong key.
    let other = setup(
        CipherAlgorithm::TripleDes2Key,
        Some(CcAlgorithm::TripleDes2Key),
        None,
    );
    let mut wrong = other.keys.clone();
    wrong.cc = Some(CcKey::new(CcAlgorithm::TripleDes2Key, &[9; 16]).unwrap());
    let p = CommandPacket::parse(&pkt).unwrap();
    assert_eq!(p.open(&wrong), Err(OtaError::IntegrityFailed));
}

#[test]
fn header_errors_are_unidentified_security_errors() {
    let s = setup(CipherAlgorithm::AesCbc, Some(CcAlgorithm::AesCmac), None);
    let sp = spi(CounterMode::NoCounter, true, IntegrityType::Cc);
    let pkt = build_command(&header(&s, sp, 0), &s.keys, b"abc").unwrap();
    let status = |b: &[u8]| reject(b, &s, 0).status;
    // Short packets.
    for n in 0..pkt.len() {
        assert_ne!(status(&pkt[..n]), PorStatus::PorOk);
    }
    assert_eq!(status(&pkt[..5]), PorStatus::UnidentifiedSecurityError);
    // Wrong CPL.
    let mut bad = pkt.clone();
    bad[1] += 1;
    assert_eq!(status(&bad), PorStatus::UnidentifiedSecurityError);
    // CHL below 13, CHL past the end, CHL that does not fit the CC algorithm.
    for chl in [0u8, 12, 0xFF, 14] {
        let mut bad = pkt.clone();
        bad[2] = chl;
        assert_eq!(
            status(&bad),
            PorStatus::UnidentifiedSecurityError,
            "CHL {chl}"
        );
    }
    // Unknown KIc algorithm (proprietary '11'), DES-ECB, reserved KID coding.
    for (at, v) in [(5usize, 0x13u8), (5, 0x1D), (6, 0x1F)] {
        let mut bad = pkt.clone();
        bad[at] = v;
        let r = reject(&bad, &s, 0);
        assert_eq!(r.status, PorStatus::UnidentifiedSecurityError);
        assert!(matches!(r.error, OtaError::UnsupportedSecurity(_)));
    }
    // KIc coding another algorithm than the key's.
    let mut bad = pkt.clone();
    bad[5] = Kic::new(1, CipherAlgorithm::TripleDes2Key).0;
    assert_eq!(status(&bad), PorStatus::UnidentifiedSecurityError);
    // Reserved SPI2 PoR coding '11'.
    let mut bad = pkt.clone();
    bad[4] |= 0x03;
    assert_eq!(status(&bad), PorStatus::UnidentifiedSecurityError);
    // Digital signature requested.
    let mut bad = pkt.clone();
    bad[3] |= 0x03;
    assert_eq!(status(&bad), PorStatus::UnidentifiedSecurityError);
    // Missing keys.
    let r = *receive_command(&pkt, |_| {
        Ok(KeyLookup {
            keys: SecurityKeys::default(),
            stored_counter: Counter::default(),
        })
    })
    .unwrap_err();
    assert!(matches!(r.error, OtaError::MissingKey(_)));
    assert_eq!(r.status, PorStatus::UnidentifiedSecurityError);
    // PoR for '06' goes out unsecured.
    assert_eq!(PorSecurity::for_status(&sp, r.status), PorSecurity::NONE);
    assert_eq!(
        PorSecurity::for_status(&sp, PorStatus::CounterLow),
        PorSecurity::from_spi(&sp)
    );
}

#[test]
fn lookup_errors_map_to_their_status() {
    let s = setup(CipherAlgorithm::AesCbc, Some(CcAlgorithm::AesCmac), None);
    let sp = spi(CounterMode::NoCounter, true, IntegrityType::Cc);
    let pkt = build_command(&header(&s, sp, 0), &s.keys, b"abc").unwrap();
    for (e, st) in [
        (OtaError::TarUnknown, PorStatus::TarUnknown),
        (
            OtaError::InsufficientSecurityLevel,
            PorStatus::InsufficientSecurityLevel,
        ),
        (
            OtaError::InsufficientMemory("x"),
            PorStatus::InsufficientMemory,
        ),
    ] {
        let r = *receive_command(&pkt, |_| Err(e.clone())).unwrap_err();
        assert_eq!(r.status, st);
        assert_eq!(r.header.map(|h| h.3), Some(TAR));
    }
}

#[test]
fn ciphering_errors() {
    let s = setup(CipherAlgorithm::TripleDes2Key, None, None);
    let sp = spi(CounterMode::NoCounter, true, IntegrityType::None);
    let pkt = build_command(&header(&s, sp, 0), &s.keys, b"abcdefghij").unwrap();
    // Ciphertext not a whole number of blocks (CPL adjusted so the header parses).
    let mut bad = pkt.clone();
    bad.pop();
    let cpl = (bad.len() - 2) as u16;
    bad[..2].copy_from_slice(&cpl.to_be_bytes());
    assert_eq!(reject(&bad, &s, 0).status, PorStatus::CipheringError);
    // A PCNTR of 8 or more with 8-octet blocks, or larger than the data: forge a packet whose
    // plaintext says PCNTR = 0x20 (no integrity, so nothing else catches it).
    let cipher = s.keys.cipher.clone().unwrap();
    for pcntr in [8u8, 0x20] {
        let mut tail = vec![0, 0, 0, 0, 0, pcntr, b'a', b'b'];
        cipher.encrypt(&mut tail).unwrap();
        let mut forged = pkt[..10].to_vec();
        forged.extend_from_slice(&tail);
        let cpl = (forged.len() - 2) as u16;
        forged[..2].copy_from_slice(&cpl.to_be_bytes());
        let r = reject(&forged, &s, 0);
        assert_eq!(r.status, PorStatus::CipheringError, "PCNTR {pcntr}");
    }
}

#[test]
fn por_errors() {
    let s = setup(CipherAlgorithm::AesCbc, Some(CcAlgorithm::AesCmac), None);
    let sp = spi(CounterMode::NoCounter, true, IntegrityType::Cc);
    let sec = PorSecurity::from_spi(&sp);
    let por = ResponsePacket {
        tar: TAR,
        counter: Counter::new(3).unwrap(),
        status: PorStatus::CounterLow,
        data: vec![],
    };
    let ud = build_response(&por, sec, s.kic, s.kid, &s.keys).unwrap();
    assert_eq!(
        parse_response(&ud, sec, s.kic, s.kid, &s.keys).unwrap(),
        por
    );
    // An unsecured '06' PoR reads with PorSecurity::NONE.
    let unsec = ResponsePacket {
        status: PorStatus::UnidentifiedSecurityError,
        ..por.clone()
    };
    let ud06 = build_response(&unsec, PorSecurity::NONE, s.kic, s.kid, &s.keys).unwrap();
    // UDH, RPL 000B, RHL 0A, TAR, CNTR, PCNTR 00, status 06.
    assert_eq!(hex::encode(&ud06), "027100000b0ab0001000000000030006");
    assert!(parse_response(&ud06, sec, s.kic, s.kid, &s.keys).is_err());
    assert_eq!(
        parse_response(&ud06, PorSecurity::NONE, s.kic, s.kid, &s.keys).unwrap(),
        unsec
    );
    // Missing '71', wrong RPL, short.
    let mut no71 = ud.clone();
    no71[1] = 0x70;
    assert!(matches!(
        parse_response(&no71, sec, s.kic, s.kid, &s.keys),
        Err(OtaError::UnexpectedIdentifier(_))
    ));
    let mut badrpl = ud.clone();
    badrpl[4] ^= 1;
    assert!(matches!(
        parse_response(&badrpl, sec, s.kic, s.kid, &s.keys),
        Err(OtaError::BadLength(_))
    ));
    for n in 0..ud.len() {
        assert!(parse_response(&ud[..n], sec, s.kic, s.kid, &s.keys).is_err());
    }
    // Wire codes.
    for c in 0..=255u8 {
        assert_eq!(PorStatus::from_code(c).code(), c);
    }
}

#[test]
fn long_command_is_concatenated_and_reassembled() {
    let s = setup(CipherAlgorithm::AesCbc, Some(CcAlgorithm::AesCmac), None);
    let sp = spi(CounterMode::Higher, true, IntegrityType::Cc);
    let data: Vec<u8> = (0..400u16).map(|x| x as u8).collect();
    let pkt = build_command(&header(&s, sp, 1), &s.keys, &data).unwrap();
    let uds = command_user_data(&pkt, 0x42).unwrap();
    assert_eq!(uds.len(), 4);
    for (i, ud) in uds.iter().enumerate() {
        assert!(ud.octets.len() <= 140);
        let (h, _) = UserDataHeader::decode(&ud.octets).unwrap();
        let c = h.concat().unwrap().unwrap();
        assert_eq!((c.reference, c.total, c.seq), (0x42, 4, i as u8 + 1));
        // IE '70' (and so the command header) only in the first segment.
        assert_eq!(h.find(0x70).is_some(), i == 0);
    }
    // First segment: UDHL 07, 70 00, 00 03 42 04 01, then CPL.
    assert_eq!(
        &uds[0].octets[..8],
        &[0x07, 0x70, 0x00, 0x00, 0x03, 0x42, 0x04, 0x01]
    );
    assert_eq!(&uds[0].octets[8..10], &pkt[..2]);

    // Out of order, with a duplicate, through the reassembler.
    let mut r: Reassembler<&str> = Reassembler::new(4);
    let order = [2usize, 0, 2, 3, 1];
    let mut done = None;
    for &i in &order {
        let (h, _) = UserDataHeader::decode(&uds[i].octets).unwrap();
        let c = h.concat().unwrap().unwrap();
        if let Some(all) = r.push("12345", c, uds[i].octets.clone()).unwrap() {
            done = Some(all);
        } else if i == 3 {
            assert_eq!(r.missing(&"12345", 0x42, false), Some(vec![2]));
        }
    }
    let segs: Vec<UserData> = done
        .unwrap()
        .into_iter()
        .map(|o| UserData::eight_bit(o).unwrap())
        .collect();
    let joined = command_from_segments(&segs).unwrap();
    assert_eq!(joined, pkt);
    assert_eq!(r.pending(), 0);
    let acc = receive_command(&joined, lookup_ok(&s, 0)).unwrap();
    assert_eq!(acc.command.data, data);

    // Missing part, duplicates with other content, changed totals, bad sequence numbers.
    assert!(matches!(
        command_from_segments(&segs[..3]),
        Err(OtaError::Concatenation(_))
    ));
    let mut dup = segs.clone();
    dup[3] = segs[2].clone();
    assert!(matches!(
        join_segments(&dup),
        Err(OtaError::Concatenation(_))
    ));
    let mut r: Reassembler<u8> = Reassembler::new(1);
    let c = |total, seq| Concat {
        reference: 1,
        wide: false,
        total,
        seq,
    };
    assert!(r.push(0, c(3, 1), vec![1]).unwrap().is_none());
    assert!(r.push(0, c(3, 1), vec![1]).unwrap().is_none());
    assert!(matches!(
        r.push(0, c(3, 1), vec![2]),
        Err(OtaError::Concatenation(_))
    ));
    assert!(matches!(
        r.push(0, c(4, 2), vec![2]),
        Err(OtaError::Concatenation(_))
    ));
    assert!(matches!(
        r.push(0, c(3, 0), vec![2]),
        Err(OtaError::Concatenation(_))
    ));
    assert!(matches!(
        r.push(0, c(3, 4), vec![2]),
        Err(OtaError::Concatenation(_))
    ));
    assert!(matches!(
        r.push(1, c(3, 1), vec![2]),
        Err(OtaError::InsufficientMemory(_))
    ));
    assert!(r.discard(&0, 1, false));
    // A single-SM reader refuses a segment.
    assert!(command_from_user_data(&segs[0].octets).is_err());
    // 16-bit reference.
    let uds = command_user_data(&pkt, 0x1234).unwrap();
    let (h, _) = UserDataHeader::decode(&uds[1].octets).unwrap();
    assert_eq!(h.ies[0].iei, 0x08);
    assert_eq!(command_from_segments(&uds).unwrap(), pkt);
}

#[test]
fn por_in_deliver_report_and_submit() {
    use ota::ts23040::{Address, SmsDeliverReport, SmsSubmit};
    let ud = hex::decode("027100000e0ab0001100000000000000016132").unwrap();
    let rep = ota::ts31115::por_deliver_report(ud.clone(), None).unwrap();
    let enc = rep.encode().unwrap();
    assert_eq!(hex::encode(&enc[..5]), "40077ff613");
    assert_eq!(SmsDeliverReport::decode(&enc, false).unwrap(), rep);
    let rep_err = ota::ts31115::por_deliver_report(ud.clone(), Some(0xD4)).unwrap();
    let enc = rep_err.encode().unwrap();
    assert_eq!(SmsDeliverReport::decode(&enc, true).unwrap(), rep_err);
    let sub = ota::ts31115::por_submit(Address::digits(0, 1, "21053").unwrap(), 0, ud).unwrap();
    let enc = sub.encode().unwrap();
    // Same shape as a real card's PoR SMS-SUBMIT: 41 00 05 81 1250F3 7F F6 13 02 71 00 ...
    assert_eq!(hex::encode(&enc[..12]), "410005811250f37ff6130271");
    assert_eq!(SmsSubmit::decode(&enc).unwrap(), sub);
    assert!(ota::ts31115::is_response_user_data(&sub.user_data.octets));
}

#[test]
fn card_answers_a_rejected_command() {
    let s = setup(CipherAlgorithm::AesCbc, Some(CcAlgorithm::AesCmac), None);
    let mut sp = spi(CounterMode::Higher, true, IntegrityType::Cc);
    let pkt = build_command(&header(&s, sp, 3), &s.keys, b"abc").unwrap();
    // CNTR low: a secured PoR with the command's counter, sent as SPI2 b6 says.
    let r = reject(&pkt, &s, 3);
    let plan = r.response().unwrap();
    assert_eq!(plan.packet.status, PorStatus::CounterLow);
    assert_eq!(plan.packet.counter, Counter::new(3).unwrap());
    assert_eq!(plan.security, PorSecurity::from_spi(&sp));
    assert_eq!(plan.transport, PorTransport::SmsSubmit);
    let ud = build_response(&plan.packet, plan.security, plan.kic, plan.kid, &s.keys).unwrap();
    // The server reads it with what it asked for.
    let back = parse_response(&ud, PorSecurity::from_spi(&sp), s.kic, s.kid, &s.keys).unwrap();
    assert_eq!(back.status, PorStatus::CounterLow);
    // TAR unknown: unsecured PoR.
    let r = *receive_command(&pkt, |_| Err(OtaError::TarUnknown)).unwrap_err();
    assert_eq!(r.response().unwrap().security, PorSecurity::NONE);
    // Unreadable header: nothing to answer to.
    assert!(reject(&pkt[..4], &s, 0).response().is_none());
    // PoR on error only: an error still answers; PoR never: nothing.
    sp.por = PorRequest::OnError;
    let pkt = build_command(&header(&s, sp, 3), &s.keys, b"abc").unwrap();
    assert!(reject(&pkt, &s, 3).response().is_some());
    let ok = receive_command(&pkt, lookup_ok(&s, 2)).unwrap();
    assert!(!sp.por_wanted(PorStatus::PorOk));
    assert_eq!(
        ok.command.response(PorStatus::PorOk, vec![1]).counter,
        Counter::new(3).unwrap()
    );
    sp.por = PorRequest::Never;
    let pkt = build_command(&header(&s, sp, 3), &s.keys, b"abc").unwrap();
    assert!(reject(&pkt, &s, 3).response().is_none());
}

#[test]
fn report_tpdus_and_time_stamps() {
    use ota::ts23040::{ReportParameters, Scts, SmsDeliverReport, SmsSubmitReport};
    // An RP-ACK DELIVER-REPORT with nothing but TP-MTI and TP-PI.
    let empty = SmsDeliverReport {
        failure_cause: None,
        udhi: false,
        parameters: ReportParameters::default(),
    };
    assert_eq!(empty.encode().unwrap(), vec![0x00, 0x00]);
    assert_eq!(SmsDeliverReport::decode(&[0x00], false).unwrap(), empty);
    assert_eq!(
        SmsDeliverReport::decode(&[0x00, 0x00], false).unwrap(),
        empty
    );
    assert!(SmsDeliverReport::decode(&[0x00, 0x80], false).is_err());
    assert!(SmsDeliverReport::decode(&[0x01, 0x00], false).is_err());
    // SUBMIT-REPORT: MTI 01, [FCS], PI, SCTS, [PID] [DCS] [UDL UD].
    let scts = Scts::new([24, 12, 31, 23, 59, 58], -14);
    assert_eq!(scts.fields(), [24, 12, 31, 23, 59, 58]);
    assert_eq!(scts.tz_quarters(), -14);
    // Semi-octets swapped; time zone 14 quarters west: '41' swapped with the sign bit.
    assert_eq!(hex::encode(scts.0), "42211332958549");
    let rep = SmsSubmitReport {
        failure_cause: Some(0xC0),
        udhi: false,
        scts,
        parameters: ReportParameters {
            pid: Some(0x7F),
            dcs: None,
            user_data: None,
        },
    };
    let enc = rep.encode().unwrap();
    assert_eq!(hex::encode(&enc), "01c001422113329585497f");
    assert_eq!(SmsSubmitReport::decode(&enc, true).unwrap(), rep);
    assert!(SmsSubmitReport::decode(&enc, false).is_err());
}

#[test]
fn long_por_is_concatenated() {
    let s = setup(
        CipherAlgorithm::TripleDes2Key,
        Some(CcAlgorithm::TripleDes2Key),
        None,
    );
    let sp = spi(CounterMode::Higher, true, IntegrityType::Cc);
    let por = ResponsePacket {
        tar: TAR,
        counter: Counter::new(9).unwrap(),
        status: PorStatus::PorOk,
        data: vec![0x5A; 300],
    };
    let sec = PorSecurity::from_spi(&sp);
    let ud = build_response(&por, sec, s.kic, s.kid, &s.keys).unwrap();
    let segs = ota::ts31115::response_user_data(&ud, 7).unwrap();
    assert_eq!(segs.len(), 3);
    assert!(ota::ts31115::is_response_user_data(&segs[0].octets));
    assert!(!ota::ts31115::is_response_user_data(&segs[1].octets));
    let mut rev = segs.clone();
    rev.reverse();
    let back = ota::ts31115::response_from_segments(&rev).unwrap();
    assert_eq!(back, ud);
    assert_eq!(
        parse_response(&back, sec, s.kic, s.kid, &s.keys).unwrap(),
        por
    );
    // A short PoR stays one message, as built.
    let short = build_response(
        &ResponsePacket {
            data: vec![1, 0x90, 0],
            ..por
        },
        sec,
        s.kic,
        s.kid,
        &s.keys,
    )
    .unwrap();
    let one = ota::ts31115::response_user_data(&short, 7).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].octets, short);
    assert!(ota::ts31115::response_user_data(&short[1..], 7).is_err());
}
