//! The same store tests on SQLite (temporary file) and PostgreSQL.
//!
//! PostgreSQL URL: `SIMKIT_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`). Unset: the PostgreSQL
//! variants print a notice and skip, unless `CI` is set (then they fail).
//! Each PostgreSQL test works in its own schema, dropped at the end.

use serde_json::json;
use smdp::codes;
use smdp::es2p::{notification_point as np, ExecutionStatus};
use smdp::order::{
    hash_confirmation_code, session_cc_hash, CancelOrderInput, ConfirmOrderInput,
    DownloadOrderInput, InstallOutcome, InstallResult, NewProfile, OrderPolicy,
    ReleaseProfileInput, RequestedMatchingId,
};
use smdp::outbox::{OutboxMessage, ProgressReports};
use smdp::session::{package_aad, session_aad, NewSession, SessionState};
use smdp::state::FinalProfileStatus;
use smdp::{
    Eid, Error, FunctionError, Iccid, KeyStore, MatchingId, ProfileState, SealedBlob, SmdpStore,
    SoftwareKeyStore, StatusCode, TransactionId, UnixMillis,
};
use sqlx::{Connection, Row};
use store::Database;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

type Harness = store::testing::TestDatabase;

use store::both_backends;

both_backends!(
    inventory_and_allocation_race,
    order_lifecycle,
    cancel_order_paths,
    eid_binding_refusal,
    cc_retry_exhaustion,
    download_retry_and_expiry,
    session_expiry,
    sealed_session_round_trip,
    session_data_with_authorization,
    outbox_claims,
    no_progress_reports_without_callback,
    persistence_across_reopen,
    migration_idempotence,
);

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// Deterministic splitmix64 RNG (tests only).
struct TestRng(u64);
impl rand_core::TryRng for TestRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for TestRng {}

const MNO: &str = "MNO1";
const EID1: &str = "89049032123451234512345678901235";
const EID2: &str = "89049032123451234512345678901236";

fn keystore() -> SoftwareKeyStore {
    SoftwareKeyStore::new(&[0x42; 32]).expect("key")
}

fn iccid(n: u32) -> Iccid {
    Iccid::parse(&format!("89000000000000{n:05}")).expect("iccid")
}

fn eid(s: &str) -> Eid {
    Eid::parse(s).expect("eid")
}

fn mid(s: &str) -> MatchingId {
    MatchingId::parse(s).expect("matching id")
}

/// When a delivered session stops waiting for its PIR in these tests (a week, in ms).
const PIR_WINDOW: i64 = 7 * 24 * 3600 * 1000;
/// Every progress report written (the default of `Es9Service`).
const ALL: &ProgressReports = &ProgressReports::All;

fn t(ms: i64) -> UnixMillis {
    UnixMillis(ms)
}

fn profile(n: u32, ptype: &str, owner: Option<&str>, rng: &mut TestRng) -> NewProfile {
    let iccid = iccid(n);
    let upp = format!("UPP for {iccid} with Ki 000102030405060708090A0B0C0D0E0F");
    NewProfile {
        package: keystore()
            .seal(&package_aad(&iccid), upp.as_bytes(), rng)
            .expect("seal"),
        imsi: Some(format!("00101{n:010}")),
        profile_type: ptype.into(),
        owner: owner.map(str::to_string),
        metadata: json!({"serviceProviderName": "simkit", "n": n}),
        iccid,
    }
}

async fn load(db: &Database, n: u32, count: u32, ptype: &str) {
    let mut rng = TestRng(u64::from(n));
    let ps = (n..n + count)
        .map(|i| profile(i, ptype, None, &mut rng))
        .collect();
    db.insert_profiles(ps, t(0)).await.expect("insert profiles");
}

fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> StatusCode {
    match r {
        Err(e) => e.status_code(),
        Ok(v) => panic!("expected a rejection, got {v:?}"),
    }
}

async fn state(db: &Database, n: u32) -> ProfileState {
    db.get_profile(&iccid(n))
        .await
        .expect("get")
        .expect("exists")
        .state
}

fn dl_iccid(n: u32, eid_: Option<&str>) -> DownloadOrderInput {
    DownloadOrderInput {
        requester: MNO.into(),
        eid: eid_.map(eid),
        iccid: Some(iccid(n)),
        profile_type: None,
    }
}

fn confirm(
    n: u32,
    eid_: Option<&str>,
    m: RequestedMatchingId,
    cc: Option<&str>,
    release: bool,
) -> ConfirmOrderInput {
    ConfirmOrderInput {
        requester: MNO.into(),
        iccid: iccid(n),
        eid: eid_.map(eid),
        matching_id: m,
        cc_hash: cc.map(hash_confirmation_code),
        smds_address: None,
        release,
    }
}

async fn new_session(db: &Database, tid_byte: u8, now: UnixMillis, ttl: u64) -> TransactionId {
    let tid = TransactionId::new(&[tid_byte; 16]).expect("tid");
    let sealed = keystore()
        .seal(&session_aad(&tid), b"secret", &mut TestRng(7))
        .expect("seal");
    db.create_session(NewSession::new(tid.clone(), now, ttl, sealed))
        .await
        .expect("create session");
    tid
}

