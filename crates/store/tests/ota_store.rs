//! `otasrv::OtaStore` on SQLite (temporary file) and PostgreSQL (`SIMKIT_TEST_POSTGRES_URL`).

use std::collections::{BTreeMap, HashSet};

use ota::Spi;
use otasrv::{
    CardImport, CatalogueItem, Error, JobState, KeySet, OtaStore, PorMatch, PorReport, RetryPolicy,
};
use store::both_backends;
use store::testing::TestDatabase;

both_backends!(
    counters_never_repeat_under_concurrency,
    cards_without_keys_are_refused,
    campaign_lifecycle,
    retries_back_off_then_expire,
    catalogue_classifies_items,
);

/// pySim tests/unittests/test_ota.py `Test_SMS_AES128` keys (KVN 1).
fn keys() -> KeySet {
    KeySet::aes(
        1,
        &hex::decode("200102030405060708090A0B0C0D0E0F").unwrap(),
        &hex::decode("201102030405060708090A0B0C0D0E0F").unwrap(),
    )
    .unwrap()
}

fn card(n: u32) -> CardImport {
    CardImport {
        address: format!("49155{n:05}"),
        iccid: None,
        keys: Some(keys()),
        counters: BTreeMap::new(),
    }
}

const RFM: [u8; 3] = [0xB0, 0x00, 0x10];

fn item(name: &str, tar: [u8; 3]) -> CatalogueItem {
    CatalogueItem::new(
        name,
        tar,
        Spi::from_bytes([0x16, 0x39]).unwrap(),
        vec![0xA0, 0xA4, 0, 0, 2, 0x3F, 0],
    )
    .unwrap()
}

async fn counters_never_repeat_under_concurrency(h: &mut TestDatabase) {
    let mut c = card(1);
    c.counters.insert(RFM, 41);
    h.db.import_cards(vec![c]).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let db = h.db.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..25 {
                got.push(
                    db.allocate_counter("4915500001", RFM)
                        .await
                        .unwrap()
                        .value(),
                );
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let set: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(set.len(), 200, "a counter value was handed out twice");
    assert_eq!(*set.iter().min().unwrap(), 42);
    assert_eq!(*set.iter().max().unwrap(), 241);
    // A fresh TAR starts at 1; re-importing a lower counter never moves it back.
    assert_eq!(
        h.db.allocate_counter("4915500001", [0, 0, 0])
            .await
            .unwrap()
            .value(),
        1
    );
    let mut again = card(1);
    again.counters.insert(RFM, 5);
    h.db.import_cards(vec![again]).await.unwrap();
    assert_eq!(
        h.db.allocate_counter("4915500001", RFM)
            .await
            .unwrap()
            .value(),
        242
    );
    assert!(matches!(
        h.db.allocate_counter("999", RFM).await,
        Err(Error::UnknownCard(_))
    ));
}

async fn cards_without_keys_are_refused(h: &mut TestDatabase) {
    let mut bare = card(2);
    bare.keys = None;
    h.db.import_cards(vec![card(1), bare]).await.unwrap();
    h.db.put_item(item("rfm", RFM)).await.unwrap();
    assert!(
        matches!(h.db.card_keys("4915500002").await, Err(Error::NoKeySet(a)) if a == "4915500002")
    );
    let e =
        h.db.create_campaign(
            "c",
            "rfm",
            vec!["4915500001".into(), "4915500002".into()],
            RetryPolicy::default(),
            0,
        )
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::NoKeySet(a) if a == "4915500002"), "{e}");
    assert!(e.to_string().contains("no OTA key set"));
    // Nothing of the refused campaign remains.
    assert!(matches!(
        h.db.campaign_status("c").await,
        Err(Error::UnknownCampaign(_))
    ));
    assert!(matches!(
        h.db.create_campaign(
            "c",
            "rfm",
            vec!["4915599999".into()],
            RetryPolicy::default(),
            0
        )
        .await,
        Err(Error::UnknownCard(_))
    ));
    assert!(matches!(
        h.db.create_campaign(
            "c",
            "nope",
            vec!["4915500001".into()],
            RetryPolicy::default(),
            0
        )
        .await,
        Err(Error::UnknownItem(_))
    ));
    let mut bad = card(3);
    bad.address = "12ab".into();
    assert!(matches!(
        h.db.import_cards(vec![bad]).await,
        Err(Error::Invalid { .. })
    ));
}

