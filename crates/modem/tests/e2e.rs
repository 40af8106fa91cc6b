//! End to end over loopback: the OTA server's secured packets (`ota` server-side API) →
//! `smpp::EsmeClient` (bind_transceiver) → the built-in SMSC simulator → the terminal
//! (`modem::net::Modem`) → the virtual card (`card::Card` in-process) → the PoR back as a
//! mobile-originated SMS → deliver_sm at the ESME → decrypted and checked.
//!
//! Keys: the card's default OTA key set (KVN 1, AES-128) is pySim's `Test_SMS_AES128` pair
//! (`tests/unittests/test_ota.py`); the SSD keys are the GP test keys 404142..4F. The card,
//! SSD and applet set-up follow `crates/card/tests/ota_sms.rs` (its GP host helpers are
//! shared from `crates/card/tests/gp_common`).

#[path = "../../card/tests/gp_common/mod.rs"]
mod gp_common;

use std::sync::Arc;
use std::time::Duration;

use card::testing::OtaServer;
use card::Card;
use gp::commands::Install;
use gp::{Dek, PutKeyData};
use gp_common::*;
use modem::net::{Modem, ModemConfig, Report};
use modem::{MoOrigin, Output, Terminal, TerminalConfig};
use ota::ts23040::Scts;
use ota::*;
use smpp::sms::{por_user_data, OtaSubmit};
use smpp::smsc::{self, ChannelSink, SmscConfig, SmscHandle};
use smpp::{BindMode, DeliverSm, EsmeConfig, Event, SmeAddress};
use tokio::time::timeout;

const RFM_TAR: [u8; 3] = [0xB0, 0x00, 0x00];
/// An SSD whose AID carries its TAR 'C0C1C2' in bytes 13-15.
const SSD_AID: [u8; 16] = [
    0xA0, 0x00, 0x00, 0x01, 0x51, 0x53, 0x50, 0x41, 0x00, 0x00, 0x00, 0x01, 0xC0, 0xC1, 0xC2, 0x00,
];
const SSD_TAR: [u8; 3] = [0xC0, 0xC1, 0xC2];
const APP_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x00, 0x99, 0x77, 0x66, 0x01];
const OTA_SERVER: &str = "4912345678";
const MSISDN: &str = "491700000001";
const WAIT: Duration = Duration::from_secs(10);

fn server() -> OtaServer {
    OtaServer::factory().unwrap()
}

fn spi(submit: bool) -> Spi {
    Spi::secured(if submit {
        PorTransport::SmsSubmit
    } else {
        PorTransport::DeliverReport
    })
}

/// Everything between the OTA server's ESME and the card.
struct Bed {
    smsc: SmscHandle,
    modem: Modem<Card>,
    esme: smpp::client::EsmeClient,
    submit: OtaSubmit,
    server: OtaServer,
}

async fn bed(card: Card, config: TerminalConfig) -> Bed {
    let (sink, rx) = ChannelSink::new();
    let smsc = smsc::start(SmscConfig::new("ota", "secret"), 0, Arc::new(sink))
        .await
        .unwrap();
    let modem = Modem::spawn(
        Terminal::new(card, config),
        smsc.clone(),
        rx,
        ModemConfig {
            msisdn: SmeAddress::new(1, 1, MSISDN),
            esme: Some("ota".into()),
            scts: Box::new(|| Scts::new([25, 6, 1, 12, 0, 0], 4)),
            retry_interval: Duration::from_millis(20),
        },
    )
    .unwrap();
    let mut cfg = EsmeConfig::new(BindMode::Transceiver, "ota", "secret");
    cfg.response_timeout = Duration::from_secs(5);
    let mut esme = smpp::client::EsmeClient::spawn(smsc.local_addr(), cfg);
    loop {
        match timeout(WAIT, esme.next_event()).await.unwrap().unwrap() {
            Event::Bound { .. } => break,
            Event::BindRejected { status } => panic!("bind refused: {status:?}"),
            _ => {}
        }
    }
    Bed {
        smsc,
        modem,
        esme,
        submit: OtaSubmit::new(
            SmeAddress::new(1, 1, OTA_SERVER),
            SmeAddress::new(1, 1, MSISDN),
        ),
        server: server(),
    }
}