/// Profile `n` ordered, confirmed with MatchingID `m` and released.
async fn released(db: &Database, n: u32, m: &str, cc: Option<&str>) {
    db.download_order(dl_iccid(n, None), t(1), OrderPolicy::default())
        .await
        .expect("order");
    db.confirm_order(
        confirm(n, None, RequestedMatchingId::Given(mid(m)), cc, true),
        t(2),
    )
    .await
    .expect("confirm");
}

async fn outbox_points(db: &Database) -> Vec<(u32, ExecutionStatus, Option<String>)> {
    let entries = db
        .claim_outbox(t(i64::MAX / 2), 1000, 1)
        .await
        .expect("claim");
    entries
        .into_iter()
        .map(|e| {
            let s = e.body.notification_point_status;
            (
                e.body.notification_point_id,
                s.status,
                s.status_code_data
                    .map(|d| format!("{}/{}", d.subject_code, d.reason_code)),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------

async fn inventory_and_allocation_race(h: &mut Harness) {
    let db = &h.db;
    load(db, 100, 10, "Consumer").await;
    let mut rng = TestRng(5);
    db.insert_profiles(vec![profile(500, "Private", Some("OTHER"), &mut rng)], t(0))
        .await
        .unwrap();

    // Duplicate ICCID: whole batch refused.
    let dup = vec![
        profile(900, "Consumer", None, &mut rng),
        profile(100, "Consumer", None, &mut rng),
    ];
    assert!(matches!(
        db.insert_profiles(dup, t(0)).await,
        Err(Error::Duplicate(_))
    ));
    assert!(db.get_profile(&iccid(900)).await.unwrap().is_none());

    let p = db.get_profile(&iccid(100)).await.unwrap().unwrap();
    assert_eq!(p.state, ProfileState::Available);
    assert_eq!(p.metadata["n"], 100);
    assert_eq!(p.imsi.as_deref(), Some("001010000000100"));
    let pkg = db.get_profile_package(&iccid(100)).await.unwrap().unwrap();
    let upp = keystore().open(&package_aad(&iccid(100)), &pkg).unwrap();
    assert!(upp.starts_with(b"UPP for 8900000000000000100"));

    // 12 concurrent orders for 10 Profiles: 10 distinct ICCIDs, 2 refusals.
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let input = DownloadOrderInput {
                requester: MNO.into(),
                eid: None,
                iccid: None,
                profile_type: Some("Consumer".into()),
            };
            db.download_order(input, t(1), OrderPolicy::default()).await
        }));
    }
    let mut got = Vec::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(i) => got.push(i),
            Err(e) => {
                assert_eq!(e.status_code(), codes::PROFILE_TYPE_UNAVAILABLE, "{e}");
                refused += 1;
            }
        }
    }
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 10);
    assert_eq!(refused, 2);

    let order_type = |ptype: &str, req: &str| DownloadOrderInput {
        requester: req.into(),
        eid: None,
        iccid: None,
        profile_type: Some(ptype.into()),
    };
    assert_eq!(
        code(
            db.download_order(order_type("Nope", MNO), t(1), OrderPolicy::default())
                .await
        ),
        codes::PROFILE_TYPE_UNKNOWN
    );
    assert_eq!(
        code(
            db.download_order(order_type("Private", MNO), t(1), OrderPolicy::default())
                .await
        ),
        codes::PROFILE_TYPE_NOT_ALLOWED
    );
    assert_eq!(
        db.download_order(order_type("Private", "OTHER"), t(1), OrderPolicy::default())
            .await
            .unwrap(),
        iccid(500)
    );
    assert_eq!(
        code(
            db.download_order(dl_iccid(999, None), t(1), OrderPolicy::default())
                .await
        ),
        codes::ICCID_UNKNOWN
    );
    assert_eq!(
        code(
            db.download_order(dl_iccid(100, None), t(1), OrderPolicy::default())
                .await
        ),
        codes::ICCID_NOT_AVAILABLE
    );

    let counts = db.profile_counts().await.unwrap();
    let c: Vec<(String, ProfileState, u64)> = counts
        .into_iter()
        .map(|c| (c.profile_type, c.state, c.count))
        .collect();
    assert_eq!(
        c,
        vec![
            ("Consumer".into(), ProfileState::Allocated, 10),
            ("Private".into(), ProfileState::Allocated, 1)
        ]
    );
}