async fn campaign_lifecycle(h: &mut TestDatabase) {
    h.db.import_cards((1..=5).map(card).collect())
        .await
        .unwrap();
    h.db.put_item(item("rfm", RFM)).await.unwrap();
    let addrs: Vec<String> = (1..=5).map(|n| card(n).address).collect();
    let policy = RetryPolicy {
        por_timeout_ms: 1000,
        submit_timeout_ms: 500,
        ..Default::default()
    };
    assert_eq!(
        h.db.create_campaign("c1", "rfm", addrs, policy, 100)
            .await
            .unwrap(),
        5
    );
    assert!(matches!(
        h.db.create_campaign("c1", "rfm", vec![], policy, 100).await,
        Err(Error::Duplicate(_))
    ));
    // Not due before its time.
    assert!(h.db.claim(99, 10).await.unwrap().is_empty());
    // Two concurrent claimers never get the same job.
    let (a, b) = tokio::join!(h.db.claim(100, 3), h.db.claim(100, 3));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), 5);
    let jobs: HashSet<i64> = a.iter().chain(&b).map(|c| c.job).collect();
    assert_eq!(jobs.len(), 5);
    let claimed: Vec<_> = a.into_iter().chain(b).collect();
    assert!(claimed
        .iter()
        .all(|c| c.counter.value() == 1 && c.attempt == 1));
    let st = h.db.campaign_status("c1").await.unwrap();
    assert_eq!(st.count(JobState::Submitting), 5);
    assert_eq!(st.packets, 5);
    // Accept four, refuse one permanently.
    h.db.submissions_accepted(
        claimed[..4]
            .iter()
            .map(|c| (c.submission, format!("m{}", c.submission)))
            .collect(),
        200,
    )
    .await
    .unwrap();
    h.db.submission_failed(claimed[4].submission, 200)
        .await
        .unwrap();
    let st = h.db.campaign_status("c1").await.unwrap();
    assert_eq!(
        (st.count(JobState::Sent), st.count(JobState::Retrying)),
        (4, 1)
    );
    // PoRs: OK, error, a duplicate, and an unknown counter.
    let por = |c: &otasrv::Claimed, status| PorReport {
        address: c.address.clone(),
        tar: RFM,
        counter: c.counter,
        status,
    };
    let m =
        h.db.record_pors(
            vec![
                por(&claimed[0], 0),
                por(&claimed[1], 0x01),
                por(&claimed[0], 0),
            ],
            300,
        )
        .await
        .unwrap();
    assert_eq!(
        m[0],
        PorMatch::Updated {
            job: claimed[0].job,
            state: JobState::PorOk
        }
    );
    assert_eq!(
        m[1],
        PorMatch::Updated {
            job: claimed[1].job,
            state: JobState::PorError
        }
    );
    assert_eq!(
        m[2],
        PorMatch::AlreadyFinal {
            job: claimed[0].job
        }
    );
    let unknown = PorReport {
        counter: ota::Counter::new(77).unwrap(),
        ..por(&claimed[2], 0)
    };
    assert_eq!(
        h.db.record_pors(vec![unknown], 300).await.unwrap(),
        vec![PorMatch::Unknown]
    );
    // A late PoR after the deadline still completes the job; an accepted one past the PoR
    // timeout is retried with a fresh counter.
    assert_eq!(h.db.sweep(1300).await.unwrap(), 2);
    h.db.record_pors(vec![por(&claimed[2], 0)], 1400)
        .await
        .unwrap();
    let st = h.db.campaign_status("c1").await.unwrap();
    assert_eq!(st.count(JobState::PorOk), 2);
    assert_eq!(st.count(JobState::Retrying), 2);
    let again = h.db.claim(1_000_000, 10).await.unwrap();
    assert_eq!(again.len(), 2);
    assert!(again
        .iter()
        .all(|c| c.counter.value() == 2 && c.attempt == 2));
    let subs = h.db.campaign_submissions("c1").await.unwrap();
    assert_eq!(subs.len(), 7);
    let uniq: HashSet<_> = subs
        .iter()
        .map(|s| (s.address.clone(), s.counter))
        .collect();
    assert_eq!(uniq.len(), 7);
    assert!(h.db.has_unfinished().await.unwrap());
    // Restart: the in-doubt submissions are not claimed again.
    h.reopen().await;
    assert!(h.db.claim(1_000_000, 10).await.unwrap().is_empty());
    assert_eq!(h.db.list_campaigns().await.unwrap(), vec!["c1".to_string()]);
}

async fn retries_back_off_then_expire(h: &mut TestDatabase) {
    h.db.import_cards(vec![card(1)]).await.unwrap();
    h.db.put_item(item("rfm", RFM)).await.unwrap();
    let policy = RetryPolicy {
        max_attempts: 2,
        base_backoff_ms: 1000,
        max_backoff_ms: 10_000,
        por_timeout_ms: 100,
        submit_timeout_ms: 100,
    };
    h.db.create_campaign("c", "rfm", vec![card(1).address], policy, 0)
        .await
        .unwrap();
    let c = h.db.claim(0, 10).await.unwrap();
    assert_eq!(c.len(), 1);
    // No SMSC acceptance recorded: in doubt until the submit deadline.
    assert_eq!(h.db.sweep(99).await.unwrap(), 0);
    assert_eq!(h.db.sweep(100).await.unwrap(), 1);
    assert!(
        h.db.claim(1099, 10).await.unwrap().is_empty(),
        "back-off not honoured"
    );
    let c2 = h.db.claim(1100, 10).await.unwrap();
    assert_eq!(c2[0].attempt, 2);
    h.db.submissions_accepted(vec![(c2[0].submission, "m".into())], 1100)
        .await
        .unwrap();
    assert_eq!(h.db.sweep(1200).await.unwrap(), 1);
    let st = h.db.campaign_status("c").await.unwrap();
    assert_eq!(st.count(JobState::Expired), 1);
    assert!(st.is_done());
    assert!(!h.db.has_unfinished().await.unwrap());
}

async fn catalogue_classifies_items(h: &mut TestDatabase) {
    h.db.put_item(item("rfm", RFM)).await.unwrap();
    h.db.put_item(item("isd", [0, 0, 0])).await.unwrap();
    h.db.put_item(item("ssd", [0x53, 0x53, 0x44]))
        .await
        .unwrap();
    assert!(matches!(
        h.db.put_item(item("rfm", RFM)).await,
        Err(Error::Duplicate(_))
    ));
    let items = h.db.list_items().await.unwrap();
    let classes: Vec<_> = items.iter().map(|i| (i.name.as_str(), i.class)).collect();
    assert_eq!(
        classes,
        vec![
            ("isd", otasrv::ItemClass::First),
            ("rfm", otasrv::ItemClass::First),
            ("ssd", otasrv::ItemClass::Second)
        ]
    );
    assert_eq!(h.db.get_item("rfm").await.unwrap(), item("rfm", RFM));
    assert!(matches!(
        h.db.get_item("x").await,
        Err(Error::UnknownItem(_))
    ));
}
