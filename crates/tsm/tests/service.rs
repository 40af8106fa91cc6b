//! The central TSM end to end: SP → `Tsm::handle` (the JSON entry point the HTTP layer calls)
//! → store (SQLite and PostgreSQL) → engine → the virtual card's GlobalPlatform container.
//! Every check reads the card's own state as well as the API's answers.

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use card::routing::GP_ISD_AID;
use common::*;
use serde_json::{json, Value};
use store::both_backends;
use store::testing::TestDatabase;
use tsm::model::{Bearer, Mno, SdKind, Se, Sp};
use tsm::service::{SdRegistration, Tsm, TsmConfig};
use tsm::store::AuditFilter;
use tsm::TsmStore;

both_backends!(
    two_sps_on_one_se,
    eligibility_failure_creates_nothing,
    offline_se_queue_delivered_in_order,
    replayed_request_runs_once,
    bad_input_changes_nothing,
    rotated_keys_switch_to_relay,
    se_without_link_is_refused,
    interrupted_requests_resolved_at_start,
);

const T0: i64 = 1_800_000_000_000;

struct World {
    tsm: Tsm<store::Database>,
    card: SharedCard,
    clock: Arc<AtomicI64>,
    a: Sp,
    b: Sp,
}

fn sp(id: &str) -> Sp {
    Sp {
        id: id.into(),
        name: format!("Provider {id}"),
        cert_subject: format!("{id}.sp.example"),
    }
}

/// One SE (virtual card, ISD with the GP test keys) with MSI "+491700000001", SPs "bank" and
/// "transit", each with version 1 and 2 of a service in the catalogue.
async fn world(db: &TestDatabase, nv_budget: Option<u32>, cfg: TsmConfig) -> World {
    let cards = Arc::new(Cards::default());
    let card = SharedCard::new(new_card(nv_budget));
    cards.add("virtual:se-1", card.clone());
    let clock = Arc::new(AtomicI64::new(T0));
    let c = clock.clone();
    let keys = Arc::new(seal::SoftwareKeyStore::new(&[7u8; 32]).unwrap());
    let tsm = Tsm::new(
        db.db.clone(),
        keys,
        cards,
        Arc::new(|| Box::new(rand_core::UnwrapErr(getrandom::SysRng))),
        Arc::new(move || c.load(Ordering::SeqCst)),
        cfg,
    );
    let store = tsm.store();
    store
        .put_mno(Mno {
            id: "mno-1".into(),
            name: "Operator One".into(),
            bearer: Bearer::Scp80Sms,
        })
        .await
        .unwrap();
    let (a, b) = (sp("bank"), sp("transit"));
    store.put_sp(a.clone()).await.unwrap();
    store.put_sp(b.clone()).await.unwrap();
    let se = Se {
        se_id: "se-1".into(),
        mno_id: "mno-1".into(),
        se_type: "eSE".into(),
        profile_id: "gp-sim-1".into(),
        gp_version: "2.3.1".into(),
        jc_version: "3.0.5".into(),
        cert_level: "EAL5+".into(),
        cert_expiry: "2031-06-30".into(),
        isd_aid: GP_ISD_AID.to_vec(),
        link: "virtual:se-1".into(),
        ssd_initial_keys: None,
    };
    let isd = SdRegistration {
        aid: GP_ISD_AID.to_vec(),
        kind: SdKind::Isd,
        sp_id: None,
        keys: Some(test_keys()),
    };
    tsm.register_se(
        se,
        Some(test_keys()),
        vec!["+491700000001".into()],
        vec![isd],
    )
    .await
    .unwrap();
    for (sp, app) in [(&a, APP_A), (&b, APP_B)] {
        for (v, c9, mem) in [("1", "C9 02 0101", 300), ("2", "C9 02 0202", 400)] {
            tsm.register_service(service(&sp.id, &app, v, &h(c9), mem))
                .await
                .unwrap();
        }
    }
    World {
        tsm,
        card,
        clock,
        a,
        b,
    }
}

async fn call(w: &World, sp: &Sp, op: &str, body: Value) -> (u16, Value) {
    call_with_key(w, sp, op, body, None).await
}

