//! ES2+ Operator authentication by mutual TLS (SGP.22 §2.6.5, §5.3): the SM-DP+ requires an
//! Operator client certificate on ES2+, maps it to the `functionRequesterIdentifier`s it may
//! use (refusing others with 1.1/1.2, an unauthenticated caller with 1.1/1.1, §5.2.6), keeps
//! ES9+ open to LPAs without certificates on the same port, and presents its own client
//! certificate on ES2+.HandleDownloadProgressInfo callbacks.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use simkit::config::{Config, OperatorConfig};
use simkit::serve::{start, RunningServer};
use simkit::server_pki::{mint_operator, OperatorFiles};
use smdp::es2p::{DownloadProgressInfo, FunctionExecutionStatus};
use smdp::outbox::OutboxMessage;
use smdp::SmdpStore;

const UNKNOWN_ICCID: &str = "8949449999999990023";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pem_chain(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(|c| c.unwrap())
        .collect()
}

fn config(data_dir: &Path, client_ca: Option<PathBuf>) -> Config {
    let mut c = Config {
        data_dir: data_dir.to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    c.es2.client_ca = client_ca;
    c.outbox.poll_interval_ms = 50;
    c
}

/// An HTTPS client trusting the SM-DP+'s CI, presenting `identity` (an Operator's files).
fn client(
    server: &RunningServer,
    identity: Option<&OperatorFiles>,
) -> Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
> {
    let mut roots = rustls::RootCertStore::empty();
    for ci in &server.trusted_ci_der {
        roots.add(CertificateDer::from(ci.clone())).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let tls = match identity {
        Some(f) => builder
            .with_client_auth_cert(
                pem_chain(&f.client_cert),
                PrivateKeyDer::from_pem_file(&f.client_key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(https)
}

/// POSTs an RSP function call to `https://localhost:<port><path>`; `Err` = transport failure.
async fn post(
    server: &RunningServer,
    identity: Option<&OperatorFiles>,
    path: &str,
    body: &Value,
) -> Result<(u16, Value), String> {
    let url = format!("https://localhost:{}{path}", server.addr.port());
    let req = hyper::Request::post(url)
        .header("Content-Type", "application/json")
        .header("X-Admin-Protocol", "gsma/rsp/v2.2.2")
        .body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap())))
        .unwrap();
    let resp = client(server, identity)
        .request(req)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let v = serde_json::from_slice(&body.to_bytes()).unwrap_or(Value::Null);
    Ok((status, v))
}

fn release(requester: &str) -> Value {
    json!({
        "header": {"functionRequesterIdentifier": requester, "functionCallIdentifier": "c1"},
        "iccid": UNKNOWN_ICCID,
    })
}

/// `(status, subjectCode, reasonCode)` of a response header.
fn outcome(v: &Value) -> (String, String, String) {
    let s = &v["header"]["functionExecutionStatus"];
    let code = &s["statusCodeData"];
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    (
        text(&s["status"]),
        text(&code["subjectCode"]),
        text(&code["reasonCode"]),
    )
}

fn failed(subject: &str, reason: &str) -> (String, String, String) {
    ("Failed".into(), subject.into(), reason.into())
}

const RELEASE: &str = smdp::es2p::PATH_RELEASE_PROFILE;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es2_requires_operator_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ops = dir.path().join("operators");
    let mno1 = mint_operator(&ops, "MNO1").unwrap();
    let mno2 = mint_operator(&ops, "MNO2").unwrap();
    assert_eq!(mno1.ca_cert, mno2.ca_cert, "one CA for both Operators");
    // Same Operator name, another CA.
    let rogue = mint_operator(&dir.path().join("rogue"), "MNO1").unwrap();

    let server = start(config(&dir.path().join("smdp"), Some(mno1.ca_cert.clone())))
        .await
        .unwrap();

    // Valid certificate, own identifier: authenticated; the function runs (unknown ICCID,
    // 8.2.1/3.9, proves execution got past authentication).
    let (st, v) = post(&server, Some(&mno1), RELEASE, &release("MNO1"))
        .await
        .unwrap();
    assert_eq!(st, 200);
    assert_eq!(outcome(&v), failed("8.2.1", "3.9"), "{v}");

    // Valid certificate claiming another Operator's identifier: 1.1 / 1.2 Not allowed.
    let (st, v) = post(&server, Some(&mno1), RELEASE, &release("MNO2"))
        .await
        .unwrap();
    assert_eq!(st, 200);
    assert_eq!(outcome(&v), failed("1.1", "1.2"), "{v}");
    let (_, v) = post(&server, Some(&mno2), RELEASE, &release("MNO2"))
        .await
        .unwrap();
    assert_eq!(outcome(&v), failed("8.2.1", "3.9"), "{v}");

    // No client certificate: the handshake completes (LPAs share the port) but ES2+ refuses
    // with 1.1 / 1.1 Unknown Function Requester.
    let (st, v) = post(&server, None, RELEASE, &release("MNO1"))
        .await
        .unwrap();
    assert_eq!(st, 200);
    assert_eq!(outcome(&v), failed("1.1", "1.1"), "{v}");

    // A certificate from another CA: the TLS handshake is refused.
    let err = post(&server, Some(&rogue), RELEASE, &release("MNO1"))
        .await
        .unwrap_err();
    assert!(!err.is_empty());

    // ES9+ stays open to LPAs without a client certificate (a malformed call gets the ES9+
    // JSON refusal, not a TLS failure).
    let (st, v) = post(
        &server,
        None,
        rsp::es9p::path::INITIATE_AUTHENTICATION,
        &json!({}),
    )
    .await
    .unwrap();
    assert_eq!(st, 200);
    assert_eq!(outcome(&v).0, "Failed", "{v}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_operator_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let ops = dir.path().join("operators");
    let mno1 = mint_operator(&ops, "MNO1").unwrap();
    let mno2 = mint_operator(&ops, "MNO2").unwrap();
    let mut cfg = config(&dir.path().join("smdp"), Some(mno1.ca_cert.clone()));
    // The certificate with CN=MNO1 may use "OPERATOR-A" (not "MNO1"); the whole DN works too.
    cfg.es2.operators = vec![
        OperatorConfig {
            id: "OPERATOR-A".into(),
            cert_subject: "MNO1".into(),
        },
        OperatorConfig {
            id: "OPERATOR-A2".into(),
            cert_subject: "O=MNO1, CN=MNO1".into(),
        },
    ];
    let server = start(cfg).await.unwrap();
    for id in ["OPERATOR-A", "OPERATOR-A2"] {
        let (_, v) = post(&server, Some(&mno1), RELEASE, &release(id))
            .await
            .unwrap();
        assert_eq!(outcome(&v), failed("8.2.1", "3.9"), "{id}: {v}");
    }
    let (_, v) = post(&server, Some(&mno1), RELEASE, &release("MNO1"))
        .await
        .unwrap();
    assert_eq!(outcome(&v), failed("1.1", "1.2"), "{v}");
    // A valid certificate that maps to no Operator is not identified.
    let (_, v) = post(&server, Some(&mno2), RELEASE, &release("MNO2"))
        .await
        .unwrap();
    assert_eq!(outcome(&v), failed("1.1", "1.1"), "{v}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_client_ca_es2_is_loopback_only() {
    // Zero-config: no Operator CA; a loopback caller without a certificate is served.
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path(), None)).await.unwrap();
    let (st, v) = post(&server, None, RELEASE, &release("anyone"))
        .await
        .unwrap();
    assert_eq!(st, 200);
    assert_eq!(outcome(&v), failed("8.2.1", "3.9"), "{v}");
    server.shutdown().await;
}

#[test]
fn client_ca_needs_tls() {
    let mut cfg = config(Path::new("/tmp/x"), Some("/tmp/ca.pem".into()));
    cfg.plain_http = true;
    assert!(cfg.resolve().is_err());
}

// ---------------------------------------------------------------------------
// Outbox callbacks present the SM-DP+ client certificate
// ---------------------------------------------------------------------------

type Seen = Arc<Mutex<Vec<String>>>;

/// An Operator endpoint that requires a client certificate chained to `client_roots` and
/// records the subject CN of each caller.
async fn operator_endpoint(
    server_cert: &Path,
    server_key: &Path,
    client_roots: &[Vec<u8>],
) -> (Seen, u16) {
    let mut roots = rustls::RootCertStore::empty();
    for der in client_roots {
        roots.add(CertificateDer::from(der.clone())).unwrap();
    }
    // No allow_unauthenticated(): a client without a certificate fails the handshake.
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .unwrap();
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            pem_chain(server_cert),
            PrivateKeyDer::from_pem_file(server_key).unwrap(),
        )
        .unwrap();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let seen: Seen = Arc::default();
    let state = seen.clone();
    let router = axum::Router::new().route(
        smdp::es2p::PATH_HANDLE_DOWNLOAD_PROGRESS_INFO,
        axum::routing::post(
            move |axum::Extension(peer): axum::Extension<Arc<simkit::tls::Peer>>| {
                let state = state.clone();
                async move {
                    let cn = peer
                        .client_chain
                        .first()
                        .and_then(|c| pki::Certificate::from_der(c.as_ref()).ok())
                        .and_then(|c| c.subject().common_name().map(str::to_string))
                        .unwrap_or_default();
                    state.lock().unwrap().push(cn);
                    r#"{"header":{"functionExecutionStatus":{"status":"Executed-Success"}}}"#
                }
            },
        ),
    );
    let (listener, addr) = simkit::tls::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    tokio::spawn(simkit::tls::serve(listener, router, Some(Arc::new(tls))));
    (seen, addr.port())
}

