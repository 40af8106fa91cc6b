//! `tsm::TsmStore` on SQLite (temporary file) and PostgreSQL (`SIMKIT_TEST_POSTGRES_URL`).

use seal::SealedBlob;
use store::both_backends;
use store::testing::TestDatabase;
use tsm::model::{
    AuditEntry, Bearer, CatalogueEntry, Conversation, Mno, Operation, QueueState, QueuedRequest,
    SdKind, Se, SecurityDomain, ServiceInstance, ServiceState, Sp,
};
use tsm::store::{AuditFilter, FlowOutcome, IdempotencyBegin};
use tsm::{TsmError, TsmStore};

both_backends!(
    entities_round_trip,
    msi_moves_between_ses,
    catalogue_latest_version,
    commit_flow_is_atomic,
    count_script_limit_under_concurrency,
    conversations_end_once,
    idempotency_states,
    idempotency_concurrent_begin,
    queue_order_and_finish,
    audit_filter_and_ordering,
    restart_keeps_everything,
);

/// GP CS v2.3.1 §F.1: the default ISD AID.
const ISD: [u8; 8] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00];

fn ssd_aid(n: u8) -> Vec<u8> {
    vec![0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, n]
}

fn mno(id: &str) -> Mno {
    Mno {
        id: id.into(),
        name: format!("Operator {id}"),
        bearer: Bearer::Scp80Sms,
    }
}

fn sp(id: &str) -> Sp {
    Sp {
        id: id.into(),
        name: format!("Provider {id}"),
        cert_subject: format!("{id}.sp.example"),
    }
}

fn se(id: &str, mno: &str) -> Se {
    Se {
        se_id: id.into(),
        mno_id: mno.into(),
        se_type: "UICC".into(),
        profile_id: "profile-1".into(),
        gp_version: "2.3.1".into(),
        jc_version: "3.0.5".into(),
        cert_level: "EAL4+".into(),
        cert_expiry: "2030-12-31".into(),
        isd_aid: ISD.to_vec(),
        link: format!("virtual:{id}"),
        ssd_initial_keys: Some(SealedBlob(vec![1, 2, 3, 4, 5])),
    }
}

fn sd(se_id: &str, aid: Vec<u8>, kind: SdKind, sp_id: Option<&str>) -> SecurityDomain {
    SecurityDomain {
        se_id: se_id.into(),
        aid,
        kind,
        sp_id: sp_id.map(str::to_string),
        keys: Some(SealedBlob(vec![0xAA; 40])),
        kvn: 0x30,
        rotated: false,
    }
}

fn isd(se_id: &str) -> SecurityDomain {
    sd(se_id, ISD.to_vec(), SdKind::Isd, None)
}

fn entry(sp: &str, service: &str, version: &str, n: u8) -> CatalogueEntry {
    CatalogueEntry {
        sp_id: sp.into(),
        service_id: service.into(),
        version: version.into(),
        package_aid: vec![0xA0, 0, 0, 0, 0x04, 0x10, n],
        module_aid: vec![0xA0, 0, 0, 0, 0x04, 0x10, n, 1],
        instance_aid: vec![0xA0, 0, 0, 0, 0x04, 0x10, n, 2],
        memory: 4096 + u32::from(n),
        privileges: vec![0x00],
        install_params: vec![0xC9, 0x01, n],
    }
}

fn instance(se_id: &str, sp: &str, service: &str, state: ServiceState) -> ServiceInstance {
    ServiceInstance {
        se_id: se_id.into(),
        sp_id: sp.into(),
        service_id: service.into(),
        qualifier: "q1".into(),
        version: "1.0".into(),
        instance_aid: vec![0xA0, 0, 0, 0, 0x04, 0x10, 1, 2],
        ssd_aid: ssd_aid(1),
        state,
        detail: r#"[{"step":"INSTALL [for install]","sw":"9000"}]"#.into(),
        updated_at: 1_700_000_000_000,
    }
}

fn conversation(id: &str, se_id: &str, sp: &str, max_scripts: u32) -> Conversation {
    Conversation {
        id: id.into(),
        sp_id: sp.into(),
        se_id: se_id.into(),
        sd_aid: ssd_aid(1),
        opened_at: 1000,
        expires_at: 61_000,
        max_scripts,
        max_script_bytes: 4096,
        scripts_used: 0,
        ended: None,
    }
}