async fn call_with_key(
    w: &World,
    sp: &Sp,
    op: &str,
    body: Value,
    key: Option<&str>,
) -> (u16, Value) {
    let (status, out) = w.tsm.handle(sp, op, body.to_string().as_bytes(), key).await;
    (status, serde_json::from_str(&out).expect("JSON answer"))
}

fn svc(sp: &Sp) -> Value {
    json!({"msi": "+491700000001", "serviceId": format!("{}-pay", sp.id), "serviceQualifier": "main"})
}

fn with_version(mut v: Value, version: &str) -> Value {
    v["version"] = json!(version);
    v
}

fn app_of(w: &World, aid: &[u8]) -> Option<card::gp::registry::AppRecord> {
    w.card.with(|c| c.state().gp.app(aid).cloned())
}

/// The card's content: each entry's AID, life cycle, associated SD and personalization data
/// (not the secure channel counters, which every session moves).
fn content(w: &World) -> Vec<(Vec<u8>, u8, Vec<u8>, String)> {
    w.card.with(|c| {
        c.state()
            .gp
            .apps
            .iter()
            .map(|a| {
                (
                    a.aid.clone(),
                    a.life_cycle,
                    a.associated_sd.clone(),
                    format!("{:?}", a.data),
                )
            })
            .collect()
    })
}

async fn audit_count(w: &World) -> usize {
    w.tsm
        .store()
        .audit(AuditFilter::default())
        .await
        .unwrap()
        .len()
}

