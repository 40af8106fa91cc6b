//! End to end through every role, on SQLite and PostgreSQL (`SIMKIT_TEST_POSTGRES_URL`): the
//! OTA server service (`otasrv::service::OtaService` over the `store` database) → SMPP
//! (bind_transceiver, submit_sm) → the built-in SMSC simulator → one terminal simulator per
//! subscriber (`modem::net::Modem`, routed by destination MSISDN) → the virtual card
//! (`card::Card`, a TS.48 profile enabled, an SSD with an extradited applet) → the PoR back as a
//! mobile-originated SMS → deliver_sm → the service matches it (card address, TAR, counter)
//! and marks the job PoR OK.
//!
//! Two campaigns run at the same time over two cards:
//! * a first-type item: RFM (TAR 'B00000', TS 101 220 Annex D) UPDATE RECORD of EF.ADN
//!   (DF.TELECOM '7F10' / '6F3A', TS 31.102 §4.4.2.3) in the expanded remote command format
//!   (TS 102 226 §5.2); its PoR is asked for in the SMS-DELIVER-REPORT (SPI2 b6 = 0), so the
//!   terminal sends the ENVELOPE response back as an SMS-SUBMIT;
//! * a second-type item: RAM to an SSD (its TAR 'C0C1C2' is bytes 13-15 of its AID,
//!   TS 101 220 §6): INSTALL [for personalization] and a STORE DATA whose data is encrypted
//!   under the SSD's DEK (GP CS v2.3.1 §11.11.2.2), so the server only carries an SP's
//!   protected blob; its PoR is asked for by SMS-SUBMIT (SPI2 b6 = 1), so the card sends it by
//!   proactive SEND SHORT MESSAGE (TS 102 223 §6.4.10).
//!
//! Keys: the cards' factory OTA key set (KVN 1, AES-128 CBC / AES-CMAC) is pySim's
//! `Test_SMS_AES128` pair (`tests/unittests/test_ota.py`), imported into the server per card;
//! the SSD keys are the GP test keys 404142..4F. Card, SSD and applet set-up follow
//! `tests/e2e.rs` (GP host helpers shared from `crates/card/tests/gp_common`).

#[path = "../../card/tests/gp_common/mod.rs"]
mod gp_common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use card::ota::{DEFAULT_KIC, DEFAULT_KID};
use card::Card;
use gp::commands::Install;
use gp::Dek;
use gp_common::*;
use modem::net::{Modem, ModemConfig, Report, Subscribers};
use modem::{MoOrigin, Output, Terminal, TerminalConfig};
use ota::ts23040::Scts;
use ota::{PorTransport, Spi};
use otasrv::service::{OtaService, ServiceConfig};
use otasrv::{CampaignStatus, CardImport, CatalogueItem, ItemClass, JobState, KeySet};
use otasrv::{OtaStore, RetryPolicy};
use smpp::smsc::{self, SmscConfig};
use smpp::{BindMode, CommandStatus, EsmeConfig, SmeAddress};
use store::both_backends;
use store::testing::TestDatabase;

both_backends!(rfm_and_ram_campaigns_through_smsc_modems_and_cards);

const RFM_TAR: [u8; 3] = [0xB0, 0x00, 0x00];
/// An SSD whose AID carries its TAR 'C0C1C2' in bytes 13-15.
const SSD_AID: [u8; 16] = [
    0xA0, 0x00, 0x00, 0x01, 0x51, 0x53, 0x50, 0x41, 0x00, 0x00, 0x00, 0x01, 0xC0, 0xC1, 0xC2, 0x00,
];
const SSD_TAR: [u8; 3] = [0xC0, 0xC1, 0xC2];
const APP_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x00, 0x99, 0x77, 0x66, 0x01];
const OTA_SERVER: &str = "4912345678";
const MSISDNS: [&str; 2] = ["491700000001", "491700000002"];
const SYSTEM_ID: &str = "otasrv";
const WAIT: Duration = Duration::from_secs(60);

/// The cards' factory OTA key set as the server imports it.
fn card_keys() -> KeySet {
    KeySet::aes(1, &DEFAULT_KIC, &DEFAULT_KID).unwrap()
}

/// Counter higher, ciphered, CC; PoR always, CC, ciphered, by SMS-DELIVER-REPORT or by
/// SMS-SUBMIT (TS 102 225 §5.1.1).
fn spi(por_by_submit: bool) -> Spi {
    Spi::secured(if por_by_submit {
        PorTransport::SmsSubmit
    } else {
        PorTransport::DeliverReport
    })
}

fn adn_record_len(card: &mut Card) -> usize {
    card::testing::adn_record_len(card).expect("the TS.48 profile has EF.ADN")
}

fn read_adn(card: &mut Card, rec: u8, len: usize) -> Vec<u8> {
    card::testing::read_adn(card, rec, len).expect("READ RECORD of EF.ADN")
}

use card::testing::adn_record as record;

/// C-APDU TLV of the expanded format (TS 102 226 §5.2.1).
fn c_apdu_tlv(apdu: &[u8]) -> Vec<u8> {
    tlv::encode_tlv(tlv::Tag(0x22), apdu)
}