async fn order_lifecycle(h: &mut Harness) {
    let db = &h.db;
    let policy = OrderPolicy::default();
    load(db, 1, 1, "Consumer").await;
    assert_eq!(
        db.download_order(dl_iccid(1, None), t(1), policy)
            .await
            .unwrap(),
        iccid(1)
    );
    assert_eq!(state(db, 1).await, ProfileState::Allocated);

    let generated = MatchingId::generate(&mut TestRng(1));
    let out = db
        .confirm_order(
            confirm(
                1,
                None,
                RequestedMatchingId::Generated(generated.clone()),
                Some("12345678"),
                false,
            ),
            t(2),
        )
        .await
        .unwrap();
    assert_eq!(out.matching_id.as_ref(), Some(&generated));
    assert_eq!(out.eid, None);
    assert_eq!(state(db, 1).await, ProfileState::Confirmed);
    let order = db
        .find_order_by_matching_id(&generated)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.iccid, iccid(1));
    assert_eq!(order.cc_hash, Some(hash_confirmation_code("12345678")));

    // Not downloadable before release.
    let tid0 = new_session(db, 0x10, t(3), 60_000).await;
    assert_eq!(
        code(
            db.authorize_download(&tid0, Some(generated.clone()), eid(EID1), t(3), policy, ALL)
                .await
        ),
        codes::PROFILE_NOT_RELEASED
    );

    db.release_profile(
        ReleaseProfileInput {
            requester: MNO.into(),
            iccid: iccid(1),
        },
        t(4),
    )
    .await
    .unwrap();
    assert_eq!(state(db, 1).await, ProfileState::Released);
    assert_eq!(
        code(
            db.release_profile(
                ReleaseProfileInput {
                    requester: MNO.into(),
                    iccid: iccid(1)
                },
                t(4)
            )
            .await
        ),
        codes::ICCID_INVALID_TRANSITION
    );

    // ES9+ session.
    let tid = new_session(db, 0x11, t(5), 60_000).await;
    let auth = db
        .authorize_download(&tid, Some(generated.clone()), eid(EID1), t(6), policy, ALL)
        .await
        .unwrap();
    assert!(auth.cc_required);
    assert_eq!(auth.attempt, 1);
    let s = db.get_session(&tid, t(6)).await.unwrap().unwrap();
    assert_eq!(s.state, SessionState::Authenticated);
    assert_eq!(s.iccid, Some(iccid(1)));
    assert_eq!(s.eid, Some(eid(EID1)));
    // Replay of AuthenticateClient on the same session is refused.
    assert_eq!(
        code(
            db.authorize_download(&tid, Some(generated.clone()), eid(EID1), t(6), policy, ALL)
                .await
        ),
        codes::TRANSACTION_ID_UNKNOWN
    );

    let hcc = session_cc_hash(&hash_confirmation_code("12345678"), &tid);
    db.verify_download_confirmation(&tid, Some(hcc.to_vec()), t(7), policy, ALL)
        .await
        .unwrap();
    db.record_bpp_delivered(&tid, t(8), t(PIR_WINDOW), ALL)
        .await
        .unwrap();
    assert_eq!(state(db, 1).await, ProfileState::Downloaded);
    assert_eq!(
        db.get_session(&tid, t(8)).await.unwrap().unwrap().state,
        SessionState::BppDelivered
    );
    // The session now waits for the PIR well past its original lifetime.
    assert!(db
        .get_session(&tid, t(PIR_WINDOW - 1))
        .await
        .unwrap()
        .is_some());
    assert!(db.get_session(&tid, t(PIR_WINDOW)).await.unwrap().is_none());
    assert_eq!(
        code(
            db.record_bpp_delivered(&tid, t(8), t(PIR_WINDOW), ALL)
                .await
        ),
        codes::TRANSACTION_ID_UNKNOWN
    );

    let pir = InstallResult {
        eid: eid(EID1),
        seq_number: 7,
        iccid: iccid(1),
        failure: None,
        result_data: Some(vec![0xBF, 0x37, 0x01, 0x00]),
    };
    assert_eq!(
        db.record_install_result(pir.clone(), t(9), policy, ALL)
            .await
            .unwrap(),
        InstallOutcome::Installed
    );
    assert_eq!(
        db.record_install_result(pir, t(9), policy, ALL)
            .await
            .unwrap(),
        InstallOutcome::Duplicate
    );
    assert_eq!(state(db, 1).await, ProfileState::Installed);
    assert!(
        db.get_session(&tid, t(9)).await.unwrap().is_none(),
        "sessions removed after installation"
    );
    assert!(!db.record_notification(&eid(EID1), 7, t(9)).await.unwrap());
    assert!(db.record_notification(&eid(EID1), 8, t(9)).await.unwrap());

    db.retire_profile(&iccid(1), t(10)).await.unwrap();
    assert_eq!(state(db, 1).await, ProfileState::Unavailable);

    let points = outbox_points(db).await;
    assert_eq!(
        points,
        vec![
            (
                np::ELIGIBILITY_AND_RETRY_LIMIT_CHECK,
                ExecutionStatus::ExecutedSuccess,
                None
            ),
            (np::BPP_DOWNLOAD, ExecutionStatus::ExecutedSuccess, None),
            (np::BPP_INSTALLATION, ExecutionStatus::ExecutedSuccess, None),
        ]
    );
}