/// Personalize the SP's instance through a conversation on its SSD (keys held by the TSM).
async fn personalize(w: &World, sp: &Sp, app: &[u8], label: &str) {
    let (s, conv) = call(
        w,
        sp,
        "ManageCommunication",
        json!({"action": "start", "seId": "se-1", "msi": "+491700000001"}),
    )
    .await;
    assert_eq!(s, 200, "{conv}");
    assert_eq!(conv["scriptFormat"], "APDU-LIST-HEX");
    assert_eq!(conv["bearer"], "DIRECT");
    let id = conv["conversationId"].as_str().unwrap().to_string();
    let cmds: Vec<String> = perso_commands(app, &h(label))
        .iter()
        .map(|c| hex::encode(c.encode().unwrap()))
        .collect();
    let (s, r) = call(
        w,
        sp,
        "ProcessScript",
        json!({"conversationId": id, "commands": cmds}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["failed"], json!([]));
    let responses = r["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 2);
    assert!(responses
        .iter()
        .all(|x| x.as_str().unwrap().ends_with("9000")));
    let (s, end) = call(
        w,
        sp,
        "ManageCommunication",
        json!({"action": "end", "conversationId": id, "status": "success"}),
    )
    .await;
    assert_eq!((s, end["state"].as_str()), (200, Some("ENDED")));
    // Ended: no more scripts.
    let (s, r) = call(
        w,
        sp,
        "ProcessScript",
        json!({"conversationId": id, "commands": ["80CA006600"]}),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (409, Some("conversationEnded")));
}

async fn two_sps_on_one_se(db: &mut TestDatabase) {
    let w = world(db, None, TsmConfig::default()).await;
    let (a, b) = (w.a.clone(), w.b.clone());

    // GetSEIdentifier / GetSEData.
    let (s, r) = call(&w, &a, "GetSEIdentifier", json!({"msi": "+491700000001"})).await;
    assert_eq!((s, r["seId"].as_str()), (200, Some("se-1")));
    let (s, r) = call(
        &w,
        &a,
        "GetSEData",
        json!({"seId": "se-1", "msi": "+491700000001"}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["mnoName"], "Operator One");
    assert_eq!(r["spSecurityDomains"], json!([]));

    // Both SPs pre-personalize.
    for (sp, app) in [(&a, APP_A), (&b, APP_B)] {
        let (s, r) = call(&w, sp, "PrePersonalize", with_version(svc(sp), "1")).await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["state"], "INSTALLED");
        assert_eq!(r["version"], "1");
        let rec = app_of(&w, &app).expect("instance on the card");
        let ssd = tsm::service::ssd_aid_for(&sp.id);
        assert_eq!(rec.associated_sd, ssd, "extradited to the SP's SSD");
        assert!(app_of(&w, &ssd).is_some(), "SSD on the card");
    }
    // Each SP sees its own SSD only; the TSM's temporary keys, not the initial ones.
    let (_, r) = call(
        &w,
        &a,
        "GetSEData",
        json!({"seId": "se-1", "msi": "+491700000001"}),
    )
    .await;
    let sds = r["spSecurityDomains"].as_array().unwrap();
    assert_eq!(sds.len(), 1);
    assert_eq!(
        sds[0]["aid"],
        hex::encode_upper(tsm::service::ssd_aid_for("bank"))
    );

    // Personalization under each SP's own SSD keys.
    personalize(&w, &a, &APP_A, LABEL_A).await;
    personalize(&w, &b, &APP_B, LABEL_B).await;

    // SP B cannot reach SP A's service or SSD: answered as unknown.
    let (s, r) = call(&w, &b, "GetServiceState", svc(&a)).await;
    assert_eq!((s, r["code"].as_str()), (404, Some("unknownService")));
    let (s, r) = call(&w, &b, "ActivateService", svc(&a)).await;
    assert_eq!((s, r["code"].as_str()), (404, Some("unknownService")));
    let ssd_a = hex::encode_upper(tsm::service::ssd_aid_for("bank"));
    let (s, r) = call(
        &w,
        &b,
        "ManageCommunication",
        json!({"action": "start", "seId": "se-1", "msi": "+491700000001", "sdAid": ssd_a}),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (404, Some("unknownSecurityDomain"))
    );

    // Activate, lock, unlock, renew, delete: SP A; SP B activates only.
    for (op, state) in [
        ("ActivateService", "ACTIVE"),
        ("LockService", "LOCKED"),
        ("UnlockService", "ACTIVE"),
    ] {
        let (s, r) = call(&w, &a, op, svc(&a)).await;
        assert_eq!((s, r["state"].as_str()), (200, Some(state)), "{op}: {r}");
    }
    let (s, r) = call(&w, &b, "ActivateService", svc(&b)).await;
    assert_eq!((s, r["state"].as_str()), (200, Some("ACTIVE")), "{r}");
    // Activating twice is refused by the state machine, before the card.
    let (s, r) = call(&w, &b, "ActivateService", svc(&b)).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("invalidServiceState")));

    let b_before = app_of(&w, &APP_B).unwrap();
    let (s, r) = call(&w, &a, "RenewService", with_version(svc(&a), "2")).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (r["state"].as_str(), r["version"].as_str()),
        (Some("INSTALLED"), Some("2"))
    );
    let steps: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["delete", "eligibility", "install", "extradite"]);
    assert_eq!(
        app_of(&w, &APP_B).unwrap(),
        b_before,
        "SP B untouched by SP A's renewal"
    );

    let (s, r) = call(&w, &a, "DeleteService", svc(&a)).await;
    assert_eq!((s, r["state"].as_str()), (200, Some("DELETED")), "{r}");
    assert!(app_of(&w, &APP_A).is_none());
    assert_eq!(
        app_of(&w, &APP_B).unwrap(),
        b_before,
        "SP B untouched by SP A's deletion"
    );
    let (s, r) = call(&w, &b, "DeleteService", svc(&b)).await;
    assert_eq!((s, r["state"].as_str()), (200, Some("DELETED")), "{r}");
    assert!(app_of(&w, &APP_B).is_none());

    // The audit log holds every command, attributed to its SP.
    let all = w.tsm.store().audit(AuditFilter::default()).await.unwrap();
    assert!(all.iter().all(|e| e.se_id == "se-1"));
    let of_b = w
        .tsm
        .store()
        .audit(AuditFilter {
            sp_id: Some("transit".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert!(!of_b.is_empty() && of_b.len() < all.len());
}

async fn eligibility_failure_creates_nothing(db: &mut TestDatabase) {
    // Room for the preloaded package and little else.
    let w = world(db, Some(2200), TsmConfig::default()).await;
    let a = w.a.clone();
    let before = content(&w);
    let (s, r) = call(&w, &a, "PrePersonalize", svc(&a)).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("notEligible")), "{r}");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("insufficient memory"),
        "{r}"
    );
    assert_eq!(content(&w), before, "nothing created on the SE");
    let (s, r) = call(&w, &a, "GetServiceState", svc(&a)).await;
    assert_eq!((s, r["code"].as_str()), (404, Some("unknownService")));
    assert!(w
        .tsm
        .store()
        .sds("se-1")
        .await
        .unwrap()
        .iter()
        .all(|sd| sd.kind != SdKind::SpSd));
}

