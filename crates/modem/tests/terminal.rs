//! The terminal core against a scripted card: status word handling ('9300' retries and
//! RP-ERROR 'D4', '6F00'/'6A80' RP-ERROR 'D5'), reassembly of concatenated SMS (order,
//! duplicates), the capability cache, ordinary SMS, proactive commands the terminal cannot
//! perform, and bad input.

use std::collections::VecDeque;

use apdu::{CardTransport, TransportError};
use modem::toolkit::TERMINAL_PROFILE;
use modem::{failure_cause, ModemError, Output, Terminal, TerminalConfig};
use ota::ts23040::{Address, Scts, SmsDeliver, UserData, UserDataHeader};

#[derive(Default)]
struct FakeCard {
    /// Every command APDU received.
    log: Vec<Vec<u8>>,
    /// Responses (data || SW) to successive ENVELOPEs; '9000' when exhausted.
    envelopes: VecDeque<Vec<u8>>,
    /// Response to GET DATA 'FF70'.
    capability: Vec<u8>,
    /// Response to FETCH.
    fetch: Vec<u8>,
}

impl CardTransport for FakeCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.log.push(apdu.to_vec());
        Ok(match apdu.get(1) {
            Some(0xC2) => self.envelopes.pop_front().unwrap_or(vec![0x90, 0x00]),
            Some(0xCA) => self.capability.clone(),
            Some(0x12) => self.fetch.clone(),
            _ => vec![0x90, 0x00],
        })
    }
}

impl FakeCard {
    fn sent(&self, ins: u8) -> Vec<&Vec<u8>> {
        self.log.iter().filter(|a| a.get(1) == Some(&ins)).collect()
    }
}

fn originator() -> Address {
    Address::digits(1, 1, "4912345678").unwrap()
}

/// The SMS-DELIVERs of a (fake) command packet of `len` octets.
fn sms(len: usize, reference: u16) -> Vec<SmsDeliver> {
    let packet: Vec<u8> = (0..len).map(|i| i as u8).collect();
    ota::ts31115::command_user_data(&packet, reference)
        .unwrap()
        .into_iter()
        .map(|ud| {
            ota::ts31115::command_deliver(originator(), Scts::new([25, 1, 1, 0, 0, 0], 0), ud)
        })
        .collect()
}

fn terminal(card: FakeCard, threshold: usize) -> Terminal<FakeCard> {
    let mut t = Terminal::new(
        card,
        TerminalConfig {
            threshold,
            max_busy_retries: 2,
            ..TerminalConfig::default()
        },
    );
    t.start().unwrap();
    t
}

/// The concatenation sequence numbers of the SMS-DELIVERs in the ENVELOPEs sent.
fn envelope_seqs(card: &FakeCard) -> Vec<u8> {
    card.sent(0xC2)
        .iter()
        .map(|apdu| {
            let d1 = tlv::Tlv::parse_single(&apdu[5..]).unwrap();
            let tpdu = tlv::find(d1.value, tlv::Tag(0x8B)).unwrap().unwrap();
            let d = SmsDeliver::decode(tpdu.value).unwrap();
            let (h, _) = UserDataHeader::decode(&d.user_data.octets).unwrap();
            h.concat().unwrap().map_or(0, |c| c.seq)
        })
        .collect()
}

#[test]
fn terminal_profile_first() {
    let t = terminal(FakeCard::default(), 1000);
    let mut tp = vec![0x80, 0x10, 0x00, 0x00, 0x04];
    tp.extend_from_slice(&TERMINAL_PROFILE);
    assert_eq!(t.card().log, [tp]);
    // A card refusing TERMINAL PROFILE is reported.
    struct Refuses;
    impl CardTransport for Refuses {
        fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, TransportError> {
            Ok(vec![0x6D, 0x00])
        }
    }
    let mut t = Terminal::new(Refuses, TerminalConfig::default());
    assert!(matches!(t.start(), Err(ModemError::Card { .. })));
}