async fn cancel_order_paths(h: &mut Harness) {
    let db = &h.db;
    let policy = OrderPolicy::default();
    load(db, 1, 3, "Consumer").await;
    let cancel = |n: u32, fin| CancelOrderInput {
        requester: MNO.into(),
        iccid: iccid(n),
        eid: None,
        matching_id: None,
        final_status: fin,
    };

    // Linked -> cancel -> Available, order gone, can be ordered again.
    db.download_order(dl_iccid(1, Some(EID1)), t(1), policy)
        .await
        .unwrap();
    assert_eq!(state(db, 1).await, ProfileState::Linked);
    let mut wrong = cancel(1, FinalProfileStatus::Available);
    wrong.requester = "OTHER".into();
    assert_eq!(
        code(db.cancel_order(wrong, t(2)).await),
        codes::ICCID_NOT_ALLOWED
    );
    db.cancel_order(cancel(1, FinalProfileStatus::Available), t(2))
        .await
        .unwrap();
    assert_eq!(state(db, 1).await, ProfileState::Available);
    assert!(db.get_order(&iccid(1)).await.unwrap().is_none());
    db.download_order(dl_iccid(1, None), t(3), policy)
        .await
        .unwrap();

    // Downloaded: only Unavailable; sessions of the order are removed.
    released(db, 2, "MID-2", None).await;
    let tid = new_session(db, 0x21, t(3), 60_000).await;
    db.authorize_download(&tid, Some(mid("MID-2")), eid(EID1), t(3), policy, ALL)
        .await
        .unwrap();
    db.record_bpp_delivered(&tid, t(4), t(PIR_WINDOW), ALL)
        .await
        .unwrap();
    assert_eq!(
        code(
            db.cancel_order(cancel(2, FinalProfileStatus::Available), t(5))
                .await
        ),
        codes::ICCID_INVALID_TRANSITION
    );
    db.cancel_order(cancel(2, FinalProfileStatus::Unavailable), t(5))
        .await
        .unwrap();
    assert_eq!(state(db, 2).await, ProfileState::Unavailable);
    assert!(db.get_session(&tid, t(5)).await.unwrap().is_none());
    assert!(db
        .find_order_by_matching_id(&mid("MID-2"))
        .await
        .unwrap()
        .is_none());

    // Nothing to cancel.
    assert_eq!(
        code(
            db.cancel_order(cancel(3, FinalProfileStatus::Unavailable), t(5))
                .await
        ),
        codes::ICCID_INVALID_TRANSITION
    );
    assert_eq!(
        code(
            db.cancel_order(cancel(99, FinalProfileStatus::Unavailable), t(5))
                .await
        ),
        codes::ICCID_UNKNOWN
    );

    // MatchingID uniqueness across orders.
    db.download_order(dl_iccid(3, None), t(6), policy)
        .await
        .unwrap();
    db.confirm_order(
        confirm(3, None, RequestedMatchingId::Given(mid("SAME")), None, true),
        t(6),
    )
    .await
    .unwrap();
    assert_eq!(
        code(
            db.confirm_order(
                confirm(1, None, RequestedMatchingId::Given(mid("SAME")), None, true),
                t(6)
            )
            .await
        ),
        codes::MATCHING_ID_IN_USE
    );
    assert_eq!(state(db, 1).await, ProfileState::Allocated);
}

async fn eid_binding_refusal(h: &mut Harness) {
    let db = &h.db;
    let policy = OrderPolicy::default();
    load(db, 1, 2, "Consumer").await;
    db.download_order(dl_iccid(1, Some(EID1)), t(1), policy)
        .await
        .unwrap();
    assert_eq!(
        code(
            db.confirm_order(
                confirm(
                    1,
                    Some(EID2),
                    RequestedMatchingId::Given(mid("M1")),
                    None,
                    true
                ),
                t(2)
            )
            .await
        ),
        codes::EID_INVALID_ASSOCIATION
    );
    assert_eq!(state(db, 1).await, ProfileState::Linked);
    let out = db
        .confirm_order(
            confirm(1, None, RequestedMatchingId::Given(mid("M1")), None, true),
            t(2),
        )
        .await
        .unwrap();
    assert_eq!(out.eid, Some(eid(EID1)));

    let tid = new_session(db, 1, t(3), 60_000).await;
    assert_eq!(
        code(
            db.authorize_download(&tid, Some(mid("M1")), eid(EID2), t(3), policy, ALL)
                .await
        ),
        codes::EID_REFUSED
    );
    assert_eq!(state(db, 1).await, ProfileState::Released);
    assert_eq!(
        db.get_order(&iccid(1))
            .await
            .unwrap()
            .unwrap()
            .download_attempts,
        0
    );
    assert_eq!(
        code(
            db.authorize_download(&tid, Some(mid("NOPE")), eid(EID1), t(3), policy, ALL)
                .await
        ),
        codes::MATCHING_ID_REFUSED
    );
    db.authorize_download(&tid, Some(mid("M1")), eid(EID1), t(3), policy, ALL)
        .await
        .unwrap();

    // Unbound order: the first eUICC binds it.
    released(db, 2, "M2", None).await;
    let t1 = new_session(db, 2, t(4), 60_000).await;
    db.authorize_download(&t1, Some(mid("M2")), eid(EID2), t(4), policy, ALL)
        .await
        .unwrap();
    assert_eq!(
        db.get_order(&iccid(2)).await.unwrap().unwrap().eid,
        Some(eid(EID2))
    );
    let t2 = new_session(db, 3, t(5), 60_000).await;
    assert_eq!(
        code(
            db.authorize_download(&t2, Some(mid("M2")), eid(EID1), t(5), policy, ALL)
                .await
        ),
        codes::EID_REFUSED
    );

    // Zero-length MatchingID: the order is found by EID.
    let t3 = new_session(db, 4, t(6), 60_000).await;
    assert_eq!(
        db.authorize_download(&t3, None, eid(EID2), t(6), policy, ALL)
            .await
            .unwrap()
            .iccid,
        iccid(2)
    );
}

/// Rows in the outbox table, read directly (a claim would change them).
async fn outbox_rows(h: &Harness) -> i64 {
    let mut raw = h.raw().await;
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM smdp_outbox")
        .fetch_one(&mut raw)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    raw.close().await.unwrap();
    n
}

