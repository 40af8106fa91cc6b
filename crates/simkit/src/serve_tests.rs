//! In-process tests of the SM-DP+ server over HTTP, on SQLite and (when
//! `SIMKIT_TEST_POSTGRES_URL` is set) PostgreSQL, each in its own database/schema
//! (`store::testing`). Without PostgreSQL the PostgreSQL variants skip with a notice, unless `CI`
//! is set (then they fail).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use smdp::es2p::{
    DownloadProgressInfo, ExecutionStatus, FunctionExecutionStatus, PATH_CANCEL_ORDER,
    PATH_CONFIRM_ORDER, PATH_DOWNLOAD_ORDER, PATH_HANDLE_DOWNLOAD_PROGRESS_INFO,
    PATH_RELEASE_PROFILE,
};
use smdp::outbox::OutboxMessage;
use smdp::session::package_aad;
use smdp::{Iccid, KeyStore, ProfileState, SmdpStore};
use store::testing::TestDatabase;

use super::*;
use crate::config::Config;
use crate::inventory::{
    import_with_config, luhn_check_digit, ImportArgs, ProfileClassArg, StoreArgs,
};

/// GSMA TS.48 v4 generic test profile (SAIP 2.3, BER-TLV files), shared/reference/ts48-profiles.
const TS48: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/ts48-profiles/TS48V4-SAIP2-3-BERTLV-UNIQUE.der"
);
const PTYPE: &str = "ts48v4";
const ICCID_START: &str = "8949449999999990023";
const IMSI_START: &str = "001010123456063";

use store::both_backends;

both_backends!(import_creates_profiles, es2_over_http, outbox_delivery);

fn base_config(t: &TestDatabase, dir: &Path) -> Config {
    let mut c = Config {
        data_dir: dir.to_path_buf(),
        database_url: Some(t.opts.url.clone()),
        database_schema: t.opts.pg_schema.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        plain_http: true,
        ..Default::default()
    };
    c.outbox.poll_interval_ms = 50;
    c
}

fn import_args(count: u32, keys_out: Option<PathBuf>) -> ImportArgs {
    ImportArgs {
        package: PathBuf::from(TS48),
        count,
        iccid_start: ICCID_START.into(),
        imsi_start: IMSI_START.into(),
        profile_type: Some(PTYPE.into()),
        owner: None,
        service_provider_name: "Test SP".into(),
        profile_name: Some("TS.48 v4".into()),
        profile_class: ProfileClassArg::Operational,
        keys_out,
        store: StoreArgs {
            config: None,
            data_dir: None,
            database: None,
        },
    }
}

// ---------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------

async fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, HeaderMap, Vec<u8>) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .expect("HTTP request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

const RSP_HEADERS: [(&str, &str); 2] = [
    ("Content-Type", "application/json"),
    ("X-Admin-Protocol", "gsma/rsp/v2.2.2"),
];

/// POSTs an ES2+/ES9+ JSON request with the standard headers; returns status and JSON body.
async fn call(server: &RunningServer, path: &str, body: &Value) -> (u16, Value) {
    let (st, headers, body) = http(
        "POST",
        &format!("{}{path}", server.base_url),
        &RSP_HEADERS,
        serde_json::to_vec(body).unwrap(),
    )
    .await;
    assert_eq!(headers["content-type"], "application/json;charset=UTF-8");
    assert_eq!(headers["x-admin-protocol"], "gsma/rsp/v2.2.2");
    (st, serde_json::from_slice(&body).expect("JSON response"))
}

fn hdr(requester: &str) -> Value {
    json!({"functionRequesterIdentifier": requester, "functionCallIdentifier": "call-1"})
}

fn status_of(v: &Value) -> &str {
    v["header"]["functionExecutionStatus"]["status"]
        .as_str()
        .unwrap_or("")
}

/// (subjectCode, reasonCode) of a Failed response.
fn code_of(v: &Value) -> (String, String) {
    let d = &v["header"]["functionExecutionStatus"]["statusCodeData"];
    (
        d["subjectCode"].as_str().unwrap_or("").to_string(),
        d["reasonCode"].as_str().unwrap_or("").to_string(),
    )
}

fn code(s: &str, r: &str) -> (String, String) {
    (s.to_string(), r.to_string())
}

async fn state(db: &store::Database, iccid: &str) -> ProfileState {
    db.get_profile(&Iccid::parse(iccid).unwrap())
        .await
        .unwrap()
        .expect("profile")
        .state
}

// ---------------------------------------------------------------------------
// Import
// ---------------------------------------------------------------------------

async fn import_creates_profiles(t: &TestDatabase) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = base_config(t, dir.path());
    let keys = dir.path().join("keys.csv");
    let summary = import_with_config(&cfg, &import_args(5, Some(keys.clone())))
        .await
        .unwrap();
    assert_eq!(summary.count, 5);
    assert_eq!(summary.first_iccid, ICCID_START);
    assert_eq!(summary.last_imsi, "001010123456067");

    let counts = t.db.profile_counts().await.unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!(
        (
            counts[0].profile_type.as_str(),
            counts[0].state,
            counts[0].count
        ),
        (PTYPE, ProfileState::Available, 5)
    );

    // keys.csv: iccid,imsi,K,OPc for the HSS, private to the owner.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let csv = std::fs::read_to_string(&keys).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 5);

    let keystore = open_keystore(&cfg).unwrap();
    let mut iccids = std::collections::BTreeSet::new();
    let mut imsis = std::collections::BTreeSet::new();
    let mut ks = std::collections::BTreeSet::new();
    for row in &rows {
        let (iccid, imsi, k, opc) = (row[0], row[1], row[2], row[3]);
        // ITU-T E.118 check digit.
        let (body, check) = iccid.split_at(iccid.len() - 1);
        assert_eq!(
            luhn_check_digit(body).unwrap().to_string(),
            check,
            "{iccid}"
        );
        assert!(iccids.insert(iccid.to_string()));
        assert!(imsis.insert(imsi.to_string()));
        assert!(ks.insert(k.to_string()));
        assert_eq!(k.len(), 32);
        assert_eq!(opc.len(), 32);

        let id = Iccid::parse(iccid).unwrap();
        let p = t.db.get_profile(&id).await.unwrap().expect("profile");
        assert_eq!(p.state, ProfileState::Available);
        assert_eq!(p.imsi.as_deref(), Some(imsi));
        assert_eq!(p.profile_type, PTYPE);
        assert_eq!(p.metadata["serviceProviderName"], "Test SP");
        assert_eq!(p.metadata["profileName"], "TS.48 v4");
        assert_eq!(p.metadata["profileClass"], "operational");

        // The sealed package opens only under its own ICCID and carries the personalization.
        let sealed =
            t.db.get_profile_package(&id)
                .await
                .unwrap()
                .expect("package");
        let upp = keystore.open(&package_aad(&id), &sealed).unwrap();
        let other = Iccid::parse("8949449999999990999").unwrap();
        assert!(keystore.open(&package_aad(&other), &sealed).is_err());
        let pkg = saip::ProfilePackage::parse(&upp).unwrap();
        assert_eq!(pkg.iccid(), iccid);
        assert_eq!(pkg.ef_iccid().as_deref(), Some(iccid));
        assert_eq!(pkg.imsi().as_deref(), Some(imsi));
        let algo = pkg.aka().and_then(|a| a.algo()).expect("AKA parameters");
        assert_eq!(hex::encode_upper(&algo.key), k);
        assert_eq!(hex::encode_upper(&algo.opc), opc);
    }
    assert_eq!(
        iccids.iter().cloned().collect::<Vec<_>>(),
        [
            "8949449999999990023",
            "8949449999999990031",
            "8949449999999990049",
            "8949449999999990056",
            "8949449999999990064"
        ]
    );

    // The same range again: refused as a whole, nothing added.
    let err = import_with_config(&cfg, &import_args(2, None))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("duplicate"), "{err:#}");
    let counts = t.db.profile_counts().await.unwrap();
    assert_eq!(counts[0].count, 5);
}

