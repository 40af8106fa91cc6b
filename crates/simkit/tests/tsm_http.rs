//! The central TSM's SP API over real HTTPS on 127.0.0.1 with rustls client certificates
//! (`simkit::tsm_http::start`), on SQLite and PostgreSQL (`SIMKIT_TEST_POSTGRES_URL`): mutual
//! TLS authentication of SPs, isolation between SPs, the error bodies and statuses, the
//! OpenAPI document, lookups, conversations and their limits, idempotent replays, and the
//! card flows on a simkit virtual card file (with the delivery of a queue once the SE is back).
//! `simkit tsm` itself is driven through the built binary: registrations read back with
//! `simkit tsm services --json`, and `simkit tsm serve` answering an SP.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use simkit::server_pki::{mint_sp, OperatorFiles};
use simkit::tsm_http::{LinkConnector, RunningTsm, TsmServerOptions, OPERATIONS};
use store::testing::TestDatabase;
use store::{both_backends, Database};
use tsm::model::{
    Bearer, CatalogueEntry, KeySetRecord, Mno, SdKind, Se, SecurityDomain, ServiceInstance,
    ServiceState, Sp,
};
use tsm::service::{ssd_aid_for, Tsm, TsmConfig};
use tsm::store::{AuditFilter, FlowOutcome};
use tsm::TsmStore;
use zeroize::Zeroizing;

/// The GlobalPlatform test key (GP CS v2.3.1 test key set, the simkit card's factory ISD and
/// SSD keys, KVN 30, AES-128: crates/card/src/gp/mod.rs).
const GP_TEST_KEY: &str = "404142434445464748494A4B4C4D4E4F";
const ISD_AID: &str = "A000000151000000";
/// The card's native generic applet (crates/card/src/gp/native.rs).
const GENERIC_PKG: &str = "F053494D4B495402";
const GENERIC_APPLET: &str = "F053494D4B49540201";
const INSTANCE: &str = "F053494D4B4954020101";

/// SE1: a card file; SE2: no direct link (refused: OTA delivery is not implemented).
const MSI1: &str = "33611111111";
const MSI2: &str = "33622222222";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pem_chain(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(|c| c.unwrap())
        .collect()
}

fn keys(kvn: u8) -> KeySetRecord {
    let k = hex::decode(GP_TEST_KEY).unwrap();
    KeySetRecord {
        scp: 3,
        kvn,
        enc: Zeroizing::new(k.clone()),
        mac: Zeroizing::new(k.clone()),
        dek: Zeroizing::new(k),
    }
}

fn simkit_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_simkit"));
    cmd.args(args).env("SIMKIT_LOG", "off").stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("SIMKIT_") && k != "SIMKIT_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn simkit(args: &[&str]) -> Output {
    simkit_cmd(args).output().expect("running simkit")
}