/// Expanded RFM script: SELECT DF.TELECOM, SELECT EF.ADN, UPDATE RECORD 1 (absolute).
fn adn_script(len: usize, name: &str) -> Vec<u8> {
    let mut body = c_apdu_tlv(&hex("00A40004027F10"));
    body.extend(c_apdu_tlv(&hex("00A40004026F3A")));
    let mut u = vec![0x00, 0xDC, 0x01, 0x04, len as u8];
    u.extend_from_slice(&record(len, name));
    body.extend(c_apdu_tlv(&u));
    tlv::encode_tlv(tlv::Tag(0xAA), &body)
}

/// Expanded RAM script for the SSD: INSTALL [for personalization] of the applet, then one
/// STORE DATA (P1: last block, b6-b5 '11' encrypted application dependent, b4 BER-TLV;
/// GP CS v2.3.1 §11.11.2.1) carrying `encrypted`.
fn perso_script(encrypted: &[u8]) -> Vec<u8> {
    let perso = Install::ForPersonalization {
        application_aid: APP_AID.to_vec(),
    }
    .command()
    .unwrap();
    let mut store = vec![0x80, 0xE2, 0x80 | 0x60 | 0x10, 0x00, encrypted.len() as u8];
    store.extend_from_slice(encrypted);
    let mut body = c_apdu_tlv(&perso.encode().unwrap());
    body.extend(c_apdu_tlv(&store));
    tlv::encode_tlv(tlv::Tag(0xAA), &body)
}