#[test]
fn concatenated_parts_out_of_order_and_duplicated_go_in_order() {
    let mut t = terminal(FakeCard::default(), 1000);
    let parts = sms(300, 5);
    assert_eq!(parts.len(), 3);
    for i in [2, 0, 2] {
        t.receive(parts[i].clone()).unwrap();
        assert!(t.card().sent(0xC2).is_empty());
    }
    assert_eq!(t.pending_messages(), 1);
    t.receive_tpdu(&parts[1].encode().unwrap()).unwrap();
    assert_eq!(envelope_seqs(t.card()), [1, 2, 3]);
    assert_eq!(t.pending_messages(), 0);
    assert_eq!(t.stats().capability_queries, 0);
    assert!(t.drain_outputs().is_empty());
}

#[test]
fn busy_card_is_retried_then_rp_error_d4() {
    let card = FakeCard {
        envelopes: VecDeque::from(vec![vec![0x93, 0x00]; 3]),
        ..FakeCard::default()
    };
    let mut t = terminal(card, 1000);
    let one = sms(40, 1).remove(0);
    t.receive(one.clone()).unwrap();
    assert_eq!((t.waiting(), t.stats().busy), (1, 1));
    t.retry().unwrap();
    assert_eq!(t.waiting(), 1);
    assert!(t.drain_outputs().is_empty());
    // Third '9300': more than max_busy_retries (2) → RP-ERROR 'D4'.
    t.retry().unwrap();
    assert_eq!(t.waiting(), 0);
    match t.drain_outputs().as_slice() {
        [Output::DownloadFailed { sw, report, .. }] => {
            assert_eq!(sw.0, 0x9300);
            assert_eq!(report.failure_cause, Some(failure_cause::TOOLKIT_BUSY));
        }
        o => panic!("{o:?}"),
    }
    // A card no longer busy takes the next message at once.
    t.receive(one).unwrap();
    assert_eq!(t.stats().envelopes, 4);
    assert!(t.drain_outputs().is_empty());
}

#[test]
fn card_errors_are_rp_error_d5_and_stop_the_message() {
    for sw in [[0x6F, 0x00], [0x6A, 0x80], [0x67, 0x00]] {
        let card = FakeCard {
            envelopes: VecDeque::from(vec![sw.to_vec()]),
            ..FakeCard::default()
        };
        let mut t = terminal(card, 1000);
        for p in sms(300, 9) {
            t.receive(p).unwrap();
        }
        // Only the first of the three pieces went to the card.
        assert_eq!(t.stats().envelopes, 1);
        match t.drain_outputs().as_slice() {
            [Output::DownloadFailed {
                sw: got,
                report,
                originator: o,
            }] => {
                assert_eq!(got.to_bytes(), sw);
                assert_eq!(
                    report.failure_cause,
                    Some(failure_cause::DATA_DOWNLOAD_ERROR)
                );
                assert_eq!(*o, originator());
                // RP-ERROR TPDU: SMS-DELIVER-REPORT with TP-FCS (TS 23.040 §9.2.2.1a).
                assert_eq!(report.encode().unwrap(), [0x00, 0xD5, 0x00]);
            }
            o => panic!("{o:?}"),
        }
    }
}

#[test]
fn early_por_ends_the_message_and_goes_out_as_sms_submit() {
    // The card answers the first piece with a PoR ('07' for a packet too large).
    let por = vec![
        0x02, 0x71, 0x00, 0x00, 0x0C, 0x0A, 0xB0, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0x07,
    ];
    let mut first = por.clone();
    first.extend_from_slice(&[0x90, 0x00]);
    let card = FakeCard {
        envelopes: VecDeque::from(vec![first]),
        ..FakeCard::default()
    };
    let mut t = terminal(card, 1000);
    for p in sms(300, 9) {
        t.receive(p).unwrap();
    }
    assert_eq!(t.stats().envelopes, 1);
    match t.drain_outputs().as_slice() {
        [Output::MobileOriginated { submit, .. }] => {
            assert_eq!(submit.destination_address, originator());
            assert_eq!((submit.pid, submit.dcs, submit.udhi), (0x7F, 0xF6, true));
            assert_eq!(submit.user_data.octets, por);
        }
        o => panic!("{o:?}"),
    }
}

