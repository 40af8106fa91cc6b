//! Interactive single-card exchanges ([`otasrv::service::OtaService::exchange`]) against the
//! built-in SMSC simulator and [`otasrv::sim::SimFleet`], alone and beside a running campaign,
//! on SQLite and PostgreSQL (`SIMKIT_TEST_POSTGRES_URL`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ota::{PorStatus, Spi};
use otasrv::service::{Exchange, OtaService, ServiceConfig};
use otasrv::sim::SimFleet;
use otasrv::{CardImport, CatalogueItem, Error, JobState, KeySet, OtaStore, RetryPolicy};
use smpp::smsc::{self, Faults, SmscConfig, SmscHandle};
use smpp::{BindMode, CommandStatus, EsmeConfig, SmeAddress};
use store::both_backends;
use store::testing::TestDatabase;

both_backends!(single_card_exchanges, exchanges_beside_a_campaign);

/// RAM of the issuer security domain (TS 101 220 Annex D).
const TAR_ISD: [u8; 3] = [0x00, 0x00, 0x00];
/// RFM of the UICC (TS 101 220 Annex D), the campaign's TAR.
const TAR_RFM: [u8; 3] = [0xB0, 0x00, 0x10];

const CARD: &str = "4917000001";
const CARD_WITHOUT_KEYS: &str = "4917000002";
const CARD_AHEAD: &str = "4917000003";

/// pySim tests/unittests/test_ota.py `Test_SMS_AES128` keys (KVN 1, AES-128).
fn key_set() -> KeySet {
    KeySet::aes(
        1,
        &hex::decode("200102030405060708090A0B0C0D0E0F").unwrap(),
        &hex::decode("201102030405060708090A0B0C0D0E0F").unwrap(),
    )
    .unwrap()
}

/// SPI '16 39': counter must be higher, ciphered, CC; PoR always, with CC, ciphered, by
/// SMS-SUBMIT (TS 102 225 §5.1.1).
fn spi() -> Spi {
    Spi::from_bytes([0x16, 0x39]).unwrap()
}

fn exchange(address: &str, timeout: Duration) -> Exchange {
    Exchange {
        address: address.to_string(),
        tar: TAR_ISD,
        spi: spi(),
        // A GET STATUS of the ISD (GP Card Spec §11.4), compact format (TS 102 226 §5.1.1).
        data: hex::decode("80F28000024F0000").unwrap(),
        timeout,
    }
}

struct Rig {
    fleet: Arc<SimFleet>,
    smsc: SmscHandle,
    cfg: ServiceConfig,
}

async fn rig(tick: Duration) -> Rig {
    let (fleet, mo) = SimFleet::new(&key_set()).unwrap();
    let mut scfg = SmscConfig::new("otasrv", "secret");
    scfg.deliver_timeout = Duration::from_secs(1);
    let smsc = smsc::start(scfg, 0, fleet.clone()).await.unwrap();
    SimFleet::forward(smsc.clone(), mo);
    let mut esme = EsmeConfig::new(BindMode::Transceiver, "otasrv", "secret");
    esme.window = 50;
    esme.reconnect_delay = Duration::from_millis(50);
    let mut cfg = ServiceConfig::new(smsc.local_addr(), esme);
    cfg.source = SmeAddress::new(0, 1, "1234");
    cfg.tick = tick;
    Rig { fleet, smsc, cfg }
}