async fn offline_se_queue_delivered_in_order(db: &mut TestDatabase) {
    let w = world(db, None, TsmConfig::default()).await;
    let (a, b) = (w.a.clone(), w.b.clone());
    w.card.set_online(false);
    let (s, r) = call(&w, &a, "PrePersonalize", svc(&a)).await;
    assert_eq!((s, r["state"].as_str()), (202, Some("QUEUED")), "{r}");
    let first = r["queuedRequest"].as_i64().unwrap();
    let (s, r) = call(&w, &a, "ActivateService", svc(&a)).await;
    assert_eq!(s, 202, "{r}");
    assert!(r["queuedRequest"].as_i64().unwrap() > first);
    let (s, _) = call(&w, &b, "PrePersonalize", svc(&b)).await;
    assert_eq!(s, 202);
    assert!(app_of(&w, &APP_A).is_none());
    assert_eq!(audit_count(&w).await, 0);
    // A request for a service that is neither there nor queued is refused, not queued.
    let mut absent = svc(&a);
    absent["serviceQualifier"] = json!("other");
    let (s, r) = call(&w, &a, "ActivateService", absent).await;
    assert_eq!((s, r["code"].as_str()), (404, Some("unknownService")));
    assert_eq!(w.tsm.store().pending("se-1").await.unwrap().len(), 3);

    // Still offline: nothing delivered.
    assert_eq!(w.tsm.deliver_pending("se-1").await.unwrap(), 0);
    w.card.set_online(true);
    assert_eq!(w.tsm.deliver_pending("se-1").await.unwrap(), 3);
    let (_, r) = call(&w, &a, "GetServiceState", svc(&a)).await;
    assert_eq!(r["state"], "ACTIVE", "{r}");
    let (_, r) = call(&w, &b, "GetServiceState", svc(&b)).await;
    assert_eq!(r["state"], "INSTALLED", "{r}");
    assert!(w.tsm.store().pending("se-1").await.unwrap().is_empty());
    // A renewal queued while offline leaves the state as it was until it is delivered.
    w.card.set_online(false);
    let (s, r) = call(&w, &a, "RenewService", svc(&a)).await;
    assert_eq!((s, r["state"].as_str()), (202, Some("ACTIVE")), "{r}");
    let (_, r) = call(&w, &a, "GetServiceState", svc(&a)).await;
    assert_eq!(r["state"], "ACTIVE");
    w.card.set_online(true);
    assert_eq!(w.tsm.deliver_pending("se-1").await.unwrap(), 1);
    let (_, r) = call(&w, &a, "GetServiceState", svc(&a)).await;
    assert_eq!(
        (r["state"].as_str(), r["version"].as_str()),
        (Some("INSTALLED"), Some("2"))
    );
    // In order: SP A's PrePersonalize commands, then its activation, then SP B's.
    let ops: Vec<String> = w
        .tsm
        .store()
        .audit(AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{}/{}", e.sp_id.unwrap_or_default(), e.operation))
        .collect();
    let mut runs = ops.clone();
    runs.dedup();
    assert_eq!(
        runs,
        [
            "bank/PrePersonalize",
            "bank/ActivateService",
            "transit/PrePersonalize",
            "bank/RenewService"
        ]
    );
}

async fn replayed_request_runs_once(db: &mut TestDatabase) {
    let w = world(db, None, TsmConfig::default()).await;
    let a = w.a.clone();
    let (s1, r1) = call_with_key(&w, &a, "PrePersonalize", svc(&a), Some("req-1")).await;
    assert_eq!(s1, 200, "{r1}");
    let n = audit_count(&w).await;
    let (s2, r2) = call_with_key(&w, &a, "PrePersonalize", svc(&a), Some("req-1")).await;
    assert_eq!((s2, &r2), (s1, &r1), "the replay gets the stored answer");
    assert_eq!(audit_count(&w).await, n, "nothing sent to the SE again");
    // Same key, another request: refused; another SP may use the same key.
    let (s, r) = call_with_key(&w, &a, "ActivateService", svc(&a), Some("req-1")).await;
    assert_eq!((s, r["code"].as_str()), (422, Some("idempotencyKeyReused")));
    let b = w.b.clone();
    let (s, r) = call_with_key(&w, &b, "PrePersonalize", svc(&b), Some("req-1")).await;
    assert_eq!((s, r["state"].as_str()), (200, Some("INSTALLED")), "{r}");
    // Without a key, a second PrePersonalize is refused by the state machine.
    let (s, r) = call(&w, &a, "PrePersonalize", svc(&a)).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("invalidServiceState")));
}