fn progress(target: &str) -> OutboxMessage {
    OutboxMessage {
        target: target.into(),
        body: DownloadProgressInfo {
            eid: Some("89049032123451234512345678901235".into()),
            iccid: UNKNOWN_ICCID.into(),
            profile_type: "ts48v4".into(),
            timestamp: "2025-01-01T00:00:00Z".into(),
            notification_point_id: 3,
            notification_point_status: FunctionExecutionStatus::success(),
            result_data: None,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_callback_presents_client_certificate() {
    use pki::mint::{issue_tls, DnAttr, TlsCertRequest, TlsProfile};
    let dir = tempfile::tempdir().unwrap();
    let ops = dir.path().join("operators");
    let mno1 = mint_operator(&ops, "MNO1").unwrap();
    // The Operator's HTTPS server certificate for `localhost`, under the Operator CA.
    let ca = simkit::pki_cmd::load_certificate(&mno1.ca_cert).unwrap();
    let ca_key = simkit::pki_cmd::load_key(&mno1.ca_key).unwrap();
    let key = pki::PrivateKey::generate(
        pki::Curve::NistP256,
        &mut rand_core::UnwrapErr(getrandom::SysRng),
    );
    let now = simkit::unix_now();
    let cert = issue_tls(
        &TlsCertRequest {
            profile: TlsProfile::Server,
            subject: &[(DnAttr::CN, "localhost")],
            serial: &[0x42],
            not_before: now - 3600,
            not_after: now + 86_400,
            dns_names: &["localhost"],
        },
        &key.public_key(),
        Some((&ca, &ca_key)),
    )
    .unwrap();
    let server_cert = ops.join("callback.pem");
    let server_key = ops.join("callback.key.pem");
    std::fs::write(&server_cert, cert.to_pem()).unwrap();
    std::fs::write(&server_key, key.to_pkcs8_pem().as_bytes()).unwrap();

    // Mint the SM-DP+ PKI first: the endpoint trusts its CI (CERT.DP.TLS is the client cert).
    let data = dir.path().join("smdp");
    let mut cfg = config(&data, Some(mno1.ca_cert.clone()));
    let resolved = cfg.clone().resolve().unwrap();
    simkit::server_pki::mint_into(&resolved, &resolved.pki_dir()).unwrap();
    let ci = std::fs::read(resolved.pki_dir().join("CERT_CI_ECDSA_NIST.der")).unwrap();
    let (seen, port) = operator_endpoint(&server_cert, &server_key, &[ci]).await;

    cfg.outbox.ca_certs = vec![mno1.ca_cert.clone()];
    cfg.callbacks
        .insert("MNO1".into(), format!("https://localhost:{port}"));
    let server = start(cfg).await.unwrap();
    server
        .database
        .enqueue_outbox(progress("MNO1"), simkit::serve::now_millis())
        .await
        .unwrap();
    for _ in 0..200 {
        if !seen.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // The SM-DP+ authenticated with CERT.DP.TLS (minted for host "localhost").
    assert_eq!(
        seen.lock().unwrap().first().map(String::as_str),
        Some("localhost")
    );
    server.shutdown().await;
}