impl Bed {
    /// Submits one command packet (concatenated SMS when needed); returns the number of
    /// submit_sm.
    async fn send(&mut self, packet: &[u8], reference: u16) -> usize {
        let sms = self.submit.command_packet(packet, reference).unwrap();
        let n = sms.len();
        for sm in sms {
            self.esme.submit(sm).await.unwrap();
        }
        n
    }

    /// The next deliver_sm (a mobile-originated PoR).
    async fn next_deliver(&mut self) -> DeliverSm {
        loop {
            match timeout(WAIT, self.esme.next_event()).await {
                Ok(Some(Event::Deliver(sm))) => return sm,
                Ok(Some(Event::Failed { status, .. })) => panic!("submit failed: {status:?}"),
                Ok(Some(_)) => {}
                Ok(None) => panic!("ESME stopped"),
                Err(_) => panic!("no deliver_sm; modem reports: {:?}", self.modem.reports()),
            }
        }
    }

    /// The PoR of the next deliver_sm, decrypted and verified.
    async fn por(&mut self, spi: Spi) -> ResponsePacket {
        let sm = self.next_deliver().await;
        assert_eq!(sm.source.addr, MSISDN);
        assert_eq!(sm.destination.addr, OTA_SERVER);
        assert_eq!(sm.protocol_id, 0x7F);
        let ud = por_user_data(&sm).expect("a response packet (UDH IE '71')");
        self.server.por(ud, PorSecurity::from_spi(&spi)).unwrap()
    }

    fn card<R>(&self, f: impl FnOnce(&mut Card) -> R) -> R {
        self.modem.with_terminal(|t| f(t.card_mut()))
    }

    fn stats(&self) -> modem::TerminalStats {
        self.modem.with_terminal(|t| t.stats().clone())
    }

    /// The mobile-originated SMS the modem sent (the modem records each one once its
    /// deliver_sm_resp is back, which may come just after the ESME saw the deliver_sm).
    async fn mo_origins(&self, expected: usize) -> Vec<MoOrigin> {
        for _ in 0..500 {
            if self.origins().len() >= expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.origins()
    }

    fn origins(&self) -> Vec<MoOrigin> {
        self.modem
            .reports()
            .into_iter()
            .filter_map(|r| match r {
                Report::Output {
                    output: Output::MobileOriginated { origin, .. },
                    delivery,
                } => {
                    assert_eq!(delivery, Ok(Some(smpp::CommandStatus::ESME_ROK)));
                    Some(origin)
                }
                _ => None,
            })
            .collect()
    }

    fn stop(self) {
        self.modem.abort();
        self.smsc.stop();
    }
}

fn adn_record_len(card: &mut Card) -> usize {
    card::testing::adn_record_len(card).expect("the TS.48 profile has EF.ADN")
}

fn read_adn(card: &mut Card, rec: u8, len: usize) -> Vec<u8> {
    card::testing::read_adn(card, rec, len).expect("READ RECORD of EF.ADN")
}

use card::testing::adn_record as record;

fn c_apdu_tlv(apdu: &[u8]) -> Vec<u8> {
    tlv::encode_tlv(tlv::Tag(0x22), apdu)
}

/// Expanded RFM script: SELECT DF.TELECOM, SELECT EF.ADN, UPDATE RECORD 1..=n.
fn adn_script(len: usize, names: &[&str]) -> Vec<u8> {
    let mut body = c_apdu_tlv(&hex("00A40004027F10"));
    body.extend(c_apdu_tlv(&hex("00A40004026F3A")));
    for (i, name) in names.iter().enumerate() {
        let mut u = vec![0x00, 0xDC, i as u8 + 1, 0x04, len as u8];
        u.extend_from_slice(&record(len, name));
        body.extend(c_apdu_tlv(&u));
    }
    tlv::encode_tlv(tlv::Tag(0xAA), &body)
}

/// 'AB' { '80' 01 n, R-APDUs }: n and the last R-APDU.
fn expanded_result(data: &[u8]) -> (u8, Vec<u8>) {
    let ab = tlv::Tlv::parse_expecting(data, tlv::Tag(0xAB)).unwrap();
    let items: Vec<_> = tlv::iter(ab.value).map(|t| t.unwrap()).collect();
    assert_eq!(items[0].tag, tlv::Tag(0x80));
    (items[0].value[0], items.last().unwrap().value.to_vec())
}

/// (a) RFM UPDATE RECORD of EF.ADN, below the threshold: one SMS, one ENVELOPE, the PoR from
/// the ENVELOPE response sent back as a mobile-originated SMS-SUBMIT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfm_update_record_of_ef_adn() {
    let mut card = ts48_card();
    let len = adn_record_len(&mut card);
    let mut b = bed(card, TerminalConfig::default()).await;
    // TS 102 223 §5.2: the terminal announced itself.
    assert_eq!(
        b.card(|c| c.ota_session().terminal_profile().map(<[u8]>::to_vec)),
        Some(modem::toolkit::TERMINAL_PROFILE.to_vec())
    );
    let script = adn_script(len, &["ALICE"]);
    let packet = b.server.packet(spi(false), RFM_TAR, 1, &script).unwrap();
    assert_eq!(b.send(&packet, 1).await, 1);
    let por = b.por(spi(false)).await;
    assert_eq!(por.status, PorStatus::PorOk);
    assert_eq!((por.tar, por.counter.value()), (RFM_TAR, 1));
    assert_eq!(expanded_result(&por.data), (3, vec![0x90, 0x00]));
    assert_eq!(b.card(|c| read_adn(c, 1, len)), record(len, "ALICE"));
    let st = b.stats();
    assert_eq!(
        (st.envelopes, st.capability_queries, st.resegmented),
        (1, 0, 0)
    );
    assert_eq!(b.mo_origins(1).await, [MoOrigin::EnvelopeResponse]);
    b.stop();
}

