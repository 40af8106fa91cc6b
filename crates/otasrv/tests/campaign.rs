//! A campaign over 10,000 cards against the built-in SMSC simulator, with a server restart
//! in the middle, on SQLite and PostgreSQL (`SIMKIT_TEST_POSTGRES_URL`).
//!
//! The simulator's mobile station is [`otasrv::sim::SimFleet`]: a lightweight simulated card
//! per address that opens each delivered command packet with the card-side API
//! (`ota::ts102225::receive_command`, that card's keys and stored counter), answers with a PoR
//! built by `build_response`, and sends it back as a mobile-originated deliver_sm, retrying
//! until an ESME acknowledges it (as an SMSC stores MO messages). It counts every packet by
//! (card address, counter).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use ota::Spi;
use otasrv::service::{OtaService, ServiceConfig};
use otasrv::sim::SimFleet;
use otasrv::{CardImport, CatalogueItem, JobState, KeySet, OtaStore, RetryPolicy};
use smpp::smsc::{self, Faults, SmscConfig};
use smpp::{BindMode, EsmeConfig, SmeAddress};
use store::both_backends;
use store::testing::TestDatabase;

both_backends!(
    campaign_10k_with_restart,
    bind_refused_dropped_and_throttled
);

const TAR: [u8; 3] = [0xB0, 0x00, 0x10];

/// pySim tests/unittests/test_ota.py `Test_SMS_AES128` keys (KVN 1, AES-128).
fn key_set() -> KeySet {
    KeySet::aes(
        1,
        &hex::decode("200102030405060708090A0B0C0D0E0F").unwrap(),
        &hex::decode("201102030405060708090A0B0C0D0E0F").unwrap(),
    )
    .unwrap()
}

fn address(n: u32) -> String {
    format!("4917{n:07}")
}