fn ok_json(args: &[&str]) -> Value {
    let out = simkit(args);
    assert!(
        out.status.success(),
        "simkit {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "simkit {args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

// ---------------------------------------------------------------------------------------------
// The server and its SPs

struct Env {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    server: RunningTsm<Database>,
    /// Trust anchor of the server's TLS certificate.
    ci_der: Vec<u8>,
    /// SP "spA" and "spB" (registered), "spX" (same CA, not registered), and a rogue "spA"
    /// from another CA.
    sp_a: OperatorFiles,
    sp_b: OperatorFiles,
    sp_x: OperatorFiles,
    rogue: OperatorFiles,
    /// SE1's card file.
    card: PathBuf,
}

impl Env {
    fn tsm(&self) -> &Tsm<Database> {
        &self.server.tsm
    }

    async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// Starts the TSM on `db` with two SPs, SE1 (`card:` link to a card file created with
/// `simkit card create`; absent until `with_card`) and SE2 (no link, with spA's SSD
/// registered), the catalogue, and an ACTIVE instance of spA's "pay"/"q0" on SE2.
async fn setup(db: &TestDatabase, with_card: bool) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let sps = root.join("sps");
    let sp_a = mint_sp(&sps, "spA").unwrap();
    let sp_b = mint_sp(&sps, "spB").unwrap();
    let sp_x = mint_sp(&sps, "spX").unwrap();
    let rogue = mint_sp(&root.join("rogue"), "spA").unwrap();
    assert_ne!(sp_a.ca_cert, rogue.ca_cert);

    let card = root.join("se1.simkit");
    if with_card {
        let out = simkit(&["card", "create", "--state", p(&card)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The server's TLS certificate: minted like `simkit serve` does.
    let cfg = simkit::config::Config {
        data_dir: root.join("data"),
        ..Default::default()
    }
    .resolve()
    .unwrap();
    let pki = simkit::server_pki::load_or_mint(&cfg).unwrap();
    let ci_der = pki.trusted_cis[0].der().to_vec();

    let connector = Arc::new(LinkConnector::default());
    let master = [7u8; 32];
    let keystore = seal::SoftwareKeyStore::new(&master).unwrap();
    let tsm = simkit::tsm_cmd::new_service(
        db.db.clone(),
        Arc::new(keystore),
        connector.clone(),
        TsmConfig {
            max_scripts: 3,
            max_script_bytes: 64,
            ..TsmConfig::default()
        },
    );
    register(&tsm, &card).await;
    let server = simkit::tsm_http::start(
        Arc::new(tsm),
        TsmServerOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls_chain: pki.tls_chain.clone(),
            tls_key_pkcs8: pki.tls_key_pkcs8.clone(),
            sp_cas: simkit::server_pki::load_chain(&sp_a.ca_cert).unwrap(),
            delivery_interval: Duration::from_millis(200),
            connector: Some(connector),
        },
    )
    .await
    .unwrap();
    Env {
        _dir: dir,
        dir: root,
        server,
        ci_der,
        sp_a,
        sp_b,
        sp_x,
        rogue,
        card,
    }
}

fn se(se_id: &str, link: String) -> Se {
    Se {
        se_id: se_id.into(),
        mno_id: "MNO1".into(),
        se_type: "eSE".into(),
        profile_id: "P-1".into(),
        gp_version: "2.3.1".into(),
        jc_version: "3.0.5".into(),
        cert_level: "EAL5+".into(),
        cert_expiry: "2030-12-31".into(),
        isd_aid: hex::decode(ISD_AID).unwrap(),
        link,
        ssd_initial_keys: None,
    }
}

async fn register(tsm: &Tsm<Database>, card: &Path) {
    let store = tsm.store();
    store
        .put_mno(Mno {
            id: "MNO1".into(),
            name: "Operator One".into(),
            bearer: Bearer::Scp80Sms,
        })
        .await
        .unwrap();
    for id in ["spA", "spB"] {
        store
            .put_sp(Sp {
                id: id.into(),
                name: format!("SP {id}"),
                cert_subject: id.into(),
            })
            .await
            .unwrap();
    }
    let isd = hex::decode(ISD_AID).unwrap();
    for (id, msi, link) in [
        ("SE1", MSI1, format!("card:{}", card.display())),
        ("SE2", MSI2, String::new()),
    ] {
        let mut s = se(id, link);
        s.ssd_initial_keys = Some(tsm.seal_initial_keys(id, &keys(0x30)).unwrap());
        let mut sds = vec![SecurityDomain {
            se_id: id.into(),
            aid: isd.clone(),
            kind: SdKind::Isd,
            sp_id: None,
            keys: Some(tsm.seal_keys(id, &isd, &keys(0x30)).unwrap()),
            kvn: 0x30,
            rotated: false,
        }];
        if id == "SE2" {
            let ssd = ssd_aid_for("spA");
            sds.push(SecurityDomain {
                se_id: id.into(),
                aid: ssd.clone(),
                kind: SdKind::SpSd,
                sp_id: Some("spA".into()),
                keys: Some(tsm.seal_keys(id, &ssd, &keys(0x31)).unwrap()),
                kvn: 0x31,
                rotated: false,
            });
        }
        store.put_se(s, vec![msi.into()], sds).await.unwrap();
    }
    for (sp, service) in [("spA", "pay"), ("spB", "transit")] {
        store
            .put_catalogue(CatalogueEntry {
                sp_id: sp.into(),
                service_id: service.into(),
                version: "1".into(),
                package_aid: hex::decode(GENERIC_PKG).unwrap(),
                module_aid: hex::decode(GENERIC_APPLET).unwrap(),
                instance_aid: hex::decode(INSTANCE).unwrap(),
                memory: 256,
                privileges: vec![0x00],
                install_params: Vec::new(),
            })
            .await
            .unwrap();
    }
    store
        .commit_flow(FlowOutcome {
            instance: Some(ServiceInstance {
                se_id: "SE2".into(),
                sp_id: "spA".into(),
                service_id: "pay".into(),
                qualifier: "q0".into(),
                version: "1".into(),
                instance_aid: hex::decode(INSTANCE).unwrap(),
                ssd_aid: ssd_aid_for("spA"),
                state: ServiceState::Active,
                detail: "[]".into(),
                updated_at: 1,
            }),
            ..FlowOutcome::default()
        })
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// The HTTPS client

struct Req<'a> {
    method: &'a str,
    path: String,
    body: Vec<u8>,
    content_type: Option<&'a str>,
    idempotency_key: Option<&'a str>,
}

impl Req<'_> {
    fn post(op: &str, body: &Value) -> Req<'static> {
        Req {
            method: "POST",
            path: format!("/tsm/v1/{op}"),
            body: serde_json::to_vec(body).unwrap(),
            content_type: Some("application/json"),
            idempotency_key: None,
        }
    }
}

/// Sends `req` presenting `identity`; `Err` = a transport (TLS) failure.
async fn send(
    env: &Env,
    identity: Option<&OperatorFiles>,
    req: Req<'_>,
) -> Result<(u16, Value), String> {
    let tls = client_tls(env, identity);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let mut b = hyper::Request::builder()
        .method(req.method)
        .uri(format!("{}{}", env.server.base_url, req.path));
    if let Some(ct) = req.content_type {
        b = b.header("Content-Type", ct);
    }
    if let Some(k) = req.idempotency_key {
        b = b.header("Idempotency-Key", k);
    }
    let resp = client
        .request(b.body(Full::new(Bytes::from(req.body))).unwrap())
        .await
        .map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    Ok((status, v))
}

/// A rustls client trusting the server's CI, presenting `identity`.
fn client_tls(env: &Env, identity: Option<&OperatorFiles>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(env.ci_der.clone())).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    match identity {
        Some(f) => builder
            .with_client_auth_cert(
                pem_chain(&f.client_cert),
                PrivateKeyDer::from_pem_file(&f.client_key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    }
}

/// POSTs `chunks` chunks of 64 KiB of blanks with `Transfer-Encoding: chunked` (no
/// Content-Length) over a raw TLS connection; returns the raw HTTP response.
async fn post_chunked(env: &Env, sp: &OperatorFiles, chunks: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = client_tls(env, Some(sp));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(env.server.addr)
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let (mut rd, mut wr) = tokio::io::split(tls);
    let writer = tokio::spawn(async move {
        let head = "POST /tsm/v1/GetSEIdentifier HTTP/1.1\r\nHost: localhost\r\n\
                    Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
                    Connection: close\r\n\r\n";
        wr.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..chunks {
            wr.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            wr.write_all(&chunk).await?;
            wr.write_all(b"\r\n").await?;
        }
        wr.write_all(b"0\r\n\r\n").await?;
        wr.flush().await?;
        Ok::<_, std::io::Error>(wr)
    });
    let mut out = Vec::new();
    // The server may answer and close before the whole body is sent: read what came.
    let _ = rd.read_to_end(&mut out).await;
    let _ = writer.await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn call(env: &Env, sp: &OperatorFiles, op: &str, body: Value) -> (u16, Value) {
    send(env, Some(sp), Req::post(op, &body)).await.unwrap()
}

async fn call_idem(
    env: &Env,
    sp: &OperatorFiles,
    op: &str,
    body: Value,
    key: &str,
) -> (u16, Value) {
    let mut r = Req::post(op, &body);
    r.idempotency_key = Some(key);
    send(env, Some(sp), r).await.unwrap()
}

fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
    assert!(got.1["message"].is_string(), "{}", got.1);
}

fn service(msi: &str, id: &str, q: &str) -> Value {
    json!({ "msi": msi, "serviceId": id, "serviceQualifier": q })
}

async fn audit_count(env: &Env, se: &str) -> usize {
    env.tsm()
        .store()
        .audit(AuditFilter {
            se_id: Some(se.into()),
            limit: 10_000,
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .len()
}

// ---------------------------------------------------------------------------------------------
// Tests

both_backends!(
    authentication_and_http_errors,
    lookups_conversations_and_isolation,
    card_flows_and_idempotency,
    cli_registers_and_reads_back,
);

async fn authentication_and_http_errors(db: &mut TestDatabase) {
    let env = setup(db, false).await;
    let lookup = json!({ "msi": MSI2 });

    // Registered SP: served.
    let got = call(&env, &env.sp_a, "GetSEIdentifier", lookup.clone()).await;
    assert_eq!(got, (200, json!({ "seId": "SE2" })));

    // No client certificate, or one from another CA: the TLS handshake fails.
    let no_cert = send(&env, None, Req::post("GetSEIdentifier", &lookup)).await;
    match no_cert {
        Err(_) => {}
        Ok(got) => assert_error(&got, 401, "unauthenticated"),
    }
    let rogue = send(
        &env,
        Some(&env.rogue),
        Req::post("GetSEIdentifier", &lookup),
    )
    .await;
    assert!(rogue.is_err(), "{rogue:?}");

    // A valid certificate of no registered SP: 401, whatever the operation.
    for op in ["GetSEIdentifier", "NoSuchOperation"] {
        let got = send(&env, Some(&env.sp_x), Req::post(op, &lookup))
            .await
            .unwrap();
        assert_error(&got, 401, "unauthenticated");
    }

    // Malformed JSON, unknown field, missing field: 400 malformedRequest.
    for body in [&b"{not json"[..], br#"{"msi":"1","extra":1}"#, b"{}"] {
        let mut r = Req::post("GetSEIdentifier", &json!({}));
        r.body = body.to_vec();
        let got = send(&env, Some(&env.sp_a), r).await.unwrap();
        assert_error(&got, 400, "malformedRequest");
    }

    // Over the limit: 413 requestTooLarge.
    let mut r = Req::post("GetSEIdentifier", &json!({}));
    r.body = vec![b' '; tsm::api::MAX_REQUEST_BYTES + 1];
    let got = send(&env, Some(&env.sp_a), r).await.unwrap();
    assert_error(&got, 413, "requestTooLarge");
    // Exactly at the limit is parsed (and is malformed: only blanks).
    let mut r = Req::post("GetSEIdentifier", &json!({}));
    r.body = vec![b' '; tsm::api::MAX_REQUEST_BYTES];
    let got = send(&env, Some(&env.sp_a), r).await.unwrap();
    assert_error(&got, 400, "malformedRequest");

    // Without Content-Length (chunked): over the limit 413 too; within it, served.
    let resp = post_chunked(&env, &env.sp_a, 5).await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    assert!(resp.contains("requestTooLarge"), "{resp}");
    let resp = post_chunked(&env, &env.sp_a, 1).await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("malformedRequest"), "{resp}");

    // Unknown MSI: 404 unknownMsi.
    let got = call(&env, &env.sp_a, "GetSEIdentifier", json!({ "msi": "999" })).await;
    assert_error(&got, 404, "unknownMsi");

    // Unknown operation 404, wrong method 405, not JSON 415.
    let got = call(&env, &env.sp_a, "InstallEverything", lookup.clone()).await;
    assert_error(&got, 404, "unknownOperation");
    let mut r = Req::post("GetSEIdentifier", &lookup);
    r.method = "GET";
    let got = send(&env, Some(&env.sp_a), r).await.unwrap();
    assert_error(&got, 405, "methodNotAllowed");
    let mut r = Req::post("GetSEIdentifier", &lookup);
    r.content_type = Some("text/plain");
    let got = send(&env, Some(&env.sp_a), r).await.unwrap();
    assert_error(&got, 415, "unsupportedMediaType");

    let mut r = Req::post("openapi.json", &lookup);
    r.path = "/tsm/v1/openapi.json".into();
    let got = send(&env, Some(&env.sp_a), r).await.unwrap();
    assert_error(&got, 405, "methodNotAllowed");

    // The OpenAPI document lists every operation.
    let got = send(
        &env,
        Some(&env.sp_a),
        Req {
            method: "GET",
            path: "/tsm/v1/openapi.json".into(),
            body: Vec::new(),
            content_type: None,
            idempotency_key: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(got.0, 200);
    for op in OPERATIONS {
        assert_eq!(
            got.1["paths"][format!("/tsm/v1/{op}")]["post"]["operationId"],
            op
        );
    }
    assert_eq!(
        got.1["components"]["securitySchemes"]["mutualTLS"]["type"],
        "mutualTLS"
    );
    env.shutdown().await;
}

async fn lookups_conversations_and_isolation(db: &mut TestDatabase) {
    let env = setup(db, false).await;
    let (a, b) = (&env.sp_a, &env.sp_b);

    // GetSEData: the SE's data and only the caller's own security domains.
    let (st, data) = call(&env, a, "GetSEData", json!({ "seId": "SE2", "msi": MSI2 })).await;
    assert_eq!(st, 200, "{data}");
    assert_eq!(data["mnoId"], "MNO1");
    assert_eq!(data["mnoName"], "Operator One");
    assert_eq!(data["seType"], "eSE");
    assert_eq!(data["certificationLevel"], "EAL5+");
    assert_eq!(
        data["spSecurityDomains"],
        json!([{ "aid": hex::encode_upper(ssd_aid_for("spA")), "masterKeyIndex": 0x31, "keysRotated": false }])
    );
    let (st, data_b) = call(&env, b, "GetSEData", json!({ "seId": "SE2", "msi": MSI2 })).await;
    assert_eq!(st, 200);
    assert_eq!(data_b["spSecurityDomains"], json!([]));
    // The MSI of another SE.
    let got = call(&env, a, "GetSEData", json!({ "seId": "SE1", "msi": MSI2 })).await;
    assert_error(&got, 404, "unknownSe");

    // Another SP's service answers exactly like a nonexistent one.
    let got = call(&env, a, "GetServiceState", service(MSI2, "pay", "q0")).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1["state"], "ACTIVE");
    assert_eq!(got.1["instanceAid"], INSTANCE);
    let theirs = call(&env, b, "GetServiceState", service(MSI2, "pay", "q0")).await;
    let none = call(&env, b, "GetServiceState", service(MSI2, "nothing", "q0")).await;
    assert_error(&theirs, 404, "unknownService");
    assert_eq!(theirs, none);
    let theirs = call(&env, b, "LockService", service(MSI2, "pay", "q0")).await;
    let none = call(&env, b, "LockService", service(MSI2, "nothing", "q0")).await;
    assert_error(&theirs, 404, "unknownService");
    assert_eq!(theirs, none);

    // ProcessScript outside a conversation: 404.
    let script =
        |conv: &str, commands: Vec<String>| json!({ "conversationId": conv, "commands": commands });
    let got = call(
        &env,
        a,
        "ProcessScript",
        script("0123abcd", vec!["80CA006600".into()]),
    )
    .await;
    assert_error(&got, 404, "unknownConversation");

    // ManageCommunication start: a conversation with spA's SSD; spB has no SD on SE2.
    let start = json!({ "action": "start", "seId": "SE2", "msi": MSI2 });
    let (st, conv) = call(&env, a, "ManageCommunication", start.clone()).await;
    assert_eq!(st, 200, "{conv}");
    assert_eq!(conv["state"], "OPEN");
    assert_eq!(conv["bearer"], "SCP80-SMS", "SE2 has no direct link");
    assert_eq!(conv["maxScripts"], 3);
    assert_eq!(conv["maxScriptSize"], 64);
    assert_eq!(conv["scriptFormat"], "APDU-LIST-HEX");
    let id = conv["conversationId"].as_str().unwrap().to_string();
    let got = call(&env, b, "ManageCommunication", start.clone()).await;
    assert_error(&got, 404, "unknownSecurityDomain");

    // Over the limits: 422.
    let too_many: Vec<String> = (0..65).map(|_| "00A4040000".into()).collect();
    let got = call(&env, a, "ProcessScript", script(&id, too_many)).await;
    assert_error(&got, 422, "scriptLimitExceeded");
    let too_big = vec![format!("80E2900040{}", "00".repeat(64))];
    let got = call(&env, a, "ProcessScript", script(&id, too_big)).await;
    assert_error(&got, 422, "scriptLimitExceeded");
    // Not hex: 400.
    let got = call(&env, a, "ProcessScript", script(&id, vec!["zz".into()])).await;
    assert_error(&got, 400, "malformedRequest");
    // Another SP's conversation is unknown to it.
    let got = call(
        &env,
        b,
        "ProcessScript",
        script(&id, vec!["80CA006600".into()]),
    )
    .await;
    assert_error(&got, 404, "unknownConversation");
    // Within the limits, SE2 has no direct link and OTA delivery is not implemented: 501.
    let got = call(
        &env,
        a,
        "ProcessScript",
        script(&id, vec!["80CA006600".into()]),
    )
    .await;
    assert_error(&got, 501, "notSupported");

    // End, then scripts are refused.
    let end = json!({ "action": "end", "conversationId": id, "status": "success" });
    let (st, ended) = call(&env, a, "ManageCommunication", end.clone()).await;
    assert_eq!(st, 200, "{ended}");
    assert_eq!(ended["state"], "ENDED");
    assert_eq!(ended["conversationId"], id.as_str());
    let got = call(
        &env,
        a,
        "ProcessScript",
        script(&id, vec!["80CA006600".into()]),
    )
    .await;
    assert_error(&got, 409, "conversationEnded");
    let got = call(&env, b, "ManageCommunication", end).await;
    assert_error(&got, 404, "unknownConversation");

    // Idempotency-Key: a replay returns the identical answer (the same conversation); the
    // same key with another request is refused; keys are per SP.
    let first = call_idem(&env, a, "ManageCommunication", start.clone(), "k-1").await;
    assert_eq!(first.0, 200, "{}", first.1);
    let again = call_idem(&env, a, "ManageCommunication", start.clone(), "k-1").await;
    assert_eq!(first, again);
    let fresh = call(&env, a, "ManageCommunication", start.clone()).await;
    assert_ne!(fresh.1["conversationId"], first.1["conversationId"]);
    let other = json!({ "action": "start", "seId": "SE2", "msi": MSI2, "sdAid": hex::encode(ssd_aid_for("spA")) });
    let got = call_idem(&env, a, "ManageCommunication", other, "k-1").await;
    assert_error(&got, 422, "idempotencyKeyReused");
    let got = call_idem(&env, b, "ManageCommunication", start.clone(), "k-1").await;
    assert_error(&got, 404, "unknownSecurityDomain");
    // A malformed key.
    let got = call_idem(&env, a, "ManageCommunication", start, "bad key!").await;
    assert_error(&got, 400, "malformedRequest");
    env.shutdown().await;
}

/// The card flows through the engine on SE1's card file: PrePersonalize under an
/// Idempotency-Key (the replay answers identically and sends nothing to the SE), activation,
/// a request queued while the card file is away and delivered by the server once it is back.
async fn card_flows_and_idempotency(db: &mut TestDatabase) {
    let env = setup(db, true).await;
    let a = &env.sp_a;
    // The generic applet's package is preloaded (a CAP built here, loaded by `simkit gp`).
    preload_generic_package(&env.card, &env.dir);

    let pay = service(MSI1, "pay", "card1");
    let before = audit_count(&env, "SE1").await;
    let first = call_idem(&env, a, "PrePersonalize", pay.clone(), "pp-1").await;
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(first.1["state"], "INSTALLED");
    assert_eq!(first.1["ssdAid"], hex::encode_upper(ssd_aid_for("spA")));
    let sent = audit_count(&env, "SE1").await;
    assert!(sent > before, "the SE saw commands");
    let again = call_idem(&env, a, "PrePersonalize", pay.clone(), "pp-1").await;
    assert_eq!(first, again, "a replay answers identically");
    assert_eq!(
        audit_count(&env, "SE1").await,
        sent,
        "and sends nothing to the SE"
    );

    // The SP now has its SSD on SE1.
    let (_, data) = call(&env, a, "GetSEData", json!({ "seId": "SE1", "msi": MSI1 })).await;
    assert_eq!(
        data["spSecurityDomains"][0]["aid"],
        hex::encode_upper(ssd_aid_for("spA"))
    );

    let (st, s) = call(&env, a, "ActivateService", pay.clone()).await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["state"], "ACTIVE");

    // A conversation with the new SSD: the TSM wraps the script in a secure channel with the
    // SSD's temporary keys; every command is audited under the conversation.
    let start = json!({ "action": "start", "seId": "SE1", "msi": MSI1 });
    let (st, conv) = call(&env, a, "ManageCommunication", start).await;
    assert_eq!(st, 200, "{conv}");
    assert_eq!(conv["bearer"], "DIRECT");
    let id = conv["conversationId"].as_str().unwrap().to_string();
    let before = audit_count(&env, "SE1").await;
    // GET DATA, Key Information Template (tag 'E0', GP CS v2.3.1 §11.3.3.1).
    let (st, out) = call(
        &env,
        a,
        "ProcessScript",
        json!({ "conversationId": id, "commands": ["80CA00E000"] }),
    )
    .await;
    assert_eq!(st, 200, "{out}");
    assert_eq!(out["failed"], json!([]), "{out}");
    let r = out["responses"][0].as_str().unwrap();
    assert!(r.starts_with("E0") && r.ends_with("9000"), "{r}");
    let entries = env
        .tsm()
        .store()
        .audit(AuditFilter {
            se_id: Some("SE1".into()),
            limit: 10_000,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert!(entries.len() > before);
    assert!(entries[before..]
        .iter()
        .all(|e| e.conversation_id.as_deref() == Some(id.as_str())
            && e.operation == "ProcessScript"
            && e.sp_id.as_deref() == Some("spA")));
    // `simkit tsm audit` reads the same log.
    let mut args = vec![
        "--json".to_string(),
        "tsm".into(),
        "--data-dir".into(),
        p(&env.dir.join("cli")).into(),
        "--database".into(),
        db.opts.url.clone(),
    ];
    if let Some(s) = &db.opts.pg_schema {
        args.extend(["--database-schema".into(), s.clone()]);
    }
    args.extend(["audit", "--se", "SE1", "--sp", "spA", "--limit", "10000"].map(String::from));
    let a_args: Vec<&str> = args.iter().map(String::as_str).collect();
    let log = ok_json(&a_args);
    assert_eq!(log.as_array().unwrap().len(), entries.len());
    assert_eq!(log[0]["operation"], "PrePersonalize");
    assert_eq!(log[0]["seId"], "SE1");
    // spB cannot touch it.
    let got = call(
        &env,
        &env.sp_b,
        "LockService",
        service(MSI1, "pay", "card1"),
    )
    .await;
    assert_error(&got, 404, "unknownService");

    // The card goes away: LockService is queued (202); back, the delivery task delivers it.
    let away = env.dir.join("se1.away");
    std::fs::rename(&env.card, &away).unwrap();
    let (st, s) = call(&env, a, "LockService", pay.clone()).await;
    assert_eq!(st, 202, "{s}");
    assert!(s["queuedRequest"].is_i64(), "{s}");
    let (_, s) = call(&env, a, "GetServiceState", pay.clone()).await;
    assert_eq!(s["state"], "ACTIVE");
    std::fs::rename(&away, &env.card).unwrap();
    let mut state = Value::Null;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        state = call(&env, a, "GetServiceState", pay.clone()).await.1["state"].clone();
        if state == "LOCKED" {
            break;
        }
    }
    assert_eq!(state, "LOCKED");
    assert!(env.tsm().store().pending("SE1").await.unwrap().is_empty());

    // On the card: the instance is LOCKED and associated with spA's SSD (`simkit gp list`).
    let list = ok_json(&["--json", "gp", "--card", p(&env.card), "list"]);
    let app = list["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["aid"] == INSTANCE)
        .expect("instance listed")
        .clone();
    assert_eq!(app["state"], "LOCKED", "{app}");
    assert_eq!(
        app["associatedSd"],
        hex::encode_upper(ssd_aid_for("spA")),
        "{app}"
    );
    env.shutdown().await;
}

fn preload_generic_package(card: &Path, dir: &Path) {
    use simkit::gp_cmd::{cap, zip};
    let pkg = hex::decode(GENERIC_PKG).unwrap();
    let applet = hex::decode(GENERIC_APPLET).unwrap();
    let files = cap::minimal_cap_components(&pkg, &[&applet]);
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let cap_path = dir.join("generic.cap");
    std::fs::write(&cap_path, zip::write_stored(&entries)).unwrap();
    let out = simkit(&[
        "--json",
        "gp",
        "--card",
        p(card),
        "--sec-level",
        "mac-enc",
        "install",
        "--load",
        p(&cap_path),
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `simkit tsm` registrations through the binary, read back with `--json`.
async fn cli_registers_and_reads_back(db: &mut TestDatabase) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = db.opts.url.clone();
    let schema = db.opts.pg_schema.clone();
    let mut base: Vec<String> = vec![
        "--json".into(),
        "tsm".into(),
        "--data-dir".into(),
        p(&data).into(),
        "--database".into(),
        url,
    ];
    if let Some(s) = schema {
        base.push("--database-schema".into());
        base.push(s);
    }
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = base.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        ok_json(&all)
    };
    let card = dir.path().join("se.simkit");
    let link = format!("card:{}", card.display());

    let v = run(&[
        "mno",
        "add",
        "--id",
        "MNO1",
        "--name",
        "Operator One",
        "--bearer",
        "SCP81-HTTPS",
    ]);
    assert_eq!(v["bearer"], "SCP81-HTTPS");
    run(&[
        "sp",
        "add",
        "--id",
        "bank",
        "--name",
        "A Bank",
        "--cert-subject",
        "bank",
    ]);
    let v = run(&[
        "se",
        "add",
        "--se-id",
        "SE-CLI",
        "--mno",
        "MNO1",
        "--msi",
        "33612345678",
        "--msi",
        "208011234567890",
        "--link",
        &link,
        "--isd-keys",
        GP_TEST_KEY,
        "--ssd-initial-keys",
        GP_TEST_KEY,
        "--se-type",
        "eSE",
    ]);
    assert_eq!(v["securityDomains"][0]["kind"], "ISD");
    assert_eq!(v["securityDomains"][0]["kvn"], "30");
    assert_eq!(v["securityDomains"][0]["keys"], true);
    assert!(
        !v.to_string().contains(GP_TEST_KEY),
        "keys are never printed"
    );
    run(&[
        "service",
        "add",
        "--sp",
        "bank",
        "--service-id",
        "pay",
        "--version",
        "1",
        "--package",
        GENERIC_PKG,
        "--module",
        GENERIC_APPLET,
        "--instance",
        INSTANCE,
        "--memory",
        "512",
    ]);

    // Read back.
    let v = run(&["services", "--sp", "bank"]);
    assert_eq!(
        v["catalogue"],
        json!([{
            "spId": "bank", "serviceId": "pay", "version": "1",
            "packageAid": GENERIC_PKG.to_lowercase(), "moduleAid": GENERIC_APPLET.to_lowercase(),
            "instanceAid": INSTANCE.to_lowercase(), "memory": 512, "privileges": "00",
            "installParams": "",
        }])
    );
    assert_eq!(v["instances"], json!([]));
    let v = run(&["services", "--sp", "nobody"]);
    assert_eq!(v["catalogue"], json!([]));
    let v = run(&["sp", "list"]);
    assert_eq!(v[0]["id"], "bank");
    assert_eq!(v[0]["cert_subject"], "bank");
    let v = run(&["se", "list"]);
    assert_eq!(v[0]["seId"], "SE-CLI");
    assert_eq!(v[0]["link"], link.as_str());
    assert_eq!(v[0]["ssdInitialKeys"], true);
    // The same registrations through the store the server uses.
    let se = db.db.se_by_msi("208011234567890").await.unwrap().unwrap();
    assert_eq!(se.se_id, "SE-CLI");
    assert_eq!(se.se_type, "eSE");
    let v = run(&["audit", "--se", "SE-CLI"]);
    assert_eq!(v, json!([]));
    // No card file yet: the SE is offline; nothing is queued.
    let v = run(&["deliver", "--se", "SE-CLI"]);
    assert_eq!(v["delivered"], 0);

    // Refusals: an unknown MNO, a bad key set, a bad link, a service of an unknown SP.
    let mut all: Vec<&str> = base.iter().map(String::as_str).collect();
    for bad in [
        &[
            "se",
            "add",
            "--se-id",
            "X",
            "--mno",
            "NOPE",
            "--msi",
            "1",
            "--isd-keys",
            GP_TEST_KEY,
        ][..],
        &[
            "se",
            "add",
            "--se-id",
            "X",
            "--mno",
            "MNO1",
            "--msi",
            "1",
            "--isd-keys",
            "0011",
        ],
        &[
            "se",
            "add",
            "--se-id",
            "X",
            "--mno",
            "MNO1",
            "--msi",
            "1",
            "--isd-keys",
            GP_TEST_KEY,
            "--link",
            "tcp:x",
        ],
        &["se", "add", "--se-id", "X", "--mno", "MNO1", "--msi", "1"],
        &[
            "service",
            "add",
            "--sp",
            "nobody",
            "--service-id",
            "s",
            "--version",
            "1",
            "--package",
            GENERIC_PKG,
            "--module",
            GENERIC_APPLET,
            "--instance",
            INSTANCE,
        ],
    ] {
        all.truncate(base.len());
        all.extend_from_slice(bad);
        let out = simkit(&all);
        assert!(!out.status.success(), "{bad:?} succeeded");
    }
}

/// Reads a pretty-printed JSON document from a child's stdout (it spans lines).
async fn first_json(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) -> Value {
    let mut text = String::new();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("process start")
            .unwrap()
            .expect("process output");
        text.push_str(&line);
        if let Ok(v) = serde_json::from_str(&text) {
            return v;
        }
    }
}

fn spawn_json(
    args: &[&str],
) -> (
    tokio::process::Child,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::from(simkit_cmd(args))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// `simkit pki mint --sp`, `simkit ota smsc` and `simkit tsm serve --smsc` through the binary:
/// an SP is answered, and its service is pre-personalized over the air on a virtual card file
/// (SCP80 over SMPP, through the lab SMSC and its terminal simulator).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_serve_answers_an_sp() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let pki_dir = dir.path().join("pki");
    // The SE: a card file with the generic package, behind the lab SMSC as subscriber 4477;
    // the OTA platform knows its factory OTA keys (pySim `Test_SMS_AES128`: KVN 1, AES).
    let card = dir.path().join("se9.simkit");
    let out = simkit(&["card", "create", "--state", p(&card)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    preload_generic_package(&card, dir.path());
    let ota_db = format!("sqlite://{}?mode=rwc", dir.path().join("ota.db").display());
    let cards_csv = dir.path().join("cards.csv");
    std::fs::write(
        &cards_csv,
        "4477,,12,200102030405060708090A0B0C0D0E0F,12,201102030405060708090A0B0C0D0E0F\n",
    )
    .unwrap();
    ok_json(&[
        "--json",
        "ota",
        "--database",
        &ota_db,
        "card",
        "import",
        p(&cards_csv),
    ]);
    let card_arg = format!("4477={}", p(&card));
    let (_smsc, mut smsc_out) =
        spawn_json(&["--json", "ota", "smsc", "--port", "0", "--card", &card_arg]);
    let smsc_addr = first_json(&mut smsc_out).await["smsc"]
        .as_str()
        .unwrap()
        .to_string();
    let v = ok_json(&[
        "--json",
        "pki",
        "mint",
        "--out",
        p(&pki_dir),
        "--sp",
        "bank",
    ]);
    let sp_ca = v["sps"][0]["caCert"].as_str().unwrap().to_string();
    let files = OperatorFiles {
        ca_cert: sp_ca.clone().into(),
        ca_key: pki_dir.join("sp-ca.key.pem"),
        client_cert: v["sps"][0]["clientCert"].as_str().unwrap().into(),
        client_key: v["sps"][0]["clientKey"].as_str().unwrap().into(),
    };
    let tsm_args = |more: &[&str]| {
        let mut a = vec!["--json", "tsm", "--data-dir", p(&data)];
        a.extend_from_slice(more);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    for args in [
        tsm_args(&["mno", "add", "--id", "MNO1", "--name", "One"]),
        tsm_args(&[
            "sp",
            "add",
            "--id",
            "bank",
            "--name",
            "Bank",
            "--cert-subject",
            "bank",
        ]),
        tsm_args(&[
            "se",
            "add",
            "--se-id",
            "SE9",
            "--mno",
            "MNO1",
            "--msi",
            "4477",
            "--link",
            "ota:4477",
            "--isd-keys",
            GP_TEST_KEY,
            "--ssd-initial-keys",
            GP_TEST_KEY,
        ]),
        tsm_args(&[
            "service",
            "add",
            "--sp",
            "bank",
            "--service-id",
            "pay",
            "--version",
            "1",
            "--package",
            GENERIC_PKG,
            "--module",
            GENERIC_APPLET,
            "--instance",
            INSTANCE,
        ]),
    ] {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        ok_json(&a);
    }
    let args = tsm_args(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--sp-ca",
        &sp_ca,
        "--smsc",
        &smsc_addr,
        "--ota-database",
        &ota_db,
    ]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (mut child, mut lines) = spawn_json(&a);
    let started = first_json(&mut lines).await;
    let url = started["url"].as_str().unwrap();
    assert!(url.starts_with("https://localhost:"), "{url}");
    let ci = std::fs::read(data.join("pki/CERT_CI_ECDSA_NIST.der")).unwrap();

    // A minimal Env-less client: the same `send`, with the server's URL and trust anchor.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ci)).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            pem_chain(&files.client_cert),
            PrivateKeyDer::from_pem_file(&files.client_key).unwrap(),
        )
        .unwrap();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let req = hyper::Request::post(format!("{url}/tsm/v1/GetSEIdentifier"))
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from_static(br#"{"msi":"4477"}"#)))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v, json!({ "seId": "SE9" }));

    // PrePersonalize over the air: SSD, keys, instance and extradition by RAM.
    let req = hyper::Request::post(format!("{url}/tsm/v1/PrePersonalize"))
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(
            json!({"msi": "4477", "serviceId": "pay", "serviceQualifier": "main"}).to_string(),
        )))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("INSTALLED")),
        "{v}"
    );
    // The card file, saved by the terminal's card after every command, holds the instance
    // under the SP's SSD.
    let state = simkit::card_file::PersistentCard::open(&card).unwrap();
    let app = state
        .card()
        .state()
        .gp
        .app(&hex::decode(INSTANCE).unwrap())
        .cloned();
    let ssd = tsm::service::ssd_aid_for("bank");
    assert_eq!(app.map(|a| a.associated_sd), Some(ssd));
    child.kill().await.unwrap();
}
