//! A campaign over 10,000 real virtual cards with a server restart in the middle: the OTA
//! server service (`otasrv::service::OtaService` over the `store` database) → SMPP
//! (submit_sm) → the built-in SMSC simulator → one terminal simulator (`modem::Terminal`) per
//! MSISDN → its own virtual card (`card::Card`) → the PoR the card sends by proactive SEND
//! SHORT MESSAGE (FETCH / TERMINAL RESPONSE) → a mobile-originated deliver_sm, retried until
//! an ESME acknowledges it (as an SMSC's store-and-forward does) → the service marks the job
//! PoR OK. The service is aborted at about a third and a new one started on the same database.
//!
//! The cards carry no profile: the item is RAM to the ISD (TAR '000000', TS 101 220 §6 /
//! TS 102 226 §5.1.1 compact format) GET STATUS of the ISD, which a bare card answers. Each
//! card is created on its first SMS. Keys: the cards' factory OTA key set (KVN 1, AES-128
//! CBC / AES-CMAC) is pySim's `Test_SMS_AES128` pair (`tests/unittests/test_ota.py`),
//! imported into the server per card.
//!
//! SQLite only: `crates/otasrv/tests/campaign.rs` runs the same 10k restart campaign on
//! PostgreSQL too, with the lightweight `otasrv::sim::SimFleet`; here the cost is in the
//! 10,000 cards, not in the backend.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use card::ota::{DEFAULT_KIC, DEFAULT_KID};
use card::testing::SeededRng;
use card::{Card, CardIdentity, CardState};
use modem::{MoOrigin, Output, Terminal, TerminalConfig};
use ota::ts102225::{receive_command, KeyLookup};
use ota::ts23040::{Scts, SmsSubmit};
use ota::{Counter, SecurityKeys, Spi};
use otasrv::service::{OtaService, ServiceConfig};
use otasrv::{CampaignStatus, CardImport, CatalogueItem, JobState, KeySet};
use otasrv::{OtaStore, RetryPolicy};
use smpp::smsc::{self, MobileStation, SmscConfig, SmscHandle, SubmittedMessage};
use smpp::{BindMode, CommandStatus, EsmeConfig, SmeAddress};
use store::testing::TestDatabase;
use tokio::sync::mpsc;

/// The ISD's TAR (TS 101 220 §6: '000000' addresses the Issuer Security Domain).
const ISD_TAR: [u8; 3] = [0x00, 0x00, 0x00];
const CARDS: u32 = 10_000;
const SYSTEM_ID: &str = "otasrv";
const CAMPAIGN: &str = "isd-status";

fn msisdn(n: u32) -> String {
    format!("4917{n:07}")
}

/// The cards' factory OTA key set as the server imports it.
fn card_keys() -> KeySet {
    KeySet::aes(1, &DEFAULT_KIC, &DEFAULT_KID).unwrap()
}

const REF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/reference");

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{REF}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The eUICC identity every card reuses (the OTA platform needs none of its own): the SGP.26
/// test eUICC, as `crates/card/tests/gp_common` `new_card` builds it, parsed once.
fn identity() -> CardIdentity {
    let sk = pki::PrivateKey::from_pem(
        &String::from_utf8(read("sgp26/eUICC/SK_EUICC_ECDSA_NIST.pem")).unwrap(),
    )
    .unwrap();
    let ci = read("sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der");
    CardIdentity::new(
        &read("sgp26/eUICC/CERT_EUICC_ECDSA_NIST.der"),
        &read("sgp26/EUM/CERT_EUM_ECDSA_NIST.der"),
        sk,
        &[&ci],
    )
    .unwrap()
}

/// What the mobile station saw.
#[derive(Default)]
struct Seen {
    /// Command packets per (MSISDN, counter), as delivered to a card.
    packets: HashMap<(String, u64), u32>,
    /// Packets each card accepted (its counter for the TAR moved up).
    accepted: HashMap<String, u32>,
    /// Packets a card did not accept.
    refused: u32,
    /// PoRs the cards sent, by how.
    origins: HashMap<String, u32>,
    /// Terminal errors and failed downloads.
    errors: Vec<String>,
}

/// The SMSC simulator's radio side: one terminal (and card) per MSISDN, created on its first
/// SMS. Each accepted submit_sm becomes the SMS-DELIVER the terminal downloads to its card;
/// the card's mobile-originated PoR is queued for store-and-forward.
struct Network {
    identity: CardIdentity,
    /// Only to read the counter of each packet (the radio side does not apply it).
    sniff_keys: SecurityKeys,
    terminals: Mutex<HashMap<String, Terminal<Card>>>,
    seen: Mutex<Seen>,
    mo: mpsc::UnboundedSender<(String, SmsSubmit)>,
}