// ---------------------------------------------------------------------------
// ES2+ over HTTP
// ---------------------------------------------------------------------------

async fn es2_over_http(t: &TestDatabase) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = base_config(t, dir.path());
    import_with_config(&cfg, &import_args(3, None))
        .await
        .unwrap();
    let server = start(cfg).await.unwrap();
    assert!(server.base_url.starts_with("http://127.0.0.1:"));
    assert_eq!(
        server.smdp_address,
        format!("localhost:{}", server.addr.port())
    );

    // DownloadOrder by Profile Type -> ConfirmOrder (no release) -> ReleaseProfile.
    let (st, v) = call(
        &server,
        PATH_DOWNLOAD_ORDER,
        &json!({"header": hdr("MNO1"), "profileType": PTYPE}),
    )
    .await;
    assert_eq!((st, status_of(&v)), (200, "Executed-Success"), "{v}");
    let iccid = v["iccid"].as_str().unwrap().to_string();
    assert!(iccid.starts_with("89494499999999900"));
    assert_eq!(state(&t.db, &iccid).await, ProfileState::Allocated);

    let (st, v) = call(
        &server,
        PATH_CONFIRM_ORDER,
        &json!({"header": hdr("MNO1"), "iccid": iccid, "releaseFlag": false}),
    )
    .await;
    assert_eq!((st, status_of(&v)), (200, "Executed-Success"), "{v}");
    let mid = v["matchingId"].as_str().unwrap();
    assert_eq!(mid.len(), 23, "generated MatchingID {mid}");
    assert_eq!(v["smdpAddress"], server.smdp_address.as_str());
    assert_eq!(state(&t.db, &iccid).await, ProfileState::Confirmed);

    let (_, v) = call(
        &server,
        PATH_RELEASE_PROFILE,
        &json!({"header": hdr("MNO1"), "iccid": iccid}),
    )
    .await;
    assert_eq!(status_of(&v), "Executed-Success", "{v}");
    assert_eq!(v.as_object().unwrap().len(), 1, "header only: {v}");
    assert_eq!(state(&t.db, &iccid).await, ProfileState::Released);

    // Released twice: invalid transition.
    let (_, v) = call(
        &server,
        PATH_RELEASE_PROFILE,
        &json!({"header": hdr("MNO1"), "iccid": iccid}),
    )
    .await;
    assert_eq!(status_of(&v), "Failed");
    assert_eq!(code_of(&v), code("8.2.1", "3.5"));

    // Unknown ICCID (SGP.22 §5.3.4: 8.2.1/3.9).
    let (st, v) = call(
        &server,
        PATH_RELEASE_PROFILE,
        &json!({"header": hdr("MNO1"), "iccid": "8900000000000000001"}),
    )
    .await;
    assert_eq!((st, status_of(&v)), (200, "Failed"));
    assert_eq!(code_of(&v), code("8.2.1", "3.9"));

    // Another order, cancelled back to Available.
    let (_, v) = call(
        &server,
        PATH_DOWNLOAD_ORDER,
        &json!({"header": hdr("MNO2"), "profileType": PTYPE}),
    )
    .await;
    let second = v["iccid"].as_str().unwrap().to_string();
    assert_ne!(second, iccid);
    // Another Operator may not cancel it.
    let (_, v) = call(
        &server,
        PATH_CANCEL_ORDER,
        &json!({"header": hdr("MNO1"), "iccid": second, "finalProfileStatusIndicator": "Available"}),
    )
    .await;
    assert_eq!(code_of(&v), code("8.2.1", "1.2"));
    let (_, v) = call(
        &server,
        PATH_CANCEL_ORDER,
        &json!({"header": hdr("MNO2"), "iccid": second, "finalProfileStatusIndicator": "Available"}),
    )
    .await;
    assert_eq!(status_of(&v), "Executed-Success", "{v}");
    assert_eq!(state(&t.db, &second).await, ProfileState::Available);
    // Unknown Profile Type.
    let (_, v) = call(
        &server,
        PATH_DOWNLOAD_ORDER,
        &json!({"header": hdr("MNO1"), "profileType": "nope"}),
    )
    .await;
    assert_eq!(code_of(&v), code("8.2.5", "3.9"));

    let url = format!("{}{PATH_RELEASE_PROFILE}", server.base_url);
    let release = serde_json::to_vec(&json!({"header": hdr("MNO1"), "iccid": iccid})).unwrap();

    // Malformed JSON: 200 + Failed 1.6/2.1, never a bare 500.
    let (st, h, b) = http("POST", &url, &RSP_HEADERS, b"{\"header\": ".to_vec()).await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!((st, status_of(&v)), (200, "Failed"));
    assert_eq!(code_of(&v), code("1.6", "2.1"));
    assert_eq!(h["x-admin-protocol"], "gsma/rsp/v2.2.2");
    // Mandatory field missing: 1.6/2.2.
    let (_, _, b) = http(
        "POST",
        &url,
        &RSP_HEADERS,
        br#"{"header":{"functionRequesterIdentifier":"MNO1","functionCallIdentifier":"x"}}"#
            .to_vec(),
    )
    .await;
    assert_eq!(
        code_of(&serde_json::from_slice(&b).unwrap()),
        code("1.6", "2.2")
    );
    // Missing X-Admin-Protocol: 1.6/2.2.
    let (st, _, b) = http(
        "POST",
        &url,
        &[("Content-Type", "application/json")],
        release.clone(),
    )
    .await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!((st, status_of(&v)), (200, "Failed"));
    assert_eq!(code_of(&v), code("1.6", "2.2"));
    // Unsupported version: 8.8.3/3.1.
    let (_, _, b) = http(
        "POST",
        &url,
        &[
            ("Content-Type", "application/json"),
            ("X-Admin-Protocol", "gsma/rsp/v1.0.0"),
        ],
        release.clone(),
    )
    .await;
    assert_eq!(
        code_of(&serde_json::from_slice(&b).unwrap()),
        code("8.8.3", "3.1")
    );
    // Not JSON: 415 with a Failed body.
    let (st, h, b) = http(
        "POST",
        &url,
        &[
            ("Content-Type", "text/plain"),
            ("X-Admin-Protocol", "gsma/rsp/v2.2.2"),
        ],
        release.clone(),
    )
    .await;
    assert_eq!(st, 415);
    assert_eq!(h["content-type"], "application/json;charset=UTF-8");
    assert_eq!(status_of(&serde_json::from_slice(&b).unwrap()), "Failed");
    // Not POST: 405.
    let (st, h, _) = http("GET", &url, &RSP_HEADERS, Vec::new()).await;
    assert_eq!(st, 405);
    assert_eq!(h["allow"], "POST");
    // Over the body limit: 413.
    let (st, _, b) = http("POST", &url, &RSP_HEADERS, vec![b' '; (1 << 20) + 1]).await;
    assert_eq!(st, 413);
    assert_eq!(status_of(&serde_json::from_slice(&b).unwrap()), "Failed");
    // Unknown path: 404.
    let (st, _, _) = http(
        "POST",
        &format!("{}/gsma/rsp2/es2plus/nope", server.base_url),
        &RSP_HEADERS,
        Vec::new(),
    )
    .await;
    assert_eq!(st, 404);

    // ES9+ is mounted: a malformed request is a Failed JSON answer.
    let (st, v) = call(
        &server,
        rsp::es9p::path::INITIATE_AUTHENTICATION,
        &json!({}),
    )
    .await;
    assert_eq!((st, status_of(&v)), (200, "Failed"), "{v}");
    assert!(!code_of(&v).0.is_empty());
    let (_, v) = call(
        &server,
        rsp::es9p::path::AUTHENTICATE_CLIENT,
        &json!({"transactionId": "00112233445566778899AABBCCDDEEFF", "authenticateServerResponse": "vzhCMAA="}),
    )
    .await;
    assert_eq!(status_of(&v), "Failed", "{v}");

    // /healthz and /metrics.
    let (st, _, b) = http(
        "GET",
        &format!("{}/healthz", server.base_url),
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!((st, b.as_slice()), (200, b"ok\n".as_slice()));
    let (st, h, b) = http(
        "GET",
        &format!("{}/metrics", server.base_url),
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(st, 200);
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(b).unwrap();
    for needle in [
        "simkit_http_requests_total{route=\"/gsma/rsp2/es2plus/downloadOrder\",status=\"200\"} 3\n",
        "simkit_http_requests_total{route=\"/gsma/rsp2/es2plus/releaseProfile\",status=\"415\"} 1\n",
        "simkit_http_requests_total{route=\"other\",status=\"404\"} 1\n",
        "simkit_function_results_total{route=\"/gsma/rsp2/es2plus/releaseProfile\",result=\"8.2.1/3.9\"} 1\n",
        "simkit_function_results_total{route=\"/gsma/rsp2/es2plus/confirmOrder\",result=\"Executed-Success\"} 1\n",
        "simkit_http_request_duration_seconds_count{route=\"/gsma/rsp2/es2plus/downloadOrder\"} 3\n",
        "simkit_smdp_profiles{profile_type=\"ts48v4\",state=\"Released\"} 1\n",
        "simkit_smdp_profiles{profile_type=\"ts48v4\",state=\"Available\"} 2\n",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// Outbox delivery
// ---------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let r = Receiver::default();
        r.status.store(200, Ordering::SeqCst);
        let state = r.clone();
        let router = axum::Router::new().route(
            PATH_HANDLE_DOWNLOAD_PROGRESS_INFO,
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    state.got.lock().unwrap().push((headers, v));
                    let status = state.status.load(Ordering::SeqCst);
                    let mut resp = axum::response::Response::new(Body::from(
                        r#"{"header":{"functionExecutionStatus":{"status":"Executed-Success"}}}"#,
                    ));
                    *resp.status_mut() = axum::http::StatusCode::from_u16(status).unwrap();
                    resp
                }
            }),
        );
        let (listener, addr) = crate::tls::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        tokio::spawn(crate::tls::serve(listener, router, None));
        (r, format!("http://{addr}"))
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    async fn wait_for(&self, n: usize) {
        for _ in 0..200 {
            if self.count() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("receiver got {} callbacks, expected {n}", self.count());
    }
}