/// (b) RAM to an SSD personalizing its applet with data encrypted under the SSD's DEK; the
/// PoR comes as SEND SHORT MESSAGE (FETCH, TERMINAL RESPONSE).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ram_to_an_ssd_personalizes_an_applet() {
    let mut b = bed(
        ts48_card_with_ssd(&SSD_AID, &APP_AID),
        TerminalConfig::default(),
    )
    .await;
    let ssd_dek = Dek::aes(test_keys().dek().expose()).unwrap();
    let plain = hex("500E 4F544153534420504552534F2121"); // "OTASSD PERSO!!"
    let enc = ssd_dek.encrypt(&plain).unwrap();
    let k = hex("00112233445566778899AABBCCDDEEFF");
    let new_keys = gp::KeySet::aes(0x31, &k, &k, &k).unwrap();
    let mut rng = card::testing::SeededRng::new(b"sp");
    let put_key = PutKeyData::for_key_set(&new_keys, &ssd_dek, &mut rng).unwrap();
    let perso = Install::ForPersonalization {
        application_aid: APP_AID.to_vec(),
    }
    .command()
    .unwrap();
    // STORE DATA, P1: last block, encrypted (b6-b5 '11' application dependent), BER-TLV.
    let mut store = vec![0x80, 0xE2, 0x80 | 0x60 | 0x10, 0x00, enc.len() as u8];
    store.extend_from_slice(&enc);
    let mut body = c_apdu_tlv(&perso.encode().unwrap());
    body.extend(c_apdu_tlv(&store));
    body.extend(c_apdu_tlv(
        &gp::commands::put_key_command(0x00, 0x01, &put_key)
            .unwrap()
            .encode()
            .unwrap(),
    ));
    let script = tlv::encode_tlv(tlv::Tag(0xAA), &body);
    assert!(!script.windows(plain.len()).any(|w| w == plain.as_slice()));
    let packet = b.server.packet(spi(true), SSD_TAR, 1, &script).unwrap();
    b.send(&packet, 2).await;
    let por = b.por(spi(true)).await;
    assert_eq!(por.status, PorStatus::PorOk);
    assert_eq!(por.tar, SSD_TAR);
    // Three commands; PUT KEY answers its key check values, then '9000'.
    let (n, last) = expanded_result(&por.data);
    assert_eq!(n, 3);
    assert!(last.ends_with(&[0x90, 0x00]));
    let value = b.card(|c| {
        c.state()
            .gp
            .app(&APP_AID)
            .unwrap()
            .data_object(0x50)
            .unwrap()
            .value
            .clone()
    });
    assert_eq!(value, plain[2..]);
    assert!(b.stats().fetches >= 1);
    assert_eq!(b.mo_origins(1).await, [MoOrigin::SendShortMessage]);
    assert!(!b.card(|c| c.proactive_pending()));
    b.stop();
}