/// With `ProgressReports::Only`, a download of an Operator without a callback URL writes no
/// outbox row at any notification point (success, refused Confirmation Code, failure), while
/// its state changes are those of `ProgressReports::All`; an Operator in the set still gets
/// its reports.
async fn no_progress_reports_without_callback(h: &mut Harness) {
    let policy = OrderPolicy::default();
    // Orders are placed by MNO ("MNO1"); only MNO2 has a callback URL.
    let others = ProgressReports::only(["MNO2"]);
    let db = h.db.clone();
    load(&db, 1, 3, "Consumer").await;

    // A complete download: every event that reports (SGP.22 §5.3.5 points 1, 3, 4).
    released(&db, 1, "PR-1", None).await;
    let tid = new_session(&db, 0x51, t(3), 60_000).await;
    db.authorize_download(&tid, Some(mid("PR-1")), eid(EID1), t(3), policy, &others)
        .await
        .unwrap();
    db.verify_download_confirmation(&tid, None, t(4), policy, &others)
        .await
        .unwrap();
    db.record_bpp_delivered(&tid, t(5), t(PIR_WINDOW), &others)
        .await
        .unwrap();
    let pir = InstallResult {
        eid: eid(EID1),
        seq_number: 1,
        iccid: iccid(1),
        failure: None,
        result_data: Some(vec![0xBF, 0x37, 0x01, 0x00]),
    };
    assert_eq!(
        db.record_install_result(pir, t(6), policy, &others)
            .await
            .unwrap(),
        InstallOutcome::Installed
    );
    assert_eq!(state(&db, 1).await, ProfileState::Installed);
    assert_eq!(outbox_rows(h).await, 0);

    // A refused Confirmation Code (counted) and an eligibility failure (Profile in Error).
    released(&db, 2, "PR-2", Some("4711")).await;
    let tid = new_session(&db, 0x52, t(3), 60_000).await;
    db.authorize_download(&tid, Some(mid("PR-2")), eid(EID1), t(3), policy, &others)
        .await
        .unwrap();
    let wrong = session_cc_hash(&hash_confirmation_code("0000"), &tid).to_vec();
    assert_eq!(
        code(
            db.verify_download_confirmation(&tid, Some(wrong), t(4), policy, &others)
                .await
        ),
        codes::CC_REFUSED
    );
    assert_eq!(
        db.get_order(&iccid(2)).await.unwrap().unwrap().cc_failures,
        1
    );
    let fail = FunctionError::new(codes::PROVIDER_EXECUTION_ERROR, "device capabilities");
    db.record_download_failure(&tid, np::BPP_DOWNLOAD, fail, t(5), &others)
        .await
        .unwrap();
    assert_eq!(state(&db, 2).await, ProfileState::Error);
    assert_eq!(outbox_rows(h).await, 0);
    assert!(outbox_points(&db).await.is_empty());

    // The Operator with a callback URL is reported to, exactly as with `All`.
    released(&db, 3, "PR-3", None).await;
    let tid = new_session(&db, 0x53, t(3), 60_000).await;
    let with_mno = ProgressReports::only([MNO, "MNO2"]);
    db.authorize_download(&tid, Some(mid("PR-3")), eid(EID2), t(3), policy, &with_mno)
        .await
        .unwrap();
    assert_eq!(outbox_rows(h).await, 1);
    assert_eq!(
        outbox_points(&db).await,
        vec![(
            np::ELIGIBILITY_AND_RETRY_LIMIT_CHECK,
            ExecutionStatus::ExecutedSuccess,
            None
        )]
    );
}

async fn cc_retry_exhaustion(h: &mut Harness) {
    let db = &h.db;
    let policy = OrderPolicy {
        max_cc_attempts: 3,
        ..Default::default()
    };
    load(db, 1, 1, "Consumer").await;
    released(db, 1, "CC-1", Some("4711")).await;
    let tid = new_session(db, 9, t(3), 60_000).await;
    db.authorize_download(&tid, Some(mid("CC-1")), eid(EID1), t(3), policy, ALL)
        .await
        .unwrap();
    let wrong = session_cc_hash(&hash_confirmation_code("0000"), &tid).to_vec();
    assert_eq!(
        code(
            db.verify_download_confirmation(&tid, None, t(4), policy, ALL)
                .await
        ),
        codes::CC_MISSING
    );
    assert_eq!(
        code(
            db.verify_download_confirmation(&tid, Some(wrong.clone()), t(4), policy, ALL)
                .await
        ),
        codes::CC_REFUSED
    );
    assert_eq!(
        code(
            db.verify_download_confirmation(&tid, Some(wrong.clone()), t(5), policy, ALL)
                .await
        ),
        codes::CC_REFUSED
    );
    assert_eq!(
        db.get_order(&iccid(1)).await.unwrap().unwrap().cc_failures,
        2
    );
    assert_eq!(state(db, 1).await, ProfileState::Released);
    assert_eq!(
        code(
            db.verify_download_confirmation(&tid, Some(wrong), t(6), policy, ALL)
                .await
        ),
        codes::CC_RETRIES_EXCEEDED
    );
    assert_eq!(state(db, 1).await, ProfileState::Error);
    // The right code no longer helps.
    let right = session_cc_hash(&hash_confirmation_code("4711"), &tid).to_vec();
    assert_eq!(
        code(
            db.verify_download_confirmation(&tid, Some(right), t(7), policy, ALL)
                .await
        ),
        codes::TRANSACTION_ID_UNKNOWN
    );

    let points = outbox_points(db).await;
    assert_eq!(
        points,
        vec![
            (1, ExecutionStatus::ExecutedSuccess, None),
            (2, ExecutionStatus::Failed, Some("8.2.7/3.8".into())),
            (2, ExecutionStatus::Failed, Some("8.2.7/3.8".into())),
            (2, ExecutionStatus::Failed, Some("8.2.7/6.4".into())),
        ]
    );
    // Error -> CancelOrder(Available) puts it back in the inventory.
    let c = CancelOrderInput {
        requester: MNO.into(),
        iccid: iccid(1),
        eid: Some(eid(EID1)),
        matching_id: Some(mid("CC-1")),
        final_status: FinalProfileStatus::Available,
    };
    db.cancel_order(c, t(8)).await.unwrap();
    assert_eq!(state(db, 1).await, ProfileState::Available);
}