fn audit_entry(at: i64, se_id: &str, sp: Option<&str>, op: &str) -> AuditEntry {
    AuditEntry {
        id: 0,
        at,
        se_id: se_id.into(),
        sp_id: sp.map(str::to_string),
        conversation_id: None,
        operation: op.into(),
        sd_aid: ISD.to_vec(),
        // GP CS v2.3.1 §11.3: GET STATUS (ISD), P2 = 02 (TLV format).
        command: vec![0x80, 0xF2, 0x80, 0x02, 0x02, 0x4F, 0x00, 0x00],
        response: vec![0x90, 0x00],
    }
}

fn queued(se_id: &str, sp: &str, op: Operation, body: &str, at: i64) -> QueuedRequest {
    QueuedRequest {
        id: 0,
        se_id: se_id.into(),
        sp_id: sp.into(),
        operation: op,
        body: body.into(),
        state: QueueState::Pending,
        result: None,
        created_at: at,
    }
}

/// One MNO, two SPs, two SEs (se1: msi1; se2: msi2) with their ISDs.
async fn base(h: &TestDatabase) {
    h.db.put_mno(mno("mno1")).await.unwrap();
    h.db.put_sp(sp("bank")).await.unwrap();
    h.db.put_sp(sp("transit")).await.unwrap();
    h.db.put_se(se("se1", "mno1"), vec!["msi1".into()], vec![isd("se1")])
        .await
        .unwrap();
    h.db.put_se(se("se2", "mno1"), vec!["msi2".into()], vec![isd("se2")])
        .await
        .unwrap();
}

fn hash(n: u8) -> [u8; 32] {
    [n; 32]
}