fn lock<X>(m: &Mutex<X>) -> MutexGuard<'_, X> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Network {
    fn new_terminal(&self, msisdn: &str) -> Result<Terminal<Card>, CommandStatus> {
        let card = Card::new(
            self.identity.clone(),
            CardState::new(),
            Box::new(SeededRng::new(msisdn.as_bytes())),
        );
        let mut t = Terminal::new(card, TerminalConfig::default());
        // Power-on: TERMINAL PROFILE (TS 102 223 §5.2).
        t.start().map_err(|_| CommandStatus::ESME_RSYSERR)?;
        Ok(t)
    }

    /// The packet's counter, opened with the card keys against a stored counter of zero.
    fn counter_of(&self, m: &SubmittedMessage) -> Option<u64> {
        let packet = ota::ts31115::command_from_user_data(&m.sm.short_message).ok()?;
        let acc = receive_command(packet, |_| {
            Ok(KeyLookup {
                keys: self.sniff_keys.clone(),
                stored_counter: Counter::default(),
            })
        })
        .ok()?;
        Some(acc.command.header.counter.value())
    }
}

impl MobileStation for Network {
    fn submitted(&self, m: &SubmittedMessage) -> Result<(), CommandStatus> {
        let addr = m.sm.destination.addr.trim_start_matches('+').to_string();
        let counter = self.counter_of(m);
        let d = m
            .sms_deliver(Scts::new([25, 6, 1, 12, 0, 0], 4))
            .map_err(|_| CommandStatus::ESME_RSYSERR)?;
        let mut terminals = lock(&self.terminals);
        if !terminals.contains_key(&addr) {
            let t = self.new_terminal(&addr)?;
            terminals.insert(addr.clone(), t);
        }
        let Some(t) = terminals.get_mut(&addr) else {
            return Err(CommandStatus::ESME_RINVDSTADR);
        };
        let before = t.card().state().ota.counter(ISD_TAR);
        let result = t.receive(d);
        let after = t.card().state().ota.counter(ISD_TAR);
        let outputs = t.drain_outputs();
        drop(terminals);

        let mut seen = lock(&self.seen);
        if let Some(c) = counter {
            *seen.packets.entry((addr.clone(), c)).or_default() += 1;
        } else {
            seen.errors.push(format!("{addr}: unreadable packet"));
        }
        if after > before {
            *seen.accepted.entry(addr.clone()).or_default() += 1;
        } else {
            seen.refused += 1;
        }
        if let Err(e) = result {
            seen.errors.push(format!("{addr}: {e}"));
        }
        for o in outputs {
            match o {
                Output::MobileOriginated { submit, origin } => {
                    *seen.origins.entry(format!("{origin:?}")).or_default() += 1;
                    let _ = self.mo.send((addr.clone(), submit));
                }
                other => seen.errors.push(format!("{addr}: {other:?}")),
            }
        }
        Ok(())
    }
}