async fn download_retry_and_expiry(h: &mut Harness) {
    let db = &h.db;
    let policy = OrderPolicy {
        max_download_attempts: 2,
        order_ttl_ms: Some(1_000_000),
        ..Default::default()
    };
    load(db, 1, 2, "Consumer").await;
    db.download_order(dl_iccid(1, None), t(0), policy)
        .await
        .unwrap();
    db.confirm_order(
        confirm(1, None, RequestedMatchingId::Given(mid("R1")), None, true),
        t(1),
    )
    .await
    .unwrap();

    // Attempt 1: BPP delivered, installation fails -> retry allowed.
    let s1 = new_session(db, 1, t(2), 60_000).await;
    db.authorize_download(&s1, Some(mid("R1")), eid(EID1), t(2), policy, ALL)
        .await
        .unwrap();
    db.record_bpp_delivered(&s1, t(3), t(PIR_WINDOW), ALL)
        .await
        .unwrap();
    let fail = FunctionError::new(
        codes::PROVIDER_EXECUTION_ERROR,
        "installFailedDueToUnknownError",
    );
    let pir = InstallResult {
        eid: eid(EID1),
        seq_number: 1,
        iccid: iccid(1),
        failure: Some(fail.clone()),
        result_data: None,
    };
    assert_eq!(
        db.record_install_result(pir, t(4), policy, ALL)
            .await
            .unwrap(),
        InstallOutcome::Failed {
            retry_allowed: true
        }
    );
    assert_eq!(state(db, 1).await, ProfileState::Downloaded);

    // Attempt 2 from Downloaded, with a new session; then the limit.
    let s2 = new_session(db, 2, t(5), 60_000).await;
    let a = db
        .authorize_download(&s2, Some(mid("R1")), eid(EID1), t(5), policy, ALL)
        .await
        .unwrap();
    assert_eq!(a.attempt, 2);
    assert!(a.bpp_previously_delivered);
    let s3 = new_session(db, 3, t(6), 60_000).await;
    assert_eq!(
        code(
            db.authorize_download(&s3, Some(mid("R1")), eid(EID1), t(6), policy, ALL)
                .await
        ),
        codes::DOWNLOAD_RETRIES_EXCEEDED
    );
    assert_eq!(state(db, 1).await, ProfileState::Error);

    // Order expiry.
    db.download_order(dl_iccid(2, None), t(0), policy)
        .await
        .unwrap();
    db.confirm_order(
        confirm(2, None, RequestedMatchingId::Given(mid("R2")), None, true),
        t(1),
    )
    .await
    .unwrap();
    let s4 = new_session(db, 4, t(1_000_000), 60_000).await;
    assert_eq!(
        code(
            db.authorize_download(&s4, Some(mid("R2")), eid(EID1), t(1_000_000), policy, ALL)
                .await
        ),
        codes::DOWNLOAD_ORDER_EXPIRED
    );
    assert_eq!(state(db, 2).await, ProfileState::Error);

    // Eligibility failure reported by the handler.
    load(db, 3, 1, "Consumer").await;
    released(db, 3, "R3", None).await;
    let s5 = new_session(db, 5, t(3), 60_000).await;
    db.authorize_download(&s5, Some(mid("R3")), eid(EID2), t(3), policy, ALL)
        .await
        .unwrap();
    db.record_download_failure(
        &s5,
        np::ELIGIBILITY_AND_RETRY_LIMIT_CHECK,
        FunctionError::new(codes::PROFILE_TYPE_UNAVAILABLE, "no eligible Profile"),
        t(4),
        ALL,
    )
    .await
    .unwrap();
    assert_eq!(state(db, 3).await, ProfileState::Error);
}