async fn single_card_exchanges(h: &mut TestDatabase) {
    // The card already used counters up to 5 on the ISD's TAR.
    h.db.import_cards(vec![
        CardImport {
            address: CARD.into(),
            iccid: None,
            keys: Some(key_set()),
            counters: BTreeMap::from([(TAR_ISD, 5)]),
        },
        CardImport {
            address: CARD_AHEAD.into(),
            iccid: None,
            keys: Some(key_set()),
            counters: BTreeMap::from([(TAR_ISD, 5)]),
        },
        CardImport {
            address: CARD_WITHOUT_KEYS.into(),
            iccid: None,
            keys: None,
            counters: BTreeMap::new(),
        },
    ])
    .await
    .unwrap();
    // A claim tick far longer than any exchange may take: exchanges must not wait for it.
    let tick = Duration::from_secs(10);
    let rig = rig(tick).await;
    // Response data the simulated card puts in its PoR (number of commands executed '01' and
    // the last status word '90 00', TS 102 226 §5.1.1 compact remote response).
    rig.fleet.set_response_data(vec![0x01, 0x90, 0x00]);
    let svc = OtaService::start(h.db.clone(), rig.cfg.clone());
    let wait = Duration::from_secs(5);

    // The PoR comes back with its status, TAR, the counter allocated and the data.
    let t0 = Instant::now();
    let por = svc.exchange(exchange(CARD, wait)).await.unwrap();
    assert!(
        t0.elapsed() < tick,
        "delayed by the claim tick: {:?}",
        t0.elapsed()
    );
    assert_eq!(por.status, PorStatus::PorOk);
    assert_eq!(por.tar, TAR_ISD);
    assert_eq!(por.counter.value(), 6);
    assert_eq!(por.data, vec![0x01, 0x90, 0x00]);
    // The next exchange is a new packet with the next counter.
    let por = svc.exchange(exchange(CARD, wait)).await.unwrap();
    assert_eq!(por.status, PorStatus::PorOk);
    assert_eq!(por.counter.value(), 7);
    let seen = rig.fleet.with_radio(|r| r.seen.clone());
    assert_eq!(seen.get(&(CARD.to_string(), 6)), Some(&1));
    assert_eq!(seen.get(&(CARD.to_string(), 7)), Some(&1));

    // Refusals before anything is sent.
    assert!(matches!(
        svc.exchange(exchange("4917999999", wait)).await,
        Err(Error::UnknownCard(a)) if a == "4917999999"
    ));
    assert!(matches!(
        svc.exchange(exchange(CARD_WITHOUT_KEYS, wait)).await,
        Err(Error::NoKeySet(a)) if a == CARD_WITHOUT_KEYS
    ));
    assert!(matches!(
        svc.exchange(exchange("+4917000001", wait)).await,
        Err(Error::Invalid {
            field: "address",
            ..
        })
    ));
    let mut no_por = exchange(CARD, wait);
    no_por.spi.por = ota::PorRequest::Never;
    assert!(matches!(
        svc.exchange(no_por).await,
        Err(Error::Invalid { field: "SPI", .. })
    ));

    // The card is out of reach: no PoR in time; the counter was used up.
    rig.fleet.set_unreachable(CARD, true);
    match svc
        .exchange(exchange(CARD, Duration::from_millis(300)))
        .await
    {
        Err(Error::NoPor { address, counter }) => {
            assert_eq!(address, CARD);
            assert_eq!(counter, 8);
        }
        other => panic!("expected NoPor, got {other:?}"),
    }
    // A caller that gives up (drops the future) does not disturb the service.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        svc.exchange(exchange(CARD, Duration::from_secs(60))),
    )
    .await;
    assert!(gave_up.is_err());
    rig.fleet.set_unreachable(CARD, false);
    let por = svc.exchange(exchange(CARD, wait)).await.unwrap();
    assert_eq!(por.status, PorStatus::PorOk);
    assert_eq!(
        por.counter.value(),
        10,
        "counter 9 went to the abandoned exchange"
    );

    // The SMSC refuses the submit permanently.
    rig.smsc.set_faults(Faults {
        reject_submits: Some(CommandStatus::ESME_RINVDSTADR),
        ..Faults::default()
    });
    match svc.exchange(exchange(CARD, wait)).await {
        Err(Error::Refused { address, status }) => {
            assert_eq!(address, CARD);
            assert_eq!(status, CommandStatus::ESME_RINVDSTADR);
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    rig.smsc.set_faults(Faults::default());
    let por = svc.exchange(exchange(CARD, wait)).await.unwrap();
    assert_eq!(por.counter.value(), 12);

    // A PoR with an error status is returned as such: the store's counter for this card is
    // ahead of the card's (0), and the SPI asks for exactly one higher, so the card refuses
    // counter 6 with '03' counter high (TS 102 225 §5.1.1 SPI1 b5-b4 = '11', §5.2.1).
    let mut one_higher = exchange(CARD_AHEAD, wait);
    one_higher.spi = Spi::from_bytes([0x1E, 0x39]).unwrap();
    let por = svc.exchange(one_higher).await.unwrap();
    assert_eq!(por.counter.value(), 6);
    assert_eq!(por.status, PorStatus::CounterHigh);

    let stats = svc.stats();
    assert_eq!(stats.exchange_pors, 5, "{stats:?}");
    assert_eq!(
        stats.pors, 0,
        "exchange PoRs went to the campaign store: {stats:?}"
    );
    svc.shutdown().await;
    rig.smsc.stop();
}

async fn exchanges_beside_a_campaign(h: &mut TestDatabase) {
    const CARDS: u32 = 300;
    let address = |n: u32| format!("4918{n:07}");
    let cards: Vec<CardImport> = (0..CARDS)
        .map(|n| CardImport {
            address: address(n),
            iccid: None,
            keys: Some(key_set()),
            counters: BTreeMap::new(),
        })
        .collect();
    h.db.import_cards(cards).await.unwrap();
    // An RFM SELECT MF (compact format, TS 102 226 §5.1.1) to every card.
    let item = CatalogueItem::new(
        "select-mf",
        TAR_RFM,
        spi(),
        hex::decode("A0A40000023F00").unwrap(),
    )
    .unwrap();
    h.db.put_item(item).await.unwrap();
    let policy = RetryPolicy {
        max_attempts: 3,
        base_backoff_ms: 200,
        max_backoff_ms: 1000,
        por_timeout_ms: 5000,
        submit_timeout_ms: 5000,
    };
    let now = otasrv::service::system_clock()();
    h.db.create_campaign(
        "mixed",
        "select-mf",
        (0..CARDS).map(address).collect(),
        policy,
        now,
    )
    .await
    .unwrap();
    let rig = rig(Duration::from_millis(50)).await;
    let svc = OtaService::start(h.db.clone(), rig.cfg.clone());

    // Exchanges with cards of the campaign (on another TAR) while it runs.
    for n in 0..5u32 {
        let por = svc
            .exchange(exchange(&address(n * 7), Duration::from_secs(10)))
            .await
            .unwrap();
        assert_eq!(por.status, PorStatus::PorOk);
        assert_eq!(por.tar, TAR_ISD);
        assert_eq!(por.counter.value(), 1);
        assert_eq!(por.data, vec![0x90, 0x00]);
    }

    let start = Instant::now();
    let st = loop {
        let st = h.db.campaign_status("mixed").await.unwrap();
        if st.is_done() {
            break st;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{st:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(st.count(JobState::PorOk), u64::from(CARDS), "{st:?}");
    let stats = svc.stats();
    assert_eq!(stats.exchange_pors, 5, "{stats:?}");
    svc.shutdown().await;
    rig.smsc.stop();
    assert_eq!(rig.fleet.with_radio(|r| r.refused), 0);
}