/// Store-and-forward of the mobile-originated PoRs: each is offered to the service's ESME
/// until it acknowledges it (it may be down across the restart).
fn forward(smsc: SmscHandle, mut rx: mpsc::UnboundedReceiver<(String, SmsSubmit)>) {
    tokio::spawn(async move {
        while let Some((from, submit)) = rx.recv().await {
            let h = smsc.clone();
            tokio::spawn(async move {
                let originator = SmeAddress::new(1, 1, &from);
                loop {
                    if let Ok(CommandStatus::ESME_ROK) = h
                        .deliver_sms_submit(Some(SYSTEM_ID), &originator, &submit)
                        .await
                    {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
        }
    });
}

async fn wait_for(
    db: &store::Database,
    what: &str,
    limit: Duration,
    mut done: impl FnMut(&CampaignStatus) -> bool,
) -> CampaignStatus {
    let start = Instant::now();
    loop {
        let st = db.campaign_status(CAMPAIGN).await.unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_over_10k_virtual_cards_with_restart() {
    let mut h = TestDatabase::sqlite().await;
    run(&mut h).await;
    h.finish().await;
}

async fn run(h: &mut TestDatabase) {
    let t0 = Instant::now();
    let imports: Vec<CardImport> = (0..CARDS)
        .map(|n| CardImport {
            address: msisdn(n),
            iccid: None,
            keys: Some(card_keys()),
            counters: BTreeMap::new(),
        })
        .collect();
    assert_eq!(h.db.import_cards(imports).await.unwrap(), u64::from(CARDS));
    // SPI '16 39' (TS 102 225 §5.1.1): counter higher, ciphered, CC; PoR always, CC,
    // ciphered, by SMS-SUBMIT (the card's proactive SEND SHORT MESSAGE). Data: compact
    // format (TS 102 226 §5.1.1) GET STATUS of the ISD, TLV response (GP CS v2.3.1 §11.4).
    let spi = Spi::from_bytes([0x16, 0x39]).unwrap();
    let item = CatalogueItem::new(
        "isd-get-status",
        ISD_TAR,
        spi,
        hex::decode("80F28002024F00").unwrap(),
    )
    .unwrap();
    h.db.put_item(item).await.unwrap();
    let policy = RetryPolicy {
        max_attempts: 5,
        base_backoff_ms: 200,
        max_backoff_ms: 2000,
        por_timeout_ms: 10_000,
        submit_timeout_ms: 10_000,
    };
    let addrs: Vec<String> = (0..CARDS).map(msisdn).collect();
    let now = otasrv::service::system_clock()();
    assert_eq!(
        h.db.create_campaign(CAMPAIGN, "isd-get-status", addrs, policy, now)
            .await
            .unwrap(),
        u64::from(CARDS)
    );
    eprintln!("setup {:?}", t0.elapsed());

    let keys = card_keys();
    let (mo_tx, mo_rx) = mpsc::unbounded_channel();
    let net = Arc::new(Network {
        identity: identity(),
        sniff_keys: keys.security_keys().unwrap(),
        terminals: Mutex::new(HashMap::new()),
        seen: Mutex::new(Seen::default()),
        mo: mo_tx,
    });
    let mut scfg = SmscConfig::new(SYSTEM_ID, "secret");
    scfg.deliver_timeout = Duration::from_secs(1);
    let smsc = smsc::start(scfg, 0, net.clone()).await.unwrap();
    forward(smsc.clone(), mo_rx);

    let mut esme = EsmeConfig::new(BindMode::Transceiver, SYSTEM_ID, "secret");
    esme.window = 100;
    esme.reconnect_delay = Duration::from_millis(50);
    let mut cfg = ServiceConfig::new(smsc.local_addr(), esme);
    cfg.source = SmeAddress::new(1, 1, "4912345678");
    cfg.tick = Duration::from_millis(50);

    let svc = OtaService::start(h.db.clone(), cfg.clone());
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
    let svc = OtaService::start(h.db.clone(), cfg);
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

    // Every job PoR OK.
    assert_eq!(st.count(JobState::PorOk), u64::from(CARDS), "{st:?}");

    let subs = h.db.campaign_submissions(CAMPAIGN).await.unwrap();
    let seen = lock(&net.seen);
    assert!(
        seen.errors.is_empty(),
        "terminal errors: {:?}",
        &seen.errors[..seen.errors.len().min(5)]
    );
    assert_eq!(seen.refused, 0, "a card refused a packet (counter reused?)");
    // Each (MSISDN, counter) reached a card exactly once.
    let dup: Vec<_> = seen.packets.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        dup.is_empty(),
        "packets delivered more than once: {:?}",
        &dup[..dup.len().min(5)]
    );
    // Every PoR went by proactive SEND SHORT MESSAGE (SPI2 b6 = 1).
    assert_eq!(
        seen.origins.keys().collect::<Vec<_>>(),
        [&format!("{:?}", MoOrigin::SendShortMessage)]
    );
    // The server's record agrees: one submission per packet, no counter value reused, and
    // every packet a card got is one the server recorded.
    let mut keys: Vec<(String, u64)> = subs
        .iter()
        .map(|s| (s.address.clone(), s.counter))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), subs.len(), "a counter value was used twice");
    for k in seen.packets.keys() {
        assert!(keys.binary_search(k).is_ok(), "unknown packet {k:?}");
    }
    // A packet the server recorded but that reached no card is one the crash cut off before
    // its submit_sm reached the SMSC: it stays `submitting`, and its counter value is never
    // used again (the next packet to that card takes the next value; TS 102 225 §5.1.1
    // counter "higher" mode allows the gap).
    let cut_off: Vec<_> = subs
        .iter()
        .filter(|s| !seen.packets.contains_key(&(s.address.clone(), s.counter)))
        .map(|s| (s.address.as_str(), s.counter, s.state.as_str()))
        .collect();
    assert!(
        cut_off.iter().all(|(_, _, state)| *state == "submitting"),
        "{cut_off:?}"
    );
    // Every card accepted exactly one packet (nothing lost, nothing sent twice), and its own
    // counter for the ISD's TAR is that packet's counter, the one the server matched the PoR
    // by. Where the crash cut a packet off, that is the next value, not the number of
    // packets the card accepted.
    let por: HashMap<&str, u64> = subs
        .iter()
        .filter(|s| s.state == "por")
        .map(|s| (s.address.as_str(), s.counter))
        .collect();
    assert_eq!(por.len(), CARDS as usize);
    let terminals = lock(&net.terminals);
    assert_eq!(terminals.len(), CARDS as usize);
    let mut skipped = 0;
    for (addr, t) in terminals.iter() {
        assert_eq!(seen.accepted.get(addr), Some(&1), "{addr}");
        let card = t.card();
        assert!(!card.proactive_pending(), "{addr}");
        let counter = card.state().ota.counter(ISD_TAR);
        assert_eq!(Some(&counter), por.get(addr.as_str()), "{addr}");
        assert_eq!(
            seen.packets.get(&(addr.clone(), counter)),
            Some(&1),
            "{addr}"
        );
        if counter != 1 {
            skipped += 1;
        }
    }
    assert_eq!(seen.packets.len(), CARDS as usize);
    assert_eq!(skipped, cut_off.len(), "{cut_off:?}");
    assert_eq!(st.packets, u64::from(CARDS) + skipped as u64, "{st:?}");
    eprintln!("packets cut off by the crash (counter skipped): {skipped}");
}