async fn session_expiry(h: &mut Harness) {
    let db = &h.db;
    let tid = new_session(db, 1, t(0), 1000).await;
    let other = new_session(db, 2, t(0), 5000).await;
    assert!(matches!(
        db.create_session(NewSession::new(tid.clone(), t(0), 10, SealedBlob(vec![1])))
            .await,
        Err(Error::Duplicate(_))
    ));
    let s = db.get_session(&tid, t(999)).await.unwrap().unwrap();
    assert_eq!(s.state, SessionState::Initiated);
    assert_eq!(s.expires_at, t(1000));
    // Wrong expected state.
    assert_eq!(
        code(
            db.update_session(
                &tid,
                SessionState::Authenticated,
                SessionState::BppDelivered,
                None,
                t(1)
            )
            .await
        ),
        codes::TRANSACTION_ID_UNKNOWN
    );
    db.update_session(
        &tid,
        SessionState::Initiated,
        SessionState::Initiated,
        Some(SealedBlob(vec![9, 9])),
        t(2),
    )
    .await
    .unwrap();
    assert_eq!(
        db.get_session(&tid, t(3)).await.unwrap().unwrap().sealed,
        SealedBlob(vec![9, 9])
    );
    // Expired.
    assert!(db.get_session(&tid, t(1000)).await.unwrap().is_none());
    assert_eq!(
        code(
            db.update_session(
                &tid,
                SessionState::Initiated,
                SessionState::Initiated,
                None,
                t(1000)
            )
            .await
        ),
        codes::TRANSACTION_ID_UNKNOWN
    );
    assert_eq!(
        code(
            db.authorize_download(
                &tid,
                Some(mid("X")),
                eid(EID1),
                t(1000),
                OrderPolicy::default(),
                ALL
            )
            .await
        ),
        codes::MATCHING_ID_REFUSED
    );
    assert_eq!(db.purge_expired_sessions(t(1000)).await.unwrap(), 1);
    assert!(db.get_session(&other, t(1000)).await.unwrap().is_some());
    assert!(db.delete_session(&other).await.unwrap());
    assert!(!db.delete_session(&other).await.unwrap());
}

/// `authorize_download_with` writes the new sealed data with the session binding; a refusal
/// never calls it, and its error rolls the authorization back.
async fn session_data_with_authorization(h: &mut Harness) {
    let db = &h.db;
    let policy = OrderPolicy::default();
    load(db, 1, 2, "Consumer").await;
    released(db, 1, "SD-1", None).await;
    let tid = new_session(db, 0x51, t(3), 60_000).await;
    let sealed = keystore()
        .seal(&session_aad(&tid), b"smdpSignature2", &mut TestRng(5))
        .unwrap();

    // The session data fails: nothing is kept (the session stays Initiated, no attempt counted).
    let failed = db
        .authorize_download_with(
            &tid,
            Some(mid("SD-1")),
            eid(EID1),
            t(3),
            policy,
            ALL,
            |_| Err::<(Option<SealedBlob>, ()), _>(Error::Storage("signing failed".into())),
        )
        .await;
    assert!(matches!(failed, Err(Error::Storage(_))));
    let s = db.get_session(&tid, t(3)).await.unwrap().unwrap();
    assert_eq!(s.state, SessionState::Initiated);
    assert_eq!(
        db.get_order(&iccid(1))
            .await
            .unwrap()
            .unwrap()
            .download_attempts,
        0
    );

    // Refused (unknown MatchingID): the closure is not called.
    let refused = db
        .authorize_download_with(
            &tid,
            Some(mid("NOPE")),
            eid(EID1),
            t(3),
            policy,
            ALL,
            |_| {
                panic!("called for a refused download");
                #[allow(unreachable_code)]
                Ok((None, ()))
            },
        )
        .await;
    assert_eq!(code(refused.map(|_| ())), codes::MATCHING_ID_REFUSED);

    // Authorized: the closure sees the authorization; its value comes back; the data is stored.
    let (auth, cc) = db
        .authorize_download_with(&tid, Some(mid("SD-1")), eid(EID1), t(3), policy, ALL, |a| {
            Ok((Some(sealed.clone()), a.cc_required))
        })
        .await
        .unwrap();
    assert_eq!(auth.iccid, iccid(1));
    assert!(!cc);
    let s = db.get_session(&tid, t(4)).await.unwrap().unwrap();
    assert_eq!(s.state, SessionState::Authenticated);
    assert_eq!(s.iccid, Some(iccid(1)));
    assert_eq!(s.sealed, sealed);
    assert_eq!(
        db.get_order(&iccid(1))
            .await
            .unwrap()
            .unwrap()
            .download_attempts,
        1
    );
}

async fn sealed_session_round_trip(h: &mut Harness) {
    let ks = keystore();
    let tid = TransactionId::new(&[0xA5; 16]).unwrap();
    let secret: &[u8] = b"otSK.DP.ECKA=0123456789abcdef0123456789abcdef S-ENC S-MAC";
    let sealed = ks
        .seal(&session_aad(&tid), secret, &mut TestRng(11))
        .unwrap();
    h.db.create_session(NewSession::new(tid.clone(), t(0), 60_000, sealed.clone()))
        .await
        .unwrap();

    let s = h.db.get_session(&tid, t(1)).await.unwrap().unwrap();
    assert_eq!(s.sealed, sealed);
    assert_eq!(&ks.open(&session_aad(&tid), &s.sealed).unwrap()[..], secret);
    let other = TransactionId::new(&[0xA6; 16]).unwrap();
    assert!(ks.open(&session_aad(&other), &s.sealed).is_err());

    // What is on disk is the sealed blob, not the secret.
    let mut raw = h.raw().await;
    let row = sqlx::query("SELECT sealed FROM smdp_sessions WHERE transaction_id = $1")
        .bind(tid.as_bytes().to_vec())
        .fetch_one(&mut raw)
        .await
        .unwrap();
    let column: Vec<u8> = row.try_get("sealed").unwrap();
    assert_eq!(column, sealed.0);
    assert!(!column
        .windows(12)
        .any(|w| secret.windows(12).any(|s| s == w)));
    raw.close().await.unwrap();
}