async fn wait_for(
    db: &store::Database,
    what: &str,
    limit: Duration,
    mut done: impl FnMut(&otasrv::CampaignStatus) -> bool,
) -> otasrv::CampaignStatus {
    let start = Instant::now();
    loop {
        let st = db.campaign_status("c10k").await.unwrap();
        if done(&st) {
            return st;
        }
        assert!(
            start.elapsed() < limit,
            "timed out waiting for {what}: {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn campaign_10k_with_restart(h: &mut TestDatabase) {
    run(h, 10_000, Faults::default(), true).await;
}

/// The SMSC refuses the first bind, drops two bound connections mid-window and throttles every
/// 7th submit: the server rebinds and backs off, and still no message is lost or duplicated.
async fn bind_refused_dropped_and_throttled(h: &mut TestDatabase) {
    let faults = Faults {
        refuse_binds: 1,
        throttle_every: Some(7),
        drop_after_pdus: Some(150),
        drop_connections: 3,
        ..Faults::default()
    };
    let stats = run(h, 600, faults, false).await;
    // The refused bind's connection takes one of the three drops; two bound sessions are
    // dropped with submits in flight.
    assert!(stats.bind_rejections >= 1, "{stats:?}");
    assert!(stats.binds >= 3, "{stats:?}");
    assert!(stats.retried > 0, "{stats:?}");
}

async fn run(
    h: &mut TestDatabase,
    cards_n: u32,
    faults: Faults,
    restart: bool,
) -> otasrv::service::ServiceStats {
    #[allow(non_snake_case)]
    let CARDS = cards_n;
    let t0 = Instant::now();
    let cards: Vec<CardImport> = (0..CARDS)
        .map(|n| CardImport {
            address: address(n),
            iccid: None,
            keys: Some(key_set()),
            counters: BTreeMap::new(),
        })
        .collect();
    h.db.import_cards(cards).await.unwrap();
    // SPI '16 39': counter must be higher, ciphered, CC; PoR always, with CC, ciphered, by
    // SMS-SUBMIT. Data: an RFM SELECT MF (compact format, TS 102 226 §5.1.1).
    let spi = Spi::from_bytes([0x16, 0x39]).unwrap();
    let item = CatalogueItem::new(
        "select-mf",
        TAR,
        spi,
        hex::decode("A0A40000023F00").unwrap(),
    )
    .unwrap();
    h.db.put_item(item).await.unwrap();
    let policy = RetryPolicy {
        max_attempts: 5,
        base_backoff_ms: 200,
        max_backoff_ms: 2000,
        por_timeout_ms: 5000,
        submit_timeout_ms: 5000,
    };
    let addrs: Vec<String> = (0..CARDS).map(address).collect();
    let now = otasrv::service::system_clock()();
    assert_eq!(
        h.db.create_campaign("c10k", "select-mf", addrs, policy, now)
            .await
            .unwrap(),
        u64::from(CARDS)
    );
    eprintln!("setup {:?}", t0.elapsed());

    let (sim, mo) = SimFleet::new(&key_set()).unwrap();
    let mut scfg = SmscConfig::new("otasrv", "secret");
    scfg.deliver_timeout = Duration::from_secs(1);
    let smsc = smsc::start(scfg, 0, sim.clone()).await.unwrap();
    smsc.set_faults(faults);
    SimFleet::forward(smsc.clone(), mo);

    let mut esme = EsmeConfig::new(BindMode::Transceiver, "otasrv", "secret");
    esme.window = 100;
    esme.reconnect_delay = Duration::from_millis(50);
    let mut cfg = ServiceConfig::new(smsc.local_addr(), esme);
    cfg.source = SmeAddress::new(0, 1, "1234");
    cfg.tick = Duration::from_millis(50);

    let mut svc = OtaService::start(h.db.clone(), cfg.clone());
    if restart {
        let st = wait_for(&h.db, "a third", Duration::from_secs(60), |s| {
            s.count(JobState::PorOk) >= u64::from(CARDS / 3)
        })
        .await;
        // Crash: abort the service mid-campaign, then a new one on the same database.
        drop(svc);
        eprintln!("restart at {:?} after {:?}", st.states, t0.elapsed());
        // A crashed process holds no connections: close the old pool (its aborted
        // transactions roll back) before the new service opens the database.
        h.db.close().await;
        h.db = store::Database::connect_with(h.opts.clone()).await.unwrap();
        svc = OtaService::start(h.db.clone(), cfg);
    }
    let st = wait_for(&h.db, "completion", Duration::from_secs(120), |s| {
        s.is_done()
    })
    .await;
    let stats = svc.stats();
    eprintln!(
        "done {:?} in {:?}; service {stats:?}",
        st.states,
        t0.elapsed()
    );
    svc.shutdown().await;
    smsc.stop();

    assert_eq!(st.count(JobState::PorOk), u64::from(CARDS), "{st:?}");
    let (refused, seen) = sim.with_radio(|r| (r.refused, r.seen.clone()));
    assert_eq!(refused, 0, "the cards refused packets (counter reuse?)");
    // Each command packet reached the SMSC exactly once: by (card address, counter).
    let dup: Vec<_> = seen.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        dup.is_empty(),
        "packets seen more than once: {:?}",
        &dup[..dup.len().min(5)]
    );
    // The server's record agrees: one submission per packet, no counter value reused, and
    // every packet the SMSC got is one the server recorded.
    let subs = h.db.campaign_submissions("c10k").await.unwrap();
    let mut keys: Vec<(String, u64)> = subs
        .iter()
        .map(|s| (s.address.clone(), s.counter))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), subs.len(), "a counter value was used twice");
    for k in seen.keys() {
        assert!(keys.binary_search(k).is_ok(), "unknown packet {k:?}");
    }
    // Every card got at least one packet; a second packet (a new counter) only where the
    // server recorded a retry.
    let mut per_card: HashMap<&str, u32> = HashMap::new();
    for (a, _) in seen.keys() {
        *per_card.entry(a.as_str()).or_default() += 1;
    }
    assert_eq!(per_card.len(), CARDS as usize);
    let extra: u32 = per_card.values().map(|n| n - 1).sum();
    eprintln!(
        "cards with a retried packet: {extra}; packets recorded {}",
        st.packets
    );
    assert!(u64::from(CARDS + extra) <= st.packets);
    stats
}