/// (c) A script over the threshold: the terminal asks the card for its capability (piece
/// size 100 octets here) and delivers the still-encrypted packet in that size; the card
/// applies it once. A second large message uses the cached capability.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_over_the_threshold_in_card_sized_pieces() {
    let mut card = ts48_card();
    let len = adn_record_len(&mut card);
    let mut st = card.state().clone();
    st.ota.config.max_segment_ud = 100;
    card.load_state(st);
    let names = ["R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8"];
    let s = server();
    let packet = s
        .packet(spi(false), RFM_TAR, 7, &adn_script(len, &names))
        .unwrap();
    let config = TerminalConfig {
        threshold: packet.len(),
        ..TerminalConfig::default()
    };
    let before = card.state_revision();
    let mut b = bed(card, config).await;
    let sms = b.send(&packet, 9).await;
    assert!(sms >= 3, "{sms} SMS");
    let por = b.por(spi(false)).await;
    assert_eq!(por.status, PorStatus::PorOk);
    assert_eq!(
        expanded_result(&por.data),
        (names.len() as u8 + 2, vec![0x90, 0x00])
    );
    // First piece: UDHL, IE '70', concatenation IE (8 octets) → 92 packet octets; others
    // UDHL + concatenation IE (6 octets) → 94.
    let pieces = 1 + (packet.len() - 92).div_ceil(94);
    let st = b.stats();
    assert_eq!(st.capability_queries, 1);
    assert_eq!(st.resegmented, 1);
    assert_eq!(st.envelopes, pieces);
    assert!(pieces > sms);
    assert!(st.envelope_ud_lens.iter().all(|l| *l <= 100));
    // Applied exactly once: one PoR, one counter step, one state change, nothing pending.
    assert_eq!(b.mo_origins(1).await, [MoOrigin::EnvelopeResponse]);
    b.card(|c| {
        assert_eq!(c.state().ota.counter(RFM_TAR), 7);
        assert_eq!(c.ota_session().pending_messages(), 0);
        assert_eq!(c.state_revision(), before.wrapping_add(1));
        for (i, n) in names.iter().enumerate() {
            assert_eq!(read_adn(c, i as u8 + 1, len), record(len, n));
        }
    });
    // Another large script: the capability is cached for the card session.
    let names2 = ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"];
    let packet2 = b
        .server
        .packet(spi(false), RFM_TAR, 8, &adn_script(len, &names2))
        .unwrap();
    b.send(&packet2, 10).await;
    assert_eq!(b.por(spi(false)).await.status, PorStatus::PorOk);
    let st = b.stats();
    assert_eq!((st.capability_queries, st.resegmented), (1, 2));
    assert_eq!(b.card(|c| read_adn(c, 8, len)), record(len, "S8"));
    b.stop();
}

/// (d) A replayed packet: PoR '02' (counter low), no state change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_packet_gets_por_02_and_changes_nothing() {
    let mut card = ts48_card();
    let len = adn_record_len(&mut card);
    let mut b = bed(card, TerminalConfig::default()).await;
    let packet = b
        .server
        .packet(spi(false), RFM_TAR, 5, &adn_script(len, &["FIRST"]))
        .unwrap();
    b.send(&packet, 3).await;
    assert_eq!(b.por(spi(false)).await.status, PorStatus::PorOk);
    // Something else in between, so that a replay would be visible.
    let (rev, adn) = b.card(|c| {
        let mut st = c.state().clone();
        st.ota.config.msl = 0x16;
        c.load_state(st);
        (c.state_revision(), read_adn(c, 1, len))
    });
    assert_eq!(adn, record(len, "FIRST"));
    // The very same packet again (a replay by the network or an attacker).
    b.send(&packet, 4).await;
    let por = b.por(spi(false)).await;
    assert_eq!(por.status, PorStatus::CounterLow);
    assert_eq!(por.counter.value(), 5);
    b.card(|c| {
        assert_eq!(c.state_revision(), rev);
        assert_eq!(c.state().ota.counter(RFM_TAR), 5);
        assert_eq!(read_adn(c, 1, len), record(len, "FIRST"));
    });
    b.stop();
}