async fn outbox_claims(h: &mut Harness) {
    let db = &h.db;
    let msg = |n: u32| OutboxMessage {
        target: MNO.into(),
        body: smdp::es2p::DownloadProgressInfo {
            eid: None,
            iccid: iccid(n).to_string(),
            profile_type: "Consumer".into(),
            timestamp: t(0).to_w3c(),
            notification_point_id: np::BPP_DOWNLOAD,
            notification_point_status: smdp::es2p::FunctionExecutionStatus::success(),
            result_data: None,
        },
    };
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(db.enqueue_outbox(msg(n), t(100)).await.unwrap());
    }
    assert!(
        db.claim_outbox(t(99), 10, 1000).await.unwrap().is_empty(),
        "not due yet"
    );

    // Concurrent claims never hand out the same message twice.
    let (a, b) = tokio::join!(
        db.claim_outbox(t(100), 3, 1000),
        db.claim_outbox(t(100), 3, 1000)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut claimed: Vec<i64> = a.iter().chain(b.iter()).map(|e| e.id).collect();
    claimed.sort();
    assert_eq!(claimed, ids);
    assert!(a
        .iter()
        .chain(b.iter())
        .all(|e| e.attempts == 1 && e.next_attempt_at == t(1100) && e.target == MNO));
    assert_eq!(
        a.iter()
            .chain(b.iter())
            .find(|e| e.id == ids[0])
            .unwrap()
            .body,
        msg(0).body
    );
    assert!(
        db.claim_outbox(t(500), 10, 1000).await.unwrap().is_empty(),
        "leased"
    );

    db.ack_outbox(ids[0]).await.unwrap();
    db.retry_outbox(ids[1], "HTTP 503".into(), t(5000))
        .await
        .unwrap();
    // Lease over: the 3 un-acked, not-rescheduled ones come back.
    let again = db.claim_outbox(t(1100), 10, 1000).await.unwrap();
    assert_eq!(
        again.iter().map(|e| e.id).collect::<Vec<_>>(),
        ids[2..].to_vec()
    );
    assert!(again.iter().all(|e| e.attempts == 2));
    let later = db.claim_outbox(t(5000), 10, 1000).await.unwrap();
    assert_eq!(later.len(), 4);
    let retried = later.iter().find(|e| e.id == ids[1]).unwrap();
    assert_eq!(retried.last_error.as_deref(), Some("HTTP 503"));
    assert_eq!(retried.attempts, 2);
}

async fn persistence_across_reopen(h: &mut Harness) {
    load(&h.db, 1, 2, "Consumer").await;
    released(&h.db, 1, "KEEP", Some("1")).await;
    let tid = new_session(&h.db, 1, t(0), 60_000).await;
    h.reopen().await;
    assert_eq!(state(&h.db, 1).await, ProfileState::Released);
    assert_eq!(state(&h.db, 2).await, ProfileState::Available);
    let o =
        h.db.find_order_by_matching_id(&mid("KEEP"))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(o.cc_hash, Some(hash_confirmation_code("1")));
    assert!(h.db.get_session(&tid, t(1)).await.unwrap().is_some());
    assert_eq!(
        h.db.schema_version().await.unwrap(),
        store::MIGRATIONS.last().unwrap().version
    );
}

async fn migration_idempotence(h: &mut Harness) {
    assert_eq!(
        h.db.schema_version().await.unwrap(),
        store::MIGRATIONS.last().unwrap().version
    );
    assert_eq!(h.db.migrate().await.unwrap(), 0);
    assert_eq!(h.db.migrate().await.unwrap(), 0);
    load(&h.db, 1, 1, "Consumer").await;
    // Two more processes opening the same database at once.
    let (a, b) = tokio::join!(
        Database::connect_with(h.opts.clone()),
        Database::connect_with(h.opts.clone())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.migrate().await.unwrap(), 0);
    assert!(b.get_profile(&iccid(1)).await.unwrap().is_some());
    a.close().await;
    b.close().await;
    let mut raw = h.raw().await;
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM simkit_migrations")
        .fetch_one(&mut raw)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(n, store::MIGRATIONS.len() as i64);
    raw.close().await.unwrap();
}

/// In-memory SQLite works for quick tests and tools.
#[tokio::test]
async fn sqlite_memory() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    load(&db, 1, 1, "Consumer").await;
    assert_eq!(state(&db, 1).await, ProfileState::Available);
    assert_eq!(db.backend(), store::Backend::Sqlite);
}

/// The SQLite fast path never waits for a lock another connection holds (it would block an
/// async worker thread): it hands the call to the sqlx path, which waits for the lock without
/// blocking. With more waiting calls than worker threads, a blocking wait would leave no
/// worker to release the lock before the busy timeout, and the calls would fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fast_path_yields_to_a_held_lock() {
    let h = store::testing::TestDatabase::sqlite().await;
    let mut raw = h.raw().await;
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut raw)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..4u8)
        .map(|i| {
            let db = h.db.clone();
            tokio::spawn(async move {
                let tid = new_session(&db, 0x70 + i, t(0), 60_000).await;
                db.get_session(&tid, t(1)).await.unwrap().is_some()
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        calls.iter().all(|c| !c.is_finished()),
        "a write went ahead under another connection's lock"
    );
    sqlx::raw_sql("COMMIT").execute(&mut raw).await.unwrap();
    for c in calls {
        assert!(c.await.unwrap());
    }
    // Blocked workers would have held up the COMMIT until the busy timeout (5 s) ran out.
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    raw.close().await.unwrap();
    h.finish().await;
}