async fn entities_round_trip(h: &mut TestDatabase) {
    // MNO: insert, replace.
    let mut m = mno("mno1");
    h.db.put_mno(m.clone()).await.unwrap();
    assert_eq!(h.db.get_mno("mno1").await.unwrap(), Some(m.clone()));
    m.bearer = Bearer::Scp81Https;
    m.name = "Renamed".into();
    h.db.put_mno(m.clone()).await.unwrap();
    assert_eq!(h.db.get_mno("mno1").await.unwrap(), Some(m));
    assert_eq!(h.db.get_mno("nope").await.unwrap(), None);

    // SP: insert, lookup by subject, unique subject, replace.
    h.db.put_sp(sp("bank")).await.unwrap();
    h.db.put_sp(sp("transit")).await.unwrap();
    assert_eq!(h.db.get_sp("bank").await.unwrap(), Some(sp("bank")));
    assert_eq!(
        h.db.sp_by_subject("transit.sp.example").await.unwrap(),
        Some(sp("transit"))
    );
    assert_eq!(h.db.sp_by_subject("x.example").await.unwrap(), None);
    let mut thief = sp("thief");
    thief.cert_subject = "bank.sp.example".into();
    let e = h.db.put_sp(thief).await.unwrap_err();
    assert!(matches!(e, TsmError::Duplicate(_)), "{e:?}");
    assert!(!e.to_string().contains("bank.sp.example"));
    assert_eq!(h.db.get_sp("thief").await.unwrap(), None);
    // Another SP taking transit's subject by replacement is refused as well.
    let mut b = sp("bank");
    b.cert_subject = "transit.sp.example".into();
    assert!(matches!(h.db.put_sp(b).await, Err(TsmError::Duplicate(_))));
    let mut b = sp("bank");
    b.cert_subject = "bank2.sp.example".into();
    h.db.put_sp(b.clone()).await.unwrap();
    assert_eq!(h.db.sp_by_subject("bank.sp.example").await.unwrap(), None);
    assert_eq!(h.db.list_sps().await.unwrap(), vec![b, sp("transit")]);

    // SE with its MSIs and SDs; an unknown MNO is refused.
    assert!(matches!(
        h.db.put_se(se("se1", "ghost"), vec![], vec![]).await,
        Err(TsmError::Invalid {
            field: "mno_id",
            ..
        })
    ));
    assert_eq!(h.db.get_se("se1").await.unwrap(), None);
    let mut rotated = sd("se1", ssd_aid(1), SdKind::SpSd, Some("bank"));
    rotated.keys = None;
    rotated.rotated = true;
    rotated.kvn = 0x31;
    let sds = vec![
        isd("se1"),
        sd("se1", vec![0xA0, 0, 0, 0, 0x77, 1], SdKind::MnoSd, None),
        rotated,
    ];
    h.db.put_se(
        se("se1", "mno1"),
        vec!["msi1".into(), "msi1b".into()],
        sds.clone(),
    )
    .await
    .unwrap();
    let mut bare = se("se2", "mno1");
    bare.ssd_initial_keys = None;
    bare.link = String::new();
    h.db.put_se(bare.clone(), vec![], vec![]).await.unwrap();
    assert_eq!(h.db.get_se("se1").await.unwrap(), Some(se("se1", "mno1")));
    assert_eq!(h.db.get_se("se2").await.unwrap(), Some(bare.clone()));
    assert_eq!(
        h.db.se_by_msi("msi1b").await.unwrap(),
        Some(se("se1", "mno1"))
    );
    assert_eq!(h.db.se_by_msi("msi9").await.unwrap(), None);
    assert_eq!(
        h.db.list_ses().await.unwrap(),
        vec![se("se1", "mno1"), bare]
    );
    let mut want = sds.clone();
    want.sort_by(|a, b| a.aid.cmp(&b.aid));
    assert_eq!(h.db.sds("se1").await.unwrap(), want);
    assert!(h.db.sds("se2").await.unwrap().is_empty());
    // Bad registrations: an SD of another SE, a duplicate AID, a short AID.
    assert!(matches!(
        h.db.put_se(se("se3", "mno1"), vec![], vec![isd("se1")])
            .await,
        Err(TsmError::Invalid { .. })
    ));
    assert!(matches!(
        h.db.put_se(se("se3", "mno1"), vec![], vec![isd("se3"), isd("se3")])
            .await,
        Err(TsmError::Invalid { .. })
    ));
    let mut short = se("se3", "mno1");
    short.isd_aid = vec![0xA0, 0];
    assert!(matches!(
        h.db.put_se(short, vec![], vec![]).await,
        Err(TsmError::Invalid {
            field: "isd_aid",
            ..
        })
    ));
    assert_eq!(h.db.get_se("se3").await.unwrap(), None);

    // Catalogue.
    h.db.put_catalogue(entry("bank", "pay", "1.0", 1))
        .await
        .unwrap();
    assert_eq!(
        h.db.catalogue("bank", "pay", Some("1.0")).await.unwrap(),
        Some(entry("bank", "pay", "1.0", 1))
    );
    assert_eq!(h.db.catalogue("transit", "pay", None).await.unwrap(), None);

    // Instance (written by a flow) and its listing.
    let i = instance("se1", "bank", "pay", ServiceState::Installed);
    h.db.commit_flow(FlowOutcome {
        instance: Some(i.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        h.db.instance("se1", "bank", "pay", "q1").await.unwrap(),
        Some(i.clone())
    );
    assert_eq!(
        h.db.instance("se1", "bank", "pay", "q2").await.unwrap(),
        None
    );
    // Replace by key.
    let mut active = i.clone();
    active.state = ServiceState::Active;
    active.updated_at += 5;
    h.db.commit_flow(FlowOutcome {
        instance: Some(active.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let other = instance("se2", "transit", "ride", ServiceState::Queued);
    h.db.commit_flow(FlowOutcome {
        instance: Some(other.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        h.db.list_instances(None, None).await.unwrap(),
        vec![active.clone(), other.clone()]
    );
    assert_eq!(
        h.db.list_instances(Some("se1"), None).await.unwrap(),
        vec![active.clone()]
    );
    assert_eq!(
        h.db.list_instances(None, Some("transit")).await.unwrap(),
        vec![other.clone()]
    );
    assert_eq!(
        h.db.list_instances(Some("se2"), Some("transit"))
            .await
            .unwrap(),
        vec![other]
    );
    assert!(h
        .db
        .list_instances(Some("se1"), Some("transit"))
        .await
        .unwrap()
        .is_empty());

    // Conversation.
    let c = conversation("conv-1", "se1", "bank", 3);
    h.db.open_conversation(c.clone()).await.unwrap();
    assert_eq!(h.db.conversation("conv-1").await.unwrap(), Some(c));
    assert_eq!(h.db.conversation("conv-2").await.unwrap(), None);
    assert!(matches!(
        h.db.open_conversation(conversation("conv-1", "se2", "transit", 1))
            .await,
        Err(TsmError::Duplicate(_))
    ));
    assert!(matches!(
        h.db.open_conversation(conversation("conv-3", "se9", "bank", 1))
            .await,
        Err(TsmError::UnknownSe)
    ));
}

async fn msi_moves_between_ses(h: &mut TestDatabase) {
    base(h).await;
    // se2 takes msi1 (and keeps msi2).
    h.db.put_se(
        se("se2", "mno1"),
        vec!["msi1".into(), "msi2".into()],
        vec![isd("se2")],
    )
    .await
    .unwrap();
    assert_eq!(h.db.se_by_msi("msi1").await.unwrap().unwrap().se_id, "se2");
    assert_eq!(h.db.se_by_msi("msi2").await.unwrap().unwrap().se_id, "se2");
    // se1 re-registered with another MSI and other SDs: its old rows are replaced.
    let ssd = sd("se1", ssd_aid(7), SdKind::SpSd, Some("bank"));
    h.db.put_se(se("se1", "mno1"), vec!["msi3".into()], vec![ssd.clone()])
        .await
        .unwrap();
    assert_eq!(h.db.se_by_msi("msi3").await.unwrap().unwrap().se_id, "se1");
    assert_eq!(h.db.sds("se1").await.unwrap(), vec![ssd]);
    assert_eq!(h.db.sds("se2").await.unwrap(), vec![isd("se2")]);
    // se2 dropping msi1: it maps to no SE any more.
    h.db.put_se(se("se2", "mno1"), vec!["msi2".into()], vec![isd("se2")])
        .await
        .unwrap();
    assert_eq!(h.db.se_by_msi("msi1").await.unwrap(), None);
    assert_eq!(h.db.se_by_msi("msi2").await.unwrap().unwrap().se_id, "se2");
}

async fn catalogue_latest_version(h: &mut TestDatabase) {
    base(h).await;
    // Versions added out of lexical order: "latest" is the most recently added.
    h.db.put_catalogue(entry("bank", "pay", "2.0", 2))
        .await
        .unwrap();
    h.db.put_catalogue(entry("bank", "pay", "10.0", 3))
        .await
        .unwrap();
    h.db.put_catalogue(entry("bank", "other", "1.0", 9))
        .await
        .unwrap();
    assert_eq!(
        h.db.catalogue("bank", "pay", None).await.unwrap(),
        Some(entry("bank", "pay", "10.0", 3))
    );
    h.db.put_catalogue(entry("bank", "pay", "1.5", 4))
        .await
        .unwrap();
    assert_eq!(
        h.db.catalogue("bank", "pay", None)
            .await
            .unwrap()
            .unwrap()
            .version,
        "1.5"
    );
    // Replacing an existing version updates it but does not make it the latest.
    let mut fixed = entry("bank", "pay", "2.0", 2);
    fixed.memory = 99;
    fixed.install_params = vec![0xC9, 0x00];
    h.db.put_catalogue(fixed.clone()).await.unwrap();
    assert_eq!(
        h.db.catalogue("bank", "pay", Some("2.0")).await.unwrap(),
        Some(fixed.clone())
    );
    assert_eq!(
        h.db.catalogue("bank", "pay", None)
            .await
            .unwrap()
            .unwrap()
            .version,
        "1.5"
    );
    // Another SP's service of the same name is a different service.
    assert_eq!(h.db.catalogue("transit", "pay", None).await.unwrap(), None);
    assert_eq!(
        h.db.catalogue("bank", "pay", Some("3.0")).await.unwrap(),
        None
    );
    assert!(matches!(
        h.db.put_catalogue(entry("ghost", "pay", "1.0", 1)).await,
        Err(TsmError::Invalid { field: "sp_id", .. })
    ));
    let all = h.db.list_catalogue().await.unwrap();
    assert_eq!(
        all,
        vec![
            entry("bank", "other", "1.0", 9),
            fixed,
            entry("bank", "pay", "10.0", 3),
            entry("bank", "pay", "1.5", 4),
        ]
    );
}

async fn commit_flow_is_atomic(h: &mut TestDatabase) {
    base(h).await;
    let old_ssd = sd("se1", ssd_aid(1), SdKind::SpSd, Some("bank"));
    h.db.commit_flow(FlowOutcome {
        put_sds: vec![old_ssd.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    let before_sds = h.db.sds("se1").await.unwrap();
    assert!(before_sds.contains(&old_ssd));

    // Every part is valid except the last SD row (an SE the store does not know): the
    // instance, the SD removal, the new SD and the audit entries written before it must all
    // be rolled back.
    let failing = FlowOutcome {
        instance: Some(instance("se1", "bank", "pay", ServiceState::Installed)),
        removed_sds: vec![("se1".into(), ssd_aid(1))],
        put_sds: vec![
            sd("se1", ssd_aid(2), SdKind::SpSd, Some("bank")),
            sd("se-unknown", ssd_aid(3), SdKind::SpSd, Some("bank")),
        ],
        audit: vec![audit_entry(1, "se1", Some("bank"), "PrePersonalize")],
    };
    let e = h.db.commit_flow(failing).await.unwrap_err();
    assert_eq!(e, TsmError::UnknownSe);
    assert_eq!(
        h.db.instance("se1", "bank", "pay", "q1").await.unwrap(),
        None
    );
    assert_eq!(h.db.sds("se1").await.unwrap(), before_sds);
    assert!(h.db.audit(AuditFilter::default()).await.unwrap().is_empty());

    // An instance of an unknown SE: nothing written either (audit entries come after).
    let e =
        h.db.commit_flow(FlowOutcome {
            instance: Some(instance("se-unknown", "bank", "pay", ServiceState::Active)),
            audit: vec![audit_entry(2, "se-unknown", Some("bank"), "PrePersonalize")],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, TsmError::Storage(_)), "{e:?}");
    assert!(h.db.audit(AuditFilter::default()).await.unwrap().is_empty());
    assert!(h.db.list_instances(None, None).await.unwrap().is_empty());

    // The same flow without the bad row commits whole; a removal and a put of the same AID
    // (a renewal) leaves the new row.
    let mut renewed = sd("se1", ssd_aid(1), SdKind::SpSd, Some("bank"));
    renewed.kvn = 0x31;
    let good = FlowOutcome {
        instance: Some(instance("se1", "bank", "pay", ServiceState::Installed)),
        removed_sds: vec![("se1".into(), ssd_aid(1))],
        put_sds: vec![
            sd("se1", ssd_aid(2), SdKind::SpSd, Some("bank")),
            renewed.clone(),
        ],
        audit: vec![
            audit_entry(1, "se1", Some("bank"), "PrePersonalize"),
            audit_entry(2, "se1", Some("bank"), "PrePersonalize"),
        ],
    };
    h.db.commit_flow(good).await.unwrap();
    assert_eq!(
        h.db.instance("se1", "bank", "pay", "q1").await.unwrap(),
        Some(instance("se1", "bank", "pay", ServiceState::Installed))
    );
    let sds = h.db.sds("se1").await.unwrap();
    assert_eq!(sds.len(), 3);
    assert!(sds.contains(&renewed));
    assert!(sds.contains(&sd("se1", ssd_aid(2), SdKind::SpSd, Some("bank"))));
    let audit = h.db.audit(AuditFilter::default()).await.unwrap();
    assert_eq!(audit.iter().map(|a| a.at).collect::<Vec<_>>(), vec![1, 2]);
    // A removal alone deletes the row.
    h.db.commit_flow(FlowOutcome {
        removed_sds: vec![("se1".into(), ssd_aid(2))],
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(h.db.sds("se1").await.unwrap().len(), 2);
}

async fn count_script_limit_under_concurrency(h: &mut TestDatabase) {
    base(h).await;
    h.db.open_conversation(conversation("c1", "se1", "bank", 5))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let db = h.db.clone();
        tasks.push(tokio::spawn(async move { db.count_script("c1").await }));
    }
    let mut counts = Vec::new();
    for t in tasks {
        if let Some(c) = t.await.unwrap().unwrap() {
            counts.push(c.scripts_used);
        }
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        vec![1, 2, 3, 4, 5],
        "exactly max_scripts calls succeed"
    );
    assert_eq!(
        h.db.conversation("c1").await.unwrap().unwrap().scripts_used,
        5
    );
    assert_eq!(h.db.count_script("c1").await.unwrap(), None);
    assert_eq!(h.db.count_script("unknown").await.unwrap(), None);
}

async fn conversations_end_once(h: &mut TestDatabase) {
    base(h).await;
    h.db.open_conversation(conversation("c1", "se1", "bank", 5))
        .await
        .unwrap();
    let c = h.db.count_script("c1").await.unwrap().unwrap();
    assert_eq!(c.scripts_used, 1);
    assert_eq!(c.ended, None);
    h.db.end_conversation("c1", "Success").await.unwrap();
    // An ended conversation keeps its first status and counts no more scripts.
    h.db.end_conversation("c1", "Failure").await.unwrap();
    let c = h.db.conversation("c1").await.unwrap().unwrap();
    assert_eq!(c.ended.as_deref(), Some("Success"));
    assert_eq!(c.scripts_used, 1);
    assert_eq!(h.db.count_script("c1").await.unwrap(), None);
    assert_eq!(
        h.db.end_conversation("nope", "Success").await,
        Err(TsmError::NoConversation)
    );
}

async fn idempotency_states(h: &mut TestDatabase) {
    base(h).await;
    let db = &h.db;
    assert_eq!(
        db.idempotency_begin("bank", "k1", hash(1), 100)
            .await
            .unwrap(),
        IdempotencyBegin::New
    );
    assert_eq!(
        db.idempotency_begin("bank", "k1", hash(1), 101)
            .await
            .unwrap(),
        IdempotencyBegin::InProgress
    );
    assert_eq!(
        db.idempotency_begin("bank", "k1", hash(2), 101)
            .await
            .unwrap(),
        IdempotencyBegin::Conflict
    );
    // Keys are per SP.
    assert_eq!(
        db.idempotency_begin("transit", "k1", hash(2), 101)
            .await
            .unwrap(),
        IdempotencyBegin::New
    );
    let rec = db.idempotency_record("bank", "k1").await.unwrap().unwrap();
    assert_eq!(rec.sp_id, "bank");
    assert_eq!(rec.key, "k1");
    assert_eq!(rec.request_hash, hash(1));
    assert_eq!(rec.response, None);

    db.idempotency_finish("bank", "k1", 201, r#"{"state":"INSTALLED"}"#.into())
        .await
        .unwrap();
    assert_eq!(
        db.idempotency_begin("bank", "k1", hash(1), 102)
            .await
            .unwrap(),
        IdempotencyBegin::Replay(201, r#"{"state":"INSTALLED"}"#.into())
    );
    assert_eq!(
        db.idempotency_begin("bank", "k1", hash(3), 102)
            .await
            .unwrap(),
        IdempotencyBegin::Conflict
    );
    // A finished record is not abandoned.
    db.idempotency_abandon("bank", "k1").await.unwrap();
    assert_eq!(
        db.idempotency_record("bank", "k1")
            .await
            .unwrap()
            .unwrap()
            .response,
        Some((201, r#"{"state":"INSTALLED"}"#.into()))
    );
    // An abandoned in-progress key may be used again, even for another request.
    db.idempotency_abandon("transit", "k1").await.unwrap();
    assert_eq!(db.idempotency_record("transit", "k1").await.unwrap(), None);
    assert_eq!(
        db.idempotency_begin("transit", "k1", hash(4), 103)
            .await
            .unwrap(),
        IdempotencyBegin::New
    );
    assert!(db
        .idempotency_finish("bank", "missing", 200, String::new())
        .await
        .is_err());
    assert!(matches!(
        db.idempotency_begin("bank", "bad key!", hash(1), 0).await,
        Err(TsmError::Invalid { .. })
    ));
}

async fn idempotency_concurrent_begin(h: &mut TestDatabase) {
    base(h).await;
    for round in 0..3 {
        let key = format!("key-{round}");
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let db = h.db.clone();
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                db.idempotency_begin("bank", &key, hash(7), 5).await
            }));
        }
        let mut new = 0;
        for t in tasks {
            match t.await.unwrap().unwrap() {
                IdempotencyBegin::New => new += 1,
                IdempotencyBegin::InProgress => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(new, 1, "exactly one caller runs the request");
    }
}

async fn queue_order_and_finish(h: &mut TestDatabase) {
    base(h).await;
    let a1 =
        h.db.enqueue(queued("se1", "bank", Operation::PrePersonalize, "a1", 10))
            .await
            .unwrap();
    let b1 =
        h.db.enqueue(queued("se2", "bank", Operation::PrePersonalize, "b1", 11))
            .await
            .unwrap();
    // The caller's id, state and result are ignored: a new request is pending.
    let mut odd = queued("se1", "transit", Operation::ActivateService, "a2", 12);
    odd.id = 999;
    odd.state = QueueState::Done;
    odd.result = Some("x".into());
    let a2 = h.db.enqueue(odd).await.unwrap();
    let a3 =
        h.db.enqueue(queued("se1", "bank", Operation::DeleteService, "a3", 13))
            .await
            .unwrap();
    assert!(a1 < b1 && b1 < a2 && a2 < a3);
    let p = h.db.pending("se1").await.unwrap();
    assert_eq!(p.iter().map(|r| r.id).collect::<Vec<_>>(), vec![a1, a2, a3]);
    assert_eq!(p[1].operation, Operation::ActivateService);
    assert_eq!(p[1].sp_id, "transit");
    assert_eq!(p[1].state, QueueState::Pending);
    assert_eq!(p[1].result, None);
    assert_eq!(p[1].created_at, 12);

    h.db.finish_queued(a1, QueueState::Done, r#"{"ok":true}"#.into())
        .await
        .unwrap();
    h.db.finish_queued(a2, QueueState::Failed, r#"{"code":"seError"}"#.into())
        .await
        .unwrap();
    assert_eq!(
        h.db.pending("se1")
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        vec![a3]
    );
    let done = h.db.queued(a1).await.unwrap().unwrap();
    assert_eq!(done.state, QueueState::Done);
    assert_eq!(done.result.as_deref(), Some(r#"{"ok":true}"#));
    assert_eq!(done.body, "a1");
    assert_eq!(
        h.db.queued(a2).await.unwrap().unwrap().state,
        QueueState::Failed
    );
    assert_eq!(h.db.queued(a3 + 100).await.unwrap(), None);
    assert!(h
        .db
        .finish_queued(a3 + 100, QueueState::Done, String::new())
        .await
        .is_err());
    assert_eq!(h.db.pending("se2").await.unwrap().len(), 1);
    assert!(h.db.pending("se9").await.unwrap().is_empty());
    assert_eq!(
        h.db.enqueue(queued("se9", "bank", Operation::PrePersonalize, "", 1))
            .await,
        Err(TsmError::UnknownSe)
    );
}

async fn audit_filter_and_ordering(h: &mut TestDatabase) {
    base(h).await;
    let mut with_conv = audit_entry(3, "se1", Some("transit"), "ProcessScript");
    with_conv.conversation_id = Some("c7".into());
    with_conv.response = vec![0x6A, 0x88];
    h.db.append_audit(vec![
        audit_entry(1, "se1", Some("bank"), "PrePersonalize"),
        audit_entry(2, "se2", Some("bank"), "PrePersonalize"),
        with_conv.clone(),
    ])
    .await
    .unwrap();
    h.db.append_audit(vec![audit_entry(4, "se1", None, "Register")])
        .await
        .unwrap();
    h.db.append_audit(vec![]).await.unwrap();

    let all = h.db.audit(AuditFilter::default()).await.unwrap();
    assert_eq!(all.len(), 4);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(
        all.iter().map(|a| a.at).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    with_conv.id = all[2].id;
    assert_eq!(all[2], with_conv);
    assert_eq!(all[3].sp_id, None);

    let at = |v: Vec<tsm::model::AuditEntry>| v.iter().map(|a| a.at).collect::<Vec<_>>();
    let f = |se: Option<&str>, sp: Option<&str>, after: Option<i64>, limit: u32| AuditFilter {
        se_id: se.map(str::to_string),
        sp_id: sp.map(str::to_string),
        after,
        limit,
    };
    assert_eq!(
        at(h.db.audit(f(Some("se1"), None, None, 0)).await.unwrap()),
        vec![1, 3, 4]
    );
    assert_eq!(
        at(h.db.audit(f(None, Some("bank"), None, 0)).await.unwrap()),
        vec![1, 2]
    );
    assert_eq!(
        at(h.db
            .audit(f(Some("se1"), Some("bank"), None, 0))
            .await
            .unwrap()),
        vec![1]
    );
    assert_eq!(
        at(h.db.audit(f(None, None, Some(all[1].id), 0)).await.unwrap()),
        vec![3, 4]
    );
    assert_eq!(
        at(h.db.audit(f(None, None, None, 2)).await.unwrap()),
        vec![1, 2]
    );
    // Paging: after the last id seen, with a limit.
    assert_eq!(
        at(h.db
            .audit(f(Some("se1"), None, Some(all[0].id), 1))
            .await
            .unwrap()),
        vec![3]
    );
    assert!(h
        .db
        .audit(f(Some("se9"), None, None, 10))
        .await
        .unwrap()
        .is_empty());
}

async fn restart_keeps_everything(h: &mut TestDatabase) {
    base(h).await;
    let ssd = sd("se1", ssd_aid(1), SdKind::SpSd, Some("bank"));
    h.db.put_catalogue(entry("bank", "pay", "1.0", 1))
        .await
        .unwrap();
    h.db.put_catalogue(entry("bank", "pay", "0.9", 2))
        .await
        .unwrap();
    let inst = instance("se1", "bank", "pay", ServiceState::Active);
    h.db.commit_flow(FlowOutcome {
        instance: Some(inst.clone()),
        put_sds: vec![ssd.clone()],
        removed_sds: vec![],
        audit: vec![audit_entry(1, "se1", Some("bank"), "PrePersonalize")],
    })
    .await
    .unwrap();
    h.db.open_conversation(conversation("c1", "se1", "bank", 2))
        .await
        .unwrap();
    h.db.count_script("c1").await.unwrap().unwrap();
    let q =
        h.db.enqueue(queued("se2", "transit", Operation::PrePersonalize, "{}", 5))
            .await
            .unwrap();
    h.db.idempotency_begin("bank", "k1", hash(1), 1)
        .await
        .unwrap();
    h.db.idempotency_finish("bank", "k1", 200, "ok".into())
        .await
        .unwrap();
    h.db.idempotency_begin("bank", "k2", hash(2), 1)
        .await
        .unwrap();

    h.reopen().await;

    assert_eq!(
        h.db.schema_version().await.unwrap(),
        store::MIGRATIONS.last().unwrap().version
    );
    assert_eq!(h.db.get_mno("mno1").await.unwrap(), Some(mno("mno1")));
    assert_eq!(
        h.db.sp_by_subject("bank.sp.example").await.unwrap(),
        Some(sp("bank"))
    );
    assert_eq!(
        h.db.se_by_msi("msi1").await.unwrap(),
        Some(se("se1", "mno1"))
    );
    let sds = h.db.sds("se1").await.unwrap();
    assert_eq!(sds, vec![isd("se1"), ssd]);
    assert_eq!(
        h.db.catalogue("bank", "pay", None)
            .await
            .unwrap()
            .unwrap()
            .version,
        "0.9"
    );
    assert_eq!(
        h.db.instance("se1", "bank", "pay", "q1").await.unwrap(),
        Some(inst)
    );
    assert_eq!(
        h.db.conversation("c1").await.unwrap().unwrap().scripts_used,
        1
    );
    assert_eq!(
        h.db.count_script("c1").await.unwrap().unwrap().scripts_used,
        2
    );
    assert_eq!(h.db.count_script("c1").await.unwrap(), None);
    assert_eq!(h.db.audit(AuditFilter::default()).await.unwrap().len(), 1);
    let pending = h.db.pending("se2").await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, q);
    assert_eq!(
        h.db.idempotency_begin("bank", "k1", hash(1), 2)
            .await
            .unwrap(),
        IdempotencyBegin::Replay(200, "ok".into())
    );
    assert_eq!(
        h.db.idempotency_begin("bank", "k2", hash(2), 2)
            .await
            .unwrap(),
        IdempotencyBegin::InProgress
    );
    // New ids continue after the old ones.
    let q2 =
        h.db.enqueue(queued("se2", "transit", Operation::DeleteService, "{}", 6))
            .await
            .unwrap();
    assert!(q2 > q);
}