#[test]
fn capability_is_cached_per_session_and_optional() {
    // The card does not know the tag: SMS by SMS, asked once per card session.
    let card = FakeCard {
        capability: vec![0x6A, 0x88],
        ..FakeCard::default()
    };
    let mut t = terminal(card, 200);
    for reference in [1, 2] {
        for p in sms(300, reference) {
            t.receive(p).unwrap();
        }
    }
    assert_eq!(t.stats().capability_queries, 1);
    assert_eq!(t.stats().resegmented, 0);
    assert_eq!(envelope_seqs(t.card()), [1, 2, 3, 1, 2, 3]);
    t.start().unwrap();
    for p in sms(300, 3) {
        t.receive(p).unwrap();
    }
    assert_eq!(t.stats().capability_queries, 2);
    // A card with 60-octet pieces: 300 octets → 1 + ceil((300 - 52) / 54) = 6 pieces.
    let card = FakeCard {
        capability: vec![
            0xFF, 0x70, 0x0A, 0x80, 0x02, 0x08, 0x00, 0x81, 0x01, 0x04, 0x82, 0x01, 60, 0x90, 0x00,
        ],
        ..FakeCard::default()
    };
    let mut t = terminal(card, 300);
    for p in sms(300, 4) {
        t.receive(p).unwrap();
    }
    assert_eq!(envelope_seqs(t.card()), [1, 2, 3, 4, 5, 6]);
    assert!(t.stats().envelope_ud_lens.iter().all(|l| *l <= 60));
    // Just below the threshold: as received.
    for p in sms(299, 5) {
        t.receive(p).unwrap();
    }
    assert_eq!(t.stats().envelopes, 6 + 3);
    assert_eq!(t.stats().capability_queries, 1);
}

#[test]
fn ordinary_sms_goes_to_the_user() {
    let mut t = terminal(FakeCard::default(), 1000);
    let d = SmsDeliver {
        pid: 0x00,
        dcs: 0x04,
        udhi: false,
        user_data: UserData::eight_bit(b"hello".to_vec()).unwrap(),
        ..sms(10, 0).remove(0)
    };
    t.receive(d.clone()).unwrap();
    assert_eq!(t.drain_outputs(), [Output::Received(vec![d])]);
    assert!(t.card().sent(0xC2).is_empty());
}

#[test]
fn proactive_commands_beyond_the_terminal_get_result_30() {
    // ENVELOPE → '910B'; FETCH → DISPLAY TEXT (type '21'); TERMINAL RESPONSE result '30'.
    let card = FakeCard {
        envelopes: VecDeque::from(vec![vec![0x91, 0x0B]]),
        fetch: vec![
            0xD0, 0x09, 0x81, 0x03, 0x01, 0x21, 0x00, 0x82, 0x02, 0x81, 0x02, 0x90, 0x00,
        ],
        ..FakeCard::default()
    };
    let mut t = terminal(card, 1000);
    t.receive(sms(40, 0).remove(0)).unwrap();
    assert_eq!(t.card().sent(0x12), [&vec![0x80, 0x12, 0x00, 0x00, 0x0B]]);
    let tr = t.card().sent(0x14);
    assert_eq!(
        tr,
        [&vec![
            0x80, 0x14, 0x00, 0x00, 0x0C, 0x81, 0x03, 0x01, 0x21, 0x00, 0x82, 0x02, 0x82, 0x81,
            0x83, 0x01, 0x30
        ]]
    );
    assert!(t.drain_outputs().is_empty());
}

/// Random TPDUs never panic the terminal (xorshift, fixed seed).
#[test]
fn random_input_never_panics() {
    let mut t = terminal(FakeCard::default(), 100);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..3000 {
        let n = (next() % 180) as usize;
        let mut bytes: Vec<u8> = (0..n).map(|_| next() as u8).collect();
        if let Some(b) = bytes.first_mut() {
            // Mostly SMS-DELIVER with UDHI so that the UDH code is reached.
            *b = (*b & 0xB8) | 0x40;
        }
        let _ = t.receive_tpdu(&bytes);
        let _ = modem::CardCapability::parse(&bytes);
        let _ = modem::toolkit::ProactiveCommand::parse(&bytes);
    }
}