fn progress(target: &str, iccid: &str, point: u32) -> OutboxMessage {
    OutboxMessage {
        target: target.into(),
        body: DownloadProgressInfo {
            eid: Some("89049032123451234512345678901235".into()),
            iccid: iccid.into(),
            profile_type: PTYPE.into(),
            timestamp: "2025-01-01T00:00:00Z".into(),
            notification_point_id: point,
            notification_point_status: FunctionExecutionStatus::success(),
            result_data: None,
        },
    }
}

async fn wait_metric(server: &RunningServer, needle: &str) {
    for _ in 0..200 {
        if server.metrics.render(&[]).contains(needle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "metric {needle:?} never appeared:\n{}",
        server.metrics.render(&[])
    );
}

async fn outbox_delivery(t: &TestDatabase) {
    let (receiver, url) = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = base_config(t, dir.path());
    cfg.callbacks = BTreeMap::from([("MNO1".to_string(), url)]);
    let server = start(cfg).await.unwrap();

    let now = now_millis();
    let id =
        t.db.enqueue_outbox(progress("MNO1", ICCID_START, 3), now)
            .await
            .unwrap();
    t.db.enqueue_outbox(progress("MNO9", ICCID_START, 3), now)
        .await
        .unwrap();
    receiver.wait_for(1).await;
    wait_metric(
        &server,
        "simkit_outbox_deliveries_total{result=\"delivered\"} 1\n",
    )
    .await;
    wait_metric(
        &server,
        "simkit_outbox_deliveries_total{result=\"no_callback\"} 1\n",
    )
    .await;
    {
        let got = receiver.got.lock().unwrap();
        assert_eq!(got.len(), 1, "only MNO1 has a callback URL");
        let (h, v) = &got[0];
        assert_eq!(h["content-type"], "application/json;charset=UTF-8");
        assert_eq!(h["x-admin-protocol"], "gsma/rsp/v2.2.2");
        // SGP.22 §5.3.5 body with the SM-DP+ as function requester.
        assert_eq!(v["header"]["functionRequesterIdentifier"], "simkit-smdp");
        assert_eq!(
            v["header"]["functionCallIdentifier"],
            format!("simkit-smdp-{id}")
        );
        assert_eq!(v["iccid"], ICCID_START);
        assert_eq!(v["profileType"], PTYPE);
        assert_eq!(v["notificationPointId"], 3);
        assert_eq!(v["notificationPointStatus"]["status"], "Executed-Success");
    }
    // Both entries are gone (delivered / dropped).
    let far = now.plus_millis(24 * 3600 * 1000);
    assert!(t.db.claim_outbox(far, 10, 1000).await.unwrap().is_empty());

    // A failing Operator: the entry stays, rescheduled, with the error recorded.
    receiver.status.store(500, Ordering::SeqCst);
    t.db.enqueue_outbox(progress("MNO1", ICCID_START, 4), now_millis())
        .await
        .unwrap();
    receiver.wait_for(2).await;
    wait_metric(
        &server,
        "simkit_outbox_deliveries_total{result=\"failed\"} 1\n",
    )
    .await;
    // Not due yet (retry in 5 s) ...
    assert!(t
        .db
        .claim_outbox(now_millis(), 10, 1000)
        .await
        .unwrap()
        .is_empty());
    // ... but still there.
    let pending = t.db.claim_outbox(far, 10, 1000).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].attempts, 2);
    assert!(
        pending[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("500"),
        "{:?}",
        pending[0].last_error
    );
    assert_eq!(
        pending[0].body.notification_point_status.status,
        ExecutionStatus::ExecutedSuccess
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// TLS with the minted PKI (SQLite only: nothing database-specific)
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_minted_pki_reused_across_restarts() {
    let t = TestDatabase::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = base_config(&t, dir.path());
    cfg.plain_http = false;
    let server = start(cfg.clone()).await.unwrap();
    assert!(server.base_url.starts_with("https://"));
    assert!(dir
        .path()
        .join("pki/CERT_S_SM_DPauth_ECDSA_NIST.der")
        .exists());
    assert!(dir.path().join("pki/SK_S_SM_DP_TLS_NIST.pem").exists());
    let ci = server.trusted_ci_der.clone();
    assert_eq!(ci.len(), 1);

    // An HTTPS client that trusts only the minted CI reaches the server as `localhost`.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ci[0].clone()))
        .unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let url = format!("https://localhost:{}/healthz", server.addr.port());
    let resp = client
        .request(
            hyper::Request::get(&url)
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .expect("TLS to the minted DPtls certificate");
    assert_eq!(resp.status(), 200);
    let key1 = std::fs::read(dir.path().join("master.key")).unwrap();
    server.shutdown().await;

    // Restart: same CI, same master key.
    let server = start(cfg).await.unwrap();
    assert_eq!(server.trusted_ci_der, ci);
    assert_eq!(std::fs::read(dir.path().join("master.key")).unwrap(), key1);
    server.shutdown().await;
    t.finish().await;
}