/// The statuses of `names`, once every job of each is final (or a panic after [`WAIT`]).
async fn wait_done(
    db: &store::Database,
    names: &[&str],
    modems: &[Modem<Card>],
    svc: &OtaService,
) -> Vec<CampaignStatus> {
    let start = Instant::now();
    loop {
        let mut all = Vec::new();
        for n in names {
            all.push(db.campaign_status(n).await.unwrap());
        }
        if all.iter().all(CampaignStatus::is_done) {
            return all;
        }
        if start.elapsed() > WAIT {
            let reports: Vec<_> = modems.iter().map(Modem::reports).collect();
            panic!(
                "campaigns not done: {all:?}; service {:?}; modems {reports:?}",
                svc.stats()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The origins of the mobile-originated SMS a modem delivered (each is recorded once its
/// deliver_sm_resp is back, which may be just after the server stored the PoR).
async fn mo_origins(modem: &Modem<Card>, expected: usize) -> Vec<MoOrigin> {
    let origins = || -> Vec<MoOrigin> {
        modem
            .reports()
            .into_iter()
            .filter_map(|r| match r {
                Report::Output {
                    output: Output::MobileOriginated { origin, .. },
                    delivery,
                } => {
                    assert_eq!(delivery, Ok(Some(CommandStatus::ESME_ROK)));
                    Some(origin)
                }
                Report::Error(e) => panic!("the terminal refused a message: {e}"),
                _ => None,
            })
            .collect()
    };
    for _ in 0..500 {
        if origins().len() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    origins()
}

async fn rfm_and_ram_campaigns_through_smsc_modems_and_cards(h: &mut TestDatabase) {
    // The cards, one per subscriber.
    let mut cards: Vec<Card> = MSISDNS
        .iter()
        .map(|_| ts48_card_with_ssd(&SSD_AID, &APP_AID))
        .collect();
    let len = adn_record_len(&mut cards[0]);
    for c in &mut cards {
        // The TS.48 profile ships record 1 as "Testnr.1".
        assert_ne!(read_adn(c, 1, len), record(len, "ALICE"));
        assert!(c
            .state()
            .gp
            .app(&APP_AID)
            .unwrap()
            .data_object(0x50)
            .is_none());
    }

    // The SMSC and one modem per MSISDN.
    let mut routes = Subscribers::default();
    let incoming: Vec<_> = MSISDNS.iter().map(|m| routes.add(m)).collect();
    let smsc = smsc::start(SmscConfig::new(SYSTEM_ID, "secret"), 0, Arc::new(routes))
        .await
        .unwrap();
    let modems: Vec<Modem<Card>> = cards
        .into_iter()
        .zip(incoming)
        .zip(MSISDNS)
        .map(|((card, rx), msisdn)| {
            Modem::spawn(
                Terminal::new(card, TerminalConfig::default()),
                smsc.clone(),
                rx,
                ModemConfig {
                    msisdn: SmeAddress::new(1, 1, msisdn),
                    esme: Some(SYSTEM_ID.into()),
                    scts: Box::new(|| Scts::new([25, 6, 1, 12, 0, 0], 4)),
                    retry_interval: Duration::from_millis(20),
                },
            )
            .unwrap()
        })
        .collect();

    // The server's side: the cards with their OTA keys, the catalogue, the campaigns.
    let imports = MSISDNS
        .iter()
        .map(|m| CardImport {
            address: m.to_string(),
            iccid: Some("89882100000000000000".into()),
            keys: Some(card_keys()),
            counters: BTreeMap::new(),
        })
        .collect();
    assert_eq!(h.db.import_cards(imports).await.unwrap(), 2);

    let rfm =
        CatalogueItem::new("adn-alice", RFM_TAR, spi(false), adn_script(len, "ALICE")).unwrap();
    assert_eq!(rfm.class, ItemClass::First);
    h.db.put_item(rfm).await.unwrap();

    // The SP's personalization data, encrypted under the SSD's DEK (not the card's OTA keys).
    let mut plain = vec![0x50, 0x0E];
    plain.extend_from_slice(b"OTASRV PERSO!!");
    let ssd_dek = Dek::aes(test_keys().dek().expose()).unwrap();
    let encrypted = ssd_dek.encrypt(&plain).unwrap();
    let ram =
        CatalogueItem::new("ssd-perso", SSD_TAR, spi(true), perso_script(&encrypted)).unwrap();
    assert_eq!(ram.class, ItemClass::Second);
    assert!(!ram.data.windows(plain.len()).any(|w| w == plain.as_slice()));
    h.db.put_item(ram).await.unwrap();

    let policy = RetryPolicy {
        max_attempts: 3,
        base_backoff_ms: 500,
        max_backoff_ms: 2_000,
        por_timeout_ms: 30_000,
        submit_timeout_ms: 30_000,
    };
    let now = otasrv::service::system_clock()();
    let addrs: Vec<String> = MSISDNS.iter().map(|m| m.to_string()).collect();
    for (campaign, item) in [("rfm-adn", "adn-alice"), ("ram-ssd", "ssd-perso")] {
        assert_eq!(
            h.db.create_campaign(campaign, item, addrs.clone(), policy, now)
                .await
                .unwrap(),
            2
        );
    }

    // The service.
    let mut esme = EsmeConfig::new(BindMode::Transceiver, SYSTEM_ID, "secret");
    esme.window = 10;
    esme.reconnect_delay = Duration::from_millis(50);
    let mut cfg = ServiceConfig::new(smsc.local_addr(), esme);
    cfg.source = SmeAddress::new(1, 1, OTA_SERVER);
    cfg.tick = Duration::from_millis(50);
    let svc = OtaService::start(h.db.clone(), cfg);

    let st = wait_done(&h.db, &["rfm-adn", "ram-ssd"], &modems, &svc).await;
    let stats = svc.stats();
    svc.shutdown().await;

    // (c) Every job PoR OK, on the first packet.
    for s in &st {
        assert_eq!(s.total, 2, "{s:?}");
        assert_eq!(s.count(JobState::PorOk), 2, "{s:?}");
        assert_eq!(s.packets, 2, "one packet per card: {s:?}");
    }
    assert_eq!(stats.pors, 4, "{stats:?}");
    assert_eq!(stats.ignored_delivers, 0, "{stats:?}");
    assert_eq!(stats.last_error, None, "{stats:?}");
    // The server's record: each packet's PoR matched by (card, TAR, counter 1).
    for (campaign, tar) in [("rfm-adn", RFM_TAR), ("ram-ssd", SSD_TAR)] {
        let mut subs = h.db.campaign_submissions(campaign).await.unwrap();
        subs.sort_by(|a, b| a.address.cmp(&b.address));
        let got: Vec<_> = subs
            .iter()
            .map(|s| (s.address.as_str(), s.tar, s.counter, s.state.as_str()))
            .collect();
        let want: Vec<_> = MSISDNS.iter().map(|m| (*m, tar, 1, "por")).collect();
        assert_eq!(got, want, "{campaign}");
    }
    let sstats = smsc.stats();
    assert_eq!(sstats.submits_accepted, 4, "{sstats:?}");
    assert_eq!(sstats.delivers, 4, "{sstats:?}");

    for modem in &modems {
        // One PoR from the ENVELOPE response (RFM, PoR by SMS-DELIVER-REPORT) and one by
        // proactive SEND SHORT MESSAGE (RAM, PoR by SMS-SUBMIT).
        let mut origins = mo_origins(modem, 2).await;
        origins.sort_by_key(|o| format!("{o:?}"));
        assert_eq!(
            origins,
            [MoOrigin::EnvelopeResponse, MoOrigin::SendShortMessage]
        );
        assert!(modem.with_terminal(|t| t.stats().fetches) >= 1);
        modem.with_terminal(|t| {
            let c = t.card_mut();
            assert!(!c.proactive_pending());
            // Each packet applied once: the card's counter per TAR is the server's.
            assert_eq!(c.state().ota.counter(RFM_TAR), 1);
            assert_eq!(c.state().ota.counter(SSD_TAR), 1);
            // (a) The record reads back through the card.
            assert_eq!(read_adn(c, 1, len), record(len, "ALICE"));
            // (b) The applet's data object is set from the decrypted STORE DATA.
            let value = c
                .state()
                .gp
                .app(&APP_AID)
                .unwrap()
                .data_object(0x50)
                .unwrap()
                .value
                .clone();
            assert_eq!(value, plain[2..]);
        });
        modem.abort();
    }
    smsc.stop();
}