async fn bad_input_changes_nothing(db: &mut TestDatabase) {
    let cfg = TsmConfig {
        max_scripts: 1,
        max_script_bytes: 64,
        ..TsmConfig::default()
    };
    let w = world(db, None, cfg).await;
    let a = w.a.clone();
    let (s, r) = call(&w, &a, "PrePersonalize", svc(&a)).await;
    assert_eq!(s, 200, "{r}");
    let gp_before = content(&w);
    let audit_before = audit_count(&w).await;

    let raw = |body: &'static [u8]| {
        let w = &w;
        let a = a.clone();
        async move {
            let (s, out) = w.tsm.handle(&a, "PrePersonalize", body, None).await;
            (s, serde_json::from_str::<Value>(&out).unwrap())
        }
    };
    let (s, r) = raw(b"{not json").await;
    assert_eq!((s, r["code"].as_str()), (400, Some("malformedRequest")));
    let (s, r) = raw(
        br#"{"msi":"+491700000001","serviceId":"bank-pay","serviceQualifier":"main","extra":1}"#,
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (400, Some("malformedRequest")));
    let big = vec![b' '; tsm::api::MAX_REQUEST_BYTES + 1];
    let (s, out) = w.tsm.handle(&a, "PrePersonalize", &big, None).await;
    assert_eq!(s, 413, "{out}");
    let (s, r) = call(&w, &a, "NoSuchOperation", json!({})).await;
    assert_eq!((s, r["code"].as_str()), (400, Some("malformedRequest")));

    let (s, r) = call(&w, &a, "GetSEIdentifier", json!({"msi": "+499999"})).await;
    assert_eq!((s, r["code"].as_str()), (404, Some("unknownMsi")));
    let (s, r) = call(
        &w,
        &a,
        "GetSEData",
        json!({"seId": "se-9", "msi": "+491700000001"}),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (404, Some("unknownSe")));
    let mut unknown = svc(&a);
    unknown["serviceId"] = json!("nope");
    let (s, r) = call(&w, &a, "ActivateService", unknown).await;
    assert_eq!((s, r["code"].as_str()), (404, Some("unknownService")));

    // Scripts: outside a conversation, over the size limit, over the count, after expiry.
    let (s, r) = call(
        &w,
        &a,
        "ProcessScript",
        json!({"conversationId": "0123456789abcdef", "commands": ["80CA006600"]}),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (404, Some("unknownConversation")));
    let start = json!({"action": "start", "seId": "se-1", "msi": "+491700000001"});
    let (_, conv) = call(&w, &a, "ManageCommunication", start.clone()).await;
    let id = conv["conversationId"].as_str().unwrap().to_string();
    // SP B cannot use SP A's conversation.
    let b = w.b.clone();
    let (s, r) = call(
        &w,
        &b,
        "ProcessScript",
        json!({"conversationId": id, "commands": ["80CA006600"]}),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (404, Some("unknownConversation")));
    let long = format!("80E29000{:02X}{}", 80, "00".repeat(80));
    let (s, r) = call(
        &w,
        &a,
        "ProcessScript",
        json!({"conversationId": id, "commands": [long]}),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (422, Some("scriptLimitExceeded")),
        "{r}"
    );
    let (s, r) = call(
        &w,
        &a,
        "ProcessScript",
        json!({"conversationId": id, "commands": ["80CA"]}),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (400, Some("malformedRequest")),
        "{r}"
    );
    let (s, r) = call(
        &w,
        &a,
        "ProcessScript",
        json!({"conversationId": id, "commands": ["80CA00E000"]}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = call(
        &w,
        &a,
        "ProcessScript",
        json!({"conversationId": id, "commands": ["80CA00E000"]}),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (422, Some("scriptLimitExceeded")),
        "{r}"
    );
    let (_, conv) = call(&w, &a, "ManageCommunication", start).await;
    let id2 = conv["conversationId"].as_str().unwrap().to_string();
    w.clock.fetch_add(301_000, Ordering::SeqCst);
    let (s, r) = call(
        &w,
        &a,
        "ProcessScript",
        json!({"conversationId": id2, "commands": ["80CA00E000"]}),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (410, Some("conversationExpired")));

    // Only the one accepted script reached the SE (SELECT, handshake, command).
    assert_eq!(content(&w), gp_before);
    let sent = audit_count(&w).await - audit_before;
    assert!((3..=4).contains(&sent), "{sent} commands");
}

async fn start_conversation(w: &World, sp: &Sp) -> String {
    let (s, conv) = call(
        w,
        sp,
        "ManageCommunication",
        json!({"action": "start", "seId": "se-1", "msi": "+491700000001"}),
    )
    .await;
    assert_eq!(s, 200, "{conv}");
    conv["conversationId"].as_str().unwrap().to_string()
}

fn hexes(cmds: &[apdu::Command]) -> Vec<String> {
    cmds.iter()
        .map(|c| hex::encode(c.encode().unwrap()))
        .collect()
}

async fn rotated_keys_switch_to_relay(db: &mut TestDatabase) {
    let w = world(db, None, TsmConfig::default()).await;
    let a = w.a.clone();
    let (s, r) = call(&w, &a, "PrePersonalize", svc(&a)).await;
    assert_eq!(s, 200, "{r}");
    // The SP fetches its SSD's temporary keys; another SP cannot.
    let ssd = tsm::service::ssd_aid_for("bank");
    let keys_req = json!({"seId": "se-1", "msi": "+491700000001"});
    let (s, temp) = call(&w, &a, "GetSSDKeys", keys_req.clone()).await;
    assert_eq!(s, 200, "{temp}");
    assert_eq!(temp["aid"], hex::encode_upper(&ssd));
    assert_eq!(
        (temp["keyVersion"].as_u64(), temp["scp"].as_u64()),
        (Some(0x30), Some(3))
    );
    let b = w.b.clone();
    let mut other = keys_req.clone();
    other["sdAid"] = json!(hex::encode_upper(&ssd));
    let (s, r) = call(&w, &b, "GetSSDKeys", other).await;
    assert_eq!(
        (s, r["code"].as_str()),
        (404, Some("unknownSecurityDomain")),
        "{r}"
    );
    // The SP replaces them with its own (KVN '31'), key data under the static DEK (Amd D §6.2.8).
    let sp_keys = gp::KeySet::aes(0x31, &[0x51; 16], &[0x52; 16], &[0x53; 16]).unwrap();
    let dek = gp::Dek::aes(&h(temp["dek"].as_str().unwrap())).unwrap();
    let data =
        gp::PutKeyData::for_key_set(&sp_keys, &dek, &mut rand_core::UnwrapErr(getrandom::SysRng))
            .unwrap();
    let put = gp::commands::put_key_command(0x30, 0x01, &data).unwrap();
    let id = start_conversation(&w, &a).await;
    let (s, r) = call(
        &w,
        &a,
        "ProcessScript",
        json!({"conversationId": id, "commands": hexes(&[put])}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["failed"], json!([]));
    // The TSM knows it no longer holds the SSD's keys.
    let (_, r) = call(
        &w,
        &a,
        "GetSEData",
        json!({"seId": "se-1", "msi": "+491700000001"}),
    )
    .await;
    assert_eq!(r["spSecurityDomains"][0]["keysRotated"], true, "{r}");
    assert_eq!(r["spSecurityDomains"][0]["masterKeyIndex"], 0x31);
    // The TSM holds no keys for it any more.
    let (s, r) = call(&w, &a, "GetSSDKeys", keys_req).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("keysRotated")), "{r}");
    let (s, r) = call(
        &w,
        &a,
        "ProcessScript",
        json!({"conversationId": id, "commands": ["80CA00E000"]}),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (409, Some("keysRotated")));
    // The SP's own secure channel, relayed: INITIALIZE UPDATE, then EXTERNAL AUTHENTICATE and
    // a wrapped GET DATA, in a new conversation (its first script selects the SSD).
    let id = start_conversation(&w, &a).await;
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let hs = gp::HostHandshake::random(sp_keys, false, &mut rng)
        .unwrap()
        .expect_aid(&ssd);
    let (s, r) = call(
        &w,
        &a,
        "ProcessScript",
        json!({"conversationId": id, "commands": hexes(&[hs.initialize_update()]), "preProtected": true}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let iu = apdu::Response::parse(&h(r["responses"][0].as_str().unwrap())).unwrap();
    let (mut session, ext_auth, _) = hs.authenticate(&iu, gp::SecurityLevel::C_MAC).unwrap();
    let get = session
        .wrap_command(&apdu::Command::new(0x80, 0xCA, 0x00, 0xE0).le(256))
        .unwrap();
    let (s, r) = call(
        &w,
        &a,
        "ProcessScript",
        json!({"conversationId": id, "commands": hexes(&[ext_auth, get]), "preProtected": true}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["failed"], json!([]), "{r}");
    let answer = session
        .unwrap_response(&apdu::Response::parse(&h(r["responses"][1].as_str().unwrap())).unwrap())
        .unwrap();
    assert_eq!(answer.sw, apdu::StatusWord::OK);
    assert_eq!(answer.data.first(), Some(&0xE0), "key information template");
}

async fn se_without_link_is_refused(db: &mut TestDatabase) {
    let w = world(db, None, TsmConfig::default()).await;
    let a = w.a.clone();
    let mut se = w.tsm.store().get_se("se-1").await.unwrap().unwrap();
    se.link.clear();
    se.ssd_initial_keys = None;
    w.tsm
        .register_se(se, Some(test_keys()), vec!["+491700000001".into()], vec![])
        .await
        .unwrap();
    let (s, r) = call(&w, &a, "PrePersonalize", svc(&a)).await;
    assert_eq!((s, r["code"].as_str()), (501, Some("notSupported")), "{r}");
    assert!(r["message"].as_str().unwrap().contains("SCP80-SMS"), "{r}");
    assert!(
        w.tsm.store().pending("se-1").await.unwrap().is_empty(),
        "not queued"
    );
}

/// A TSM that stopped mid-request (simulated: the idempotency record begun and a queued
/// request claimed, as the crashed run left them): the next start resolves both as
/// interrupted. The key replays a 500 `requestInterrupted` and never runs the request; the
/// queued request is failed, not delivered again.
async fn interrupted_requests_resolved_at_start(db: &mut TestDatabase) {
    let w = world(db, None, TsmConfig::default()).await;
    let a = w.a.clone();
    let store = w.tsm.store();
    let body = svc(&a).to_string();
    let hash = tsm::service::request_hash("PrePersonalize", body.as_bytes());
    assert_eq!(
        store
            .idempotency_begin(&a.id, "crash-1", hash, T0)
            .await
            .unwrap(),
        tsm::store::IdempotencyBegin::New
    );
    let (s, r) = w
        .tsm
        .handle(&a, "PrePersonalize", body.as_bytes(), Some("crash-1"))
        .await;
    assert_eq!(s, 409, "in progress: {r}");
    let id = store
        .enqueue(tsm::model::QueuedRequest {
            id: 0,
            se_id: "se-1".into(),
            sp_id: a.id.clone(),
            operation: tsm::model::Operation::ActivateService,
            body: body.clone(),
            state: tsm::model::QueueState::Pending,
            result: None,
            created_at: T0,
        })
        .await
        .unwrap();
    assert!(store.claim_queued(id).await.unwrap());
    let audit_before = audit_count(&w).await;

    assert_eq!(w.tsm.recover_interrupted().await.unwrap(), (1, 1));
    let (s, out) = w
        .tsm
        .handle(&a, "PrePersonalize", body.as_bytes(), Some("crash-1"))
        .await;
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (s, r["code"].as_str()),
        (500, Some("requestInterrupted")),
        "{r}"
    );
    let q = store.queued(id).await.unwrap().unwrap();
    assert_eq!(q.state, tsm::model::QueueState::Failed);
    assert!(q.result.unwrap().contains("interrupted"));
    assert_eq!(w.tsm.deliver_pending("se-1").await.unwrap(), 0);
    assert_eq!(audit_count(&w).await, audit_before, "nothing ran");
    // Nothing else was in doubt: a second recovery resolves nothing.
    assert_eq!(w.tsm.recover_interrupted().await.unwrap(), (0, 0));
}
